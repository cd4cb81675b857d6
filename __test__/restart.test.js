'use strict'
// Crash-resilient sessions (`restart`): the real codex killed under a session, restarted with
// the same options; threads the application holds keep working; a crash loop gives up; close()
// during a restart wins. Servers that must fail on a later spawn are the real codex behind a
// small shell script (`codexPath`) that counts its starts.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { reply, withStandIn, createSession, rejection, isAlive, waitGone, codexBinary } = require('./helpers.js')

const T = { timeout: 90_000, skip: process.platform === 'win32' && 'the start-counting codexPath is a shell script' }

/** Resolves on the `n`th call of the returned callback, with every call's argument. */
function calls(n) {
  const seen = []
  let done
  const reached = new Promise((resolve) => (done = resolve))
  let firstDone
  const first = new Promise((resolve) => (firstDone = resolve))
  const callback = (arg) => {
    seen.push(arg)
    if (seen.length === 1) firstDone(arg)
    if (seen.length === n) done(seen)
  }
  return { seen, first, reached, callback }
}

/**
 * A `codexPath` that starts the real codex for its first `realStarts` starts (recording each
 * pid as `pid.<n>` in `dir`), and then does what `later` says: exit at once, or hang without
 * answering (its pid recorded too).
 */
function countingCodex(realStarts, later) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codex-native-restart-'))
  const script = path.join(dir, 'codex')
  const laterScript =
    later === 'hang'
      ? 'echo $$ > "$dir/pid.$n"; exec sleep 600'
      : 'echo "counting codex: start $n dies at once" >&2; exit 3'
  fs.writeFileSync(
    script,
    [
      '#!/bin/sh',
      `dir='${dir}'`,
      'n=$(($(cat "$dir/starts" 2>/dev/null || echo 0) + 1))',
      'echo $n > "$dir/starts"',
      `if [ $n -le ${realStarts} ]; then echo $$ > "$dir/pid.$n"; exec '${codexBinary()}' "$@"; fi`,
      laterScript,
      '',
    ].join('\n'),
    { mode: 0o755 },
  )
  const pidOf = (n) => {
    try {
      return Number(fs.readFileSync(path.join(dir, `pid.${n}`), 'utf8'))
    } catch {
      return undefined
    }
  }
  const starts = () => Number(fs.readFileSync(path.join(dir, 'starts'), 'utf8'))
  return { codexPath: script, pidOf, starts, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) }
}

test('SIGKILL under a restarting session: in-flight work fails, onRestart once, the same Thread goes on, and its history has both turns', T, async () => {
  await withStandIn(async (model) => {
    const restarts = calls(1)
    const exits = []
    const session = await createSession(model, {
      restart: { maxRestarts: 2, initialDelayMs: 300, maxDelayMs: 300 },
      onRestart: restarts.callback,
      onExit: (e) => exits.push(e),
    })
    try {
      const firstPid = session.pid
      assert.ok(firstPid > 0 && isAlive(firstPid))
      const infoBefore = session.info

      model.enqueue(reply.text('first answer'))
      const thread = await session.startThread()
      assert.equal(await thread.ask('first question'), 'first answer')
      const ephemeral = await session.startEphemeralThread()
      // Persisted, but codex writes a thread down only once a turn starts: it cannot come back.
      const unused = await session.startThread()

      // A turn in flight at the crash: it settles as it does without restarts.
      model.enqueue(reply.hang())
      const hanging = await thread.startTurn('this one dies with its server')
      // nextRequest hands out requests in order: the first ask's, then the hanging turn's.
      await model.nextRequest()
      await model.nextRequest()
      model.enqueue(reply.text('second answer'))
      // session.pid is codex's own pid (the containment supervisor is its parent).
      process.kill(firstPid, 'SIGKILL')
      const inFlight = await rejection(hanging.result())
      assert.equal(inFlight.code, 'TRANSPORT_CLOSED', inFlight.message)
      assert.equal(typeof inFlight.stderrTail, 'string')

      // onRestart: once, with the exit and the stderr tail. A request made now (the restart
      // waits initialDelayMs first) is parked and answered by the new server.
      const [event] = await restarts.reached
      assert.equal(event.attempt, 1)
      assert.deepEqual(event.exit, { code: null, signal: 'SIGKILL' })
      assert.equal(typeof event.stderrTail, 'string')
      assert.equal(session.closed, false, 'a restarting session is not closed')
      const duringRestart = session.request('thread/list', {})
      // Checked before the restart re-attached threads: it waits, then learns the thread is lost.
      const unusedAsk = rejection(unused.ask('never persisted'))

      // The same Thread object asks again on the new server.
      assert.equal(await thread.ask('second question'), 'second answer')
      assert.ok(Array.isArray((await duringRestart).data), 'the parked request was answered')
      const newPid = session.pid
      assert.notEqual(newPid, firstPid)
      assert.ok(isAlive(newPid))
      assert.ok(await waitGone(firstPid, 2000), 'the killed server is gone')
      assert.equal(session.info.userAgent, infoBefore.userAgent)

      const { thread: read } = await thread.read({ includeTurns: true })
      const completed = read.turns.filter((t) => t.status === 'completed')
      assert.equal(completed.length, 2, JSON.stringify(read.turns.map((t) => t.status)))

      // An ephemeral thread cannot come back.
      for (const use of [() => ephemeral.ask('hello?'), () => ephemeral.read()]) {
        const lost = await rejection(use())
        assert.equal(lost.code, 'THREAD_LOST', lost.message)
        assert.match(lost.message, /ephemeral/)
      }
      const notPersisted = await unusedAsk
      assert.equal(notPersisted.code, 'THREAD_LOST', notPersisted.message)
      assert.match(notPersisted.message, /no rollout found/)
      assert.equal(restarts.seen.length, 1, 'onRestart was called once')
      assert.deepEqual(exits, [], 'onExit waits for the last server')

      await session.close()
      assert.ok(await waitGone(newPid, 2000), 'the restarted server is gone after close()')
      assert.deepEqual(exits, [{ code: 0, signal: null }], 'onExit: the last server, once')
    } finally {
      await session.close()
    }
  })
})

test('a crash loop ends after maxRestarts: the session closes with TRANSPORT_CLOSED, and the waiting request with it', T, async () => {
  await withStandIn(async (model) => {
    const fake = countingCodex(1, 'die')
    const restarts = calls(2)
    const exits = []
    const session = await createSession(model, {
      codexPath: fake.codexPath,
      restart: { maxRestarts: 2, initialDelayMs: 10, maxDelayMs: 20 },
      onRestart: restarts.callback,
      onExit: (e) => exits.push(e),
    })
    try {
      const pid = session.pid
      assert.equal(pid, fake.pidOf(1))
      process.kill(pid, 'SIGKILL')
      // Made once the restarts have begun (a request in flight at the crash fails at once).
      await restarts.first
      const err = await rejection(session.request('thread/list', {}))
      assert.equal(err.code, 'TRANSPORT_CLOSED', err.message)
      assert.match(err.message, /2 restart\(s\) failed/)
      assert.match(err.stderrTail, /start 3 dies at once/)
      assert.equal(session.closed, true)
      assert.equal(fake.starts(), 3, 'the first start and two restarts')
      assert.deepEqual(
        restarts.seen.map((e) => [e.attempt, e.exit]),
        [
          [1, { code: null, signal: 'SIGKILL' }],
          [2, { code: 3, signal: null }],
        ],
      )
      assert.match(restarts.seen[1].stderrTail, /start 2 dies at once/)
      assert.ok(await waitGone(pid, 2000))
      await session.close()
      assert.deepEqual(exits, [{ code: 3, signal: null }], 'onExit: the last server that was tried')
    } finally {
      await session.close()
      fake.cleanup()
    }
  })
})

test('close() during a restart wins: the server being started is stopped and waiting requests end SESSION_CLOSED', T, async () => {
  await withStandIn(async (model) => {
    const fake = countingCodex(1, 'hang')
    const session = await createSession(model, {
      codexPath: fake.codexPath,
      restart: { initialDelayMs: 1, maxDelayMs: 1 },
      startupTimeoutMs: 60_000,
    })
    try {
      process.kill(session.pid, 'SIGKILL')
      // The second start hangs in initialize: wait until it runs.
      const deadline = Date.now() + 20_000
      while (fake.pidOf(2) === undefined || !isAlive(fake.pidOf(2))) {
        assert.ok(Date.now() < deadline, 'the restart never started a server')
        await new Promise((r) => setTimeout(r, 20))
      }
      const hung = fake.pidOf(2)
      assert.equal(session.closed, false)
      const waiting = rejection(session.request('thread/list', {}))
      await session.close()
      assert.equal(session.closed, true)
      assert.equal((await waiting).code, 'SESSION_CLOSED')
      assert.ok(await waitGone(hung, 2000), 'the server started by the restart outlived close()')
    } finally {
      await session.close()
      fake.cleanup()
    }
  })
})

test('restart is validated: a bad value names its path; only a stdio session can restart', async () => {
  const { Session } = require('./helpers.js')
  const cases = [
    [{ restart: 'yes' }, /`restart`/],
    [{ restart: { maxRestarts: 0 } }, /`restart.maxRestarts`/],
    [{ restart: { initialDelayMs: -1 } }, /`restart.initialDelayMs`/],
    [{ restart: { retries: 1 } }, /`restart.retries`/],
    [{ restart: true, transport: { type: 'websocket', url: 'ws://127.0.0.1:1' } }, /only a codex the session spawns/],
    [{ onRestart: 5 }, /onRestart/],
  ]
  for (const [options, message] of cases) {
    const err = await rejection(Session.create({ codexPath: '/nonexistent/codex', ...options }))
    assert.equal(err.code, 'INVALID_ARGUMENT', err.message)
    assert.match(err.message, message)
  }
  // Every transport whose server the session does not spawn itself as codex: refused, named.
  const { PassThrough } = require('node:stream')
  const stream = new PassThrough()
  const transports = [
    { type: 'unix', path: path.join(os.tmpdir(), 'codex-native-no-such.sock') },
    { type: 'command', command: 'sh', args: ['-c', 'exit 1'] },
    { type: 'stream', readable: stream, writable: stream },
  ]
  for (const transport of transports) {
    const err = await rejection(Session.create({ restart: true, transport }))
    assert.equal(err.code, 'INVALID_ARGUMENT', `${transport.type}: ${err.message}`)
    assert.match(err.message, /only a codex the session spawns/, transport.type)
  }
  stream.destroy()
})

test('across a restart: thread.onEvent and interceptors stay attached and hear the new server; a login in flight rejects TRANSPORT_CLOSED', T, async () => {
  const { withMachineLock } = require('./helpers.js')
  await withMachineLock('login-port-1455', () =>
    withStandIn(async (model) => {
      const restarts = calls(1)
      // Counts the turn/completed notifications that passed the incoming chain.
      let intercepted = 0
      const session = await createSession(model, {
        restart: { maxRestarts: 1, initialDelayMs: 1, maxDelayMs: 1 },
        onRestart: restarts.callback,
        interceptors: [
          {
            incoming: (msg) => {
              if (msg.method === 'turn/completed') intercepted++
              return msg
            },
          },
        ],
      })
      try {
        model.enqueue(reply.text('before'))
        const thread = await session.startThread()
        const seen = []
        const off = thread.onEvent((event) => seen.push(event.method))
        assert.equal(await thread.ask('one'), 'before')
        assert.equal(intercepted, 1)
        const login = await session.loginWithChatGpt()
        assert.match(login.authUrl, /^https:\/\//)

        process.kill(session.pid, 'SIGKILL')
        const lost = await rejection(login.completed)
        assert.equal(lost.code, 'TRANSPORT_CLOSED', lost.message)
        assert.match(lost.message, /restarted during login/)
        await restarts.reached

        model.enqueue(reply.text('after'))
        assert.equal(await thread.ask('two'), 'after')
        assert.equal(intercepted, 2, "the new server's turn/completed passed the interceptor")
        // A response settles after thread listeners saw what came before it (rule 8).
        await thread.read()
        assert.equal(seen.filter((m) => m === 'turn/completed').length, 2, seen.join(' '))
        off()
      } finally {
        await session.close()
      }
    }),
  )
})
