'use strict'
// Behaviour the real codex cannot be made to show on cue, driven by the scripted fake
// app-server (testing/fake-app-server.js): interleaving at scale, crashes, malformed and
// oversized frames, overload, hangs, early events, server requests, bad exits.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const test = require('node:test')
const assert = require('node:assert/strict')
const { Session, ApprovalPolicy, declineCommand } = require('../main.js')
const { fakeServer, act } = require('../testing/fake-scenario.js')
const { rejection, isAlive } = require('./helpers.js')

const T = { timeout: 60_000 }

/** Runs `fn(session, fake)` against a fake server playing `scenario`. */
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

/** Collects a turn's events; resolves with them, or rejects after keeping what came first. */
async function drain(turn, into = []) {
  for await (const e of turn) into.push(e)
  return into
}

test('1,000 concurrent turns with interleaved events: each gets all of its own, in order', { timeout: 120_000 }, async () => {
  const TURNS = 1000
  const DELTAS = 5
  await withFake({ batch: { size: TURNS, deltas: DELTAS } }, async (session, fake) => {
    const threads = await Promise.all(Array.from({ length: TURNS }, () => session.startThread()))
    const turns = await Promise.all(threads.map((t, i) => t.startTurn(`turn ${i}`)))
    // turns[i] is the turn the server started on threads[i], for input "turn i".
    const inputByThread = new Map(fake.requests('turn/start').map((r) => [r.params.threadId, r.params.input]))
    assert.equal(inputByThread.size, TURNS, 'one turn/start per thread')
    threads.forEach((thread, i) => {
      assert.equal(turns[i].threadId, thread.id, `turn ${i} is on its thread`)
      assert.deepEqual(inputByThread.get(thread.id)?.map((x) => x.text), [`turn ${i}`], `thread ${i} got its own input`)
    })
    const perTurn = await Promise.all(turns.map((turn) => drain(turn)))
    perTurn.forEach((events, i) => {
      const turn = turns[i]
      for (const e of events) {
        assert.equal(e.params.turnId ?? e.params.turn?.id, turn.id, 'misrouted event')
        assert.equal(e.params.threadId, threads[i].id, 'event of another thread')
      }
      assert.equal(events[0].method, 'turn/started')
      assert.equal(events.at(-1).method, 'turn/completed')
      const deltas = events.filter((e) => e.method === 'item/agentMessage/delta').map((e) => e.params.delta)
      assert.deepEqual(deltas, Array.from({ length: DELTAS }, (_, j) => `${turn.id}:${j};`), 'lost or reordered deltas')
    })
    const results = await Promise.all(turns.map((t) => t.result()))
    results.forEach((r, i) => {
      assert.equal(r.turnId, turns[i].id)
      assert.equal(r.threadId, threads[i].id)
      assert.equal(r.text, Array.from({ length: DELTAS }, (_, j) => `${turns[i].id}:${j};`).join(''))
    })
    assert.deepEqual(session._stats(), { liveTurns: 0, listeners: 0, pendingRequests: 0, pendingServerRequests: 0, threadSubscribers: 0 })
  })
})

test('events sent before the turn/start response are kept, even the whole turn', T, async () => {
  for (const early of [2, 'all']) {
    await withFake({ turn: { early, text: 'early bird', deltas: 3 } }, async (session) => {
      const turn = await (await session.startThread()).startTurn('x')
      const events = await drain(turn)
      assert.equal(events[0].method, 'turn/started', `early=${early}`)
      assert.equal(events.at(-1).method, 'turn/completed')
      assert.equal(events.filter((e) => e.method === 'item/agentMessage/delta').length, 3)
      assert.equal((await turn.result()).text, 'early bird')
    })
  }
})

test('a crash mid-request rejects it TRANSPORT_CLOSED with the stderr tail; session.closed turns true', T, async () => {
  await withFake({ on: { 'model/list': [{ do: 'crash', code: 3, stderr: 'fake: dying in model/list' }] } }, async (session) => {
    const started = Date.now()
    const err = await rejection(session.listModels())
    assert.ok(Date.now() - started < 1000, 'settled within a second')
    assert.equal(err.code, 'TRANSPORT_CLOSED')
    assert.match(err.stderrTail, /fake: dying in model\/list/)
    assert.match(err.message, /fake: dying in model\/list/)
    assert.equal(session.closed, true)
    assert.equal((await rejection(session.startThread())).code, 'TRANSPORT_CLOSED')
  })
})

test('a crash mid-turn delivers what arrived, then rejects the iterator and result', T, async () => {
  await withFake({ turn: { deltas: 5, at: { 2: [{ do: 'crash', signal: 'SIGKILL' }] } } }, async (session) => {
    const turn = await (await session.startThread()).startTurn('x')
    const received = []
    const err = await rejection(drain(turn, received))
    assert.equal(err.code, 'TRANSPORT_CLOSED')
    assert.equal(received.filter((e) => e.method === 'item/agentMessage/delta').length, 2, 'nothing received was lost')
    assert.equal((await rejection(turn.result())).code, 'TRANSPORT_CLOSED')
    const waiting = await rejection(session.waitForNotification('never/sent'))
    assert.equal(waiting.code, 'TRANSPORT_CLOSED')
  })
})

test('a malformed line and an answer to an unknown id are reported and skipped', T, async () => {
  const errors = []
  await withFake(
    { on: { 'thread/start': [{ do: 'malformed' }, { do: 'strayResponse', id: 424242 }] } },
    async (session) => {
      const thread = await session.startThread()
      assert.equal(await thread.ask('still works'), 'echo: still works')
      assert.equal(errors.length, 2, errors.map((e) => e.message).join('; '))
      assert.ok(errors.every((e) => e.code === 'PROTOCOL_ERROR'))
      assert.match(errors[0].message, /undecodable/)
      assert.match(errors[1].message, /424242/)
    },
    { onError: (e) => errors.push(e) },
  )
})

test('a line that is not UTF-8 is a PROTOCOL_ERROR to onError, skipped; the session and the turn go on', T, async () => {
  const errors = []
  // Well-formed JSON around bytes that are not UTF-8: 0xff never occurs in UTF-8, and 0xc3 0x28
  // is a lead byte followed by a non-continuation.
  const notUtf8 = (tag) => Buffer.concat([Buffer.from(`{"method":"fake/${tag}","params":{"s":"`), Buffer.from([0xff, 0xc3, 0x28]), Buffer.from('"}}')])
  const scenario = {
    on: { 'thread/start': [act.rawBytes(notUtf8('beforeThread'))] },
    turns: { 1: { deltas: ['a', 'b', 'c'], at: { 1: [act.rawBytes(notUtf8('midTurn'))] } } },
  }
  const seen = []
  await withFake(
    scenario,
    async (session) => {
      const thread = await session.startThread()
      const turn = await thread.startTurn('x')
      const events = await drain(turn)
      assert.deepEqual(events.filter((e) => e.method === 'item/agentMessage/delta').map((e) => e.params.delta), ['a', 'b', 'c'])
      assert.equal((await turn.result()).text, 'abc')
      assert.equal(errors.length, 2, errors.map((e) => e.message).join('; '))
      for (const e of errors) {
        assert.equal(e.code, 'PROTOCOL_ERROR')
        assert.match(e.message, /UTF-8/)
      }
      assert.ok(!seen.some((m) => m.startsWith('fake/')), 'an undecodable line reached a listener')
      assert.equal(await thread.ask('still works'), 'echo: still works')
    },
    { onError: (e) => errors.push(e), onNotification: (n) => seen.push(n.method) },
  )
})

test('a frame over maxMessageBytes is a PROTOCOL_ERROR, skipped without buffering it; the session goes on', T, async () => {
  const errors = []
  await withFake(
    { on: { 'thread/start': [{ do: 'bigLine', mib: 8, chunkKiB: 256 }] } },
    async (session) => {
      const rssBefore = process.memoryUsage().rss
      const thread = await session.startThread()
      assert.equal(await thread.ask('after the big line'), 'echo: after the big line')
      assert.equal(errors.length, 1)
      assert.equal(errors[0].code, 'PROTOCOL_ERROR')
      assert.match(errors[0].message, /8388\d{3} bytes: over the size limit/)
      assert.ok(process.memoryUsage().rss - rssBefore < 6 * 1024 * 1024, 'the oversized frame was not buffered')
    },
    { maxMessageBytes: 1024 * 1024, onError: (e) => errors.push(e) },
  )
})

test('SERVER_OVERLOADED is retried with backoff; with retries off it surfaces with rpcCode -32001', T, async () => {
  const scenario = { on: { 'model/list': [{ do: 'error', code: -32001, times: 2 }] } }
  await withFake(scenario, async (session, fake) => {
    assert.ok(Array.isArray((await session.listModels()).data))
    assert.equal(fake.requests('model/list').length, 3)
  }, { overloadRetry: { maxAttempts: 4, initialDelayMs: 5, maxDelayMs: 20 } })
  await withFake(scenario, async (session, fake) => {
    const err = await rejection(session.listModels())
    assert.equal(err.code, 'SERVER_OVERLOADED')
    assert.equal(err.rpcCode, -32001)
    assert.equal(fake.requests('model/list').length, 1)
  }, { overloadRetry: false })
})

test('a request that is never answered times out; a turn that never finishes can be interrupted', T, async () => {
  await withFake({ on: { 'model/list': [{ do: 'hang' }] }, turn: { hang: true, deltas: 1 } }, async (session) => {
    const err = await rejection(session.request('model/list', {}, { timeoutMs: 50 }))
    assert.equal(err.code, 'REQUEST_TIMEOUT')
    assert.equal(session._stats().pendingRequests, 0)
    const turn = await (await session.startThread()).startTurn('x')
    assert.equal((await rejection(turn.result({ timeoutMs: 50 }))).code, 'REQUEST_TIMEOUT')
    await turn.interrupt()
    assert.equal((await turn.result()).status, 'interrupted')
  })
})

test('server requests: unknown methods get -32601, approvals are declined by default', T, async () => {
  const scenario = {
    turn: {
      deltas: 2,
      at: {
        1: [
          { do: 'serverRequest', method: 'fake/unknownRequest', params: { threadId: '$threadId', turnId: '$turnId' } },
          { do: 'approval', command: 'rm -rf /', cwd: '/' },
        ],
      },
    },
  }
  await withFake(scenario, async (session, fake) => {
    const result = await (await session.startThread()).run('x')
    assert.equal(result.status, 'completed')
    const answers = fake.answers()
    assert.equal(answers.length, 2)
    assert.equal(answers[0].error.code, -32601)
    assert.deepEqual(answers[1].result, { decision: 'decline' })
  })
})

test('two pending requests with one id: each handler is aborted when its own request is resolved', T, async () => {
  // The protocol lets a server reuse a request id; the core resolves the oldest pending one of
  // that id. Each JavaScript handler must keep its own AbortSignal.
  const approval = (itemId) =>
    act.serverRequest('item/commandExecution/requestApproval', { threadId: '$threadId', turnId: '$turnId', itemId, command: itemId }, { id: 5, await: false })
  const resolved = act.notify('serverRequest/resolved', { threadId: '$threadId', requestId: 5 })
  const scenario = {
    turn: { hang: true, at: { 0: [approval('first'), approval('second')] } },
    on: { 'fake/resolveOne': [resolved, act.respond({})] },
  }
  const handlers = new Map() // itemId -> { signal, aborted: Promise }
  let bothRunning
  const running = new Promise((resolve) => (bothRunning = resolve))
  const policy = ApprovalPolicy.custom({
    onCommandExecution: (params, { signal }) => {
      const aborted = new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))
      handlers.set(params.itemId, { signal, aborted })
      if (handlers.size === 2) bothRunning()
      return aborted.then(() => declineCommand())
    },
  })
  await withFake(scenario, async (session) => {
    const thread = await session.startThread()
    const turn = await thread.startTurn('x')
    // A pending result() keeps Node alive while the handlers wait (close() settles it).
    const settled = turn.result().catch((err) => err.code)
    await running
    await session.request('fake/resolveOne', {})
    await handlers.get('first').aborted
    assert.equal(handlers.get('second').signal.aborted, false, 'resolving the first request aborted the second handler')
    await session.request('fake/resolveOne', {})
    await handlers.get('second').aborted
    await session.close()
    assert.equal(await settled, 'SESSION_CLOSED')
  }, { approvalPolicy: policy })
})

test('a server that exits during initialize is SPAWN_FAILED with its stderr tail', T, async () => {
  const fake = fakeServer({ on: { initialize: [{ do: 'exit', code: 5, stderr: 'fake: refusing to initialize' }] } })
  try {
    const err = await rejection(Session.create({ ...fake }))
    assert.equal(err.code, 'SPAWN_FAILED')
    assert.match(err.stderrTail, /fake: refusing to initialize/)
    assert.doesNotMatch(err.message, /Tried: $/m)
  } finally {
    fake.cleanup()
  }
})

test('stdout closed while the process runs on: TRANSPORT_CLOSED; close() escalates to SIGKILL', T, async () => {
  const scenario = { ignoreStdinEof: true, ignoreSigterm: true, on: { 'model/list': [{ do: 'closeStdout' }, { do: 'hang' }] } }
  await withFake(scenario, async (session, fake) => {
    const pid = session.pid
    assert.equal((await rejection(session.listModels())).code, 'TRANSPORT_CLOSED')
    assert.equal(isAlive(pid), true, 'the process is still running')
    const started = Date.now()
    await session.close()
    assert.equal(isAlive(pid), false, 'close() killed it')
    assert.ok(fake.sawSigterm(), 'SIGTERM came before SIGKILL')
    assert.ok(Date.now() - started < 2000)
  }, { shutdownGraceMs: 200 })
})

test('a slow consumer loses nothing: 200,000 events buffered while JS reads nothing, then read in order', { timeout: 120_000 }, async () => {
  const { slowConsumer } = require('../scripts/slow-consumer.js')
  const r = await slowConsumer({ events: 200_000 })
  // The turn ended (result() settled) before JavaScript read one event: a reader that waited
  // on JavaScript could not have passed 20 MB through the 64 KiB pipe, and the test would hang
  // until its timeout. The next two tests show the server is not held back, with times.
  assert.equal(r.delivered, 200_000)
})

/**
 * Blocks the JavaScript thread: starts the server's flood (creates `gate.start`), then spins,
 * running nothing else, until the server says it has written the whole flood (`gate.end`
 * exists) or `capMs` passed. A reader that waited on JavaScript would leave the server stuck
 * at the full pipe (64 KiB) for as long as JavaScript is blocked: the cap is then reached.
 * Returns whether the flood ended while JavaScript was blocked.
 */
function blockJsDuringFlood(gate, capMs = 30_000) {
  fs.writeFileSync(gate.start, '')
  const until = Date.now() + capMs
  while (Date.now() < until) {
    if (fs.existsSync(gate.end)) return true
  }
  return false
}

/** The two files of a gated flood, in a fresh directory. */
function floodGate(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codex-native-flood-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return { start: path.join(dir, 'start'), end: path.join(dir, 'end') }
}

/** Checks a flood turn's events: every delta, in order, then the server's end-of-flood report. */
function checkFlood(turn, events, lines) {
  let j = 0
  for (const e of events) {
    if (e.method !== 'item/agentMessage/delta') continue
    if (e.params.delta !== `${turn.id}:${j};`) assert.fail(`delta ${j} lost or out of order: ${e.params.delta}`)
    j++
  }
  assert.equal(j, lines, 'every delta delivered')
  const report = events.find((e) => e.method === 'fake/flood/ended')
  assert.equal(report.params.lines, lines)
  return report.params.at
}

// 100,000 deltas (9 MB), far more than the pipe holds: the server can finish writing them only
// if the client reads on while JavaScript is blocked. The flood starts only once JavaScript is
// blocked, and JavaScript stays blocked until the server has written it all (or 30 s passed).
const FLOOD = 100_000

test('JavaScript blocked by a busy loop: the server finishes its flood meanwhile, and nothing is lost', T, async (t) => {
  const gate = floodGate(t)
  const turnSpec = { flood: FLOOD, indexed: true, floodReport: true, floodStartFile: gate.start, floodEndFile: gate.end }
  await withFake({ turn: turnSpec }, async (session) => {
    const turn = await (await session.startThread()).startTurn('flood')
    assert.ok(blockJsDuringFlood(gate), 'the server could not finish its flood while JavaScript was blocked')
    const events = await drain(turn)
    checkFlood(turn, events, FLOOD)
    const result = await turn.result()
    assert.equal(result.text.length, events.filter((e) => e.method === 'item/agentMessage/delta').reduce((n, e) => n + e.params.delta.length, 0))
  })
})

test('JavaScript blocked in a slow onEvent callback: the server finishes its flood meanwhile, and nothing is lost', T, async (t) => {
  const gate = floodGate(t)
  const turnSpec = { flood: FLOOD, indexed: true, floodReport: true, floodStartFile: gate.start, floodEndFile: gate.end }
  await withFake({ turn: turnSpec }, async (session) => {
    const events = []
    let endedWhileBlocked
    const onEvent = (e) => {
      events.push(e)
      // The callback of the turn's first event blocks until the whole flood was written.
      if (endedWhileBlocked === undefined) endedWhileBlocked = blockJsDuringFlood(gate)
    }
    const turn = await (await session.startThread()).startTurn('flood', { onEvent })
    const result = await turn.result() // settles after onEvent has seen every event
    assert.equal(endedWhileBlocked, true, 'the server could not finish its flood while onEvent was blocked')
    checkFlood(turn, events, FLOOD)
    assert.equal(result.status, 'completed')
    assert.equal(events.at(-1).method, 'turn/completed')
  })
})

test('unknown notifications, fields and item types pass through unchanged', T, async () => {
  const novel = { method: 'future/notification', params: { threadId: '$threadId', turnId: '$turnId', shiny: { nested: [1, 2] } } }
  const hologram = { type: 'hologram', id: 'h1', intensity: 0.5, extraField: 'kept' }
  const scenario = {
    turn: {
      deltas: 2,
      at: {
        1: [
          { do: 'notify', method: novel.method, params: novel.params },
          { do: 'notify', method: 'item/completed', params: { threadId: '$threadId', turnId: '$turnId', item: hologram, futureKey: true } },
        ],
      },
    },
  }
  const all = []
  await withFake(
    scenario,
    async (session) => {
      const turn = await (await session.startThread()).startTurn('x')
      const events = await drain(turn)
      const future = events.find((e) => e.method === 'future/notification')
      assert.deepEqual(future.params, { threadId: turn.threadId, turnId: turn.id, shiny: { nested: [1, 2] } })
      const completed = events.find((e) => e.method === 'item/completed' && e.params.item.type === 'hologram')
      assert.deepEqual(completed.params.item, hologram)
      assert.equal(completed.params.futureKey, true)
      const result = await turn.result()
      assert.deepEqual(result.items.find((i) => i.type === 'hologram'), hologram)
      assert.deepEqual(all.find((n) => n.method === 'future/notification'), future)
    },
    { onNotification: (n) => all.push(n) },
  )
})

test('a response settles only after listeners have seen the notifications sent before it', T, async () => {
  const perCall = 200
  const notes = Array.from({ length: perCall }, (_, i) => ({ do: 'notify', method: 'fake/progress', params: { i } }))
  const seen = []
  await withFake(
    { on: { 'model/list': notes } },
    async (session) => {
      for (let call = 1; call <= 20; call++) {
        await session.listModels()
        // Sent before the response on the same stream, so all must have been delivered already.
        assert.equal(seen.length, call * perCall, `after listModels() call ${call}`)
      }
      assert.deepEqual(seen.slice(0, perCall), notes.map((n) => n.params.i))
    },
    { onNotification: (n) => n.method === 'fake/progress' && seen.push(n.params.i) },
  )
})

test('non-ASCII text arrives intact through the iterator, textStream(), onEvent and the result', T, async () => {
  // Latin-1-range letters (a wrong one-byte path shows them as "Ã©"), CJK and an emoji (a
  // surrogate pair in JavaScript), with ASCII-only deltas around them.
  const pieces = ['plain ascii, ', 'café ', '日本語 ', '🎉', ' done']
  const text = pieces.join('')
  await withFake({ turn: { deltas: pieces } }, async (session) => {
    const thread = await session.startThread()
    const iterated = await drain(await thread.startTurn('x'))
    const deltas = iterated.filter((e) => e.method === 'item/agentMessage/delta').map((e) => e.params.delta)
    assert.deepEqual(deltas, pieces)

    const streamed = await thread.startTurn('x')
    let joined = ''
    for await (const chunk of streamed.textStream()) joined += chunk
    assert.equal(joined, text)
    assert.equal((await streamed.result()).text, text)

    const called = []
    const calledBack = await thread.startTurn('x', { onEvent: (e) => called.push(e) })
    await calledBack.result() // settles after onEvent has seen every event
    assert.deepEqual(called.filter((e) => e.method === 'item/agentMessage/delta').map((e) => e.params.delta), pieces)
  })
})

test('next() called many times without waiting: answers come in stream order, then done', T, async () => {
  await withFake({ turn: { deltas: ['a', 'b', 'c', 'd'], delayMs: 30 } }, async (session) => {
    const turn = await (await session.startThread()).startTurn('x')
    const it = turn[Symbol.asyncIterator]()
    // More calls than the turn has events, all at once; several of them wait on the stream.
    const results = await Promise.all(Array.from({ length: 12 }, () => it.next()))
    const methods = results.filter((r) => !r.done).map((r) => r.value.method)
    const fourDeltas = Array(4).fill('item/agentMessage/delta')
    const expected = ['turn/started', 'item/started', ...fourDeltas, 'item/completed', 'thread/tokenUsage/updated', 'turn/completed']
    assert.deepEqual(methods, expected)
    const deltas = results.filter((r) => r.value?.method === 'item/agentMessage/delta').map((r) => r.value.params.delta)
    assert.deepEqual(deltas, ['a', 'b', 'c', 'd'])
    assert.ok(results.slice(methods.length).every((r) => r.done), 'the calls past the end are done')
    assert.deepEqual(await it.next(), { done: true, value: undefined })
  })
})
