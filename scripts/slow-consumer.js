'use strict'
// Slow consumer: the fake server floods one turn while JavaScript reads nothing; the client must
// buffer everything (the server never waits on the JS consumer), then deliver it all, in order.
//
//   node scripts/slow-consumer.js [--events 1000000]
//
// pnpm test runs it at 200,000 events (__test__/fake-server.test.js "a slow consumer...").

const { Session } = require('../main.js')
const { fakeServer } = require('../testing/fake-scenario.js')

async function slowConsumer({ events = 1_000_000 } = {}) {
  const fake = fakeServer({ turn: { flood: events, indexed: true } })
  const session = await Session.create({ ...fake })
  try {
    const turn = await (await session.startThread()).startTurn('flood')
    const started = Date.now()
    // Nothing is read until the server has written the whole turn: it cannot have waited on us.
    await turn.result()
    const writtenMs = Date.now() - started
    let j = 0
    for await (const e of turn) {
      if (e.method !== 'item/agentMessage/delta') continue
      if (e.params.delta !== `${turn.id}:${j};`) throw new Error(`event ${j} out of order: ${e.params.delta}`)
      j++
    }
    return { events, delivered: j, writtenMs, readMs: Date.now() - started - writtenMs, server: fake.stats() }
  } finally {
    await session.close()
    fake.cleanup()
  }
}

module.exports = { slowConsumer }

if (require.main === module) {
  const i = process.argv.indexOf('--events')
  const events = i > 0 ? Number(process.argv[i + 1]) : 1_000_000
  slowConsumer({ events }).then((r) => {
    console.log(`${r.delivered} of ${r.events} events delivered in order`)
    console.log(`server wrote the whole turn in ${r.writtenMs} ms with no reader in JS; JS then read it in ${r.readMs} ms`)
    console.log(`server time blocked on a full pipe: ${r.server?.blockedMs ?? '?'} ms (the Rust reader, not JS, sets that pace)`)
    process.exitCode = r.delivered === r.events ? 0 : 1
  })
}
