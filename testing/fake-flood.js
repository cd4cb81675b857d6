// @ts-check
'use strict'

// The scripted fake app-server's bulk producers (./fake-app-server.js documents the scenario
// keys): turn floods and batches of deltas written as pre-encoded chunks with backpressure (the
// benches and the slow-consumer tests measure the client reading them, so this process must not
// be what limits them), the matching item/completed of a flood without encoding its whole text,
// one huge line, and megabytes of stderr. The turn's start and end are the interpreter's
// (./fake-interpreter.js); these only write what comes between.

const fs = require('node:fs')
const { performance } = require('node:perf_hooks')
const io = require('./fake-io.js')
const { agentMessage, emitItemCompleted } = require('./fake-protocol.js')

/** @typedef {import('./fake-protocol.js').FakeTurn} FakeTurn */

const FLOOD_CHUNK = 1 << 20 // characters per write on the flood paths

/**
 * Resolves once `file` exists (polled: the test that creates it has a blocked event loop, so
 * it can signal nothing else).
 * @param {string} file
 * @returns {Promise<void>}
 */
function fileExists(file) {
  return new Promise((resolve) => {
    const poll = () => (fs.existsSync(file) ? resolve() : setTimeout(poll, 2))
    poll()
  })
}

/**
 * The bytes of an item/agentMessage/delta line up to its `delta` value. Written by hand, like
 * every line on these paths, so that encoding never limits a flood; the same shape as
 * ./fake-protocol.js's typed emitDelta.
 * @param {FakeTurn} turn
 */
function deltaPrefix(turn) {
  return (
    `{"method":"item/agentMessage/delta","params":{"threadId":${JSON.stringify(turn.threadId)},` +
    `"turnId":${JSON.stringify(turn.id)},"itemId":${JSON.stringify(turn.itemId)},"delta":`
  )
}

/**
 * A turn's flood: `spec.flood` deltas of `spec.deltaText` (default "x"), or `"<turnId>:<j>;"`
 * with `spec.indexed`, in 1 MiB writes that wait for 'drain'. Stops early when the turn is
 * interrupted or stdout closes. Then, with `spec.floodReport`, the in-band fake/flood/ended.
 * With `spec.floodStartFile`, the flood starts only once that file exists; with
 * `spec.floodEndFile`, that file is written once the last chunk was accepted: out-of-band
 * signals a test can watch while its JavaScript thread is blocked.
 * @param {FakeTurn} turn
 * @param {{ flood: number, indexed?: boolean, deltaText?: string, floodReport?: boolean,
 *   floodStartFile?: string, floodEndFile?: string }} spec
 * @returns {Promise<{ sent: number, text: () => string, emitCompleted: () => void }>} what was
 *   sent: its count, its text, and the item/completed that carries it
 */
async function writeFlood(turn, spec) {
  const n = spec.flood
  const indexed = spec.indexed === true
  const deltaText = typeof spec.deltaText === 'string' ? spec.deltaText : 'x'
  const skipDeltas = io.optedOut('item/agentMessage/delta')
  const prefix = deltaPrefix(turn)
  const t = performance.now()
  let sent = 0
  /** @type {string[]} */
  const texts = []
  if (typeof spec.floodStartFile === 'string') await fileExists(spec.floodStartFile)
  if (!skipDeltas) {
    await io.waitGate() // behind a big line, if any
    if (!indexed) {
      const line = `${prefix}${JSON.stringify(deltaText)}}}\n`
      const perChunk = Math.max(1, Math.floor(FLOOD_CHUNK / line.length))
      // Encoded once: the server's cost per line is then only the pipe's, so a benchmark
      // measures the client reading, not this process encoding.
      const block = Buffer.from(line.repeat(perChunk))
      while (sent < n && !turn.interrupted && !io.out.closed) {
        const k = Math.min(perChunk, n - sent)
        await io.writeAwait(k === perChunk ? block : line.repeat(k))
        sent += k
        io.stats.floodLines += k
      }
    } else {
      let chunk = ''
      let lines = 0
      for (let j = 0; j < n; j++) {
        const d = `${turn.id}:${j};`
        texts.push(d)
        chunk += `${prefix}"${d}"}}\n`
        lines++
        if (chunk.length >= FLOOD_CHUNK) {
          await io.writeAwait(chunk)
          sent += lines
          io.stats.floodLines += lines
          chunk = ''
          lines = 0
          if (turn.interrupted || io.out.closed) break
        }
      }
      if (chunk && !turn.interrupted) {
        await io.writeAwait(chunk)
        sent += lines
        io.stats.floodLines += lines
      }
    }
  } else {
    sent = n
  }
  io.stats.floodMs += performance.now() - t
  io.stats.floodEndedAt = Date.now()
  if (typeof spec.floodEndFile === 'string') fs.writeFileSync(spec.floodEndFile, String(sent))
  if (spec.floodReport === true) {
    // In-band, so it is ordered with the flood: the client reads it only after every delta.
    // A method of the fake's own, so not one the protocol types know.
    io.send({ method: 'fake/flood/ended', params: { threadId: turn.threadId, turnId: turn.id, at: io.stats.floodEndedAt, lines: sent } })
  }
  const text = () => (indexed ? texts.slice(0, sent).join('') : deltaText.repeat(sent))
  const emitCompleted = () => (indexed ? emitItemCompleted(turn, text()) : emitItemCompletedRepeated(turn, deltaText, sent))
  return { sent, text, emitCompleted }
}

/**
 * The deltas of a batch: `d` per turn, interleaved round-robin, delta j of turn T being
 * `"<T>:<j>;"`, skipping turns interrupted or done meanwhile.
 * @param {FakeTurn[]} turns
 * @param {number} d
 * @returns {Promise<number[]>} deltas sent per turn
 */
async function writeBatch(turns, d) {
  const skipDeltas = io.optedOut('item/agentMessage/delta')
  const t = performance.now()
  const prefixes = turns.map(deltaPrefix)
  const sent = turns.map(() => 0)
  if (!skipDeltas) {
    await io.waitGate()
    let chunk = ''
    let lines = 0
    for (let j = 0; j < d; j++) {
      for (let i = 0; i < turns.length; i++) {
        const turn = turns[i]
        if (turn.interrupted || turn.done) continue
        chunk += `${prefixes[i]}"${turn.id}:${j};"}}\n`
        sent[i] = j + 1
        lines++
      }
      if (chunk.length >= FLOOD_CHUNK) {
        await io.writeAwait(chunk)
        io.stats.floodLines += lines
        chunk = ''
        lines = 0
      }
    }
    if (chunk) {
      await io.writeAwait(chunk)
      io.stats.floodLines += lines
    }
  } else {
    sent.fill(d)
  }
  io.stats.floodMs += performance.now() - t
  io.stats.floodEndedAt = Date.now()
  return sent
}

/**
 * item/completed for a flood of `count` copies of `piece`, written as the same bytes
 * emitItemCompleted would write, without building and JSON-encoding the whole text (20 MB for
 * the 1 KiB benchmark flood): a benchmark measures the client reading, not this process encoding.
 * @param {FakeTurn} turn
 * @param {string} piece
 * @param {number} count
 */
function emitItemCompletedRepeated(turn, piece, count) {
  const plain = JSON.stringify(piece) === `"${piece}"`
  if (!plain || count === 0 || io.optedOut('item/completed')) return emitItemCompleted(turn, piece.repeat(count))
  const marker = '\u0001text\u0001'
  /** @type {import('../protocol/index.js').ServerNotificationMap['item/completed']} */
  const params = {
    threadId: turn.threadId,
    turnId: turn.id,
    completedAtMs: Date.now(),
    item: agentMessage(turn, marker),
  }
  const line = JSON.stringify({ method: 'item/completed', params })
  const encodedMarker = JSON.stringify(marker).slice(1, -1)
  const at = line.indexOf(encodedMarker)
  const tail = line.slice(at + encodedMarker.length)
  io.stats.linesWritten++
  io.writeLines(line.slice(0, at))
  io.writeLines(Buffer.alloc(Buffer.byteLength(piece) * count, piece)) // fills by repeating `piece`
  io.writeLines(tail + '\n')
}

/**
 * One line of exactly `bytes` (or `mib`) bytes + "\n", streamed in `chunkKiB` chunks while
 * holding the output gate (nothing else is interleaved). valid: a notification
 * {"method","params":{"pad":"aaa.."}}; else "xxxx..." (not JSON).
 * @param {{ bytes?: number, mib?: number, chunkKiB?: number, valid?: boolean, method?: string }} a
 */
async function bigLine(a) {
  const total = a.bytes ?? Math.round((a.mib ?? 64) * 1024 * 1024)
  const chunk = Math.max(1, Math.round((a.chunkKiB ?? 1024) * 1024))
  const valid = a.valid !== false
  let head = ''
  let tail = ''
  let fill = 'x'
  if (valid) {
    head = `{"method":${JSON.stringify(a.method ?? 'fake/bigLine')},"params":{"pad":"`
    tail = '"}}'
    fill = 'a'
  }
  let remaining = Math.max(0, total - head.length - tail.length)
  await io.acquireGate()
  try {
    const block = fill.repeat(Math.min(chunk, remaining))
    await io.writeAwait(head, { gated: true })
    while (remaining > 0 && !io.out.closed) {
      const n = Math.min(chunk, remaining)
      await io.writeAwait(n === block.length ? block : fill.repeat(n), { gated: true })
      remaining -= n
    }
    await io.writeAwait(tail + '\n', { gated: true })
    io.stats.linesWritten++
  } finally {
    io.releaseGate()
  }
}

/**
 * About `bytes` of numbered stderr lines, each `lineBytes` long (newline included), written
 * synchronously (a reader that stops reading stalls it right there), then a `$stderrFlood`
 * log record.
 * @param {number} bytes
 * @param {number} lineBytes
 */
function stderrFlood(bytes, lineBytes) {
  const t0 = performance.now()
  const width = Math.max(lineBytes, 24)
  const lines = Math.max(1, Math.round(bytes / width))
  const line = (/** @type {number} */ n) => `fake stderr ${String(n).padStart(8, '0')} `.padEnd(width - 1, 'x') + '\n'
  let written = 0
  for (let n = 1; n <= lines; ) {
    let chunk = ''
    for (; n <= lines && chunk.length < 1 << 16; n++) chunk += line(n)
    const buf = Buffer.from(chunk)
    for (let off = 0; off < buf.length; ) {
      try {
        off += fs.writeSync(2, buf, off)
      } catch (e) {
        if (/** @type {NodeJS.ErrnoException} */ (e).code !== 'EAGAIN') throw e
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1)
      }
    }
    written += buf.length
  }
  io.logRecord({
    $stderrFlood: { bytes: written, lines, lastLine: line(lines).trimEnd(), ms: io.round(performance.now() - t0), at: Date.now() },
  })
}

module.exports = { writeFlood, writeBatch, emitItemCompletedRepeated, bigLine, stderrFlood }
