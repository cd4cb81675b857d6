// @ts-check
'use strict'

// The scripted fake app-server's I/O (./fake-app-server.js documents the whole server): stdout
// written in whole lines with backpressure (and a gate that holds other writes while one huge
// line is streamed), stdin split into lines, synchronous stderr, the CODEX_FAKE_LOG of frames
// received and the CODEX_FAKE_STATS of what was written. Knows nothing of the protocol beyond
// "one JSON frame per line" and the opt-out list of `initialize`.

const fs = require('node:fs')
const { performance } = require('node:perf_hooks')

const T0 = performance.now()

// ---------------------------------------------------------------------------------------------
// stderr (synchronous: survives process.exit and keeps order)

/** @param {string} text */
function stderrLine(text) {
  const buf = Buffer.from(String(text).endsWith('\n') ? String(text) : `${text}\n`)
  let off = 0
  for (let tries = 0; off < buf.length && tries < 1000; tries++) {
    try {
      off += fs.writeSync(2, buf, off)
    } catch (e) {
      if (/** @type {NodeJS.ErrnoException} */ (e).code !== 'EAGAIN') return
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Log of received frames

const logPath = process.env.CODEX_FAKE_LOG
/** @type {number | null} */
let logFd = null
if (logPath) {
  try {
    logFd = fs.openSync(logPath, 'a')
  } catch (e) {
    stderrLine(`fake: cannot open log ${logPath}: ${/** @type {Error} */ (e).message}`)
  }
}

/** Appends one JSON line to CODEX_FAKE_LOG (a frame received, or a `{"$...": ...}` record). */
function logRecord(/** @type {unknown} */ obj) {
  if (logFd === null) return
  try {
    fs.writeSync(logFd, JSON.stringify(obj) + '\n')
  } catch {
    // a log that cannot be written is not the client's problem
  }
}

// ---------------------------------------------------------------------------------------------
// Stats

const stats = {
  pid: process.pid,
  framesReceived: 0,
  linesWritten: 0, // lines written through send() (not counting flood lines)
  floodLines: 0, // lines written on the flood / batch paths
  bytesWritten: 0,
  writeCalls: 0,
  drainWaits: 0, // times stdout.write returned false and we waited for 'drain'
  blockedMs: 0, // total time spent waiting for 'drain'
  maxBlockedMs: 0, // longest single wait
  writeMs: 0, // time spent inside stdout.write calls on the flood paths
  floodMs: 0, // wall time of the flood / batch streaming
  // Wall clock (Date.now()) when the last flood / batch had written its last delta line: a
  // test compares it with when its JavaScript thread was unblocked.
  floodEndedAt: 0,
  turnsStarted: 0,
  elapsedMs: 0,
}

function statsJson() {
  stats.elapsedMs = round(performance.now() - T0)
  for (const k of /** @type {const} */ (['blockedMs', 'maxBlockedMs', 'writeMs', 'floodMs'])) stats[k] = round(stats[k])
  return JSON.stringify({ fakeStats: stats })
}

/** @param {number} x */
function round(x) {
  return Math.round(x * 1000) / 1000
}

/** Writes the stats to CODEX_FAKE_STATS (and stderr when asked). */
function reportStats(/** @type {{ toStderr: boolean }} */ { toStderr }) {
  const json = statsJson()
  const file = process.env.CODEX_FAKE_STATS
  if (file) {
    try {
      fs.writeFileSync(file, json + '\n')
    } catch (e) {
      stderrLine(`fake: cannot write stats ${file}: ${/** @type {Error} */ (e).message}`)
    }
  }
  // After the file: a reader that sees this line may read the file at once.
  if (toStderr) stderrLine(json)
}

// ---------------------------------------------------------------------------------------------
// Output. Every write carries whole lines, except inside a gated stream (bigLine), which holds
// the gate: writes made meanwhile are queued and follow it.

const stdout = process.stdout
const out = {
  closed: false,
  /** @type {{ promise: Promise<void>, release: () => void } | null} while a big line is being streamed */
  gate: null,
  /** @type {Array<string | Uint8Array>} */
  queued: [],
}

stdout.on('error', () => {
  out.closed = true
})

/** @param {string | Uint8Array} s */
function rawWrite(s) {
  stats.writeCalls++
  stats.bytesWritten += Buffer.byteLength(s)
  return stdout.write(s)
}

/** Fire and forget (the stream buffers); used for ordinary traffic. */
function writeLines(/** @type {string | Uint8Array} */ s) {
  if (out.closed) return
  if (out.gate) {
    out.queued.push(s)
    return
  }
  rawWrite(s)
}

/** @returns {Promise<void>} */
function waitDrain() {
  return new Promise((resolve) => {
    const done = () => {
      stdout.off('drain', done)
      stdout.off('close', done)
      stdout.off('error', done)
      resolve()
    }
    stdout.on('drain', done)
    stdout.on('close', done)
    stdout.on('error', done)
  })
}

/**
 * Writes and, when the stream says so, waits for 'drain', timing the wait.
 * @param {string | Uint8Array} s
 * @param {{ gated?: boolean }} [options] gated: the caller holds the gate
 */
async function writeAwait(s, { gated = false } = {}) {
  while (out.gate && !gated) await out.gate.promise
  if (out.closed) return
  const t = performance.now()
  const ok = rawWrite(s)
  const t1 = performance.now()
  stats.writeMs += t1 - t
  if (!ok && !out.closed) {
    await waitDrain()
    const waited = performance.now() - t1
    stats.drainWaits++
    stats.blockedMs += waited
    if (waited > stats.maxBlockedMs) stats.maxBlockedMs = waited
  }
}

async function waitGate() {
  while (out.gate) await out.gate.promise
}

async function acquireGate() {
  while (out.gate) await out.gate.promise
  /** @type {() => void} */
  let release = () => {}
  /** @type {Promise<void>} */
  const promise = new Promise((r) => (release = r))
  out.gate = { promise, release }
}

function releaseGate() {
  const gate = out.gate
  out.gate = null
  const queued = out.queued
  out.queued = []
  for (const s of queued) writeLines(s)
  gate?.release()
}

/**
 * Resolves when everything written so far has left the process (or after `capMs`).
 * @returns {Promise<void>}
 */
function flushStdout(capMs = 2000) {
  return new Promise((resolve) => {
    if (out.closed || stdout.writableLength === 0) return resolve()
    const timer = setTimeout(resolve, capMs)
    stdout.write('', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

/** Flushes and closes stdout; the process keeps running. */
async function closeStdout() {
  if (out.closed) return
  await flushStdout()
  out.closed = true
  try {
    fs.closeSync(1)
    // Keep fd 1 taken (lowest free fd) so nothing opened later lands on it.
    fs.openSync('/dev/null', 'r')
  } catch {
    // already closed
  }
}

// ---------------------------------------------------------------------------------------------
// Frames out

/** Notification methods the client opted out of at `initialize`. */
let optOut = new Set()

/** @param {unknown} methods `capabilities.optOutNotificationMethods` as the client sent it */
function setOptOut(methods) {
  optOut = new Set(Array.isArray(methods) ? methods : [])
}

/** @param {string} method */
function optedOut(method) {
  return optOut.has(method)
}

/**
 * Writes one frame as a JSON line, unless it is a notification the client opted out of. Typed
 * loosely on purpose: scenarios send any frame, malformed ones included; the typed builders are
 * in ./fake-protocol.js.
 * @param {{ method?: unknown, id?: unknown, [key: string]: unknown }} frame
 */
function send(frame) {
  if (frame.method !== undefined && frame.id === undefined && optOut.has(frame.method)) return
  stats.linesWritten++
  writeLines(JSON.stringify(frame) + '\n')
}

// ---------------------------------------------------------------------------------------------
// Lines in

/**
 * Calls `onLine(buffer)` for each newline-terminated line read from `stream` (the newline
 * removed; a line split across reads is joined first).
 * @param {NodeJS.ReadableStream} stream
 * @param {(line: Buffer) => void} onLine
 */
function readLines(stream, onLine) {
  /** @type {Buffer[]} */
  let pending = []
  let pendingLen = 0
  stream.on('data', (/** @type {Buffer} */ chunk) => {
    let start = 0
    for (;;) {
      const nl = chunk.indexOf(10, start)
      if (nl === -1) break
      const piece = chunk.subarray(start, nl)
      if (pendingLen > 0) {
        pending.push(piece)
        const whole = Buffer.concat(pending)
        pending = []
        pendingLen = 0
        onLine(whole)
      } else {
        onLine(piece)
      }
      start = nl + 1
    }
    if (start < chunk.length) {
      pending.push(chunk.subarray(start))
      pendingLen += chunk.length - start
    }
  })
}

module.exports = {
  stderrLine,
  logRecord,
  stats,
  round,
  reportStats,
  out,
  writeLines,
  writeAwait,
  waitGate,
  acquireGate,
  releaseGate,
  flushStdout,
  closeStdout,
  setOptOut,
  optedOut,
  send,
  readLines,
}
