// Abort and interrupt: stopping a turn, and waiting for one without stopping it.
//
//   1. An AbortSignal in TurnOptions: a deadline (or a Cancel button) interrupts the turn.
//   2. turn.interrupt(): stop it yourself, here as soon as the first text arrives.
//   3. result({ timeoutMs }): stop *waiting*, not the turn; a later result() still gets it.
//
// An interrupted turn is not an error: its result has status 'interrupted' and the text
// streamed so far.
//
// Offline by default (loopback stand-in); CODEX_NATIVE_LIVE=1 uses your own Codex.

import { Session, type CodexError } from 'codex-native'
import { createModelStandIn, reply } from 'codex-native/testing'

/** An answer streamed slowly (40 pieces, 50 ms apart: two seconds), so there is time to act. */
const slow = (text: string) => reply.text(text, { chunks: 40, delayMs: 50 })

async function main(): Promise<void> {
  const live = process.env.CODEX_NATIVE_LIVE === '1'
  const model = live ? null : await createModelStandIn()
  model?.enqueue(
    slow('A very long essay about the history of the semicolon, which goes on and on. '.repeat(2)),
    slow('Another long answer that will be cut short by an explicit interrupt. '.repeat(2)),
    slow('Worth the wait: this one completes.'),
  )

  const session = await Session.create(model ? model.sessionOptions() : {})
  try {
    const thread = await session.startThread()

    // 1. The signal interrupts the turn when it aborts. Here a 500 ms deadline, started when the
    //    answer starts streaming (a deadline from the call, AbortSignal.timeout(ms), works the
    //    same, but on a slow machine it could fire before the model was even asked).
    const deadline = new AbortController()
    let armed = false
    const first = await thread.run('Write a long essay about the semicolon.', {
      signal: deadline.signal,
      onEvent: (event) => {
        if (event.method === 'item/agentMessage/delta' && !armed) {
          armed = true
          setTimeout(() => deadline.abort(), 500)
        }
      },
    })
    console.log(`1. signal: status ${first.status} after the deadline, partial text: "${first.text.slice(0, 30)}..."`)

    // 2. interrupt() once the first words are in. The turn then ends on its own (turn/completed
    //    with status interrupted), so keep reading the stream rather than breaking out of it.
    const second = await thread.startTurn('Write another long answer.')
    let interrupted = false
    for await (const event of second) {
      if (event.method === 'item/agentMessage/delta' && !interrupted) {
        interrupted = true
        await second.interrupt()
      }
    }
    console.log(`2. interrupt(): status ${(await second.result()).status}`)

    // 3. A short wait that gives up (REQUEST_TIMEOUT) leaves the turn running...
    const third = await thread.startTurn('Answer in one line.')
    try {
      await third.result({ timeoutMs: 100 })
    } catch (err) {
      console.log(`3. result({ timeoutMs: 100 }): ${(err as CodexError).code}, turn finished: ${third.finished}`)
    }
    // ...and the next call gets the result when it comes.
    const done = await third.result()
    console.log(`   result() again: status ${done.status}: ${done.text}`)
  } finally {
    await session.close()
    await model?.close()
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
