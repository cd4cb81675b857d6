'use strict'
// @ts-check
// `SessionOptions.interceptors` made into what src/interceptors.rs calls: per function,
// `(batchJson) => Promise<string>`, a batch being the messages that arrived together. Each
// message goes through the user's function in order, the next only once this one's result (or
// its Promise) is in; the answer is `{"out":[message | null, ...],"errors":[[index, why], ...]}`.
// Messages cross as JSON text both ways (V8's JSON.parse/stringify beat building objects from
// Rust, and a cyclic or BigInt result fails in JSON.stringify here, reported, instead of in a
// native conversion). What a drop means is the core's (crates/app-server-client/src/intercept.rs).

const { invalidArgument } = require('./errors.js')

const DIRECTIONS = /** @type {const} */ (['outgoing', 'incoming'])

/**
 * The native hooks of `interceptors`, or null when there are none (the zero-cost path).
 * @param {unknown} interceptors
 * @returns {import('../index.js').InterceptorHooks[] | null}
 */
function nativeInterceptors(interceptors) {
  if (interceptors === undefined || interceptors === null) return null
  if (!Array.isArray(interceptors)) throw invalidArgument('interceptors', 'must be an array')
  const hooks = interceptors.map((link, i) => {
    const name = `interceptors[${i}]`
    if (typeof link !== 'object' || link === null) {
      throw invalidArgument(name, 'must be an object with an `outgoing` and/or an `incoming` function')
    }
    /** @type {Record<string, (batchJson: string) => Promise<string>>} */
    const native = {}
    for (const direction of DIRECTIONS) {
      const fn = link[direction]
      if (fn === undefined || fn === null) continue
      if (typeof fn !== 'function') throw invalidArgument(`${name}.${direction}`, 'must be a function')
      native[direction] = wrap(link, fn)
    }
    return native
  })
  return hooks.length > 0 ? hooks : null
}

/**
 * @param {object} link the interceptor (its `this`)
 * @param {Function} fn
 */
function wrap(link, fn) {
  return async (/** @type {string} */ batchJson) => {
    const messages = JSON.parse(batchJson)
    const out = []
    const errors = []
    for (let i = 0; i < messages.length; i++) {
      try {
        let result = fn.call(link, messages[i])
        // Awaited only when it is a Promise: a synchronous interceptor costs no microtask.
        if (result !== null && typeof result === 'object' && typeof result.then === 'function') result = await result
        out.push(encode(result))
      } catch (e) {
        out.push('null')
        errors.push([i, reason(e)])
      }
    }
    return `{"out":[${out.join(',')}],"errors":${JSON.stringify(errors)}}`
  }
}

/** @param {unknown} result */
function encode(result) {
  if (result === null) return 'null'
  // A forgotten `return` must not drop every message.
  if (result === undefined) throw new TypeError('returned undefined (return the message, or null to drop it)')
  const text = JSON.stringify(result)
  if (text === undefined) throw new TypeError(`returned a ${typeof result}, not a message object`)
  return text
}

/** @param {unknown} e what an interceptor threw */
function reason(e) {
  try {
    return e instanceof Error ? e.message : String(e)
  } catch {
    return 'threw a value that cannot be shown'
  }
}

module.exports = { nativeInterceptors }
