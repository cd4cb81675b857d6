'use strict'
// @ts-check
// A turn's stream as an async iterator over native pulls, and what crossed through it.

const { codexError } = require('./errors.js')

const consumed = new WeakSet()

/**
 * The `item/completed` items a turn's consumer (its iterator, or onEvent) has been handed, in
 * order. Once it has seen the whole stream, `result()` takes its items from here instead of
 * having them sent again (bench: result() after a consumed stream).
 */
class Crossed {
  constructor() {
    this.items = []
    this.complete = false
  }

  /** Keeps the items of a batch's `item/completed` events; returns the batch. */
  observe(events) {
    for (const e of events) {
      if (e.method === 'item/completed' && e.params != null && Object.hasOwn(e.params, 'item')) this.items.push(e.params.item)
    }
    return events
  }

  /** The last agent message among the items (its text is the result's), as the core finds it. */
  lastAgentMessage() {
    for (let i = this.items.length - 1; i >= 0; i--) {
      const item = this.items[i]
      if (item === null || typeof item !== 'object' || Array.isArray(item)) continue
      if (item.type !== 'agentMessage') continue
      if (item.text !== undefined && item.text !== null && typeof item.text !== 'string') continue
      return item
    }
    return null
  }
}

const crossedItems = new WeakMap()

function claimStream(turn) {
  if (consumed.has(turn)) {
    throw codexError(
      'INVALID_ARGUMENT',
      `turn ${turn.id}: its events are already being read (by an iterator, textStream() or items()); a turn's stream has one consumer`,
    )
  }
  consumed.add(turn)
}

/**
 * Pulls that found nothing queued wait here, filed under their stream's waiter id, until the
 * native side calls `wakePull(id)` (something arrived, or the stream ended). Module-level and
 * closing over nothing: the native stream holds `wakePull`, and must not keep its turn alive.
 */
const waitingPulls = new Map()

function wakePull(id) {
  const resolve = waitingPulls.get(id)
  if (resolve !== undefined) {
    waitingPulls.delete(id)
    resolve()
  }
}

/**
 * A serialised pull iterator over batches produced by `fetch(wakePull)`: a batch now, `null`
 * at the end, or, when nothing is queued, a waiter id to wait on before fetching again.
 */
function batchIterator(fetch, unpack) {
  let buffer = []
  let index = 0
  let done = false
  let unsettled = 0 // next() calls whose promise has not settled
  let last = null // the promise of the latest of them
  const take = async () => {
    try {
      while (index >= buffer.length) {
        if (done) return { done: true, value: undefined }
        const batch = fetch(wakePull)
        if (typeof batch === 'number') {
          await new Promise((resolve) => waitingPulls.set(batch, resolve))
          continue
        }
        if (batch === null) {
          done = true
          buffer = []
          return { done: true, value: undefined }
        }
        buffer = unpack(batch)
        index = 0
      }
      return { done: false, value: buffer[index++] }
    } catch (err) {
      done = true
      throw err
    } finally {
      unsettled--
    }
  }
  return {
    next() {
      // Fast path: the event is already here and no earlier call is waiting (one promise per
      // event: most events are taken this way, a batch at a time).
      if (unsettled === 0 && index < buffer.length) {
        return Promise.resolve({ done: false, value: buffer[index++] })
      }
      // Calls are served in order: each takes its turn after the one before has settled. A
      // waiting call costs one promise of its own and the wait's (sparse events take this path,
      // each of them; their garbage is what sets how often V8 pauses to collect).
      unsettled++
      last = unsettled === 1 ? take() : last.then(take, take)
      return last
    },
    async return(value) {
      done = true
      buffer = []
      return { done: true, value }
    },
    [Symbol.asyncIterator]() {
      return this
    },
  }
}

module.exports = { Crossed, crossedItems, claimStream, batchIterator }
