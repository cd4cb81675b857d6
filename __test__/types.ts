// Type test, checked by `tsc -p __test__` in `pnpm test`: correct calls compile, and each
// `@ts-expect-error` line must be an error (tsc fails if one is not).

import { ApprovalPolicy, Session, type CodexError, type SessionOptions, type ServerNotification, type ThreadItem, type TurnEvent, type TurnResult } from 'codex-native'

export async function typed(session: Session): Promise<void> {
  const list = await session.request('thread/list', { limit: 10 })
  const firstId: string | undefined = list.data[0]?.id
  const read = await session.request('thread/read', { threadId: firstId ?? '', includeTurns: true })
  const turns = read.thread.turns.length
  void turns

  // @ts-expect-error: not a method of the protocol
  await session.request('thread/lst', {})
  // @ts-expect-error: `limit` is a number
  await session.request('thread/list', { limit: 'ten' })
  // @ts-expect-error: `threadId` is required
  await session.request('thread/read', { includeTurns: true })

  session.onNotification('turn/completed', (n) => {
    const status: 'completed' | 'interrupted' | 'failed' | 'inProgress' = n.params.turn.status
    void status
  })
  session.onNotification('*', (n: ServerNotification) => void n.method)
  // @ts-expect-error: not a notification method
  session.onNotification('turn/finished', () => {})
  const delta = await session.waitForNotification('item/agentMessage/delta', { predicate: (p) => p.delta.length > 0 })
  const text: string = delta.delta
  void text

  const thread = await session.startThread({ model: 'x', ephemeral: true })
  const turn = await thread.startTurn('hello', { effort: 'low', onEvent: (e: TurnEvent) => void e })
  for await (const event of turn) {
    if (event.method === 'item/agentMessage/delta') {
      const d: string = event.params.delta
      void d
    }
    if (event.method === 'item/completed') {
      const item: ThreadItem = event.params.item
      if (item.type === 'agentMessage') void item.text
    }
  }
  const result: TurnResult = await turn.result({ timeoutMs: 1000 })
  const items: ThreadItem[] = result.items
  void items
  // items(): typed ThreadItems, narrowed by `type`.
  for await (const item of turn.items()) {
    if (item.type === 'commandExecution') void item.command.length
    // @ts-expect-error: a ThreadItem is not an event
    void item.params
  }
  // @ts-expect-error: `status` is not a free string
  const bad: TurnResult = { ...result, status: 'done' }
  void bad
  // @ts-expect-error: input is a string or UserInput items
  await thread.startTurn(42)

  try {
    await thread.ask('x')
  } catch (err) {
    const e = err as CodexError
    if (e.code === 'RPC_ERROR') void e.rpcCode
  }
  await using disposable = await Session.create({ requestTimeoutMs: 5000 })
  void disposable
}

// The option objects (generated from src/options.rs): unknown or mistyped options do not compile.
export async function options(session: Session): Promise<void> {
  const full: SessionOptions = {
    transport: { type: 'websocket', url: 'ws://127.0.0.1:1', token: 't' },
    overloadRetry: { maxAttempts: 2 },
    signal: AbortSignal.timeout(1000),
    onNotification: (n) => void n.method,
    onExit: (exit) => void exit.code,
  }
  void full
  // @ts-expect-error: not a session option
  await Session.create({ requestTimeoutMS: 5000 })
  // @ts-expect-error: a number of milliseconds
  await Session.create({ requestTimeoutMs: '5s' })
  // @ts-expect-error: not a transport of the websocket type
  await Session.create({ transport: { type: 'websocket', path: '/tmp/s' } })
  await Session.create({ transport: { type: 'command', command: 'ssh', args: ['host', 'codex', 'app-server'], env: { A: '1' } } })
  const socket = new (await import('node:net')).Socket()
  await Session.create({ transport: { type: 'stream', readable: socket, writable: socket } })
  // @ts-expect-error: a command transport needs its command
  await Session.create({ transport: { type: 'command', args: ['x'] } })
  // @ts-expect-error: a stream transport needs both streams
  await Session.create({ transport: { type: 'stream', readable: socket } })
  // @ts-expect-error: not a session option (the callbacks are onNotification, onError, ...)
  await Session.create({ onNotifcation: () => {} })
  // Interceptors: sync or async, the message or null.
  await Session.create({
    interceptors: [
      {
        outgoing: (msg) => {
          if (msg.method === 'turn/start') msg.params.model ??= 'gpt-5.1-codex'
          return msg
        },
      },
      { incoming: async (msg) => (msg.method === 'item/agentMessage/delta' ? null : msg) },
    ],
  })
  // @ts-expect-error: an interceptor returns the message (or null), not a boolean
  await Session.create({ interceptors: [{ incoming: () => true }] })
  // @ts-expect-error: the directions are outgoing and incoming
  await Session.create({ interceptors: [{ inbound: (msg: unknown) => msg }] })

  const thread = await session.startThread({}, { approvalPolicy: ApprovalPolicy.autoAccept() })
  // @ts-expect-error: not a thread option
  await session.startThread({}, { policy: ApprovalPolicy.autoAccept() })
  const owner: Session = thread.session
  void owner
  const turn = await thread.startTurn('x', { effort: 'low', inactivityTimeoutMs: 5, signal: AbortSignal.timeout(5) })
  // @ts-expect-error: not a turn option (onEvent)
  await thread.startTurn('x', { onEvnt: () => {} })
  // @ts-expect-error: not a result option
  await turn.result({ timeout: 5 })
  await turn.result({ timeoutMs: 5 })
  await thread.read({ includeTurns: true })
  // @ts-expect-error: includeTurns is a boolean
  await thread.read({ includeTurns: 'yes' })
  // @ts-expect-error: not a request option
  await session.request('thread/list', {}, { timeout: 5 })
  await session.waitForNotification('turn/completed', { timeoutMs: 5, predicate: (p) => p.turn.status === 'completed' })
  // @ts-expect-error: not a waitForNotification option
  await session.waitForNotification('turn/completed', { timeout: 5 })
}

// The testing kit's options merge with every SessionOptions key (README's own example).
export async function standIn(): Promise<void> {
  const { createModelStandIn } = await import('codex-native/testing')
  const { ApprovalPolicy } = await import('codex-native')
  const model = await createModelStandIn()
  const options = model.sessionOptions({ approvalPolicy: ApprovalPolicy.autoAccept(), handlerTimeoutMs: 5 })
  const home: string = options.env.CODEX_HOME
  void home
  // @ts-expect-error: not a session option
  model.sessionOptions({ approvalPolicyy: 1 })
  await (await Session.create(options)).close()
}
