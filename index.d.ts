/* eslint-disable */
/// <reference types="node" />
// Public types of codex-native. This header is prepended to the index.d.ts that napi-rs
// generates; the interfaces below merge with the generated native classes to describe what
// main.js adds (iteration, signals, listeners). Protocol types come from ./protocol. The option
// objects (SessionOptions, TurnControls, RequestOptions, ...) are generated from src/options.rs;
// only what napi cannot express stays here (generic or protocol-derived shapes like TurnOptions).

import type * as P from './protocol/index.js'
// Names used by the generated class declarations below.
import type {
  InitializeResponse,
  ThreadForkParams,
  ThreadResumeParams,
  ThreadStartParams,
  ThreadStartResponse,
} from './protocol/index.js'
// The pass-through protocol methods, generated from the pinned schema (scripts/generate.mjs).
import type { SessionMethods, ThreadMethods } from './js/generated/method-types.js'

export type * from './protocol/index.js'
/** Every protocol type of the pinned codex, including the ones our classes shadow (`Thread`, `Turn`). */
export type * as Protocol from './protocol/index.js'

/** Stable error codes: `error.code` of every error this package throws. */
export type ErrorCode =
  | 'SPAWN_FAILED'
  | 'TRANSPORT_CLOSED'
  | 'REQUEST_TIMEOUT'
  | 'RPC_ERROR'
  | 'SERVER_OVERLOADED'
  | 'TURN_FAILED'
  | 'TURN_STALLED'
  | 'SESSION_CLOSED'
  | 'PROTOCOL_ERROR'
  | 'ABORTED'
  | 'INVALID_ARGUMENT'
  /** A thread that a server restart could not bring back (ephemeral, or not resumable). */
  | 'THREAD_LOST'
  /** Thrown by `require('codex-native')` itself when no prebuilt addon fits the platform. */
  | 'NATIVE_ADDON_MISSING'

export interface CodexError extends Error {
  code: ErrorCode
  /** JSON-RPC error code (`RPC_ERROR`, `SERVER_OVERLOADED`). */
  rpcCode?: number
  rpcMessage?: string
  data?: unknown
  /** The last lines the server wrote to stderr (`TRANSPORT_CLOSED`). */
  stderrTail?: string
}

/** What a turn takes as input: text, one `UserInput` item, or several. */
export type Input = string | P.UserInput | P.UserInput[]

/**
 * A server request waiting for an answer, shown in its turn's stream so a UI can show (and,
 * on `serverRequest/resolved`, dismiss) the prompt. Emitted by this client, not the server.
 */
export interface ServerRequestEvent {
  method: 'serverRequest'
  params: { threadId: string; turnId: string; requestId: P.RequestId } & {
    [M in P.AnyServerRequestMethod]: { method: M; params: P.ServerRequestParamsOf<M> }
  }[P.AnyServerRequestMethod]
}

/** One event of a turn, discriminated on `method`. */
export type TurnEvent = P.ServerNotification | ServerRequestEvent

export interface TurnResult {
  threadId: string
  turnId: string
  status: 'completed' | 'interrupted' | 'failed'
  /** The last completed agent message (its streamed deltas if it never completed). */
  text: string
  /** Every `item/completed` item, in order. */
  items: P.ThreadItem[]
  usage: P.ThreadTokenUsage | null
  error: P.TurnError | null
}

/** The `turn/start` fields, plus how to follow and cancel the turn (`TurnControls`). */
export type TurnOptions = Omit<P.TurnStartParams, 'threadId' | 'input'> & TurnControls

/** What every approval or server-request handler receives besides the params. */
export interface HandlerContext {
  /** Aborted when the request stops being pending: resolved by the server, its turn ended, a timeout, or the session closed. */
  signal: AbortSignal
  method: string
  requestId: P.RequestId
  threadId: string | null
  turnId: string | null
}

type Handler<M extends P.AnyServerRequestMethod> = (
  params: P.ServerRequestParamsOf<M>,
  context: HandlerContext,
) => P.ServerResponseOf<M> | Promise<P.ServerResponseOf<M>>

export interface ApprovalHandlers {
  onCommandExecution?: Handler<'item/commandExecution/requestApproval'>
  onFileChange?: Handler<'item/fileChange/requestApproval'>
  onToolRequestUserInput?: Handler<'item/tool/requestUserInput'>
  onDynamicToolCall?: Handler<'item/tool/call'>
  onMcpElicitation?: Handler<'mcpServer/elicitation/request'>
  onPermissions?: Handler<'item/permissions/requestApproval'>
}

/**
 * How approvals and other server requests are answered. Fail closed: the default declines
 * everything, and a handler that throws, rejects, returns a malformed answer or times out
 * gets its request declined (the error goes to `onError`).
 */
export declare class ApprovalPolicy {
  private constructor()
  readonly kind: 'autoDecline' | 'autoAccept' | 'commandsOnly' | 'custom'
  static autoDecline(): ApprovalPolicy
  static autoAccept(): ApprovalPolicy
  static commandsOnly(): ApprovalPolicy
  static custom(handlers: ApprovalHandlers): ApprovalPolicy
}

export declare function approveCommand(): P.CommandExecutionRequestApprovalResponse
export declare function approveCommandForSession(): P.CommandExecutionRequestApprovalResponse
export declare function declineCommand(): P.CommandExecutionRequestApprovalResponse
export declare function approveFileChange(): P.FileChangeRequestApprovalResponse
export declare function approveFileChangeForSession(): P.FileChangeRequestApprovalResponse
export declare function declineFileChange(): P.FileChangeRequestApprovalResponse
/** `{ questionId: answer | answers }` as a requestUserInput response. */
export declare function toolAnswers(answers: Record<string, string | string[]>): P.ToolRequestUserInputResponse
export declare function toolCallSuccess(content: string | P.DynamicToolCallOutputContentItem[]): P.DynamicToolCallResponse
export declare function toolCallFailure(message: string): P.DynamicToolCallResponse

/** `session.info`: the server's `initialize` answer, plus the server's version. */
export type SessionInfo = InitializeResponse & {
  /**
   * The server's codex version (`'0.169.0'`), read from `userAgent`
   * (`<clientInfo.name>/<version> (<os> <os version>; <arch>) <terminal> ...`); null when it
   * shows none.
   */
  serverVersion: string | null
}

type NotificationOf<M> = M extends '*' ? P.ServerNotification : Extract<P.ServerNotification, { method: M }>
type ParamsOfNotification<M> = M extends P.ServerNotificationMethod ? P.NotificationParamsOf<M> : P.ServerNotification

export interface Session extends SessionMethods {
  request<M extends P.AnyClientRequestMethod>(method: M, params: P.ParamsOf<M>, options?: RequestOptions): Promise<P.ResultOf<M>>
  /** Calls `listener` with each notification of `method` (or every one, with '*'); returns the unsubscribe. */
  onNotification<M extends P.ServerNotificationMethod | '*'>(method: M, listener: (notification: NotificationOf<M>) => void): () => void
  /** The params of the next notification of `method` that satisfies `predicate`. */
  waitForNotification<M extends P.ServerNotificationMethod | '*'>(
    method: M,
    options?: RequestOptions & { predicate?: (params: ParamsOfNotification<M>) => boolean },
  ): Promise<ParamsOfNotification<M>>
  /**
   * `command/exec`: runs `command` (argv) outside any thread, in the server's sandbox.
   * `onOutput` receives stdout/stderr chunks as they come (streamed output).
   */
  exec(
    command: string[],
    options?: Omit<P.CommandExecParams, 'command' | 'processId' | 'streamStdoutStderr'> & {
      onOutput?: (chunk: { stream: P.CommandExecOutputStream; data: Buffer }) => void
    },
  ): Promise<P.CommandExecResponse>
  /** Answers every server request of `method` with `handler`, ahead of any policy; returns the removal. */
  onServerRequest<M extends P.AnyServerRequestMethod>(method: M, handler: Handler<M>): () => void
  /** Experimental params (e.g. `dynamicTools`) need `experimentalApi: true`. */
  startThread(params?: P.ThreadStartParams | P.Experimental.ThreadStartParams, options?: ThreadOptions): Promise<Thread>
  startEphemeralThread(params?: P.ThreadStartParams | P.Experimental.ThreadStartParams, options?: ThreadOptions): Promise<Thread>
  resumeThread(threadId: string, params?: Omit<P.ThreadResumeParams, 'threadId'>, options?: ThreadOptions): Promise<Thread>
  forkThread(threadId: string, params?: Omit<P.ThreadForkParams, 'threadId'>, options?: ThreadOptions): Promise<Thread>
  unarchiveThread(threadId: string, options?: ThreadOptions): Promise<Thread>
  [Symbol.asyncDispose](): Promise<void>
}

export interface Thread extends ThreadMethods {
  startTurn(input: Input, options?: TurnOptions): Promise<Turn>
  /** Starts a turn and waits for its result. */
  run(input: Input, options?: TurnOptions): Promise<TurnResult>
  /** Starts a turn and resolves with the final agent text; a failed turn rejects with TURN_FAILED. */
  ask(input: Input, options?: TurnOptions): Promise<string>
}

export interface Turn extends AsyncIterable<TurnEvent> {
  /** Every notification of this turn, in order, `turn/started` through `turn/completed`. One consumer. */
  [Symbol.asyncIterator](): AsyncIterator<TurnEvent>
  /** Only the agent-message text deltas (shares the turn's one consumer with the iterator). */
  textStream(): AsyncIterable<string>
  /**
   * Resolves when the turn ends. `timeoutMs` only stops waiting (REQUEST_TIMEOUT): the turn goes
   * on and a later call still resolves. Aborting `signal` interrupts the turn.
   */
  result(options?: ResultOptions): Promise<TurnResult>
}

export declare function textInput(text: string): P.UserInput
export declare function imageInput(url: string): P.UserInput
export declare function localImageInput(path: string): P.UserInput

/**
 * Which binding artifact the generated loader actually loaded: `'native'` for
 * a native addon, otherwise the `platformArchABI` of the WASI flavor. Every
 * flavor napi-rs can build is listed, because `NAPI_RS_NATIVE_LIBRARY_PATH`
 * can point the loader at a WASI artifact this package does not build itself.
 */
export declare const __napiBindingTarget: 'native' | 'wasm32-wasi' | 'wasm32-wasip1'

/** A connection to one codex app-server. Created with `Session.create()`. */
export declare class Session {
  /**
   * Starts (or connects to) an app-server and runs the `initialize` handshake.
   * (Natively it also takes the callbacks main.js passes: see `SessionHooks` there.)
   */
  static create(options?: SessionOptions): Promise<Session>
  /**
   * The server's `initialize` response (userAgent, codexHome, platformFamily, platformOs),
   * plus `serverVersion`, read from userAgent (null if it shows none).
   * After a restart (`restart` option), the new server's.
   */
  get info(): SessionInfo
  /**
   * True once the session is closed or its connection is gone; false while a crashed
   * server is being restarted (`restart` option).
   */
  get closed(): boolean
  /**
   * The app-server's process id, when this session spawned it (after a restart, the new
   * server's).
   */
  get pid(): number | null
  /** Starts a new thread. */
  startThread(params?: ThreadStartParams): Promise<Thread>
  /** Starts a thread that is not persisted. */
  startEphemeralThread(params?: ThreadStartParams): Promise<Thread>
  /** Opens an existing thread (`thread/resume`) to run more turns on it. */
  resumeThread(threadId: string, params?: Omit<ThreadResumeParams, 'threadId'>): Promise<Thread>
  /** A new thread with the history of `threadId` (`thread/fork`). */
  forkThread(threadId: string, params?: Omit<ThreadForkParams, 'threadId'>): Promise<Thread>
  /** `thread/unarchive`: the thread, ready to use. */
  unarchiveThread(threadId: string): Promise<Thread>
  /** Sends a notification to the server. */
  notify(method: string, params?: unknown): void
  /**
   * Ends the session: pending work settles with `SESSION_CLOSED`, the server gets stdin
   * EOF, then SIGTERM, then SIGKILL. Idempotent.
   */
  close(): Promise<void>
}

/** A conversation on a session. */
export declare class Thread {
  get id(): string
  /** The session this thread belongs to. */
  get session(): Session
  /** The response that opened this thread (`thread/start`, `thread/resume`, `thread/fork`). */
  get opened(): ThreadStartResponse
  /** A new thread with this one's history (`thread/fork`). */
  fork(params?: Omit<ThreadForkParams, 'threadId'>): Promise<Thread>
  /** Drops the last `numTurns` turns from the thread's history. */
  rollback(numTurns: number): Promise<void>
  unarchive(): Promise<void>
}

/** A running turn. Its events are read through the JavaScript iterator (`for await`). */
export declare class Turn {
  get id(): string
  get threadId(): string
  /** Asks the server to stop the turn; it then completes with status `interrupted`. */
  interrupt(): Promise<void>
  /** Adds input to the running turn. */
  steer(input: Input): Promise<void>
  /** True once the turn has ended. */
  get finished(): boolean
}

/**
 * `['-c', 'key=<TOML>', ...]` for each top-level key of `config` whose value is not
 * `undefined`, encoded by the core's rules (the ones `Session.create({ config })` applies).
 * NaN and ±Infinity, `null`, functions and symbols are an `INVALID_ARGUMENT` TypeError naming
 * the key path.
 */
export declare function configOverrideArgs(config: Record<string, unknown>): Array<string>

/**
 * The absolute path of the codex binary a session would start: `codexPath`, else env
 * `CODEX_PATH`, else the native binary of an installed `@openai/codex` platform package found
 * upward from `searchPaths`, else `codex` on PATH. Throws `SPAWN_FAILED` listing every place
 * tried, as `Session.create` does.
 */
export declare function findCodex(options?: FindCodexOptions | undefined | null): string

/** Where `findCodex` looks. */
export interface FindCodexOptions {
  /** An explicit binary (as `codexPath`): checked, and the only place tried. */
  codexPath?: string
  /**
   * Directories to look upward from for `node_modules/@openai/codex` (default: the current
   * directory).
   */
  searchPaths?: Array<string>
  /**
   * `true`: neither env `CODEX_PATH` nor `PATH` is consulted, only `codexPath` and
   * `searchPaths` (a lookup inside one install, e.g. another codex version's).
   */
  ignoreEnv?: boolean
}

/**
 * What `ApprovalPolicy.toNative()` (main.js) makes of a policy: its kind, and for a custom
 * one the key main.js files its handlers under and the request methods they answer.
 */
export interface PolicyDescriptor {
  kind: 'autoDecline' | 'autoAccept' | 'commandsOnly' | 'custom'
  key?: string
  methods?: Array<string>
}

/** Options of `thread.read()` and `session.readThread()`. */
export interface ReadOptions {
  /** The thread's turns and items too. */
  includeTurns?: boolean
}

/** Options of `session.request` and `session.waitForNotification`. */
export interface RequestOptions {
  /** Stops waiting after this long (REQUEST_TIMEOUT). */
  timeoutMs?: number
  /** Aborting stops waiting (ABORTED). */
  signal?: AbortSignal
}

/** What `onRestart` is told. */
export interface RestartEvent {
  /** 1 for the first restart since the count last started again (see `restart`). */
  attempt: number
  /** How the server being replaced ended (null if that could not be found out). */
  exit: ServerExit | null
  /** Its last stderr lines. */
  stderrTail: string
}

/** Options of `turn.result()`. */
export interface ResultOptions {
  /** Only stops waiting (REQUEST_TIMEOUT): the turn goes on and a later call still resolves. */
  timeoutMs?: number
  /** Aborting interrupts the turn. */
  signal?: AbortSignal
}

/** How a server process ended: its exit code, or the signal that killed it (`'SIGKILL'`). */
export interface ServerExit {
  code: number | null
  signal: string | null
}

/**
 * What main.js hands `Session.create` besides the options: its callbacks (wrapped so that a
 * throwing one is reported, never fatal) and the start's id for aborting it.
 */
export interface SessionHooks {
  /** Notification batches (JSON arrays) for `onNotification` listeners, from the start on. */
  sink?: (batchJson: string) => void
  /** The sink's stream ended: with the error that ended it, or none. */
  onSinkEnd?: (error?: CodexError) => void
  /** Protocol problems that belong to no request (malformed or oversized frames, ...). */
  onDiagnostic?: (error: CodexError) => void
  onStderr?: (line: string) => void
  /** `"in\n{frame}"` / `"out\n{frame}"`. */
  onMessage?: (taggedFrame: string) => void
  /** `{"code","signal"}` as JSON. */
  onExit?: (exitJson: string) => void
  /** A server request for a JavaScript handler (see src/approval.rs). */
  dispatch?: (requestJson: string) => Promise<string>
  /** Aborts the handler of a request that stopped being pending. */
  abort?: (requestKey: string) => void
  /** The id `Session._abortStart(id)` aborts this start by. */
  startId?: number
  /** `onRestart`. */
  onRestart?: (event: RestartEvent) => void
}

/** Options of `Session.create`. */
export interface SessionOptions {
  clientInfo?: { name: string; version: string; title?: string }
  /**
   * How to reach the server. `stdio` (default) spawns it and owns it. `websocket` and `unix`
   * connect to a running `codex app-server --listen ...`: `close()` only disconnects. The
   * token is sent as `Authorization: Bearer` and never appears in errors. A `ws://` URL whose
   * host is not loopback (127.0.0.0/8, ::1, localhost) is refused unless `allowInsecureRemote`
   * is true: ws:// is unencrypted, so the token would cross the network in clear text
   * (`wss://` is not supported).
   */
  transport?: { type: 'stdio' } | { type: 'websocket'; url: string; token?: string; allowInsecureRemote?: boolean } | { type: 'unix'; path?: string; token?: string }
  /** The codex binary. Default: env CODEX_PATH, then the installed `@openai/codex`, then PATH. */
  codexPath?: string
  /** Directories from which to look upward for node_modules/@openai/codex (default: this package's and the cwd). */
  codexSearchPaths?: Array<string>
  /** Extra arguments after `codex app-server`. */
  args?: Array<string>
  cwd?: string
  /** Added to the inherited environment of the server. */
  env?: Record<string, string>
  /** Config overrides, passed as `-c key=value` (values TOML-encoded). */
  config?: Record<string, unknown>
  experimentalApi?: boolean
  optOutNotificationMethods?: Array<string>
  /** Default timeout of every request (none by default). */
  requestTimeoutMs?: number
  /**
   * Limit on the whole start: spawn (or connect) and the `initialize` answer (default 30000).
   * A server that does not answer in time is stopped, and `create` rejects `SPAWN_FAILED`
   * (`TRANSPORT_CLOSED` for a websocket or unix socket).
   */
  startupTimeoutMs?: number
  /** Time the server gets to exit after stdin EOF, and again after SIGTERM (default 2000). */
  shutdownGraceMs?: number
  /**
   * Largest message accepted from the server (default 64 MiB). Over stdio a larger one is reported
   * (`PROTOCOL_ERROR` to `onError`) and skipped; over a websocket or unix socket it is reported
   * and then ends the connection (tungstenite cannot skip one).
   */
  maxMessageBytes?: number
  /** Lines of server stderr kept for error messages (default 50). */
  stderrTailLines?: number
  /** How approvals are answered (default: `ApprovalPolicy.autoDecline()`). */
  approvalPolicy?: ApprovalPolicy
  /** Aborting while the session is starting stops it: the start rejects ABORTED and releases everything. */
  signal?: AbortSignal
  /** Default turn watchdog (see `TurnControls.inactivityTimeoutMs`); none by default. */
  turnInactivityTimeoutMs?: number
  /** Time a handler gets before its request is declined (default: no limit). */
  handlerTimeoutMs?: number
  /** Retries of requests the server rejects as overloaded (-32001); default 5 attempts. */
  overloadRetry?: boolean | { maxAttempts?: number; initialDelayMs?: number; maxDelayMs?: number }
  /** Every notification of the session, from before `initialize` on. */
  onNotification?: (notification: P.ServerNotification) => void
  /** Errors thrown by listeners and callbacks, and protocol problems (default: `process.emitWarning`). */
  onError?: (error: unknown) => void
  /** Each line the server writes to stderr (spawned servers; the last lines are also kept for errors). */
  onStderr?: (line: string) => void
  /** Every JSON-RPC message in and out, for logging and tracing. No cost when unset. */
  onMessage?: (entry: { direction: 'in' | 'out'; message: unknown }) => void
  /**
   * The spawned server process ended (expectedly or not). With `restart`, only the last
   * server's exit is reported (the one the session closed or gave up with); the ones
   * replaced go to `onRestart`.
   */
  onExit?: (exit: { code: number | null; signal: string | null }) => void
  /**
   * Restart a spawned (stdio) server that exits unexpectedly (default: off). `true` means
   * `{ maxRestarts: 3, initialDelayMs: 250, maxDelayMs: 5000, resetAfterMs: 60000 }`: up to
   * `maxRestarts` restarts, the delay doubling from `initialDelayMs` to `maxDelayMs` (with
   * jitter); the count starts again once a server has stayed up for `resetAfterMs`. Then the
   * session closes with the last `TRANSPORT_CLOSED`. Not for websocket or unix transports.
   */
  restart?: boolean | { maxRestarts?: number; initialDelayMs?: number; maxDelayMs?: number; resetAfterMs?: number }
  /**
   * Called when a restart begins (once per attempt), with how the server ended and its
   * last stderr lines.
   */
  onRestart?: (event: RestartEvent) => void
}

/** Per-thread options of startThread / resumeThread / forkThread / unarchiveThread. */
export interface ThreadOptions {
  /** Overrides the session's policy for this thread. */
  approvalPolicy?: ApprovalPolicy
}

/**
 * How to follow and cancel a turn: with the `turn/start` fields, the `TurnOptions` of
 * `startTurn`, `run` and `ask`.
 */
export interface TurnControls {
  /** Receives every event of the turn, in order, from `turn/started` to `turn/completed`. */
  onEvent?: (event: TurnEvent) => void
  /** Aborting interrupts the turn (`turn/interrupt`); it then completes as `interrupted`. */
  signal?: AbortSignal
  /**
   * Watchdog: with no event for this long, the iterator and result end with TURN_STALLED; the
   * turn stays interruptible. Overrides `SessionOptions.turnInactivityTimeoutMs`.
   */
  inactivityTimeoutMs?: number
}
