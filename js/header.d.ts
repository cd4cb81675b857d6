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
