'use strict'
// The server process: death mid-request and mid-turn, stderr, the message tap, exit reports,
// close during a streaming turn, and sessions inside worker threads.

const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { Worker } = require('node:worker_threads')
const { fakeServer } = require('../testing/fake-scenario.js')
const { Session, reply, withStandIn, createSession, rejection, isAlive, waitGone } = require('./helpers.js')

const T = { timeout: 60_000 }

test('killing the real codex mid-turn settles everything with TRANSPORT_CLOSED within a second', T, async () => {
  await withStandIn(async (model) => {
    let exit
    const exited = new Promise((resolve) => (exit = resolve))
    const session = await createSession(model, { onExit: exit })
    try {
      model.enqueue(reply.hang())
      const thread = await session.startThread()
      const turn = await thread.startTurn('hang please')
      await model.nextRequest()
      const iterating = (async () => {
        for await (const e of turn) void e
      })()
      const waiting = rejection(session.waitForNotification('never/sent'))
      const killedAt = Date.now()
      process.kill(session.pid, 'SIGKILL')
      const errors = await Promise.all([rejection(turn.result()), rejection(iterating), waiting])
      assert.ok(Date.now() - killedAt < 1000, `settled in ${Date.now() - killedAt} ms`)
      for (const err of errors) assert.equal(err.code, 'TRANSPORT_CLOSED', err.message)
      // codex warns on stderr at startup (its CODEX_HOME is under the temp dir): that tail is kept.
      assert.match(errors[0].stderrTail, /\S/, 'the tail of the killed server\'s stderr')
      assert.equal(session.closed, true)
      assert.equal((await rejection(session.request('thread/list', {}))).code, 'TRANSPORT_CLOSED')
      assert.deepEqual(await exited, { code: null, signal: 'SIGKILL' })
    } finally {
      await session.close()
    }
  })
})

test('a server dying mid-request: TRANSPORT_CLOSED carries its last stderr lines', T, async () => {
  const fake = fakeServer({ on: { 'model/list': [{ do: 'crash', code: 3, stderr: 'fake: out of cheese' }] } })
  const exits = []
  const session = await Session.create({ ...fake, onExit: (e) => exits.push(e) })
  try {
    const err = await rejection(session.listModels())
    assert.equal(err.code, 'TRANSPORT_CLOSED')
    assert.match(err.stderrTail, /fake: out of cheese/)
    await session.close()
    assert.deepEqual(exits, [{ code: 3, signal: null }])
  } finally {
    await session.close()
    fake.cleanup()
  }
})

test('onStderr receives server stderr lines; onMessage sees every message in and out', T, async () => {
  const fake = fakeServer({ startup: [{ do: 'stderr', text: 'fake: hello on stderr' }] })
  const lines = []
  const messages = []
  const session = await Session.create({ ...fake, onStderr: (l) => lines.push(l), onMessage: (m) => messages.push(m) })
  try {
    const thread = await session.startThread()
    assert.equal(await thread.ask('tap'), 'echo: tap')
    assert.ok(lines.includes('fake: hello on stderr'), JSON.stringify(lines))
    const out = messages.filter((m) => m.direction === 'out').map((m) => m.message.method)
    assert.deepEqual(out.slice(0, 4), ['initialize', 'initialized', 'thread/start', 'turn/start'])
    const incoming = messages.filter((m) => m.direction === 'in')
    assert.ok(incoming.some((m) => m.message.method === 'turn/completed'))
    assert.ok(incoming.some((m) => m.message.id === messages[0].message.id && m.message.result), 'initialize answer seen')
  } finally {
    await session.close()
    fake.cleanup()
  }
})

test('close() while a turn is streaming ends it with SESSION_CLOSED and stops the server', T, async () => {
  const fake = fakeServer({ turn: { deltas: 1000, delayMs: 5 } })
  const session = await Session.create({ ...fake })
  const pid = session.pid
  try {
    const turn = await (await session.startThread()).startTurn('long')
    const received = []
    const reading = (async () => {
      for await (const e of turn) {
        received.push(e)
        if (received.length === 5) void session.close()
      }
    })()
    const err = await rejection(reading)
    assert.equal(err.code, 'SESSION_CLOSED')
    assert.ok(received.length >= 5)
    assert.equal((await rejection(turn.result())).code, 'SESSION_CLOSED')
    await session.close()
    assert.equal(isAlive(pid), false)
  } finally {
    await session.close()
    fake.cleanup()
  }
})

test('worker threads: each has its own session; terminating one kills its server only', T, async () => {
  const fake = fakeServer({})
  const start = (n) =>
    new Promise((resolve, reject) => {
      const worker = new Worker(path.join(__dirname, 'fixtures', 'worker-session.js'), {
        workerData: { n, codexPath: fake.codexPath, env: fake.env },
      })
      worker.once('message', (m) => resolve({ worker, ...m }))
      worker.once('error', reject)
    })
  try {
    const [a, b] = await Promise.all([start(1), start(2)])
    assert.equal(a.text, 'echo: from worker 1')
    assert.equal(b.text, 'echo: from worker 2')
    assert.ok(isAlive(a.pid) && isAlive(b.pid))
    await a.worker.terminate()
    assert.ok(await waitGone(a.pid, 2000), "the terminated worker's server is gone")
    assert.equal(isAlive(b.pid), true, "the other worker's server is untouched")
    // The main thread still works.
    const session = await Session.create({ ...fake })
    assert.equal(await (await session.startThread()).ask('main'), 'echo: main')
    await session.close()
    await b.worker.terminate()
    // Before fake.cleanup(): a server still exiting may write its stats file into the dir.
    assert.ok(await waitGone(b.pid, 2000), "the other worker's server is gone once it is terminated")
  } finally {
    fake.cleanup()
  }
})

test('terminating a worker whose for-await or textStream() waits for the next event', T, async () => {
  // The pull's ThreadsafeFunction is referenced while it waits: the worker's teardown must
  // release it, kill the server, and leave this thread working.
  const fake = fakeServer({ turn: { deltas: 1, hang: true } })
  try {
    for (const form of ['events', 'text']) {
      const worker = new Worker(path.join(__dirname, 'fixtures', 'worker-waiting-pull.js'), {
        workerData: { codexPath: fake.codexPath, env: fake.env, form },
      })
      const first = await new Promise((resolve, reject) => {
        worker.once('message', resolve)
        worker.once('error', reject)
      })
      assert.match(first.first, /echo/, form)
      assert.ok(isAlive(first.pid))
      assert.equal(await worker.terminate(), 1, `${form}: terminated, not exited by itself`)
      assert.ok(await waitGone(first.pid, 2000), `${form}: the worker's server outlived it`)
    }
    const plain = fakeServer({})
    const session = await Session.create({ ...plain })
    assert.equal(await (await session.startThread()).ask('main'), 'echo: main')
    await session.close()
    plain.cleanup()
  } finally {
    fake.cleanup()
  }
})
