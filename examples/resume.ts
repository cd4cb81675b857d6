// Resume: a thread outlives the session that started it.
//
// Threads are persisted by codex (under CODEX_HOME), so an app can close its session (or
// restart) and later resume the thread by id in a new session: the model sees the whole
// conversation again.
//
// Offline by default (loopback stand-in); CODEX_NATIVE_LIVE=1 uses your own Codex.

import { Session, type SessionOptions } from 'codex-native'
import { createModelStandIn, reply } from 'codex-native/testing'

async function main(): Promise<void> {
  const live = process.env.CODEX_NATIVE_LIVE === '1'
  const model = live ? null : await createModelStandIn()
  // The stand-in answers from what it receives, so the output shows the history came back.
  model?.respondWith((request) =>
    request.userTexts.length === 1
      ? reply.text('Noted: your favourite colour is teal.')
      : reply.text(`You told me earlier: "${request.userTexts[0]}"`),
  )
  // Both sessions must share one CODEX_HOME (where threads are stored): create the options
  // once. (Each sessionOptions() call makes a fresh, empty CODEX_HOME.)
  const options: SessionOptions = model ? model.sessionOptions() : {}

  let threadId: string
  const first = await Session.create(options)
  try {
    // startThread (not startEphemeralThread): persisted, so it can be resumed.
    const thread = await first.startThread()
    threadId = thread.id
    console.log(`session 1: started thread ${threadId}`)
    console.log(`session 1 agent: ${await thread.ask('Remember this: my favourite colour is teal.')}`)
  } finally {
    await first.close()
  }
  console.log('session 1 closed')

  const second = await Session.create(options)
  try {
    const thread = await second.resumeThread(threadId)
    const { thread: stored } = await thread.read({ includeTurns: true })
    console.log(`session 2: resumed thread ${thread.id} with ${stored.turns.length} earlier turn(s)`)
    console.log(`session 2 agent: ${await thread.ask('What is my favourite colour?')}`)
    const after = await thread.read({ includeTurns: true })
    console.log(`the thread now has ${after.thread.turns.length} turns`)
  } finally {
    await second.close()
    await model?.close()
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
