'use strict'
// Reliability: soak with leak checks, the turn watchdog, and lifecycle misuse.

const test = require('node:test')
const assert = require('node:assert/strict')
const { Session } = require('../main.js')
const { fakeServer } = require('../testing/fake-scenario.js')
const { soak, liveCallbackTasks } = require('../scripts/soak.js')
const { rejection, waitGone } = require('./helpers.js')

const T = { timeout: 120_000 }

test('soak: 1,500 turns on one session; memory comes back, every counter returns to zero', T, async () => {
  const r = await soak({ turns: 1500, warmup: 150 })
  assert.deepEqual(r.stats, { liveTurns: 0, listeners: 0, pendingRequests: 0, pendingServerRequests: 0 })
  assert.equal(await liveCallbackTasks(), 0, 'native callback tasks leaked')
  // Bounds stated in README "Guarantees": V8 heap within 8 MB, RSS within 64 MB of the start.
  assert.ok(r.heapGrowth < 8 * 1048576, `V8 heap grew ${r.heapGrowth} bytes`)
  assert.ok(r.rssGrowth < 64 * 1048576, `RSS grew ${r.rssGrowth} bytes`)
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
