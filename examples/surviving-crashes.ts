// Surviving crashes: with `restart`, a session whose codex dies (here: SIGKILLed on purpose)
// starts a new one with the same options and stays open. The Thread object the app holds
// keeps working (it was resumed on the new server), its history intact; what was in flight at
// the crash failed with TRANSPORT_CLOSED. An ephemeral thread cannot come back: THREAD_LOST.
//
// Offline by default (loopback stand-in); CODEX_NATIVE_LIVE=1 uses your own Codex.

import { Session, type CodexError, type RestartEvent } from 'codex-native'
import { createModelStandIn, reply } from 'codex-native/testing'

async function main(): Promise<void> {
  const live = process.env.CODEX_NATIVE_LIVE === '1'
  const model = live ? null : await createModelStandIn()
  model?.respondWith((request) => reply.text(`You said: ${request.userTexts.at(-1)}`))

  let restarted!: (event: RestartEvent) => void
  const restart = new Promise<RestartEvent>((resolve) => (restarted = resolve))
  const session = await Session.create({
    ...(model ? model.sessionOptions() : {}),
    // Up to 3 restarts a minute, 250 ms apart at first (`restart: true` means the same).
    restart: { maxRestarts: 3, initialDelayMs: 250, resetAfterMs: 60_000 },
    onRestart: (event) => restarted(event),
  })
  try {
    const thread = await session.startThread() // persisted: it can be resumed
    const scratch = await session.startEphemeralThread() // not persisted
    console.log(`agent: ${await thread.ask('first question')}`)

    const firstPid = session.pid
    process.kill(firstPid!, 'SIGKILL') // a crash, as far as the session can tell
    const event = await restart
    console.log(`onRestart: attempt ${event.attempt}, exit signal ${event.exit?.signal}`)

    // Requests made while the new server starts wait for it (bounded by their timeout).
    console.log(`agent: ${await thread.ask('second question')}`)
    console.log(`new pid: ${session.pid !== firstPid}, closed: ${session.closed}`)
    const { thread: stored } = await thread.read({ includeTurns: true })
    console.log(`the thread has ${stored.turns.length} turns`)

    try {
      await scratch.ask('still there?')
    } catch (err) {
      console.log(`ephemeral thread: ${(err as CodexError).code}`)
    }
  } finally {
    await session.close()
    await model?.close()
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
