'use strict'
// @ts-check
// Checks of arguments that stay in JavaScript (signals, callbacks, options objects).

const { invalidArgument } = require('./errors.js')

function checkSignal(signal, name) {
  if (signal === undefined || signal === null) return undefined
  if (typeof signal !== 'object' || typeof signal.addEventListener !== 'function' || !('aborted' in signal)) {
    throw invalidArgument(name, 'must be an AbortSignal')
  }
  return signal
}

function checkFunction(value, name) {
  if (value !== undefined && value !== null && typeof value !== 'function') {
    throw invalidArgument(name, 'must be a function')
  }
  return value ?? undefined
}

function checkTimeout(value, name) {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw invalidArgument(name, 'must be a positive number of milliseconds')
  }
  return value
}

function optionsObject(options, name) {
  if (options === undefined || options === null) return {}
  if (typeof options !== 'object' || Array.isArray(options)) throw invalidArgument(name, 'must be an object')
  return options
}

module.exports = { checkSignal, checkFunction, checkTimeout, optionsObject }
