'use strict'
// Connecting to a running `codex app-server --listen ...` over websocket and unix socket.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { Session } = require('../main.js')
const { createModelStandIn, reply } = require('../testing')
const { codexBinary, rejection, isAlive } = require('./helpers.js')

const T = { timeout: 60_000 }

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
    server.on('error', reject)
  })
}

/** Resolves once `connect()` succeeds (bounded), the server's readiness signal. */
async function waitConnectable(connectOptions, withinMs = 30_000) {
  const deadline = Date.now() + withinMs
  for (;;) {
    const ok = await new Promise((resolve) => {
      const socket = net.connect(connectOptions, () => {
        socket.destroy()
        resolve(true)
      })
      socket.on('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`server not reachable within ${withinMs} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Starts `codex app-server --listen <listen>` wired to the stand-in; returns the child. */
function startListener(model, listen, extraArgs = [], env = model.sessionOptions().env) {
  const args = ['app-server', '--listen', listen, ...model.codexArgs(), ...extraArgs]
  const child = spawn(codexBinary(), args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  child.stderrText = () => stderr
  return child
}

test('websocket with a capability token: turns run; a wrong token is a clear error without the token', T, async () => {
  const model = await createModelStandIn()
  const port = await freePort()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codex-native-ws-'))
  const token = 'secret-token-0123456789'
  fs.writeFileSync(path.join(dir, 'token'), token)
  const server = startListener(model, `ws://127.0.0.1:${port}`, ['--ws-auth', 'capability-token', '--ws-token-file', path.join(dir, 'token')])
  try {
    await waitConnectable({ host: '127.0.0.1', port })
    const url = `ws://127.0.0.1:${port}`
    const bad = await rejection(Session.create({ transport: { type: 'websocket', url, token: 'wrong-token-value' } }))
    assert.equal(bad.code, 'TRANSPORT_CLOSED')
    assert.match(bad.message, /401/)
    assert.match(bad.message, /authentication failed/)
    assert.ok(!bad.message.includes('wrong-token-value') && !JSON.stringify(bad).includes('wrong-token-value'))

    const session = await Session.create({ transport: { type: 'websocket', url, token } })
    assert.equal(session.pid, null, 'a websocket session owns no process')
    model.enqueue(reply.text('over a websocket', { chunks: 3 }))
    const thread = await session.startThread()
    assert.equal(await thread.ask('hi'), 'over a websocket')
    await session.close()
    assert.equal(session.closed, true)
    assert.equal(isAlive(server.pid), true, 'close() only disconnects')

    // The server going away rejects everything pending with TRANSPORT_CLOSED.
    const again = await Session.create({ transport: { type: 'websocket', url, token } })
    model.enqueue(reply.hang())
    const turn = await (await again.startThread()).startTurn('hang')
    await model.nextRequest({ timeoutMs: 10_000 })
    const pendingResult = turn.result()
    server.kill('SIGKILL')
    const err = await rejection(pendingResult)
    assert.equal(err.code, 'TRANSPORT_CLOSED')
    assert.equal(again.closed, true)
    await again.close()
  } finally {
    server.kill('SIGKILL')
    await model.close()
  }
})

test('unix socket: explicit path and the default path under CODEX_HOME', T, async () => {
  const model = await createModelStandIn()
  const { env } = model.sessionOptions()
  const socketPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cn-')), 's.sock')
  const explicit = startListener(model, `unix://${socketPath}`)
  const defaulted = startListener(model, 'unix://', [], env)
  try {
    await waitConnectable({ path: socketPath })
    const session = await Session.create({ transport: { type: 'unix', path: socketPath } })
    model.enqueue(reply.text('over a unix socket'))
    assert.equal(await (await session.startThread()).ask('hi'), 'over a unix socket')
    await session.close()
    assert.equal(isAlive(explicit.pid), true)

    const defaultPath = path.join(env.CODEX_HOME, 'app-server-control', 'app-server-control.sock')
    await waitConnectable({ path: defaultPath })
    const viaDefault = await Session.create({ transport: { type: 'unix' }, env: { CODEX_HOME: env.CODEX_HOME } })
    assert.equal(viaDefault.info.codexHome, fs.realpathSync(env.CODEX_HOME))
    await viaDefault.close()
  } finally {
    explicit.kill('SIGKILL')
    defaulted.kill('SIGKILL')
    await model.close()
  }
})

test('transport options are checked', T, async () => {
  for (const [transport, name] of [
    [{ type: 'websocket' }, 'transport.url'],
    [{ type: 'websocket', url: 'wss://example.invalid' }, 'url'],
    [{ type: 'unix', url: 'x' }, 'transport.url'],
    [{ type: 'pigeon' }, 'transport.type'],
  ]) {
    const err = await rejection(Session.create({ transport }))
    assert.equal(err.code, 'INVALID_ARGUMENT', `${name}: ${err.message}`)
    assert.ok(err.message.includes(`\`${name}\``), err.message)
  }
})
