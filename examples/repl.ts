// A REPL: type a message, watch the answer stream in; approve or decline each command and file
// change with y/n. Commands:
//
//   /interrupt      stop the answer being streamed
//   /new            start a new thread
//   /resume <id>    continue a stored thread (the id is printed when a thread starts)
//   /quit           close the session and exit (Ctrl-D too)
//
//   tsx examples/repl.ts [workdir]      (workdir: where codex works; default: the current directory)
//
// Offline by default: a loopback stand-in plays the model and echoes what you type.
// CODEX_NATIVE_LIVE=1 uses your own Codex login. CODEX_NATIVE_REPL_OPTIONS (JSON) gives the
// Session options instead (the test passes its own stand-in's this way).

import readline from 'node:readline'
import path from 'node:path'
import {
  ApprovalPolicy,
  Session,
  approveCommand,
  approveFileChange,
  declineCommand,
  declineFileChange,
  type SessionOptions,
  type Thread,
  type Turn,
} from 'codex-native'
import { createModelStandIn, reply } from 'codex-native/testing'

const workdir = path.resolve(process.argv[2] ?? '.')

/** The approval question waiting for its y/n line, if any. */
let pendingAnswer: ((line: string) => void) | null = null

/** Asks a y/n question on the next input line; false (decline) if `signal` aborts first. */
function confirm(question: string, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const answer = (line: string) => {
      const yes = /^y(es)?$/i.test(line)
      console.log(yes ? '(approved)' : '(declined)')
      resolve(yes)
    }
    // The request stopped being pending (the turn was interrupted, or it ended): no answer.
    signal.addEventListener('abort', () => {
      if (pendingAnswer === answer) pendingAnswer = null
      resolve(false)
    })
    pendingAnswer = answer
    process.stdout.write(`\n${question} (y/n) `)
  })
}

const policy = ApprovalPolicy.custom({
  onCommandExecution: async (params, { signal }) =>
    (await confirm(`run \`${params.command}\`?`, signal)) ? approveCommand() : declineCommand(),
  onFileChange: async (params, { signal }) =>
    (await confirm(`apply the file change of ${params.itemId}${params.reason ? ` (${params.reason})` : ''}?`, signal))
      ? approveFileChange()
      : declineFileChange(),
})

async function sessionOptions(): Promise<{ options: SessionOptions; close: () => Promise<void> }> {
  const base = { approvalPolicy: policy, onError: (err: unknown) => console.error(`[error] ${err instanceof Error ? err.message : String(err)}`) }
  if (process.env.CODEX_NATIVE_REPL_OPTIONS) {
    return { options: { ...JSON.parse(process.env.CODEX_NATIVE_REPL_OPTIONS), ...base }, close: async () => {} }
  }
  if (process.env.CODEX_NATIVE_LIVE === '1') return { options: base, close: async () => {} }
  const model = await createModelStandIn()
  model.respondWith((req) => reply.text(`You said: ${req.lastUserText ?? ''}`, { chunks: 6, delayMs: 30 }))
  return { options: model.sessionOptions(base), close: () => model.close() }
}

async function main(): Promise<void> {
  const { options, close: closeModel } = await sessionOptions()
  const session = await Session.create(options)
  // Every command asks first (`untrusted`); approved ones may write inside the workdir only.
  const threadParams = { cwd: workdir, approvalPolicy: 'untrusted', sandbox: 'workspace-write' } as const
  let thread: Thread = await session.startThread(threadParams)
  let running: Turn | null = null
  console.log(`codex-native REPL: codex pid ${session.pid}, working in ${workdir}`)
  console.log(`thread ${thread.id}`)
  console.log('type a message; /interrupt, /new, /resume <id>, /quit')
  // Created only now: stdin is not read (and no line lost) while the session starts.
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout, prompt: '> ' })
  /** Lines being handled: the end of piped input waits for them (an answer is not cut off). */
  const inFlight = new Set<Promise<void>>()

  let quitting: Promise<void> | null = null
  const quit = () =>
    (quitting ??= (async () => {
      await session.close()
      await closeModel()
      rl.close()
      console.log('bye')
    })())

  async function ask(text: string): Promise<void> {
    const turn = await thread.startTurn(text)
    running = turn
    try {
      for await (const delta of turn.textStream()) process.stdout.write(delta)
      const result = await turn.result()
      console.log(`\n[${result.status}]`)
    } finally {
      running = null
    }
  }

  async function handle(line: string): Promise<void> {
    const [command, ...rest] = line.split(/\s+/)
    if (command === '/quit') return quit()
    if (command === '/interrupt') {
      if (running) await running.interrupt()
      else console.log('nothing to interrupt')
      return
    }
    if (command === '/new') {
      thread = await session.startThread(threadParams)
      console.log(`thread ${thread.id}`)
    } else if (command === '/resume') {
      if (!rest[0]) return void console.log('usage: /resume <thread id>')
      thread = await session.resumeThread(rest[0], threadParams)
      const { thread: stored } = await thread.read({ includeTurns: true })
      console.log(`resumed thread ${thread.id} (${stored.turns.length} turns)`)
    } else if (command.startsWith('/')) {
      console.log(`unknown command ${command}`)
    } else {
      await ask(line)
    }
  }

  /** Messages, /new and /resume run one after another (typed ahead, they wait their turn). */
  let queue: Promise<void> = Promise.resolve()
  const track = (work: Promise<void>) => {
    const handled = work
      .catch((err) => {
        if (!quitting) console.log(`[${err.code ?? 'error'}] ${err.message}`)
      })
      .finally(() => {
        inFlight.delete(handled)
        if (!quitting && inFlight.size === 0 && !pendingAnswer) rl.prompt()
      })
    inFlight.add(handled)
  }
  rl.on('line', (input) => {
    const line = input.trim()
    // A y/n line answers the pending approval; commands (/...) never do.
    if (pendingAnswer && !line.startsWith('/')) {
      const answer = pendingAnswer
      pendingAnswer = null
      return answer(line)
    }
    if (!line) return rl.prompt()
    // /interrupt and /quit act at once, on what is running now.
    if (line === '/interrupt' || line === '/quit') return track(handle(line))
    const next = queue.then(() => handle(line))
    queue = next.catch(() => {})
    track(next)
  })
  rl.prompt()
  // Ctrl-D, or the end of piped input (or /quit, which closes rl itself).
  await new Promise<void>((resolve) => rl.once('close', resolve))
  pendingAnswer?.('n') // no more input: an approval still asked is declined (fail closed)
  await Promise.allSettled(inFlight)
  await quit()
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
