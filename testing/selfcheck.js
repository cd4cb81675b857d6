'use strict'

// Proves the model stand-in against the real codex app-server, speaking JSON-RPC by hand.
//   node testing/selfcheck.js            # exit 0 on success
//   node testing/selfcheck.js --verbose  # also print every message and one sample per method
// The codex binary comes from CODEX_PATH or the installed @openai/codex platform package (the
// addon's findCodex: build it first). The model stand-in's `-c` arguments are the addon's too.

const { spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { createModelStandIn, reply } = require('./index.js')

const VERBOSE = process.argv.includes('--verbose') || process.env.VERBOSE === '1'
const WAIT_MS = 30_000

// The codex a session would start from this checkout (CODEX_PATH, else the installed
// @openai/codex platform package): the core's own lookup, through the addon.
function codexBinary() {
  return require('../main.js').findCodex({ searchPaths: [path.join(__dirname, '..')] })
}

class CheckFailure extends Error {}
function assert(cond, message) {
  if (!cond) throw new CheckFailure(message)
}

// A codex app-server child spoken to over stdio, newline-delimited JSON-RPC.
class AppServer {
  constructor(binary, args, env, cwd) {
    this.messages = []
    this.waiters = []
    this.pending = new Map()
    this.nextId = 1
    this.stderr = ''
    this.serverRequestHandlers = new Map()
    this.t0 = Date.now()
    this.child = spawn(binary, ['app-server', ...args], { env: { ...process.env, ...env }, cwd, stdio: ['pipe', 'pipe', 'pipe'] })
    // 'close' (not 'exit'): the stdio pipes are closed too, so nothing of the child stays open.
    this.exited = new Promise((resolve) => this.child.once('close', (code, signal) => resolve({ code, signal })))
    this.child.once('exit', (code, signal) => {
      this.exitError = `codex exited (code ${code}, signal ${signal}); stderr tail:\n${this.stderr.slice(-2000)}`
      for (const { reject } of this.pending.values()) reject(new CheckFailure(this.exitError))
      this.pending.clear()
    })
    this.child.on('error', (err) => { this.spawnError = err })
    this.child.stdin.on('error', () => {}) // EPIPE when codex died; the exit handler reports it
    this.child.stderr.on('data', (d) => { this.stderr = (this.stderr + d).slice(-20000) })
    let buf = ''
    this.child.stdout.on('data', (d) => {
      buf += d
      let nl
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        if (line.trim() !== '') this.onLine(line)
      }
    })
  }

  onLine(line) {
    let msg
    try {
      msg = JSON.parse(line)
    } catch {
      throw new CheckFailure(`codex wrote a line that is not JSON: ${line.slice(0, 200)}`)
    }
    msg.receivedAtMs = Date.now() - this.t0
    if (VERBOSE) console.log(`    [${msg.receivedAtMs}ms] <- ${line.slice(0, 400)}`)
    if (msg.id !== undefined && msg.method === undefined) {
      const p = this.pending.get(msg.id)
      if (p) {
        this.pending.delete(msg.id)
        if (msg.error) p.reject(Object.assign(new Error(`${p.method}: ${JSON.stringify(msg.error)}`), { rpc: msg.error }))
        else p.resolve(msg.result)
      }
      return
    }
    this.messages.push(msg)
    if (msg.id !== undefined) {
      const handler = this.serverRequestHandlers.get(msg.method)
      const result = handler ? handler(msg.params, msg) : undefined
      if (result !== undefined) this.send({ id: msg.id, result })
      else this.send({ id: msg.id, error: { code: -32601, message: `selfcheck has no handler for ${msg.method}` } })
    }
    for (const w of this.waiters.slice()) {
      if (w.predicate(msg)) {
        this.waiters.splice(this.waiters.indexOf(w), 1)
        clearTimeout(w.timer)
        w.resolve(msg)
      }
    }
  }

  send(msg) {
    if (VERBOSE) console.log(`    -> ${JSON.stringify(msg).slice(0, 300)}`)
    this.child.stdin.write(`${JSON.stringify(msg)}\n`)
  }

  request(method, params, timeoutMs = WAIT_MS) {
    if (this.exitError) return Promise.reject(new CheckFailure(`${method}: ${this.exitError}`))
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new CheckFailure(`${method}: no answer within ${timeoutMs} ms; stderr tail:\n${this.stderr.slice(-2000)}`))
      }, timeoutMs)
      this.pending.set(id, {
        method,
        resolve: (v) => { clearTimeout(timer); resolve(v) },
        reject: (e) => { clearTimeout(timer); reject(e) },
      })
      this.send({ id, method, params })
    })
  }

  notify(method, params) {
    this.send(params === undefined ? { method } : { method, params })
  }

  onServerRequest(method, handler) {
    this.serverRequestHandlers.set(method, handler)
  }

  // The first message (already received or future) matching the predicate.
  waitFor(predicate, what, timeoutMs = WAIT_MS) {
    const found = this.messages.find(predicate)
    if (found) return Promise.resolve(found)
    return new Promise((resolve, reject) => {
      const w = { predicate, resolve, timer: null }
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1)
        reject(new CheckFailure(`timed out after ${timeoutMs} ms waiting for ${what}; got: ` +
          `${this.messages.map((m) => m.method).join(', ')}; stderr tail:\n${this.stderr.slice(-2000)}`))
      }, timeoutMs)
      this.waiters.push(w)
    })
  }

  turnCompleted(turnId) {
    return this.waitFor((m) => m.method === 'turn/completed' && m.params.turn.id === turnId, `turn/completed of ${turnId}`)
  }

  async initialize() {
    const started = Date.now()
    const info = await this.request('initialize', {
      clientInfo: { name: 'codex-native-selfcheck', title: 'codex-native selfcheck', version: '0.0.0' },
      capabilities: { experimentalApi: true },
    })
    this.notify('initialized')
    this.initializeMs = Date.now() - started
    return info
  }

  async kill() {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM')
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000)
    await this.exited
    clearTimeout(timer)
  }
}

const samples = new Map() // method -> first params seen, for --verbose
function collectSamples(server) {
  for (const m of server.messages) if (m.method && !samples.has(m.method)) samples.set(m.method, m)
}

async function withCodex(model, binary, fn) {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'codex-native-cwd-'))
  const opts = model.sessionOptions()
  const server = new AppServer(binary, model.codexArgs(), opts.env, cwd)
  try {
    return await fn(server, cwd)
  } finally {
    await server.kill()
    collectSamples(server)
    fs.rmSync(cwd, { recursive: true, force: true })
  }
}

async function startThread(server, params) {
  const res = await server.request('thread/start', params)
  return res.thread.id
}

async function startTurn(server, threadId, text, extra) {
  const res = await server.request('turn/start', { threadId, input: [{ type: 'text', text }], ...extra })
  return res.turn.id
}

const timings = {}

const checks = [
  ['a text reply streams as agentMessage deltas and completes the turn', async (model, binary) => {
    const text = 'Hello from the model stand-in'
    model.enqueue(reply.text(text, { chunks: 3 }))
    await withCodex(model, binary, async (server, cwd) => {
      const spawnedAt = Date.now()
      await server.initialize()
      timings.spawnToInitializedMs = Date.now() - spawnedAt
      const t = Date.now()
      const threadId = await startThread(server, { cwd })
      timings.threadStartMs = Date.now() - t
      const t2 = Date.now()
      const turnId = await startTurn(server, threadId, 'say hello')
      const done = await server.turnCompleted(turnId)
      timings.textTurnMs = Date.now() - t2
      const deltas = server.messages.filter((m) => m.method === 'item/agentMessage/delta' && m.params.turnId === turnId)
      assert(deltas.length === 3, `expected 3 agentMessage deltas, got ${deltas.length}`)
      assert(deltas.map((d) => d.params.delta).join('') === text, `deltas joined to ${JSON.stringify(deltas.map((d) => d.params.delta).join(''))}`)
      assert(done.params.turn.status === 'completed', `turn status ${done.params.turn.status}`)
      assert(done.params.threadId === threadId, 'turn/completed carries threadId at top level')
      const request = model.requests[model.requests.length - 1]
      assert(request.lastUserText === 'say hello', `stand-in saw lastUserText ${JSON.stringify(request.lastUserText)}`)
      assert(request.userTexts.length === 1, `userTexts ${JSON.stringify(request.userTexts)}`)
      const seq = server.messages.filter((m) => !m.params || m.params.threadId === threadId || m.params.thread?.id === threadId || m.method === 'account/rateLimits/updated')
      if (VERBOSE) console.log(`    sequence: ${seq.map((m) => m.method).join(', ')}`)
    })
  }],

  ['execCommand runs under approvalPolicy never + danger-full-access; the output comes back', async (model, binary) => {
    await withCodex(model, binary, async (server, cwd) => {
      model.enqueue(reply.execCommand('touch marker.txt && echo made-marker', { callId: 'call_marker' }), reply.text('done'))
      await server.initialize()
      const threadId = await startThread(server, { cwd, approvalPolicy: 'never', sandbox: 'danger-full-access' })
      const before = model.requests.length
      const turnId = await startTurn(server, threadId, 'make a marker')
      const done = await server.turnCompleted(turnId)
      assert(done.params.turn.status === 'completed', `turn status ${done.params.turn.status}`)
      assert(fs.existsSync(path.join(cwd, 'marker.txt')), 'marker.txt was not created')
      const second = model.requests[before + 1]
      assert(second, 'codex did not post again after the function call')
      const out = second.functionOutputs.find((o) => o.callId === 'call_marker')
      assert(out, `no function_call_output for call_marker: ${JSON.stringify(second.functionOutputs)}`)
      assert(out.output.includes('made-marker'), `output does not contain the command output: ${JSON.stringify(out.output)}`)
      const item = server.messages.find((m) => m.method === 'item/completed' && m.params.item.type === 'commandExecution')
      assert(item, 'no commandExecution item/completed')
      if (VERBOSE) console.log(`    function output: ${JSON.stringify(out.output)}`)
    })
  }],

  ['reply.error(400) fails the turn with an error notification', async (model, binary) => {
    await withCodex(model, binary, async (server, cwd) => {
      model.enqueue(reply.error(400, { error: { message: 'scripted failure', type: 'invalid_request_error' } }))
      await server.initialize()
      const threadId = await startThread(server, { cwd })
      const turnId = await startTurn(server, threadId, 'fail please')
      const done = await server.turnCompleted(turnId)
      assert(done.params.turn.status === 'failed', `turn status ${done.params.turn.status}`)
      assert(done.params.turn.error && /scripted failure/.test(done.params.turn.error.message), `turn.error ${JSON.stringify(done.params.turn.error)}`)
      const err = server.messages.find((m) => m.method === 'error' && m.params.turnId === turnId)
      assert(err, 'no error notification')
      assert(err.params.willRetry === false, `error.willRetry ${err.params.willRetry}`)
      if (VERBOSE) console.log(`    turn/completed: ${JSON.stringify(done.params)}\n    error: ${JSON.stringify(err.params)}`)
    })
  }],

  ['under untrusted, exec_command asks item/commandExecution/requestApproval; decline is honoured', async (model, binary) => {
    await withCodex(model, binary, async (server, cwd) => {
      const seen = []
      server.onServerRequest('item/commandExecution/requestApproval', (params) => {
        seen.push(params)
        return { decision: 'decline' }
      })
      model.enqueue(reply.execCommand('touch declined.txt', { callId: 'call_declined' }), reply.text('ok, not doing it'))
      await server.initialize()
      const threadId = await startThread(server, { cwd, approvalPolicy: 'untrusted', sandbox: 'workspace-write' })
      const before = model.requests.length
      const turnId = await startTurn(server, threadId, 'touch a file')
      const done = await server.turnCompleted(turnId)
      assert(seen.length === 1, `expected 1 approval request, got ${seen.length}`)
      const p = seen[0]
      assert(p.threadId === threadId && p.turnId === turnId, `approval params threadId/turnId ${p.threadId}/${p.turnId}`)
      assert(typeof p.itemId === 'string', 'approval params carry itemId')
      assert(!fs.existsSync(path.join(cwd, 'declined.txt')), 'declined command ran anyway')
      assert(done.params.turn.status === 'completed', `turn status ${done.params.turn.status}`)
      const out = model.requests[before + 1]?.functionOutputs.find((o) => o.callId === 'call_declined')
      assert(out, 'no function_call_output after decline')
      const resolved = server.messages.find((m) => m.method === 'serverRequest/resolved')
      assert(resolved, 'no serverRequest/resolved notification')
      const item = server.messages.find((m) => m.method === 'item/completed' && m.params.item.type === 'commandExecution')
      if (VERBOSE) {
        console.log(`    requestApproval params: ${JSON.stringify(p)}`)
        console.log(`    output after decline: ${JSON.stringify(out.output)}`)
        console.log(`    serverRequest/resolved: ${JSON.stringify(resolved.params)}`)
        console.log(`    commandExecution item/completed: ${JSON.stringify(item && item.params.item)}`)
      }
    })
  }],

  ['applyPatch asks item/fileChange/requestApproval; decline leaves no file, accept writes it', async (model, binary) => {
    await withCodex(model, binary, async (server, cwd) => {
      const seen = []
      let decision = 'decline'
      server.onServerRequest('item/fileChange/requestApproval', (params) => {
        seen.push(params)
        return { decision }
      })
      server.onServerRequest('item/commandExecution/requestApproval', () => ({ decision: 'decline' }))
      await server.initialize()
      const threadId = await startThread(server, { cwd, approvalPolicy: 'untrusted', sandbox: 'read-only' })

      model.enqueue(reply.applyPatch([{ path: 'nope.txt', contents: 'no\n' }]), reply.text('declined'))
      const turn1 = await startTurn(server, threadId, 'patch 1')
      const done1 = await server.turnCompleted(turn1)
      assert(seen.length === 1, `expected 1 fileChange approval request, got ${seen.length}`)
      assert(!fs.existsSync(path.join(cwd, 'nope.txt')), 'declined patch was applied')
      assert(done1.params.turn.status === 'completed', `turn 1 status ${done1.params.turn.status}`)

      decision = 'accept'
      const contents = 'hi\nthere\nEOF\n'
      model.enqueue(reply.applyPatch([{ path: 'hello.txt', contents }, { path: 'sub/dir/b.txt', contents: 'b\n' }]), reply.text('patched'))
      const turn2 = await startTurn(server, threadId, 'patch 2')
      const done2 = await server.turnCompleted(turn2)
      assert(seen.length === 2, `expected 2 fileChange approval requests, got ${seen.length}`)
      assert(done2.params.turn.status === 'completed', `turn 2 status ${done2.params.turn.status}`)
      const written = fs.existsSync(path.join(cwd, 'hello.txt')) && fs.readFileSync(path.join(cwd, 'hello.txt'), 'utf8')
      assert(written === contents, `hello.txt is ${JSON.stringify(written)}`)
      assert(fs.readFileSync(path.join(cwd, 'sub/dir/b.txt'), 'utf8') === 'b\n', 'sub/dir/b.txt not written')
      const item = server.messages.find((m) => m.method === 'item/started' && m.params.item.type === 'fileChange')
      assert(item, 'no fileChange item/started')
      if (VERBOSE) {
        console.log(`    fileChange requestApproval params: ${JSON.stringify(seen[0])}`)
        console.log(`    fileChange item/started: ${JSON.stringify(item.params)}`)
        const after = (text) => model.requests.findLast((r) => r.lastUserText === text && r.functionOutputs.length)?.functionOutputs.at(-1)
        console.log(`    output after decline: ${JSON.stringify(after('patch 1'))}`)
        console.log(`    output after accept: ${JSON.stringify(after('patch 2'))}`)
      }
    })
  }],

  ['reply.hang() holds the turn until turn/interrupt; a slow text turn can be interrupted too', async (model, binary) => {
    await withCodex(model, binary, async (server, cwd) => {
      await server.initialize()
      const threadId = await startThread(server, { cwd })
      model.enqueue(reply.hang())
      const before = model.requests.length
      const turnId = await startTurn(server, threadId, 'hang')
      await model.nextRequestAfter(before)
      await server.request('turn/interrupt', { threadId, turnId })
      const done = await server.turnCompleted(turnId)
      assert(done.params.turn.status === 'interrupted', `hang turn status ${done.params.turn.status}`)

      model.enqueue(reply.text('a b c d e f g h', { chunks: 8, delayMs: 300 }))
      const turn2 = await startTurn(server, threadId, 'slow')
      await server.waitFor((m) => m.method === 'item/agentMessage/delta' && m.params.turnId === turn2, 'the first slow delta')
      await server.request('turn/interrupt', { threadId, turnId: turn2 })
      const done2 = await server.turnCompleted(turn2)
      assert(done2.params.turn.status === 'interrupted', `slow turn status ${done2.params.turn.status}`)
      const deltas = server.messages.filter((m) => m.method === 'item/agentMessage/delta' && m.params.turnId === turn2)
      assert(deltas.length < 8, `all ${deltas.length} deltas arrived despite the interrupt`)
      if (VERBOSE) console.log(`    interrupted turn/completed: ${JSON.stringify(done2.params)}`)
    })
  }],

  ['an unscripted request gets "(no scripted reply)" and respondWith sees the request', async (model, binary) => {
    await withCodex(model, binary, async (server, cwd) => {
      await server.initialize()
      const threadId = await startThread(server, { cwd })
      const turn1 = await startTurn(server, threadId, 'nothing queued')
      await server.turnCompleted(turn1)
      const item = server.messages.find((m) => m.method === 'item/completed' && m.params.turnId === turn1 && m.params.item.type === 'agentMessage')
      assert(item && item.params.item.text === '(no scripted reply)', `unscripted text ${JSON.stringify(item && item.params.item.text)}`)
      model.respondWith(async (request) => reply.text(`echo: ${request.lastUserText} (${request.userTexts.length} user texts)`))
      const turn2 = await startTurn(server, threadId, 'second')
      await server.turnCompleted(turn2)
      model.respondWith(null)
      const item2 = server.messages.find((m) => m.method === 'item/completed' && m.params.turnId === turn2 && m.params.item.type === 'agentMessage')
      assert(item2 && item2.params.item.text === 'echo: second (2 user texts)', `respondWith text ${JSON.stringify(item2 && item2.params.item.text)}`)
    })
  }],

  ['close() with codex still connected and a hanging stream: prompt, the turn fails, CODEX_HOME removed', async (_model, binary) => {
    const own = await createModelStandIn()
    let server
    let home
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'codex-native-cwd-'))
    try {
      const opts = own.sessionOptions()
      home = opts.env.CODEX_HOME
      server = new AppServer(binary, own.codexArgs(), opts.env, cwd)
      await server.initialize()
      const threadId = await startThread(server, { cwd })
      own.enqueue(reply.text('warm-up'), reply.hang())
      await server.turnCompleted(await startTurn(server, threadId, 'warm up a keep-alive connection'))
      const turnId = await startTurn(server, threadId, 'hang')
      await own.nextRequest({ timeoutMs: WAIT_MS })
      await own.nextRequest({ timeoutMs: WAIT_MS })
      const started = Date.now()
      await own.close()
      const closeMs = Date.now() - started
      assert(closeMs < 1000, `close() took ${closeMs} ms`)
      assert(!fs.existsSync(opts.env.CODEX_HOME), 'CODEX_HOME still exists after close()')
      const done = await server.turnCompleted(turnId)
      assert(done.params.turn.status === 'failed', `turn status after close ${done.params.turn.status}`)
      if (VERBOSE) console.log(`    close() took ${closeMs} ms; turn error: ${JSON.stringify(done.params.turn.error)}`)
    } finally {
      await own.close()
      if (server) await server.kill()
      // codex, still running when the stand-in closed, recreates thread-writer-locks/ in its
      // CODEX_HOME as the turn fails: remove it again now that codex is gone.
      if (home) fs.rmSync(home, { recursive: true, force: true })
      fs.rmSync(cwd, { recursive: true, force: true })
    }
  }],
]

// Handles open before anything starts (stdout/stderr as TTY or pipes): not ours to close
// (process.stdout/stderr create their handles lazily: touch them first.)
void process.stdout
void process.stderr
const baselineResources = process.getActiveResourcesInfo().filter((r) => r !== 'Immediate')

async function main() {
  const binary = codexBinary()
  assert(fs.existsSync(binary), `codex binary not found at ${binary}`)
  const model = await createModelStandIn()
  const homes = []
  const sessionOptions = model.sessionOptions
  model.sessionOptions = (extra) => {
    const opts = sessionOptions(extra)
    homes.push(opts.env.CODEX_HOME)
    return opts
  }
  // nextRequest() hands out requests in order; for the checks, wait for "one more than n".
  model.nextRequestAfter = async (n) => {
    while (model.requests.length <= n) await model.nextRequest({ timeoutMs: WAIT_MS })
  }
  let failed = 0
  try {
    for (const [i, [name, fn]] of checks.entries()) {
      const started = Date.now()
      try {
        await fn(model, binary)
        console.log(`ok ${i + 1} - ${name} (${Date.now() - started} ms)`)
      } catch (err) {
        failed++
        console.log(`not ok ${i + 1} - ${name}\n  ${String(err && err.stack || err).replace(/\n/g, '\n  ')}`)
      }
    }
  } finally {
    await model.close()
  }
  const homesLeft = homes.filter((h) => fs.existsSync(h))
  console.log(`timings: ${JSON.stringify(timings)}`)
  console.log(`paths codex requested: ${JSON.stringify([...new Set(model.requests.map((r) => `${r.method} ${r.path}`).concat(model.otherRequests.map((r) => `${r.method} ${r.path}`)))])}`)
  if (VERBOSE) {
    console.log('one sample per method:')
    for (const [method, msg] of samples) console.log(`  ${method}${msg.id !== undefined ? ' (server request)' : ''}: ${JSON.stringify(msg.params).slice(0, 600)}`)
  }
  if (homesLeft.length) {
    console.error(`close() left CODEX_HOME directories behind: ${homesLeft.join(', ')}`)
    failed++
  }
  if (failed) {
    console.error(`selfcheck FAILED: ${failed} failure(s) in ${checks.length} checks`)
    process.exitCode = 1
    return
  }
  // The stand-in must not keep the process alive after close(): report anything that would.
  setImmediate(() => {
    const left = process.getActiveResourcesInfo().filter((r) => r !== 'Immediate')
    for (const r of baselineResources) {
      const i = left.indexOf(r)
      if (i >= 0) left.splice(i, 1)
    }
    if (left.length) {
      console.error(`selfcheck FAILED: handles still open after close(): ${left.join(', ')}`)
      process.exitCode = 1
    } else {
      console.log(`selfcheck passed: ${checks.length} checks`)
    }
  })
}

main().catch((err) => {
  console.error(`selfcheck FAILED: ${err && err.stack || err}`)
  process.exitCode = 1
})
