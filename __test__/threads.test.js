'use strict'
// Thread-wide events, joining a turn in progress (two clients on one websocket server), goals.

const test = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const { Session } = require('../main.js')
const { createModelStandIn, reply } = require('../testing')
const { codexBinary, withSession, rejection } = require('./helpers.js')

const T = { timeout: 90_000 }

/** Resolves once `condition()` holds (checked every 10 ms), failing after `withinMs`. An unsubscribed pump lets go of its stream on the runtime, a moment after `off()`. */
async function until(condition, what, withinMs = 5_000) {
  const deadline = Date.now() + withinMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within ${withinMs} ms: ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** `codex app-server --listen ws://127.0.0.1:0` wired to the stand-in; resolves with its URL (read from its banner). */
function startWebSocketServer(model) {
  const child = spawn(codexBinary(), ['app-server', '--listen', 'ws://127.0.0.1:0', ...model.codexArgs()], {
    env: { ...process.env, ...model.sessionOptions().env },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  const url = new Promise((resolve, reject) => {
    child.stderr.on('data', (d) => {
      stderr += d
      const m = /listening on: (ws:\/\/127\.0\.0\.1:\d+)/.exec(stderr)
      if (m) resolve(m[1])
    })
    child.on('exit', (code) => reject(new Error(`codex exited (${code}) before listening: ${stderr}`)))
  })
  return { child, url }
}

test('a second client joins a turn in progress: its stream starts at the join, its result is whole; events() sees the other client\'s turn', T, async () => {
  const model = await createModelStandIn()
  const server = startWebSocketServer(model)
  try {
    const url = await server.url
    const a = await Session.create({ transport: { type: 'websocket', url } })
    const b = await Session.create({ transport: { type: 'websocket', url } })
    const answer = 'one two three four five six seven eight nine ten'
    model.enqueue(reply.text(answer, { chunks: 10, delayMs: 400 }))
    const threadA = await a.startThread()
    const turnA = await threadA.startTurn('count to ten')
    // A has seen the first delta before B even subscribes: B's stream cannot have it.
    const iterA = turnA[Symbol.asyncIterator]()
    for (;;) {
      const { value } = await iterA.next()
      if (value.method === 'item/agentMessage/delta') break
    }

    const threadB = await b.resumeThread(threadA.id)
    const seen = []
    const off = threadB.onEvent((e) => seen.push(e.method))
    const events = threadB.events()
    const joined = await threadB.currentTurn()
    assert.ok(joined, 'a turn is in progress')
    assert.equal(joined.id, turnA.id)
    assert.equal(joined.threadId, threadA.id)
    let streamed = ''
    for await (const e of joined) if (e.method === 'item/agentMessage/delta') streamed += e.params.delta
    assert.ok(streamed.length > 0 && streamed.length < answer.length, `B streamed only what came after the join: "${streamed}"`)
    assert.ok(answer.endsWith(streamed))

    const result = await joined.result()
    assert.equal(result.status, 'completed')
    assert.equal(result.text, answer, 'the whole answer, though B joined half-way')
    // The items the turn had before the join come from the server, once each.
    assert.deepEqual(
      result.items.map((i) => i.type),
      ['userMessage', 'agentMessage'],
    )
    assert.equal((await turnA.result()).text, answer)
    assert.equal(await threadB.currentTurn(), null, 'no turn in progress after completion')

    // The thread-wide stream saw A's turn through to its completion.
    const methods = []
    for await (const e of events) {
      methods.push(e.method)
      if (e.method === 'turn/completed') {
        assert.equal(e.params.turn.id, turnA.id)
        break
      }
    }
    assert.ok(methods.includes('item/completed'))
    assert.ok(seen.includes('turn/completed'), 'onEvent saw it before result() settled')
    off()
    await until(() => b._stats().threadSubscribers === 0, 'break and the unsubscribe function end both subscriptions')
    await a.close()
    await b.close()
  } finally {
    server.child.kill('SIGKILL')
    await model.close()
  }
})

test('thread.onEvent sees every event of a turn before its result settles; currentTurn() of a turn this client runs shares it', T, () =>
  withSession(async (session, model) => {
    const thread = await session.startThread()
    const other = await session.startThread()
    assert.equal(await thread.currentTurn(), null, 'an idle thread has no turn in progress')
    const seen = []
    const off = thread.onEvent((e) => seen.push(e))
    const elsewhere = []
    const offOther = other.onEvent((e) => elsewhere.push(e))

    model.enqueue(reply.text('first', { chunks: 3 }))
    const first = await thread.run('one')
    // Rule 8: run() settled after the listener saw the whole turn.
    assert.equal(seen.at(-1).method, 'turn/completed')
    assert.equal(seen.at(-1).params.turn.id, first.turnId)

    model.enqueue(reply.text('second answer', { chunks: 4, delayMs: 100 }))
    const turn = await thread.startTurn('two')
    const shared = await thread.currentTurn()
    assert.ok(shared)
    assert.equal(shared.id, turn.id)
    const [own, view] = await Promise.all([turn.result(), shared.result()])
    assert.equal(own.text, 'second answer')
    assert.deepEqual(view, own, 'one turn, one result')
    assert.deepEqual(
      seen.filter((e) => e.method === 'turn/completed').map((e) => e.params.turn.id),
      [first.turnId, turn.id],
      'across turns',
    )
    assert.deepEqual(elsewhere, [], 'nothing of another thread')
    off()
    offOther()
    off()
    await until(() => session._stats().threadSubscribers === 0, 'no subscription left')
  }),
)

test('a goal runs across the turns the server starts for it: one stream, one result', T, () =>
  withSession(
    async (session, model) => {
      const thread = await session.startThread()
      // Turn 1 answers; the goal is still active, so codex continues by itself; in turn 2
      // the model marks the goal complete (its update_goal tool), then answers.
      model.enqueue(reply.text('step one done'))
      model.enqueue(reply.functionCall('update_goal', { status: 'complete' }))
      model.enqueue(reply.text('goal complete'))
      const run = await thread.runGoal('do two steps')
      const methods = []
      for await (const e of run) methods.push(e.method)
      const result = await run.result()
      assert.equal(result.threadId, thread.id)
      assert.equal(result.goal?.status, 'complete')
      assert.equal(result.goal?.objective, 'do two steps')
      assert.deepEqual(
        result.turns.map((t) => [t.status, t.text]),
        [
          ['completed', 'step one done'],
          ['completed', 'goal complete'],
        ],
      )
      assert.equal(result.text, 'goal complete')
      assert.equal(methods.filter((m) => m === 'turn/completed').length, 2)
      assert.equal(methods.at(-1), 'turn/completed')
      assert.equal(result.items.filter((i) => i.type === 'agentMessage').length, 2)
      // Three model responses of 10 input + 5 output tokens each.
      assert.equal(result.usage.totalTokens, 45)
      assert.equal(result.usage.outputTokens, 15)
      assert.equal(model.requests.length, 3)

      assert.equal((await thread.goal())?.status, 'complete')
      assert.equal(await thread.clearGoal(), true)
      assert.equal(await thread.goal(), null)

      // A goal set paused starts no turn: its run ends at once (result() without reading it).
      const paused = await thread.runGoal('later', { status: 'paused' })
      const pausedResult = await paused.result()
      assert.equal(pausedResult.goal?.status, 'paused')
      assert.deepEqual(pausedResult.turns, [])
      assert.equal(model.requests.length, 3, 'no model request for a paused goal')
      assert.equal((await thread.setGoal({ status: 'complete' })).status, 'complete')
      assert.equal(session._stats().threadSubscribers, 0)
    },
    { experimentalApi: true },
  ),
)

test('goals need experimentalApi; bad arguments are clear errors', T, () =>
  withSession(async (session) => {
    const thread = await session.startThread()
    for (const call of [() => thread.runGoal('x'), () => thread.goal(), () => thread.clearGoal()]) {
      const err = await rejection(call())
      assert.equal(err.code, 'INVALID_ARGUMENT')
      assert.match(err.message, /experimentalApi: true/)
    }
    assert.equal(session._stats().threadSubscribers, 0, 'a refused runGoal leaves no subscription')
    for (const [args, name] of [
      [[''], 'objective'],
      [[42], 'objective'],
      [['x', 'fast'], 'options'],
      [['x', { objective: 'y' }], 'options'],
    ]) {
      const err = await rejection(thread.runGoal(...args))
      assert.equal(err.code, 'INVALID_ARGUMENT')
      assert.ok(err.message.includes(`\`${name}\``), err.message)
    }
    assert.throws(() => thread.onEvent('nope'), { code: 'INVALID_ARGUMENT' })
  }),
)
