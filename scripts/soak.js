'use strict'
// Soak: many turns on one session against the scripted fake server, then checks that memory
// came back and every internal counter is at zero.
//
//   node --expose-gc scripts/soak.js [--turns 10000]
//
// pnpm test runs it at a smaller size (__test__/reliability.test.js).

const v8 = require('node:v8')
const vm = require('node:vm')
const native = require('../index.js')
const { Session } = require('../main.js')
const { fakeServer } = require('../testing/fake-scenario.js')

function collectGarbage() {
  if (typeof global.gc !== 'function') {
    v8.setFlagsFromString('--expose-gc')
    global.gc = vm.runInNewContext('gc')
  }
  global.gc()
  global.gc()
}

function memory() {
  collectGarbage()
  const { rss, heapUsed, external } = process.memoryUsage()
  return { rss, heapUsed, external }
}

/** Runs `turns` turns, alternating iterator, callback and plain run; returns the figures. */
async function soak({ turns = 10_000, warmup = 200 } = {}) {
  const fake = fakeServer({ turn: { deltas: 4 } })
  const session = await Session.create({ ...fake })
  try {
    const thread = await session.startThread()
    const runOne = async (i) => {
      const input = `turn ${i}`
      let text
      if (i % 3 === 0) {
        const turn = await thread.startTurn(input)
        let streamed = ''
        for await (const e of turn) if (e.method === 'item/agentMessage/delta') streamed += e.params.delta
        text = streamed
      } else if (i % 3 === 1) {
        let streamed = ''
        await thread.run(input, { onEvent: (e) => (streamed += e.method === 'item/agentMessage/delta' ? e.params.delta : '') })
        text = streamed
      } else {
        text = (await thread.run(input)).text
      }
      if (text !== `echo: ${input}`) throw new Error(`turn ${i}: got ${JSON.stringify(text)}`)
    }
    for (let i = 0; i < warmup; i++) await runOne(i)
    const before = memory()
    const started = Date.now()
    for (let i = warmup; i < warmup + turns; i++) await runOne(i)
    const elapsedMs = Date.now() - started
    const after = memory()
    return {
      turns,
      elapsedMs,
      rssGrowth: after.rss - before.rss,
      heapGrowth: after.heapUsed - before.heapUsed,
      // Buffers and other memory V8 does not hold in its heap, but counts.
      externalGrowth: after.external - before.external,
      stats: session._stats(),
    }
  } finally {
    await session.close()
    fake.cleanup()
  }
}

/** Callback tasks end asynchronously after their stream: wait (bounded) for zero. */
async function liveCallbackTasks(withinMs = 2000) {
  const deadline = Date.now() + withinMs
  let live = native._nativeStats().liveCallbackTasks
  while (live > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10))
    live = native._nativeStats().liveCallbackTasks
  }
  return live
}

module.exports = { soak, liveCallbackTasks }

if (require.main === module) {
  const i = process.argv.indexOf('--turns')
  const turns = i > 0 ? Number(process.argv[i + 1]) : 10_000
  soak({ turns }).then(async (r) => {
    const live = await liveCallbackTasks()
    const mb = (b) => `${(b / 1048576).toFixed(1)} MB`
    console.log(`${r.turns} turns in ${r.elapsedMs} ms (${Math.round(r.turns / (r.elapsedMs / 1000))} turns/s)`)
    console.log(`RSS growth ${mb(r.rssGrowth)}, V8 heap growth ${mb(r.heapGrowth)}, external growth ${mb(r.externalGrowth)}`)
    const perTurn = (b) => `${Math.round(b / r.turns)} B`
    console.log(`per turn: RSS ${perTurn(r.rssGrowth)}, heap + external ${perTurn(r.heapGrowth + r.externalGrowth)}`)
    console.log(`counters ${JSON.stringify(r.stats)}, live callback tasks ${live}`)
    const ok = r.heapGrowth < 8 * 1048576 && r.rssGrowth < 64 * 1048576 && live === 0 && Object.values(r.stats).every((v) => v === 0)
    console.log(ok ? 'soak: ok' : 'soak: FAILED')
    process.exitCode = ok ? 0 : 1
  })
}
