// Generated from codex 0.169.0 by scripts/generate.mjs. Do not edit.
// From the PUBLIC_METHODS table there and the pinned schema's ClientRequest.
// The declarations of js/generated/methods.js; index.d.ts (js/header.d.ts) merges them into
// the Session and Thread classes.
import type {
  ConfigReadParams,
  ConfigReadResponse,
  Experimental,
  GetAccountParams,
  GetAccountRateLimitsResponse,
  GetAccountResponse,
  LoginAccountResponse,
  ModelListParams,
  ModelListResponse,
  ThreadListParams,
  ThreadListResponse,
  ThreadReadResponse,
} from '../../protocol/index.js'

/** Session's pass-through protocol methods (js/passthrough.js). */
export interface SessionMethods {
  /** `thread/read`; with `includeTurns` the thread's turns and items too. */
  readThread(threadId: string, options?: { includeTurns?: boolean }): Promise<ThreadReadResponse>
  /** `thread/list`: stored threads (archived ones with `archived: true`). */
  listThreads(params?: ThreadListParams): Promise<ThreadListResponse>
  /** `thread/archive`. */
  archiveThread(threadId: string): Promise<void>
  /** `model/list`. */
  listModels(params?: ModelListParams): Promise<ModelListResponse>
  /** `account/read`. */
  readAccount(params?: GetAccountParams): Promise<GetAccountResponse>
  /** `account/login/start` with an API key. */
  loginWithApiKey(apiKey: string): Promise<LoginAccountResponse>
  /** `account/logout`. */
  logout(): Promise<void>
  /** `account/rateLimits/read`. */
  readRateLimits(): Promise<GetAccountRateLimitsResponse>
  /** `config/read`: the effective configuration. */
  readConfig(params?: ConfigReadParams): Promise<ConfigReadResponse>
  /** `collaborationMode/list` (experimental: needs `experimentalApi: true`): the mode presets, e.g. `plan` and `default`. */
  listCollaborationModes(): Promise<Experimental.CollaborationModeListResponse>
}

/** Thread's pass-through protocol methods (js/passthrough.js). */
export interface ThreadMethods {
  /** `thread/read` of this thread. */
  read(options?: { includeTurns?: boolean }): Promise<ThreadReadResponse>
  /** `thread/archive`. */
  archive(): Promise<void>
  /** `thread/name/set`. */
  setName(name: string): Promise<void>
  /** Starts compacting the thread's history (`thread/compact/start`). */
  compact(): Promise<void>
  /** Stops this connection receiving the thread's events (`thread/unsubscribe`). */
  unsubscribe(): Promise<void>
}
