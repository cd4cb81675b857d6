'use strict'
// Process lifecycle: Node exits by itself, and no codex child outlives its owner.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { isAlive, waitGone } = require('./helpers.js')

const FIXTURE = path.join(__dirname, 'fixtures', 'run-session.js')

/** Runs the fixture; resolves with its exit and the JSON lines it printed. */
function runFixture(args, { env = process.env, killAfterFirstLine = null, timeoutMs = 30_000, nodeArgs = [] } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, FIXTURE, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    const lines = []
    let stderr = ''
    let buffered = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`fixture ${args.join(' ')} did not exit within ${timeoutMs} ms; stderr: ${stderr}`))
    }, timeoutMs)
    child.stdout.on('data', (chunk) => {
      buffered += chunk
      let nl
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = JSON.parse(buffered.slice(0, nl))
        buffered = buffered.slice(nl + 1)
        lines.push(line)
        if (killAfterFirstLine && lines.length === 1) child.kill(killAfterFirstLine)
      }
    })
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, lines, stderr })
    })
  })
}

test('after close() the Node process exits by itself and codex is gone', { timeout: 60_000 }, async () => {
  const { code, lines, stderr } = await runFixture(['close'])
  assert.equal(code, 0, stderr)
  assert.equal(lines[1].text, 'done')
  assert.equal(isAlive(lines[0].pids[0]), false)
})

test('an open idle session does not keep Node alive; its codex dies with Node', { timeout: 60_000 }, async () => {
  const { code, lines, stderr } = await runFixture(['no-close'])
  assert.equal(code, 0, stderr)
  assert.equal(lines[1].text, 'done')
  assert.ok(await waitGone(lines[0].pids[0], 2000), 'codex outlived the Node process')
})

test('a for-await waiting for the next event keeps Node alive until the turn ends', { timeout: 60_000 }, async () => {
  const { code, lines, stderr } = await runFixture(['slow-iterate'])
  assert.equal(code, 0, stderr)
  assert.ok(lines[0], 'Node exited while the iterator was waiting')
  const deltas = lines[0].seen.filter((method) => method === 'item/agentMessage/delta')
  assert.equal(deltas.length, 3, JSON.stringify(lines[0].seen))
  assert.equal(lines[0].seen.at(-1), 'turn/completed')
})

test('a textStream() waiting for the next delta keeps Node alive until the turn ends', { timeout: 60_000 }, async () => {
  const { code, lines, stderr } = await runFixture(['slow-text'])
  assert.equal(code, 0, stderr)
  assert.ok(lines[0], 'Node exited while textStream() was waiting')
  assert.equal(lines[0].seen.join(''), 'echo: go')
})

test('a turn read partway and still referenced does not keep Node alive', { timeout: 60_000 }, async () => {
  const { code, lines, stderr } = await runFixture(['read-some'], { timeoutMs: 15_000 })
  assert.equal(code, 0, stderr)
  assert.equal(lines[0].text, 'done')
})

test('an iterator returned while a next() waits does not keep Node alive', { timeout: 60_000 }, async () => {
  const { code, lines, stderr } = await runFixture(['return-while-waiting'], { timeoutMs: 15_000 })
  assert.equal(code, 0, stderr)
  assert.equal(lines[0].text, 'done')
})

test('an iterator abandoned mid-turn does not keep its Turn alive', { timeout: 60_000 }, async () => {
  const { code, lines, stderr } = await runFixture(['abandon'], { nodeArgs: ['--expose-gc'] })
  assert.equal(code, 0, stderr)
  assert.equal(lines[0].collected, true, `the Turn survived ${lines[0].rounds} GCs`)
})

test('SIGKILL of a Node process holding two sessions leaves no codex behind', { timeout: 60_000 }, async () => {
  const { signal, lines } = await runFixture(['hold'], { killAfterFirstLine: 'SIGKILL' })
  assert.equal(signal, 'SIGKILL')
  const pids = lines[0].pids
  assert.equal(pids.length, 2)
  for (const pid of pids) assert.ok(await waitGone(pid, 2000), `codex ${pid} outlived its killed owner`)
})

test('discovery failure is SPAWN_FAILED listing every place tried', { timeout: 60_000 }, async () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'codex-native-nowhere-'))
  const env = { ...process.env, PATH: empty }
  delete env.CODEX_PATH
  const { code, lines, stderr } = await runFixture(['discover', empty], { env })
  assert.equal(code, 0, stderr)
  assert.equal(lines[0].code, 'SPAWN_FAILED')
  assert.match(lines[0].message, /codex on PATH/)
  assert.match(lines[0].message, /no codex binary found/)
})

test('discovery finds the native binary of the installed @openai/codex platform package', { timeout: 60_000 }, async () => {
  const env = { ...process.env, PATH: '/usr/bin:/bin' }
  delete env.CODEX_PATH
  const { code, lines, stderr } = await runFixture(['discover', path.join(__dirname, '..')], { env })
  assert.equal(code, 0, stderr)
  assert.deepEqual(lines[0], { created: true })
})
