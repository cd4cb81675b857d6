'use strict'

// Helpers for the scripted fake app-server (./fake-app-server.js; its header documents the
// scenario format).
//
//   const { fakeServer, act } = require('./testing/fake-scenario.js')
//   const fake = fakeServer({ on: { 'thread/start': [act.crash()] } })
//   const session = await Session.create({ ...fake, requestTimeoutMs: 2000 })
//   ...
//   fake.log()      // frames the client sent
//   fake.cleanup()
//
// Only `codexPath` and `env` are enumerable on the returned object, so it spreads straight into
// `Session.create` options.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

// Windows runs no script through its #! line: there the client starts a .cmd shim (through
// cmd.exe, as it does npm's codex.cmd), which runs the same script with node.
const FAKE_PATH = path.join(__dirname, process.platform === 'win32' ? 'fake-app-server.cmd' : 'fake-app-server.js')

function readJsonLines(file) {
  let text
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (e) {
    if (e.code === 'ENOENT') return []
    throw e
  }
  const out = []
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    try {
      out.push(JSON.parse(line))
    } catch {
      // a record cut short by a crash mid-write
    }
  }
  return out
}

const isBookkeeping = (r) => {
  const keys = Object.keys(r)
  return keys.length === 1 && keys[0].startsWith('$')
}

class FakeServer {
  constructor(scenario = {}, options = {}) {
    if (scenario === null || typeof scenario !== 'object' || Array.isArray(scenario)) {
      throw new TypeError('fakeServer: scenario must be an object')
    }
    const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'codex-fake-'))
    fs.mkdirSync(dir, { recursive: true })
    const scenarioPath = path.join(dir, 'scenario.json')
    const logPath = path.join(dir, 'log.jsonl')
    const statsPath = path.join(dir, 'stats.json')
    fs.writeFileSync(scenarioPath, JSON.stringify(scenario, null, 2))
    hidden(this, { dir, scenarioPath, logPath, statsPath, scenario })
    /** Spread into Session options. */
    this.codexPath = FAKE_PATH
    this.env = {
      CODEX_FAKE_SCENARIO: scenarioPath,
      CODEX_FAKE_LOG: logPath,
      CODEX_FAKE_STATS: statsPath,
      ...options.env,
    }
  }

  /** Everything in the log, bookkeeping records ({$start}, {$eof}, {$signal}, {$malformed}) included. */
  records() {
    return readJsonLines(this.logPath)
  }

  /** The frames the client sent, in order (over every spawn that used this scenario). */
  log() {
    return this.records().filter((r) => !isBookkeeping(r))
  }

  /** Client requests (optionally of one method). */
  requests(method) {
    return this.log().filter((f) => typeof f.method === 'string' && f.id !== undefined && (!method || f.method === method))
  }

  /** Client notifications (optionally of one method). */
  notifications(method) {
    return this.log().filter((f) => typeof f.method === 'string' && f.id === undefined && (!method || f.method === method))
  }

  /** The client's answers to server requests ({id, result} or {id, error}); by id when given. */
  answers(id) {
    return this.log().filter((f) => f.method === undefined && f.id !== undefined && (id === undefined || f.id === id))
  }

  /** The `$start` records: one per process started, {pid, argv, cwd}. */
  starts() {
    return this.records().filter((r) => r.$start).map((r) => r.$start)
  }

  /** Whether the server saw stdin EOF / SIGTERM. */
  sawEof() {
    return this.records().some((r) => r.$eof)
  }

  sawSigterm() {
    return this.records().some((r) => r.$signal === 'SIGTERM')
  }

  /** The last stats written ({pid, blockedMs, drainWaits, ...}), or null. */
  stats() {
    try {
      return JSON.parse(fs.readFileSync(this.statsPath, 'utf8')).fakeStats
    } catch {
      return null
    }
  }

  /** Replaces the scenario (the next spawn reads it) and clears nothing. */
  setScenario(scenario) {
    fs.writeFileSync(this.scenarioPath, JSON.stringify(scenario, null, 2))
    hidden(this, { scenario })
  }

  /** Empties the log and removes the stats file. */
  reset() {
    fs.writeFileSync(this.logPath, '')
    fs.rmSync(this.statsPath, { force: true })
  }

  cleanup() {
    fs.rmSync(this.dir, { recursive: true, force: true })
  }
}

function hidden(obj, props) {
  for (const [k, v] of Object.entries(props)) {
    Object.defineProperty(obj, k, { value: v, enumerable: false, writable: true, configurable: true })
  }
}

/** Writes the scenario to a fresh temp dir; returns a FakeServer (spread it into Session options). */
function fakeServer(scenario = {}, options = {}) {
  return new FakeServer(scenario, options)
}

/** Only writes the scenario file; returns its path. */
function writeScenario(scenario, file) {
  const target = file ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'codex-fake-')), 'scenario.json')
  fs.writeFileSync(target, JSON.stringify(scenario, null, 2))
  return target
}

// Action builders. `filter` is {call?, calls?, times?} for `on` lists.
const act = {
  stderr: (text, filter) => ({ do: 'stderr', text, ...filter }),
  /** About `bytes` of numbered stderr lines, written synchronously, then a `$stderrFlood` log record. */
  stderrFlood: (bytes, opts = {}) => ({ do: 'stderr', bytes, ...opts }),
  sleep: (ms, filter) => ({ do: 'sleep', ms, ...filter }),
  crash: (opts = {}) => ({ do: 'crash', ...opts }),
  exit: (code = 0, opts = {}) => ({ do: 'exit', code, ...opts }),
  raw: (text, filter) => ({ do: 'raw', text, ...filter }),
  /** Raw bytes (a Buffer or an array of byte values) written as one line, e.g. not UTF-8. */
  rawBytes: (bytes, filter) => ({ do: 'rawBytes', base64: Buffer.from(bytes).toString('base64'), ...filter }),
  malformed: (text, filter) => (text === undefined ? { do: 'malformed', ...filter } : { do: 'malformed', text, ...filter }),
  bigLine: (mib = 64, opts = {}) => ({ do: 'bigLine', mib, ...opts }),
  send: (frame, filter) => ({ do: 'send', frame, ...filter }),
  notify: (method, params = {}, filter) => ({ do: 'notify', method, params, ...filter }),
  strayResponse: (id = 987654321, result = {}, filter) => ({ do: 'strayResponse', id, result, ...filter }),
  respond: (result = {}, filter) => ({ do: 'respond', result, ...filter }),
  error: (code = -32001, message, opts = {}) => ({ do: 'error', code, ...(message === undefined ? {} : { message }), ...opts }),
  /** Error -32001 "Server overloaded; retry later." for the first `times` calls. */
  overloaded: (times = 1) => ({ do: 'error', code: -32001, times }),
  hang: (filter) => ({ do: 'hang', ...filter }),
  closeStdout: (filter) => ({ do: 'closeStdout', ...filter }),
  serverRequest: (method, params = {}, opts = {}) => ({ do: 'serverRequest', method, params, ...opts }),
  approval: (opts = {}) => ({ do: 'approval', ...opts }),
}

module.exports = { fakeServer, FakeServer, writeScenario, act, FAKE_APP_SERVER_PATH: FAKE_PATH }
