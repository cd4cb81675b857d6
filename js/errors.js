'use strict'
// @ts-check
// Errors JavaScript raises itself (the native side makes its own: src/errors.rs).

/** @returns {Error & { code: string }} */
function codexError(code, message, Base = Error) {
  const err = /** @type {Error & { code: string }} */ (new Base(message))
  err.code = code
  return err
}

/** The error that ended `session` (TRANSPORT_CLOSED with its stderr tail, or SESSION_CLOSED). */
function closedError(session) {
  return session._closedError() ?? codexError('SESSION_CLOSED', 'session is closed')
}

function invalidArgument(name, message) {
  return codexError('INVALID_ARGUMENT', `invalid argument \`${name}\`: ${message}`, TypeError)
}

function abortError(signal) {
  const reason = signal.reason
  const err = codexError('ABORTED', `aborted${reason instanceof Error ? `: ${reason.message}` : ''}`)
  if (reason !== undefined) err.cause = reason
  return err
}

module.exports = { codexError, closedError, invalidArgument, abortError }
