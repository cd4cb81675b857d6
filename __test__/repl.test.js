'use strict'
// examples/repl.ts driven through its stdin against the real codex and the loopback stand-in:
// a streamed answer, an approval answered y and one answered n, /interrupt during a slow reply,
// /new, /resume <id>, /quit. Every step waits for the REPL's own output, never for a time.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { reply, withStandIn, waitGone } = require('./helpers.js')

const ROOT = path.join(__dirname, '..')
const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx')
/** How long one step may take before the test says which output it was waiting for. */
const STEP_MS = 20_000

/** The REPL as a child process, read as one growing text; `until` waits for what comes next. */
function startRepl(options, workdir) {
  const env = { ...process.env, CODEX_NATIVE_REPL_OPTIONS: JSON.stringify(options) }
  delete env.CODEX_NATIVE_LIVE
  const child = spawn(TSX, [path.join('examples', 'repl.ts'), workdir], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  let seen = 0 // where the next `until` starts looking
  const waiters = new Set()
  const check = () => {
    for (const w of waiters) w()
  }
  child.stdout.on('data', (chunk) => {
    out += chunk
    check()
  })
  child.stderr.on('data', (chunk) => (err += chunk))
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  exited.then(check)
  return {
    child,
    exited,
    send: (line) => child.stdin.write(`${line}\n`),
    /** Resolves with the match of `pattern` in the output after the previous match. */
    until(pattern) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`no ${pattern} within ${STEP_MS} ms in:\n${out.slice(seen)}\nstderr:\n${err}`)), STEP_MS)
        const done = (failure, match) => {
          clearTimeout(timer)
          waiters.delete(look)
          if (failure) reject(failure)
          else resolve(match)
        }
        const look = () => {
          const rest = out.slice(seen)
          const match = typeof pattern === 'string' ? (rest.includes(pattern) ? [pattern] : null) : rest.match(pattern)
          if (match) {
            seen += (match.index ?? rest.indexOf(pattern)) + match[0].length
            return done(null, match)
          }
          if (child.exitCode !== null || child.signalCode !== null) done(new Error(`the REPL exited waiting for ${pattern}:\n${out.slice(seen)}\nstderr:\n${err}`))
        }
        waiters.add(look)
        look()
      })
    },
  }
}

test('the REPL streams answers, asks y/n for approvals, and handles /interrupt, /new, /resume, /quit', { timeout: 120_000 }, async () => {
  await withStandIn(async (model) => {
    const workdir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'codex-native-repl-')))
    const repl = startRepl(model.sessionOptions(), workdir)
    try {
      const pid = Number((await repl.until(/codex pid (\d+)/))[1])
      const first = (await repl.until(/thread (\S+)\n/))[1]
      await repl.until('> ')

      // A streamed answer.
      model.enqueue(reply.text('Streamed answer, piece by piece.', { chunks: 5 }))
      repl.send('hello there')
      await repl.until('Streamed answer, piece by piece.\n[completed]')
      assert.equal(model.requests.at(-1).lastUserText, 'hello there')

      // An approval answered y: the command runs.
      model.enqueue(reply.execCommand('touch approved.txt'), reply.text('Made approved.txt.'))
      repl.send('make a file')
      await repl.until(/run `[^`]*touch approved\.txt[^`]*`\? \(y\/n\) /)
      repl.send('y')
      await repl.until('(approved)')
      await repl.until('Made approved.txt.\n[completed]')
      assert.equal(fs.existsSync(path.join(workdir, 'approved.txt')), true, 'the approved command ran')

      // An approval answered n: it does not.
      model.enqueue(reply.execCommand('touch declined.txt'), reply.text('Did not make it.'))
      repl.send('make another')
      await repl.until(/run `[^`]*touch declined\.txt[^`]*`\? \(y\/n\) /)
      repl.send('n')
      await repl.until('(declined)')
      await repl.until('Did not make it.\n[completed]')
      assert.equal(fs.existsSync(path.join(workdir, 'declined.txt')), false, 'the declined command ran')

      // /interrupt while a slow answer streams.
      model.enqueue(reply.text('slowly '.repeat(40), { chunks: 40, delayMs: 50 }))
      repl.send('take your time')
      await repl.until('slowly')
      repl.send('/interrupt')
      await repl.until('\n[interrupted]')

      // /new starts another thread.
      repl.send('/new')
      const second = (await repl.until(/thread (\S+)\n/))[1]
      assert.notEqual(second, first)
      model.enqueue(reply.text('Fresh thread.'))
      repl.send('on the new thread')
      await repl.until('Fresh thread.\n[completed]')
      assert.deepEqual(model.requests.at(-1).userTexts, ['on the new thread'])

      // /resume <id> goes back to the first one, with its history.
      repl.send(`/resume ${first}`)
      await repl.until(`resumed thread ${first} (4 turns)`)
      model.enqueue(reply.text('Back again.'))
      repl.send('back on the first')
      await repl.until('Back again.\n[completed]')
      assert.deepEqual(model.requests.at(-1).userTexts, ['hello there', 'make a file', 'make another', 'take your time', 'back on the first'])

      // /quit: exit 0, and the codex it started is gone.
      repl.send('/quit')
      await repl.until('bye')
      assert.deepEqual(await repl.exited, { code: 0, signal: null })
      assert.equal(await waitGone(pid, 5_000), true, `codex ${pid} outlived the REPL`)
    } finally {
      if (repl.child.exitCode === null) repl.child.kill('SIGKILL')
      fs.rmSync(workdir, { recursive: true, force: true })
    }
  })
})
