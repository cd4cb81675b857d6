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
