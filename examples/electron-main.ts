// Electron main process: codex-native runs here (it is a native addon, and it spawns codex);
// the renderer gets turn events over IPC and sends back prompts and approval decisions.
//
// Not run by `pnpm test` (Electron is not installed here); it is type-checked against the
// few Electron types declared in ./electron-types.d.ts. Channels, for the preload script:
//
//   invoke('codex:send', threadId | null, text) -> { threadId, turnId }  starts a turn
//   invoke('codex:interrupt', threadId)                                   stops the running turn
//   invoke('codex:approve', requestId, allow)                             answers a prompt
//   on('codex:event', (threadId, event: TurnEvent))                       every turn event
//
// Approval prompts need no channel of their own: the turn's stream already carries the
// pending request (`serverRequest`, with its requestId) and its end (`serverRequest/resolved`),
// so the renderer shows the prompt on one and dismisses it on the other.
//
// Offline by default (loopback stand-in, to try the UI without an account);
// CODEX_NATIVE_LIVE=1 uses your own Codex.

import path from 'node:path'
import { app, BrowserWindow, ipcMain } from 'electron'
import {
  ApprovalPolicy,
  Session,
  approveCommand,
  approveFileChange,
  declineCommand,
  declineFileChange,
  type HandlerContext,
  type RequestId,
  type Thread,
  type Turn,
} from 'codex-native'
import { createModelStandIn, reply, type ModelStandIn } from 'codex-native/testing'

let model: ModelStandIn | null = null
let session: Session | null = null
let window: BrowserWindow | null = null
const threads = new Map<string, Thread>()
const runningTurns = new Map<string, Turn>() // by thread id
const waitingForUser = new Map<string, (allow: boolean) => void>() // by request id

/** Sends to the renderer unless the window is gone (events can outlive it). */
function toRenderer(channel: string, ...args: unknown[]): void {
  const contents = window?.webContents
  if (contents && !contents.isDestroyed()) contents.send(channel, ...args)
}

/**
 * Waits for the user's answer to this request. If the request stops being pending first
 * (turn interrupted, session closed), `signal` aborts and the answer no longer matters.
 */
function userAllows({ requestId, signal }: HandlerContext): Promise<boolean> {
  const key = String(requestId)
  return new Promise<boolean>((resolve) => {
    waitingForUser.set(key, resolve)
    signal.addEventListener('abort', () => resolve(false), { once: true })
  }).finally(() => waitingForUser.delete(key))
}

// Every command and file change goes to the user; nothing is decided silently.
const askTheUser = ApprovalPolicy.custom({
  onCommandExecution: async (_params, context) => ((await userAllows(context)) ? approveCommand() : declineCommand()),
  onFileChange: async (_params, context) => ((await userAllows(context)) ? approveFileChange() : declineFileChange()),
})

async function start(): Promise<void> {
  if (process.env.CODEX_NATIVE_LIVE !== '1') {
    model = await createModelStandIn()
    model.respondWith((request) => reply.text(`(stand-in) you said: ${request.lastUserText}`, { chunks: 8, delayMs: 30 }))
  }
  session = await Session.create({
    ...(model ? model.sessionOptions() : {}),
    clientInfo: { name: 'my-electron-app', title: 'My Electron App', version: app.getVersion() },
    approvalPolicy: askTheUser,
    // Listener errors must not go unnoticed in a GUI app: log them where you can see them.
    onError: (err) => console.error('codex-native:', err),
  })

  ipcMain.handle('codex:send', async (_event, threadId: string | null, text: string) => {
    if (!session) throw new Error('codex is not running')
    let thread = threadId ? threads.get(threadId) : undefined
    if (!thread) {
      thread = threadId ? await session.resumeThread(threadId) : await session.startThread()
      threads.set(thread.id, thread)
    }
    const id = thread.id
    // onEvent pushes each event as it comes; events are plain JSON, so they cross IPC as is.
    const turn = await thread.startTurn(text, { onEvent: (event) => toRenderer('codex:event', id, event) })
    runningTurns.set(id, turn)
    // The renderer learns the outcome from turn/completed; here we only forget the turn.
    turn.result().then(
      () => runningTurns.delete(id),
      () => runningTurns.delete(id),
    )
    return { threadId: id, turnId: turn.id }
  })

  ipcMain.handle('codex:interrupt', async (_event, threadId: string) => {
    await runningTurns.get(threadId)?.interrupt()
  })

  ipcMain.handle('codex:approve', (_event, requestId: RequestId, allow: boolean) => {
    waitingForUser.get(String(requestId))?.(allow)
  })

  window = new BrowserWindow({
    width: 900,
    height: 700,
    webPreferences: { preload: path.join(__dirname, 'preload.js'), contextIsolation: true },
  })
  await window.loadFile(path.join(__dirname, 'index.html'))
}

app.whenReady().then(start, (err: unknown) => {
  console.error(err)
  app.quit()
})

app.on('window-all-closed', () => app.quit())

// Close the session before quitting: pending turns settle and codex exits cleanly. (Were the
// app killed instead, codex would still die with it.)
app.on('will-quit', (event) => {
  if (!session || session.closed) return
  event.preventDefault()
  const closing = session
  session = null
  void closing
    .close()
    .then(() => model?.close())
    .finally(() => app.quit())
})
