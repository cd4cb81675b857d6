// Approvals: your code decides what the agent may run and write.
//
// The thread asks before every command (`approvalPolicy: 'untrusted'`) and may not write on
// its own (`sandbox: 'read-only'`), so each command and file change becomes a server request
// that a custom async handler answers. Its rules: read-only commands (list, read, search) are
// fine; anything else is declined; file changes are accepted inside the workspace only.
// The turn's stream shows each pending request (`serverRequest`) and its resolution
// (`serverRequest/resolved`): what a UI needs to show, then dismiss, a prompt.
//
// Offline by default (loopback stand-in); CODEX_NATIVE_LIVE=1 uses your own Codex.

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {
  ApprovalPolicy,
  Session,
  approveCommand,
  approveFileChange,
  declineCommand,
  declineFileChange,
  type FileUpdateChange,
} from 'codex-native'
import { createModelStandIn, reply } from 'codex-native/testing'

const READ_ONLY_ACTIONS = new Set(['read', 'listFiles', 'search'])
/** Stands in for the time a person (or a policy service) takes to answer. */
const think = () => new Promise((resolve) => setTimeout(resolve, 50))

async function main(): Promise<void> {
  const live = process.env.CODEX_NATIVE_LIVE === '1'
  const workspace = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'codex-native-approvals-')))
  const model = live ? null : await createModelStandIn()
  model?.enqueue(
    reply.execCommand('ls -a'),
    reply.execCommand('rm -rf build'),
    reply.applyPatch([{ path: 'NOTES.md', contents: '# Notes\nWritten with approval.' }]),
    reply.text('Listed the files and wrote NOTES.md; I was not allowed to delete build/.'),
  )

  // A file-change request names only its item: the paths are in the `fileChange` item that
  // started just before, so remember those (by item id) from the session's notifications.
  const changesByItem = new Map<string, FileUpdateChange[]>()

  const policy = ApprovalPolicy.custom({
    onCommandExecution: async (params) => {
      await think()
      // `command` is the full shell line (`/bin/bash -lc '...'`); `commandActions` is codex's
      // parse of it, which is what a rule should look at.
      const actions = params.commandActions ?? []
      const shown = actions.map((a) => a.command).join(' && ') || params.command
      const readOnly = actions.length > 0 && actions.every((a) => READ_ONLY_ACTIONS.has(a.type))
      console.log(`  handler: ${readOnly ? 'accept' : 'decline'} \`${shown}\`${readOnly ? ' (read-only)' : ' (may modify)'}`)
      return readOnly ? approveCommand() : declineCommand()
    },
    onFileChange: async (params) => {
      await think()
      const changes = changesByItem.get(params.itemId)
      // Fail closed: unknown changes, or any path outside the workspace, are declined.
      const inside = changes !== undefined && changes.every((c) => path.resolve(workspace, c.path).startsWith(workspace + path.sep))
      const shown = changes?.map((c) => `${c.kind.type} ${path.relative(workspace, c.path)}`).join(', ') ?? '(unknown)'
      console.log(`  handler: ${inside ? 'accept' : 'decline'} ${shown}${inside ? ' (inside the workspace)' : ''}`)
      return inside ? approveFileChange() : declineFileChange()
    },
  })

  const session = await Session.create({ ...(model ? model.sessionOptions() : {}), approvalPolicy: policy })
  try {
    session.onNotification('item/started', ({ params }) => {
      if (params.item.type === 'fileChange') changesByItem.set(params.item.id, params.item.changes)
    })
    const thread = await session.startThread({ cwd: workspace, approvalPolicy: 'untrusted', sandbox: 'read-only' })
    console.log(`workspace: ${workspace}`)
    const turn = await thread.startTurn('List the files here, delete build/, then create NOTES.md saying "Written with approval."')
    for await (const event of turn) {
      if (event.method === 'serverRequest') {
        const request = event.params
        // Discriminated on the request's method, so its params are typed too.
        const what = request.method === 'item/commandExecution/requestApproval' ? ` ${request.params.command ?? ''}` : ''
        console.log(`? request ${request.requestId}: ${request.method}${what}`)
      } else if (event.method === 'serverRequest/resolved') {
        console.log(`  resolved request ${event.params.requestId}`)
      } else if (event.method === 'item/completed') {
        const item = event.params.item
        if (item.type === 'commandExecution') console.log(`  command ${item.status}: ${item.command}`)
        if (item.type === 'fileChange') console.log(`  file change ${item.status}: ${item.changes.map((c) => path.basename(c.path)).join(', ')}`)
      }
    }
    const result = await turn.result()
    console.log(`agent: ${result.text}`)
    console.log(`NOTES.md written: ${fs.existsSync(path.join(workspace, 'NOTES.md'))}`)
  } finally {
    await session.close()
    await model?.close()
    fs.rmSync(workspace, { recursive: true, force: true })
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
