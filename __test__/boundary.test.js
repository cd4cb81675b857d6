'use strict'
// The Rust<->JS boundary: native error objects, response/notification order, and result()
// built from what already crossed.

const test = require('node:test')
const assert = require('node:assert/strict')
const { Session, configOverrideArgs } = require('../main.js')
const { fakeServer, act } = require('../testing/fake-scenario.js')
const { rejection } = require('./helpers.js')

const T = { timeout: 60_000 }

async function withFake(scenario, fn, options = {}) {
  const fake = fakeServer(scenario)
  const session = await Session.create({ ...fake, ...options })
  try {
    return await fn(session, fake)
  } finally {
    await session.close()
    fake.cleanup()
  }
}

/** A native error: a real Error of the right class, its details own properties, no cause tag. */
function assertNativeError(err, code, Class = Error) {
  assert.ok(err instanceof Class, `${code}: ${err?.constructor?.name} is a ${Class.name}`)
  assert.equal(Object.getPrototypeOf(err), Class.prototype, `${code}: exactly a ${Class.name}`)
  assert.ok(Object.hasOwn(err, 'code'), `${code}: code is an own property`)
  assert.equal(err.code, code, err.message)
  assert.equal(err.cause, undefined, `${code}: no cause`)
  assert.ok(!String(err.message).includes('codex-native:detail'), err.message)
}

test('errors are made natively: Error/TypeError with code and details as own properties', T, async () => {
  const scenario = {
    on: { 'model/list': [{ do: 'error', code: -32602, message: 'bad params', data: { field: 'limit' } }] },
  }
  await withFake(scenario, async (session) => {
    const rpc = await rejection(session.listModels())
    assertNativeError(rpc, 'RPC_ERROR')
    assert.equal(rpc.rpcCode, -32602)
    assert.equal(rpc.rpcMessage, 'bad params')
    assert.deepEqual(rpc.data, { field: 'limit' })
    for (const key of ['rpcCode', 'rpcMessage', 'data']) assert.ok(Object.hasOwn(rpc, key), key)

    // napi's own argument conversion never shows: a wrong type names the argument.
    const thread = await session.startThread()
    const cases = [
      [() => session.resumeThread(3), 'threadId'],
      [() => session.forkThread(null), 'threadId'],
      [() => session.archiveThread({}), 'threadId'],
      [() => session.readThread('t', { includeTurns: 'yes' }), 'options.includeTurns'],
      [() => session.listThreads(() => {}), 'params'],
      [() => session.loginWithApiKey(42), 'apiKey'],
      [() => thread.rollback('two'), 'numTurns'],
      [() => thread.rollback(-1), 'numTurns'],
      [() => thread.setName(5), 'name'],
      [() => thread.fork(7), 'params'],
    ]
    for (const [call, name] of cases) {
      const pending = call()
      assert.ok(pending instanceof Promise, `${name}: async methods reject, never throw`)
      const err = await rejection(pending)
      assertNativeError(err, 'INVALID_ARGUMENT', TypeError)
      assert.ok(err.message.includes(`\`${name}\``), `${name}: ${err.message}`)
    }
    assert.throws(
      () => session.notify(1),
      (err) => {
        assertNativeError(err, 'INVALID_ARGUMENT', TypeError)
        return err.message.includes('`method`')
      },
    )
  })

  // A transport error carries the server's stderr tail as an own property.
  await withFake({ on: { 'model/list': [act.crash({ stderr: 'fake: going down' })] } }, async (session) => {
    const err = await rejection(session.listModels())
    assertNativeError(err, 'TRANSPORT_CLOSED')
    assert.ok(Object.hasOwn(err, 'stderrTail'))
    assert.match(err.stderrTail, /fake: going down/)
    assertNativeError(await rejection(session.startThread()), 'TRANSPORT_CLOSED')
  })
  assertNativeError(await rejection(Session.create({ codexPath: '/nonexistent/codex' })), 'SPAWN_FAILED')
  assertNativeError(await rejection(Session.create({ codexPath: '/x', requestTimeoutMs: 'soon' })), 'INVALID_ARGUMENT', TypeError)
})

test('an option JSON cannot carry is an INVALID_ARGUMENT TypeError naming it, before anything is spawned', T, async () => {
  // Used to say only "JS functions cannot be represented as a serde_json::Value".
  const cases = [
    [{ onNotifcation: () => {} }, 'onNotifcation', /not an option that takes a function.*onNotification/],
    [{ cwd: () => {} }, 'cwd', /not an option that takes a function/],
    [{ config: { model: 'x', hooks: { pre: () => {} } } }, 'config.hooks.pre', /must be JSON data/],
    [{ args: ['ok', Symbol('s')] }, 'args[1]', /must be JSON data/],
    // JSON.stringify would send these as null; TOML (the -c overrides) has no form for them.
    [{ config: { model_reasoning_summary_limit: NaN } }, 'config.model_reasoning_summary_limit', /finite number/],
    [{ config: { a: { b: [1, -Infinity] } } }, 'config.a.b[1]', /finite number/],
  ]
  for (const [options, name, message] of cases) {
    const err = await rejection(Session.create({ codexPath: '/nonexistent/codex', ...options }))
    assertNativeError(err, 'INVALID_ARGUMENT', TypeError)
    assert.ok(err.message.includes(`\`${name}\``), `${name}: ${err.message}`)
    assert.match(err.message, message)
    assert.ok(!err.message.includes('serde_json'), err.message)
  }
  await withFake({}, async (session) => {
    const err = await rejection(session.listThreads({ cursor: 'x', extra: { f: () => {} } }))
    assertNativeError(err, 'INVALID_ARGUMENT', TypeError)
    assert.ok(err.message.includes('`params.extra.f`'), err.message)
    // napi's own conversion would recurse until the stack overflows: a crash, not an error.
    const cyclic = { a: [1] }
    cyclic.a.push(cyclic)
    const cycle = await rejection(session.startThread(cyclic))
    assertNativeError(cycle, 'INVALID_ARGUMENT', TypeError)
    assert.ok(cycle.message.includes('`params.a[1]`') && /cyclic/.test(cycle.message), cycle.message)
    const viaRequest = await rejection(session.request('thread/start', cyclic))
    assert.ok(viaRequest.message.includes('`params.a[1]`'), viaRequest.message)
    // A toJSON that throws is named, and its exception is not left pending.
    const threw = await rejection(session.request('thread/start', { a: { toJSON() { throw new Error('boom') } } }))
    assertNativeError(threw, 'INVALID_ARGUMENT', TypeError)
    assert.match(threw.message, /`params\.a`: its toJSON\(\) threw: boom/)
    // toJSON is honoured, as JSON.stringify would: a Date is its ISO string.
    assert.deepEqual(configOverrideArgs({ when: new Date(0) }), ['-c', 'when="1970-01-01T00:00:00.000Z"'])
    const nan = await rejection(session.listThreads({ limit: NaN }))
    assertNativeError(nan, 'INVALID_ARGUMENT', TypeError)
    assert.ok(nan.message.includes('`params.limit`'), nan.message)
  })
})

test('a response settles only after listeners saw the notifications sent before it', T, async () => {
  // 600 notifications of 1 KiB, then the response, every time. They take six batches (a
  // batch carries at most 112 KiB) and the pump hands JavaScript at most two at once; a slow
  // listener keeps it behind, so without the native wait the response overtakes the later ones.
  const BEFORE = 600
  const pad = 'x'.repeat(1024)
  const notes = Array.from({ length: BEFORE }, (_, i) => act.notify('fake/before', { i, pad }))
  await withFake({ on: { 'model/list': notes, 'thread/list': notes } }, async (session) => {
    let seen = 0
    session.onNotification('fake/before', () => {
      seen++
      const until = Date.now() + 0.05
      while (Date.now() < until) {
        // busy: a listener doing real work
      }
    })
    for (let round = 1; round <= 5; round++) {
      await session.listModels()
      assert.equal(seen, round * 2 * BEFORE - BEFORE, `listModels round ${round}: every earlier notification was seen`)
      await session.request('thread/list', {})
      assert.equal(seen, round * 2 * BEFORE, `request round ${round}: every earlier notification was seen`)
    }
  })
})

test('a response settles only after thread.onEvent listeners saw the thread\'s notifications sent before it', T, async () => {
  // As above, for a thread's listener: its pump is on the session's order too (src/order.rs).
  const BEFORE = 600
  const pad = 'x'.repeat(1024)
  const notes = Array.from({ length: BEFORE }, (_, i) => act.notify('fake/threadNote', { threadId: 'thr_1', i, pad }))
  await withFake({ on: { 'model/list': notes } }, async (session) => {
    const thread = await session.startThread()
    assert.equal(thread.id, 'thr_1')
    let seen = 0
    const off = thread.onEvent(() => {
      seen++
      const until = Date.now() + 0.05
      while (Date.now() < until) {
        // busy: a listener doing real work
      }
    })
    for (let round = 1; round <= 5; round++) {
      await session.listModels()
      assert.equal(seen, round * BEFORE, `round ${round}: every earlier notification of the thread was seen`)
    }
    off()
    await session.listModels()
    assert.equal(seen, 5 * BEFORE, 'nothing is handed over after the unsubscribe')
  })
})

test('result() after a consumed stream is built from what crossed, and equals the full result', T, async () => {
  const scenario = {
    turn: { deltas: 4 },
    turnsByText: { fail: { status: 'failed', error: { message: 'boom' } }, big: { flood: 300, deltaText: 'y'.repeat(512) } },
  }
  await withFake(scenario, async (session) => {
    const thread = await session.startThread()
    for (const text of ['hello', 'fail', 'big']) {
      // the iterator
      const turn = await thread.startTurn(text)
      const seen = []
      for await (const e of turn) if (e.method === 'item/completed') seen.push(e.params.item)
      const result = await turn.result()
      const full = await turn._result(undefined, 0)
      assert.deepEqual(result, full, `${text}: iterator`)
      assert.deepEqual(Object.keys(result), Object.keys(full), `${text}: same key order`)
      assert.ok(result.items.length > 0 && result.items.every((item, i) => item === seen[i]), `${text}: the items that crossed`)
      assert.notEqual(result.items, (await turn.result()).items, 'a fresh array each time')

      // onEvent, read to the end before result() is asked
      let done
      const ended = new Promise((r) => (done = r))
      const viaCallback = await thread.startTurn(text, { onEvent: (e) => e.method === 'turn/completed' && done() })
      // The callback keeps nothing alive by itself (a weak ThreadsafeFunction): hold the loop.
      const hold = setInterval(() => {}, 1 << 30)
      await ended
      clearInterval(hold)
      const r2 = await viaCallback.result()
      assert.deepEqual(r2, await viaCallback._result(undefined, 0), `${text}: onEvent`)

      // a stream left early: the full path
      const early = await thread.startTurn(text)
      for await (const e of early) if (e.method === 'turn/started') break
      const r3 = await early.result()
      assert.equal(r3.text, result.text.replace(result.turnId, r3.turnId), `${text}: early exit`)
      assert.equal(r3.items.length, result.items.length)
    }
  })
})

test('every option the generated SessionOptions declares is one the core validator knows', T, async () => {
  // index.d.ts's SessionOptions comes from src/options.rs; the options are read by the core's
  // `SessionOptions::from_json`. A field in one and not the other would be a typed option that
  // fails at run time ("is not a known session option").
  const dts = require('node:fs').readFileSync(require.resolve('../index.d.ts'), 'utf8')
  const body = dts.match(/^export interface SessionOptions \{\n([\s\S]*?)^\}/m)?.[1]
  assert.ok(body, 'index.d.ts declares SessionOptions')
  const fields = [...body.matchAll(/^ {2}(\w+)\?:/gm)].map((m) => m[1])
  assert.ok(fields.length >= 25 && fields.includes('transport') && fields.includes('onExit'), fields.join())
  for (const field of fields) {
    // A value of the wrong type for every option: the error names the option, as a known one.
    const err = await rejection(Session.create({ codexPath: '/nonexistent/codex', [field]: [true] }))
    assertNativeError(err, 'INVALID_ARGUMENT', TypeError)
    assert.match(err.message, new RegExp(`\`${field}[\`.[]`), field)
    assert.doesNotMatch(err.message, /not a known session option|not an option that takes/, field)
  }
  // And one it does not declare is refused, named.
  const unknown = await rejection(Session.create({ codexPath: '/nonexistent/codex', requestTimeoutMS: 5 }))
  assertNativeError(unknown, 'INVALID_ARGUMENT', TypeError)
  assert.match(unknown.message, /`requestTimeoutMS`: is not a known session option/)
})

test('a thread knows its session natively, however it was opened; onEvent errors of its turns reach that session', T, async () => {
  const errors = []
  await withFake(
    {},
    async (session) => {
      const started = await session.startThread()
      const threads = [
        started,
        await session.startEphemeralThread(),
        await session.resumeThread(started.id),
        await session.forkThread(started.id),
        await started.fork(),
        await session.unarchiveThread(started.id),
      ]
      for (const thread of threads) assert.equal(thread.session, session, thread.id)
      const forked = threads[4]
      const turn = await forked.startTurn('hi', {
        onEvent: (e) => {
          if (e.method === 'turn/started') throw new Error('from onEvent')
        },
      })
      await turn.result()
      assert.deepEqual(
        errors.map((e) => e.message),
        ['from onEvent'],
      )
    },
    { onError: (e) => errors.push(e) },
  )
})
