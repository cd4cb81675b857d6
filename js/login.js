'use strict'
// @ts-check
// ChatGPT sign-in: `account/login/start` answers at once with a login id and a URL (or a
// device code); the outcome comes later as the `account/login/completed` notification with
// that id. This joins the two into one object whose `completed` promise always settles: by the
// notification, by `cancel()`, or with the session's end (TRANSPORT_CLOSED / SESSION_CLOSED).
// The matching is on notifications, which JavaScript listeners already receive in order
// (like `exec`'s streamed output), so no native code is involved.

const { closedError, codexError } = require('./errors.js')
const { optionsObject } = require('./checks.js')
const { stateOf } = require('./listeners.js')

const COMPLETED = 'account/login/completed'
/**
 * After `account/login/cancel` answers `canceled`, codex sends the completion itself (seen with
 * 0.169.0: `success: false`, "Login was not completed"); this bounds the wait for it.
 */
const CANCEL_GRACE_MS = 5_000

/**
 * @typedef {import('../protocol/index.js').AccountLoginCompletedNotification} LoginCompleted
 * @typedef {import('../protocol/index.js').CancelLoginAccountResponse} CancelResponse
 * @typedef {{ _request(method: string, params: unknown, timeoutMs?: number): Promise<any>, closed: boolean }} LoginSession
 */

/**
 * Starts a login of `params` on `session`; resolves with the server's answer (which must have
 * the string `fields`) plus `completed` and `cancel()`.
 * @param {LoginSession} session
 * @param {Record<string, unknown>} params
 * @param {string[]} fields
 */
async function startLogin(session, params, fields) {
  if (session.closed) throw closedError(session)
  const state = stateOf(session)
  // Listen before sending: the completion may come as soon as the answer (a response settles
  // only after the notifications sent before it were delivered, so none is missed).
  /** @type {LoginCompleted[]} */
  const early = []
  /** @type {((params: LoginCompleted) => void) | null} */
  let onCompleted = null
  const off = state.add(COMPLETED, (n) => (onCompleted ? onCompleted(n.params) : early.push(n.params)))
  let response
  try {
    response = await session._request('account/login/start', params, undefined)
  } catch (err) {
    off()
    throw err
  }
  const missing = ['loginId', ...fields].filter((f) => typeof response?.[f] !== 'string')
  if (missing.length) {
    off()
    const shown = JSON.stringify(response)?.slice(0, 200)
    throw codexError('PROTOCOL_ERROR', `account/login/start (${params.type}) answered without ${missing.join(', ')}: ${shown}`)
  }
  const loginId = response.loginId
  /** @type {(value: LoginCompleted) => void} */
  let resolve = () => {}
  /** @type {(err: unknown) => void} */
  let reject = () => {}
  /** @type {Promise<LoginCompleted>} */
  const completed = new Promise((res, rej) => {
    resolve = res
    reject = rej
  })
  // Not awaiting `completed` (say, after cancel()) must not be an unhandled rejection.
  completed.catch(() => {})
  // A login waits on a person: it keeps Node alive, as a pending request does, until it settles.
  const keepAlive = setInterval(() => {}, 1 << 30)
  /** @type {NodeJS.Timeout | undefined} */
  let grace
  let settled = false
  /** @param {unknown} err @param {LoginCompleted} [value] */
  const finish = (err, value) => {
    if (settled) return
    settled = true
    clearInterval(keepAlive)
    if (grace) clearTimeout(grace)
    off()
    state.waiters.delete(onEnd)
    state.restartWaiters.delete(onRestart)
    if (err) reject(err)
    else resolve(/** @type {LoginCompleted} */ (value))
  }
  /** @param {unknown} err */
  const onEnd = (err) => finish(err)
  state.waiters.add(onEnd)
  // The login server lived in the old codex: a restart ends the login.
  const onRestart = () =>
    finish(codexError('TRANSPORT_CLOSED', `the server was restarted during login ${loginId}: sign in again`))
  state.restartWaiters.add(onRestart)
  onCompleted = (p) => {
    if (p.loginId === loginId) finish(null, p)
  }
  for (const p of early) onCompleted(p)
  if (session.closed) finish(closedError(session))
  /** @param {string} error */
  const notCompleted = (error) => ({ loginId, success: false, error, onboardingEntrypoint: null })

  /** @returns {Promise<CancelResponse>} */
  const cancel = async () => {
    if (settled) return { status: 'notFound' }
    const answer = await session._request('account/login/cancel', { loginId }, undefined)
    if (answer?.status === 'canceled') {
      if (!settled) grace = setTimeout(() => finish(null, notCompleted('canceled')), CANCEL_GRACE_MS)
    } else {
      // The server no longer knows it: it ended and its completion was already delivered (or
      // lost with a server that restarted). Either way nothing more will come.
      finish(null, notCompleted(`login ${loginId} is not pending on the server`))
    }
    return answer
  }
  return { response, loginId, completed, cancel }
}

/**
 * `session.loginWithChatGpt(options?)`: the browser flow.
 * @this {LoginSession}
 * @param {{ codexStreamlinedLogin?: boolean, useHostedLoginSuccessPage?: boolean, appBrand?: unknown }} [options]
 */
async function loginWithChatGpt(options) {
  // The fields are the protocol's; they are checked natively as JSON data.
  const extra = optionsObject(options, 'options')
  const { response, loginId, completed, cancel } = await startLogin(this, { ...extra, type: 'chatgpt' }, ['authUrl'])
  return { loginId, authUrl: response.authUrl, completed, cancel }
}

/**
 * `session.loginWithDeviceCode()`: the device-code flow (for machines without a browser).
 * @this {LoginSession}
 */
async function loginWithDeviceCode() {
  const login = await startLogin(this, { type: 'chatgptDeviceCode' }, ['verificationUrl', 'userCode'])
  const { response, loginId, completed, cancel } = login
  return { loginId, verificationUrl: response.verificationUrl, userCode: response.userCode, completed, cancel }
}

/** Installs the login methods on the session prototype. */
function install(proto) {
  for (const method of [loginWithChatGpt, loginWithDeviceCode]) {
    Object.defineProperty(proto, method.name, { value: method, writable: true, configurable: true })
  }
}

module.exports = { install, CANCEL_GRACE_MS }
