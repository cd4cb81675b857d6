// The baseline: a minimal pure-Node client of `codex app-server` (stdio, newline-delimited
// JSON-RPC). Spawn, split stdout into lines, JSON.parse each, answer requests by id and hand
// every notification to a callback chosen by its turn id. No validation, no batching, no
// buffering beyond what routing needs: the cheapest honest client, to compare codex-native with.
//
// Two ways to parse, both measured by `pnpm bench`: `parse: 'line'` (the default) calls
// JSON.parse once per line, as the existing TypeScript and Python clients do; `parse: 'chunk'`
// calls it once per stdout chunk, on the chunk's complete lines joined into one JSON array.
// One parse per chunk saves V8's per-call setup (and the per-line string slices), which is most
// of the cost at 16 B events; it is the cheapest pure-JS client we know how to write.
import { spawn } from 'node:child_process'

const NL = 10

/**
 * The baseline's transport: the server is spawned by, and its stdout read on, the calling
 * thread. `on` receives stdout chunks (Buffers), stderr text and the exit.
 */
export function spawnOnThisThread(command, args, { cwd, env }, on) {
  const child = spawn(command, args, { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] })
  child.stdout.on('data', on.stdout)
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', on.stderr)
  child.once('exit', on.exit)
  child.stdin.on('error', () => {})
  return {
    write: (text) => child.stdin.write(text),
    end: () => child.stdin.end(),
    kill: () => child.kill('SIGKILL'),
  }
}

export class BaselineClient {
  /**
   * Spawns `command app-server ...args` and does the `initialize` round trip.
   * @param {{ command: string, args?: string[], env?: Record<string,string>, cwd?: string,
   *           clientInfo?: object, capabilities?: object, transport?: Function,
   *           parse?: 'line' | 'chunk' }} options
   */
  static async start(options) {
    const client = new BaselineClient(options, options.transport)
    client.info = await client.request('initialize', {
      clientInfo: options.clientInfo ?? { name: 'codex-native-bench', version: '0.0.0', title: null },
      capabilities: options.capabilities ?? { experimentalApi: false, optOutNotificationMethods: [] },
    })
    client.notify('initialized')
    return client
  }

  /**
   * @param transport how the server process is run and read: `spawnOnThisThread` (the
   *   baseline: stdout is read by this thread's event loop) or another with the same shape
   *   (bench/worker-transport.mjs reads it on a worker thread).
   */
  constructor({ command, args = [], env = {}, cwd, parse = 'line' }, transport = spawnOnThisThread) {
    if (parse !== 'line' && parse !== 'chunk') throw new TypeError(`parse: 'line' or 'chunk', not ${parse}`)
    this.nextId = 1
    this.pending = new Map() // id -> { resolve, reject }
    this.turns = new Map() // turnId -> callback
    this.early = new Map() // turnId -> events that arrived before a callback was set
    this.onOther = null // notifications without a turn id
    this.rest = null // the pieces of an unfinished line
    this.stderr = ''
    let exited
    this.exited = new Promise((resolve) => (exited = resolve))
    this.server = transport(command, ['app-server', ...args], { cwd, env: { ...process.env, ...env } }, {
      stdout: parse === 'chunk' ? (chunk) => this.onChunk(chunk) : (chunk) => this.onData(chunk),
      stderr: (d) => {
        this.stderr = (this.stderr + d).slice(-4096)
      },
      exit: (code, signal) => {
        const err = new Error(`app-server exited (${code ?? signal}): ${this.stderr}`)
        for (const p of this.pending.values()) p.reject(err)
        this.pending.clear()
        exited()
      },
    })
  }

  onData(chunk) {
    let start = 0
    if (this.rest !== null) {
      // The pieces of a line longer than a chunk (item/completed carries the whole message)
      // are joined once, when its newline arrives: joining at every chunk would be quadratic.
      const nl = chunk.indexOf(NL)
      if (nl === -1) {
        this.rest.push(chunk)
        return
      }
      this.rest.push(chunk.subarray(0, nl))
      const line = Buffer.concat(this.rest)
      this.rest = null
      this.onLine(line.toString('utf8'))
      start = nl + 1
    }
    for (;;) {
      const nl = chunk.indexOf(NL, start)
      if (nl === -1) break
      if (nl > start) this.onLine(chunk.toString('utf8', start, nl))
      start = nl + 1
    }
    if (start < chunk.length) this.rest = [chunk.subarray(start)]
  }

  /**
   * `parse: 'chunk'`: the chunk's complete lines (a line begun in an earlier chunk included) are
   * parsed together, as one array: `[line,line,...]`. A JSON text holds no raw newline, so
   * turning each newline into a comma is exact (codex sends no empty lines).
   */
  onChunk(chunk) {
    const last = chunk.lastIndexOf(NL)
    if (last === -1) {
      ;(this.rest ??= []).push(chunk)
      return
    }
    let text
    if (this.rest !== null) {
      this.rest.push(chunk.subarray(0, last))
      text = Buffer.concat(this.rest).toString('utf8')
      this.rest = null
    } else {
      text = chunk.toString('utf8', 0, last)
    }
    if (last + 1 < chunk.length) this.rest = [chunk.subarray(last + 1)]
    for (const msg of JSON.parse(`[${text.replaceAll('\n', ',')}]`)) this.onMessage(msg)
  }

  onLine(line) {
    this.onMessage(JSON.parse(line))
  }

  onMessage(msg) {
    if (msg.method === undefined) {
      const p = this.pending.get(msg.id)
      if (!p) return
      this.pending.delete(msg.id)
      if (msg.error) p.reject(Object.assign(new Error(msg.error.message), { rpc: msg.error }))
      else p.resolve(msg.result)
      return
    }
    if (msg.id !== undefined) {
      // A server request (approval): decline, as codex-native's default policy does.
      this.write({ id: msg.id, result: { decision: 'decline' } })
      return
    }
    const params = msg.params
    const turnId = params && (params.turnId ?? (params.turn && params.turn.id))
    if (turnId === undefined) {
      if (this.onOther) this.onOther(msg)
      return
    }
    const cb = this.turns.get(turnId)
    if (cb) cb(msg)
    else {
      let list = this.early.get(turnId)
      if (!list) this.early.set(turnId, (list = []))
      list.push(msg)
    }
  }

  write(frame) {
    this.server.write(JSON.stringify(frame) + '\n')
  }

  request(method, params) {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.write(params === undefined ? { id, method } : { id, method, params })
    })
  }

  notify(method, params) {
    this.write(params === undefined ? { method } : { method, params })
  }

  /** Every notification of `turnId` (including those that came first) goes to `cb`. */
  onTurn(turnId, cb) {
    this.turns.set(turnId, cb)
    const early = this.early.get(turnId)
    if (early) {
      this.early.delete(turnId)
      for (const msg of early) cb(msg)
    }
  }

  offTurn(turnId) {
    this.turns.delete(turnId)
  }

  /** Starts a turn; resolves when `turn/completed` was handed to `cb`. */
  async runTurn(threadId, text, cb) {
    const { turn } = await this.request('turn/start', { threadId, input: [{ type: 'text', text, text_elements: [] }] })
    return new Promise((resolve) => {
      this.onTurn(turn.id, (msg) => {
        cb(msg)
        if (msg.method === 'turn/completed') {
          this.offTurn(turn.id)
          resolve(turn.id)
        }
      })
    })
  }

  async close() {
    this.server.end()
    const t = setTimeout(() => this.server.kill(), 2000)
    await this.exited
    clearTimeout(t)
  }
}
