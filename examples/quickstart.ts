// Quickstart: one turn through the real codex app-server.
//
// Offline by default: a loopback stand-in plays the model (codex-native/testing).
// With CODEX_NATIVE_LIVE=1 it uses your own Codex login and model instead.

import { Session } from 'codex-native'
import { createModelStandIn, reply } from 'codex-native/testing'

async function main(): Promise<void> {
  const live = process.env.CODEX_NATIVE_LIVE === '1'
  const model = live ? null : await createModelStandIn()
  model?.enqueue(reply.text('Hello from codex-native: this answer streamed through the real codex app-server.', { chunks: 6 }))

  const session = await Session.create(model ? model.sessionOptions() : {})
  try {
    console.log(`connected to ${session.info.userAgent}`)
    const thread = await session.startThread()
    const turn = await thread.startTurn('Say hello in one sentence.')
    process.stdout.write('agent: ')
    for await (const delta of turn.textStream()) process.stdout.write(delta)
    const result = await turn.result()
    console.log(`\nstatus: ${result.status}, items: ${result.items.length}, tokens: ${result.usage?.total.totalTokens ?? 0}`)
  } finally {
    await session.close()
    await model?.close()
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
