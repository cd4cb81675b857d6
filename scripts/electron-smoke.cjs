'use strict'
// Smoke test of codex-native in an Electron main process: loads the addon, runs one turn
// against the scripted fake app-server (testing/fake-app-server.js), checks what came back,
// closes the session and exits 0 (non-zero, with the error printed, on any failure).
//
//   xvfb-run -a npx electron scripts/electron-smoke.cjs   # release pipeline (Linux, after
//                                                          # `pnpm add -D electron`)
//   node scripts/electron-smoke.cjs                       # the same turn under plain Node
//
// CODEX_NATIVE_SMOKE_ELECTRON=1 makes it fail unless it really runs in Electron's main process,
// so that a pipeline that meant to test Electron cannot pass by running Node instead.
//
// The fake server is a Node script started through its `#!/usr/bin/env node` line, so a
// `node` must be on PATH (it is in CI); the addon itself needs nothing from Node beyond N-API.

const TURN_TIMEOUT_MS = 60_000
const INPUT = 'ping from the smoke test'
const REPLY = 'pong from the fake app-server'
const DELTAS = ['pong ', 'from the ', 'fake app-server']

const electron = process.versions.electron ? require('electron') : null
// Under `electron script.cjs` require('electron') is the API; with ELECTRON_RUN_AS_NODE it is
// the path of the binary, and there is no app to wait for.
const app = electron && typeof electron === 'object' ? electron.app : null

function runtime() {
  const where = app ? `electron ${process.versions.electron} main process` : 'plain node'
  return `${where}, node ${process.versions.node}, napi ${process.versions.napi}, ${process.platform}-${process.arch}`
}

async function smoke() {
  if (process.env.CODEX_NATIVE_SMOKE_ELECTRON === '1' && !app) {
    throw new Error(
      `CODEX_NATIVE_SMOKE_ELECTRON=1 but this is not Electron's main process (${runtime()}): ` +
        'run it as `npx electron scripts/electron-smoke.cjs`',
    )
  }
  const { Session } = require('..')
  const { fakeServer } = require('../testing/fake-scenario.js')

  const fake = fakeServer({ turn: { text: REPLY, deltas: DELTAS } })
  let session
  try {
    session = await Session.create({ ...fake, requestTimeoutMs: 20_000 })
    const thread = await session.startThread()
    const turn = await thread.startTurn(INPUT, { inactivityTimeoutMs: 20_000 })
    // Every event, in server order (textStream() would merge deltas that arrive together).
    const events = []
    for await (const event of turn) events.push(event)
    const result = await turn.result()

    const problems = []
    if (result.status !== 'completed') problems.push(`turn status ${JSON.stringify(result.status)}, expected "completed"`)
    if (result.text !== REPLY) problems.push(`turn text ${JSON.stringify(result.text)}, expected ${JSON.stringify(REPLY)}`)
    const methods = events.map((e) => e.method)
    if (methods[0] !== 'turn/started' || methods.at(-1) !== 'turn/completed') {
      problems.push(`events ${JSON.stringify(methods)}, expected turn/started first and turn/completed last`)
    }
    const deltas = events.filter((e) => e.method === 'item/agentMessage/delta').map((e) => e.params.delta)
    if (deltas.join('|') !== DELTAS.join('|')) {
      problems.push(`streamed deltas ${JSON.stringify(deltas)}, expected ${JSON.stringify(DELTAS)}`)
    }
    // The fake logs what the client sent: the turn must carry our input.
    const sent = fake.requests('turn/start').map((r) => r.params?.input?.[0]?.text)
    if (!sent.includes(INPUT)) problems.push(`turn/start inputs seen by the server ${JSON.stringify(sent)}, expected ${JSON.stringify(INPUT)}`)
    if (problems.length) throw new Error(`smoke turn went wrong:\n  ${problems.join('\n  ')}`)

    await session.close()
    session = undefined
    if (!fake.sawEof() && !fake.sawSigterm()) throw new Error('session.close() returned but the server was never told to stop')
  } finally {
    if (session) await session.close().catch(() => {})
    fake.cleanup()
  }
}

function exit(code) {
  if (app) app.exit(code)
  else process.exit(code)
}

function fail(err) {
  console.error(`electron-smoke: FAILED (${runtime()})\n${err && err.stack ? err.stack : err}`)
  exit(1)
}

// An uncaught error in Electron's main process opens a dialog, which would hang a headless run:
// report it and exit instead.
process.on('uncaughtException', fail)
process.on('unhandledRejection', fail)

// A hung turn must fail the run, not stall the pipeline until its own timeout.
const watchdog = setTimeout(() => fail(new Error(`no result within ${TURN_TIMEOUT_MS} ms`)), TURN_TIMEOUT_MS)

function main() {
  smoke().then(
    () => {
      clearTimeout(watchdog)
      console.log(`electron-smoke: ok (${runtime()})`)
      exit(0)
    },
    (err) => {
      clearTimeout(watchdog)
      fail(err)
    },
  )
}

if (app) {
  // No window is opened; without a GPU (xvfb in CI) Chromium's GPU process only gets in the way.
  app.disableHardwareAcceleration()
  app.whenReady().then(main, fail)
} else {
  main()
}
