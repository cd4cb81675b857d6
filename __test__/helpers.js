'use strict'
// Shared set-up for tests against the real codex app-server and the loopback model stand-in.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Session, findCodex } = require('../main.js')
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

/** A valid 1x1 PNG (so codex can decode it), built here rather than shipped as a binary. */
function tinyPng() {
  const zlib = require('node:zlib')
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    return c >>> 0
  })
  const crc32 = (buf) => {
    let c = 0xffffffff
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8)
    return (c ^ 0xffffffff) >>> 0
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4)
    len.writeUInt32BE(data.length)
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data])
    const crc = Buffer.alloc(4)
    crc.writeUInt32BE(crc32(body))
    return Buffer.concat([len, body, crc])
  }
  const ihdr = Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0])
  const pixel = zlib.deflateSync(Buffer.from([0, 255, 0, 0, 255]))
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', pixel),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

/**
 * The codex binary that tests spawn themselves (e.g. a websocket listener): the one a session
 * would start from this checkout (the addon's `findCodex`, the core's own lookup): CODEX_PATH
 * when set (`pnpm test:compat` runs the tests against another codex that way), else the pinned
 * codex's native binary (the platform package of @openai/codex).
 */
function codexBinary() {
  return findCodex({ searchPaths: [require('node:path').join(__dirname, '..')] })
}

/**
 * Resolves true once `pid` is gone, false if it is still there after `withinMs`. A process that
 * is not our child sends no event when it dies, so this polls; the bound is the assertion.
 */
async function waitGone(pid, withinMs) {
  const deadline = Date.now() + withinMs
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false
    await new Promise((r) => setTimeout(r, 20))
  }
  return true
}

/**
 * Runs `fn` holding the machine-wide lock `name` (a file in the temp dir holding the owner's
 * pid): for tests that need a fixed resource, such as codex's ChatGPT login callback port
 * 127.0.0.1:1455 (a second login there cancels the first). A lock whose owner died is taken over.
 */
async function withMachineLock(name, fn, timeoutMs = 120_000) {
  const file = path.join(os.tmpdir(), `codex-native-${name}.lock`)
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' })
      break
    } catch (err) {
      if (err.code !== 'EEXIST') throw err
    }
    let owner = NaN
    try {
      owner = Number(fs.readFileSync(file, 'utf8'))
    } catch {}
    // An empty file is an owner between creating and writing it: alive.
    if (owner > 0 && !isAlive(owner)) fs.rmSync(file, { force: true })
    else if (Date.now() > deadline) throw new Error(`lock ${file} still held by pid ${owner} after ${timeoutMs} ms`)
    else await new Promise((r) => setTimeout(r, 50))
  }
  try {
    return await fn()
  } finally {
    fs.rmSync(file, { force: true })
  }
}

/**
 * The version of the codex the sessions run: the pinned @openai/codex, or under
 * `pnpm test:compat` (which sets CODEX_PATH) what that binary says it is.
 */
function expectedServerVersion() {
  if (process.env.CODEX_PATH) {
    const out = require('node:child_process').execFileSync(process.env.CODEX_PATH, ['--version'], { encoding: 'utf8' })
    return out.trim().split(/\s+/).pop()
  }
  return require('@openai/codex/package.json').version
}

module.exports = {
  expectedServerVersion,
  withMachineLock,
  waitGone,
  codexBinary,
  tinyPng, Session, reply, withStandIn, withSession, createSession, rejection, isAlive }
