'use strict'
// The `stream` transport: the app's own Node streams (a net.Socket pair, a child's stdio) to the
// scripted fake server. Crash and close behave as on stdio: in-flight work settles
// TRANSPORT_CLOSED, nothing hangs; the session owns neither stream (close ends the writable).

const test = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const { spawn } = require('node:child_process')
const { Writable } = require('node:stream')
const { Session } = require('../main.js')
const { fakeServer, act, FAKE_APP_SERVER_PATH } = require('../testing/fake-scenario.js')
const { rejection } = require('./helpers.js')

const T = { timeout: 60_000 }

/** Runs the fake server as a child of a net server: each connection gets its own server process. */
async function socketServer(fake) {
  const children = []
  const server = net.createServer((socket) => {
    const child = spawn(process.execPath, [FAKE_APP_SERVER_PATH, 'app-server'], {
      env: { ...process.env, ...fake.env },
      stdio: ['pipe', 'pipe', 'ignore'],
    })
    child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
    children.push(child)
    socket.pipe(child.stdin)
    child.stdout.pipe(socket)
    socket.on('error', () => {})
    child.stdin.on('error', () => {})
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = /** @type {net.AddressInfo} */ (server.address())
  const connect = () =>
    new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(socket))
      socket.on('error', reject)
    })
  const close = () => {
    for (const c of children) c.kill('SIGKILL')
    return new Promise((resolve) => server.close(resolve))
  }
  return { connect, children, close }
}

test('over a net.Socket pair: a turn runs; close() ends the writable (the server sees EOF) and destroys nothing', T, async () => {
  const fake = fakeServer({ turn: { text: 'over a socket', deltas: 3 } })
  const server = await socketServer(fake)
  try {
    const socket = await server.connect()
    const session = await Session.create({ transport: { type: 'stream', readable: socket, writable: socket } })
    assert.equal(session.pid, null, 'the session owns no process')
    assert.match(session.info.userAgent, /fake-app-server/)
    const thread = await session.startThread()
    const deltas = []
    const turn = await thread.startTurn('hi')
    for await (const e of turn) if (e.method === 'item/agentMessage/delta') deltas.push(e.params.delta)
    assert.equal(deltas.join(''), 'over a socket')
    assert.equal((await turn.result()).text, 'over a socket')
    await session.close()
    // The server saw end of input and left as a stdio server does; its exit closes the socket.
    assert.deepEqual(await server.children[0].exited, { code: 0, signal: null })
    assert.ok(fake.records().some((r) => r.$eof), 'the server saw EOF')
    assert.ok(socket.writableEnded, 'the writable was ended')
    assert.equal(socket.listenerCount('data'), 0, 'the readable was let go')
    assert.equal((await rejection(session.listThreads())).code, 'SESSION_CLOSED')
  } finally {
    await server.close()
  }
})

test('the server crashing mid-turn: TRANSPORT_CLOSED for the turn and everything pending, no hang', T, async () => {
  const fake = fakeServer({
    turn: { text: 'abcdef', deltas: 3, at: { 2: [act.crash({ code: 3 })] } },
  })
  const server = await socketServer(fake)
  try {
    const socket = await server.connect()
    const session = await Session.create({ transport: { type: 'stream', readable: socket, writable: socket } })
    const thread = await session.startThread()
    const turn = await thread.startTurn('go')
    const events = []
    let streamErr = null
    try {
      for await (const e of turn) events.push(e)
    } catch (err) {
      streamErr = err
    }
    assert.equal(streamErr?.code, 'TRANSPORT_CLOSED')
    // What had arrived is kept: the first two deltas.
    assert.equal(events.filter((e) => e.method === 'item/agentMessage/delta').length, 2)
    assert.equal((await rejection(turn.result())).code, 'TRANSPORT_CLOSED')
    assert.equal((await rejection(session.listThreads())).code, 'TRANSPORT_CLOSED')
    assert.equal(session.closed, true)
    assert.deepEqual(await server.children[0].exited, { code: 3, signal: null })
    await session.close()
  } finally {
    await server.close()
  }
})

test('the app destroying the socket mid-request: the request settles TRANSPORT_CLOSED naming why', T, async () => {
  const fake = fakeServer({ on: { 'thread/list': [act.hang()] } })
  const server = await socketServer(fake)
  try {
    const socket = await server.connect()
    const session = await Session.create({ transport: { type: 'stream', readable: socket, writable: socket } })
    const pending = session.listThreads()
    // The request has reached the server (the fake logs each frame as it arrives).
    const deadline = Date.now() + 10_000
    while (!fake.log().some((f) => f.method === 'thread/list')) {
      assert.ok(Date.now() < deadline, 'thread/list never reached the server')
      await new Promise((r) => setTimeout(r, 10))
    }
    socket.destroy()
    const err = await rejection(pending)
    assert.equal(err.code, 'TRANSPORT_CLOSED')
    assert.match(err.message, /readable stream was closed/)
    await session.close()
  } finally {
    await server.close()
  }
})

test('a child process\'s stdio the app spawned; a failed start leaves the streams to the app', T, async () => {
  const child = spawn(process.execPath, [FAKE_APP_SERVER_PATH, 'app-server'], { stdio: ['pipe', 'pipe', 'ignore'] })
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)))
  try {
    // Refused before anything is sent: the streams are untouched and reusable.
    const bad = await rejection(
      Session.create({ transport: { type: 'stream', readable: child.stdout, writable: child.stdin, url: 'x' } }),
    )
    assert.equal(bad.code, 'INVALID_ARGUMENT')
    assert.match(bad.message, /`transport\.url`/)
    assert.equal(child.stdout.listenerCount('data'), 0)
    assert.equal(child.stdin.writableEnded, false)
    const session = await Session.create({ transport: { type: 'stream', readable: child.stdout, writable: child.stdin } })
    assert.equal((await (await session.startThread()).run('piped')).text, 'echo: piped')
    await session.close()
    assert.equal(await exited, 0, 'stdin EOF ended the server')
  } finally {
    child.kill('SIGKILL')
  }
})

test('bad streams are INVALID_ARGUMENT naming transport.readable / transport.writable', T, async () => {
  const socket = new net.Socket()
  for (const [transport, path] of [
    [{ type: 'stream', writable: socket }, 'transport.readable'],
    [{ type: 'stream', readable: {}, writable: socket }, 'transport.readable'],
    [{ type: 'stream', readable: socket }, 'transport.writable'],
    [{ type: 'stream', readable: socket, writable: 'stdout' }, 'transport.writable'],
  ]) {
    const err = await rejection(Session.create({ transport }))
    assert.equal(err.code, 'INVALID_ARGUMENT', path)
    assert.ok(err.message.includes(`\`${path}\``), err.message)
  }
})

test('writes wait for drain when the writable is over its highWaterMark', T, async () => {
  const child = spawn(process.execPath, [FAKE_APP_SERVER_PATH, 'app-server'], { stdio: ['pipe', 'pipe', 'ignore'] })
  try {
    // A writable that holds each chunk until released: write() returns false once one is held.
    let held = null
    let writeCalls = 0
    const gate = new Writable({
      highWaterMark: 1,
      write(chunk, _encoding, done) {
        child.stdin.write(chunk)
        held = done
      },
    })
    gate.on('finish', () => child.stdin.end())
    const originalWrite = gate.write.bind(gate)
    gate.write = (...args) => {
      writeCalls++
      return originalWrite(...args)
    }
    const release = () => {
      const done = held
      held = null
      done?.()
    }
    const creating = Session.create({ transport: { type: 'stream', readable: child.stdout, writable: gate } })
    // initialize is held; until it is released nothing else is written (initialized waits too).
    while (!held) await new Promise((r) => setImmediate(r))
    release()
    const session = await creating
    // Then `initialized`.
    while (!held) await new Promise((r) => setImmediate(r))
    const drained = new Promise((r) => gate.once('drain', r))
    release()
    await drained
    const before = writeCalls
    const a = session.listThreads()
    while (!held) await new Promise((r) => setImmediate(r))
    // One chunk is held; a second request must not be written until it drains.
    const b = session.listModels()
    await new Promise((r) => setTimeout(r, 200))
    assert.equal(writeCalls - before, 1, 'a second write went out before drain')
    release()
    while (!held) await new Promise((r) => setImmediate(r))
    assert.equal(writeCalls - before, 2)
    release()
    await Promise.all([a, b])
    await session.close()
  } finally {
    child.kill('SIGKILL')
  }
})

test('close() with writes held by a peer that stopped reading: everything settles and the writable is still ended', T, async () => {
  const child = spawn(process.execPath, [FAKE_APP_SERVER_PATH, 'app-server'], { stdio: ['pipe', 'pipe', 'ignore'] })
  try {
    let held = null
    let stalled = false
    const gate = new Writable({
      highWaterMark: 1,
      write(chunk, _encoding, done) {
        child.stdin.write(chunk)
        // Once stalled, the peer never reads again: no callback, so no 'drain'.
        if (stalled) return
        held = done
      },
    })
    const release = () => {
      const done = held
      held = null
      done?.()
    }
    const creating = Session.create({ transport: { type: 'stream', readable: child.stdout, writable: gate } })
    while (!held) await new Promise((r) => setImmediate(r))
    release()
    const session = await creating
    while (!held) await new Promise((r) => setImmediate(r))
    const drained = new Promise((r) => gate.once('drain', r))
    release()
    await drained
    stalled = true
    const a = rejection(session.listThreads()) // written, never drained
    const b = rejection(session.listModels()) // waits for the drain
    await session.close()
    assert.equal((await a).code, 'SESSION_CLOSED')
    assert.equal((await b).code, 'SESSION_CLOSED')
    const deadline = Date.now() + 10_000
    while (!gate.writableEnded) {
      assert.ok(Date.now() < deadline, 'the writable was never ended')
      await new Promise((r) => setTimeout(r, 10))
    }
    assert.equal(gate.destroyed, false, 'and not destroyed')
  } finally {
    child.kill('SIGKILL')
  }
})
