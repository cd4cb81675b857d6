// Signing in with ChatGPT, in a browser or by device code.
//
// `session.loginWithChatGpt()` answers at once with the URL to open; codex listens for the
// browser's redirect on 127.0.0.1:1455, and `completed` settles when the login ends
// (`success: true`, or `false` with `error`: failed, cancelled). `cancel()` stops it.
// `session.loginWithDeviceCode()` is for machines without a browser: show `verificationUrl` and
// `userCode`, the user signs in on any device. Errors of the auth service (none reachable,
// say) are RPC_ERROR with codex's message.
//
// Offline by default: the browser login is started and then cancelled (nobody will sign in),
// and codex's HTTPS goes to a proxy that is not there, so the device-code request fails as it
// would without a network. CODEX_NATIVE_LIVE=1 signs in for real (and changes your login).

import net from 'node:net'
import { Session, type CodexError } from 'codex-native'
import { createModelStandIn } from 'codex-native/testing'

/** A loopback address where nothing listens (a port bound, then released). */
async function nowhere(): Promise<string> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return `http://127.0.0.1:${port}`
}

async function main(): Promise<void> {
  const live = process.env.CODEX_NATIVE_LIVE === '1'
  const model = live ? null : await createModelStandIn()
  const proxy = live ? null : await nowhere()
  const session = await Session.create(model ? model.sessionOptions({ env: { HTTPS_PROXY: proxy!, https_proxy: proxy! } }) : {})
  try {
    const { account } = await session.readAccount()
    console.log(`signed in before: ${account ? account.type : 'no'}`)

    // 1. In a browser.
    const login = await session.loginWithChatGpt()
    console.log(`open in a browser: ${new URL(login.authUrl).origin}/... (login ${login.loginId})`)
    if (!live) await login.cancel() // Nobody will sign in here.
    const done = await login.completed
    console.log(done.success ? 'browser login: signed in' : `browser login: not signed in (${done.error})`)

    // 2. By device code.
    try {
      const device = await session.loginWithDeviceCode()
      console.log(`on any device, open ${device.verificationUrl} and enter ${device.userCode}`)
      const result = await device.completed
      console.log(result.success ? 'device login: signed in' : `device login: not signed in (${result.error})`)
    } catch (err) {
      const e = err as CodexError
      console.log(`device login: ${e.code}: ${e.rpcMessage ?? e.message}`)
    }
  } finally {
    await session.close()
    await model?.close()
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
