'use strict'
// @ts-check
// Approvals and other server requests. Built-in policies are answered in Rust; custom handlers
// and `onServerRequest` overrides are JavaScript functions that Rust calls through one
// ThreadsafeFunction per session (`Handlers.dispatch`) and whose Promise it awaits.

const { codexError, invalidArgument } = require('./errors.js')
const { checkFunction, optionsObject } = require('./checks.js')

/** Which custom-policy handler answers which server request method. */
const HANDLER_METHODS = {
  onCommandExecution: 'item/commandExecution/requestApproval',
  onFileChange: 'item/fileChange/requestApproval',
  onToolRequestUserInput: 'item/tool/requestUserInput',
  onDynamicToolCall: 'item/tool/call',
  onMcpElicitation: 'mcpServer/elicitation/request',
  onPermissions: 'item/permissions/requestApproval',
}

/** Checks a handler's answer has the response's required shape (null = fine). */
const ANSWER_CHECKS = {
  'item/commandExecution/requestApproval': (v) => (v.decision !== undefined ? null : 'needs `decision`'),
  'item/fileChange/requestApproval': (v) => (typeof v.decision === 'string' ? null : 'needs a string `decision`'),
  'item/tool/requestUserInput': (v) =>
    v.answers && typeof v.answers === 'object' ? null : 'needs an `answers` object (see toolAnswers())',
  'item/tool/call': (v) =>
    Array.isArray(v.contentItems) && typeof v.success === 'boolean'
      ? null
      : 'needs `contentItems` and `success` (see toolCallSuccess())',
  'mcpServer/elicitation/request': (v) => (typeof v.action === 'string' ? null : 'needs a string `action`'),
  'item/permissions/requestApproval': (v) =>
    v.permissions && typeof v.permissions === 'object' ? null : 'needs a `permissions` object',
}

let policyCounter = 0

class ApprovalPolicy {
  constructor(kind, handlers = {}) {
    this.kind = kind
    this.handlers = handlers
    this.key = kind === 'custom' ? `policy-${++policyCounter}` : kind
    Object.freeze(this)
  }

  /** Declines every approval (the default). */
  static autoDecline() {
    return new ApprovalPolicy('autoDecline')
  }

  /** Accepts command executions, file changes and permission requests; declines the rest. */
  static autoAccept() {
    return new ApprovalPolicy('autoAccept')
  }

  /** Accepts command executions only. */
  static commandsOnly() {
    return new ApprovalPolicy('commandsOnly')
  }

  /** Asks your handlers (which may return a Promise); requests without one are declined. */
  static custom(handlers) {
    const h = optionsObject(handlers, 'handlers')
    for (const [name, fn] of Object.entries(h)) {
      if (!(name in HANDLER_METHODS)) {
        throw invalidArgument(`handlers.${name}`, `is not a handler; expected one of ${Object.keys(HANDLER_METHODS).join(', ')}`)
      }
      checkFunction(fn, `handlers.${name}`)
    }
    return new ApprovalPolicy('custom', { ...h })
  }

  /** The form the native side takes. */
  /** @returns {import('../index.js').PolicyDescriptor} */
  toNative() {
    if (this.kind !== 'custom') return { kind: /** @type {any} */ (this.kind) }
    const methods = Object.entries(this.handlers)
      .filter(([, fn]) => typeof fn === 'function')
      .map(([name]) => HANDLER_METHODS[name])
    return { kind: 'custom', key: this.key, methods }
  }
}

function checkPolicy(policy, name) {
  if (policy === undefined || policy === null) return undefined
  if (!(policy instanceof ApprovalPolicy)) {
    throw invalidArgument(name, 'must be made by ApprovalPolicy.autoDecline(), autoAccept(), commandsOnly() or custom()')
  }
  return policy
}

/** Per-session registry of JavaScript handlers by key, and the dispatcher Rust calls. */
class Handlers {
  constructor(state) {
    this.state = state
    this.byKey = new Map() // key -> (method) => handler function
    this.controllers = new Map() // request key -> AbortController
    // Aborts that came before their request: the two reach JavaScript through different
    // ThreadsafeFunctions, so an abort can overtake the request it ends (a turn interrupted
    // while its approval was on the way). Capped: an abort can also come after its handler
    // finished (the answer raced the request's end), and then nothing ever takes it out.
    this.abortedEarly = new Set()
    this.dispatch = (json) => this.run(JSON.parse(json))
    this.abort = (requestKey) => {
      const controller = this.controllers.get(requestKey)
      if (controller) {
        controller.abort(codexError('ABORTED', 'the request is no longer pending'))
        return
      }
      this.abortedEarly.add(requestKey)
      if (this.abortedEarly.size > 1024) this.abortedEarly.delete(this.abortedEarly.values().next().value)
    }
  }

  addPolicy(policy) {
    if (policy.kind === 'custom') {
      this.byKey.set(policy.key, (method) => {
        const name = Object.keys(HANDLER_METHODS).find((n) => HANDLER_METHODS[n] === method)
        return name ? policy.handlers[name] : undefined
      })
    }
  }

  async run(request) {
    const lookup = this.byKey.get(request.key)
    const handler = lookup?.(request.method)
    if (!handler) return JSON.stringify({ decline: 'no handler' })
    // Ended before it reached us: nobody awaits an answer, and the handler is never asked.
    if (this.abortedEarly.delete(request.requestKey)) return JSON.stringify({ decline: 'no longer pending' })
    const controller = new AbortController()
    this.controllers.set(request.requestKey, controller)
    try {
      const value = await handler(request.params, {
        signal: controller.signal,
        method: request.method,
        requestId: request.id,
        threadId: request.threadId,
        turnId: request.turnId,
      })
      if (value === undefined || value === null || typeof value !== 'object') {
        throw new TypeError(`${request.method} handler returned ${value === null ? 'null' : typeof value}, not an answer object`)
      }
      const problem = ANSWER_CHECKS[request.method]?.(value)
      if (problem) throw new TypeError(`${request.method} handler answer ${problem}`)
      return JSON.stringify({ result: value })
    } catch (err) {
      if (!controller.signal.aborted) this.state.report(err)
      return JSON.stringify({ decline: err instanceof Error ? err.message : String(err) })
    } finally {
      this.controllers.delete(request.requestKey)
    }
  }
}

/** Answers for approval handlers. */
const approveCommand = () => ({ decision: 'accept' })

const approveCommandForSession = () => ({ decision: 'acceptForSession' })

const declineCommand = () => ({ decision: 'decline' })

const approveFileChange = () => ({ decision: 'accept' })

const approveFileChangeForSession = () => ({ decision: 'acceptForSession' })

const declineFileChange = () => ({ decision: 'decline' })

/** `{ questionId: 'answer' | ['answers'] }` -> a requestUserInput response. */
function toolAnswers(answers) {
  const map = optionsObject(answers, 'answers')
  const out = {}
  for (const [id, value] of Object.entries(map)) {
    const list = Array.isArray(value) ? value : [value]
    if (list.some((a) => typeof a !== 'string')) throw invalidArgument(`answers.${id}`, 'must be a string or strings')
    out[id] = { answers: list }
  }
  return { answers: out }
}

/** A dynamic tool's successful output: text, or content items. */
function toolCallSuccess(content) {
  const items = typeof content === 'string' ? [{ type: 'inputText', text: content }] : content
  if (!Array.isArray(items)) throw invalidArgument('content', 'must be a string or an array of content items')
  return { contentItems: items, success: true }
}

/** A dynamic tool's failure, with a message for the model. */
function toolCallFailure(message) {
  return { contentItems: [{ type: 'inputText', text: String(message) }], success: false }
}

module.exports = {
  ApprovalPolicy,
  checkPolicy,
  Handlers,
  approveCommand,
  approveCommandForSession,
  declineCommand,
  approveFileChange,
  approveFileChangeForSession,
  declineFileChange,
  toolAnswers,
  toolCallSuccess,
  toolCallFailure,
}
