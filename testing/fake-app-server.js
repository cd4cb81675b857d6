#!/usr/bin/env node
// @ts-check
'use strict'

// A scripted stand-in for `codex app-server`, for tests of codex-native that need the server to
// misbehave on cue (crash, hang, flood, malformed frames, early events, server requests, ...).
//
//   Session.create({ codexPath: '<this file>', env: { CODEX_FAKE_SCENARIO: '<scenario.json>' } })
//
// The client runs `<this file> app-server [-c key=value ...]` and speaks newline-delimited
// JSON-RPC on stdin/stdout. `require()`d instead of run, this file exports the scenario helpers
// of ./fake-scenario.js (fakeServer(), act.*).
//
// Environment
//   CODEX_FAKE_SCENARIO  path of the scenario JSON (absent: baseline behaviour only)
//   CODEX_FAKE_LOG       path; every frame received from the client is appended as one JSON line,
//                        plus bookkeeping records whose only key starts with `$`:
//                        {"$start":{pid,argv,cwd}}, {"$malformed":"<line>"}, {"$eof":true},
//                        {"$signal":"SIGTERM"}
//   CODEX_FAKE_STATS     path; the stats JSON ({"fakeStats":{...}}) is written there after every
//                        flood / batch and at a clean exit
//
// Baseline (no scenario): initialize, thread/start|resume|fork|read|list|archive|unarchive|
// name/set|unsubscribe, model/list, turn/start (reply "echo: <input text>" in 3 deltas),
// turn/interrupt, turn/steer. Other methods: error -32601. Exit 0 on stdin EOF and on SIGTERM.
//
// Scenario format (JSON; every key optional)
// {
//   "startup": [Action...],                  run at process start
//   "on": { "<method>": [Action...] },       run when the client sends <method> (request or
//                                            notification), before the built-in handling
//   "turn":  TurnSpec,                       defaults for every turn
//   "turns": { "<n>": TurnSpec },            overrides for the n-th turn started (1-based, over
//                                            the whole process; a turn/start answered by an `on`
//                                            action does not count)
//   "turnsByText": { "<input text>": TurnSpec },  overrides chosen by the turn's input text
//   "batch": { "size": K, "deltas": D },     hold turn/start requests until K have arrived, answer
//                                            them all, then stream all K turns interleaved
//                                            round-robin; delta j of turn T is "<T>:<j>;" (j from 0)
//   "initialize": { ...fields merged into the initialize result },
//   "ignoreStdinEof": false,                 keep running after stdin EOF
//   "ignoreSigterm": false,                  ignore SIGTERM (the client must SIGKILL)
//   "stats": false                           also print the stats line on stderr at a clean exit
// }
//
// TurnSpec (later sources override earlier: built-in < "turn" < "turns"[n] < "turnsByText"[text])
// {
//   "text": "echo: <input>",   the agent message
//   "deltas": 3 | ["a","b"],   number of (nearly equal) pieces, or the pieces themselves
//   "delayMs": 0,              pause before each delta (slow stream, to interrupt)
//   "early": false | K | "all" send turn/started, item/started and K deltas (or everything, up
//                              to and including turn/completed) BEFORE the turn/start response
//   "hang": false,             after the deltas, never complete (until turn/interrupt)
//   "flood": N,                instead of text/deltas: N deltas written in big batched chunks,
//                              respecting backpressure; each delta is "deltaText" (default "x"),
//                              or "<turnId>:<j>;" with "indexed": true; stats are reported after
//   "floodReport": false,      after the flood's last delta, notify fake/flood/ended
//                              {threadId, turnId, at: Date.now(), lines}
//   "floodStartFile": PATH,    start the flood only once PATH exists (polled every 2 ms)
//   "floodEndFile": PATH,      write PATH once the flood's last chunk was accepted
//   "status": "completed" | "failed",  with "error": {message, ...} for a failed turn
//   "usage": ThreadTokenUsage, the thread/tokenUsage/updated payload (null: not sent)
//   "before": [Action...],     after receiving turn/start, before anything is sent
//   "at": { "<k>": [Action...] }  after the k-th delta (k = 0: after item/started, before the
//                              first delta). With "early": K the response goes out right after
//                              the K-th delta, before at["K"]
//   "end":  [Action...]        after the last delta, before item/completed
// }
//
// Action: {"do": "<kind>", ...}. In `on` lists an action may carry a filter on the call count of
// that method (1-based): "call": n (only the n-th), "calls": [n...], "times": k (the first k).
// Actions run in order; a *final* action ends the list and replaces the built-in handling (in a
// turn it stops the turn where it is: respond/error answer the turn/start request, a second time
// if it was already answered, and the turn never completes).
//   stderr      {text}                   write a line to stderr
//               {bytes, lineBytes=100}   or: about `bytes` of numbered lines ("fake stderr
//                                        000001 xxx..."), written synchronously (a reader that
//                                        stops reading stalls it right there), then logs
//                                        {"$stderrFlood":{bytes,lines,lastLine,ms,at}} (at: Date.now())
//   sleep       {ms}
//   crash       {code=1 | signal, stderr="fake: crashing now"}  final. Flushes stdout, writes the
//                                        stderr line, then process.exit(code) or kills itself
//                                        with `signal` (e.g. "SIGKILL", "SIGSEGV")
//   exit        {code=0}                 final. Flush stdout, exit quietly
//   raw         {text}                   write text + "\n" verbatim
//   malformed   {text='{"method":"broken", '}  a line that is not JSON
//   rawBytes    {base64}                 write the decoded bytes + "\n" verbatim (e.g. not UTF-8)
//   bigLine     {mib=64 | bytes, chunkKiB=1024, valid=true, method="fake/bigLine"}  one line of
//                                        exactly that many bytes (+ "\n"), streamed in chunks;
//                                        valid: a notification {"method","params":{"pad":"aaa.."}},
//                                        else "xxxx..." (not JSON). Nothing else is interleaved.
//   send        {frame}                  any frame, verbatim
//   notify      {method, params}
//   strayResponse {id=987654321, result={}}   answer an id nobody asked
//   respond     {result}                 final. Answer the current request with `result`
//   error       {code=-32001, message="Server overloaded; retry later.", data?}  final.
//                                        Answer the current request with an error
//   hang        {}                       final. Requests: never answered. Turns: never complete
//                                        (a turn/interrupt still ends them)
//   closeStdout {}                       flush and close stdout; the process keeps running
//   serverRequest {method, params, id?, await=true}  send a server request; with await, wait
//                                        for the client's answer (it is in the log either way)
//   approval    {kind="command"|"fileChange", command="rm -rf /tmp/x", cwd, reason, params?,
//                await=true}             item/commandExecution/requestApproval (or
//                                        item/fileChange/requestApproval) for the current turn
// String values "$threadId", "$turnId", "$itemId", "$requestId" inside send/notify/
// serverRequest/approval payloads are replaced by the current ones.
//
// Examples: see the `act` helpers in ./fake-scenario.js and ./fake-selfcheck.js.
//
// Files, by concern (this one only starts the server, so its path stays what tests, benches,
// scripts/foreign-run.sh and fake-app-server.cmd run):
//   fake-interpreter.js  the scenario interpreter: built-in requests, turns, actions, lifecycle
//   fake-protocol.js     the well-formed messages, type-checked against protocol/ (`pnpm test`
//                        runs `tsc -p testing`); malformed ones are written raw, on purpose
//   fake-flood.js        the bulk producers: floods, batches, one huge line, stderr floods
//   fake-io.js           stdout with backpressure, stdin lines, stderr, the log and the stats

if (require.main === module) {
  require('./fake-interpreter.js').serve()
} else {
  module.exports = require('./fake-scenario.js')
}
