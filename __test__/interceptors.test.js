'use strict'
// SessionOptions.interceptors: changing, dropping and reordering nothing, in both directions.
// Against the real codex with the loopback stand-in; the cases the real server cannot produce
// (a server request to drop) on the scripted fake server.

const test = require('node:test')
const assert = require('node:assert/strict')
const { setTimeout: sleep } = require('node:timers/promises')
const { Session } = require('../main.js')
const { fakeServer, act } = require('../testing/fake-app-server.js')
const { reply, withSession, rejection } = require('./helpers.js')

const T = { timeout: 60_000 }

/** A promise and its resolver, for waiting on a callback without sleeping. */
function signal() {
  let resolve
  const promise = new Promise((r) => (resolve = r))
  return { promise, resolve }
}

test('an outgoing interceptor adds a default model to every turn/start; the wire and the model see it', T, async () => {
  const wire = []
  const interceptors = [
    {
      outgoing(msg) {
        if (msg.method === 'turn/start' && msg.params.model === undefined) msg.params.model = 'intercepted-model'
        return msg
      },
    },
  ]
  await withSession(
    async (session, model) => {
      model.enqueue(reply.text('one'))
      model.enqueue(reply.text('two'))
      const thread = await session.startThread()
      assert.equal((await thread.run('first')).text, 'one')
      assert.equal((await thread.run('second')).text, 'two')
      const starts = wire.filter((m) => m.direction === 'out' && m.message.method === 'turn/start')
      assert.equal(starts.length, 2)
      for (const s of starts) assert.equal(s.message.params.model, 'intercepted-model')
      // codex used it: the model stand-in was asked for it.
      assert.deepEqual(
        model.requests.map((r) => r.body.model),
        ['intercepted-model', 'intercepted-model'],
      )
    },
    { interceptors, onMessage: (m) => wire.push(m) },
  )
})

test('an incoming interceptor redacts text before the app sees it (events, result, tap shows the wire)', T, async () => {
  const wire = []
  const redact = (s) => s.replaceAll('hunter2', '[redacted]')
  const interceptors = [
    {
      incoming(msg) {
        if (msg.method === 'item/agentMessage/delta') msg.params.delta = redact(msg.params.delta)
        if (msg.method === 'item/completed' && msg.params.item.type === 'agentMessage') {
          msg.params.item.text = redact(msg.params.item.text)
        }
        return msg
      },
    },
  ]
  await withSession(
    async (session, model) => {
      model.enqueue(reply.text('the password is hunter2, keep it', { chunks: 1 }))
      const thread = await session.startThread()
      const turn = await thread.startTurn('tell me')
      const deltas = []
      for await (const e of turn) if (e.method === 'item/agentMessage/delta') deltas.push(e.params.delta)
      const result = await turn.result()
      assert.equal(result.text, 'the password is [redacted], keep it')
      assert.equal(deltas.join(''), 'the password is [redacted], keep it')
      // onMessage shows what crossed the wire, before the interceptors.
      assert.ok(wire.some((m) => m.direction === 'in' && JSON.stringify(m.message).includes('hunter2')))
    },
    { interceptors, onMessage: (m) => wire.push(m) },
  )
})

test('dropping a notification: no listener, iterator or result sees it; the turn still completes', T, async () => {
  const dropped = []
  const interceptors = [
    {
      incoming(msg) {
        if (msg.method === 'item/agentMessage/delta') {
          dropped.push(msg.params.delta)
          return null
        }
        return msg
      },
    },
  ]
  const heard = []
  await withSession(
    async (session, model) => {
      model.enqueue(reply.text('a b c d', { chunks: 4 }))
      const thread = await session.startThread()
      const turn = await thread.startTurn('go')
      const methods = []
      for await (const e of turn) methods.push(e.method)
      assert.equal((await turn.result()).text, 'a b c d', 'the result comes from item/completed')
      assert.equal(dropped.join(''), 'a b c d', 'the interceptor saw every delta')
      assert.ok(!methods.includes('item/agentMessage/delta'), methods.join())
      assert.ok(!heard.includes('item/agentMessage/delta'))
      assert.ok(methods.includes('turn/completed'))
    },
    { interceptors, onNotification: (n) => heard.push(n.method) },
  )
})

test('async interceptors with random delays keep the order of messages in both directions', T, async () => {
  const seenIn = []
  const seenOut = []
  const key = (msg) => `${msg.method ?? 'response'} ${msg.id ?? ''}`
  const wireOut = []
  let tapped = () => {}
  const delay = () => sleep(Math.floor(Math.random() * 4))
  const interceptors = [
    {
      async incoming(msg) {
        await delay()
        seenIn.push(msg.method ?? `response ${msg.id}`)
        return msg
      },
      async outgoing(msg) {
        seenOut.push(key(msg)) // on entry: the order the session sent them in
        await delay()
        return msg
      },
    },
    {
      // A second async link: each message goes through the whole chain before the next.
      async incoming(msg) {
        await delay()
        return msg
      },
    },
  ]
  await withSession(
    async (session, model) => {
      const text = Array.from({ length: 30 }, (_, i) => `w${i}`).join(' ')
      model.enqueue(reply.text(text, { chunks: 30 }))
      const thread = await session.startThread()
      const turn = await thread.startTurn('count')
      const events = []
      for await (const e of turn) events.push(e)
      const deltas = events.filter((e) => e.method === 'item/agentMessage/delta').map((e) => e.params.delta)
      assert.equal(deltas.length, 30)
      assert.equal(deltas.join(''), text, 'deltas in order')
      assert.equal(events[0].method, 'turn/started')
      assert.equal(events.at(-1).method, 'turn/completed')
      // The turn's events are the incoming notifications of the turn, in the order the chain saw them.
      const turnMethods = new Set(events.map((e) => e.method))
      assert.deepEqual(
        events.map((e) => e.method),
        seenIn.filter((m) => turnMethods.has(m)).slice(-events.length),
      )
      // Requests in flight together reach the wire in the order they entered the chain.
      const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? session.listThreads() : session.readConfig())))
      assert.equal(answers.length, 12)
      // onMessage is called on the JS thread after the write: wait until it has shown them all.
      while (wireOut.length < seenOut.length) await new Promise((resolve) => (tapped = resolve))
      assert.ok(seenOut.filter((k) => k.startsWith('config/read')).length === 6)
      assert.deepEqual(wireOut, seenOut)
    },
    {
      interceptors,
      onMessage: ({ direction, message }) => {
        if (direction !== 'out') return
        wireOut.push(key(message))
        tapped()
      },
    },
  )
})

test('a throwing, rejecting or non-object interceptor is reported to onError and the message passes unchanged', T, async () => {
  const errors = []
  const reported = signal()
  const interceptors = [
    {
      outgoing(msg) {
        if (msg.method === 'thread/start') throw new Error('outgoing bug')
        return msg
      },
      async incoming(msg) {
        if (msg.method === 'thread/started') throw new Error('incoming bug')
        return msg
      },
    },
    { outgoing: (msg) => (msg.method === 'thread/start' ? 42 : msg) },
    { outgoing: (msg) => (msg.method === 'thread/start' ? undefined : msg) },
    {
      outgoing(msg) {
        if (msg.method !== 'thread/start') return msg
        const cyclic = { ...msg }
        cyclic.self = cyclic
        return cyclic
      },
    },
  ]
  const onError = (e) => {
    errors.push(e)
    if (errors.length === 5) reported.resolve()
  }
  await withSession(
    async (session) => {
      const started = signal()
      session.onNotification('thread/started', () => started.resolve())
      const thread = await session.startThread()
      assert.ok(thread.id, 'thread/start went through')
      await started.promise // the notification passed too
      await reported.promise
      for (const e of errors) assert.equal(e.code, 'INTERCEPTOR_FAILED', e.message)
      const messages = errors.map((e) => e.message)
      assert.match(messages[0], /interceptor 0 failed on the outgoing request thread\/start: .*outgoing bug/)
      assert.match(messages[1], /interceptor 1 .*a number, not a message object/)
      assert.match(messages[2], /interceptor 2 .*returned undefined/)
      assert.match(messages[3], /interceptor 3 .*circular/i)
      assert.match(messages[4], /interceptor 0 failed on the incoming notification thread\/started: .*incoming bug/)
    },
    { interceptors, onError },
  )
})

test('a dropped outgoing request or incoming response rejects DROPPED_BY_INTERCEPTOR; the session goes on', T, async () => {
  const interceptors = [
    {
      outgoing: (msg) => (msg.method === 'model/list' ? null : msg),
      incoming: (msg) => (msg.result && 'config' in msg.result ? null : msg),
    },
  ]
  await withSession(
    async (session) => {
      const sent = await rejection(session.listModels())
      assert.equal(sent.code, 'DROPPED_BY_INTERCEPTOR')
      assert.match(sent.message, /model\/list: dropped by an interceptor/)
      const answered = await rejection(session.readConfig())
      assert.equal(answered.code, 'DROPPED_BY_INTERCEPTOR')
      assert.match(answered.message, /config\/read/)
      const thread = await session.startThread()
      assert.ok(thread.id)
    },
    { interceptors },
  )
})

test('a dropped server request, or a dropped answer to one, still gets an error answer; no handler sees a dropped request', T, async () => {
  const ask = (callId, id) =>
    act.serverRequest('item/tool/call', { threadId: '$threadId', turnId: 't', callId, tool: 'lookup', arguments: {} }, { id })
  // The fake awaits each answer before it answers thread/start: once startThread resolves, both
  // answers are in its log.
  const fake = fakeServer({ on: { 'thread/start': [ask('c1', 'srv-1'), ask('c2', 'srv-2'), ask('c3', 'srv-3')] } })
  const handled = []
  const session = await Session.create({
    ...fake,
    requestTimeoutMs: 10_000,
    interceptors: [
      {
        incoming: (msg) => (msg.method === 'item/tool/call' && msg.params.callId === 'c1' ? null : msg),
        // The app's answer to srv-3 is dropped on its way out.
        outgoing: (msg) => (msg.id === 'srv-3' && msg.result ? null : msg),
      },
    ],
  })
  try {
    session.onServerRequest('item/tool/call', (params) => {
      handled.push(params.callId)
      return { contentItems: [], success: true }
    })
    await session.startThread()
    const [dropped] = fake.answers('srv-1')
    assert.ok(dropped, 'the dropped server request was answered')
    assert.equal(dropped.error.code, -32603)
    assert.match(dropped.error.message, /dropped by a client interceptor/)
    const [kept] = fake.answers('srv-2')
    assert.equal(kept.result.success, true, 'the other went to its handler')
    const [replaced] = fake.answers('srv-3')
    assert.equal(replaced.result, undefined)
    assert.equal(replaced.error.code, -32603)
    assert.match(replaced.error.message, /answer was dropped by an interceptor/)
    assert.deepEqual(handled, ['c2', 'c3'])
  } finally {
    await session.close()
    fake.cleanup()
  }
})

test('interceptors are checked: an array of objects whose functions are functions', T, async () => {
  for (const [interceptors, name] of [
    ['x', 'interceptors'],
    [[null], 'interceptors[0]'],
    [[{ outgoing: 3 }], 'interceptors[0].outgoing'],
  ]) {
    const err = await rejection(Session.create({ interceptors }))
    assert.equal(err.code, 'INVALID_ARGUMENT')
    assert.match(err.message, new RegExp(name.replace(/[[\].]/g, '\\$&')))
  }
})
