// One benchmark job, run in its own Node process by bench/run.mjs:
//   node [--expose-gc] bench/worker.mjs '<job JSON>'
// prints one line `RESULT <json>` on stdout.
import fs from 'node:fs'
import path from 'node:path'
import { BaselineClient } from './baseline-client.mjs'
import { spawnOnWorkerThread } from './worker-transport.mjs'
import {
  BENCH_DIR, DELTA, require, codexBinary, window, gc, sleep, now, percentile, indexedDelta, cpuSource,
} from './lib.mjs'

const { Session } = require('../main.js')
const { fakeServer } = require('../testing/fake-scenario.js')
const { createModelStandIn } = require('../testing/index.js')

// Batches crossing into JS, counted by wrapping the internal pulls/pushes of main.js (one
// extra call per batch, not per event): the mean batch size explains much of the per-event cost.
const { Turn, Thread } = require('../main.js')
const probe = { batches: 0 }
for (const name of ['_pullBatch', '_pullText']) {
  const original = Turn.prototype[name]
  if (typeof original !== 'function') continue
  Turn.prototype[name] = function (...args) {
    const pulled = original.apply(this, args)
    if (typeof pulled === 'string') probe.batches++ // not a waiter id, not the end
    return pulled
  }
}
{
  const original = Thread.prototype._startTurn
  if (typeof original === 'function') {
    Thread.prototype._startTurn = function (input, params, dispatch, ...rest) {
      const counted = typeof dispatch === 'function' ? (batch) => (probe.batches++, dispatch(batch)) : dispatch
      return original.call(this, input, params, counted, ...rest)
    }
  }
}
const LATENCY_SERVER = path.join(BENCH_DIR, 'latency-server.mjs')
const job = JSON.parse(process.argv[2])

// ---------------------------------------------------------------------------------------------
// A stream to consume, by one of the four consumers. `check(e)` sees each event (object form),
// `text(t)` each text chunk (textStream). Each consumer resolves when turn/completed was seen.

async function nativeSetup(server, extra = {}) {
  const session = await Session.create({ ...server, ...extra })
  const thread = await session.startThread()
  return { session, thread, close: () => session.close() }
}

async function baselineSetup(server, transport, parse = 'line') {
  const client = await BaselineClient.start({ command: server.codexPath, env: server.env, transport, parse })
  const { thread } = await client.request('thread/start', {})
  return { client, threadId: thread.id, close: () => client.close() }
}

const consumers = {
  async iterator(ctx, input, sink) {
    const turn = await ctx.thread.startTurn(input)
    for await (const e of turn) sink.event(e)
  },
  async callback(ctx, input, sink) {
    let done
    const finished = new Promise((r) => (done = r))
    await ctx.thread.startTurn(input, {
      onEvent(e) {
        sink.event(e)
        if (e.method === 'turn/completed') done()
      },
    })
    // The callback alone keeps nothing alive (a weak ThreadsafeFunction, by design): hold the
    // loop open until turn/completed was delivered. (Not `await turn.result()`: it too settles
    // only after the callback has seen every event, but it would add the cost of materialising
    // the result, which the other consumers do not pay.)
    const hold = setInterval(() => {}, 1 << 30)
    await finished
    clearInterval(hold)
  },
  async textStream(ctx, input, sink) {
    const turn = await ctx.thread.startTurn(input)
    for await (const t of turn.textStream()) sink.text(t)
  },
  async baseline(ctx, input, sink) {
    await ctx.client.runTurn(ctx.threadId, input, (e) => sink.event(e))
  },
  // The same client parsing once per stdout chunk instead of once per line: the cheapest
  // pure-JS client (baseline-client.mjs).
  async baselineChunked(ctx, input, sink) {
    await ctx.client.runTurn(ctx.threadId, input, (e) => sink.event(e))
  },
  // The iterator on a session with one pass-through incoming interceptor (interceptors bench):
  // every message crosses into JavaScript on its own, and back, before it is routed.
  async iteratorIntercepted(ctx, input, sink) {
    return consumers.iterator(ctx, input, sink)
  },
  // The baseline reading the server's stdout on a worker thread (latency bench only): the
  // pure-Node form of a reader thread handing events to the JavaScript thread.
  async baselineOnWorker(ctx, input, sink) {
    await ctx.client.runTurn(ctx.threadId, input, (e) => sink.event(e))
  },
}
const setupFor = (mode) =>
  mode === 'baseline' ? baselineSetup
  : mode === 'baselineChunked' ? (server) => baselineSetup(server, undefined, 'chunk')
  : mode === 'baselineOnWorker' ? (server) => baselineSetup(server, spawnOnWorkerThread)
  : mode === 'iteratorIntercepted' ? (server) => nativeSetup(server, { interceptors: [{ incoming: (m) => m }] })
  : nativeSetup

/** Counts deltas; checks each delta's size and that the turn ends with turn/completed. */
function countingSink(size) {
  const s = {
    deltas: 0, badSize: 0, chars: 0, chunks: 0, events: 0, first: null, last: null,
    event(e) {
      s.events++
      if (e.method === DELTA) {
        s.deltas++
        if (e.params.delta.length !== size) s.badSize++
      } else if (s.first === null) s.first = e.method
      s.last = e.method
    },
    text(t) {
      s.chunks++
      s.chars += t.length
    },
  }
  return s
}

/** Checks that delta j is exactly indexedDelta(j, size), for j = 0..n-1 in order. */
function verifyingSink(size, n) {
  const s = {
    next: 0, errors: [], buf: '', first: null, last: null,
    event(e) {
      if (e.method === DELTA) {
        const want = indexedDelta(s.next, size)
        if (e.params.delta !== want && s.errors.length < 3) s.errors.push(`delta ${s.next}: got ${e.params.delta.slice(0, 24)}`)
        s.next++
      } else if (s.first === null) s.first = e.method
      s.last = e.method
    },
    text(t) {
      // deltas may arrive joined (one string per batch) and a string may end mid-delta
      s.buf += t
      let off = 0
      while (s.buf.length - off >= size) {
        const want = indexedDelta(s.next, size)
        if (s.buf.slice(off, off + size) !== want && s.errors.length < 3) s.errors.push(`text delta ${s.next}: got ${s.buf.slice(off, off + 24)}`)
        s.next++
        off += size
      }
      s.buf = s.buf.slice(off)
    },
    result() {
      if (s.buf.length) s.errors.push(`${s.buf.length} stray characters at the end`)
      if (s.next !== n) s.errors.push(`${s.next} of ${n} deltas`)
      if (s.last !== null && s.last !== 'turn/completed') s.errors.push(`last event ${s.last}`)
      return s.errors
    },
  }
  return s
}

// ---------------------------------------------------------------------------------------------
// Jobs

async function throughput({ n, size, runs, modes }) {
  const fake = fakeServer({ turn: { flood: n, deltaText: 'x'.repeat(size) } })
  const out = Object.fromEntries(modes.map((m) => [m, []]))
  const once = async (mode) => {
    const ctx = await setupFor(mode)(fake)
    const sink = countingSink(size)
    gc()
    probe.batches = 0
    const w = window()
    await consumers[mode](ctx, 'flood', sink)
    const m = w.stop()
    const batches = probe.batches
    await ctx.close()
    const delivered = mode === 'textStream' ? sink.chars / size : sink.deltas
    const lost = n - delivered
    const ok = lost === 0 && sink.badSize === 0 && (mode === 'textStream' || sink.last === 'turn/completed')
    return {
      ok, lost, delivered, ...m, batches: mode.startsWith('baseline') ? null : batches, wallNsPerEvent: (m.wallMs * 1e6) / n,
      eventsPerSec: n / (m.wallMs / 1000), mainNsPerEvent: m.mainNs / n, allNsPerEvent: m.allNs / n, eluNsPerEvent: (m.eluActiveMs * 1e6) / n,
    }
  }
  fake.setScenario({ turn: { flood: Math.ceil(n / 4), deltaText: 'x'.repeat(size) } })
  for (const mode of modes) await once(mode) // warm-up (JIT), not counted
  fake.setScenario({ turn: { flood: n, deltaText: 'x'.repeat(size) } })
  for (let r = 0; r < runs; r++) {
    // interleaved, rotating the order, so drift affects every mode alike
    for (let i = 0; i < modes.length; i++) {
      const mode = modes[(i + r) % modes.length]
      out[mode].push(await once(mode))
    }
  }
  fake.cleanup()
  return { n, size, cpuSource: cpuSource(), results: out }
}

async function verify({ n, size, modes }) {
  // The fake plays the given pieces one line each: delta j = indexedDelta(j, size).
  const deltas = Array.from({ length: n }, (_, j) => indexedDelta(j, size))
  const fake = fakeServer({ turn: { deltas } })
  const out = {}
  for (const mode of modes) {
    const ctx = await setupFor(mode)(fake)
    const sink = verifyingSink(size, n)
    await consumers[mode](ctx, 'verify', sink)
    await ctx.close()
    out[mode] = sink.result()
  }
  // and the fake's own indexed flood ("<turnId>:<j>;", big batched writes)
  const flood = fakeServer({ turn: { flood: n, indexed: true } })
  for (const mode of modes.filter((m) => m !== 'textStream')) {
    const ctx = await setupFor(mode)(flood)
    let j = 0
    let turnId = null
    const errors = []
    await consumers[mode](ctx, 'flood', {
      event(e) {
        if (e.method !== DELTA) return
        turnId ??= e.params.turnId
        if (e.params.delta !== `${turnId}:${j};` && errors.length < 3) errors.push(`flood delta ${j}: got ${e.params.delta}`)
        j++
      },
    })
    await ctx.close()
    if (j !== n) errors.push(`flood: ${j} of ${n} deltas`)
    out[mode].push(...errors)
  }
  fake.cleanup()
  flood.cleanup()
  return { n, size, errors: out }
}

/** The `cpu` line of /proc/stat: [steal, total] in clock ticks (null where it is missing). */
function cpuTicks() {
  try {
    const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number)
    return [fields[7], fields.reduce((a, b) => a + b, 0)]
  } catch {
    return null
  }
}

/** Share of all CPU time the hypervisor took from this VM between two `cpuTicks()`, in %. */
function stolenPercent(before, after) {
  if (!before || !after || after[1] === before[1]) return null
  return (100 * (after[0] - before[0])) / (after[1] - before[1])
}

/**
 * `sessions: 'warm'`: each mode keeps one session (one server process) for all its runs, after a
 * full-length warm-up turn: the steady state of an app that keeps its session. `'fresh'`: a new
 * session per run, so each run is its server's first second, when the latency server (a Node
 * script) is still compiling and growing its heap on threads of its own, on the same cores.
 */
async function latency({ rate, count, runs, modes, skip, sessions = 'fresh' }) {
  const server = { codexPath: LATENCY_SERVER, env: {} }
  const out = Object.fromEntries(modes.map((m) => [m, []]))
  const warm = sessions === 'warm' ? Object.fromEntries(await Promise.all(modes.map(async (m) => [m, await setupFor(m)(server)]))) : null
  const once = async (mode, c) => {
    const ctx = warm ? warm[mode] : await setupFor(mode)(server)
    const lat = []
    let pacing = null
    let seen = 0
    const record = (delta, t) => {
      const at = delta.indexOf('@')
      const k = Number(delta.slice(0, at))
      if (k !== seen) throw new Error(`latency: delta ${k} arrived as number ${seen}`)
      seen++
      lat.push(t - Number(delta.slice(at + 1)))
    }
    const ticksBefore = cpuTicks()
    await consumers[mode](ctx, `rate=${rate} count=${c}`, {
      event(e) {
        const t = now()
        if (e.method === DELTA) record(e.params.delta, t)
        else if (e.method === 'turn/completed') pacing = e.params.pacing
      },
    })
    const stolen = stolenPercent(ticksBefore, cpuTicks())
    if (!warm) await ctx.close()
    if (seen !== c) throw new Error(`latency: ${seen} of ${c} deltas`)
    const kept = lat.slice(skip)
    return { p50: percentile(kept, 50), p99: percentile(kept, 99), max: Math.max(...kept), rate: pacing?.rate, samples: kept.length, stolen }
  }
  for (const mode of modes) await once(mode, warm ? count : Math.min(count, 500)) // warm-up
  for (let r = 0; r < runs; r++) {
    for (let i = 0; i < modes.length; i++) {
      const mode = modes[(i + r) % modes.length]
      out[mode].push(await once(mode, count))
    }
  }
  if (warm) for (const ctx of Object.values(warm)) await ctx.close()
  return { rate, count, sessions, results: out }
}

async function memIdle({ sessions, baseline }) {
  const fake = fakeServer({})
  const open = baseline
    ? () => BaselineClient.start({ command: fake.codexPath, env: fake.env })
    : () => Session.create({ ...fake })
  const settle = async () => {
    for (let i = 0; i < 3; i++) {
      await sleep(100)
      gc()
    }
  }
  // warm-up: the addon, its runtime, the code paths and allocator pools; nothing left open
  for (let round = 0; round < 2; round++) {
    const warm = []
    for (let i = 0; i < sessions; i++) warm.push(await open())
    for (const s of warm) await s.close()
  }
  await settle()
  const before = process.memoryUsage().rss
  const list = []
  for (let i = 0; i < sessions; i++) list.push(await open())
  await settle()
  const after = process.memoryUsage().rss
  for (const s of list) await s.close()
  fake.cleanup()
  return { perSessionBytes: (after - before) / sessions, before, after }
}

async function memBuffered({ n, size }) {
  const fake = fakeServer({ turn: { flood: n, deltaText: 'x'.repeat(size) } })
  const session = await Session.create({ ...fake })
  const thread = await session.startThread()
  // warm-up: one small turn read to the end, so that code and allocator pools exist already
  fake.setScenario({ turn: { flood: 1000, deltaText: 'x'.repeat(size) } })
  const s2 = await Session.create({ ...fake })
  for await (const _ of await (await s2.startThread()).startTurn('warm')) void _
  await s2.close()
  gc()
  await sleep(200)
  gc()
  const before = process.memoryUsage().rss
  const turn = await thread.startTurn('flood')
  await turn.result() // turn/completed was routed: every event before it is buffered
  await sleep(100)
  gc()
  const after = process.memoryUsage().rss
  let deltas = 0
  for await (const e of turn) if (e.method === DELTA) deltas++
  await session.close()
  fake.cleanup()
  return { bytes: after - before, deltas, ok: deltas === n }
}

async function concurrency({ threads: nThreads, turns: nTurns, deltas, runs, modes }) {
  const fake = fakeServer({ batch: { size: nTurns, deltas } })
  const out = Object.fromEntries(modes.map((m) => [m, []]))
  const check = (turnId, events) => {
    const errors = []
    let j = 0
    for (const e of events) {
      const id = e.params.turnId ?? e.params.turn?.id
      if (id !== turnId) errors.push(`misrouted ${e.method} to ${turnId}`)
      if (e.method === DELTA) {
        if (e.params.delta !== `${turnId}:${j};`) errors.push(`${turnId} delta ${j}: ${e.params.delta}`)
        j++
      }
    }
    if (j !== deltas) errors.push(`${turnId}: ${j} of ${deltas} deltas`)
    if (events.at(-1)?.method !== 'turn/completed') errors.push(`${turnId}: did not end with turn/completed`)
    return errors
  }
  const once = async (mode) => {
    let errors = []
    let m
    let w
    if (mode === 'baseline') {
      const client = await BaselineClient.start({ command: fake.codexPath, env: fake.env })
      const threadIds = await Promise.all(Array.from({ length: nThreads }, async () => (await client.request('thread/start', {})).thread.id))
      gc()
      w = window()
      const perTurn = await Promise.all(
        Array.from({ length: nTurns }, async (_, i) => {
          const events = []
          const turnId = await client.runTurn(threadIds[i % nThreads], `turn ${i}`, (e) => events.push(e))
          return check(turnId, events)
        }),
      )
      m = w.stop()
      errors = perTurn.flat()
      await client.close()
    } else {
      const session = await Session.create({ ...fake })
      const threads = await Promise.all(Array.from({ length: nThreads }, () => session.startThread()))
      gc()
      w = window()
      const perTurn = await Promise.all(
        Array.from({ length: nTurns }, async (_, i) => {
          const events = []
          const thread = threads[i % nThreads]
          if (mode === 'callback') {
            let done
            const finished = new Promise((r) => (done = r))
            const turn = await thread.startTurn(`turn ${i}`, {
              onEvent(e) {
                events.push(e)
                if (e.method === 'turn/completed') done()
              },
            })
            const hold = setInterval(() => {}, 1 << 30) // see consumers.callback
            await finished
            clearInterval(hold)
            return check(turn.id, events)
          }
          const turn = await thread.startTurn(`turn ${i}`)
          for await (const e of turn) events.push(e)
          return check(turn.id, events)
        }),
      )
      m = w.stop()
      errors = perTurn.flat()
      const stats = session._stats?.()
      if (stats && stats.liveTurns !== 0) errors.push(`liveTurns ${stats.liveTurns} after all turns ended`)
      await session.close()
    }
    const total = nTurns * deltas
    return { ok: errors.length === 0, errors: errors.slice(0, 3), eventsPerSec: total / (m.wallMs / 1000), mainNsPerEvent: m.mainNs / total, ...m }
  }
  for (const mode of modes) await once(mode) // warm-up
  for (let r = 0; r < runs; r++) {
    for (let i = 0; i < modes.length; i++) {
      const mode = modes[(i + r) % modes.length]
      out[mode].push(await once(mode))
    }
  }
  fake.cleanup()
  return { threads: nThreads, turns: nTurns, deltasPerTurn: deltas, results: out }
}

async function startup({ runs }) {
  const codex = codexBinary()
  const model = await createModelStandIn()
  // The exact argv and initialize params codex-native uses, as the fake server saw them: the
  // baseline spawns the same binary with the same arguments, environment and handshake.
  const probe = fakeServer({})
  const o = model.sessionOptions()
  await (await Session.create({ ...o, codexPath: probe.codexPath, env: { ...o.env, ...probe.env } })).close()
  const args = probe.starts()[0].argv.slice(1) // after `app-server`
  const init = probe.requests('initialize')[0].params
  probe.cleanup()
  const out = { session: [], baseline: [] }
  const nativeOnce = async () => {
    const options = { ...model.sessionOptions(), codexPath: codex }
    const t0 = performance.now()
    const session = await Session.create(options)
    const ms = performance.now() - t0
    await session.close()
    return ms
  }
  const baselineOnce = async () => {
    const { env } = model.sessionOptions()
    const t0 = performance.now()
    const client = await BaselineClient.start({ command: codex, args, env, clientInfo: init.clientInfo, capabilities: init.capabilities })
    const ms = performance.now() - t0
    await client.close()
    return ms
  }
  await nativeOnce() // warm-up: page cache, code paths
  await baselineOnce()
  for (let r = 0; r < runs; r++) {
    // alternate which goes first
    if (r % 2) {
      out.session.push(await nativeOnce())
      out.baseline.push(await baselineOnce())
    } else {
      out.baseline.push(await baselineOnce())
      out.session.push(await nativeOnce())
    }
  }
  await model.close()
  return { ...out, args }
}

/**
 * `turn.result()` after the iterator read the whole stream (n deltas of `size` B, then the
 * flood's item/completed carrying the whole text): its wall time against the stream's own, from
 * startTurn to the end of the `for await`. The result must be the full one (text, items).
 */
async function resultCost({ n, size, runs }) {
  const fake = fakeServer({ turn: { flood: n, deltaText: 'x'.repeat(size) } })
  const once = async () => {
    const ctx = await nativeSetup(fake)
    gc()
    const t0 = now()
    const turn = await ctx.thread.startTurn('flood')
    let last = null
    for await (const e of turn) last = e.method
    const t1 = now()
    const result = await turn.result()
    const t2 = now()
    await ctx.close()
    const message = result.items.findLast((i) => i.type === 'agentMessage')
    const ok = last === 'turn/completed' && result.status === 'completed' && result.text.length === n * size && message?.text === result.text
    return { streamMs: t1 - t0, resultMs: t2 - t1, ratio: (t2 - t1) / (t1 - t0), ok }
  }
  await once() // warm-up (JIT), not counted
  const out = []
  for (let r = 0; r < runs; r++) out.push(await once())
  fake.cleanup()
  return { n, size, results: out }
}

const jobs = { throughput, verify, latency, memIdle, memBuffered, concurrency, startup, resultCost }

try {
  const result = await jobs[job.kind](job)
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`)
  process.exit(0)
} catch (err) {
  process.stdout.write(`RESULT ${JSON.stringify({ error: String(err && err.stack || err) })}\n`)
  process.exit(1)
}
