'use strict'
// Runs inside a foreign platform's real Node (qemu-user / Wine, see scripts/foreign-run.sh):
// loads the package copy in <pkgDir> (its index.js picks codex-native.<platform>.node) and runs
// one whole turn against the scripted fake server (testing/fake-app-server.js).
//
//   node turn.cjs <pkgDir> <resultFile> <mode>
//
// Modes (how the server is found and started):
//   direct      codexPath = the fake server script (a `#!` script: under qemu-user it runs on
//               the host's own node)
//   win-vendor  discovery of codex.exe in an @openai/codex-win32-x64/vendor/x86_64-pc-windows-msvc/bin
//               layout; that codex.exe is a copy of node.exe, so `codex.exe app-server` runs the
//               file `app-server` (the fake server) in the server's cwd
//   win-cmd     discovery of npm's codex.cmd shim on PATH (no codex.exe anywhere), which the
//               client must run through `cmd.exe /d /s /c`; the shim starts node.exe the same way
//   win-cmd-space  the same with a space in the shim's directory, as in C:\Users\Jane Doe\...
//   <mode>-kill a server that ignores stdin EOF and SIGTERM: close() must kill it (on Windows
//               TerminateProcess, the core's `#[cfg(not(unix))]` path) and nothing may survive
//
// The result goes to <resultFile> as JSON (Wine gives EBADF on a stdout pipe): {ok, steps, error}.
// Exit code 0 only when every assertion held.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const [pkgDir, resultFile, mode] = process.argv.slice(2)
const result = { ok: false, platform: `${process.platform}-${process.arch}`, node: process.version, mode, steps: [] }
const step = (text) => result.steps.push(text)
let session = null

function check(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`)
  step(`ok: ${what}`)
}

function isAlive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** A directory the fake server runs in, as the file `app-server` that `codex.exe app-server` runs. */
function serverDir(root) {
  const dir = path.join(root, 'server')
  fs.mkdirSync(dir, { recursive: true })
  fs.copyFileSync(path.join(pkgDir, 'testing', 'fake-app-server.js'), path.join(dir, 'app-server'))
  // The modules it requires beside it (fake-interpreter.js, fake-io.js, ...).
  for (const f of fs.readdirSync(path.join(pkgDir, 'testing'))) {
    if (/^fake-.*\.js$/.test(f)) fs.copyFileSync(path.join(pkgDir, 'testing', f), path.join(dir, f))
  }
  return dir
}

/** Session options for `base`: where the client finds the server and how it starts it. */
function sessionOptions(fake, root) {
  delete process.env.CODEX_PATH // discovery must not stop at an inherited one
  if (base === 'direct') return { codexPath: fake.codexPath, env: fake.env }
  if (base === 'win-vendor') {
    const scope = path.join(root, 'app', 'node_modules', '@openai')
    fs.mkdirSync(path.join(scope, 'codex'), { recursive: true })
    fs.writeFileSync(path.join(scope, 'codex', 'package.json'), '{"name":"@openai/codex","version":"0.0.0-fake"}\n')
    const bin = path.join(scope, 'codex-win32-x64', 'vendor', 'x86_64-pc-windows-msvc', 'bin')
    fs.mkdirSync(bin, { recursive: true })
    fs.copyFileSync(process.execPath, path.join(bin, 'codex.exe'))
    step(`codex.exe at ${path.join(bin, 'codex.exe')}`)
    return { codexSearchPaths: [path.join(root, 'app')], cwd: serverDir(root), env: fake.env }
  }
  if (base === 'win-cmd' || base === 'win-cmd-space') {
    // Where `npm i -g` puts the shim (%APPDATA%\npm); user names often have a space.
    const shimDir = path.join(root, base === 'win-cmd' ? 'npm-global' : 'npm global')
    fs.mkdirSync(shimDir, { recursive: true })
    fs.writeFileSync(path.join(shimDir, 'codex.cmd'), `@"${process.execPath}" %*\r\n`)
    process.env.PATH = `${shimDir};${process.env.PATH}`
    step(`codex.cmd at ${path.join(shimDir, 'codex.cmd')}`)
    const empty = path.join(root, 'no-codex-here')
    fs.mkdirSync(empty)
    return { codexSearchPaths: [empty], cwd: serverDir(root), env: fake.env }
  }
  throw new Error(`unknown mode ${JSON.stringify(mode)} (direct | win-vendor | win-cmd | win-cmd-space, each optionally with -kill)`)
}

const kill = mode !== undefined && mode.endsWith('-kill')
const base = kill ? mode.slice(0, -'-kill'.length) : mode

async function main() {
  if (!pkgDir || !resultFile || !mode) throw new Error('usage: node turn.cjs <pkgDir> <resultFile> <mode>')
  const { Session } = require(path.join(pkgDir, 'main.js'))
  const { fakeServer } = require(path.join(pkgDir, 'testing', 'fake-scenario.js'))
  step(`addon loaded in ${result.platform} node ${process.version}`)

  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'codex-foreign-'))
  const scenario = kill ? { ignoreStdinEof: true, ignoreSigterm: true } : {}
  const fake = fakeServer(scenario, { dir: path.join(root, 'fake') })
  const grace = kill ? { shutdownGraceMs: 300 } : {}
  session = await Session.create({ ...sessionOptions(fake, root), ...grace, requestTimeoutMs: 60_000 })
  const clientPid = session.pid
  check(Number.isInteger(clientPid), `session created, server pid ${clientPid}`)

  const thread = await session.startThread()
  const input = `hello from ${result.platform}`
  const r = await thread.run(input)
  check(r.status === 'completed', `turn status completed (got ${r.status})`)
  check(r.text === `echo: ${input}`, `turn text ${JSON.stringify(r.text)}`)

  const starts = fake.starts()
  check(starts.length === 1, `one server process started (got ${starts.length})`)
  const serverPid = starts[0].pid
  if (base !== 'direct') {
    check(path.resolve(starts[0].cwd) === path.resolve(path.join(root, 'server')), `server ran in its cwd (${starts[0].cwd})`)
  }
  if (base.startsWith('win-cmd')) {
    // The client started cmd.exe; node.exe (the server) is its child.
    check(clientPid !== serverPid, `started through cmd.exe (pid ${clientPid}), server node pid ${serverPid}`)
  } else {
    check(clientPid === serverPid, `the session's pid is the server's (${serverPid})`)
  }

  await session.close()
  check(session.closed === true, 'session closed')
  check(fake.sawEof(), kill ? 'server saw stdin EOF (and ignored it)' : 'server saw stdin EOF (graceful shutdown)')
  // close() resolves after the client reaped its child, so no waiting here.
  check(!isAlive(clientPid), `child process ${clientPid} gone after close()`)
  check(!isAlive(serverPid), `server process ${serverPid} gone after close()`)
  fake.cleanup()
  fs.rmSync(root, { recursive: true, force: true })
  result.ok = true
}

main()
  .catch(async (e) => {
    result.error = `${e && e.stack ? e.stack : e}${e && e.code ? ` (code ${e.code})` : ''}`
    if (session && !session.closed) await session.close().catch(() => {}) // so this process can exit
  })
  .finally(() => {
    fs.writeFileSync(resultFile, JSON.stringify(result, null, 2) + '\n')
    process.exitCode = result.ok ? 0 : 1
  })
