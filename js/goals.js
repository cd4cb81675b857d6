'use strict'
// @ts-check
// A goal run: `thread.runGoal(objective)` sets the thread's goal (`thread/goal/set`) and follows
// the turns the server then runs by itself, one after another, until the goal stops being
// active (the model calls `update_goal` with "complete", a budget or usage limit, a pause, a
// clear). One logical stream over all of them, read from the thread-wide subscription
// (`thread.events()`), and one result that aggregates them.

const { invalidArgument, codexError } = require('./errors.js')
const { optionsObject } = require('./checks.js')

/** The fields of a `TokenUsageBreakdown`, summed over the run. */
const USAGE_FIELDS = /** @type {const} */ (['totalTokens', 'inputTokens', 'cachedInputTokens', 'cacheWriteInputTokens', 'outputTokens', 'reasoningOutputTokens'])

/** One turn's result, built from its events as the core builds a turn's (turn_state.rs). */
class TurnAccumulator {
  /** @param {string} threadId @param {string} turnId */
  constructor(threadId, turnId) {
    this.threadId = threadId
    this.turnId = turnId
    /** @type {any[]} */
    this.items = []
    this.deltaItem = undefined
    this.deltaText = ''
    this.usage = null
    this.status = 'completed'
    this.error = null
  }

  observe(event) {
    const p = event.params ?? {}
    switch (event.method) {
      case 'item/agentMessage/delta':
        if (p.itemId !== this.deltaItem) {
          this.deltaItem = p.itemId
          this.deltaText = ''
        }
        this.deltaText += p.delta ?? ''
        break
      case 'item/completed':
        if (Object.hasOwn(p, 'item')) this.items.push(p.item)
        break
      case 'thread/tokenUsage/updated':
        this.usage = p.tokenUsage ?? this.usage
        break
      case 'turn/completed':
        this.status = p.turn?.status ?? 'completed'
        this.error = p.turn?.error ?? null
        break
    }
  }

  result() {
    let message = null
    for (const i of this.items) if (i !== null && typeof i === 'object' && i.type === 'agentMessage') message = i
    return {
      threadId: this.threadId,
      turnId: this.turnId,
      status: this.status,
      text: message ? (message.text ?? '') : this.deltaText,
      items: this.items,
      usage: this.usage,
      error: this.error,
    }
  }
}

class GoalRun {
  /**
   * @param {string} threadId
   * @param {AsyncIterator<any> & { return: (value?: any) => Promise<any> }} events the thread's
   *   subscription, opened before the goal was set (nothing of its first turn is missed)
   * @param {any} goal the goal `thread/goal/set` answered with
   */
  constructor(threadId, events, goal) {
    this.threadId = threadId
    this.goal = goal
    /** Events kept for the iterator until it takes them (none once result() alone is wanted). */
    this.buffer = []
    this.keep = true
    this.claimed = false
    /** @type {(() => void) | null} */
    this.wakeReader = null
    this.ended = false
    /** @type {unknown} */
    this.failure = undefined
    /** @type {Map<string, TurnAccumulator>} */
    this.turns = new Map()
    this.running = new Set()
    /** A goal/updated of this run was seen: a goal/cleared after it is the run's (one before is stale). */
    this.updated = false
    this.usage = Object.fromEntries(USAGE_FIELDS.map((f) => [f, 0]))
    this.finished = this.drive(events)
    // result() is the way to see a failure; an unread run must not crash the process with it.
    this.finished.catch(() => {})
  }

  /** Reads the thread's events until the goal is no longer active and no turn runs. */
  async drive(events) {
    try {
      if (!this.over()) {
        for (;;) {
          const next = await events.next()
          if (next.done) {
            throw codexError('TRANSPORT_CLOSED', `the connection ended while goal of thread ${this.threadId} was running`)
          }
          this.observe(next.value)
          if (this.keep) this.buffer.push(next.value)
          this.wake()
          if (this.over()) break
        }
      }
    } catch (err) {
      this.failure = err
      throw err
    } finally {
      this.ended = true
      this.wake()
      await events.return()
    }
    return this.aggregate()
  }

  observe(event) {
    const p = event.params ?? {}
    switch (event.method) {
      case 'thread/goal/updated':
        this.updated = true
        this.goal = p.goal ?? this.goal
        break
      case 'thread/goal/cleared':
        if (this.updated) this.goal = null
        break
      case 'turn/started':
        if (p.turn?.id) this.running.add(p.turn.id)
        break
      case 'thread/tokenUsage/updated':
        for (const f of USAGE_FIELDS) this.usage[f] += Number(p.tokenUsage?.last?.[f] ?? 0)
        break
    }
    const turnId = event.method === 'turn/started' || event.method === 'turn/completed' ? p.turn?.id : p.turnId
    if (typeof turnId === 'string') {
      let turn = this.turns.get(turnId)
      if (!turn) this.turns.set(turnId, (turn = new TurnAccumulator(this.threadId, turnId)))
      turn.observe(event)
    }
    if (event.method === 'turn/completed') this.running.delete(p.turn?.id)
  }

  /** The goal has stopped (or is gone) and no turn of it is still running. */
  over() {
    return (this.goal === null || this.goal.status !== 'active') && this.running.size === 0
  }

  wake() {
    const wake = this.wakeReader
    this.wakeReader = null
    wake?.()
  }

  aggregate() {
    const turns = [...this.turns.values()].map((t) => t.result())
    return {
      threadId: this.threadId,
      goal: this.goal,
      turns,
      text: turns.at(-1)?.text ?? '',
      items: turns.flatMap((t) => t.items),
      usage: this.usage,
    }
  }

  /** Resolves once the goal run has ended, with every turn of it. */
  result() {
    if (!this.claimed) {
      // Nobody reads the events: stop keeping them.
      this.keep = false
      this.buffer = []
    }
    return this.finished
  }

  [Symbol.asyncIterator]() {
    if (this.claimed) {
      throw codexError('INVALID_ARGUMENT', `the goal run of thread ${this.threadId} is already being read; it has one consumer`)
    }
    this.claimed = true
    let index = 0
    const run = this
    return {
      async next() {
        for (;;) {
          if (index < run.buffer.length) {
            const value = run.buffer[index++]
            // Taken events are not kept for ever: drop the read part now and then.
            if (index > 1024) {
              run.buffer = run.buffer.slice(index)
              index = 0
            }
            return { done: false, value }
          }
          if (run.ended) {
            if (run.failure !== undefined) throw run.failure
            return { done: true, value: undefined }
          }
          await new Promise((resolve) => (run.wakeReader = () => resolve(undefined)))
        }
      },
      async return(value) {
        run.keep = false
        run.buffer = []
        return { done: true, value }
      },
      [Symbol.asyncIterator]() {
        return this
      },
    }
  }
}

/**
 * `thread.runGoal(objective, options)`.
 * @param {any} thread
 * @param {unknown} objective
 * @param {unknown} options
 */
async function runGoal(thread, objective, options) {
  if (typeof objective !== 'string' || objective.trim() === '') throw invalidArgument('objective', 'must be a non-empty string')
  const params = optionsObject(options, 'options')
  if (Object.hasOwn(params, 'objective') || Object.hasOwn(params, 'threadId')) {
    throw invalidArgument('options', 'takes the goal set fields other than `objective` and `threadId` (status, tokenBudget, origin)')
  }
  // Subscribed before the goal is set: the server starts the first turn at once.
  const events = thread.events()
  let set
  try {
    set = await thread._setGoal({ status: 'active', ...params, objective })
  } catch (err) {
    await events.return()
    throw err
  }
  return new GoalRun(thread.id, events, set.goal)
}

module.exports = { runGoal }
