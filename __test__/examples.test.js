'use strict'
// The examples run (offline, against the loopback stand-in), exit 0 by themselves, and print
// what they promise. Their types are checked by `tsc -p __test__` (see tsconfig.json).

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { withMachineLock } = require('./helpers.js')

const ROOT = path.join(__dirname, '..')
const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx')
const TIMEOUT_MS = 60_000

/**
 * Examples that are type-checked only (they need an environment this repo does not have), or
 * driven by a test of their own (repl: through its stdin, __test__/repl.test.js).
 */
const NOT_RUN = new Set(['electron-main', 'repl'])

/** What each runnable example must print (substrings, or patterns). */
const EXPECTED = {
  quickstart: ['agent: Hello from codex-native', 'status: completed'],
  streaming: [
    '[turn/completed: completed]',
    /events: turn\/started, .*item\/agentMessage\/delta x5, .*turn\/completed/,
    'Streams arrive in small pieces.',
    'agent message completed: Callbacks see the same events.',
    /callback saw \d+ events, the last turn\/completed/,
    'run() result: status completed',
  ],
  resume: [
    'session 1 closed',
    /session 2: resumed thread \S+ with 1 earlier turn\(s\)/,
    'session 2 agent: You told me earlier: "Remember this: my favourite colour is teal."',
    'the thread now has 2 turns',
  ],
  'surviving-crashes': [
    'agent: You said: first question',
    'onRestart: attempt 1, exit signal SIGKILL',
    'agent: You said: second question',
    'new pid: true, closed: false',
    'the thread has 2 turns',
    'ephemeral thread: THREAD_LOST',
  ],
  'thread-lifecycle': [
    'list: thread listed = true',
    'read: 2 turns, preview "Plan a trip to Lisbon."',
    'setName: name = "Lisbon trip"',
    'archive: in default list = false, in archived list = true',
    'unarchive: in default list = true',
    'fork: new thread with 3 turns',
    'rollback(1): 1 turn left',
  ],
  approvals: [
    /\? request \S+: item\/commandExecution\/requestApproval .*ls -a/,
    'handler: accept `ls -a` (read-only)',
    'handler: decline `rm -rf build` (may modify)',
    /command completed: .*ls -a/,
    /command declined: .*rm -rf build/,
    /\? request \S+: item\/fileChange\/requestApproval/,
    'handler: accept add NOTES.md (inside the workspace)',
    /resolved request \S+/,
    'file change completed: NOTES.md',
    'NOTES.md written: true',
  ],
  'low-level': [
    /thread\/start -> thread \S+/,
    /server request \S+ \(item\/commandExecution\/requestApproval\): .*echo hello.* -> decline/,
    'turn/completed -> completed',
    'thread/items/list -> userMessage, agentMessage',
    'agent: I was not allowed to run it.',
    /notifications seen: .*turn\/completed x1/,
  ],
  'multi-session': [
    /3 sessions, pids \d+, \d+, \d+/,
    ...[1, 2, 3].flatMap((s) => [1, 2].map((t) => `session ${s} / thread ${t}: completed: answer to "Name a prime number bigger than ${10 * s + t - 1}."`)),
    /6 turns on 3 sessions in \d+ ms/,
  ],
  'dynamic-tools': [
    'tool call: lookup_order {"orderId":"A-1001"}',
    'tool result: order A-1001 is shipped, arriving Thursday',
    'item: dynamicToolCall lookup_order -> completed',
    'agent: Your order is on its way: order A-1001 is shipped, arriving Thursday',
  ],
  'structured-output': [
    'sent to the model: text.format = json_schema (strict: true)',
    'valid: codex-native 0.2.0, breaking: false, highlights: examples; faster streaming',
  ],
  'abort-and-interrupt': [
    '1. signal: status interrupted after the deadline',
    '2. interrupt(): status interrupted',
    '3. result({ timeoutMs: 100 }): REQUEST_TIMEOUT, turn finished: false',
    'result() again: status completed: Worth the wait: this one completes.',
  ],
  'plan-mode': [
    'modes: plan, default',
    'question: Where should the todos be stored? [SQLite (Recommended) | Postgres] -> SQLite (Recommended)',
    'status: completed',
    'agent: Plan: 1. a todos table in SQLite (Recommended).',
  ],
  'sign-in': [
    'signed in before: no',
    /open in a browser: https:\/\/auth\.openai\.com\/\.\.\. \(login \S+\)/,
    'browser login: not signed in (Login server error: Login was not completed)',
    'device login: RPC_ERROR: failed to request device code',
  ],
  'shared-server': [
    'A: turn started, answer streaming',
    'B: joined turn of A',
    /B: streamed from the join: ".+"/,
    'B: result: completed: Shared servers let many clients watch one conversation as it happens.',
    /B: thread events seen: .*item\/agentMessage\/delta x\d+.*turn\/completed x1/,
    'B: turn in progress now: null',
  ],
  goals: [
    /turn started: \S+/,
    'goal: complete',
    'turn 1: completed: Drafted the outline: intro, three sections, summary.',
    'turn 2: completed: Wrote all three sections and the summary. Done.',
    'goal complete after 2 turns, 45 tokens',
    'goal() now: complete; cleared: true; goal() after: null',
  ],
}

/** Examples that start a ChatGPT browser login: codex binds 127.0.0.1:1455 for it (login.test.js too). */
const LOGIN_PORT = new Set(['sign-in'])

function runExample(name) {
  const env = { ...process.env }
  delete env.CODEX_NATIVE_LIVE
  return new Promise((resolve, reject) => {
    const child = spawn(TSX, [path.join('examples', `${name}.ts`)], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`examples/${name}.ts did not exit within ${TIMEOUT_MS} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`))
    }, TIMEOUT_MS)
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

const examples = fs
  .readdirSync(path.join(ROOT, 'examples'))
  .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
  .map((file) => file.slice(0, -'.ts'.length))
  .sort()

test('every example is either run here or listed as type-check only, and has its pnpm script', () => {
  const scripts = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).scripts
  for (const name of examples) {
    if (NOT_RUN.has(name)) continue
    assert.ok(name in EXPECTED, `examples/${name}.ts has no expected output in this test`)
    assert.equal(scripts[`example:${name}`], `tsx examples/${name}.ts`, `package.json lacks "example:${name}"`)
  }
  for (const name of Object.keys(EXPECTED)) assert.ok(examples.includes(name), `examples/${name}.ts is missing`)
})

// Two at a time: each example starts its own codex app-server(s).
test.describe('examples', { concurrency: 2 }, () => {
  for (const name of examples.filter((n) => !NOT_RUN.has(n))) {
    test.it(name, { timeout: TIMEOUT_MS + 5_000 }, async () => {
      const run = () => runExample(name)
      const { code, signal, stdout, stderr } = await (LOGIN_PORT.has(name) ? withMachineLock('login-port-1455', run) : run())
      const context = `\nstdout:\n${stdout}\nstderr:\n${stderr}`
      assert.equal(code, 0, `exit ${code ?? signal}${context}`)
      for (const expected of EXPECTED[name]) {
        if (typeof expected === 'string') assert.ok(stdout.includes(expected), `missing "${expected}"${context}`)
        else assert.match(stdout, expected, context)
      }
    })
  }
})
