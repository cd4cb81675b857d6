'use strict'
// Foundation: sessions, threads, run/ask, failures and lifecycle, against the real codex.

const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { Session, reply, withStandIn, withSession, createSession, rejection, isAlive, expectedServerVersion } = require('./helpers.js')

const T = { timeout: 60_000 }

test('create reports the server info', T, async () => {
  await withSession(async (session) => {
    assert.equal(session.closed, false)
    assert.equal(session.info.platformFamily, 'unix')
    assert.equal(session.info.platformOs, 'linux')
    assert.match(session.info.userAgent, /^codex-native\//)
    assert.ok(path.isAbsolute(session.info.codexHome))
    assert.equal(session.info.serverVersion, expectedServerVersion())
    assert.ok(Number.isInteger(session.pid) && isAlive(session.pid))
  })
})

test('ask returns exactly the scripted text, and the model got the prompt', T, async () => {
  await withSession(async (session, model) => {
    model.enqueue(reply.text('Exactly this answer, streamed.', { chunks: 4 }))
    const thread = await session.startThread()
    assert.match(thread.id, /\S/)
    const text = await thread.ask('What is the answer?')
    assert.equal(text, 'Exactly this answer, streamed.')
    assert.equal(model.requests.length, 1)
    assert.equal(model.requests[0].lastUserText, 'What is the answer?')
  })
})

test('run returns status, items and token usage', T, async () => {
  await withSession(async (session, model) => {
    model.enqueue(reply.text('Items and usage.', { chunks: 2, usage: { inputTokens: 21, outputTokens: 8 } }))
    const thread = await session.startEphemeralThread()
    const result = await thread.run('hello')
    assert.equal(result.status, 'completed')
    assert.equal(result.threadId, thread.id)
    assert.match(result.turnId, /\S/)
    assert.equal(result.text, 'Items and usage.')
    assert.equal(result.error, null)
    const types = result.items.map((i) => i.type)
    assert.deepEqual(types, ['userMessage', 'agentMessage'])
    assert.equal(result.items[1].text, 'Items and usage.')
    assert.equal(result.usage.last.inputTokens, 21)
    assert.equal(result.usage.last.outputTokens, 8)
  })
})

test('a refused model request gives a failed turn with its error; ask rejects TURN_FAILED', T, async () => {
  await withSession(async (session, model) => {
    const thread = await session.startThread()
    model.enqueue(reply.error(400, { error: { message: 'scripted refusal' } }))
    const result = await thread.run('please fail')
    assert.equal(result.status, 'failed')
    assert.match(result.error.message, /scripted refusal/)
    model.enqueue(reply.error(400, { error: { message: 'second refusal' } }))
    const err = await rejection(thread.ask('fail again'))
    assert.equal(err.code, 'TURN_FAILED')
    assert.match(err.message, /second refusal/)
    assert.equal(err.result.status, 'failed')
    // The session is still usable after failed turns.
    model.enqueue(reply.text('recovered'))
    assert.equal(await thread.ask('and now?'), 'recovered')
  })
})

test('two sessions run in parallel, each with its own server', T, async () => {
  await withStandIn(async (model) => {
    model.respondWith((req) => reply.text(`answer to ${req.lastUserText}`, { chunks: 3 }))
    const [a, b] = await Promise.all([createSession(model), createSession(model)])
    try {
      assert.notEqual(a.pid, b.pid)
      const [ta, tb] = await Promise.all([a.startThread(), b.startThread()])
      const [x, y] = await Promise.all([ta.ask('alpha'), tb.ask('beta')])
      assert.equal(x, 'answer to alpha')
      assert.equal(y, 'answer to beta')
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })
})

test('close while idle ends the server; close is idempotent; later calls reject SESSION_CLOSED', T, async () => {
  await withStandIn(async (model) => {
    const session = await createSession(model)
    const pid = session.pid
    const thread = await session.startThread()
    await Promise.all([session.close(), session.close()])
    await session.close()
    assert.equal(session.closed, true)
    assert.equal(isAlive(pid), false, 'codex child is gone after close()')
    assert.equal((await rejection(session.startThread())).code, 'SESSION_CLOSED')
    assert.equal((await rejection(thread.run('x'))).code, 'SESSION_CLOSED')
    assert.equal((await rejection(session.request('thread/list', {}))).code, 'SESSION_CLOSED')
  })
})

test('a codexPath that does not exist is SPAWN_FAILED naming the path', T, async () => {
  const missing = path.join(__dirname, 'no-such-dir', 'codex')
  const err = await rejection(Session.create({ codexPath: missing }))
  assert.equal(err.code, 'SPAWN_FAILED')
  assert.ok(err instanceof Error)
  assert.ok(err.message.includes(missing), err.message)
})

test('bad options are a TypeError naming the option, before anything is spawned', T, async () => {
  const cases = [
    [{ requestTimeoutMs: 'soon' }, 'requestTimeoutMs'],
    [{ args: ['ok', 3] }, 'args[1]'],
    [{ env: { A: 1 } }, 'env.A'],
    [{ config: { model: null } }, 'config.model'],
    [{ clientInfo: { name: 'x' } }, 'clientInfo.version'],
    [{ codexpath: '/x' }, 'codexpath'],
    [{ onNotification: 'not a function' }, 'onNotification'],
    [{ cwd: '/definitely/not/a/dir' }, 'cwd'],
  ]
  for (const [options, name] of cases) {
    // codexPath points nowhere: if validation did not stop it, we would see SPAWN_FAILED.
    const err = await rejection(Session.create({ codexPath: '/nonexistent/codex', ...options }))
    assert.equal(err.code, 'INVALID_ARGUMENT', `${name}: ${err.message}`)
    assert.ok(err instanceof TypeError, name)
    assert.ok(err.message.includes(`\`${name}\``), `${name}: ${err.message}`)
  }
})

test('config overrides reach codex as -c key=value (TOML)', T, async () => {
  await withSession(
    async (session, model) => {
      const thread = await session.startThread()
      model.enqueue(reply.text('ok'))
      await thread.run('x')
      // `developer_instructions` is sent to the model verbatim: proof the override arrived.
      const body = JSON.stringify(model.requests[0].body)
      assert.ok(body.includes('Say \\"ok\\" and nothing else.'), 'override text reached the model')
    },
    { config: { developer_instructions: 'Say "ok" and nothing else.' } },
  )
})
