// Types for the scripted fake app-server (./fake-app-server.js, format documented in its header)
// and its scenario helpers (./fake-scenario.js; `require('./fake-app-server.js')` returns them too).

/** Limits an action in an `on` list to some calls of that method (1-based call count). */
export interface CallFilter {
  /** Only the n-th call. */
  call?: number
  /** Only these calls. */
  calls?: number[]
  /** Only the first k calls. */
  times?: number
}

export type Action = CallFilter &
  (
    | { do: 'stderr'; text: string }
    /** About `bytes` of numbered stderr lines (`lineBytes` each, default 100), then a `$stderrFlood` log record. */
    | { do: 'stderr'; bytes: number; lineBytes?: number }
    | { do: 'sleep'; ms: number }
    /** Final. Flush stdout, write `stderr` (default "fake: crashing now"), then exit(code=1) or kill self with `signal`. */
    | { do: 'crash'; code?: number; signal?: NodeJS.Signals; stderr?: string }
    /** Final. Flush stdout and exit quietly (code default 0). */
    | { do: 'exit'; code?: number; stderr?: string }
    /** Writes `text` + "\n" verbatim. */
    | { do: 'raw'; text: string }
    /** A line that is not JSON (default `{"method":"broken", `). */
    | { do: 'malformed'; text?: string }
    /** The bytes (base64) + "\n" verbatim: e.g. a line that is not UTF-8. */
    | { do: 'rawBytes'; base64: string }
    /** One line of `bytes` (or `mib`, default 64) bytes + "\n", streamed in `chunkKiB` (1024) chunks. */
    | { do: 'bigLine'; mib?: number; bytes?: number; chunkKiB?: number; valid?: boolean; method?: string }
    | { do: 'send'; frame: Record<string, unknown> }
    | { do: 'notify'; method: string; params?: unknown }
    /** A response to an id nobody asked (default 987654321). */
    | { do: 'strayResponse'; id?: number | string; result?: unknown }
    /** Final. Answers the current request with `result`. */
    | { do: 'respond'; result?: unknown }
    /** Final. Answers the current request with an error (default -32001 "Server overloaded; retry later."). */
    | { do: 'error'; code?: number; message?: string; data?: unknown }
    /** Final. The request is never answered / the turn never completes (until interrupted). */
    | { do: 'hang' }
    /** Flush and close stdout; the process keeps running. */
    | { do: 'closeStdout' }
    /** Sends a server request; with `await` (default true) waits for the client's answer. */
    | { do: 'serverRequest'; method: string; params?: unknown; id?: number | string; await?: boolean }
    /** item/commandExecution/requestApproval (or item/fileChange/requestApproval) for the current turn. */
    | {
        do: 'approval'
        kind?: 'command' | 'fileChange'
        command?: string
        cwd?: string
        reason?: string
        grantRoot?: string
        params?: Record<string, unknown>
        id?: number | string
        await?: boolean
      }
  )

export interface TurnSpec {
  /** The agent message; default `echo: <input text>`. */
  text?: string
  /** Number of nearly equal pieces (default 3) or the pieces themselves. */
  deltas?: number | string[]
  /** Pause before each delta. */
  delayMs?: number
  /** turn/started, item/started and K deltas (or "all" events) before the turn/start response. */
  early?: number | boolean | 'all'
  /** After the deltas, never complete (a turn/interrupt still ends the turn). */
  hang?: boolean
  /** N deltas in big batched writes; stats are reported after. */
  flood?: number
  /** Flood deltas are "<turnId>:<j>;" instead of `deltaText`. */
  indexed?: boolean
  /** Each flood delta (default "x"). */
  deltaText?: string
  /** After the flood's last delta, notify `fake/flood/ended` {threadId, turnId, at: Date.now(), lines}. */
  floodReport?: boolean
  /** The flood starts only once this file exists (polled every 2 ms). */
  floodStartFile?: string
  /** Written (with the count of deltas sent) once the flood's last chunk was accepted. */
  floodEndFile?: string
  status?: 'completed' | 'failed'
  error?: { message?: string; codexErrorInfo?: unknown; additionalDetails?: string | null }
  /** thread/tokenUsage/updated payload; null: not sent. */
  usage?: unknown
  before?: Action[]
  /** Actions after the k-th delta (key "0": before the first delta). */
  at?: Record<string, Action[]>
  end?: Action[]
}

export interface Scenario {
  startup?: Action[]
  on?: Record<string, Action[]>
  turn?: TurnSpec
  /** By turn ordinal (1-based, whole process). */
  turns?: Record<string, TurnSpec>
  turnsByText?: Record<string, TurnSpec>
  /** Hold turn/starts until `size` arrived; answer all; stream interleaved; delta j of turn T = "<T>:<j>;". */
  batch?: { size: number; deltas?: number }
  initialize?: Record<string, unknown>
  ignoreStdinEof?: boolean
  ignoreSigterm?: boolean
  /** Print the stats line on stderr at a clean exit too. */
  stats?: boolean
}

export interface FakeStats {
  pid: number
  framesReceived: number
  linesWritten: number
  floodLines: number
  bytesWritten: number
  writeCalls: number
  drainWaits: number
  blockedMs: number
  maxBlockedMs: number
  writeMs: number
  floodMs: number
  /** Date.now() when the last flood / batch had written its last delta line (0: none yet). */
  floodEndedAt: number
  turnsStarted: number
  elapsedMs: number
}

/** A frame the client sent (request, notification, or answer to a server request). */
export interface ClientFrame {
  id?: number | string
  method?: string
  params?: any
  result?: any
  error?: { code: number; message: string; data?: unknown }
}

export type LogRecord =
  | ClientFrame
  | { $start: { pid: number; argv: string[]; cwd: string } }
  | { $malformed: string }
  | { $eof: true }
  | { $signal: 'SIGTERM' }
  | { $stderrFlood: { bytes: number; lines: number; lastLine: string; ms: number; at: number } }

export declare class FakeServer {
  /** Enumerable: spread the object into Session options. */
  codexPath: string
  env: { CODEX_FAKE_SCENARIO: string; CODEX_FAKE_LOG: string; CODEX_FAKE_STATS: string; [k: string]: string }
  /** Non-enumerable. */
  readonly dir: string
  readonly scenarioPath: string
  readonly logPath: string
  readonly statsPath: string
  readonly scenario: Scenario
  records(): LogRecord[]
  log(): ClientFrame[]
  requests(method?: string): ClientFrame[]
  notifications(method?: string): ClientFrame[]
  answers(id?: number | string): ClientFrame[]
  starts(): { pid: number; argv: string[]; cwd: string }[]
  sawEof(): boolean
  sawSigterm(): boolean
  stats(): FakeStats | null
  setScenario(scenario: Scenario): void
  reset(): void
  cleanup(): void
}

export interface FakeServerOptions {
  /** Directory for scenario.json, log.jsonl and stats.json (default: a fresh temp dir). */
  dir?: string
  /** Extra environment for the fake. */
  env?: Record<string, string>
}

export declare function fakeServer(scenario?: Scenario, options?: FakeServerOptions): FakeServer
export declare function writeScenario(scenario: Scenario, file?: string): string
export declare const FAKE_APP_SERVER_PATH: string

type Of<K extends Action['do']> = Extract<Action, { do: K }>
type Opts<K extends Action['do'], Omitted extends string = never> = Omit<Of<K>, 'do' | Omitted>

export declare const act: {
  stderr(text: string, filter?: CallFilter): Action
  stderrFlood(bytes: number, opts?: CallFilter & { lineBytes?: number }): Action
  sleep(ms: number, filter?: CallFilter): Action
  crash(opts?: Opts<'crash'>): Action
  exit(code?: number, opts?: Opts<'exit', 'code'>): Action
  raw(text: string, filter?: CallFilter): Action
  malformed(text?: string, filter?: CallFilter): Action
  rawBytes(bytes: Uint8Array | readonly number[], filter?: CallFilter): Action
  bigLine(mib?: number, opts?: Opts<'bigLine', 'mib'>): Action
  send(frame: Record<string, unknown>, filter?: CallFilter): Action
  notify(method: string, params?: unknown, filter?: CallFilter): Action
  strayResponse(id?: number | string, result?: unknown, filter?: CallFilter): Action
  respond(result?: unknown, filter?: CallFilter): Action
  error(code?: number, message?: string, opts?: Opts<'error', 'code' | 'message'>): Action
  /** Error -32001 for the first `times` calls (default 1), then the built-in handling. */
  overloaded(times?: number): Action
  hang(filter?: CallFilter): Action
  closeStdout(filter?: CallFilter): Action
  serverRequest(method: string, params?: unknown, opts?: Opts<'serverRequest', 'method' | 'params'>): Action
  approval(opts?: Opts<'approval'>): Action
}
