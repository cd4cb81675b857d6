'use strict'
// ChatGPT sign-in (js/login.js): the start's answer joined with its `account/login/completed`.
// Offline and hermetic: the real codex (CODEX_HOME a temp dir) for the browser flow (it binds
// the OAuth callback on 127.0.0.1:1455 and needs no network until a browser calls it back) and
// for the device-code flow (its HTTPS goes to a local proxy that refuses it); the scripted fake
// server for what the real one cannot do offline (a successful login, a crash).

const test = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const { Session } = require('../main.js')
const { stateOf } = require('../js/listeners.js')
const { fakeServer, act } = require('../testing/fake-scenario.js')
const { withSession, withMachineLock, rejection } = require('./helpers.js')

const T = { timeout: 60_000 }

/** What a login adds to the session's JS state (a listener, a waiter): back to this when it settles. */
const footprint = (session) => {
  const state = stateOf(session)
  return { listeners: state.count, waiters: state.waiters.size }
}

test('browser flow: an https auth URL; cancel() settles `completed` with success: false; nothing left behind', T, async () => {
  // codex binds 127.0.0.1:1455 for the browser's redirect; one login at a time on this machine.
  await withMachineLock('login-port-1455', () => withSession(async (session) => {
    const before = footprint(session)
    const login = await session.loginWithChatGpt()
    assert.match(login.loginId, /\S/)
    const url = new URL(login.authUrl)
    assert.equal(url.protocol, 'https:')
    assert.equal(url.hostname, 'auth.openai.com')
    assert.match(url.searchParams.get('redirect_uri') ?? '', /^http:\/\/(127\.0\.0\.1|localhost):\d+\//)
    assert.deepEqual(footprint(session), { listeners: before.listeners + 1, waiters: before.waiters + 1 })

    assert.deepEqual(await login.cancel(), { status: 'canceled' })
    // What codex itself sends for a cancelled login (not the fallback after CANCEL_GRACE_MS).
    const done = await login.completed
    assert.equal(done.loginId, login.loginId)
    assert.equal(done.success, false)
    assert.match(done.error ?? '', /not completed/i)
    assert.deepEqual(footprint(session), before, 'the listener and waiter are removed once settled')
    // Cancelling again: nothing pending any more, nothing sent.
    assert.deepEqual(await login.cancel(), { status: 'notFound' })

    // A login pending when the session closes rejects with SESSION_CLOSED.
    const second = await session.loginWithChatGpt({ useHostedLoginSuccessPage: false })
    assert.notEqual(second.loginId, login.loginId)
    await session.close()
    assert.equal((await rejection(second.completed)).code, 'SESSION_CLOSED')
    assert.equal((await rejection(session.loginWithChatGpt())).code, 'SESSION_CLOSED')
  }))
})

test('device-code flow: the auth service unreachable is an RPC_ERROR with the server message', T, async () => {
  // A proxy that records the CONNECT and hangs up: codex honours HTTPS_PROXY, so the request
  // to the auth service fails here, at once, whether or not this machine has a network.
  const seen = []
  const proxy = net.createServer((socket) => {
    socket.once('data', (data) => {
      seen.push(data.toString('latin1').split('\r\n')[0])
      socket.destroy()
    })
  })
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${proxy.address().port}`
  try {
    await withSession(
      async (session) => {
        const before = footprint(session)
        const err = await rejection(session.loginWithDeviceCode())
        assert.equal(err.code, 'RPC_ERROR')
        assert.match(err.message, /failed to request device code/)
        assert.match(err.rpcMessage, /failed to request device code/)
        assert.deepEqual(seen, ['CONNECT auth.openai.com:443 HTTP/1.1'])
        assert.deepEqual(footprint(session), before, 'a failed start leaves no listener')
      },
      { env: { HTTPS_PROXY: url, https_proxy: url, NO_PROXY: '', no_proxy: '' } },
    )
  } finally {
    proxy.close()
  }
})

test('bad options are INVALID_ARGUMENT before anything is sent', T, async () => {
  const fake = fakeServer({})
  const session = await Session.create({ ...fake })
  try {
    const before = fake.log().length
    for (const [call, name] of [
      [() => session.loginWithChatGpt('yes'), 'options'],
      [() => session.loginWithChatGpt({ appBrand: () => {} }), 'appBrand'],
    ]) {
      const err = await rejection(call())
      assert.equal(err.code, 'INVALID_ARGUMENT', name)
      assert.match(err.message, new RegExp(name))
    }
    assert.equal(fake.log().slice(before).filter((f) => f.method === 'account/login/start').length, 0)
  } finally {
    await session.close()
  }
})

test('fake server: a completion before the answer is kept; other logins are ignored; notFound and a crash settle it', T, async () => {
  const completed = (loginId, success, error = null) => ({ loginId, success, error, onboardingEntrypoint: null })
  const fake = fakeServer({
    on: {
      'account/login/start': [
        // Call 1: the completion (and another login's) arrive before the answer.
        act.notify('account/login/completed', completed('L-other', false, 'not this one'), { call: 1 }),
        act.notify('account/login/completed', completed('L1', true), { call: 1 }),
        act.respond({ type: 'chatgpt', loginId: 'L1', authUrl: 'https://auth.example/1' }, { call: 1 }),
        act.respond({ type: 'chatgptDeviceCode', loginId: 'L2', verificationUrl: 'https://auth.example/device', userCode: 'ABCD-1234' }, { call: 2 }),
        act.respond({ type: 'chatgpt', loginId: 'L3', authUrl: 'https://auth.example/3' }, { call: 3 }),
        // Call 4: an answer of another shape.
        act.respond({ type: 'apiKey' }, { call: 4 }),
      ],
      'account/login/cancel': [act.respond({ status: 'notFound' })],
    },
  })
  const session = await Session.create({ ...fake })
  try {
    const before = footprint(session)
    const first = await session.loginWithChatGpt()
    assert.equal(first.authUrl, 'https://auth.example/1')
    assert.deepEqual(await first.completed, completed('L1', true))
    assert.deepEqual(footprint(session), before)

    const device = await session.loginWithDeviceCode()
    assert.deepEqual([device.loginId, device.verificationUrl, device.userCode], ['L2', 'https://auth.example/device', 'ABCD-1234'])
    // The server no longer knows the login: nothing more will come, so it settles now.
    assert.deepEqual(await device.cancel(), { status: 'notFound' })
    const gone = await device.completed
    assert.equal(gone.success, false)
    assert.match(gone.error, /L2 is not pending/)
    assert.deepEqual(fake.log().filter((f) => f.method === 'account/login/cancel').map((f) => f.params), [{ loginId: 'L2' }])

    const third = await session.loginWithChatGpt()
    const err4 = await rejection(session.loginWithChatGpt())
    assert.equal(err4.code, 'PROTOCOL_ERROR')
    assert.match(err4.message, /without loginId, authUrl/)
    process.kill(session.pid, 'SIGKILL')
    const err = await rejection(third.completed)
    assert.equal(err.code, 'TRANSPORT_CLOSED')
  } finally {
    await session.close()
  }
})
