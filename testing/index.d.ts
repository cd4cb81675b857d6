/// <reference types="node" />
// codex-native/testing: a loopback stand-in for the model's Responses API, for tests that
// drive the real `codex app-server` without a network.

import type { SessionOptions } from '../index.js'

/** Token counts reported in `response.completed` (defaults: 10 input, 5 output, 0 cached/reasoning). */
export interface ReplyUsage {
  inputTokens?: number
  cachedInputTokens?: number
  outputTokens?: number
  reasoningOutputTokens?: number
}

/** A scripted answer to one `POST /v1/responses`. Made by `reply.*`; plain, frozen data. */
export type Reply =
  | { readonly kind: 'text'; readonly text: string; readonly chunks: readonly string[]; readonly delayMs: number; readonly usage?: ReplyUsage }
  | { readonly kind: 'functionCall'; readonly name: string; readonly arguments: string; readonly callId?: string; readonly usage?: ReplyUsage }
  | { readonly kind: 'error'; readonly status: number; readonly body: unknown }
  | { readonly kind: 'hang' }
  | { readonly kind: 'sse'; readonly events: readonly SseEvent[]; readonly delayMs: number }

/** A raw server-sent event: written as `event: <type>` / `data: <JSON of the whole object>`. */
export interface SseEvent {
  type: string
  [key: string]: unknown
}

export interface TextReplyOptions {
  /** A number of roughly equal pieces, or the pieces themselves (they must join to the text). Default: 1. */
  chunks?: number | string[]
  /** Pause after each delta (a slow turn, to interrupt). Default 0. */
  delayMs?: number
  usage?: ReplyUsage
}

export interface FunctionCallReplyOptions {
  /** The `call_id`; default `call_<n>`. codex also uses it as the item id of the resulting item. */
  callId?: string
  usage?: ReplyUsage
}

export interface ExecCommandReplyOptions extends FunctionCallReplyOptions {
  /** The `workdir` argument (default: the turn's cwd). */
  workdir?: string
  /** More raw `exec_command` arguments: `login`, `yield_time_ms`, `sandbox_permissions`, `justification`, ... */
  arguments?: Record<string, unknown>
}

export interface PatchFile {
  /** Relative to the turn's cwd, or absolute. */
  path: string
  /** Written line by line; the file always ends with a newline (a missing final one is added). */
  contents: string
}

export declare const reply: {
  /** An assistant message: `response.output_text.delta` events, then `response.completed` with usage. */
  text(text: string, options?: TextReplyOptions): Reply
  /** A `function_call` output item; codex runs the tool and posts again with a `function_call_output`. */
  functionCall(name: string, args: Record<string, unknown> | string, options?: FunctionCallReplyOptions): Reply
  /** A `function_call` to `exec_command` with arguments `{"cmd": cmd}` (+ options). */
  execCommand(cmd: string, options?: ExecCommandReplyOptions): Reply
  /**
   * An `exec_command` whose cmd is an `apply_patch` heredoc adding `files` (or the given raw
   * `*** Begin Patch` ... `*** End Patch` text); codex turns it into a `fileChange` item.
   */
  applyPatch(files: PatchFile[] | string, options?: ExecCommandReplyOptions): Reply
  /** This HTTP status with a JSON body (default `{error: {message: 'stand-in error <status>'}}`); the turn fails. */
  error(status: number, body?: unknown): Reply
  /** 200 with SSE headers, then nothing until `close()` (which makes codex fail the turn) or an interrupt. */
  hang(): Reply
  /** These events as they are, then the end of the stream. */
  sse(events: SseEvent[], options?: { delayMs?: number }): Reply
}

export interface FunctionOutput {
  callId: string
  /** The output as text (content parts are joined). */
  output: string
}

/** One recorded `POST /v1/responses`. */
export interface ModelRequest {
  /** Position in `model.requests`. */
  index: number
  method: string
  path: string
  headers: Record<string, string | string[] | undefined>
  /** The parsed JSON body (null if it could not be parsed; the request then got a 400). */
  body: any
  /**
   * The `input_text` of every user-role message in `body.input`, in order (the whole
   * conversation so far). Context codex injects as user messages (`<environment_context>`,
   * AGENTS.md instructions, ...: a text that is one XML-like element) is left out.
   */
  userTexts: string[]
  lastUserText: string | undefined
  /** Every `function_call_output` (and `custom_tool_call_output`) in `body.input`, in order. */
  functionOutputs: FunctionOutput[]
  /** The reply that answered it; set once chosen (undefined before, or if respondWith threw). */
  reply: Reply | undefined
  /** True when neither the queue nor respondWith had a reply and "(no scripted reply)" was sent. */
  unscripted: boolean
}

/** Any other HTTP request (GET /v1/models is answered with a one-model list; others get 404). */
export interface OtherRequest {
  method: string
  path: string
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** The config that points codex at the stand-in (each top-level key becomes one `-c key=<TOML>`). */
export interface StandInConfig {
  model_provider: 'mock'
  model_providers: {
    mock: {
      name: 'mock'
      base_url: string
      wire_api: 'responses'
      env_key: 'MOCK_KEY'
      supports_websockets: false
      request_max_retries: 0
      stream_max_retries: 0
    }
  }
  model: string
  features: { plugins: false }
  analytics: { enabled: false }
  [key: string]: unknown
}

export interface StandInEnv {
  /** A fresh temporary directory, removed by `close()`. */
  CODEX_HOME: string
  /** The same directory: codex's login shells run none of this machine's dotfiles. */
  HOME: string
  MOCK_KEY: 'mock'
  [key: string]: string
}

export interface ModelStandIn {
  /** `http://127.0.0.1:<port>/v1` */
  readonly url: string
  /** Every `POST /v1/responses`, in arrival order (a live array). */
  readonly requests: readonly ModelRequest[]
  /** Every other HTTP request, in arrival order. */
  readonly otherRequests: readonly OtherRequest[]
  /** How many enqueued replies are still unused. */
  readonly pending: number
  /** Queue replies; each `POST /v1/responses` takes the next one. */
  enqueue(...replies: Reply[]): this
  /** The fallback when the queue is empty (null removes it). Returning undefined sends "(no scripted reply)". */
  respondWith(handler: ((request: ModelRequest) => Reply | undefined | Promise<Reply | undefined>) | null): this
  /**
   * The next request not yet handed out by an earlier call (requests that arrived before the
   * call count), waiting for it if needed. Rejects after `timeoutMs` (default 10000) or on close().
   */
  nextRequest(options?: { timeoutMs?: number }): Promise<ModelRequest>
  /**
   * Options for `Session.create`: `env` (a fresh CODEX_HOME, also as HOME, + MOCK_KEY) and `config` pointing at
   * the stand-in. `extra.env` / `extra.config` are merged over those; other keys pass through.
   */
  sessionOptions<T extends SessionOptions = {}>(
    extra?: T,
  ): Omit<T, 'env' | 'config'> & { env: StandInEnv; config: StandInConfig }
  /** The same config as `['-c', 'key=<TOML>', ...]` for spawning `codex app-server` by hand (plus `extraConfig`). */
  codexArgs(extraConfig?: Record<string, unknown>): string[]
  /** Ends open responses, closes the server and every connection, removes the CODEX_HOMEs it made. Idempotent. */
  close(): Promise<void>
}

/** Starts the stand-in on 127.0.0.1 (port 0 = a free one unless given). `model` defaults to 'mock-model'. */
export declare function createModelStandIn(options?: { port?: number; model?: string }): Promise<ModelStandIn>

/**
 * `['-c', 'key=<TOML value>', ...]` for each top-level key (objects become inline tables; undefined is skipped),
 * encoded by the addon with the rules `Session.create({ config })` applies. NaN, ±Infinity, null, functions and
 * symbols throw an `INVALID_ARGUMENT` TypeError naming the key path.
 */
export declare function configToArgs(config: Record<string, unknown>): string[]

/** The text sent for a request nothing was scripted for. */
export declare const NO_SCRIPTED_REPLY: '(no scripted reply)'
