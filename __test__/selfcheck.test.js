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
