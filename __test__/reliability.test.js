'use strict'
// Reliability: soak with leak checks, the turn watchdog, and lifecycle misuse.

const test = require('node:test')
const assert = require('node:assert/strict')
const { Session } = require('../main.js')
const { fakeServer } = require('../testing/fake-scenario.js')
const { soak, liveCallbackTasks } = require('../scripts/soak.js')
const { rejection, waitGone } = require('./helpers.js')

const T = { timeout: 120_000 }

test('soak: 6,000 turns on one session after 1,500 of warm-up; no per-turn growth, every counter returns to zero', T, async () => {
  // Measured: RSS climbs for the first ~1,000 turns; after that the V8 heap + external memory
  // drifts by under 40 B per turn, while RSS moves in steps of megabytes (the allocators taking
  // and keeping memory; more under load): 350-1,250 B per turn over these 6,000 turns on 2 busy
  // cores. So the bounds, both per turn between two points after warm-up (each after a full gc):
  // memory JavaScript holds (heap + external: Buffers, strings, closures) 256 B, which a leak
  // of 1 KB per turn fails by 4x; RSS, for native leaks, 2 KB, what its noise allows.
  const TURNS = 6000
  const r = await soak({ turns: TURNS, warmup: 1500 })
  assert.deepEqual(r.stats, { liveTurns: 0, listeners: 0, pendingRequests: 0, pendingServerRequests: 0, threadSubscribers: 0 })
  assert.equal(await liveCallbackTasks(), 0, 'native callback tasks leaked')
  const perTurn = (bytes) => Math.round(bytes / TURNS)
  const js = r.heapGrowth + r.externalGrowth
  assert.ok(js < 256 * TURNS, `V8 heap + external memory grew ${perTurn(js)} B per turn (${js} B)`)
  assert.ok(r.rssGrowth < 2048 * TURNS, `RSS grew ${perTurn(r.rssGrowth)} B per turn (${r.rssGrowth} B)`)
})

test('watchdog: a turn with no events for inactivityTimeoutMs ends TURN_STALLED and can still be interrupted', T, async () => {
  const fake = fakeServer({ turn: { hang: true, deltas: 1 } })
  const session = await Session.create({ ...fake, turnInactivityTimeoutMs: 5000 })
  try {
    const thread = await session.startThread()
    const turn = await thread.startTurn('stall', { inactivityTimeoutMs: 150 })
    const seen = []
    const err = await rejection(
      (async () => {
        for await (const e of turn) seen.push(e.method)
      })(),
    )
    assert.equal(err.code, 'TURN_STALLED')
    assert.ok(seen.includes('item/agentMessage/delta'), 'events before the stall were delivered')
    assert.equal((await rejection(turn.result())).code, 'TURN_STALLED')
    await turn.interrupt()
    assert.equal(fake.requests('turn/interrupt').length, 1)
    // The session default applies when the turn sets none.
    const fast = await Session.create({ ...fake, turnInactivityTimeoutMs: 100 })
    const stalled = await (await fast.startThread()).startTurn('again')
    assert.equal((await rejection(stalled.result())).code, 'TURN_STALLED')
    await fast.close()
  } finally {
    await session.close()
    fake.cleanup()
  }
})

test('lifecycle misuse: double close, calls after close, failing and aborted create release everything', T, async () => {
  const fake = fakeServer({})
  try {
    const session = await Session.create({ ...fake })
    const thread = await session.startThread()
    await Promise.all([session.close(), session.close()])
    for (const call of [
      () => session.startThread(),
      () => session.listThreads(),
      () => session.request('thread/list', {}),
      () => thread.run('x'),
      () => thread.read(),
      () => session.waitForNotification('x'),
    ]) {
      assert.equal((await rejection(call())).code, 'SESSION_CLOSED')
    }
    assert.throws(() => session.onNotification('*', () => {}), (e) => e.code === 'SESSION_CLOSED')
  } finally {
    fake.cleanup()
  }

  // initialize answered with an error: the start fails and its process is gone.
  const refusing = fakeServer({ on: { initialize: [{ do: 'error', code: -32600, message: 'no thanks' }] } })
  try {
    const err = await rejection(Session.create({ ...refusing }))
    assert.equal(err.code, 'RPC_ERROR')
    const [{ pid }] = refusing.starts()
    assert.ok(await waitGone(pid, 2000), 'the failed start left its process behind')
  } finally {
    refusing.cleanup()
  }

  // close() racing create: aborting the start releases the session it was making.
  const slow = fakeServer({ on: { initialize: [{ do: 'sleep', ms: 300 }] } })
  try {
    const controller = new AbortController()
    const starting = Session.create({ ...slow, signal: controller.signal })
    controller.abort()
    assert.equal((await rejection(starting)).code, 'ABORTED')
    const [{ pid }] = slow.starts()
    assert.ok(await waitGone(pid, 3000), 'the aborted start left its process behind')
  } finally {
    slow.cleanup()
  }
  assert.equal(await liveCallbackTasks(), 0)
})
