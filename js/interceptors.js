'use strict'
// @ts-check
// `SessionOptions.interceptors` made into what src/interceptors.rs calls: per function,
// `(messageJson) => Promise<string | null>`. The message crosses as JSON text both ways (V8's
// JSON.parse/stringify beat building objects from Rust, and a cyclic or BigInt result fails in
// JSON.stringify here, reported, instead of in a native conversion). The chain itself, its
// order and what a drop means are the core's (crates/app-server-client/src/intercept.rs).

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
    /** @type {Record<string, (json: string) => Promise<string | null>>} */
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
  return async (/** @type {string} */ json) => {
    const result = await fn.call(link, JSON.parse(json))
    if (result === null) return null
    // A forgotten `return` must not drop every message.
    if (result === undefined) throw new TypeError('returned undefined (return the message, or null to drop it)')
    const text = JSON.stringify(result)
    if (text === undefined) throw new TypeError(`returned a ${typeof result}, not a message object`)
    return text
  }
}

module.exports = { nativeInterceptors }
