'use strict'
// @ts-check
// AbortSignal wiring.

const { abortError } = require('./errors.js')

/** Races `promise` against `signal`; the listener is removed either way. */
function withSignal(promise, signal) {
  if (!signal) return promise
  if (signal.aborted) return Promise.reject(abortError(signal))
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(abortError(signal))
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (e) => {
        signal.removeEventListener('abort', onAbort)
        reject(e)
      },
    )
  })
}

/** An abort before the turn exists is carried out as soon as it does (here). */
function interruptOnAbort(turn, signal) {
  const interrupt = () => {
    turn.interrupt().catch(() => {
      // The turn may have ended meanwhile; its result tells what happened.
    })
  }
  if (signal.aborted) interrupt()
  else signal.addEventListener('abort', interrupt, { once: true })
}

module.exports = { withSignal, interruptOnAbort }
