'use strict'
// The GitHub Actions workflows (.github/workflows) cannot run here, so they are linted: actionlint
// with shellcheck over every `run:` script must find nothing. And the Electron smoke script the
// release pipeline runs under Electron must do its turn under plain Node too.
//
// actionlint and shellcheck come from `bash scripts/install-tools.sh` (the shared tool venv).
// CODEX_NATIVE_LINT_WORKFLOWS=0 skips the lint, visibly, for the per-platform test jobs of
// .github/workflows/ci.yml whose runners those tools have no wheels for; the Linux CI job lints.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const ROOT = path.join(__dirname, '..')
const WORKFLOWS = path.join(ROOT, '.github', 'workflows')
const VENV = path.join(process.env.CODEX_NATIVE_CACHE || path.join(os.homedir(), '.cache', 'codex-native'), 'venv')
const ACTIONLINT = path.join(VENV, 'bin', 'actionlint')
const SHELLCHECK = path.join(VENV, 'bin', 'shellcheck')

const lint = {
  timeout: 60_000,
  skip: process.env.CODEX_NATIVE_LINT_WORKFLOWS === '0' && 'CODEX_NATIVE_LINT_WORKFLOWS=0: the workflows are linted in the Linux CI job',
}

function requireTools() {
  for (const tool of [ACTIONLINT, SHELLCHECK]) {
    assert.ok(fs.existsSync(tool), `${tool} is missing: run \`bash scripts/install-tools.sh\` (scripts/setup.sh does)`)
  }
}

/**
 * Runs actionlint with the venv's shellcheck named explicitly, so a shellcheck on PATH (or
 * none) changes nothing, and without pyflakes (no Python in the workflows).
 */
function actionlint(args, input) {
  const r = spawnSync(ACTIONLINT, [`-shellcheck=${SHELLCHECK}`, '-pyflakes=', '-no-color', '-oneline', ...args], {
    cwd: ROOT,
    input,
    encoding: 'utf8',
    timeout: 50_000,
  })
  if (r.error) throw r.error
  return r
}

test('actionlint (with shellcheck) finds nothing in .github/workflows', lint, () => {
  requireTools()
  const files = fs.readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f))
  for (const expected of ['ci.yml', 'release.yml']) assert.ok(files.includes(expected), `.github/workflows/${expected} is missing`)
  const r = actionlint(files.map((f) => path.join('.github', 'workflows', f)))
  assert.equal(`${r.stdout}${r.stderr}`, '', 'actionlint findings')
  assert.equal(r.status, 0)
})

test('the lint is live: a broken workflow gets findings from actionlint and from shellcheck', lint, () => {
  requireTools()
  const broken = [
    'on: push',
    'jobs:',
    '  build:',
    '    runs-on: ubuntu-04.24', // no such runner
    '    steps:',
    '      - run: echo $HOME/$1', // unquoted expansions: shellcheck SC2086
    '',
  ].join('\n')
  const r = actionlint(['-stdin-filename', 'broken.yml', '-'], broken)
  assert.equal(r.status, 1, `actionlint should fail on a broken workflow:\n${r.stdout}${r.stderr}`)
  assert.match(r.stdout, /\[runner-label\]/)
  assert.match(r.stdout, /SC2086/, 'shellcheck did not run: is the venv shellcheck working?')
})

function smoke(env = {}) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'electron-smoke.cjs')], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 90_000,
  })
  if (r.error) throw r.error
  return r
}

test('scripts/electron-smoke.cjs runs its turn under plain Node and exits 0', { timeout: 120_000 }, () => {
  const r = smoke({ CODEX_NATIVE_SMOKE_ELECTRON: '' })
  assert.equal(r.status, 0, `exit ${r.status}\n${r.stdout}${r.stderr}`)
  assert.match(r.stdout, /^electron-smoke: ok \(plain node, node /m)
})

test('scripts/electron-smoke.cjs fails, saying why, when Electron was required but Node ran it', { timeout: 120_000 }, () => {
  const r = smoke({ CODEX_NATIVE_SMOKE_ELECTRON: '1' })
  assert.equal(r.status, 1, `exit ${r.status}\n${r.stdout}${r.stderr}`)
  assert.match(r.stderr, /electron-smoke: FAILED .*\n.*not Electron's main process/)
})
