// A transport for the baseline client (baseline-client.mjs) that spawns the server on a worker
// thread: the worker's event loop reads the server's stdout and posts each chunk to the thread
// that made the client, which splits, parses and routes as the baseline does. It is the
// pure-Node form of what codex-native does natively (a reader thread, then a hand-off to the
// JavaScript thread), so the latency bench can show what the hand-off itself costs on this
// machine, apart from any codex-native code. Not a client anyone should use.
import { Worker } from 'node:worker_threads'

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const { spawn } = require('node:child_process')
const { command, args, cwd, env } = workerData
const child = spawn(command, args, { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] })
child.stdout.on('data', (chunk) => parentPort.postMessage({ stdout: chunk }))
child.stderr.setEncoding('utf8')
child.stderr.on('data', (text) => parentPort.postMessage({ stderr: text }))
child.once('exit', (code, signal) => parentPort.postMessage({ exit: [code, signal] }))
child.stdin.on('error', () => {})
parentPort.on('message', (m) => {
  if (m.write !== undefined) child.stdin.write(m.write)
  else if (m.end) child.stdin.end()
  else if (m.kill) child.kill('SIGKILL')
})
`

/** Same shape as baseline-client.mjs's spawnOnThisThread. */
export function spawnOnWorkerThread(command, args, { cwd, env }, on) {
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { command, args, cwd, env } })
  worker.on('message', (m) => {
    if (m.stdout !== undefined) on.stdout(Buffer.from(m.stdout.buffer, m.stdout.byteOffset, m.stdout.byteLength))
    else if (m.stderr !== undefined) on.stderr(m.stderr)
    else if (m.exit !== undefined) {
      on.exit(...m.exit)
      worker.terminate()
    }
  })
  worker.on('error', (err) => on.exit(null, String(err)))
  return {
    write: (text) => worker.postMessage({ write: text }),
    end: () => worker.postMessage({ end: true }),
    kill: () => worker.postMessage({ kill: true }),
  }
}
