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
  /** A request (or its response) dropped by an interceptor (`SessionOptions.interceptors`). */
  | 'DROPPED_BY_INTERCEPTOR'
  /** Reported to `onError`: an interceptor threw or returned something that is not a message. */
  | 'INTERCEPTOR_FAILED'
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

/** A JSON-RPC message as an interceptor sees it: a request, a notification or a response. */
export interface JsonRpcMessage {
  id?: string | number
  method?: string
  params?: any
  result?: any
  error?: { code: number; message: string; data?: unknown }
  [key: string]: unknown
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
export type TurnOptions = Omit<P.TurnStartParams, 'threadId' | 'input'> & TurnControls & {
  /**
   * Experimental: a collaboration mode for this turn and the next ones, e.g. plan mode
   * (`{ mode: 'plan', settings: { model, reasoning_effort: null, developer_instructions: null } }`;
   * `session.listCollaborationModes()` lists the presets). Needs `experimentalApi: true` on the
   * session, or the turn is refused with INVALID_ARGUMENT naming `options.collaborationMode`.
   */
  collaborationMode?: P.Experimental.TurnStartParams['collaborationMode']
}

/** What `account/login/completed` says about a login; `success: false` with `error` when it failed or was cancelled. */
export type LoginCompleted = P.AccountLoginCompletedNotification

/** A ChatGPT login in progress (`session.loginWithChatGpt()` / `loginWithDeviceCode()`). */
export interface PendingLogin {
  loginId: string
  /**
   * Settles once: with the server's `account/login/completed` for this login (also after
   * `cancel()`: `success: false`), or rejects when the session ends first (TRANSPORT_CLOSED,
   * SESSION_CLOSED). Keeps Node alive while pending.
   */
  completed: Promise<LoginCompleted>
  /** `account/login/cancel`: stops the login; `completed` then settles with `success: false`. */
  cancel(): Promise<P.CancelLoginAccountResponse>
}

export interface ChatGptLogin extends PendingLogin {
  /** Open this in a browser; codex listens for the redirect on 127.0.0.1:1455. */
  authUrl: string
}

export interface DeviceCodeLogin extends PendingLogin {
  /** Where the user signs in (on any device) ... */
  verificationUrl: string
  /** ... and enters this code. */
  userCode: string
}

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
  /**
   * Signs in with ChatGPT in a browser (`account/login/start`, `type: 'chatgpt'`): open
   * `authUrl`; `completed` settles when the login ends. Errors of the auth service are RPC_ERROR.
   */
  loginWithChatGpt(options?: Omit<Extract<P.LoginAccountParams, { type: 'chatgpt' }>, 'type'>): Promise<ChatGptLogin>
  /**
   * Signs in with ChatGPT by device code (`type: 'chatgptDeviceCode'`), for machines without a
   * browser: show `verificationUrl` and `userCode`. Rejects RPC_ERROR when codex cannot reach the auth service.
   */
  loginWithDeviceCode(): Promise<DeviceCodeLogin>
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

/** The fields of `thread/goal/set` that `runGoal` takes besides the objective. */
export type GoalOptions = Omit<P.ThreadGoalSetParams, 'threadId' | 'objective'>

/** What a goal run ended with. */
export interface GoalResult {
  threadId: string
  /** The goal as it ended (`complete`, `paused`, `blocked`, `budgetLimited`, `usageLimited`), or null once cleared. */
  goal: P.ThreadGoal | null
  /** Every turn of the run, in order (the server's automatic continuations included). */
  turns: TurnResult[]
  /** The last turn's text. */
  text: string
  /** Every turn's items, in order. */
  items: P.ThreadItem[]
  /** The token usage of every model response of the run, summed. */
  usage: P.TokenUsageBreakdown
}

/** A goal followed across the turns the server runs for it. One consumer. */
export interface GoalRun extends AsyncIterable<TurnEvent> {
  /** Every notification of the thread from the goal's setting to its end. */
  [Symbol.asyncIterator](): AsyncIterator<TurnEvent>
  /** Resolves once the goal is no longer active and its last turn has completed. */
  result(): Promise<GoalResult>
}

export interface Thread extends ThreadMethods {
  /**
   * Every notification of this thread from now on, of every turn: this client's, another
   * client's on a shared server, the server's goal continuations. Ends when the session does;
   * `return()` (a `break`) unsubscribes.
   */
  events(): AsyncIterableIterator<TurnEvent>
  /** Calls `listener` with every notification of this thread from now on, in order; returns the unsubscribe. */
  onEvent(listener: (event: TurnEvent) => void): () => void
  /**
   * The turn in progress on this thread (started by another client, by this client before a
   * reconnect, or by the server), joined: its iterator yields events from now on, its
   * `result()` is whole. Null when the thread is idle.
   */
  currentTurn(): Promise<Turn | null>
  /** Sets the thread's goal and follows it across the server's automatic turns (experimental: `experimentalApi`). */
  runGoal(objective: string, options?: GoalOptions): Promise<GoalRun>
  /** `thread/goal/set` without following it (e.g. `{ status: 'paused' }`); the goal as set. */
  setGoal(params: Omit<P.ThreadGoalSetParams, 'threadId'>): Promise<P.ThreadGoal>
  /** The thread's goal, or null (experimental: `experimentalApi`). */
  goal(): Promise<P.ThreadGoal | null>
  /** Clears the thread's goal; whether there was one to clear. */
  clearGoal(): Promise<boolean>
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
   * The item of each `item/completed` of this turn, as it completes, in order (shares the turn's
   * one consumer with the iterator). `result().items` are the same objects.
   */
  items(): AsyncIterable<P.ThreadItem>
  /**
   * Resolves when the turn ends. `timeoutMs` only stops waiting (REQUEST_TIMEOUT): the turn goes
   * on and a later call still resolves. Aborting `signal` interrupts the turn.
   */
  result(options?: ResultOptions): Promise<TurnResult>
}

export declare function textInput(text: string): P.UserInput
export declare function imageInput(url: string): P.UserInput
export declare function localImageInput(path: string): P.UserInput
/** A skill: its name and the path of its SKILL.md (made absolute). */
export declare function skillInput(name: string, path: string): Extract<P.UserInput, { type: 'skill' }>
/** A mention (`@name`) of what `path` names: a file, or an `app://` / `plugin://` path; kept as given. */
export declare function mentionInput(name: string, path: string): Extract<P.UserInput, { type: 'mention' }>

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

/**
 * A subscription to one thread's notifications, read by pulls: what `thread.events()` wraps in
 * an async iterator (napi-rs cannot leave a class out of the declarations).
 */
export declare class ThreadEvents {}

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
 * One link of `SessionOptions.interceptors`. Each function gets the JSON-RPC message as an
 * object (`{id, method, params}`, `{method, params}` or `{id, result | error}`) and returns it
 * (changed or not, or a new object), `null` to drop it, or a Promise of either. Interceptors
 * run in array order, in both directions. Each interceptor gets the messages of a direction in
 * order, the next only once the previous one's result (or Promise) is in, and a message is
 * routed (or sent) only after every message before it: order is kept even when they are async.
 * `incoming` sees messages before anything else does (listeners, turns, handlers, results);
 * `onMessage` sees the wire: incoming before the interceptors, outgoing after them.
 *
 * Dropping (`null`): an outgoing request is not sent and its promise rejects
 * `DROPPED_BY_INTERCEPTOR`; an incoming response rejects its request the same way; an incoming
 * server request is answered with a JSON-RPC error (-32603) and no handler sees it; an outgoing
 * answer to a server request is replaced by such an error answer; a notification is gone.
 * An interceptor that throws, rejects, or returns something that is not an object (or not
 * JSON-able) is reported to `onError` (`INTERCEPTOR_FAILED`) and the message goes on as it was.
 * Keep a request's `id`: changing it loses its answer.
 */
export interface Interceptor {
  outgoing?: (message: JsonRpcMessage) => JsonRpcMessage | null | Promise<JsonRpcMessage | null>
  incoming?: (message: JsonRpcMessage) => JsonRpcMessage | null | Promise<JsonRpcMessage | null>
}

/** One interceptor as main.js hands it over (js/interceptors.js makes both functions). */
export interface InterceptorHooks {
  outgoing?: (batchJson: string) => Promise<string>
  incoming?: (batchJson: string) => Promise<string>
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
  /** A `stream` transport's input, from `_streamOpen` (see `stream.rs`). */
  streamId?: number
  /** A `stream` transport's `writable.write(text)`. */
  streamWrite?: (text: string) => boolean
  /** The `stream` transport's connection ended: end the writable, let go of the readable. */
  streamEnd?: () => void
  /** `SessionOptions.interceptors`, wrapped by js/interceptors.js. */
  interceptors?: Array<InterceptorHooks>
  /** `onRestart`. */
  onRestart?: (event: RestartEvent) => void
}

/** Options of `Session.create`. */
export interface SessionOptions {
  clientInfo?: { name: string; version: string; title?: string }
  /**
   * How to reach the server. `stdio` (default) spawns it and owns it. `command` spawns any
   * program that speaks the protocol on stdio (`docker exec -i <ctr> codex app-server`,
   * `ssh host codex app-server`) and owns it the same way (containment, shutdown, stderr
   * tail, `onExit`); codex's own spawn options (`codexPath`, `args`, `config`, `env`, `cwd`)
   * are refused beside it: use its `args`, `env`, `cwd`. `stream` talks over streams the app
   * already has (a `net.Socket`, a child's stdio, a Duplex): the session owns neither; when
   * it ends it ends `writable` and lets go of `readable`, destroying nothing.
   * `websocket` and `unix` connect to a running `codex app-server --listen ...`: `close()`
   * only disconnects. The token is sent as `Authorization: Bearer` and never appears in
   * errors. A `ws://` URL whose host is not loopback (127.0.0.0/8, ::1, localhost) is refused
   * unless `allowInsecureRemote` is true: ws:// is unencrypted, so the token would cross the
   * network in clear text (`wss://` is not supported).
   */
  transport?: { type: 'stdio' } | { type: 'command'; command: string; args?: string[]; env?: Record<string, string>; cwd?: string } | { type: 'stream'; readable: NodeJS.ReadableStream; writable: NodeJS.WritableStream } | { type: 'websocket'; url: string; token?: string; allowInsecureRemote?: boolean } | { type: 'unix'; path?: string; token?: string }
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
   * Largest message accepted from the server (default 64 MiB). A larger one is reported
   * (`PROTOCOL_ERROR` to `onError`) and skipped without being buffered, on every transport; the
   * session goes on.
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
   * May change or drop each JSON-RPC message, in either direction (see `Interceptor`). Run in
   * array order; each sees the messages of its direction in order, one at a time. No cost
   * when unset.
   */
  interceptors?: Interceptor[]
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
