// @ts-check
'use strict'

// The scripted fake app-server's scenario interpreter (./fake-app-server.js documents the
// scenario format): the built-in handling of client requests, turns as a TurnSpec scripts
// them, and the actions of `startup`, `on` lists and turns. Output goes through ./fake-io.js,
// well-formed messages through the typed builders of ./fake-protocol.js, bulk through
// ./fake-flood.js. `serve()` runs the process.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const io = require('./fake-io.js')
const proto = require('./fake-protocol.js')
const flood = require('./fake-flood.js')

/** @typedef {import('./fake-app-server').Scenario} Scenario */
/** @typedef {import('./fake-app-server').TurnSpec} TurnSpec */
/** @typedef {import('./fake-app-server').Action} Action */
/** @typedef {import('./fake-protocol.js').FakeTurn} FakeTurn */
/** @typedef {import('../protocol/index.js').RequestId} RequestId */
/**
 * A frame from the client, as parsed: anything JSON, so every field is checked before use.
 * @typedef {{ id?: any, method?: any, params?: any, [key: string]: unknown }} ClientFrame
 */
/**
 * What an action sees: the request that triggered it, the turn it runs in.
 * @typedef {{ req?: ClientFrame, turn?: FakeTurn, threadId?: string }} Ctx
 */
/** `final`: the request was answered / the list ended; `hang`: never answered; else undefined. @typedef {'final' | 'hang' | undefined} Outcome */

const OVERLOADED_MESSAGE = 'Server overloaded; retry later.'

// ---------------------------------------------------------------------------------------------
// Scenario

/** @returns {Scenario} */
function loadScenario() {
  const file = process.env.CODEX_FAKE_SCENARIO
  if (!file) return {}
  try {
    const s = JSON.parse(fs.readFileSync(file, 'utf8'))
    if (s === null || typeof s !== 'object' || Array.isArray(s)) throw new Error('not an object')
    return s
  } catch (e) {
    io.stderrLine(`fake: bad scenario ${file}: ${/** @type {Error} */ (e).message}`)
    process.exit(2)
  }
}

/**
 * @template T
 * @param {T | T[] | undefined | null} x
 * @returns {T[]}
 */
function asList(x) {
  if (x === undefined || x === null) return []
  return Array.isArray(x) ? x : [x]
}

// ---------------------------------------------------------------------------------------------
// State

const scenario = loadScenario()

/** @type {Map<string, import('../protocol/index.js').Thread>} */
const threads = new Map()
/** @type {Map<string, FakeTurn>} */
const turns = new Map()
/** @type {Map<string, FakeTurn>} */
const activeTurnByThread = new Map()
/** @type {Map<string, number>} */
const methodCalls = new Map()
/** @type {Map<unknown, (answer: ClientFrame) => void>} */
const pendingServerRequests = new Map()
let threadCounter = 0
let turnCounter = 0
let itemCounter = 0
let serverRequestCounter = 0
/** @type {Array<{ req: ClientFrame, turn: FakeTurn }>} */
const batchQueue = []

/** @param {unknown} params */
function inputText(params) {
  const input = params && /** @type {{ input?: unknown }} */ (params).input
  if (typeof input === 'string') return input
  if (!Array.isArray(input)) return ''
  return input
    .filter((i) => i && i.type === 'text' && typeof i.text === 'string')
    .map((i) => i.text)
    .join('\n')
}

/**
 * @param {string} text
 * @param {number} n
 */
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

/**
 * Replaces "$threadId", "$turnId", "$itemId", "$requestId" inside a scenario payload.
 * @param {unknown} value
 * @param {Ctx} ctx
 * @returns {any}
 */
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
    /** @type {Record<string, unknown>} */
    const o = {}
    for (const [k, v] of Object.entries(value)) o[k] = substitute(v, ctx)
    return o
  }
  return value
}

// ---------------------------------------------------------------------------------------------
// Actions. runActions resolves to 'final' when an action answered/ended the request, to 'hang'
// when the request must never be answered / the turn never completes, else undefined.

/** @param {number} ms */
function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms))
}

/**
 * Sleeps, or wakes early when the turn is interrupted.
 * @param {FakeTurn | undefined} turn
 * @param {number} ms
 * @returns {Promise<void>}
 */
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

/**
 * @param {Action} action
 * @param {number | undefined} callNo
 */
function applies(action, callNo) {
  if (callNo === undefined) return true
  if (action.call !== undefined && action.call !== callNo) return false
  if (Array.isArray(action.calls) && !action.calls.includes(callNo)) return false
  if (action.times !== undefined && callNo > action.times) return false
  return true
}

/** @param {{ code?: number, signal?: NodeJS.Signals, message?: string }} how */
async function die({ code, signal, message }) {
  await io.flushStdout()
  if (message) io.stderrLine(message)
  if (signal) {
    process.kill(process.pid, signal)
    await sleep(1000) // an ignored/handled signal: fall back to exiting
  }
  process.exit(code ?? 1)
}

/**
 * @param {Action[] | Action | undefined} list
 * @param {Ctx} ctx
 * @param {number} [callNo] the call count of the method, for `on` lists
 * @returns {Promise<Outcome>}
 */
async function runActions(list, ctx, callNo) {
  for (const action of asList(list)) {
    if (!action || typeof action !== 'object') continue
    if (!applies(action, callNo)) continue
    const result = await runAction(action, ctx)
    if (result) return result
  }
  return undefined
}

/**
 * @param {Action} a
 * @param {Ctx} ctx
 * @returns {Promise<Outcome>}
 */
async function runAction(a, ctx) {
  const req = ctx.req
  // Scenario payloads (send, notify, respond, serverRequest, raw, ...) go out as written, so
  // their frames are typed loosely: faults are made of frames the protocol does not allow.
  switch (a.do) {
    case 'stderr':
      if ('bytes' in a && a.bytes !== undefined) flood.stderrFlood(a.bytes, a.lineBytes ?? 100)
      else io.stderrLine('text' in a ? a.text ?? '' : '')
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
      io.writeLines(`${a.text ?? ''}\n`)
      return
    case 'malformed':
      io.writeLines(`${a.text ?? '{"method":"broken", '}\n`)
      return
    case 'rawBytes':
      io.writeLines(Buffer.concat([Buffer.from(a.base64 ?? '', 'base64'), Buffer.from('\n')]))
      return
    case 'bigLine':
      await flood.bigLine(a)
      return
    case 'send':
      io.send(substitute(a.frame ?? {}, ctx))
      return
    case 'notify':
      io.send({ method: a.method, params: substitute(a.params ?? {}, ctx) })
      return
    case 'strayResponse':
      io.send({ id: a.id ?? 987654321, result: a.result ?? {} })
      return
    case 'respond':
      if (req && req.id !== undefined) io.send({ id: req.id, result: substitute(a.result ?? {}, ctx) })
      return 'final'
    case 'error':
      if (req && req.id !== undefined) {
        proto.respondError(req.id, a.code ?? -32001, a.message ?? OVERLOADED_MESSAGE, a.data)
      }
      return 'final'
    case 'hang':
      return 'hang'
    case 'closeStdout':
      await io.closeStdout()
      return
    case 'serverRequest':
      await serverRequest(a.method, substitute(a.params ?? {}, ctx), a, ctx)
      return
    case 'approval': {
      const turn = ctx.turn
      const command = a.kind !== 'fileChange'
      const method = command ? 'item/commandExecution/requestApproval' : 'item/fileChange/requestApproval'
      // Built as a scenario may override it (`params`), and outside a turn without thread or
      // turn ids: a fault case as much as a well-formed request, hence a loose record.
      /** @type {Record<string, unknown>} */
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
      io.stderrLine(`fake: unknown action ${JSON.stringify(/** @type {{ do?: unknown }} */ (a).do)}`)
      return
  }
}

/**
 * Sends a server request; with `await` (the default) waits for the client's answer, or for an
 * interrupt of the turn it runs in.
 * @param {string} method
 * @param {unknown} params
 * @param {{ id?: number | string, await?: boolean }} a
 * @param {Ctx} ctx
 */
async function serverRequest(method, params, a, ctx) {
  const id = a.id ?? serverRequestCounter++
  /** @type {Promise<unknown>} */
  const answered = new Promise((resolve) => pendingServerRequests.set(id, resolve))
  io.send({ id, method, params })
  if (a.await === false) return
  if (ctx.turn) {
    // An interrupt stops waiting (the answer still lands in the log).
    const turn = ctx.turn
    await Promise.race([answered, new Promise((r) => turn.wakers.add(() => r(undefined)))])
  } else {
    await answered
  }
}

// ---------------------------------------------------------------------------------------------
// Turns

/**
 * built-in < "turn" < "turns"[n] < "turnsByText"[text]
 * @param {number} ordinal
 * @param {string} text
 * @returns {TurnSpec}
 */
function turnSpecFor(ordinal, text) {
  /** @type {TurnSpec} */
  const spec = { deltas: 3, delayMs: 0 }
  Object.assign(spec, scenario.turn)
  if (scenario.turns && scenario.turns[String(ordinal)]) Object.assign(spec, scenario.turns[String(ordinal)])
  if (scenario.turnsByText && Object.prototype.hasOwnProperty.call(scenario.turnsByText, text)) {
    Object.assign(spec, scenario.turnsByText[text])
  }
  return spec
}

/**
 * @param {string} threadId
 * @param {string} text
 * @returns {FakeTurn}
 */
function newTurn(threadId, text) {
  const ordinal = ++turnCounter
  io.stats.turnsStarted++
  /** @type {FakeTurn} */
  const turn = {
    id: `turn_${ordinal}`,
    ordinal,
    threadId,
    itemId: `msg_${++itemCounter}`,
    inputText: text,
    interrupted: false,
    done: false,
    itemStarted: false,
    wakers: new Set(),
    steers: [],
    startedAt: proto.nowSecs(),
    startedAtMs: Date.now(),
  }
  turns.set(turn.id, turn)
  activeTurnByThread.set(threadId, turn)
  return turn
}

/**
 * @param {FakeTurn} turn
 * @param {import('../protocol/index.js').TurnStatus} status
 * @param {import('../protocol/index.js').TurnError | null} [error]
 */
function finishTurn(turn, status, error = null) {
  if (turn.done) return
  turn.done = true
  if (activeTurnByThread.get(turn.threadId) === turn) activeTurnByThread.delete(turn.threadId)
  proto.emitTurnCompleted(turn, status, error)
}

/**
 * Ends an interrupted turn: the partial message, then turn/completed "interrupted".
 * @param {FakeTurn} turn
 * @param {string} partial
 */
function endInterrupted(turn, partial) {
  if (turn.done) return
  if (turn.itemStarted) proto.emitItemCompleted(turn, partial)
  finishTurn(turn, 'interrupted')
}

/** @param {ClientFrame} req */
async function handleTurnStart(req) {
  const params = req.params || {}
  const threadId = params.threadId
  if (!threads.has(threadId)) {
    proto.respondError(req.id, -32600, `thread not found: ${threadId}`)
    return
  }
  if (scenario.batch) {
    const text = inputText(params)
    batchQueue.push({ req, turn: newTurn(threadId, text) })
    if (batchQueue.length >= (scenario.batch.size ?? 1)) {
      runBatch(batchQueue.splice(0)).catch((e) => io.stderrLine(`fake: batch failed: ${e && e.stack}`))
    }
    return
  }
  const text = inputText(params)
  const turn = newTurn(threadId, text)
  const spec = turnSpecFor(turn.ordinal, text)
  await runTurn(req, turn, spec)
}

/**
 * @param {ClientFrame} req
 * @param {FakeTurn} turn
 */
function answerTurnStart(req, turn) {
  proto.respond('turn/start', req.id, { turn: proto.turnObject(turn, 'inProgress') })
}

/**
 * @param {ClientFrame} req
 * @param {FakeTurn} turn
 * @param {TurnSpec} spec
 */
async function runTurn(req, turn, spec) {
  /** @type {Ctx} */
  const ctx = { req, turn }
  let answered = false
  const answer = () => {
    if (answered) return
    answered = true
    answerTurnStart(req, turn)
  }
  const at = spec.at || {}
  const early = spec.early === 'all' ? Infinity : spec.early === true ? 0 : typeof spec.early === 'number' ? spec.early : -1

  const before = await runActions(spec.before, ctx)
  if (before === 'final') return
  if (before === 'hang') return // the request is never answered
  if (early < 0) answer()

  proto.emitTurnStarted(turn)
  proto.emitItemStarted(turn)
  turn.itemStarted = true

  if (spec.flood !== undefined) {
    if (early >= 0) answer()
    await runFlood(turn, { ...spec, flood: spec.flood })
    return
  }

  const text = typeof spec.text === 'string' ? spec.text : `echo: ${turn.inputText}`
  const pieces = Array.isArray(spec.deltas) ? spec.deltas.map(String) : splitText(text, spec.deltas ?? 3)
  const full = Array.isArray(spec.deltas) && typeof spec.text !== 'string' ? pieces.join('') : text
  let sent = ''

  const step = async (/** @type {number} */ k) => {
    if (early >= 0 && k === Math.min(early, pieces.length) && early !== Infinity) answer()
    const r = await runActions(at[String(k)], ctx)
    return r
  }

  let r = await step(0)
  for (let k = 1; k <= pieces.length && r === undefined; k++) {
    if (spec.delayMs) await turnSleep(turn, spec.delayMs)
    if (turn.interrupted) break
    proto.emitDelta(turn, pieces[k - 1])
    sent += pieces[k - 1]
    r = await step(k)
  }
  if (r === undefined && !turn.interrupted) r = await runActions(spec.end, ctx)
  if (r === undefined && spec.hang && !turn.interrupted) r = 'hang'
  if (r === 'hang' && !turn.interrupted) {
    answer()
    await new Promise((resolve) => turn.wakers.add(() => resolve(undefined)))
  }
  if (r === 'final') return // e.g. crash/exit; or `respond` replaced the rest
  if (turn.interrupted) {
    answer()
    endInterrupted(turn, sent)
    return
  }
  proto.emitItemCompleted(turn, full)
  emitUsage(turn, spec)
  if (spec.status === 'failed') {
    // The scenario's `error` fields go out as written (a fault case may send any).
    const error = /** @type {import('../protocol/index.js').TurnError} */ ({
      message: 'fake turn failure',
      codexErrorInfo: null,
      additionalDetails: null,
      ...spec.error,
    })
    proto.notify('error', { threadId: turn.threadId, turnId: turn.id, error, willRetry: false })
    finishTurn(turn, 'failed', error)
  } else {
    finishTurn(turn, spec.status ?? 'completed')
  }
  answer() // early: "all"
}

/**
 * The scenario's `usage` is whatever JSON it holds: sent as given (null: not sent).
 * @param {FakeTurn} turn
 * @param {TurnSpec} spec
 */
function emitUsage(turn, spec) {
  proto.emitUsage(turn, { usage: /** @type {import('../protocol/index.js').ThreadTokenUsage | null | undefined} */ (spec.usage) })
}

/**
 * @param {FakeTurn} turn
 * @param {TurnSpec & { flood: number }} spec
 */
async function runFlood(turn, spec) {
  const { text, emitCompleted } = await flood.writeFlood(turn, spec)
  if (turn.interrupted) {
    endInterrupted(turn, text())
  } else {
    const r = await runActions(spec.end, { turn })
    if (r === 'final') return
    if (turn.interrupted) {
      endInterrupted(turn, text())
    } else {
      emitCompleted()
      emitUsage(turn, spec)
      finishTurn(turn, 'completed')
    }
  }
  await io.flushStdout(60_000)
  io.reportStats({ toStderr: true })
}

/** @param {Array<{ req: ClientFrame, turn: FakeTurn }>} entries */
async function runBatch(entries) {
  const d = scenario.batch?.deltas ?? 3
  for (const { req, turn } of entries) answerTurnStart(req, turn)
  for (const { turn } of entries) proto.emitTurnStarted(turn)
  for (const { turn } of entries) {
    proto.emitItemStarted(turn)
    turn.itemStarted = true
  }
  const sent = await flood.writeBatch(
    entries.map((e) => e.turn),
    d,
  )
  const textOf = (/** @type {number} */ i) => {
    const parts = []
    for (let j = 0; j < sent[i]; j++) parts.push(`${entries[i].turn.id}:${j};`)
    return parts.join('')
  }
  entries.forEach(({ turn }, i) => {
    if (turn.done) return
    if (turn.interrupted) return endInterrupted(turn, textOf(i))
    proto.emitItemCompleted(turn, textOf(i))
  })
  entries.forEach(({ turn }) => {
    if (!turn.done) emitUsage(turn, {})
  })
  entries.forEach(({ turn }) => finishTurn(turn, 'completed'))
  await io.flushStdout(60_000)
  io.reportStats({ toStderr: true })
}

// ---------------------------------------------------------------------------------------------
// Built-in handling of client requests

/** @param {ClientFrame} req */
function handleBuiltin(req) {
  const { id, method } = req
  const params = req.params || {}
  switch (method) {
    case 'initialize': {
      const caps = params.capabilities || {}
      io.setOptOut(caps.optOutNotificationMethods)
      proto.respond('initialize', id, {
        userAgent: 'fake-app-server/0.0.0',
        codexHome: process.env.CODEX_HOME || path.join(os.tmpdir(), 'fake-codex-home'),
        platformFamily: 'unix',
        platformOs: 'linux',
        // A scenario may add or replace anything, fields the protocol lacks included.
        .../** @type {{}} */ (scenario.initialize),
      })
      return
    }
    case 'thread/start': {
      const thread = proto.makeThread(`thr_${++threadCounter}`, { ephemeral: params.ephemeral === true })
      threads.set(thread.id, thread)
      proto.respond('thread/start', id, proto.threadResponse(thread))
      proto.notify('thread/started', { thread })
      return
    }
    case 'thread/resume': {
      const tid = params.threadId
      const thread = threads.get(tid) || proto.makeThread(tid)
      threads.set(tid, thread)
      proto.respond('thread/resume', id, proto.resumeResponse(thread))
      return
    }
    case 'thread/fork': {
      const thread = proto.makeThread(`thr_${++threadCounter}`, { forkedFromId: params.threadId ?? null })
      threads.set(thread.id, thread)
      proto.respond('thread/fork', id, proto.threadResponse(thread))
      proto.notify('thread/started', { thread })
      return
    }
    case 'thread/read': {
      const thread = threads.get(params.threadId)
      if (!thread) return proto.respondError(id, -32600, `thread not found: ${params.threadId}`)
      proto.respond('thread/read', id, { thread })
      return
    }
    case 'thread/list':
      proto.respond('thread/list', id, { data: [...threads.values()], nextCursor: null, backwardsCursor: null })
      return
    case 'thread/archive':
      proto.respond('thread/archive', id, {})
      return
    case 'thread/name/set':
      proto.respond('thread/name/set', id, {})
      return
    case 'thread/unsubscribe':
      proto.respond('thread/unsubscribe', id, { status: 'unsubscribed' })
      return
    case 'thread/unarchive': {
      const thread = threads.get(params.threadId) || proto.makeThread(params.threadId)
      proto.respond('thread/unarchive', id, { thread })
      return
    }
    case 'model/list':
      proto.respond('model/list', id, { data: [], nextCursor: null })
      return
    case 'turn/start':
      return handleTurnStart(req)
    case 'turn/interrupt': {
      const turn = turns.get(params.turnId)
      proto.respond('turn/interrupt', id, {})
      if (turn && !turn.done && !turn.interrupted) {
        turn.interrupted = true
        for (const wake of Array.from(turn.wakers)) wake()
        turn.wakers.clear()
      }
      return
    }
    case 'turn/steer': {
      const turn = activeTurnByThread.get(params.threadId)
      if (!turn) return proto.respondError(id, -32600, 'no active turn to steer')
      if (params.expectedTurnId !== turn.id) {
        return proto.respondError(id, -32600, `expected turn ${params.expectedTurnId} but the active turn is ${turn.id}`)
      }
      turn.steers.push(params.input)
      proto.respond('turn/steer', id, { turnId: turn.id })
      return
    }
    default:
      proto.respondError(id, -32601, `method not found: ${method}`)
  }
}

/** @param {ClientFrame} frame */
async function handleFrame(frame) {
  const isRequest = typeof frame.method === 'string'
  if (!isRequest) {
    // The client's answer to one of our server requests.
    if (frame.id !== undefined && pendingServerRequests.has(frame.id)) {
      const resolve = pendingServerRequests.get(frame.id)
      pendingServerRequests.delete(frame.id)
      resolve?.(frame)
    }
    return
  }
  const method = frame.method
  const callNo = (methodCalls.get(method) || 0) + 1
  methodCalls.set(method, callNo)
  /** @type {Ctx} */
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
// The process

let started = false
/** @type {ClientFrame[]} */
const beforeStart = []

/** @param {Buffer} buf */
function onLine(buf) {
  let line = buf.toString('utf8')
  if (line.endsWith('\r')) line = line.slice(0, -1)
  if (line.trim() === '') return
  io.stats.framesReceived++
  let frame
  try {
    frame = JSON.parse(line)
  } catch {
    io.logRecord({ $malformed: line })
    io.stderrLine(`fake: malformed frame from client: ${line.slice(0, 200)}`)
    return
  }
  io.logRecord(frame)
  if (frame === null || typeof frame !== 'object') return
  if (!started) {
    beforeStart.push(frame)
    return
  }
  handleFrame(frame).catch((e) => io.stderrLine(`fake: handler failed: ${e && e.stack}`))
}

let exiting = false

/** @param {number} code */
async function finish(code) {
  if (exiting) return
  exiting = true
  io.reportStats({ toStderr: scenario.stats === true })
  await io.flushStdout(500)
  process.exit(code)
}

/** Serves stdin/stdout until stdin EOF or SIGTERM (unless the scenario ignores them). */
function serve() {
  process.on('SIGTERM', () => {
    io.logRecord({ $signal: 'SIGTERM' })
    if (scenario.ignoreSigterm) return
    finish(0)
  })

  io.readLines(process.stdin, onLine)
  process.stdin.on('end', () => {
    io.logRecord({ $eof: true })
    if (scenario.ignoreStdinEof) {
      setInterval(() => {}, 1 << 30)
      return
    }
    finish(0)
  })
  process.stdin.on('error', () => {})

  io.logRecord({ $start: { pid: process.pid, argv: process.argv.slice(2), cwd: process.cwd() } })

  ;(async () => {
    const r = await runActions(scenario.startup, {})
    if (r === 'hang') return // stop serving: frames are logged but never handled
    started = true
    for (const frame of beforeStart.splice(0)) {
      handleFrame(frame).catch((e) => io.stderrLine(`fake: handler failed: ${e && e.stack}`))
    }
  })()
}

module.exports = { serve }
