'use strict'
// @ts-check
// The `stream` transport's JavaScript half (src/stream.rs has the other): the app's Node
// streams wired to the native `StreamInput`. The session owns neither stream: when its
// connection ends (close(), the peer gone, a failed start) it ends the writable (the peer sees
// EOF, as a spawned server sees stdin EOF) and removes its listeners; it destroys nothing.

const { invalidArgument } = require('./errors.js')

/** @param {any} s */
const isReadable = (s) => s !== null && typeof s === 'object' && typeof s.on === 'function' && typeof s.off === 'function' && typeof s.read === 'function'
/** @param {any} s */
const isWritable = (s) => s !== null && typeof s === 'object' && typeof s.on === 'function' && typeof s.write === 'function' && typeof s.end === 'function'

/**
 * Checks `transport.readable`/`writable`, attaches them to a new native input; returns the
 * hooks `Session.create` takes, the transport as the core validates it (the streams
 * taken out) and `detach` for a start that fails before the native side took over.
 * @param {Record<string, any>} transport
 * @param {typeof import('../index.js')} native
 */
function streamTransport(transport, native) {
  const { readable, writable, ...rest } = transport
  if (!isReadable(readable)) {
    throw invalidArgument('transport.readable', 'must be a readable stream (a net.Socket, a child process\'s stdout, a Duplex)')
  }
  if (!isWritable(writable)) {
    throw invalidArgument('transport.writable', 'must be a writable stream (a net.Socket, a child process\'s stdin, a Duplex)')
  }
  if (readable.destroyed || readable.readableEnded) throw invalidArgument('transport.readable', 'has already ended')
  if (writable.destroyed || writable.writableEnded) throw invalidArgument('transport.writable', 'has already ended')
  const id = native._streamOpen()
  /** @param {Buffer | string} chunk */
  const onData = (chunk) => native._streamPush(id, typeof chunk === 'string' ? Buffer.from(chunk) : chunk)
  const onEnd = () => native._streamEnd(id, null)
  /** @param {unknown} err */
  const onError = (err) => native._streamEnd(id, `the readable stream failed: ${err instanceof Error ? err.message : String(err)}`)
  // After 'end' this changes nothing (the input has ended); alone, it is a stream destroyed.
  const onClose = () => native._streamEnd(id, 'the readable stream was closed')
  const onDrain = () => native._streamDrained(id, false)
  const onGone = () => native._streamDrained(id, true)
  let attached = true
  const detach = () => {
    if (!attached) return
    attached = false
    readable.off('data', onData)
    readable.off('end', onEnd)
    readable.off('error', onError)
    readable.off('close', onClose)
    writable.off('drain', onDrain)
    writable.off('close', onGone)
    writable.off('error', onGone)
    native._streamRelease(id)
  }
  readable.on('data', onData)
  readable.on('end', onEnd)
  readable.on('error', onError)
  readable.on('close', onClose)
  writable.on('drain', onDrain)
  writable.on('close', onGone)
  writable.on('error', onGone)
  const hooks = {
    /** @param {string} text */
    streamWrite: (text) => {
      if (writable.destroyed || writable.writableEnded) throw new Error('the writable stream has ended')
      return writable.write(text)
    },
    streamEnd: () => {
      detach()
      if (!writable.destroyed && !writable.writableEnded) writable.end()
    },
  }
  return { hooks: { ...hooks, streamId: id }, transport: rest, detach }
}

module.exports = { streamTransport }
