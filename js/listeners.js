'use strict'
// @ts-check
// Per-session JavaScript state: notification listeners, waiters, the error reporter, the
// handler registry.

const { codexError, closedError, invalidArgument, abortError } = require('./errors.js')
const { checkFunction, checkSignal, checkTimeout, optionsObject } = require('./checks.js')
const { Handlers } = require('./approvals.js')

/** Per-session JavaScript state, kept beside the native object. */
class SessionState {
  constructor(onError) {
    this.listeners = new Map() // method -> Set<listener>; '*' for all
    this.count = 0
    this.session = null
    this.sinkActive = false
    this.endError = null
    this.onError = onError
    this.waiters = new Set()
    /** Called when the session restarts its server (`restart`): what lived on the old one is gone. */
    this.restartWaiters = new Set()
    this.sink = (batch) => this.dispatchBatch(batch)
    this.onEnd = (err) => this.ended(err)
    this.onDiagnostic = (err) => this.report(err)
    this.handlers = new Handlers(this)
    /** Whether the session was created with `experimentalApi: true` (main.js sets it). */
    this.experimentalApi = false
  }

  report(err) {
    if (this.onError) {
      try {
        this.onError(err)
        return
      } catch (inner) {
        err = inner
      }
    }
    process.emitWarning(err instanceof Error ? err : new Error(String(err)), { code: 'CODEX_NATIVE_LISTENER' })
  }

  guard(fn) {
    try {
      fn()
    } catch (err) {
      this.report(err)
    }
  }

  dispatchBatch(batch) {
    const all = this.listeners.get('*')
    for (const event of JSON.parse(batch)) {
      const specific = this.listeners.get(event.method)
      if (specific) this.deliver(specific, event)
      if (all) this.deliver(all, event)
    }
  }

  deliver(listeners, event) {
    for (const listener of listeners) {
      try {
        listener(event)
      } catch (err) {
        this.report(err)
      }
    }
  }

  ended(err) {
    this.sinkActive = false
    err ??= codexError('SESSION_CLOSED', 'session is closed')
    this.endError = err
    for (const waiter of this.waiters) waiter(err)
  }

  add(method, listener) {
    let set = this.listeners.get(method)
    if (!set) this.listeners.set(method, (set = new Set()))
    if (set.has(listener)) return () => {}
    set.add(listener)
    this.count++
    this.syncSink()
    let removed = false
    return () => {
      if (removed) return
      removed = true
      set.delete(listener)
      if (set.size === 0) this.listeners.delete(method)
      this.count--
      this.syncSink()
    }
  }

  /** Notifications cross into JavaScript only while someone listens. */
  syncSink() {
    const session = this.session
    if (!session || session.closed) return
    if (this.count > 0 && !this.sinkActive) {
      this.sinkActive = true
      session._setNotificationSink(this.sink, this.onEnd)
    } else if (this.count === 0 && this.sinkActive) {
      this.sinkActive = false
      session._setNotificationSink(null)
    }
  }
}

const states = new WeakMap()

function stateOf(session) {
  let state = states.get(session)
  if (!state) {
    state = new SessionState(undefined)
    state.session = session
    states.set(session, state)
  }
  return state
}

/** `session.onNotification` and `session.waitForNotification`, on the session prototype. */
function installListeners(proto) {
  Object.defineProperties(proto, {
    onNotification: {
      value: function onNotification(method, listener) {
        if (typeof method !== 'string' || method === '') throw invalidArgument('method', 'must be a method name or "*"')
        if (typeof listener !== 'function') throw invalidArgument('listener', 'must be a function')
        if (this.closed) throw closedError(this)
        return stateOf(this).add(method, listener)
      },
      writable: true,
      configurable: true,
    },
    waitForNotification: {
      value: function waitForNotification(method, options) {
        const { predicate, timeoutMs, signal } = optionsObject(options, 'options')
        if (typeof method !== 'string' || method === '') throw invalidArgument('method', 'must be a method name or "*"')
        checkFunction(predicate, 'predicate')
        checkTimeout(timeoutMs, 'timeoutMs')
        checkSignal(signal, 'signal')
        if (this.closed) return Promise.reject(closedError(this))
        const state = stateOf(this)
        return new Promise((resolve, reject) => {
          let timer
          // A pending wait keeps Node alive, as a pending read on a socket would: nothing native
          // is pending meanwhile (listeners are weak), so without this the process could exit.
          const keepAlive = setInterval(() => {}, 1 << 30)
          const finish = (err, value) => {
            clearInterval(keepAlive)
            remove()
            state.waiters.delete(onEnd)
            if (timer) clearTimeout(timer)
            signal?.removeEventListener('abort', onAbort)
            if (err) reject(err)
            else resolve(value)
          }
          const onEnd = (err) => finish(err)
          const onAbort = () => finish(abortError(signal))
          const remove = state.add(method, (event) => {
            let matches = true
            if (predicate) {
              try {
                matches = predicate(method === '*' ? event : event.params)
              } catch (err) {
                finish(err)
                return
              }
            }
            if (matches) finish(null, method === '*' ? event : event.params)
          })
          state.waiters.add(onEnd)
          if (timeoutMs !== undefined) {
            timer = setTimeout(
              () => finish(codexError('REQUEST_TIMEOUT', `no ${method} notification within ${timeoutMs} ms`)),
              timeoutMs,
            )
          }
          if (signal) {
            if (signal.aborted) onAbort()
            else signal.addEventListener('abort', onAbort, { once: true })
          }
        })
      },
      writable: true,
      configurable: true,
    },
  })
}

module.exports = { SessionState, states, stateOf, installListeners }
