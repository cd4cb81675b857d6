'use strict'
// Turns: iteration, callbacks, text stream, results, interrupt/abort/steer, concurrency,
// session-wide notifications. Against the real codex with the loopback stand-in.

const test = require('node:test')
const assert = require('node:assert/strict')
const { reply, withSession, withStandIn, createSession, rejection } = require('./helpers.js')

const T = { timeout: 60_000 }

/** Text streamed slowly enough that the test can act while it streams. */
const slowText = (text, chunks = 40) => reply.text(text, { chunks, delayMs: 50 })

test('the iterator yields every event of the turn in order, turn/started to turn/completed', T, async () => {
  await withSession(async (session, model) => {
    const text = 'One, two, three, four, five.'
    model.enqueue(reply.text(text, { chunks: 5 }))
    const thread = await session.startThread()
    const turn = await thread.startTurn('count')
    const events = []
    for await (const event of turn) events.push(event)
    assert.equal(events[0].method, 'turn/started')
    assert.equal(events.at(-1).method, 'turn/completed')
    for (const e of events) {
      const id = e.params.turnId ?? e.params.turn?.id
      assert.equal(id, turn.id, `${e.method} belongs to the turn`)
    }
    const deltas = events.filter((e) => e.method === 'item/agentMessage/delta').map((e) => e.params.delta)
    assert.equal(deltas.length, 5)
    assert.equal(deltas.join(''), text, 'concatenated deltas equal the final text')
    const result = await turn.result()
    assert.equal(result.text, text)
    const completedItem = events.find((e) => e.method === 'item/completed' && e.params.item.type === 'agentMessage')
    assert.equal(completedItem.params.item.text, text)
    assert.equal(turn.finished, true)
  })
})

test('a turn has one consumer: a second iterator or textStream() is a clear error', T, async () => {
  await withSession(async (session, model) => {
    model.enqueue(reply.text('single consumer'))
    const turn = await (await session.startThread()).startTurn('x')
    const it = turn[Symbol.asyncIterator]()
    assert.throws(() => turn[Symbol.asyncIterator](), (err) => err.code === 'INVALID_ARGUMENT' && /one consumer/.test(err.message))
    assert.throws(() => turn.textStream(), /one consumer/)
    // The refused second consumers took nothing from the first: it still gets the whole turn.
    const events = []
    for (let r = await it.next(); !r.done; r = await it.next()) events.push(r.value)
    assert.equal(events[0].method, 'turn/started')
    assert.equal(events.at(-1).method, 'turn/completed')
    const deltas = events.filter((e) => e.method === 'item/agentMessage/delta').map((e) => e.params.delta)
    assert.equal(deltas.join(''), 'single consumer')
    assert.equal((await turn.result()).text, 'single consumer')
  })
})

test('textStream yields only the agent text; onEvent sees the same sequence as the iterator', T, async () => {
  await withSession(async (session, model) => {
    const text = 'Streaming text, delta by delta.'
    model.enqueue(reply.text(text, { chunks: 7 }), reply.text('second', { chunks: 2 }))
    const thread = await session.startThread()
    const viaCallback = []
    const turn = await thread.startTurn('a', { onEvent: (e) => viaCallback.push(e) })
    let streamed = ''
    for await (const delta of turn.textStream()) {
      assert.equal(typeof delta, 'string')
      streamed += delta
    }
    assert.equal(streamed, text)
    await turn.result()

    const callbackEvents = []
    const turn2 = await thread.startTurn('b', { onEvent: (e) => callbackEvents.push(e) })
    const iterated = []
    for await (const e of turn2) iterated.push(e)
    await turn2.result()
    assert.deepEqual(callbackEvents, iterated, 'callback and iterator see the same events')
    assert.equal(viaCallback.at(-1).method, 'turn/completed')
  })
})

test('a throwing onEvent neither stops the turn nor crashes; the error reaches onError', T, async () => {
  await withStandIn(async (model) => {
    const errors = []
    const session = await createSession(model, { onError: (err) => errors.push(err) })
    try {
      model.enqueue(reply.text('still completes', { chunks: 3 }))
      const thread = await session.startThread()
      const seen = []
      const result = await thread.run('x', {
        onEvent: (e) => {
          seen.push(e)
          throw new Error(`listener bug ${seen.length}`)
        },
      })
      assert.equal(result.status, 'completed')
      assert.equal(result.text, 'still completes')
      // The result settles only after the callback has seen every event, each throwing: the
      // whole turn, turn/started to turn/completed, and one error per call.
      assert.equal(seen[0].method, 'turn/started')
      assert.equal(seen.at(-1).method, 'turn/completed')
      const deltas = seen.filter((e) => e.method === 'item/agentMessage/delta').map((e) => e.params.delta)
      assert.equal(deltas.length, 3)
      assert.equal(deltas.join(''), 'still completes')
      assert.equal(errors.length, seen.length)
      errors.forEach((err, i) => assert.match(err.message, new RegExp(`^listener bug ${i + 1}$`)))
    } finally {
      await session.close()
    }
  })
})

test('result({ timeoutMs }) rejects REQUEST_TIMEOUT without cancelling; a later result() completes', T, async () => {
  await withSession(async (session, model) => {
    model.enqueue(slowText('slow but sure', 10))
    const turn = await (await session.startThread()).startTurn('x')
    const err = await rejection(turn.result({ timeoutMs: 1 }))
    assert.equal(err.code, 'REQUEST_TIMEOUT')
    const result = await turn.result()
    assert.equal(result.status, 'completed')
    assert.equal(result.text, 'slow but sure')
  })
})

test('interrupt() stops a streaming turn: status interrupted', T, async () => {
  await withSession(async (session, model) => {
    model.enqueue(slowText('a long answer that will not finish '.repeat(4), 80))
    const turn = await (await session.startThread()).startTurn('long')
    for await (const e of turn) {
      if (e.method === 'item/agentMessage/delta') {
        await turn.interrupt()
        break
      }
    }
    const result = await turn.result()
    assert.equal(result.status, 'interrupted')
  })
})

test('aborting the TurnOptions signal interrupts the turn', T, async () => {
  await withSession(async (session, model) => {
    model.enqueue(slowText('never finished '.repeat(8), 80))
    const controller = new AbortController()
    const thread = await session.startThread()
    const turn = await thread.startTurn('long', { signal: controller.signal })
    const sawDelta = new Promise((resolve) => {
      ;(async () => {
        for await (const e of turn) if (e.method === 'item/agentMessage/delta') return resolve()
      })()
    })
    await sawDelta
    controller.abort()
    const result = await turn.result()
    assert.equal(result.status, 'interrupted')
  })
})

test('a signal aborted before the turn exists interrupts it as soon as it does', T, async () => {
  await withSession(async (session, model) => {
    model.enqueue(slowText('too late '.repeat(8), 80))
    const thread = await session.startThread()
    const result = await thread.run('x', { signal: AbortSignal.abort() })
    assert.equal(result.status, 'interrupted')
  })
})

test('aborting the result() signal interrupts the turn too', T, async () => {
  await withSession(async (session, model) => {
    model.enqueue(slowText('interrupted via result '.repeat(4), 80))
    const turn = await (await session.startThread()).startTurn('x')
    const controller = new AbortController()
    const pending = turn.result({ signal: controller.signal })
    await model.nextRequest()
    controller.abort()
    assert.equal((await pending).status, 'interrupted')
  })
})

test('steer() reaches the model: the next request carries the steer text', T, async () => {
  await withSession(async (session, model) => {
    model.enqueue(slowText('working on it ', 20), reply.text('steered answer'))
    const turn = await (await session.startThread()).startTurn('start')
    await model.nextRequest()
    await turn.steer('Actually, answer in French.')
    const result = await turn.result()
    assert.equal(result.status, 'completed')
    const next = await model.nextRequest({ timeoutMs: 10_000 })
    assert.ok(next.userTexts.includes('Actually, answer in French.'), JSON.stringify(next.userTexts))
    assert.equal(result.text, 'steered answer')
  })
})

test('8 threads run a turn each, concurrently on one session; each gets its own answer', T, async () => {
  await withSession(async (session, model) => {
    model.respondWith((req) => reply.text(`reply to [${req.lastUserText}]`, { chunks: 4, delayMs: 5 }))
    const threads = await Promise.all(Array.from({ length: 8 }, () => session.startThread()))
    const turns = await Promise.all(threads.map((t, i) => t.startTurn(`prompt ${i}`)))
    const texts = await Promise.all(
      turns.map(async (turn) => {
        let text = ''
        for await (const e of turn) {
          assert.equal(e.params.turnId ?? e.params.turn?.id, turn.id, 'no foreign event')
          if (e.method === 'item/agentMessage/delta') text += e.params.delta
        }
        return text
      }),
    )
    texts.forEach((text, i) => assert.equal(text, `reply to [prompt ${i}]`))
    const results = await Promise.all(turns.map((t) => t.result()))
    results.forEach((r, i) => assert.equal(r.text, `reply to [prompt ${i}]`))
    assert.equal(session._stats().liveTurns, 0)
  })
})

test('onNotification sees every notification unchanged; waitForNotification resolves params', T, async () => {
  await withStandIn(async (model) => {
    const fromStart = []
    const session = await createSession(model, { onNotification: (n) => fromStart.push(n) })
    try {
      // Startup notifications (sent before any thread exists) are not lost: the option's
      // listener is subscribed before the handshake.
      if (!fromStart.some((n) => n.method === 'remoteControl/status/changed')) {
        await session.waitForNotification('remoteControl/status/changed', { timeoutMs: 10_000 })
      }
      assert.equal(fromStart.filter((n) => n.method === 'remoteControl/status/changed').length, 1)
      const completed = []
      const off = session.onNotification('turn/completed', (n) => completed.push(n))
      const all = []
      const offAll = session.onNotification('*', (n) => all.push(n))
      model.enqueue(reply.text('watched'))
      const thread = await session.startThread()
      const waiting = session.waitForNotification('turn/completed', {
        predicate: (p) => p.threadId === thread.id,
        timeoutMs: 30_000,
      })
      const turn = await thread.startTurn('x')
      const iterated = []
      for await (const e of turn) iterated.push(e)
      const params = await waiting
      assert.equal(params.turn.id, turn.id)
      assert.equal(completed.length, 1)
      assert.equal(completed[0].params.turn.status, 'completed')
      // The session stream carries the turn's events unchanged, plus thread-level ones.
      const sessionTurnEvents = all.filter((n) => (n.params.turnId ?? n.params.turn?.id) === turn.id)
      assert.deepEqual(sessionTurnEvents, iterated)
      assert.ok(all.some((n) => n.method === 'thread/status/changed'))
      off()
      offAll()
      assert.equal(session._stats().listeners, 1, 'only the onNotification option still listens')
      const timeout = await rejection(session.waitForNotification('never/sent', { timeoutMs: 20 }))
      assert.equal(timeout.code, 'REQUEST_TIMEOUT')
      const controller = new AbortController()
      const aborted = session.waitForNotification('never/sent', { signal: controller.signal })
      controller.abort()
      assert.equal((await rejection(aborted)).code, 'ABORTED')
      const pendingAtClose = session.waitForNotification('never/sent')
      await session.close()
      assert.equal((await rejection(pendingAtClose)).code, 'SESSION_CLOSED')
    } finally {
      await session.close()
    }
  })
})

test('startTurn on a thread whose turn is running: codex adds the input to that turn, and the Turn returned is another view of it', T, async () => {
  await withSession(async (session, model) => {
    model.enqueue(slowText('The first answer streams slowly enough for a second input.'))
    model.enqueue(reply.text('Then the added input is answered.'))
    const thread = await session.startThread()
    const first = await thread.startTurn('first')
    // The second input goes in while the first answer streams.
    for await (const event of first) if (event.method === 'item/agentMessage/delta') break
    const second = await thread.startTurn('added while running')
    assert.equal(second.id, first.id, 'codex answered with the running turn')
    const [a, b] = await Promise.all([first.result(), second.result()])
    assert.equal(a.status, 'completed')
    assert.deepEqual(b, a, 'one turn, one result')
  })
})
