// Streaming: three ways to follow a turn as it happens.
//
//   1. `for await (const event of turn)`: every event, typed and discriminated on `method`.
//   2. `turn.textStream()`: just the agent's text deltas, for a chat-style UI.
//   3. `startTurn(input, { onEvent })`: a callback, for code that is not async-iterator shaped.
//
// Offline by default (loopback stand-in); CODEX_NATIVE_LIVE=1 uses your own Codex.

import { Session, type TurnEvent } from 'codex-native'
import { createModelStandIn, reply } from 'codex-native/testing'

async function main(): Promise<void> {
  const live = process.env.CODEX_NATIVE_LIVE === '1'
  const model = live ? null : await createModelStandIn()
  model?.enqueue(
    reply.text('Rust is fast, safe and fun.', { chunks: 5 }),
    reply.text('Streams arrive in small pieces.', { chunks: 6 }),
    reply.text('Callbacks see the same events.', { chunks: 4 }),
  )

  const session = await Session.create(model ? model.sessionOptions() : {})
  try {
    const thread = await session.startThread()

    // 1. The iterator: every notification of this turn, in order, turn/started to turn/completed.
    console.log('== 1. iterator ==')
    const turn1 = await thread.startTurn('Describe Rust in one sentence.')
    const methods: string[] = []
    for await (const event of turn1) {
      methods.push(event.method)
      // Narrowing on `method` types `params`: here it is an AgentMessageDeltaNotification.
      if (event.method === 'item/agentMessage/delta') process.stdout.write(event.params.delta)
      if (event.method === 'turn/completed') console.log(`\n[turn/completed: ${event.params.turn.status}]`)
    }
    console.log(`events: ${summarise(methods)}`)

    // 2. textStream(): only text. A turn's stream has one consumer, so pick this or the iterator.
    console.log('== 2. textStream ==')
    const turn2 = await thread.startTurn('Say something about streams.')
    // Deltas that arrive together may be joined into one string: treat them as a text stream.
    for await (const delta of turn2.textStream()) process.stdout.write(delta)
    // The result is still available once the stream ends: text, items, usage.
    const result2 = await turn2.result()
    console.log(`\n[result.text: ${JSON.stringify(result2.text)}]`)

    // 3. onEvent: the same events as the iterator, pushed to a callback. run() = startTurn + result.
    console.log('== 3. onEvent callback ==')
    const seen: TurnEvent[] = []
    const result3 = await thread.run('And about callbacks?', {
      onEvent: (event) => {
        seen.push(event)
        if (event.method === 'item/completed' && event.params.item.type === 'agentMessage') {
          console.log(`agent message completed: ${event.params.item.text}`)
        }
      },
    })
    // run()'s promise settles only after the callback has seen every event, in order.
    console.log(`run() result: status ${result3.status}; the callback saw ${seen.length} events, the last ${seen.at(-1)?.method}`)
  } finally {
    await session.close()
    await model?.close()
  }
}

/** "a, b x3, c": consecutive repeats collapsed, so the event sequence stays readable. */
function summarise(methods: string[]): string {
  const parts: string[] = []
  for (let i = 0; i < methods.length; ) {
    let j = i
    while (j < methods.length && methods[j] === methods[i]) j++
    parts.push(j - i > 1 ? `${methods[i]} x${j - i}` : methods[i])
    i = j
  }
  return parts.join(', ')
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
