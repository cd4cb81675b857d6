'use strict'
// @ts-check
// The pass-through protocol methods (`listModels`, `readConfig`, `thread.setName`, ...): the
// table js/generated/methods.js, generated from the pinned schema by scripts/generate.mjs
// (PUBLIC_METHODS there), says which method each sends and how its arguments become the
// params; this file installs it. Every call goes through the session's one native request
// path (`_request`), so errors, timeouts and ordering (the response settles after the
// notifications before it, src/order.rs) are the same as for `session.request`.

const { invalidArgument } = require('./errors.js')

/**
 * @typedef {['string', string] | ['params', string] | ['options', string, string[]]} ArgSpec
 * @typedef {{ method: string, args: ArgSpec[], self?: string, fixed?: Record<string, unknown>, void?: boolean }} MethodSpec
 * @typedef {{ Session: Record<string, MethodSpec>, Thread: Record<string, MethodSpec> }} MethodTable
 * @typedef {{ _request(method: string, params: unknown, timeoutMs?: number): Promise<unknown> }} Requester
 */

/**
 * Defines each method of `specs` on `proto`. `sessionOf(receiver)` is the session that sends
 * its request. Methods are async: a bad argument rejects (INVALID_ARGUMENT naming it).
 * @param {object} proto
 * @param {Record<string, MethodSpec>} specs
 * @param {(receiver: any) => Requester} sessionOf
 */
function install(proto, specs, sessionOf) {
  for (const [name, spec] of Object.entries(specs)) {
    const method = {
      async [name](...args) {
        const params = paramsOf(spec, args, this)
        const result = await sessionOf(this)._request(spec.method, params, undefined)
        return spec.void ? undefined : result
      },
    }[name]
    Object.defineProperty(proto, name, { value: method, writable: true, configurable: true })
  }
}

/** The params that `args` make for `spec`; `receiver.id` for `spec.self`. (Checked natively
 * as JSON data: a function, NaN or a cycle is an INVALID_ARGUMENT naming its path.) */
function paramsOf(spec, args, receiver) {
  if (spec.args.length === 0 && !spec.self && !spec.fixed) return null
  /** @type {Record<string, unknown>} */
  const params = { ...spec.fixed }
  spec.args.forEach((arg, i) => {
    const value = args[i]
    if (arg[0] === 'string') {
      if (typeof value !== 'string') throw invalidArgument(arg[1], 'must be a string')
      params[arg[1]] = value
    } else if (arg[0] === 'params') {
      Object.assign(params, jsonObject(value, arg[1]))
    } else {
      const options = jsonObject(value, arg[1])
      for (const field of arg[2]) {
        const flag = options[field] ?? false
        if (typeof flag !== 'boolean') throw invalidArgument(`${arg[1]}.${field}`, 'must be a boolean')
        params[field] = flag
      }
    }
  })
  if (spec.self) params[spec.self] = receiver.id
  return params
}

/** An optional object (absent = `{}`); its members are checked natively. */
function jsonObject(value, name) {
  if (value === undefined || value === null) return {}
  if (typeof value !== 'object' || Array.isArray(value)) throw invalidArgument(name, 'must be an object')
  return value
}

module.exports = { install }
