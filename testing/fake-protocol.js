// @ts-check
'use strict'

// The well-formed messages of the scripted fake app-server, typed against protocol/ (the pinned
// codex's generated TypeScript; `tsc -p testing` checks them in `pnpm test`): a field renamed
// or missing here is a type error, so the fake cannot drift from the real server unnoticed.
// Deliberately malformed frames never come through here: scenarios write them with
// `send`/`writeLines` of ./fake-io.js, typed loosely on purpose.

const { send } = require('./fake-io.js')

/** @typedef {import('../protocol/index.js').ServerNotificationMap} ServerNotificationMap */
/** @typedef {import('../protocol/index.js').AnyClientRequestMap} ClientRequestMap */
/** @typedef {import('../protocol/index.js').Thread} Thread */
/** @typedef {import('../protocol/index.js').Turn} Turn */
/** @typedef {import('../protocol/index.js').TurnStatus} TurnStatus */
/** @typedef {import('../protocol/index.js').TurnError} TurnError */
/** @typedef {import('../protocol/index.js').ThreadItem} ThreadItem */
/** @typedef {import('../protocol/index.js').ThreadTokenUsage} ThreadTokenUsage */
/** @typedef {import('../protocol/index.js').RequestId} RequestId */

/**
 * A turn the fake is running (its own bookkeeping, not a protocol type).
 * @typedef {object} FakeTurn
 * @property {string} id
 * @property {number} ordinal 1-based, over the whole process
 * @property {string} threadId
 * @property {string} itemId the agent message's item id
 * @property {string} inputText
 * @property {boolean} interrupted
 * @property {boolean} done
 * @property {boolean} itemStarted
 * @property {Set<() => void>} wakers called on interrupt
 * @property {unknown[]} steers
 * @property {number} startedAt seconds
 * @property {number} startedAtMs
 */

const nowSecs = () => Math.floor(Date.now() / 1000)

/**
 * A notification, its params typed by method.
 * @template {keyof ServerNotificationMap} M
 * @param {M} method
 * @param {ServerNotificationMap[M]} params
 */
function notify(method, params) {
  send({ method, params })
}

/**
 * The answer to a client request, its result typed by the request's method.
 * @template {keyof ClientRequestMap} M
 * @param {M} _method
 * @param {RequestId} id
 * @param {ClientRequestMap[M]['result']} result
 */
function respond(_method, id, result) {
  send({ id, result })
}

/**
 * @param {unknown} id
 * @param {number} code
 * @param {string} message
 * @param {unknown} [data]
 */
function respondError(id, code, message, data) {
  send({ id, error: data === undefined ? { code, message } : { code, message, data } })
}

/**
 * @param {string} id
 * @param {Partial<Thread>} [extra]
 * @returns {Thread}
 */
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

/**
 * The answer to thread/start and thread/fork (one shape).
 * @param {Thread} thread
 * @returns {ClientRequestMap['thread/start']['result'] & ClientRequestMap['thread/fork']['result']}
 */
function threadResponse(thread) {
  return {
    thread,
    model: 'fake',
    modelProvider: 'fake',
    serviceTier: null,
    disabledPluginIds: [],
    cwd: process.cwd(),
    instructionSources: [],
    approvalPolicy: 'never',
    approvalsReviewer: 'user',
    sandbox: { type: 'dangerFullAccess' },
    reasoningEffort: null,
  }
}

/**
 * The answer to thread/resume: thread/start's, and where paging back would start (nowhere).
 * @param {Thread} thread
 * @returns {ClientRequestMap['thread/resume']['result']}
 */
function resumeResponse(thread) {
  return { ...threadResponse(thread), collaborationMode: null, turnsBackwardsCursor: null, itemsBackwardsCursor: null }
}

/**
 * @param {FakeTurn} turn
 * @param {TurnStatus} status
 * @param {TurnError | null} [error]
 * @returns {Turn}
 */
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

/** @returns {ThreadTokenUsage} */
function defaultUsage() {
  const b = { totalTokens: 15, inputTokens: 10, cachedInputTokens: 0, cacheWriteInputTokens: 0, outputTokens: 5, reasoningOutputTokens: 0 }
  return { total: { ...b }, last: { ...b }, modelContextWindow: null }
}

/**
 * @param {FakeTurn} turn
 * @param {string} text
 * @returns {ThreadItem}
 */
function agentMessage(turn, text) {
  return { type: 'agentMessage', id: turn.itemId, text, phase: null, moderation: null, memoryCitation: null, delivery: null, questions: null }
}

/** @param {FakeTurn} turn */
function emitTurnStarted(turn) {
  notify('turn/started', { threadId: turn.threadId, turn: turnObject(turn, 'inProgress') })
}

/** @param {FakeTurn} turn */
function emitItemStarted(turn) {
  notify('item/started', { threadId: turn.threadId, turnId: turn.id, startedAtMs: Date.now(), item: agentMessage(turn, '') })
}

/**
 * @param {FakeTurn} turn
 * @param {string} text
 */
function emitItemCompleted(turn, text) {
  notify('item/completed', { threadId: turn.threadId, turnId: turn.id, completedAtMs: Date.now(), item: agentMessage(turn, text) })
}

/**
 * @param {FakeTurn} turn
 * @param {string} delta
 */
function emitDelta(turn, delta) {
  notify('item/agentMessage/delta', { threadId: turn.threadId, turnId: turn.id, itemId: turn.itemId, delta })
}

/**
 * thread/tokenUsage/updated, unless the spec's usage is null.
 * @param {FakeTurn} turn
 * @param {{ usage?: ThreadTokenUsage | null }} spec
 */
function emitUsage(turn, spec) {
  const usage = spec.usage === undefined ? defaultUsage() : spec.usage
  if (usage === null) return
  notify('thread/tokenUsage/updated', { threadId: turn.threadId, turnId: turn.id, tokenUsage: usage })
}

/**
 * @param {FakeTurn} turn
 * @param {TurnStatus} status
 * @param {TurnError | null} [error]
 */
function emitTurnCompleted(turn, status, error = null) {
  notify('turn/completed', { threadId: turn.threadId, turn: turnObject(turn, status, error) })
}

module.exports = {
  nowSecs,
  notify,
  respond,
  respondError,
  makeThread,
  threadResponse,
  resumeResponse,
  turnObject,
  defaultUsage,
  agentMessage,
  emitTurnStarted,
  emitItemStarted,
  emitItemCompleted,
  emitDelta,
  emitUsage,
  emitTurnCompleted,
}
