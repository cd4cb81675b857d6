// Generated from codex 0.169.0 by scripts/generate.mjs. Do not edit.
// Types of the --experimental protocol, flattened like index.d.ts. Files that are the
// same as in the stable tree are re-used from ./types, so identical types stay identical.
export * from './types-experimental/index.js';
export * from './types-experimental/v2/index.js';
// Defined both at the root of codex's tree and in v2/; the v2 (app-server protocol v2) one wins.
// The root definitions stay reachable through the files under ./types-experimental/.
export type { ExecPolicyAmendment, NetworkPolicyAmendment, NetworkPolicyRuleAction, SessionSource, WebSearchAction } from './types-experimental/v2/index.js';
