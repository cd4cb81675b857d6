#!/usr/bin/env node
'use strict'

// A scripted stand-in for `codex app-server`, for tests of codex-native that need the server to
// misbehave on cue (crash, hang, flood, malformed frames, early events, server requests, ...).
//
//   Session.create({ codexPath: '<this file>', env: { CODEX_FAKE_SCENARIO: '<scenario.json>' } })
//
// The client runs `<this file> app-server [-c key=value ...]` and speaks newline-delimited
// JSON-RPC on stdin/stdout. `require()`d instead of run, this file exports the scenario helpers
// of ./fake-scenario.js (fakeServer(), act.*).
//
// Environment
//   CODEX_FAKE_SCENARIO  path of the scenario JSON (absent: baseline behaviour only)
//   CODEX_FAKE_LOG       path; every frame received from the client is appended as one JSON line,
//                        plus bookkeeping records whose only key starts with `$`:
//                        {"$start":{pid,argv,cwd}}, {"$malformed":"<line>"}, {"$eof":true},
//                        {"$signal":"SIGTERM"}
//   CODEX_FAKE_STATS     path; the stats JSON ({"fakeStats":{...}}) is written there after every
//                        flood / batch and at a clean exit
//
// Baseline (no scenario): initialize, thread/start|resume|fork|read|list|archive|unarchive|
// name/set|unsubscribe, model/list, turn/start (reply "echo: <input text>" in 3 deltas),
// turn/interrupt, turn/steer. Other methods: error -32601. Exit 0 on stdin EOF and on SIGTERM.
//
// Scenario format (JSON; every key optional)
// {
//   "startup": [Action...],                  run at process start
//   "on": { "<method>": [Action...] },       run when the client sends <method> (request or
//                                            notification), before the built-in handling
//   "turn":  TurnSpec,                       defaults for every turn
//   "turns": { "<n>": TurnSpec },            overrides for the n-th turn started (1-based, over
//                                            the whole process; a turn/start answered by an `on`
//                                            action does not count)
//   "turnsByText": { "<input text>": TurnSpec },  overrides chosen by the turn's input text
//   "batch": { "size": K, "deltas": D },     hold turn/start requests until K have arrived, answer
//                                            them all, then stream all K turns interleaved
//                                            round-robin; delta j of turn T is "<T>:<j>;" (j from 0)
//   "initialize": { ...fields merged into the initialize result },
//   "ignoreStdinEof": false,                 keep running after stdin EOF
//   "ignoreSigterm": false,                  ignore SIGTERM (the client must SIGKILL)
//   "stats": false                           also print the stats line on stderr at a clean exit
// }
//
// TurnSpec (later sources override earlier: built-in < "turn" < "turns"[n] < "turnsByText"[text])
// {
//   "text": "echo: <input>",   the agent message
//   "deltas": 3 | ["a","b"],   number of (nearly equal) pieces, or the pieces themselves
//   "delayMs": 0,              pause before each delta (slow stream, to interrupt)
//   "early": false | K | "all" send turn/started, item/started and K deltas (or everything, up
//                              to and including turn/completed) BEFORE the turn/start response
//   "hang": false,             after the deltas, never complete (until turn/interrupt)
//   "flood": N,                instead of text/deltas: N deltas written in big batched chunks,
//                              respecting backpressure; each delta is "deltaText" (default "x"),
//                              or "<turnId>:<j>;" with "indexed": true; stats are reported after
//   "floodReport": false,      after the flood's last delta, notify fake/flood/ended
//                              {threadId, turnId, at: Date.now(), lines}
//   "status": "completed" | "failed",  with "error": {message, ...} for a failed turn
//   "usage": ThreadTokenUsage, the thread/tokenUsage/updated payload (null: not sent)
//   "before": [Action...],     after receiving turn/start, before anything is sent
//   "at": { "<k>": [Action...] }  after the k-th delta (k = 0: after item/started, before the
//                              first delta). With "early": K the response goes out right after
//                              the K-th delta, before at["K"]
//   "end":  [Action...]        after the last delta, before item/completed
// }
//
// Action: {"do": "<kind>", ...}. In `on` lists an action may carry a filter on the call count of
// that method (1-based): "call": n (only the n-th), "calls": [n...], "times": k (the first k).
// Actions run in order; a *final* action ends the list and replaces the built-in handling (in a
// turn it stops the turn where it is: respond/error answer the turn/start request, a second time
// if it was already answered, and the turn never completes).
//   stderr      {text}                   write a line to stderr
//               {bytes, lineBytes=100}   or: about `bytes` of numbered lines ("fake stderr
//                                        000001 xxx..."), written synchronously (a reader that
//                                        stops reading stalls it right there), then logs
//                                        {"$stderrFlood":{bytes,lines,lastLine,ms,at}} (at: Date.now())
//   sleep       {ms}
//   crash       {code=1 | signal, stderr="fake: crashing now"}  final. Flushes stdout, writes the
//                                        stderr line, then process.exit(code) or kills itself
//                                        with `signal` (e.g. "SIGKILL", "SIGSEGV")
//   exit        {code=0}                 final. Flush stdout, exit quietly
//   raw         {text}                   write text + "\n" verbatim
//   malformed   {text='{"method":"broken", '}  a line that is not JSON
//   rawBytes    {base64}                 write the decoded bytes + "\n" verbatim (e.g. not UTF-8)
//   bigLine     {mib=64 | bytes, chunkKiB=1024, valid=true, method="fake/bigLine"}  one line of
//                                        exactly that many bytes (+ "\n"), streamed in chunks;
//                                        valid: a notification {"method","params":{"pad":"aaa.."}},
//                                        else "xxxx..." (not JSON). Nothing else is interleaved.
//   send        {frame}                  any frame, verbatim
//   notify      {method, params}
//   strayResponse {id=987654321, result={}}   answer an id nobody asked
//   respond     {result}                 final. Answer the current request with `result`
//   error       {code=-32001, message="Server overloaded; retry later.", data?}  final.
//                                        Answer the current request with an error
//   hang        {}                       final. Requests: never answered. Turns: never complete
//                                        (a turn/interrupt still ends them)
//   closeStdout {}                       flush and close stdout; the process keeps running
//   serverRequest {method, params, id?, await=true}  send a server request; with await, wait
//                                        for the client's answer (it is in the log either way)
//   approval    {kind="command"|"fileChange", command="rm -rf /tmp/x", cwd, reason, params?,
//                await=true}             item/commandExecution/requestApproval (or
//                                        item/fileChange/requestApproval) for the current turn
// String values "$threadId", "$turnId", "$itemId", "$requestId" inside send/notify/
// serverRequest/approval payloads are replaced by the current ones.
//
// Examples: see the `act` helpers in ./fake-scenario.js and ./fake-selfcheck.js.

if (require.main !== module) {
  module.exports = require('./fake-scenario.js')
  return
}

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { performance } = require('node:perf_hooks')

const T0 = performance.now()
const OVERLOADED_MESSAGE = 'Server overloaded; retry later.'
const FLOOD_CHUNK = 1 << 20 // characters per write on the flood paths

// ---------------------------------------------------------------------------------------------
// Scenario

function loadScenario() {
  const file = process.env.CODEX_FAKE_SCENARIO
  if (!file) return {}
  try {
    const s = JSON.parse(fs.readFileSync(file, 'utf8'))
    if (s === null || typeof s !== 'object' || Array.isArray(s)) throw new Error('not an object')
    return s
  } catch (e) {
    stderrLine(`fake: bad scenario ${file}: ${e.message}`)
    process.exit(2)
  }
}

function asList(x) {
  if (x === undefined || x === null) return []
  return Array.isArray(x) ? x : [x]
}

// ---------------------------------------------------------------------------------------------
// stderr (synchronous: survives process.exit and keeps order)

function stderrLine(text) {
  const buf = Buffer.from(String(text).endsWith('\n') ? String(text) : `${text}\n`)
  let off = 0
  for (let tries = 0; off < buf.length && tries < 1000; tries++) {
    try {
      off += fs.writeSync(2, buf, off)
    } catch (e) {
      if (e.code !== 'EAGAIN') return
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2)
    }
  }
}

/** About `bytes` of numbered stderr lines, each `lineBytes` long (newline included). */
function stderrFlood(bytes, lineBytes) {
  const t0 = performance.now()
  const width = Math.max(lineBytes, 24)
  const lines = Math.max(1, Math.round(bytes / width))
  const line = (n) => `fake stderr ${String(n).padStart(8, '0')} `.padEnd(width - 1, 'x') + '\n'
  let written = 0
  for (let n = 1; n <= lines; ) {
    let chunk = ''
    for (; n <= lines && chunk.length < 1 << 16; n++) chunk += line(n)
    const buf = Buffer.from(chunk)
    for (let off = 0; off < buf.length; ) {
      try {
        off += fs.writeSync(2, buf, off)
      } catch (e) {
        if (e.code !== 'EAGAIN') throw e
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1)
      }
    }
    written += buf.length
  }
  logRecord({
    $stderrFlood: { bytes: written, lines, lastLine: line(lines).trimEnd(), ms: round(performance.now() - t0), at: Date.now() },
  })
}

// ---------------------------------------------------------------------------------------------
// Log of received frames

const logPath = process.env.CODEX_FAKE_LOG
let logFd = null
if (logPath) {
  try {
    logFd = fs.openSync(logPath, 'a')
  } catch (e) {
    stderrLine(`fake: cannot open log ${logPath}: ${e.message}`)
  }
}

function logRecord(obj) {
  if (logFd === null) return
  try {
    fs.writeSync(logFd, JSON.stringify(obj) + '\n')
  } catch {
    // a log that cannot be written is not the client's problem
  }
}

// ---------------------------------------------------------------------------------------------
// Stats

const stats = {
  pid: process.pid,
  framesReceived: 0,
  linesWritten: 0, // lines written through send() (not counting flood lines)
  floodLines: 0, // lines written on the flood / batch paths
  bytesWritten: 0,
  writeCalls: 0,
  drainWaits: 0, // times stdout.write returned false and we waited for 'drain'
  blockedMs: 0, // total time spent waiting for 'drain'
  maxBlockedMs: 0, // longest single wait
  writeMs: 0, // time spent inside stdout.write calls on the flood paths
  floodMs: 0, // wall time of the flood / batch streaming
  // Wall clock (Date.now()) when the last flood / batch had written its last delta line: a
  // test compares it with when its JavaScript thread was unblocked.
  floodEndedAt: 0,
  turnsStarted: 0,
  elapsedMs: 0,
}

function statsJson() {
  stats.elapsedMs = round(performance.now() - T0)
  for (const k of ['blockedMs', 'maxBlockedMs', 'writeMs', 'floodMs']) stats[k] = round(stats[k])
  return JSON.stringify({ fakeStats: stats })
}

function round(x) {
  return Math.round(x * 1000) / 1000
}

function reportStats({ toStderr }) {
  const json = statsJson()
  if (toStderr) stderrLine(json)
  const file = process.env.CODEX_FAKE_STATS
  if (file) {
    try {
      fs.writeFileSync(file, json + '\n')
    } catch (e) {
      stderrLine(`fake: cannot write stats ${file}: ${e.message}`)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Output. Every write carries whole lines, except inside bigLine, which holds the gate: writes
// made meanwhile are queued and follow the big line.

const stdout = process.stdout
const out = {
  closed: false,
  gate: null, // { promise, release } while a big line is being streamed
  queued: [],
}

stdout.on('error', () => {
  out.closed = true
})

function rawWrite(s) {
  stats.writeCalls++
  stats.bytesWritten += Buffer.byteLength(s)
  return stdout.write(s)
}

/** Fire and forget (the stream buffers); used for ordinary traffic. */
function writeLines(s) {
  if (out.closed) return
  if (out.gate) {
    out.queued.push(s)
    return
  }
  rawWrite(s)
}

function waitDrain() {
  return new Promise((resolve) => {
    const done = () => {
      stdout.off('drain', done)
      stdout.off('close', done)
      stdout.off('error', done)
      resolve()
    }
    stdout.on('drain', done)
    stdout.on('close', done)
    stdout.on('error', done)
  })
}

/** Writes and, when the stream says so, waits for 'drain', timing the wait. */
async function writeAwait(s, { gated = false } = {}) {
  while (out.gate && !gated) await out.gate.promise
  if (out.closed) return
  const t = performance.now()
  const ok = rawWrite(s)
  const t1 = performance.now()
  stats.writeMs += t1 - t
  if (!ok && !out.closed) {
    await waitDrain()
    const waited = performance.now() - t1
    stats.drainWaits++
    stats.blockedMs += waited
    if (waited > stats.maxBlockedMs) stats.maxBlockedMs = waited
  }
}

async function waitGate() {
  while (out.gate) await out.gate.promise
}

async function acquireGate() {
  while (out.gate) await out.gate.promise
  let release
  const promise = new Promise((r) => (release = r))
  out.gate = { promise, release }
}

function releaseGate() {
  const gate = out.gate
  out.gate = null
  const queued = out.queued
  out.queued = []
  for (const s of queued) writeLines(s)
  gate.release()
}

/** Resolves when everything written so far has left the process (or after `capMs`). */
function flushStdout(capMs = 2000) {
  return new Promise((resolve) => {
    if (out.closed || stdout.writableLength === 0) return resolve()
    const timer = setTimeout(resolve, capMs)
    stdout.write('', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

let optOut = new Set()

function send(frame) {
  if (frame.method !== undefined && frame.id === undefined && optOut.has(frame.method)) return
  stats.linesWritten++
  writeLines(JSON.stringify(frame) + '\n')
}

const notify = (method, params) => send({ method, params })
const respond = (id, result) => send({ id, result })
const respondError = (id, code, message, data) =>
  send({ id, error: data === undefined ? { code, message } : { code, message, data } })

// ---------------------------------------------------------------------------------------------
// State

const scenario = loadScenario()

const threads = new Map() // id -> thread object
const turns = new Map() // id -> turn state
const activeTurnByThread = new Map()
const methodCalls = new Map()
const pendingServerRequests = new Map() // id -> resolve(answer frame)
let threadCounter = 0
let turnCounter = 0
let itemCounter = 0
let serverRequestCounter = 0
const batchQueue = []

const nowSecs = () => Math.floor(Date.now() / 1000)

function makeThread(id, extra) {
  const t = nowSecs()
  return {
    id,
    sessionId: id,
    forkedFromId: null,
    parentThreadId: null,
    preview: '',
    ephemeral: false,
    section: null,
    sectionEnteredAt: null,
    projectId: null,
    historyMode: 'legacy',
    modelProvider: 'fake',
    model: 'fake',
    reasoningEffort: null,
    createdAt: t,
    updatedAt: t,
    recencyAt: null,
    status: { type: 'idle' },
    path: null,
    cwd: process.cwd(),
    cliVersion: '0.0.0',
    originator: null,
    source: 'appServer',
    threadSource: null,
    agentNickname: null,
    agentRole: null,
    gitInfo: null,
    name: null,
    turns: [],
    ...extra,
  }
}

function threadResponse(thread) {
  return {
    thread,
    model: 'fake',
    modelProvider: 'fake',
    serviceTier: null,
    cwd: process.cwd(),
    instructionSources: [],
    approvalPolicy: 'never',
    approvalsReviewer: 'user',
    sandbox: { type: 'dangerFullAccess' },
    reasoningEffort: null,
  }
}

function turnObject(turn, status, error = null) {
  return {
    id: turn.id,
    rootTurnId: null,
    items: [],
    itemsView: 'notLoaded',
    status,
    error,
    startedAt: turn.startedAt,
    completedAt: status === 'inProgress' ? null : nowSecs(),
    durationMs: status === 'inProgress' ? null : Date.now() - turn.startedAtMs,
  }
}

function defaultUsage() {
  const b = { totalTokens: 15, inputTokens: 10, cachedInputTokens: 0, outputTokens: 5, reasoningOutputTokens: 0 }
  return { total: { ...b }, last: { ...b }, modelContextWindow: null }
}

function inputText(params) {
  const input = params && params.input
  if (typeof input === 'string') return input
  if (!Array.isArray(input)) return ''
  return input
    .filter((i) => i && i.type === 'text' && typeof i.text === 'string')
    .map((i) => i.text)
    .join('\n')
}

function splitText(text, n) {
  const chars = Array.from(text)
  const count = Math.max(1, Math.min(n, chars.length))
  if (chars.length === 0) return ['']
  const pieces = []
  for (let i = 0; i < count; i++) {
    pieces.push(chars.slice(Math.floor((i * chars.length) / count), Math.floor(((i + 1) * chars.length) / count)).join(''))
  }
  return pieces
}

function substitute(value, ctx) {
  if (typeof value === 'string') {
    switch (value) {
      case '$threadId':
        return ctx.turn ? ctx.turn.threadId : ctx.threadId ?? value
      case '$turnId':
        return ctx.turn ? ctx.turn.id : value
      case '$itemId':
        return ctx.turn ? ctx.turn.itemId : value
      case '$requestId':
        return ctx.req && ctx.req.id !== undefined ? ctx.req.id : value
      default:
        return value
    }
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, ctx))
  if (value !== null && typeof value === 'object') {
    const o = {}
    for (const [k, v] of Object.entries(value)) o[k] = substitute(v, ctx)
    return o
  }
  return value
}

// ---------------------------------------------------------------------------------------------
// Actions. runActions resolves to 'final' when an action answered/ended the request, to 'hang'
// when the request must never be answered / the turn never completes, else undefined.

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms))
}

/** Sleeps, or wakes early when the turn is interrupted. */
function turnSleep(turn, ms) {
  if (!turn) return sleep(ms)
  if (turn.interrupted) return Promise.resolve()
  return new Promise((resolve) => {
    const wake = () => {
      clearTimeout(timer)
      turn.wakers.delete(wake)
      resolve()
    }
    const timer = setTimeout(wake, ms)
    turn.wakers.add(wake)
  })
}

function applies(action, callNo) {
  if (callNo === undefined) return true
  if (action.call !== undefined && action.call !== callNo) return false
  if (Array.isArray(action.calls) && !action.calls.includes(callNo)) return false
  if (action.times !== undefined && callNo > action.times) return false
  return true
}

async function die({ code, signal, message }) {
  await flushStdout()
  if (message) stderrLine(message)
  if (signal) {
    process.kill(process.pid, signal)
    await sleep(1000) // an ignored/handled signal: fall back to exiting
  }
  process.exit(code ?? 1)
}

async function runActions(list, ctx, callNo) {
  for (const action of asList(list)) {
    if (!action || typeof action !== 'object') continue
    if (!applies(action, callNo)) continue
    const result = await runAction(action, ctx)
    if (result) return result
  }
  return undefined
}

async function runAction(a, ctx) {
  const req = ctx.req
  switch (a.do) {
    case 'stderr':
      if (a.bytes !== undefined) stderrFlood(a.bytes, a.lineBytes ?? 100)
      else stderrLine(a.text ?? '')
      return
    case 'sleep':
      await turnSleep(ctx.turn, a.ms ?? 0)
      return
    case 'crash':
      await die({ code: a.code ?? 1, signal: a.signal, message: a.stderr ?? 'fake: crashing now' })
      return 'final'
    case 'exit':
      await die({ code: a.code ?? 0, message: a.stderr })
      return 'final'
    case 'raw':
      writeLines(`${a.text ?? ''}\n`)
      return
    case 'malformed':
      writeLines(`${a.text ?? '{"method":"broken", '}\n`)
      return
    case 'rawBytes':
      writeLines(Buffer.concat([Buffer.from(a.base64 ?? '', 'base64'), Buffer.from('\n')]))
      return
    case 'bigLine':
      await bigLine(a)
      return
    case 'send':
      send(substitute(a.frame ?? {}, ctx))
      return
    case 'notify':
      notify(a.method, substitute(a.params ?? {}, ctx))
      return
    case 'strayResponse':
      send({ id: a.id ?? 987654321, result: a.result ?? {} })
      return
    case 'respond':
      if (req && req.id !== undefined) respond(req.id, substitute(a.result ?? {}, ctx))
      return 'final'
    case 'error':
      if (req && req.id !== undefined) {
        respondError(req.id, a.code ?? -32001, a.message ?? OVERLOADED_MESSAGE, a.data)
      }
      return 'final'
    case 'hang':
      return 'hang'
    case 'closeStdout':
      await closeStdout()
      return
    case 'serverRequest':
      await serverRequest(a.method, substitute(a.params ?? {}, ctx), a, ctx)
      return
    case 'approval': {
      const turn = ctx.turn
      const command = a.kind !== 'fileChange'
      const method = command ? 'item/commandExecution/requestApproval' : 'item/fileChange/requestApproval'
      const params = {
        threadId: turn ? turn.threadId : undefined,
        turnId: turn ? turn.id : undefined,
        itemId: `call_${++itemCounter}`,
        startedAtMs: Date.now(),
        reason: a.reason ?? null,
      }
      if (command) {
        Object.assign(params, {
          kind: 'command',
          environmentId: null,
          command: a.command ?? 'rm -rf /tmp/fake',
          cwd: a.cwd ?? process.cwd(),
        })
      } else {
        params.grantRoot = a.grantRoot ?? null
      }
      Object.assign(params, a.params ? substitute(a.params, ctx) : {})
      await serverRequest(method, params, a, ctx)
      return
    }
    default:
      stderrLine(`fake: unknown action ${JSON.stringify(a.do)}`)
      return
  }
}

async function serverRequest(method, params, a, ctx) {
  const id = a.id ?? serverRequestCounter++
  const answered = new Promise((resolve) => pendingServerRequests.set(id, resolve))
  send({ id, method, params })
  if (a.await === false) return
  if (ctx.turn) {
    // An interrupt stops waiting (the answer still lands in the log).
    await Promise.race([answered, new Promise((r) => ctx.turn.wakers.add(r))])
  } else {
    await answered
  }
}

async function closeStdout() {
  if (out.closed) return
  await flushStdout()
  out.closed = true
  try {
    fs.closeSync(1)
    // Keep fd 1 taken (lowest free fd) so nothing opened later lands on it.
    fs.openSync('/dev/null', 'r')
  } catch {
    // already closed
  }
}

async function bigLine(a) {
  const total = a.bytes ?? Math.round((a.mib ?? 64) * 1024 * 1024)
  const chunk = Math.max(1, Math.round((a.chunkKiB ?? 1024) * 1024))
  const valid = a.valid !== false
  let head = ''
  let tail = ''
  let fill = 'x'
  if (valid) {
    head = `{"method":${JSON.stringify(a.method ?? 'fake/bigLine')},"params":{"pad":"`
    tail = '"}}'
    fill = 'a'
  }
  let remaining = Math.max(0, total - head.length - tail.length)
  await acquireGate()
  try {
    const block = fill.repeat(Math.min(chunk, remaining))
    await writeAwait(head, { gated: true })
    while (remaining > 0 && !out.closed) {
      const n = Math.min(chunk, remaining)
      await writeAwait(n === block.length ? block : fill.repeat(n), { gated: true })
      remaining -= n
    }
    await writeAwait(tail + '\n', { gated: true })
    stats.linesWritten++
  } finally {
    releaseGate()
  }
}

// ---------------------------------------------------------------------------------------------
// Turns

function turnSpecFor(ordinal, text) {
  const spec = { deltas: 3, delayMs: 0 }
  Object.assign(spec, scenario.turn)
  if (scenario.turns && scenario.turns[String(ordinal)]) Object.assign(spec, scenario.turns[String(ordinal)])
  if (scenario.turnsByText && Object.prototype.hasOwnProperty.call(scenario.turnsByText, text)) {
    Object.assign(spec, scenario.turnsByText[text])
  }
  return spec
}

function newTurn(threadId, text) {
  const ordinal = ++turnCounter
  stats.turnsStarted++
  const turn = {
    id: `turn_${ordinal}`,
    ordinal,
    threadId,
    itemId: `msg_${++itemCounter}`,
    inputText: text,
    interrupted: false,
    done: false,
    wakers: new Set(),
    steers: [],
    startedAt: nowSecs(),
    startedAtMs: Date.now(),
  }
  turns.set(turn.id, turn)
  activeTurnByThread.set(threadId, turn)
  return turn
}

function finishTurn(turn, status, error = null) {
  if (turn.done) return
  turn.done = true
  if (activeTurnByThread.get(turn.threadId) === turn) activeTurnByThread.delete(turn.threadId)
  notify('turn/completed', { threadId: turn.threadId, turn: turnObject(turn, status, error) })
}

function emitItemStarted(turn) {
  notify('item/started', {
    threadId: turn.threadId,
    turnId: turn.id,
    startedAtMs: Date.now(),
    item: { type: 'agentMessage', id: turn.itemId, text: '', phase: null },
  })
}

function emitItemCompleted(turn, text) {
  notify('item/completed', {
    threadId: turn.threadId,
    turnId: turn.id,
    completedAtMs: Date.now(),
    item: { type: 'agentMessage', id: turn.itemId, text, phase: null },
  })
}

/**
 * item/completed for a flood of `count` copies of `piece`, written as the same bytes
 * emitItemCompleted would write, without building and JSON-encoding the whole text (20 MB for
 * the 1 KiB benchmark flood): a benchmark measures the client reading, not this process encoding.
 */
function emitItemCompletedRepeated(turn, piece, count) {
  const plain = JSON.stringify(piece) === `"${piece}"`
  if (!plain || count === 0 || optOut.has('item/completed')) return emitItemCompleted(turn, piece.repeat(count))
  const marker = '\u0001text\u0001'
  const line = JSON.stringify({
    method: 'item/completed',
    params: {
      threadId: turn.threadId,
      turnId: turn.id,
      completedAtMs: Date.now(),
      item: { type: 'agentMessage', id: turn.itemId, text: marker, phase: null },
    },
  })
  const encodedMarker = JSON.stringify(marker).slice(1, -1)
  const at = line.indexOf(encodedMarker)
  const tail = line.slice(at + encodedMarker.length)
  stats.linesWritten++
  writeLines(line.slice(0, at))
  writeLines(Buffer.alloc(Buffer.byteLength(piece) * count, piece)) // fills by repeating `piece`
  writeLines(tail + '\n')
}

function emitDelta(turn, delta) {
  notify('item/agentMessage/delta', { threadId: turn.threadId, turnId: turn.id, itemId: turn.itemId, delta })
}

function emitUsage(turn, spec) {
  const usage = spec.usage === undefined ? defaultUsage() : spec.usage
  if (usage === null) return
  notify('thread/tokenUsage/updated', { threadId: turn.threadId, turnId: turn.id, tokenUsage: usage })
}

/** Ends an interrupted turn: the partial message, then turn/completed "interrupted". */
function endInterrupted(turn, partial) {
  if (turn.done) return
  if (turn.itemStarted) emitItemCompleted(turn, partial)
  finishTurn(turn, 'interrupted')
}

async function handleTurnStart(req) {
  const params = req.params || {}
  const threadId = params.threadId
  if (!threads.has(threadId)) {
    respondError(req.id, -32600, `thread not found: ${threadId}`)
    return
  }
  if (scenario.batch) {
    const text = inputText(params)
    batchQueue.push({ req, turn: newTurn(threadId, text) })
    if (batchQueue.length >= (scenario.batch.size ?? 1)) {
      runBatch(batchQueue.splice(0)).catch((e) => stderrLine(`fake: batch failed: ${e && e.stack}`))
    }
    return
  }
  const text = inputText(params)
  const turn = newTurn(threadId, text)
  const spec = turnSpecFor(turn.ordinal, text)
  await runTurn(req, turn, spec)
}

async function runTurn(req, turn, spec) {
  const ctx = { req, turn }
  let answered = false
  const answer = () => {
    if (answered) return
    answered = true
    respond(req.id, { turn: turnObject(turn, 'inProgress') })
  }
  const at = spec.at || {}
  const early = spec.early === 'all' ? Infinity : spec.early === true ? 0 : typeof spec.early === 'number' ? spec.early : -1

  const before = await runActions(spec.before, ctx)
  if (before === 'final') return
  if (before === 'hang') return // the request is never answered
  if (early < 0) answer()

  notify('turn/started', { threadId: turn.threadId, turn: turnObject(turn, 'inProgress') })
  emitItemStarted(turn)
  turn.itemStarted = true

  if (spec.flood !== undefined) {
    if (early >= 0) answer()
    await runFlood(turn, spec)
    return
  }

  const text = typeof spec.text === 'string' ? spec.text : `echo: ${turn.inputText}`
  const pieces = Array.isArray(spec.deltas) ? spec.deltas.map(String) : splitText(text, spec.deltas ?? 3)
  const full = Array.isArray(spec.deltas) && typeof spec.text !== 'string' ? pieces.join('') : text
  let sent = ''

  const step = async (k) => {
    if (early >= 0 && k === Math.min(early, pieces.length) && early !== Infinity) answer()
    const r = await runActions(at[String(k)], ctx)
    return r
  }

  let r = await step(0)
  for (let k = 1; k <= pieces.length && r === undefined; k++) {
    if (spec.delayMs) await turnSleep(turn, spec.delayMs)
    if (turn.interrupted) break
    emitDelta(turn, pieces[k - 1])
    sent += pieces[k - 1]
    r = await step(k)
  }
  if (r === undefined && !turn.interrupted) r = await runActions(spec.end, ctx)
  if (r === undefined && spec.hang && !turn.interrupted) r = 'hang'
  if (r === 'hang' && !turn.interrupted) {
    answer()
    await new Promise((resolve) => turn.wakers.add(resolve))
  }
  if (r === 'final') return // e.g. crash/exit; or `respond` replaced the rest
  if (turn.interrupted) {
    answer()
    endInterrupted(turn, sent)
    return
  }
  emitItemCompleted(turn, full)
  emitUsage(turn, spec)
  if (spec.status === 'failed') {
    const error = { message: 'fake turn failure', codexErrorInfo: null, additionalDetails: null, ...spec.error }
    notify('error', { threadId: turn.threadId, turnId: turn.id, error, willRetry: false })
    finishTurn(turn, 'failed', error)
  } else {
    finishTurn(turn, spec.status ?? 'completed')
  }
  answer() // early: "all"
}

function deltaPrefix(turn) {
  return (
    `{"method":"item/agentMessage/delta","params":{"threadId":${JSON.stringify(turn.threadId)},` +
    `"turnId":${JSON.stringify(turn.id)},"itemId":${JSON.stringify(turn.itemId)},"delta":`
  )
}

async function runFlood(turn, spec) {
  const n = spec.flood
  const indexed = spec.indexed === true
  const deltaText = typeof spec.deltaText === 'string' ? spec.deltaText : 'x'
  const skipDeltas = optOut.has('item/agentMessage/delta')
  const prefix = deltaPrefix(turn)
  const t = performance.now()
  let sent = 0
  const texts = indexed ? [] : null
  if (!skipDeltas) {
    await waitGate() // behind a big line, if any
    if (!indexed) {
      const line = `${prefix}${JSON.stringify(deltaText)}}}\n`
      const perChunk = Math.max(1, Math.floor(FLOOD_CHUNK / line.length))
      // Encoded once: the server's cost per line is then only the pipe's, so a benchmark
      // measures the client reading, not this process encoding.
      const block = Buffer.from(line.repeat(perChunk))
      while (sent < n && !turn.interrupted && !out.closed) {
        const k = Math.min(perChunk, n - sent)
        await writeAwait(k === perChunk ? block : line.repeat(k))
        sent += k
        stats.floodLines += k
      }
    } else {
      let chunk = ''
      let lines = 0
      for (let j = 0; j < n; j++) {
        const d = `${turn.id}:${j};`
        texts.push(d)
        chunk += `${prefix}"${d}"}}\n`
        lines++
        if (chunk.length >= FLOOD_CHUNK) {
          await writeAwait(chunk)
          sent += lines
          stats.floodLines += lines
          chunk = ''
          lines = 0
          if (turn.interrupted || out.closed) break
        }
      }
      if (chunk && !turn.interrupted) {
        await writeAwait(chunk)
        sent += lines
        stats.floodLines += lines
      }
    }
  } else {
    sent = n
  }
  stats.floodMs += performance.now() - t
  stats.floodEndedAt = Date.now()
  if (spec.floodReport === true) {
    // In-band, so it is ordered with the flood: the client reads it only after every delta.
    notify('fake/flood/ended', { threadId: turn.threadId, turnId: turn.id, at: stats.floodEndedAt, lines: sent })
  }
  const text = () => (indexed ? texts.slice(0, sent).join('') : deltaText.repeat(sent))
  if (turn.interrupted) {
    endInterrupted(turn, text())
  } else {
    const r = await runActions(spec.end, { turn })
    if (r === 'final') return
    if (turn.interrupted) {
      endInterrupted(turn, text())
    } else {
      if (indexed) emitItemCompleted(turn, text())
      else emitItemCompletedRepeated(turn, deltaText, sent)
      emitUsage(turn, spec)
      finishTurn(turn, 'completed')
    }
  }
  await flushStdout(60_000)
  reportStats({ toStderr: true })
}

async function runBatch(entries) {
  const d = scenario.batch.deltas ?? 3
  const skipDeltas = optOut.has('item/agentMessage/delta')
  for (const { req, turn } of entries) respond(req.id, { turn: turnObject(turn, 'inProgress') })
  for (const { turn } of entries) {
    notify('turn/started', { threadId: turn.threadId, turn: turnObject(turn, 'inProgress') })
  }
  for (const { turn } of entries) {
    emitItemStarted(turn)
    turn.itemStarted = true
  }
  const t = performance.now()
  const prefixes = entries.map(({ turn }) => deltaPrefix(turn))
  const sent = entries.map(() => 0)
  if (!skipDeltas) {
    await waitGate()
    let chunk = ''
    let lines = 0
    for (let j = 0; j < d; j++) {
      for (let i = 0; i < entries.length; i++) {
        const turn = entries[i].turn
        if (turn.interrupted || turn.done) continue
        chunk += `${prefixes[i]}"${turn.id}:${j};"}}\n`
        sent[i] = j + 1
        lines++
      }
      if (chunk.length >= FLOOD_CHUNK) {
        await writeAwait(chunk)
        stats.floodLines += lines
        chunk = ''
        lines = 0
      }
    }
    if (chunk) {
      await writeAwait(chunk)
      stats.floodLines += lines
    }
  } else {
    sent.fill(d)
  }
  stats.floodMs += performance.now() - t
  stats.floodEndedAt = Date.now()
  const textOf = (i) => {
    const parts = []
    for (let j = 0; j < sent[i]; j++) parts.push(`${entries[i].turn.id}:${j};`)
    return parts.join('')
  }
  entries.forEach(({ turn }, i) => {
    if (turn.done) return
    if (turn.interrupted) return endInterrupted(turn, textOf(i))
    emitItemCompleted(turn, textOf(i))
  })
  entries.forEach(({ turn }) => {
    if (!turn.done) emitUsage(turn, {})
  })
  entries.forEach(({ turn }) => finishTurn(turn, 'completed'))
  await flushStdout(60_000)
  reportStats({ toStderr: true })
}

// ---------------------------------------------------------------------------------------------
// Built-in handling of client requests

function handleBuiltin(req) {
  const { id, method } = req
  const params = req.params || {}
  switch (method) {
    case 'initialize': {
      const caps = params.capabilities || {}
      optOut = new Set(Array.isArray(caps.optOutNotificationMethods) ? caps.optOutNotificationMethods : [])
      respond(id, {
        userAgent: 'fake-app-server/0.0.0',
        codexHome: process.env.CODEX_HOME || path.join(os.tmpdir(), 'fake-codex-home'),
        platformFamily: 'unix',
        platformOs: 'linux',
        ...scenario.initialize,
      })
      return
    }
    case 'thread/start': {
      const thread = makeThread(`thr_${++threadCounter}`, { ephemeral: params.ephemeral === true })
      threads.set(thread.id, thread)
      respond(id, threadResponse(thread))
      notify('thread/started', { thread })
      return
    }
    case 'thread/resume': {
      const tid = params.threadId
      const thread = threads.get(tid) || makeThread(tid)
      threads.set(tid, thread)
      respond(id, threadResponse(thread))
      return
    }
    case 'thread/fork': {
      const thread = makeThread(`thr_${++threadCounter}`, { forkedFromId: params.threadId ?? null })
      threads.set(thread.id, thread)
      respond(id, threadResponse(thread))
      notify('thread/started', { thread })
      return
    }
    case 'thread/read': {
      const thread = threads.get(params.threadId)
      if (!thread) return respondError(id, -32600, `thread not found: ${params.threadId}`)
      respond(id, { thread })
      return
    }
    case 'thread/list':
      respond(id, { data: [...threads.values()], nextCursor: null, backwardsCursor: null })
      return
    case 'thread/archive':
    case 'thread/name/set':
    case 'thread/unsubscribe':
      respond(id, {})
      return
    case 'thread/unarchive': {
      const thread = threads.get(params.threadId) || makeThread(params.threadId)
      respond(id, { thread })
      return
    }
    case 'model/list':
      respond(id, { data: [], nextCursor: null })
      return
    case 'turn/start':
      return handleTurnStart(req)
    case 'turn/interrupt': {
      const turn = turns.get(params.turnId)
      respond(id, {})
      if (turn && !turn.done && !turn.interrupted) {
        turn.interrupted = true
        for (const wake of Array.from(turn.wakers)) wake()
        turn.wakers.clear()
      }
      return
    }
    case 'turn/steer': {
      const turn = activeTurnByThread.get(params.threadId)
      if (!turn) return respondError(id, -32600, 'no active turn to steer')
      if (params.expectedTurnId !== turn.id) {
        return respondError(id, -32600, `expected turn ${params.expectedTurnId} but the active turn is ${turn.id}`)
      }
      turn.steers.push(params.input)
      respond(id, { turnId: turn.id })
      return
    }
    default:
      respondError(id, -32601, `method not found: ${method}`)
  }
}

async function handleFrame(frame) {
  const isRequest = typeof frame.method === 'string'
  if (!isRequest) {
    // The client's answer to one of our server requests.
    if (frame.id !== undefined && pendingServerRequests.has(frame.id)) {
      const resolve = pendingServerRequests.get(frame.id)
      pendingServerRequests.delete(frame.id)
      resolve(frame)
    }
    return
  }
  const method = frame.method
  const callNo = (methodCalls.get(method) || 0) + 1
  methodCalls.set(method, callNo)
  const ctx = { req: frame }
  const list = scenario.on && scenario.on[method]
  if (list) {
    const r = await runActions(list, ctx, callNo)
    if (r === 'final' || r === 'hang') return
  }
  if (frame.id === undefined) {
    return // client notifications (`initialized`, ...): nothing more to do
  }
  await handleBuiltin(frame)
}

// ---------------------------------------------------------------------------------------------
// Input

let pending = []
let pendingLen = 0
let started = false
const beforeStart = []

function onLine(buf) {
  let line = buf.toString('utf8')
  if (line.endsWith('\r')) line = line.slice(0, -1)
  if (line.trim() === '') return
  stats.framesReceived++
  let frame
  try {
    frame = JSON.parse(line)
  } catch {
    logRecord({ $malformed: line })
    stderrLine(`fake: malformed frame from client: ${line.slice(0, 200)}`)
    return
  }
  logRecord(frame)
  if (frame === null || typeof frame !== 'object') return
  if (!started) {
    beforeStart.push(frame)
    return
  }
  handleFrame(frame).catch((e) => stderrLine(`fake: handler failed: ${e && e.stack}`))
}

function onData(chunk) {
  let start = 0
  for (;;) {
    const nl = chunk.indexOf(10, start)
    if (nl === -1) break
    const piece = chunk.subarray(start, nl)
    if (pendingLen > 0) {
      pending.push(piece)
      const whole = Buffer.concat(pending)
      pending = []
      pendingLen = 0
      onLine(whole)
    } else {
      onLine(piece)
    }
    start = nl + 1
  }
  if (start < chunk.length) {
    pending.push(chunk.subarray(start))
    pendingLen += chunk.length - start
  }
}

// ---------------------------------------------------------------------------------------------
// Lifecycle

let exiting = false

async function finish(code) {
  if (exiting) return
  exiting = true
  reportStats({ toStderr: scenario.stats === true })
  await flushStdout(500)
  process.exit(code)
}

process.on('SIGTERM', () => {
  logRecord({ $signal: 'SIGTERM' })
  if (scenario.ignoreSigterm) return
  finish(0)
})

process.stdin.on('data', onData)
process.stdin.on('end', () => {
  logRecord({ $eof: true })
  if (scenario.ignoreStdinEof) {
    setInterval(() => {}, 1 << 30)
    return
  }
  finish(0)
})
process.stdin.on('error', () => {})

logRecord({ $start: { pid: process.pid, argv: process.argv.slice(2), cwd: process.cwd() } })

;(async () => {
  const r = await runActions(scenario.startup, {})
  if (r === 'hang') return // stop serving: frames are logged but never handled
  started = true
  for (const frame of beforeStart.splice(0)) {
    handleFrame(frame).catch((e) => stderrLine(`fake: handler failed: ${e && e.stack}`))
  }
})()
