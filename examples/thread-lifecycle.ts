// Thread lifecycle: what an app's sidebar of conversations needs.
//
// list -> read -> setName -> archive -> unarchive -> fork -> rollback.
//
// Offline by default (loopback stand-in); CODEX_NATIVE_LIVE=1 uses your own Codex (the
// threads made here are archived at the end, so they leave your thread list as they came).

import { Session } from 'codex-native'
import { createModelStandIn, reply } from 'codex-native/testing'

async function main(): Promise<void> {
  const live = process.env.CODEX_NATIVE_LIVE === '1'
  const model = live ? null : await createModelStandIn()
  model?.respondWith((request) => reply.text(`ok: ${request.lastUserText}`))

  const session = await Session.create(model ? model.sessionOptions() : {})
  try {
    const thread = await session.startThread()
    await thread.run('Plan a trip to Lisbon.')
    await thread.run('Add a day in Sintra.')

    const inList = async (archived: boolean) =>
      (await session.listThreads({ archived })).data.some((t) => t.id === thread.id)
    console.log(`list: thread listed = ${await inList(false)}`)

    // read(): metadata only by default; includeTurns adds the conversation.
    const { thread: stored } = await thread.read({ includeTurns: true })
    console.log(`read: ${stored.turns.length} turns, preview "${stored.preview}"`)

    // A name is what a UI shows instead of the preview.
    await thread.setName('Lisbon trip')
    console.log(`setName: name = "${(await thread.read()).thread.name}"`)

    // Archived threads leave the default list but are kept; listThreads({ archived: true }) finds them.
    await thread.archive()
    console.log(`archive: in default list = ${await inList(false)}, in archived list = ${await inList(true)}`)
    await thread.unarchive()
    console.log(`unarchive: in default list = ${await inList(false)}`)
    // Archiving also unloaded the thread from the server: resume it before using it again.
    const active = await session.resumeThread(thread.id)

    // fork(): a new thread with a copy of the history, to explore an alternative.
    const fork = await active.fork()
    await fork.run('Actually, make it Porto instead of Sintra.')
    const forkTurns = (await fork.read({ includeTurns: true })).thread.turns.length
    console.log(`fork: new thread with ${forkTurns} turns (the original still has 2)`)

    // rollback(n): drop the last n turns from the history (files the agent changed stay changed).
    await active.rollback(1)
    const afterRollback = (await active.read({ includeTurns: true })).thread.turns.length
    console.log(`rollback(1): ${afterRollback} turn left`)

    if (live) {
      await fork.archive()
      await active.archive()
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
