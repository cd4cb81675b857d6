'use strict'
// What a user sees when no prebuilt addon fits their platform: the error names the platform, the
// package that was expected, and what to do. Each case loads the package in a child Node whose
// platform is made to look like another (the generated loader then finds no addon for it).

const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const MAIN = path.join(__dirname, '..', 'main.js')

/** Requires main.js in a child with `process.platform` / `process.arch` replaced; returns the error it threw. */
function loadAs({ platform, arch, env = {} }) {
  const script = `
    if (${JSON.stringify(platform)}) Object.defineProperty(process, 'platform', { value: ${JSON.stringify(platform)} })
    if (${JSON.stringify(arch)}) Object.defineProperty(process, 'arch', { value: ${JSON.stringify(arch)} })
    try { require(${JSON.stringify(MAIN)}); console.log(JSON.stringify({ loaded: true })) }
    catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, platform: e.platform, expectedPackage: e.expectedPackage, hasCause: e.cause instanceof Error })) }`
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, ...env } })
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

test('the package loads on this platform', () => {
  assert.deepEqual(loadAs({}), { loaded: true })
})

test('a published platform whose addon is missing: names the platform, the package and the remedies', () => {
  const err = loadAs({ arch: 'arm64' })
  assert.equal(err.code, 'NATIVE_ADDON_MISSING')
  const libc = process.report.getReport().header.glibcVersionRuntime ? 'gnu' : 'musl'
  assert.equal(err.platform, `linux-arm64-${libc}`)
  assert.equal(err.expectedPackage, `codex-native-linux-arm64-${libc}`)
  assert.match(err.message, new RegExp(`the native addon for linux-arm64-${libc} could not be loaded`))
  assert.match(err.message, new RegExp(`\`codex-native-linux-arm64-${libc}\``))
  assert.match(err.message, /"supportedArchitectures": \{ "os": \["current", "linux"\], "cpu": \["current", "arm64"\]/)
  assert.match(err.message, /--omit=optional/)
  assert.match(err.message, /Building from source/)
  // The loader's own reasons are kept, in the message and as the cause.
  assert.match(err.message, /Load errors:\n- /)
  assert.equal(err.hasCause, true)
})

test('a broken addon (it exists but does not load) says why', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codex-native-broken-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const addon = path.join(dir, 'codex-native.linux-x64-gnu.node')
  fs.writeFileSync(addon, Buffer.alloc(4096, 'not an ELF file. '))
  const err = loadAs({ env: { NAPI_RS_NATIVE_LIBRARY_PATH: addon } })
  assert.equal(err.code, 'NATIVE_ADDON_MISSING')
  assert.match(err.message, /Load errors:\n- .*codex-native\.linux-x64-gnu\.node: invalid ELF header/)
  assert.doesNotMatch(err.message, /wasi/i)
})

test('a platform nothing is published for: says so, and lists what is', () => {
  const err = loadAs({ platform: 'freebsd', arch: 'x64' })
  assert.equal(err.code, 'NATIVE_ADDON_MISSING')
  assert.equal(err.expectedPackage, 'codex-native-freebsd-x64')
  assert.match(err.message, /no prebuilt native addon is published for freebsd-x64/)
  assert.match(err.message, /Prebuilt: .*darwin-arm64.*win32-x64-msvc.*linux-arm64-musl/)
})

test('inside a packaged Electron app, codex is looked for under app.asar.unpacked', () => {
  const { unpackedPath } = require('../js/packaging.js')
  const sep = path.sep
  const packed = ['', 'Applications', 'My.app', 'Contents', 'Resources', 'app.asar', 'node_modules', 'codex-native'].join(sep)
  assert.equal(unpackedPath(packed), packed.replace(`${sep}app.asar${sep}`, `${sep}app.asar.unpacked${sep}`))
  const plain = ['', 'srv', 'app', 'node_modules', 'codex-native'].join(sep)
  assert.equal(unpackedPath(plain), plain)
  // Only a whole path segment named app.asar counts.
  const lookalike = ['', 'srv', 'my-app.asar', 'node_modules', 'codex-native'].join(sep)
  assert.equal(unpackedPath(lookalike), lookalike)
})
