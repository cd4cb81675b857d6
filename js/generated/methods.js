// Generated from codex 0.169.0 by scripts/generate.mjs. Do not edit.
// From the PUBLIC_METHODS table there and the pinned schema's ClientRequest.
// @ts-check
'use strict'

/** @type {import('../passthrough.js').MethodTable} */
module.exports = {
  Session: {
    readThread: {"method":"thread/read","args":[["string","threadId"],["options","options",["includeTurns"]]]},
    listThreads: {"method":"thread/list","args":[["params","params"]]},
    archiveThread: {"method":"thread/archive","args":[["string","threadId"]],"void":true},
    listModels: {"method":"model/list","args":[["params","params"]]},
    readAccount: {"method":"account/read","args":[["params","params"]]},
    loginWithApiKey: {"method":"account/login/start","args":[["string","apiKey"]],"fixed":{"type":"apiKey"}},
    logout: {"method":"account/logout","args":[],"void":true},
    readRateLimits: {"method":"account/rateLimits/read","args":[]},
    readConfig: {"method":"config/read","args":[["params","params"]]},
    listCollaborationModes: {"method":"collaborationMode/list","args":[],"fixed":{}},
  },
  Thread: {
    read: {"method":"thread/read","args":[["options","options",["includeTurns"]]],"self":"threadId"},
    archive: {"method":"thread/archive","args":[],"self":"threadId","void":true},
    setName: {"method":"thread/name/set","args":[["string","name"]],"self":"threadId","void":true},
    compact: {"method":"thread/compact/start","args":[],"self":"threadId","void":true},
    unsubscribe: {"method":"thread/unsubscribe","args":[],"self":"threadId","void":true},
  },
}
