'use strict'

// Self-check of the scripted fake app-server: drives it by hand (spawn + raw JSON lines, no
// addon) through every cue and checks what comes out. Exits 0 when all pass, 1 otherwise.
//
//   node testing/fake-selfcheck.js [--addon] [--only <substring>]
//
// --addon also runs a basic turn through the built addon (require('../main.js')).

const { spawn } = require('node:child_process')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { fakeServer, act } = require('./fake-scenario.js')

const argv = process.argv.slice(2)
const WITH_ADDON = argv.includes('--addon')
const ONLY = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : null

const DELTA_HEAD = Buffer.from('{"method":"item/agentMessage/delta"')
const PARSE_LIMIT = 128 * 1024 * 1024

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// ---------------------------------------------------------------------------------------------
// A hand driver: spawns the fake, reads stdout line by line.

class Driver {
  constructor(scenario, { env = {}, args = [], countDeltasOnly = false } = {}) {
    this.fake = fakeServer(scenario)
    this.countDeltasOnly = countDeltasOnly
    this.frames = [] // parsed frames (or {$raw: string} for lines that are not JSON)
    this.deltaCount = 0
    this.waiters = []
    this.stdoutEnded = false
    this.stderr = ''
    this.nextId = 1
    this.child = spawn(this.fake.codexPath, ['app-server', ...args], {
      env: { ...process.env, ...this.fake.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    this.pending = []
    this.child.stdout.on('data', (c) => this.onData(c))
    this.child.stdout.on('end', () => {
      this.stdoutEnded = true
      this.poke()
    })
    this.child.stderr.setEncoding('utf8')
    this.child.stderr.on('data', (s) => {
      this.stderr += s
      this.poke()
    })
    this.child.stdin.on('error', () => {})
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })))
    this.exitStatus = null
    this.exited.then((s) => {
      this.exitStatus = s
      this.poke()
    })
  }

  onData(chunk) {
    let start = 0
    for (;;) {
      const nl = chunk.indexOf(10, start)
      if (nl === -1) break
      let line = chunk.subarray(start, nl)
      if (this.pending.length) {
        this.pending.push(line)
        line = Buffer.concat(this.pending)
        this.pending = []
      }
      this.onLine(line)
      start = nl + 1
    }
    if (start < chunk.length) this.pending.push(chunk.subarray(start))
    this.poke()
  }

  onLine(buf) {
    if (this.countDeltasOnly && buf.length > DELTA_HEAD.length && buf.subarray(0, DELTA_HEAD.length).equals(DELTA_HEAD)) {
      this.deltaCount++
      return
    }
    if (buf.length > PARSE_LIMIT) {
      this.frames.push({ $raw: null, $length: buf.length })
      return
    }
    const s = buf.toString('utf8')
    try {
      const f = JSON.parse(s)
      if (f && f.method === 'item/agentMessage/delta') this.deltaCount++
      if (buf.length > 1024 * 1024) {
        // keep big frames light
        this.frames.push({ $big: true, $length: buf.length, method: f.method, id: f.id, $head: s.slice(0, 80) })
      } else {
        this.frames.push(f)
      }
    } catch {
      this.frames.push({ $raw: s.length > 1024 * 1024 ? s.slice(0, 80) : s, $length: buf.length })
    }
  }

  poke() {
    for (const w of this.waiters.slice()) w()
  }

  send(frame) {
    this.child.stdin.write(JSON.stringify(frame) + '\n')
  }

  request(method, params = {}) {
    const id = this.nextId++
    this.send({ id, method, params })
    return id
  }

  /** Waits until cond() is truthy (re-checked on every output); returns its value. */
  until(cond, what, timeoutMs = 5000) {
    return new Promise((resolve, reject) => {
      const check = () => {
        let v
        try {
          v = cond()
        } catch (e) {
          cleanup()
          return reject(e)
        }
        if (v) {
          cleanup()
          resolve(v)
        }
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(new Error(`timed out waiting for ${what}; frames: ${this.summary()}; stderr: ${this.stderr.slice(-500)}`))
      }, timeoutMs)
      const cleanup = () => {
        clearTimeout(timer)
        this.waiters = this.waiters.filter((w) => w !== check)
      }
      this.waiters.push(check)
      check()
    })
  }

  response(id, timeoutMs) {
    return this.until(() => this.frames.find((f) => f.id === id && f.method === undefined), `response ${id}`, timeoutMs)
  }

  notification(method, pred = () => true, timeoutMs) {
    return this.until(
      () => this.frames.find((f) => f.method === method && f.id === undefined && pred(f.params)),
      `notification ${method}`,
      timeoutMs,
    )
  }

  serverRequest(method, timeoutMs) {
    return this.until(() => this.frames.find((f) => f.method === method && f.id !== undefined), `server request ${method}`, timeoutMs)
  }

  indexOf(pred) {
    return this.frames.findIndex(pred)
  }

  summary() {
    return JSON.stringify(this.frames.slice(-8).map((f) => f.method ?? (f.$raw !== undefined ? '$raw' : `#${f.id}`)))
  }

  async handshake() {
    const id = this.request('initialize', { clientInfo: { name: 'selfcheck', version: '0' } })
    const r = await this.response(id)
    this.send({ method: 'initialized' })
    return r
  }

  async startThread() {
    const r = await this.response(this.request('thread/start', {}))
    return r.result.thread.id
  }

  startTurn(threadId, text) {
    return this.request('turn/start', { threadId, input: [{ type: 'text', text }] })
  }

  async turnCompleted(turnId, timeoutMs) {
    return this.notification('turn/completed', (p) => p.turn.id === turnId, timeoutMs)
  }

  turnFrames(turnId) {
    return this.frames.filter((f) => f.params && (f.params.turnId === turnId || (f.params.turn && f.params.turn.id === turnId)))
  }

  closeStdin() {
    this.child.stdin.end()
  }

  async exit(timeoutMs = 5000) {
    return this.until(() => this.exitStatus, 'exit', timeoutMs)
  }

  alive() {
    return this.exitStatus === null
  }

  kill(sig = 'SIGKILL') {
    if (this.alive()) this.child.kill(sig)
  }

  async end() {
    this.kill()
    await this.exited
    this.fake.cleanup()
  }
}

// ---------------------------------------------------------------------------------------------
// Checks

const checks = []
const check = (name, fn) => checks.push({ name, fn })

async function withDriver(scenario, opts, fn) {
  const d = new Driver(scenario, opts)
  try {
    return await fn(d)
  } finally {
    await d.end()
  }
}

check('baseline: handshake, thread, turn, log, EOF exit 0', () =>
  withDriver({}, { args: ['-c', 'model="x"'] }, async (d) => {
    const init = await d.handshake()
    assert.equal(init.result.userAgent, 'fake-app-server/0.0.0')
    assert.equal(init.result.platformFamily, 'unix')
    assert.equal(init.result.platformOs, 'linux')
    assert.equal(typeof init.result.codexHome, 'string')
    const startId = d.request('thread/start', {})
    const started = await d.response(startId)
    const thr = started.result.thread.id
    assert.equal(thr, 'thr_1')
    assert.equal(started.result.model, 'fake')
    assert.equal(started.result.approvalPolicy, 'never')
    assert.deepEqual(started.result.sandbox, { type: 'dangerFullAccess' })
    await d.notification('thread/started', (p) => p.thread.id === thr)
    const tid = d.startTurn(thr, 'hi')
    const tr = await d.response(tid)
    assert.equal(tr.result.turn.id, 'turn_1')
    assert.equal(tr.result.turn.status, 'inProgress')
    await d.turnCompleted('turn_1')
    const seq = d.frames.slice(d.indexOf((f) => f.id === tid)).map((f) => f.method ?? `#${f.id}`)
    assert.deepEqual(seq, [
      `#${tid}`,
      'turn/started',
      'item/started',
      'item/agentMessage/delta',
      'item/agentMessage/delta',
      'item/agentMessage/delta',
      'item/completed',
      'thread/tokenUsage/updated',
      'turn/completed',
    ])
    const fs_ = d.turnFrames('turn_1')
    const text = fs_.filter((f) => f.method === 'item/agentMessage/delta').map((f) => f.params.delta).join('')
    assert.equal(text, 'echo: hi')
    const done = fs_.find((f) => f.method === 'item/completed')
    assert.deepEqual({ type: done.params.item.type, text: done.params.item.text }, { type: 'agentMessage', text: 'echo: hi' })
    const usage = fs_.find((f) => f.method === 'thread/tokenUsage/updated').params.tokenUsage
    assert.equal(usage.total.totalTokens, 15)
    assert.equal(fs_.at(-1).params.turn.status, 'completed')
    // unknown method
    const u = await d.response(d.request('no/such/method', {}))
    assert.equal(u.error.code, -32601)
    d.closeStdin()
    assert.deepEqual(await d.exit(), { code: 0, signal: null })
    const log = d.fake.log()
    assert.deepEqual(
      log.map((f) => f.method),
      ['initialize', 'initialized', 'thread/start', 'turn/start', 'no/such/method'],
    )
    assert.deepEqual(d.fake.starts()[0].argv, ['app-server', '-c', 'model="x"'])
    assert.ok(d.fake.sawEof())
  }))

check('SIGTERM exits 0', () =>
  withDriver({}, {}, async (d) => {
    await d.handshake()
    d.kill('SIGTERM')
    assert.deepEqual(await d.exit(), { code: 0, signal: null })
    assert.ok(d.fake.sawSigterm())
  }))

check('crash mid-request (exit code + stderr)', () =>
  withDriver({ on: { 'thread/start': [act.crash({ code: 3 })] } }, {}, async (d) => {
    await d.handshake()
    const id = d.request('thread/start', {})
    assert.deepEqual(await d.exit(), { code: 3, signal: null })
    assert.ok(!d.frames.some((f) => f.id === id), 'no answer')
    assert.match(d.stderr, /fake: crashing now/)
  }))

check('crash mid-request by signal', () =>
  withDriver({ on: { initialize: [act.crash({ signal: 'SIGKILL', stderr: 'fake: dying by SIGKILL' })] } }, {}, async (d) => {
    d.request('initialize', {})
    assert.deepEqual(await d.exit(), { code: null, signal: 'SIGKILL' })
    assert.match(d.stderr, /fake: dying by SIGKILL/)
  }))

check('crash mid-turn after K deltas', () =>
  withDriver({ turn: { deltas: 5, at: { 2: [act.crash({ code: 9 })] } } }, {}, async (d) => {
    await d.handshake()
    const thr = await d.startThread()
    d.startTurn(thr, 'hello world')
    assert.deepEqual(await d.exit(), { code: 9, signal: null })
    assert.equal(d.deltaCount, 2)
    assert.ok(!d.frames.some((f) => f.method === 'turn/completed'))
    assert.match(d.stderr, /fake: crashing now/)
  }))

check('crash at startup', () =>
  withDriver({ startup: [act.crash({ code: 7, stderr: 'fake: startup crash' })] }, {}, async (d) => {
    assert.deepEqual(await d.exit(), { code: 7, signal: null })
    assert.match(d.stderr, /startup crash/)
  }))

check('exit during initialize', () =>
  withDriver({ on: { initialize: [act.exit(5)] } }, {}, async (d) => {
    d.request('initialize', {})
    assert.deepEqual(await d.exit(), { code: 5, signal: null })
    assert.equal(d.frames.length, 0)
  }))

check('malformed line and stray response at startup', () =>
  withDriver({ startup: [act.malformed(), act.strayResponse(4242, { x: 1 }), act.notify('configWarning', { summary: 'w' })] }, {}, async (d) => {
    const init = await d.handshake()
    assert.ok(init.result)
    assert.equal(d.frames[0].$raw, '{"method":"broken", ')
    assert.deepEqual(d.frames[1], { id: 4242, result: { x: 1 } })
    assert.equal(d.frames[2].method, 'configWarning')
  }))

check('64 MiB line streamed in chunks, nothing interleaved', () =>
  withDriver({ on: { initialize: [act.bigLine(64, { chunkKiB: 512 })], 'thread/start': [act.bigLine(1, { valid: false })] } }, {}, async (d) => {
    d.request('initialize', {})
    d.request('model/list', {}) // answered while the big line streams: must come after it
    await d.response(2, 20000)
    await d.response(1, 20000)
    const big = d.frames[0]
    assert.equal(big.$length, 64 * 1024 * 1024)
    assert.equal(big.method, 'fake/bigLine')
    const thr = d.request('thread/start', {})
    await d.response(thr)
    const raw = d.frames.find((f) => f.$raw !== undefined)
    assert.equal(raw.$length, 1024 * 1024)
    assert.match(raw.$raw, /^x+$/)
  }))

check('error -32001 for the first K calls, then success', () =>
  withDriver({ on: { 'turn/start': [act.overloaded(2)] } }, {}, async (d) => {
    await d.handshake()
    const thr = await d.startThread()
    const a = await d.response(d.startTurn(thr, 'a'))
    const b = await d.response(d.startTurn(thr, 'b'))
    const c = await d.response(d.startTurn(thr, 'c'))
    assert.equal(a.error.code, -32001)
    assert.equal(b.error.code, -32001)
    assert.equal(a.error.message, 'Server overloaded; retry later.')
    assert.equal(c.result.turn.id, 'turn_1') // errored calls do not count as turns
    const done = await d.turnCompleted('turn_1')
    assert.equal(done.params.turn.status, 'completed')
  }))

check('hang: request never answered; turn never finishes until interrupted', () =>
  withDriver({ on: { 'model/list': [act.hang()] }, turn: { hang: true } }, {}, async (d) => {
    await d.handshake()
    const ml = d.request('model/list', {})
    const thr = await d.startThread()
    await d.response(d.startTurn(thr, 'x'))
    await sleep(300)
    assert.equal(d.deltaCount, 3)
    assert.ok(!d.frames.some((f) => f.method === 'turn/completed'))
    assert.ok(!d.frames.some((f) => f.id === ml))
    const ir = d.request('turn/interrupt', { threadId: thr, turnId: 'turn_1' })
    const done = await d.turnCompleted('turn_1')
    assert.equal(done.params.turn.status, 'interrupted')
    assert.ok(d.indexOf((f) => f.id === ir) < d.indexOf((f) => f.method === 'turn/completed'), '{} before turn/completed')
    const partial = d.frames.find((f) => f.method === 'item/completed')
    assert.equal(partial.params.item.text, 'echo: x')
  }))

check('slow stream, interrupted mid-way', () =>
  withDriver({ turn: { deltas: 10, delayMs: 150 } }, {}, async (d) => {
    await d.handshake()
    const thr = await d.startThread()
    await d.response(d.startTurn(thr, 'abcdefghijklmnop'))
    await d.notification('item/agentMessage/delta')
    const t = Date.now()
    d.request('turn/interrupt', { threadId: thr, turnId: 'turn_1' })
    const done = await d.turnCompleted('turn_1')
    assert.ok(Date.now() - t < 100, 'interrupt wakes the sleeping turn')
    assert.equal(done.params.turn.status, 'interrupted')
    assert.ok(d.deltaCount >= 1 && d.deltaCount < 10, `deltas ${d.deltaCount}`)
  }))

check('flood 1,000,000 deltas with backpressure stats', () =>
  withDriver({ turn: { flood: 1_000_000 } }, { countDeltasOnly: true }, async (d) => {
    await d.handshake()
    const thr = await d.startThread()
    d.startTurn(thr, 'go')
    await d.notification('item/started')
    d.child.stdout.pause() // a slow reader: the fake must wait for 'drain'
    await sleep(500)
    d.child.stdout.resume()
    const t = Date.now()
    const done = await d.turnCompleted('turn_1', 60000)
    assert.equal(done.params.turn.status, 'completed')
    assert.equal(d.deltaCount, 1_000_000)
    const item = d.frames.find((f) => f.method === 'item/completed' || (f.$big && f.method === 'item/completed'))
    assert.ok(item)
    await d.until(() => d.stderr.includes('fakeStats'), 'stats line')
    const line = d.stderr.split('\n').find((l) => l.startsWith('{"fakeStats"'))
    const stats = JSON.parse(line).fakeStats
    assert.deepEqual(d.fake.stats(), stats)
    assert.ok(stats.drainWaits > 0, 'waited for drain')
    assert.ok(stats.blockedMs >= 300, `blockedMs ${stats.blockedMs}`)
    assert.equal(stats.floodLines, 1_000_000)
    assert.ok(stats.writeCalls < 2000, `batched writes: ${stats.writeCalls}`)
    console.log(`    flood: ${stats.floodLines} lines, ${(stats.bytesWritten / 1048576).toFixed(0)} MiB, ${stats.writeCalls} writes, ` +
      `drainWaits ${stats.drainWaits}, blocked ${stats.blockedMs} ms, floodMs ${stats.floodMs}, read after resume ${Date.now() - t} ms`)
  }))

check('flood indexed deltas, item text matches', () =>
  withDriver({ turn: { flood: 5000, indexed: true } }, {}, async (d) => {
    await d.handshake()
    const thr = await d.startThread()
    d.startTurn(thr, 'go')
    await d.turnCompleted('turn_1')
    const deltas = d.turnFrames('turn_1').filter((f) => f.method === 'item/agentMessage/delta').map((f) => f.params.delta)
    assert.equal(deltas.length, 5000)
    assert.equal(deltas[0], 'turn_1:0;')
    assert.equal(deltas[4999], 'turn_1:4999;')
    assert.equal(d.frames.find((f) => f.method === 'item/completed').params.item.text, deltas.join(''))
  }))

check('server request with unknown method: answer recorded, turn continues', () =>
  withDriver({ turn: { at: { 1: [act.serverRequest('fake/unknownRequest', { threadId: '$threadId', x: 1 })] } } }, {}, async (d) => {
    await d.handshake()
    const thr = await d.startThread()
    d.startTurn(thr, 'q')
    const sr = await d.serverRequest('fake/unknownRequest')
    assert.deepEqual(sr.params, { threadId: thr, x: 1 })
    await sleep(100)
    assert.equal(d.deltaCount, 1, 'turn waits for the answer')
    d.send({ id: sr.id, error: { code: -32601, message: 'unknown server request' } })
    await d.turnCompleted('turn_1')
    const ans = d.fake.answers(sr.id)
    assert.deepEqual(ans, [{ id: sr.id, error: { code: -32601, message: 'unknown server request' } }])
  }))

check('approval requests during a turn: params and recorded answers', () =>
  withDriver(
    {
      turn: {
        at: {
          1: [act.approval({ command: 'ls -la', cwd: '/tmp', reason: 'look' })],
          2: [act.approval({ kind: 'fileChange', reason: 'write' })],
        },
      },
    },
    {},
    async (d) => {
      await d.handshake()
      const thr = await d.startThread()
      d.startTurn(thr, 'do it')
      const a = await d.serverRequest('item/commandExecution/requestApproval')
      assert.equal(a.params.threadId, thr)
      assert.equal(a.params.turnId, 'turn_1')
      assert.equal(typeof a.params.itemId, 'string')
      assert.equal(a.params.command, 'ls -la')
      assert.equal(a.params.cwd, '/tmp')
      assert.equal(a.params.kind, 'command')
      d.send({ id: a.id, result: { decision: 'decline' } })
      const b = await d.serverRequest('item/fileChange/requestApproval')
      assert.equal(b.params.turnId, 'turn_1')
      d.send({ id: b.id, result: { decision: 'accept' } })
      await d.turnCompleted('turn_1')
      assert.deepEqual(d.fake.answers().map((f) => f.result.decision), ['decline', 'accept'])
    },
  ))

check('events before the turn/start response (early K and "all")', () =>
  withDriver({ turns: { 1: { early: 2, deltas: 4 }, 2: { early: 'all' } } }, {}, async (d) => {
    await d.handshake()
    const thr = await d.startThread()
    const id1 = d.startTurn(thr, 'abcdefgh')
    await d.turnCompleted('turn_1')
    const seq = d.turnFrames('turn_1').map((f) => f.method)
    const all = d.frames.filter((f) => f.id === id1 || (f.params && (f.params.turnId === 'turn_1' || f.params.turn?.id === 'turn_1')))
    assert.deepEqual(all.map((f) => f.method ?? 'RESPONSE'), [
      'turn/started', 'item/started', 'item/agentMessage/delta', 'item/agentMessage/delta', 'RESPONSE',
      'item/agentMessage/delta', 'item/agentMessage/delta', 'item/completed', 'thread/tokenUsage/updated', 'turn/completed',
    ])
    assert.ok(seq.length)
    const id2 = d.startTurn(thr, 'z')
    await d.response(id2)
    assert.ok(d.indexOf((f) => f.method === 'turn/completed' && f.params.turn.id === 'turn_2') < d.indexOf((f) => f.id === id2))
  }))

check('close stdout but keep running; exit 0 on stdin EOF', () =>
  withDriver({ on: { initialize: [act.closeStdout(), act.hang()] } }, {}, async (d) => {
    d.request('initialize', {})
    await d.until(() => d.stdoutEnded, 'stdout EOF')
    await sleep(300)
    assert.ok(d.alive())
    d.request('thread/start', {})
    await sleep(100)
    assert.equal(d.fake.requests('thread/start').length, 1, 'still reading')
    d.closeStdin()
    assert.deepEqual(await d.exit(), { code: 0, signal: null })
  }))

check('ignoreStdinEof + ignoreSigterm: needs SIGKILL', () =>
  withDriver({ ignoreStdinEof: true, ignoreSigterm: true, on: { initialize: [act.closeStdout(), act.hang()] } }, {}, async (d) => {
    d.request('initialize', {})
    await d.until(() => d.stdoutEnded, 'stdout EOF')
    d.closeStdin()
    await sleep(200)
    d.kill('SIGTERM')
    await sleep(200)
    assert.ok(d.alive())
    d.kill('SIGKILL')
    assert.deepEqual(await d.exit(), { code: null, signal: 'SIGKILL' })
    assert.ok(d.fake.sawEof() && d.fake.sawSigterm())
  }))

check('batch: wait for K turn/starts, answer all, deltas interleaved round-robin', () =>
  withDriver({ batch: { size: 5, deltas: 4 } }, {}, async (d) => {
    await d.handshake()
    const thrs = []
    for (let i = 0; i < 5; i++) thrs.push(await d.startThread())
    const ids = []
    for (let i = 0; i < 4; i++) ids.push(d.startTurn(thrs[i], `t${i}`))
    await sleep(200)
    assert.ok(!d.frames.some((f) => ids.includes(f.id)), 'held until K arrived')
    ids.push(d.startTurn(thrs[4], 't4'))
    for (let i = 1; i <= 5; i++) await d.turnCompleted(`turn_${i}`)
    const deltas = d.frames.filter((f) => f.method === 'item/agentMessage/delta').map((f) => f.params.delta)
    const expected = []
    for (let j = 0; j < 4; j++) for (let i = 1; i <= 5; i++) expected.push(`turn_${i}:${j};`)
    assert.deepEqual(deltas, expected)
    const firstDelta = d.indexOf((f) => f.method === 'item/agentMessage/delta')
    for (const id of ids) assert.ok(d.indexOf((f) => f.id === id) < firstDelta)
    for (let i = 1; i <= 5; i++) {
      const item = d.frames.find((f) => f.method === 'item/completed' && f.params.turnId === `turn_${i}`)
      assert.equal(item.params.item.text, `turn_${i}:0;turn_${i}:1;turn_${i}:2;turn_${i}:3;`)
      const resp = d.frames.find((f) => f.id === ids[i - 1])
      assert.equal(resp.result.turn.id, `turn_${i}`)
    }
  }))

check('concurrent slow turns interleave', () =>
  withDriver({ turn: { deltas: 4, delayMs: 30 } }, {}, async (d) => {
    await d.handshake()
    const a = await d.startThread()
    const b = await d.startThread()
    d.startTurn(a, 'aaaaaaaa')
    d.startTurn(b, 'bbbbbbbb')
    await d.turnCompleted('turn_1')
    await d.turnCompleted('turn_2')
    const owners = d.frames.filter((f) => f.method === 'item/agentMessage/delta').map((f) => f.params.turnId)
    const switches = owners.filter((o, i) => i > 0 && o !== owners[i - 1]).length
    assert.ok(switches >= 3, `interleaved: ${owners}`)
  }))

check('steer: {turnId}, mismatch is an error, expectedTurnId logged', () =>
  withDriver({ turn: { hang: true } }, {}, async (d) => {
    await d.handshake()
    const thr = await d.startThread()
    await d.response(d.startTurn(thr, 'x'))
    const ok = await d.response(d.request('turn/steer', { threadId: thr, expectedTurnId: 'turn_1', input: [{ type: 'text', text: 'more' }] }))
    assert.deepEqual(ok.result, { turnId: 'turn_1' })
    const bad = await d.response(d.request('turn/steer', { threadId: thr, expectedTurnId: 'turn_9', input: [] }))
    assert.ok(bad.error)
    assert.deepEqual(d.fake.requests('turn/steer').map((f) => f.params.expectedTurnId), ['turn_1', 'turn_9'])
  }))

check('per-Nth turn and per-text overrides; failed turn', () =>
  withDriver({ turns: { 2: { text: 'second!' } }, turnsByText: { boom: { status: 'failed', error: { message: 'kaput' } } } }, {}, async (d) => {
    await d.handshake()
    const thr = await d.startThread()
    d.startTurn(thr, 'one')
    await d.turnCompleted('turn_1')
    d.startTurn(thr, 'two')
    await d.turnCompleted('turn_2')
    d.startTurn(thr, 'boom')
    const failed = await d.turnCompleted('turn_3')
    const text = (t) => d.frames.find((f) => f.method === 'item/completed' && f.params.turnId === t).params.item.text
    assert.equal(text('turn_1'), 'echo: one')
    assert.equal(text('turn_2'), 'second!')
    assert.equal(failed.params.turn.status, 'failed')
    assert.equal(failed.params.turn.error.message, 'kaput')
  }))

check('optOutNotificationMethods honoured', () =>
  withDriver({}, {}, async (d) => {
    await d.response(d.request('initialize', { capabilities: { optOutNotificationMethods: ['item/agentMessage/delta'] } }))
    const thr = await d.startThread()
    d.startTurn(thr, 'x')
    await d.turnCompleted('turn_1')
    assert.equal(d.deltaCount, 0)
  }))

check('on: call filter and $requestId substitution (duplicate response)', () =>
  withDriver({ on: { 'model/list': [act.send({ id: '$requestId', result: { dup: true } }, { call: 2 })] } }, {}, async (d) => {
    await d.handshake()
    const a = d.request('model/list', {})
    await d.response(a)
    const b = d.request('model/list', {})
    await d.until(() => d.frames.filter((f) => f.id === b).length === 2, 'two answers')
    assert.deepEqual(d.frames.filter((f) => f.id === b)[0].result, { dup: true })
    assert.equal(d.frames.filter((f) => f.id === a).length, 1)
  }))

async function addonCheck() {
  const { Session } = require(path.join(__dirname, '..', 'main.js'))
  const fake = fakeServer({})
  try {
    const s = await Session.create({ ...fake })
    const t = await s.startThread()
    const text = await t.ask('hi')
    await s.close()
    console.log(`    addon ask('hi') -> ${JSON.stringify(text)}`)
    assert.equal(text, 'echo: hi')
    assert.deepEqual(fake.log().map((f) => f.method).filter(Boolean).slice(0, 4), ['initialize', 'initialized', 'thread/start', 'turn/start'])
  } finally {
    fake.cleanup()
  }
}
if (WITH_ADDON) check('through the addon: ask("hi") -> "echo: hi"', addonCheck)

async function main() {
  let failed = 0
  for (const { name, fn } of checks) {
    if (ONLY && !name.includes(ONLY)) continue
    const t = Date.now()
    try {
      await fn()
      console.log(`ok   ${name} (${Date.now() - t} ms)`)
    } catch (e) {
      failed++
      console.log(`FAIL ${name}\n${String(e && e.stack).replace(/^/gm, '    ')}`)
    }
  }
  console.log(failed ? `${failed} failed` : 'all passed')
  process.exit(failed ? 1 : 0)
}

main()
void fs
