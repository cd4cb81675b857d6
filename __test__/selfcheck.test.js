'use strict'
// The two test helpers prove themselves: testing/fake-selfcheck.js drives the scripted fake
// server by hand (raw JSON lines, no addon, plus one turn through the addon), and
// testing/selfcheck.js checks the model stand-in against the real codex. The other tests trust
// both, so a helper that stopped doing what they assume must fail `pnpm test` too.

const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawn } = require('node:child_process')

const T = { timeout: 120_000 }

/** Runs `node <script> ...args`; resolves with its exit and output. */
function runScript(script, args = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, '..', 'testing', script), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({ code, signal, out }))
  })
}

test('testing/fake-selfcheck.js --addon: every cue of the fake server does what tests assume', T, async () => {
  const r = await runScript('fake-selfcheck.js', ['--addon'])
  assert.equal(r.code, 0, r.out)
  assert.match(r.out, /^all passed$/m, r.out)
  // A check that silently stopped running would still print "all passed": count them.
  const ok = r.out.split('\n').filter((l) => l.startsWith('ok ')).length
  assert.ok(ok >= 26, `only ${ok} checks ran:\n${r.out}`)
  assert.doesNotMatch(r.out, /^FAIL/m)
})

test('testing/selfcheck.js: the model stand-in drives the real codex as tests assume', T, async () => {
  const r = await runScript('selfcheck.js')
  assert.equal(r.code, 0, r.out)
  assert.match(r.out, /^selfcheck passed: \d+ checks$/m, r.out)
  const ok = r.out.split('\n').filter((l) => /^ok \d+ - /.test(l)).length
  assert.ok(ok >= 8, `only ${ok} checks ran:\n${r.out}`)
  assert.doesNotMatch(r.out, /^not ok/m)
})

// One TOML encoder: the testing kit's configToArgs is the core's toml.rs (through the addon), the
// encoder Session.create({ config }) uses, so what a test spawns by hand is what a session passes.
test('configToArgs: the core encoder; NaN, Infinity and null are a TypeError naming the key path', () => {
  const { configToArgs } = require('../testing')
  const { configOverrideArgs } = require('../main.js')
  const config = {
    model: 'm', n: 3, f: 1.5, on: true, skipped: undefined,
    model_providers: { mock: { 'base url': 'h"t\n', xs: ['a', 1], gone: undefined } },
  }
  const expected = [
    '-c', 'f=1.5', '-c', 'model="m"', '-c', 'model_providers={mock = {"base url" = "h\\"t\\n", xs = ["a", 1]}}',
    '-c', 'n=3', '-c', 'on=true',
  ]
  assert.deepEqual(configToArgs(config), expected)
  assert.deepEqual(configOverrideArgs(config), expected)
  const cases = [
    [{ model_providers: { mock: { request_max_retries: NaN } } }, 'config.model_providers.mock.request_max_retries', 'NaN'],
    [{ xs: [1, Infinity] }, 'config.xs[1]', 'Infinity'],
    [{ t: -Infinity }, 'config.t', '-Infinity'],
    [{ p: { x: null } }, 'config.p', 'null'],
    [{ f: () => {} }, 'config.f', 'function'],
  ]
  for (const [bad, where, what] of cases) {
    assert.throws(() => configToArgs(bad), (err) => {
      assert.ok(err instanceof TypeError, `${where}: ${err}`)
      assert.equal(err.code, 'INVALID_ARGUMENT')
      assert.ok(err.message.includes(`\`${where}\``) && err.message.includes(what), err.message)
      return true
    })
  }
  assert.throws(() => configToArgs([1]), { code: 'INVALID_ARGUMENT', message: /`config`: must be an object/ })
  const cycle = {}
  cycle.self = cycle
  assert.throws(() => configToArgs({ cycle }), { code: 'INVALID_ARGUMENT', message: /`config.cycle.self`: must be JSON data, not a cyclic structure/ })
})

// One codex lookup: tests, scripts and sessions find codex through the core's discovery.
test('findCodex: the binary a session starts; SPAWN_FAILED listing where it looked', async () => {
  const fs = require('node:fs')
  const os = require('node:os')
  const { findCodex, Session } = require('../main.js')
  const root = path.join(__dirname, '..')
  const bin = findCodex({ searchPaths: [root], ignoreEnv: true })
  assert.ok(path.isAbsolute(bin) && fs.statSync(bin).isFile(), bin)
  assert.match(bin, /@openai[/\\]codex-[a-z0-9]+-[a-z0-9]+[/\\]vendor[/\\]/)
  // An explicit path wins, as codexPath does for a session.
  assert.equal(findCodex({ codexPath: bin, searchPaths: ['/nowhere'] }), bin)

  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'codex-native-find-'))
  try {
    assert.throws(() => findCodex({ searchPaths: [empty], ignoreEnv: true }), (err) => {
      assert.equal(err.code, 'SPAWN_FAILED')
      assert.match(err.message, /no codex binary found/)
      return true
    })
    const dir = () => findCodex({ codexPath: empty })
    assert.throws(dir, { code: 'SPAWN_FAILED', message: /is a directory, not the codex binary/ })
    // The same words a session gives for the same codexPath.
    const thrown = (() => { try { dir() } catch (e) { return e } })()
    const rejected = await Session.create({ codexPath: empty }).then(() => null, (e) => e)
    assert.equal(rejected?.code, 'SPAWN_FAILED')
    assert.equal(rejected.message, thrown.message)
  } finally {
    fs.rmSync(empty, { recursive: true, force: true })
  }
})
