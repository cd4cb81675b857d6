'use strict'

// A loopback stand-in for the model's Responses API, for testing codex-native
// against the real `codex app-server` without a network.
//
//   const { createModelStandIn, reply } = require('codex-native/testing')
//   const model = await createModelStandIn()
//   model.enqueue(reply.text('Hello world', { chunks: 3 }))
//   const session = await Session.create(model.sessionOptions())
//   ...
//   await model.close()

const http = require('node:http')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const zlib = require('node:zlib')

const NO_SCRIPTED_REPLY = '(no scripted reply)'
const DEFAULT_NEXT_REQUEST_TIMEOUT_MS = 10_000
const REPLY = Symbol.for('codex-native.testing.reply')

// ---------------------------------------------------------------------------
// Replies

function makeReply(fields) {
  return Object.freeze({ [REPLY]: true, ...fields })
}

function isReply(value) {
  return value !== null && typeof value === 'object' && value[REPLY] === true
}

function checkOptions(fn, options) {
  if (options === undefined || options === null) return {}
  if (typeof options !== 'object') throw new TypeError(`reply.${fn}: options must be an object`)
  return options
}

function checkCallId(fn, callId) {
  if (callId !== undefined && (typeof callId !== 'string' || callId === '')) {
    throw new TypeError(`reply.${fn}: callId must be a non-empty string`)
  }
}

// Split `text` into `n` pieces of nearly equal length, never inside a surrogate pair.
function splitText(text, n) {
  const chars = Array.from(text)
  if (chars.length === 0) return []
  const count = Math.max(1, Math.min(n, chars.length))
  const pieces = []
  for (let i = 0; i < count; i++) {
    const start = Math.floor((i * chars.length) / count)
    const end = Math.floor(((i + 1) * chars.length) / count)
    pieces.push(chars.slice(start, end).join(''))
  }
  return pieces
}

function checkUsage(fn, usage) {
  if (usage === undefined) return undefined
  if (usage === null || typeof usage !== 'object') throw new TypeError(`reply.${fn}: usage must be an object`)
  for (const key of ['inputTokens', 'cachedInputTokens', 'outputTokens', 'reasoningOutputTokens']) {
    const v = usage[key]
    if (v !== undefined && !(Number.isInteger(v) && v >= 0)) {
      throw new TypeError(`reply.${fn}: usage.${key} must be a non-negative integer`)
    }
  }
  return { ...usage }
}

const reply = {
  /**
   * An assistant message streamed as `response.output_text.delta` events.
   * options.chunks: a number of roughly equal pieces, or the pieces themselves (must join to `text`).
   * options.delayMs: pause after each delta (a slow turn, to interrupt).
   */
  text(text, options) {
    if (typeof text !== 'string') throw new TypeError('reply.text: text must be a string')
    const opts = checkOptions('text', options)
    let chunks
    if (opts.chunks === undefined) {
      chunks = text === '' ? [] : [text]
    } else if (Array.isArray(opts.chunks)) {
      if (!opts.chunks.every((c) => typeof c === 'string')) {
        throw new TypeError('reply.text: chunks must be a positive integer or an array of strings')
      }
      if (opts.chunks.join('') !== text) throw new TypeError('reply.text: chunks must join to the text')
      chunks = opts.chunks.filter((c) => c !== '')
    } else if (Number.isInteger(opts.chunks) && opts.chunks > 0) {
      chunks = splitText(text, opts.chunks)
    } else {
      throw new TypeError('reply.text: chunks must be a positive integer or an array of strings')
    }
    const delayMs = opts.delayMs ?? 0
    if (typeof delayMs !== 'number' || !(delayMs >= 0) || !Number.isFinite(delayMs)) {
      throw new TypeError('reply.text: delayMs must be a non-negative number')
    }
    return makeReply({ kind: 'text', text, chunks, delayMs, usage: checkUsage('text', opts.usage) })
  },

  /**
   * A function call. codex runs the tool and posts again with a `function_call_output`.
   * `args` is the arguments object (or an already-encoded JSON string).
   */
  functionCall(name, args, options) {
    if (typeof name !== 'string' || name === '') throw new TypeError('reply.functionCall: name must be a non-empty string')
    const opts = checkOptions('functionCall', options)
    checkCallId('functionCall', opts.callId)
    let encoded
    if (typeof args === 'string') encoded = args
    else if (args !== null && typeof args === 'object') encoded = JSON.stringify(args)
    else throw new TypeError('reply.functionCall: args must be an object or a JSON string')
    return makeReply({ kind: 'functionCall', name, arguments: encoded, callId: opts.callId, usage: checkUsage('functionCall', opts.usage) })
  },

  /**
   * A function call to `exec_command` with arguments {"cmd": cmd}.
   * options.workdir sets `workdir`; options.arguments adds any other raw fields
   * (`login`, `yield_time_ms`, `sandbox_permissions`, `justification`, ...).
   */
  execCommand(cmd, options) {
    if (typeof cmd !== 'string' || cmd === '') throw new TypeError('reply.execCommand: cmd must be a non-empty string')
    const opts = checkOptions('execCommand', options)
    checkCallId('execCommand', opts.callId)
    if (opts.workdir !== undefined && typeof opts.workdir !== 'string') {
      throw new TypeError('reply.execCommand: workdir must be a string')
    }
    if (opts.arguments !== undefined && (opts.arguments === null || typeof opts.arguments !== 'object')) {
      throw new TypeError('reply.execCommand: arguments must be an object')
    }
    const args = { cmd, ...(opts.workdir !== undefined ? { workdir: opts.workdir } : {}), ...opts.arguments }
    return reply.functionCall('exec_command', args, { callId: opts.callId, usage: opts.usage })
  },

  /**
   * An `exec_command` whose cmd is an `apply_patch` heredoc, which codex turns into a
   * fileChange item. `files` is a list of {path, contents} to add (every line of the
   * contents becomes a `+` line, so the file always ends with a newline), or a raw
   * patch text (`*** Begin Patch` ... `*** End Patch`).
   */
  applyPatch(files, options) {
    let patch
    if (typeof files === 'string') {
      patch = files.replace(/\n$/, '')
      if (!patch.startsWith('*** Begin Patch')) throw new TypeError('reply.applyPatch: a patch text must start with "*** Begin Patch"')
    } else if (Array.isArray(files) && files.length > 0) {
      const lines = ['*** Begin Patch']
      for (const file of files) {
        if (file === null || typeof file !== 'object' || typeof file.path !== 'string' || file.path === '' ||
            typeof file.contents !== 'string') {
          throw new TypeError('reply.applyPatch: each file must be {path: string, contents: string}')
        }
        if (/[\r\n]/.test(file.path)) throw new TypeError('reply.applyPatch: a path cannot contain a newline')
        lines.push(`*** Add File: ${file.path}`)
        const body = file.contents.endsWith('\n') ? file.contents.slice(0, -1) : file.contents
        if (file.contents !== '') for (const line of body.split('\n')) lines.push(`+${line}`)
      }
      lines.push('*** End Patch')
      patch = lines.join('\n')
    } else {
      throw new TypeError('reply.applyPatch: files must be a non-empty array of {path, contents} or a patch text')
    }
    // A heredoc delimiter that no line of the patch equals.
    const patchLines = new Set(patch.split('\n'))
    let delimiter = 'EOF'
    for (let i = 1; patchLines.has(delimiter); i++) delimiter = `EOF_${i}`
    return reply.execCommand(`apply_patch <<'${delimiter}'\n${patch}\n${delimiter}\n`, options)
  },

  /** An HTTP error status with a JSON body; codex fails the turn (retries are off). */
  error(status, body) {
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new TypeError('reply.error: status must be an integer from 400 to 599')
    }
    const payload = body === undefined ? { error: { message: `stand-in error ${status}` } } : body
    return makeReply({ kind: 'error', status, body: payload })
  },

  /** Accept the request (200 + SSE headers) and send nothing more until close(). */
  hang() {
    return makeReply({ kind: 'hang' })
  },

  /**
   * Raw SSE events, written as given (`event: <type>` / `data: <json>`); each must have a
   * string `type`. The stream ends after the last one. For shapes the helpers do not cover.
   */
  sse(events, options) {
    if (!Array.isArray(events) || !events.every((e) => e !== null && typeof e === 'object' && typeof e.type === 'string')) {
      throw new TypeError('reply.sse: events must be an array of objects with a string type')
    }
    const opts = checkOptions('sse', options)
    const delayMs = opts.delayMs ?? 0
    if (typeof delayMs !== 'number' || !(delayMs >= 0) || !Number.isFinite(delayMs)) {
      throw new TypeError('reply.sse: delayMs must be a non-negative number')
    }
    return makeReply({ kind: 'sse', events: events.map((e) => ({ ...e })), delayMs })
  },
}
Object.freeze(reply)

// ---------------------------------------------------------------------------
// Request summaries

// codex wraps the context it injects as user-role messages in one XML-like element
// (<environment_context>...</environment_context>, <user_instructions>...) or an
// "# AGENTS.md instructions" block; those are not text a user typed.
const CONTEXT_ELEMENT = /^<([A-Za-z][\w-]*)(?:\s[^>]*)?>[\s\S]*<\/\1>$/
function isInjectedContext(text) {
  const t = text.trim()
  return CONTEXT_ELEMENT.test(t) || t.startsWith('# AGENTS.md instructions')
}

function outputText(output) {
  if (typeof output === 'string') return output
  if (Array.isArray(output)) {
    return output.map((part) => (part && typeof part.text === 'string' ? part.text : '')).join('')
  }
  if (output && typeof output === 'object' && typeof output.content === 'string') return output.content
  return output === undefined || output === null ? '' : JSON.stringify(output)
}

function summarize(body) {
  const userTexts = []
  const functionOutputs = []
  const input = body && Array.isArray(body.input) ? body.input : []
  for (const item of input) {
    if (!item || typeof item !== 'object') continue
    if (item.type === 'message' && item.role === 'user') {
      const content = typeof item.content === 'string' ? [{ type: 'input_text', text: item.content }] : item.content
      if (!Array.isArray(content)) continue
      for (const part of content) {
        if (part && part.type === 'input_text' && typeof part.text === 'string' && !isInjectedContext(part.text)) {
          userTexts.push(part.text)
        }
      }
    } else if (item.type === 'function_call_output' || item.type === 'custom_tool_call_output') {
      functionOutputs.push({ callId: item.call_id, output: outputText(item.output) })
    }
  }
  return { userTexts, lastUserText: userTexts.length ? userTexts[userTexts.length - 1] : undefined, functionOutputs }
}

function decodeBody(buffer, encoding) {
  const enc = String(encoding || 'identity').toLowerCase().trim()
  if (enc === 'identity' || enc === '') return buffer
  if (enc === 'gzip' || enc === 'x-gzip') return zlib.gunzipSync(buffer)
  if (enc === 'deflate') return zlib.inflateSync(buffer)
  if (enc === 'br') return zlib.brotliDecompressSync(buffer)
  if (enc === 'zstd' && typeof zlib.zstdDecompressSync === 'function') return zlib.zstdDecompressSync(buffer)
  throw new Error(`unsupported content-encoding ${enc}`)
}

// ---------------------------------------------------------------------------
// `-c key=value` arguments

/**
 * `['-c', 'key=<TOML>', ...]` for each top-level key of `config` (undefined values are skipped).
 * Encoded by the addon with the core's own rules, the ones `Session.create({ config })` applies
 * (crates/app-server-client/src/toml.rs): one encoder, so what a test spawns by hand is what a
 * session would pass. NaN, ±Infinity and null are an INVALID_ARGUMENT TypeError naming the key
 * path. The addon is loaded on first use: the stand-in itself needs none.
 */
function configToArgs(config) {
  return require('../main.js').configOverrideArgs(config)
}

// ---------------------------------------------------------------------------
// SSE

function writeEvent(res, event) {
  res.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`)
}

function usageOf(spec) {
  const u = spec || {}
  const input = u.inputTokens ?? 10
  const output = u.outputTokens ?? 5
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: u.cachedInputTokens ?? 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: u.reasoningOutputTokens ?? 0 },
    total_tokens: input + output,
  }
}

// ---------------------------------------------------------------------------
// The stand-in

/**
 * Start the stand-in on 127.0.0.1 (a free port unless options.port is given).
 * @param {{ port?: number, model?: string }} [options]
 */
async function createModelStandIn(options) {
  const opts = options ?? {}
  if (typeof opts !== 'object') throw new TypeError('createModelStandIn: options must be an object')
  const modelName = opts.model ?? 'mock-model'
  if (typeof modelName !== 'string' || modelName === '') throw new TypeError('createModelStandIn: model must be a non-empty string')
  const listenPort = opts.port ?? 0
  if (!Number.isInteger(listenPort) || listenPort < 0 || listenPort > 65535) {
    throw new TypeError('createModelStandIn: port must be an integer from 0 to 65535')
  }

  const queue = []
  const requests = []
  const otherRequests = []
  const waiters = [] // {resolve, reject, timer}
  const activeResponses = new Set()
  const homes = []
  let handler = null
  let cursor = 0 // index in `requests` of the next one nextRequest() hands out
  let counter = 0
  let closed = false
  let closing = null

  const nextId = (prefix) => `${prefix}_${++counter}`

  function deliver() {
    while (waiters.length > 0 && cursor < requests.length) {
      const w = waiters.shift()
      clearTimeout(w.timer)
      w.resolve(requests[cursor++])
    }
  }

  // The queued reply, else the respondWith handler's, else the "(no scripted reply)" text.
  // Sets request.reply and request.unscripted.
  async function chooseReply(request) {
    let r = queue.length > 0 ? queue.shift() : undefined
    if (r === undefined && handler) {
      r = await handler(request)
      if (r === null) r = undefined
      if (r !== undefined && !isReply(r)) throw new TypeError('respondWith: the handler must return a reply made by `reply.*`')
    }
    request.unscripted = r === undefined
    request.reply = r ?? reply.text(NO_SCRIPTED_REPLY)
    return request.reply
  }

  function sendJson(res, status, body) {
    const data = JSON.stringify(body)
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) })
    res.end(data)
  }

  // Writes `steps` ({run, delayAfter}) in order, pausing `delayMs` after each step marked
  // delayAfter; stops when the client goes away or the stand-in closes.
  function stream(res, steps, delayMs) {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    if (typeof res.flushHeaders === 'function') res.flushHeaders()
    let i = 0
    let timer = null
    res.once('close', () => clearTimeout(timer))
    const pump = () => {
      timer = null
      while (i < steps.length) {
        if (res.destroyed || res.writableEnded || closed) return
        const step = steps[i++]
        step.run()
        if (step.delayAfter && delayMs > 0 && i < steps.length) {
          timer = setTimeout(pump, delayMs)
          return
        }
      }
      if (!res.writableEnded) res.end()
    }
    pump()
  }

  function play(r, request, res) {
    const responseId = nextId('resp')
    const base = { id: responseId, object: 'response', created_at: Math.floor(Date.now() / 1000), model: request.body?.model ?? modelName }
    const created = { type: 'response.created', response: { ...base, status: 'in_progress', output: [] } }
    const completed = (output, usage) => ({
      type: 'response.completed',
      response: { ...base, status: 'completed', output, usage: usageOf(usage) },
    })
    const ev = (event, delayAfter = false) => ({ run: () => writeEvent(res, event), delayAfter })

    switch (r.kind) {
      case 'text': {
        const itemId = nextId('msg')
        const done = {
          type: 'message', id: itemId, role: 'assistant', status: 'completed',
          content: [{ type: 'output_text', text: r.text, annotations: [] }],
        }
        const steps = [
          ev(created),
          ev({ type: 'response.output_item.added', output_index: 0, item: { ...done, status: 'in_progress', content: [] } }),
          ...r.chunks.map((delta) => ev({ type: 'response.output_text.delta', item_id: itemId, output_index: 0, content_index: 0, delta }, true)),
          ev({ type: 'response.output_item.done', output_index: 0, item: done }),
          ev(completed([done], r.usage)),
        ]
        return stream(res, steps, r.delayMs)
      }
      case 'functionCall': {
        const item = {
          type: 'function_call', id: nextId('fc'), call_id: r.callId ?? nextId('call'),
          name: r.name, arguments: r.arguments, status: 'completed',
        }
        return stream(res, [
          ev(created),
          ev({ type: 'response.output_item.added', output_index: 0, item: { ...item, arguments: '', status: 'in_progress' } }),
          ev({ type: 'response.output_item.done', output_index: 0, item }),
          ev(completed([item], r.usage)),
        ], 0)
      }
      case 'sse':
        return stream(res, r.events.map((e) => ev(e, true)), r.delayMs)
      case 'error':
        return sendJson(res, r.status, r.body)
      case 'hang':
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
        if (typeof res.flushHeaders === 'function') res.flushHeaders()
        return undefined
      default:
        return sendJson(res, 500, { error: { message: `stand-in: unknown reply kind ${r.kind}` } })
    }
  }

  async function onResponses(req, res, raw) {
    let body = null
    let parseError
    try {
      body = JSON.parse(decodeBody(raw, req.headers['content-encoding']).toString('utf8'))
    } catch (err) {
      parseError = err
    }
    const request = {
      index: requests.length,
      method: req.method,
      path: req.url,
      headers: { ...req.headers },
      body,
      ...summarize(body),
      reply: undefined,
      unscripted: false,
    }
    requests.push(request)
    deliver()
    if (parseError) {
      return sendJson(res, 400, { error: { message: `stand-in could not parse the request body: ${parseError.message}` } })
    }
    let r
    try {
      r = await chooseReply(request)
    } catch (err) {
      // 400, not 500: codex shows a 4xx body in the turn's error message (a 5xx becomes a
      // generic "high demand" text), so the failure is visible in the test.
      return sendJson(res, 400, { error: { message: `stand-in: the respondWith handler failed: ${err && err.message}` } })
    }
    if (res.destroyed || closed) return undefined
    return play(r, request, res)
  }

  const server = http.createServer((req, res) => {
    activeResponses.add(res)
    res.on('close', () => activeResponses.delete(res))
    const parts = []
    req.on('data', (d) => parts.push(d))
    req.on('error', () => {})
    req.on('end', () => {
      const raw = Buffer.concat(parts)
      const url = (req.url || '/').split('?')[0].replace(/\/+$/, '')
      if (req.method === 'POST' && url === '/v1/responses') {
        onResponses(req, res, raw).catch((err) => {
          if (!res.headersSent) sendJson(res, 500, { error: { message: `stand-in failure: ${err && err.message}` } })
          else res.destroy()
        })
        return
      }
      otherRequests.push({ method: req.method, path: req.url, headers: { ...req.headers }, body: raw.toString('utf8') })
      if (req.method === 'GET' && url === '/v1/models') {
        return sendJson(res, 200, {
          object: 'list',
          data: [{ id: modelName, object: 'model', created: 0, owned_by: 'codex-native-testing' }],
        })
      }
      sendJson(res, 404, { error: { message: `stand-in: no route for ${req.method} ${req.url}` } })
    })
  })
  // Never close an idle keep-alive connection from this side: codex could send its next POST
  // on it just as it closes, and with retries off that would fail a turn. close() ends them all.
  server.keepAliveTimeout = 0

  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(listenPort, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = server.address().port
  const url = `http://127.0.0.1:${port}/v1`

  function baseConfig() {
    return {
      model_provider: 'mock',
      model_providers: {
        mock: {
          name: 'mock',
          base_url: url,
          wire_api: 'responses',
          env_key: 'MOCK_KEY',
          supports_websockets: false,
          // A failed request or stream fails the turn at once instead of being retried with backoff.
          request_max_retries: 0,
          stream_max_retries: 0,
        },
      },
      model: modelName,
      // Offline and quiet: no curated-plugin sync (github.com / chatgpt.com), no analytics.
      features: { plugins: false },
      analytics: { enabled: false },
    }
  }

  const model = {
    url,
    requests,
    otherRequests,

    enqueue(...replies) {
      if (closed) throw new Error('the model stand-in is closed')
      for (const r of replies) {
        if (!isReply(r)) throw new TypeError('enqueue: every argument must be a reply made by `reply.*`')
      }
      queue.push(...replies)
      return model
    },

    get pending() {
      return queue.length
    },

    respondWith(fn) {
      if (fn !== null && fn !== undefined && typeof fn !== 'function') {
        throw new TypeError('respondWith: the handler must be a function (or null to remove it)')
      }
      handler = fn ?? null
      return model
    },

    nextRequest(options) {
      const timeoutMs = options?.timeoutMs ?? DEFAULT_NEXT_REQUEST_TIMEOUT_MS
      if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0)) {
        return Promise.reject(new TypeError('nextRequest: timeoutMs must be a non-negative number'))
      }
      if (waiters.length === 0 && cursor < requests.length) return Promise.resolve(requests[cursor++])
      if (closed) return Promise.reject(new Error('the model stand-in is closed'))
      return new Promise((resolve, reject) => {
        const w = { resolve, reject, timer: null }
        w.timer = setTimeout(() => {
          const i = waiters.indexOf(w)
          if (i >= 0) waiters.splice(i, 1)
          reject(new Error(`model stand-in: no request arrived within ${timeoutMs} ms (${requests.length} so far)`))
        }, timeoutMs)
        waiters.push(w)
      })
    },

    sessionOptions(extra) {
      if (closed) throw new Error('the model stand-in is closed')
      if (extra !== undefined && (extra === null || typeof extra !== 'object')) {
        throw new TypeError('sessionOptions: extra must be an object')
      }
      const home = fs.mkdtempSync(path.join(os.tmpdir(), 'codex-native-home-'))
      homes.push(home)
      const { env: extraEnv, config: extraConfig, ...rest } = extra ?? {}
      return {
        ...rest,
        // HOME too: codex runs commands in login shells, which would run this machine's
        // dotfiles (slow, and a `pyenv rehash` killed with a session's process tree leaves a
        // lock that stalls every later login shell for a minute).
        env: { CODEX_HOME: home, HOME: home, MOCK_KEY: 'mock', ...extraEnv },
        config: { ...baseConfig(), ...extraConfig },
      }
    },

    codexArgs(extraConfig) {
      return configToArgs({ ...baseConfig(), ...extraConfig })
    },

    close() {
      if (closing) return closing
      closed = true
      closing = (async () => {
        for (const w of waiters.splice(0)) {
          clearTimeout(w.timer)
          w.reject(new Error('the model stand-in is closed'))
        }
        for (const res of activeResponses) res.destroy()
        await new Promise((resolve) => {
          server.close(() => resolve())
          server.closeAllConnections()
        })
        for (const home of homes.splice(0)) {
          await fs.promises.rm(home, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 }).catch(() => {})
        }
      })()
      return closing
    },
  }
  return model
}

module.exports = { createModelStandIn, reply, configToArgs, NO_SCRIPTED_REPLY }
