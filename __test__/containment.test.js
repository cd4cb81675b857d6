'use strict'
// Process-tree containment against the real codex: a command tree started through exec_command
// (a shell with two background sleeps) must not outlive close(), the death of codex, nor the
// death of the Node process or worker thread that owns the session. Linux only: the other
// platforms' containment is weaker (README "Process lifecycle").
//
// The sleeps are found by their unique argv in /proc; every wait polls with a deadline, and
// whatever is found is killed by PID afterwards, whatever the outcome.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { Worker } = require('node:worker_threads')
const { Session, ApprovalPolicy } = require('../main.js')
const { reply, withStandIn, isAlive } = require('./helpers.js')

const T = { timeout: 60_000, skip: process.platform !== 'linux' && 'the /proc scan and the guarantee are Linux-only' }
const FIXTURE = path.join(__dirname, 'fixtures', 'contain-session.js')

/** Two sleep durations no other test (nor a concurrent run) uses. */
function uniqueDurations() {
  const base = 3_770_000 + Math.floor(Math.random() * 90_000) * 2
  return [String(base), String(base + 1)]
}

const treeCommand = ([a, b]) => `sleep ${a} & sleep ${b} & wait`

/** PIDs of live `sleep <d>` processes for each duration (zombies have no cmdline). */
function sleepPids(durations) {
  const found = []
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    let argv
    try {
      argv = fs.readFileSync(`/proc/${name}/cmdline`, 'latin1').split('\0')
    } catch {
      continue // gone meanwhile
    }
    if (argv.length >= 2 && path.basename(argv[0]) === 'sleep' && durations.includes(argv[1])) found.push(Number(name))
  }
  return found
}

async function poll(check, withinMs) {
  const deadline = Date.now() + withinMs
  for (;;) {
    if (check()) return true
    if (Date.now() > deadline) return false
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** Waits until both sleeps run; registers their cleanup (by PID, checked by argv) on `t`. */
async function awaitTree(t, durations) {
  let pids = []
  const appeared = await poll(() => (pids = sleepPids(durations)).length === 2, 20_000)
  t.after(() => {
    for (const pid of sleepPids(durations)) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
    }
  })
  assert.ok(appeared, `the command tree did not start (found ${pids.length} of 2 sleeps)`)
  return pids
}

async function assertTreeGone(durations, what) {
  const gone = await poll(() => sleepPids(durations).length === 0, 5_000)
  assert.ok(gone, `${what}: sleeps ${sleepPids(durations).join(', ')} (${durations.join(', ')}) survived`)
}

/** A session in this process whose turn has started the tree. */
async function startTree(t, model, durations, extra = {}) {
  const cwd = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'codex-native-contain-'))
  // HOME: codex's login shells must not run this machine's dotfiles (a pyenv rehash killed
  // with the tree leaves a lock that stalls every later login shell for a minute).
  const options = { approvalPolicy: ApprovalPolicy.autoAccept(), env: { HOME: cwd }, ...extra }
  const session = await Session.create(model.sessionOptions(options))
  t.after(() => session.close())
  model.enqueue(reply.execCommand(treeCommand(durations)), reply.text('done'))
  const thread = await session.startThread({ cwd, sandbox: 'danger-full-access' })
  const turn = await thread.startTurn('start the sleeps')
  turn.result().catch(() => {})
  await awaitTree(t, durations)
  return session
}

test('close(): the command tree codex started is gone', T, async (t) => {
  await withStandIn(async (model) => {
    const durations = uniqueDurations()
    const session = await startTree(t, model, durations)
    await session.close()
    await assertTreeGone(durations, 'close()')
  })
})

test('SIGKILL of codex: the command tree it started is gone', T, async (t) => {
  await withStandIn(async (model) => {
    const durations = uniqueDurations()
    let exit
    const exited = new Promise((resolve) => (exit = resolve))
    const session = await startTree(t, model, durations, { onExit: exit })
    process.kill(session.pid, 'SIGKILL')
    assert.deepEqual(await exited, { code: null, signal: 'SIGKILL' }, 'onExit still reports how codex died')
    await assertTreeGone(durations, 'SIGKILL of codex')
  })
})

test('SIGKILL of the owning Node process: codex and its command tree are gone', T, async (t) => {
  const durations = uniqueDurations()
  const child = spawn(process.execPath, [FIXTURE, treeCommand(durations)], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.after(() => child.kill('SIGKILL'))
  let stderr = ''
  child.stderr.on('data', (c) => (stderr += c))
  const first = await new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (c) => {
      out += c
      if (out.includes('\n')) resolve(JSON.parse(out.slice(0, out.indexOf('\n'))))
    })
    child.once('exit', (code) => reject(new Error(`fixture exited (${code}) before reporting: ${stderr}`)))
  })
  await awaitTree(t, durations)
  assert.ok(isAlive(first.pid))
  const died = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal)))
  child.kill('SIGKILL')
  assert.equal(await died, 'SIGKILL')
  assert.ok(await poll(() => !isAlive(first.pid), 5_000), 'codex outlived its killed owner')
  await assertTreeGone(durations, 'SIGKILL of the owning Node process')
})

test('termination of the owning worker thread: codex and its command tree are gone', T, async (t) => {
  const durations = uniqueDurations()
  const worker = new Worker(FIXTURE, { workerData: { cmd: treeCommand(durations) } })
  t.after(() => worker.terminate())
  const first = await new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  assert.equal(first.error, undefined)
  await awaitTree(t, durations)
  assert.ok(isAlive(first.pid))
  await worker.terminate()
  assert.ok(await poll(() => !isAlive(first.pid), 5_000), 'codex outlived its terminated worker')
  await assertTreeGone(durations, 'termination of the owning worker thread')
})
