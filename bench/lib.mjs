// Shared helpers of the benchmarks: statistics, clocks, the native codex binary.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url))
export const ROOT = path.dirname(BENCH_DIR)
export const require = createRequire(import.meta.url)

export const DELTA = 'item/agentMessage/delta'

/** The pinned codex's native binary, or CODEX_PATH: the package's own lookup (`findCodex`). */
export function codexBinary() {
  return require('../main.js').findCodex({ searchPaths: [ROOT] })
}

// ---------------------------------------------------------------------------------------------
// Statistics

export const sorted = (xs) => [...xs].sort((a, b) => a - b)
export function median(xs) {
  const s = sorted(xs)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
export function percentile(xs, p) {
  const s = sorted(xs)
  if (s.length === 0) return NaN
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]
}
/** {median, min, max} of a list of numbers. */
export const summary = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), runs: xs.length })

// ---------------------------------------------------------------------------------------------
// CPU time of the JS main thread.
//
// process.cpuUsage() adds up every thread of the process (the napi/tokio runtime's reader and
// worker threads included), so the main thread's own CPU time is read from the kernel:
// /proc/<pid>/task/<pid>/schedstat, first field = nanoseconds the thread (tid == pid, the
// thread running JavaScript) spent on a CPU. The kernel folds the running slice into that sum
// when the thread is switched out, so a 50 µs futex wait (Atomics.wait) just before each read
// makes the figure exact instead of up to one scheduler tick stale.

const TID_DIR = `/proc/${process.pid}/task/${process.pid}`
const tick = new Int32Array(new SharedArrayBuffer(4))
let source = null

function readSchedstat() {
  const s = fs.readFileSync(`${TID_DIR}/schedstat`, 'latin1')
  return Number(s.slice(0, s.indexOf(' ')))
}
function readStat() {
  // utime + stime in clock ticks (fields 14, 15), assumed 100 Hz: a coarse fallback.
  const s = fs.readFileSync(`${TID_DIR}/stat`, 'latin1')
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) * 1e7
}

export function mainThreadCpuNs() {
  if (source === null) {
    try {
      source = readSchedstat() > 0 ? 'schedstat' : 'stat'
    } catch {
      source = 'stat'
    }
  }
  Atomics.wait(tick, 0, 0, 0.05)
  return source === 'schedstat' ? readSchedstat() : readStat()
}
export const cpuSource = () => source

/** Process CPU (all threads), ns. */
export function processCpuNs() {
  const u = process.cpuUsage()
  return (u.user + u.system) * 1000
}

/** Starts a measurement window: wall time, main-thread CPU, whole-process CPU, ELU. */
export function window() {
  const elu = performance.eventLoopUtilization()
  const main = mainThreadCpuNs()
  const all = processCpuNs()
  const t0 = performance.now()
  return {
    stop() {
      const wallMs = performance.now() - t0
      const mainNs = mainThreadCpuNs() - main
      const allNs = processCpuNs() - all
      const e = performance.eventLoopUtilization(elu)
      return { wallMs, mainNs, allNs, eluActiveMs: e.active }
    },
  }
}

export const now = () => performance.timeOrigin + performance.now()
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

export function gc() {
  if (typeof globalThis.gc === 'function') {
    globalThis.gc()
    globalThis.gc()
  }
}

/** Delta j of a verification stream: the index, zero-padded, then filler up to `size` bytes. */
export function indexedDelta(j, size) {
  const head = String(j).padStart(15, '0') + ';'
  return size > 16 ? head + 'x'.repeat(size - 16) : head
}
