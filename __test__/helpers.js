'use strict'
// Shared set-up for tests against the real codex app-server and the loopback model stand-in.

const { Session } = require('../main.js')
const { createModelStandIn, reply } = require('../testing')

/** Runs `fn(model)` with a fresh stand-in, closing it afterwards. */
async function withStandIn(fn) {
  const model = await createModelStandIn()
  try {
    return await fn(model)
  } finally {
    await model.close()
  }
}

/** A session on the real codex wired to `model`; closed by the caller (or `withSession`). */
function createSession(model, extra = {}) {
  return Session.create(model.sessionOptions(extra))
}

/** Runs `fn(session, model)` with a session on a fresh stand-in; both are closed afterwards. */
async function withSession(fn, extra = {}) {
  return withStandIn(async (model) => {
    const session = await createSession(model, extra)
    try {
      return await fn(session, model)
    } finally {
      await session.close()
    }
  })
}

/** Resolves with `promise`'s rejection; fails if it fulfils. */
async function rejection(promise) {
  try {
    await promise
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection, got a fulfilment')
}

function isAlive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

module.exports = { Session, reply, withStandIn, withSession, createSession, rejection, isAlive }
