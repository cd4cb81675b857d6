'use strict'
// The fault matrix: each row ends with a clear error code, every promise settled, nothing lost
// that had arrived, and no process left. Then the security defaults: plain ws:// only to
// loopback unless asked, and no token or env value in any error, log line or tap.

const test = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const { Session, ApprovalPolicy } = require('../main.js')
const { fakeServer, act } = require('../testing/fake-scenario.js')
const { rejection, isAlive, codexBinary } = require('./helpers.js')

const T = { timeout: 60_000 }
const linux = process.platform === 'linux'

function tmpDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'cn-faults-'))
}

/** Every string an error carries: message, code, stderrTail, stack, cause, own fields. */
function everything(err) {
  const parts = [String(err), err.stack, err.stderrTail, JSON.stringify(err, Object.getOwnPropertyNames(err))]
  if (err.cause) parts.push(everything(err.cause))
  return parts.join('\n')
}

/** Polls `fn` until it returns a truthy value (bounded: the bound is the assertion). */
async function eventually(fn, withinMs, what) {
  const deadline = Date.now() + withinMs
  for (;;) {
    const value = await fn()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`not within ${withinMs} ms: ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** Collects a turn's events into `into`; resolves with the error that ended it (or null). */
async function drainUntilError(turn, into) {
  try {
    for await (const e of turn) into.push(e)
    return null
  } catch (err) {
    return err
  }
}

// -------------------------------------------------------------------------------------------
// stderr

test('10 MB of server stderr mid-turn never blocks it; the turn completes and the tail keeps only the last lines', T, async () => {
  const BYTES = 10 * 1024 * 1024
  const TAIL = 20
  const fake = fakeServer({
    turn: { text: 'after the flood', deltas: 2, at: { 1: [act.stderrFlood(BYTES, { lineBytes: 200 })] } },
    on: { 'thread/list': [act.crash({ stderr: 'fake: the last line' })] },
  })
  let seen = 0
  let lastSeen = ''
  const session = await Session.create({
    ...fake,
    stderrTailLines: TAIL,
    onStderr: (line) => {
      seen++
      lastSeen = line
    },
  })
  try {
    const thread = await session.startThread()
    const result = await thread.run('flood')
    const doneAt = Date.now()
    assert.equal(result.status, 'completed')
    assert.equal(result.text, 'after the flood')
    // The server's own record: it wrote all 10 MB and went on with the turn (the second delta
    // and turn/completed came after it), so stderr never stalled it.
    const flood = fake.records().find((r) => r.$stderrFlood)?.$stderrFlood
    assert.ok(flood, 'the server logged the end of its flood')
    assert.ok(flood.bytes >= BYTES, `${flood.bytes} bytes written`)
    assert.ok(flood.at <= doneAt)
    // Every line reaches onStderr (the tail is bounded, the listener misses nothing).
    await eventually(() => seen >= flood.lines, 30_000, `onStderr saw ${seen} of ${flood.lines} lines`)
    assert.equal(seen, flood.lines)
    assert.equal(lastSeen, flood.lastLine)

    // The tail in an error: exactly the last TAIL lines.
    const err = await rejection(session.listThreads())
    assert.equal(err.code, 'TRANSPORT_CLOSED')
    const tail = err.stderrTail.split('\n')
    assert.equal(tail.length, TAIL, 'stderrTail is bounded to stderrTailLines')
    assert.equal(tail.at(-1), 'fake: the last line')
    assert.equal(tail.at(-2), flood.lastLine)
    assert.ok(err.message.length < TAIL * 300, 'the message carries the tail, not the flood')
  } finally {
    await session.close()
    fake.cleanup()
  }
})

// -------------------------------------------------------------------------------------------
// start-up

test('a server that never answers initialize is SPAWN_FAILED within startupTimeoutMs, and is killed', T, async () => {
  // One that exits on stdin EOF, and one that ignores EOF and SIGTERM (the SIGKILL path).
  for (const stubborn of [false, true]) {
    const fake = fakeServer({ on: { initialize: [act.hang()] }, ignoreStdinEof: stubborn, ignoreSigterm: stubborn })
    const t0 = Date.now()
    const err = await rejection(Session.create({ ...fake, startupTimeoutMs: 800, shutdownGraceMs: 200 }))
    const elapsed = Date.now() - t0
    assert.equal(err.code, 'SPAWN_FAILED', err.message)
    assert.match(err.message, /did not answer initialize within 800 ms \(startupTimeoutMs\)/)
    assert.ok(elapsed >= 800, `${elapsed} ms`)
    assert.ok(elapsed < 800 + 2 * 200 + 3000, `rejected after ${elapsed} ms`)
    const [start] = fake.starts()
    assert.ok(start, 'the server had started')
    // close() waits for the exit, so the process is gone by the time create rejects.
    assert.equal(isAlive(start.pid), false, `pid ${start.pid} is gone (stubborn=${stubborn})`)
    assert.equal(fake.requests('initialize').length, 1)
    fake.cleanup()
  }
  for (const bad of [0, -5, 'soon', Infinity]) {
    const err = await rejection(Session.create({ codexPath: '/nonexistent', startupTimeoutMs: bad }))
    assert.equal(err.code, 'INVALID_ARGUMENT', `${bad}: ${err.message}`)
    assert.ok(err instanceof TypeError)
    assert.match(err.message, /`startupTimeoutMs`/)
  }
})

/** Writes `bytes` to a fresh file with `mode`; returns its path. */
function writeFile(dir, name, bytes, mode) {
  const file = path.join(dir, name)
  fs.writeFileSync(file, bytes)
  fs.chmodSync(file, mode)
  return file
}

/** A minimal 64-bit ELF header for `machine` (183 = aarch64, 62 = x86_64). */
function elfHeader(machine) {
  const b = Buffer.alloc(64)
  b.write('\x7fELF', 0, 'latin1')
  b[4] = 2 // 64-bit
  b[5] = 1 // little-endian
  b[6] = 1
  b.writeUInt16LE(2, 16) // ET_EXEC
  b.writeUInt16LE(machine, 18)
  b.writeUInt32LE(1, 20)
  return b
}

test('a codexPath that cannot run is SPAWN_FAILED saying why', { ...T, skip: process.platform === 'win32' && 'no x bits or #! on Windows' }, async () => {
  const dir = tmpDir()
  const foreignMachine = process.arch === 'arm64' ? 62 : 183
  const foreignArch = process.arch === 'arm64' ? 'x86_64' : 'aarch64'
  // With binfmt_misc + qemu-user registered for that arch, the kernel runs it after all.
  const emulated = linux && fs.existsSync(`/proc/sys/fs/binfmt_misc/qemu-${foreignArch}`)
  const cases = [
    [dir, /is a directory, not the codex binary/],
    [writeFile(dir, 'not-executable', '#!/bin/sh\n', 0o644), /is not an executable file \(no execute permission/],
    [writeFile(dir, 'bad-interpreter', '#!/nonexistent/sh\necho hi\n', 0o755), /could not be started: its interpreter #!\/nonexistent\/sh does not exist/],
    [writeFile(dir, 'no-shebang', 'echo hi\n', 0o755), /is not a program for this machine \(exec format error\): it is neither a binary/],
  ]
  if (!emulated) {
    cases.push([
      writeFile(dir, 'foreign-elf', elfHeader(foreignMachine), 0o755),
      new RegExp(`is not a program for this machine \\(exec format error\\): it is an ELF binary for ${foreignArch}`),
    ])
  }
  try {
    for (const [codexPath, why] of cases) {
      const err = await rejection(Session.create({ codexPath, env: { SECRET: 'hunter2-xyz' } }))
      assert.equal(err.code, 'SPAWN_FAILED', `${codexPath}: ${err.message}`)
      assert.ok(err.message.includes(codexPath), err.message)
      assert.match(err.message, why)
      assert.ok(!everything(err).includes('hunter2-xyz'), 'an env value in the error')
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

/** A directory this process cannot write to, or null when it can write everywhere (root). */
function unwritableDir(dir) {
  const ro = path.join(dir, 'read-only')
  fs.mkdirSync(ro, { mode: 0o555 })
  const writable = (p) => {
    try {
      fs.accessSync(p, fs.constants.W_OK)
      return true
    } catch {
      return false
    }
  }
  if (!writable(ro)) return ro
  // root ignores mode bits; procfs directories refuse it all the same.
  return linux && fs.existsSync('/proc/1') && !writable('/proc/1') ? '/proc/1' : null
}

test('a CODEX_HOME that is missing, not a directory or not writable is SPAWN_FAILED naming CODEX_HOME', T, async () => {
  const dir = tmpDir()
  const file = path.join(dir, 'a-file')
  fs.writeFileSync(file, '')
  const unwritable = unwritableDir(dir)
  const cases = [
    [path.join(dir, 'missing'), /env\.CODEX_HOME .*missing does not exist/],
    [file, /env\.CODEX_HOME .*a-file is not a directory/],
  ]
  if (unwritable) cases.push([unwritable, /env\.CODEX_HOME .* is not writable/])
  else test.diagnostic('no unwritable directory available to this user: that case not run')
  try {
    for (const [home, why] of cases) {
      // The real codex, as a user would have it.
      const err = await rejection(Session.create({ codexPath: codexBinary(), env: { CODEX_HOME: home } }))
      assert.equal(err.code, 'SPAWN_FAILED', err.message)
      assert.match(err.message, why)
    }
  } finally {
    fs.chmodSync(path.join(dir, 'read-only'), 0o755)
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('a server that dies during initialize: SPAWN_FAILED quoting its Error: line, even from a short tail', T, async () => {
  // As codex does for a bad CODEX_HOME the pre-check cannot see: an Error: line, then a
  // backtrace longer than the tail.
  const backtrace = Array.from({ length: 12 }, (_, i) => act.stderr(`   ${i}: <unknown>`))
  const fake = fakeServer({
    on: { initialize: [act.stderr('Error: failed to initialize sqlite state runtime under /x'), act.stderr('Stack backtrace:'), ...backtrace, act.exit(1)] },
  })
  try {
    const err = await rejection(Session.create({ ...fake, stderrTailLines: 5 }))
    assert.equal(err.code, 'SPAWN_FAILED')
    assert.match(err.message, /exited during initialize .*: Error: failed to initialize sqlite state runtime under \/x/)
    assert.equal(err.stderrTail.split('\n').length, 5)
    assert.equal(isAlive(fake.starts()[0].pid), false)
  } finally {
    fake.cleanup()
  }
})

// -------------------------------------------------------------------------------------------
// close() in the middle of things

test('close() while a handler hangs: the request, the turn, its stream and the handler signal all settle', T, async () => {
  const fake = fakeServer({
    turn: { at: { 0: [act.approval({ command: 'sleep 1' })] } },
    on: { 'thread/list': [act.hang()] },
  })
  let handlerSignal
  let handlerCalled
  const called = new Promise((r) => (handlerCalled = r))
  const session = await Session.create({
    ...fake,
    approvalPolicy: ApprovalPolicy.custom({
      onCommandExecution: (params, { signal }) => {
        handlerSignal = signal
        handlerCalled()
        return new Promise(() => {}) // never answers
      },
    }),
  })
  const pid = session.pid
  const turn = await (await session.startThread()).startTurn('needs approval')
  const events = []
  const streamEnd = drainUntilError(turn, events)
  const result = rejection(turn.result())
  const pendingList = rejection(session.listThreads())
  await called
  await session.close()
  const [resultErr, listErr, streamErr] = await Promise.all([result, pendingList, streamEnd])
  assert.equal(resultErr.code, 'SESSION_CLOSED')
  assert.equal(listErr.code, 'SESSION_CLOSED')
  assert.equal(streamErr?.code, 'SESSION_CLOSED')
  assert.equal(handlerSignal.aborted, true, 'the hanging handler was told to stop')
  // What had arrived was delivered before the error: the turn's start and the pending request.
  assert.deepEqual(events.slice(0, 1).map((e) => e.method), ['turn/started'])
  assert.ok(events.some((e) => e.method === 'serverRequest'), events.map((e) => e.method).join())
  assert.equal(isAlive(pid), false)
})

test('close() while 8 turns stream: each keeps what arrived, then ends SESSION_CLOSED; the server is gone', T, async () => {
  const fake = fakeServer({ turn: { deltas: 1000, delayMs: 20 } })
  const session = await Session.create(fake)
  const pid = session.pid
  const threads = await Promise.all(Array.from({ length: 8 }, () => session.startThread()))
  const turns = await Promise.all(threads.map((t, i) => t.startTurn(`turn ${i}`)))
  const collected = turns.map(() => [])
  const ends = turns.map((turn, i) => drainUntilError(turn, collected[i]))
  const results = turns.map((turn) => rejection(turn.result()))
  // Every turn is mid-stream.
  await eventually(() => collected.every((events) => events.filter((e) => e.method === 'item/agentMessage/delta').length >= 2), 20_000, 'deltas on every turn')
  await session.close()
  const errors = await Promise.all(ends)
  const resultErrors = await Promise.all(results)
  turns.forEach((turn, i) => {
    assert.equal(errors[i]?.code, 'SESSION_CLOSED', `turn ${i} stream`)
    assert.equal(resultErrors[i].code, 'SESSION_CLOSED', `turn ${i} result`)
    const deltas = collected[i].filter((e) => e.method === 'item/agentMessage/delta')
    assert.equal(collected[i][0].method, 'turn/started')
    assert.ok(deltas.length >= 2 && deltas.length < 1000, `turn ${i}: ${deltas.length} deltas`)
    for (const e of collected[i]) assert.equal(e.params.turnId ?? e.params.turn?.id, turn.id)
  })
  assert.equal(isAlive(pid), false)
  assert.equal(session.closed, true)
  fake.cleanup()
})

test('aborting Session.create while the server is starting rejects ABORTED at once and kills it', T, async () => {
  const fake = fakeServer({ on: { initialize: [act.hang()] }, ignoreStdinEof: true, ignoreSigterm: true })
  const controller = new AbortController()
  const t0 = Date.now()
  const creating = Session.create({ ...fake, signal: controller.signal, startupTimeoutMs: 30_000, shutdownGraceMs: 200 })
  // Abort once the server is up and waiting on initialize (it logs it).
  const start = await eventually(() => fake.requests('initialize').length > 0 && fake.starts()[0], 20_000, 'initialize sent')
  const reason = new Error('user gave up')
  controller.abort(reason)
  const err = await rejection(creating)
  const elapsed = Date.now() - t0
  assert.equal(err.code, 'ABORTED')
  assert.equal(err.cause, reason)
  assert.ok(elapsed < 10_000, `rejected after ${elapsed} ms, not after startupTimeoutMs`)
  assert.equal(isAlive(start.pid), false, 'the starting server was stopped')
  fake.cleanup()
})

// -------------------------------------------------------------------------------------------
// Scale: nothing leaks

function processCounts() {
  const children = []
  if (linux) {
    for (const task of fs.readdirSync('/proc/self/task')) {
      const list = fs.readFileSync(`/proc/self/task/${task}/children`, 'utf8').trim()
      if (list) children.push(...list.split(/\s+/).map(Number))
    }
  }
  return {
    fds: fs.readdirSync('/proc/self/fd').length,
    threads: fs.readdirSync('/proc/self/task').length,
    children: children.length,
  }
}

test('100 sessions created in parallel, then closed: no fd, thread or process left', { timeout: 180_000, skip: !linux && 'counts /proc/self' }, async () => {
  const fake = fakeServer({})
  // Warm up: the runtime's worker threads start with the first session and stay.
  await (await Session.create(fake)).close()
  const before = processCounts()
  const sessions = await Promise.all(Array.from({ length: 100 }, () => Session.create(fake)))
  const during = processCounts()
  assert.equal(new Set(sessions.map((s) => s.pid)).size, 100)
  assert.ok(during.children >= before.children + 100, JSON.stringify({ before, during }))
  // Each session works.
  const texts = await Promise.all(sessions.map(async (s, i) => (await s.startThread()).ask(`n${i}`)))
  texts.forEach((t, i) => assert.equal(t, `echo: n${i}`))
  await Promise.all(sessions.map((s) => s.close()))
  for (const s of sessions) assert.equal(isAlive(s.pid), false)
  // Threads of tokio's blocking pool linger up to 10 s after their last job: a deadline, not a sleep.
  const after = await eventually(
    () => {
      const now = processCounts()
      return now.fds <= before.fds && now.threads <= before.threads && now.children <= before.children ? now : null
    },
    20_000,
    `back to ${JSON.stringify(before)}, now ${JSON.stringify(processCounts())}`,
  )
  assert.ok(after.fds <= before.fds)
  fake.cleanup()
})

// -------------------------------------------------------------------------------------------
// WebSocket peers that misbehave: a minimal server written here (RFC 6455, text frames only).

/** Parses client frames out of `buffer` (masked); returns [messages, rest]. */
function parseFrames(buffer) {
  const messages = []
  let off = 0
  for (;;) {
    if (buffer.length - off < 2) break
    const b1 = buffer[off + 1]
    let len = b1 & 0x7f
    let at = off + 2
    if (len === 126) {
      if (buffer.length - at < 2) break
      len = buffer.readUInt16BE(at)
      at += 2
    } else if (len === 127) {
      if (buffer.length - at < 8) break
      len = Number(buffer.readBigUInt64BE(at))
      at += 8
    }
    if (buffer.length - at < 4 + len) break
    const mask = buffer.subarray(at, at + 4)
    const payload = Buffer.from(buffer.subarray(at + 4, at + 4 + len))
    for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3]
    messages.push({ opcode: buffer[off] & 0x0f, text: payload.toString('utf8') })
    off = at + 4 + len
  }
  return [messages, buffer.subarray(off)]
}

function textFrame(obj) {
  const payload = Buffer.from(JSON.stringify(obj))
  const head = payload.length < 126 ? Buffer.from([0x81, payload.length]) : Buffer.from([0x81, 126, payload.length >> 8, payload.length & 0xff])
  if (payload.length > 0xffff) throw new Error('frame too large for this test server')
  return Buffer.concat([head, payload])
}

/**
 * A websocket app-server stand-in on 127.0.0.1 (or `host`). `onMessage(msg, socket)` gets each
 * JSON-RPC message; `initialize` is answered unless it returns true. `rejectUpgrade(headers)`
 * may return an HTTP response to send instead of the upgrade.
 */
async function miniWsServer({ host = '127.0.0.1', onMessage = () => false, rejectUpgrade } = {}) {
  const sockets = new Set()
  const upgrades = []
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    let buffer = Buffer.alloc(0)
    let upgraded = false
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk])
      if (!upgraded) {
        const end = buffer.indexOf('\r\n\r\n')
        if (end < 0) return
        const head = buffer.subarray(0, end).toString('latin1')
        buffer = buffer.subarray(end + 4)
        const headers = Object.fromEntries(
          head.split('\r\n').slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
        )
        upgrades.push(headers)
        const refusal = rejectUpgrade?.(headers)
        if (refusal) {
          socket.end(refusal)
          return
        }
        const accept = crypto.createHash('sha1').update(`${headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`)
        upgraded = true
      }
      let messages
      ;[messages, buffer] = parseFrames(buffer)
      for (const m of messages) {
        if (m.opcode !== 1) continue
        const msg = JSON.parse(m.text)
        if (onMessage(msg, socket)) continue
        if (msg.method === 'initialize') {
          socket.write(textFrame({ id: msg.id, result: { userAgent: 'mini/0.0.0', codexHome: '/nowhere', platformFamily: 'unix', platformOs: 'linux' } }))
        }
      }
    })
  })
  await new Promise((resolve) => server.listen(0, host, resolve))
  const { port } = server.address()
  return {
    url: `ws://${host.includes(':') ? `[${host}]` : host}:${port}`,
    upgrades,
    connections: () => sockets.size,
    close: () => {
      for (const s of sockets) s.destroy()
      return new Promise((r) => server.close(r))
    },
  }
}

test('a websocket peer that stops reading blocks neither other sessions nor the JS thread; close() still settles', T, async () => {
  let stalledSocket
  const peer = await miniWsServer({
    onMessage: (msg, socket) => {
      if (msg.method === 'thread/list') {
        // From the first big request on, read nothing more.
        stalledSocket = socket
        socket.pause()
        return true
      }
      return false
    },
  })
  const fake = fakeServer({ turn: { deltas: 50, delayMs: 5 } })
  const stuck = await Session.create({ transport: { type: 'websocket', url: peer.url } })
  const other = await Session.create(fake)
  try {
    // 32 MiB of requests against a peer that does not read: more than every buffer between us.
    const pad = 'x'.repeat(1 << 20)
    const pending = Array.from({ length: 32 }, () => rejection(stuck.request('thread/list', { cursor: pad })))
    await eventually(() => stalledSocket, 10_000, 'the peer stalled')

    let ticks = 0
    let longestGap = 0
    let last = performance.now()
    let beating = true
    const beat = () => {
      const now = performance.now()
      longestGap = Math.max(longestGap, now - last)
      last = now
      ticks++
      if (beating) setImmediate(beat)
    }
    setImmediate(beat)
    const result = await (await other.startThread()).run('still flowing')
    beating = false
    assert.equal(result.status, 'completed')
    assert.equal(result.text, 'echo: still flowing')
    assert.ok(ticks > 50, `${ticks} heartbeats during the turn`)
    assert.ok(longestGap < 500, `the JS thread stalled for ${longestGap} ms`)
    // The writes really are stuck: the peer has read far less than was sent.
    assert.ok(stalledSocket.bytesRead < 16 << 20, `${stalledSocket.bytesRead} bytes read by the stalled peer`)

    await stuck.close()
    const errors = await Promise.all(pending)
    for (const err of errors) assert.equal(err.code, 'SESSION_CLOSED')
  } finally {
    await stuck.close()
    await other.close()
    await peer.close()
    fake.cleanup()
  }
})

test('a websocket peer that drops the connection mid-turn: TRANSPORT_CLOSED, the turn settles, its events are kept', T, async () => {
  const threadId = 'thr_1'
  const turnId = 'turn_1'
  const peer = await miniWsServer({
    onMessage: (msg, socket) => {
      if (msg.method === 'thread/start') {
        socket.write(textFrame({ id: msg.id, result: { thread: { id: threadId } } }))
        return true
      }
      if (msg.method === 'turn/start') {
        socket.write(textFrame({ id: msg.id, result: { turn: { id: turnId, status: 'inProgress', items: [] } } }))
        socket.write(textFrame({ method: 'turn/started', params: { threadId, turn: { id: turnId, status: 'inProgress', items: [] } } }))
        for (const delta of ['a', 'b', 'c']) {
          socket.write(textFrame({ method: 'item/agentMessage/delta', params: { threadId, turnId, itemId: 'i1', delta } }))
        }
        // Then the peer vanishes without a close frame, once the frames are out.
        socket.end(() => socket.destroy())
        return true
      }
      return false
    },
  })
  const session = await Session.create({ transport: { type: 'websocket', url: peer.url } })
  try {
    const turn = await (await session.startThread()).startTurn('hi')
    const events = []
    const result = rejection(turn.result())
    const streamErr = await drainUntilError(turn, events)
    const resultErr = await result
    assert.equal(streamErr?.code, 'TRANSPORT_CLOSED')
    assert.equal(resultErr.code, 'TRANSPORT_CLOSED')
    assert.deepEqual(
      events.filter((e) => e.method === 'item/agentMessage/delta').map((e) => e.params.delta),
      ['a', 'b', 'c'],
      'what arrived before the drop is delivered',
    )
    assert.equal((await rejection(session.listThreads())).code, 'TRANSPORT_CLOSED')
    assert.equal(session.closed, true)
  } finally {
    await session.close()
    await peer.close()
  }
})

// -------------------------------------------------------------------------------------------
// Security defaults

function externalIPv4() {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  }
  return null
}

test('plain ws:// to a non-loopback host is refused before anything is sent, unless allowInsecureRemote', T, async () => {
  const ip = externalIPv4()
  const token = 'tok-ABCDEF-0123456789'
  // A real listener on the machine's own non-loopback address, so a connection would show.
  const peer = ip ? await miniWsServer({ host: ip }) : null
  const url = peer ? peer.url : 'ws://192.0.2.1:4500'
  try {
    for (const target of [url, 'ws://example.com:4500', 'ws://[2001:db8::1]:4500', 'ws://0.0.0.0:4500']) {
      const err = await rejection(Session.create({ transport: { type: 'websocket', url: target, token } }))
      assert.equal(err.code, 'INVALID_ARGUMENT', `${target}: ${err.message}`)
      assert.ok(err instanceof TypeError)
      assert.match(err.message, /`transport\.url`/)
      assert.match(err.message, /allowInsecureRemote/)
      assert.ok(!everything(err).includes(token))
    }
    const wss = await rejection(Session.create({ transport: { type: 'websocket', url: 'wss://127.0.0.1:1' } }))
    assert.match(wss.message, /wss:\/\/ \(TLS\) is not supported/)
    if (peer) {
      assert.equal(peer.upgrades.length, 0, 'nothing reached the server')
      const opted = await Session.create({ transport: { type: 'websocket', url, token, allowInsecureRemote: true } })
      assert.equal(peer.upgrades.length, 1)
      assert.equal(peer.upgrades[0].authorization, `Bearer ${token}`)
      await opted.close()
    } else {
      test.diagnostic('no non-loopback IPv4 address: the opt-in connection not run')
    }
    // Loopback needs no opt-in.
    const local = await miniWsServer()
    const s = await Session.create({ transport: { type: 'websocket', url: local.url.replace('127.0.0.1', 'localhost') } })
    await s.close()
    await local.close()
  } finally {
    await peer?.close()
  }
})

test('the token and env values never show in errors, onMessage or stderrTail', T, async () => {
  const token = 'tok-SECRET-7f3a9c'
  const secret = 'hunter2-xyz'
  const seen = []
  const onMessage = (entry) => seen.push(JSON.stringify(entry))
  const errors = []

  // A peer that echoes the Authorization header in its 401 body.
  const rude = await miniWsServer({
    rejectUpgrade: (h) => `HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nbad credentials: ${h.authorization}\n`,
  })
  try {
    const err = await rejection(Session.create({ transport: { type: 'websocket', url: rude.url, token }, onMessage }))
    assert.equal(err.code, 'TRANSPORT_CLOSED')
    assert.match(err.message, /401/)
    assert.equal(rude.upgrades[0].authorization, `Bearer ${token}`, 'the token did go to the server')
    errors.push(err)
  } finally {
    await rude.close()
  }
  // A connection error (nothing listens there).
  const closedPort = await new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
  const refused = await rejection(Session.create({ transport: { type: 'websocket', url: `ws://127.0.0.1:${closedPort}`, token }, onMessage }))
  assert.equal(refused.code, 'TRANSPORT_CLOSED')
  errors.push(refused)
  // A session that works, then loses its peer: onMessage saw real traffic.
  const peer = await miniWsServer()
  const ok = await Session.create({ transport: { type: 'websocket', url: peer.url, token }, onMessage })
  const pending = rejection(ok.listThreads())
  await peer.close()
  errors.push(await pending)
  await ok.close()
  assert.ok(seen.some((m) => m.includes('initialize')), 'onMessage saw the traffic')

  // Spawn failures with a secret in env: no binary, a crash during initialize, a start-up timeout.
  errors.push(await rejection(Session.create({ codexPath: '/nonexistent/codex', env: { SECRET: secret } })))
  const crash = fakeServer({ on: { initialize: [act.crash()] } })
  errors.push(await rejection(Session.create({ ...crash, env: { ...crash.env, SECRET: secret }, onMessage })))
  const silent = fakeServer({ on: { initialize: [act.hang()] } })
  errors.push(await rejection(Session.create({ ...silent, env: { ...silent.env, SECRET: secret }, startupTimeoutMs: 300, onMessage })))
  crash.cleanup()
  silent.cleanup()

  assert.deepEqual(
    errors.map((e) => e.code),
    ['TRANSPORT_CLOSED', 'TRANSPORT_CLOSED', 'TRANSPORT_CLOSED', 'SPAWN_FAILED', 'SPAWN_FAILED', 'SPAWN_FAILED'],
  )
  for (const err of errors) {
    const text = everything(err)
    assert.ok(!text.includes(token), `the token in: ${text}`)
    assert.ok(!text.includes(secret), `the env value in: ${text}`)
    assert.ok(!(err.stderrTail ?? '').includes(secret))
  }
  for (const m of seen) {
    assert.ok(!m.includes(token), `the token in onMessage: ${m}`)
    assert.ok(!m.includes(secret), `the env value in onMessage: ${m}`)
  }
})
