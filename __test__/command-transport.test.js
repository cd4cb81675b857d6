'use strict'
// The `command` transport: any program that speaks the protocol on stdio (here `sh -c 'exec
// codex app-server ...'`, as `docker exec -i` or `ssh host` would), owned as stdio's codex is:
// containment, shutdown, stderr tail, onExit. The real codex runs a turn through it; the fault
// cases use the scripted fake server behind the same shell.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Session } = require('../main.js')
const { reply } = require('../testing')
const { fakeServer, act, FAKE_APP_SERVER_PATH } = require('../testing/fake-scenario.js')
const { withStandIn, codexBinary, rejection, isAlive, waitGone, expectedServerVersion } = require('./helpers.js')

const T = { timeout: 90_000 }
const linux = process.platform === 'linux'

// `$0` is the program, the rest its arguments: no quoting of paths inside the script.
const EXEC = 'exec "$0" "$@"'

test('the real codex through `sh -c exec codex app-server ...`: a turn runs; close stops it and onExit reports it', T, async () => {
  await withStandIn(async (model) => {
    model.enqueue(reply.text('hello through a shell'))
    const exits = []
    const stderr = []
    const session = await Session.create({
      transport: {
        type: 'command',
        command: 'sh',
        args: ['-c', EXEC, codexBinary(), 'app-server', ...model.codexArgs()],
        env: model.sessionOptions().env,
      },
      onExit: (e) => exits.push(e),
      onStderr: (line) => stderr.push(line),
    })
    const pid = session.pid
    assert.ok(pid > 0 && isAlive(pid), 'the session owns the process')
    if (linux) assert.match(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /app-server/, 'sh exec\'d codex in place')
    assert.equal(session.info.serverVersion, expectedServerVersion())
    const thread = await session.startThread()
    const result = await thread.run('say hello')
    assert.equal(result.status, 'completed')
    assert.equal(result.text, 'hello through a shell')
    await session.close()
    assert.equal(exits.length, 1, 'onExit ran before close() resolved')
    assert.equal(await waitGone(pid, 5_000), true, 'codex is gone after close()')
  })
})

test('a command crashing mid-turn: TRANSPORT_CLOSED with its stderr tail, onExit with its code, nothing it started left', T, async () => {
  const fake = fakeServer({
    turn: { text: 'abcdef', deltas: 3, at: { 1: [act.crash({ code: 7, stderr: 'fake: the wrapper fell over' })] } },
  })
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-command-'))
  const pidFile = path.join(dir, 'grandchild')
  const exits = []
  // The wrapper leaves a grandchild behind, as `docker exec` or `ssh` might leave a helper.
  const script = `sleep 600 & echo $! > '${pidFile}'; ${EXEC}`
  const session = await Session.create({
    transport: { type: 'command', command: 'sh', args: ['-c', script, FAKE_APP_SERVER_PATH, 'app-server'], env: fake.env },
    onExit: (e) => exits.push(e),
  })
  const grandchild = Number(fs.readFileSync(pidFile, 'utf8'))
  assert.ok(isAlive(grandchild))
  const turn = await (await session.startThread()).startTurn('go')
  const err = await rejection(turn.result())
  assert.equal(err.code, 'TRANSPORT_CLOSED')
  assert.match(err.stderrTail, /fake: the wrapper fell over/)
  assert.equal((await rejection(session.listThreads())).code, 'TRANSPORT_CLOSED')
  await session.close()
  assert.deepEqual(exits, [{ code: 7, signal: null }])
  if (linux) assert.equal(await waitGone(grandchild, 5_000), true, 'the grandchild died with the command (containment)')
  else process.kill(grandchild, 'SIGKILL')
  fs.rmSync(dir, { recursive: true, force: true })
})

test('a command that exits during initialize is SPAWN_FAILED naming it; one not found names transport.command', T, async () => {
  const early = await rejection(
    Session.create({ transport: { type: 'command', command: 'sh', args: ['-c', 'echo "no such container" >&2; exit 1'] } }),
  )
  assert.equal(early.code, 'SPAWN_FAILED')
  assert.match(early.message, /sh exited during initialize/)
  assert.match(early.stderrTail, /no such container/)
  const missing = await rejection(Session.create({ transport: { type: 'command', command: 'no-such-program-cn' } }))
  assert.equal(missing.code, 'SPAWN_FAILED')
  assert.match(missing.message, /transport\.command `no-such-program-cn` was not found on PATH/)
})

test('codex\'s own spawn options beside a command are refused, naming where they belong', T, async () => {
  const transport = { type: 'command', command: 'sh' }
  for (const [key, value, instead] of [
    ['codexPath', '/x/codex', 'transport.command'],
    ['args', ['--x'], 'transport.args'],
    ['env', { A: '1' }, 'transport.env'],
    ['config', { model: 'm' }, 'transport.args'],
  ]) {
    const err = await rejection(Session.create({ transport, [key]: value }))
    assert.equal(err.code, 'INVALID_ARGUMENT', key)
    assert.ok(err.message.includes(`\`${key}\``) && err.message.includes(instead), err.message)
  }
  const badArg = await rejection(Session.create({ transport: { ...transport, args: ['-c', 1] } }))
  assert.match(badArg.message, /`transport\.args\[1\]`/)
})
