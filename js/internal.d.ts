// The native methods main.js and js/*.js use that the public declarations leave out
// (`skip_typescript` in src/), for the checkJs type-check of the JavaScript layer (js/tsconfig.json).
import type { CodexError, PolicyDescriptor, SessionHooks, TurnResult } from '../index.js'

declare module '../index.js' {
  /** The `stream` transport's input, by id (src/stream.rs). */
  function _streamOpen(): number
  function _streamPush(id: number, chunk: Uint8Array): void
  function _streamEnd(id: number, error: string | null): void
  function _streamDrained(id: number, gone: boolean): void
  function _streamRelease(id: number): void
  namespace Session {
    function _abortStart(id: number): void
  }
  interface Session {
    _request(method: string, params: unknown, timeoutMs?: number): Promise<unknown>
    _exec(command: string[], params?: object): Promise<any>
    _closedError(): CodexError | null
    _setNotificationSink(sink: ((batchJson: string) => void) | null, onEnd?: ((error?: CodexError) => void) | null): void
    _setThreadPolicy(threadId: string, policy: PolicyDescriptor | null): void
    _setOverride(method: string, key: string | null): void
    _stats(): { liveTurns: number; listeners: number; pendingRequests: number; pendingServerRequests: number; threadSubscribers: number }
  }
  interface Thread {
    _startTurn(input: unknown, params: object, onEvent: ((batchJson: string) => void) | null, inactivityTimeoutMs?: number): Promise<Turn>
    _events(): ThreadEvents
    _onEvent(onBatch: (batchJson: string) => void, onEnd?: ((error?: CodexError) => void) | null): number
    _offEvent(key: number): boolean
    _currentTurn(): Promise<Turn | null>
    _setGoal(params: object): Promise<any>
    _goal(): Promise<any>
    _clearGoal(): Promise<any>
  }
  interface ThreadEvents {
    _pullBatch(wake: (id: number) => void): string | null | number
    _close(): void
  }
  interface Turn {
    /** A batch (JSON text), `null` at the end, or a waiter id to wait on. */
    _pullBatch(wake: (id: number) => void): string | null | number
    _pullText(wake: (id: number) => void): string | null | number
    _discardEvents(): void
    /** 0: the whole result; 1, 2: without what JavaScript holds (src/turn.rs). */
    _result(timeoutMs: number | undefined, crossed: 0 | 1 | 2): Promise<any>
  }
}

export type { SessionHooks, TurnResult }
