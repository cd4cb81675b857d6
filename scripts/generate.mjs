#!/usr/bin/env node
// Generates protocol/ (JSON schema snapshot + TypeScript types + method maps) and
// js/generated/ (the pass-through methods of the public API, see PUBLIC_METHODS) from the
// pinned @openai/codex devDependency.
//
//   node scripts/generate.mjs          regenerate protocol/ and js/generated/ in place
//   node scripts/generate.mjs --check  regenerate into a temp dir; exit 1 and list the
//                                      files that differ when either is out of date
//   node scripts/generate.mjs --diff <version> [--markdown | --json]
//                                      methods and fields added/removed from the pinned
//                                      protocol/ to that codex version (installed into the
//                                      compat cache, see scripts/codex-versions.mjs)
//
// Everything written is a pure function of the codex binary's output: no timestamps,
// no absolute paths, stable ordering. protocol/README.md (also generated) documents the
// layout and how result types are mapped to methods.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { checkVersionArgument, installCodex, locateCodexBinary } from './codex-versions.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PROTOCOL_DIR = path.join(ROOT, 'protocol');
const METHODS_DIR = path.join(ROOT, 'js', 'generated');
const SCRIPT = 'scripts/generate.mjs';

// ---------------------------------------------------------------------------------------
// Locating the pinned codex binary (the addon's findCodex, through codex-versions.mjs: run
// after `pnpm build`, as CI does)
// ---------------------------------------------------------------------------------------

function findCodex() {
  try {
    return locateCodexBinary(ROOT);
  } catch (err) {
    if (/is not installed/.test(err.message)) {
      throw new Error('@openai/codex is not installed (it is a devDependency): run `pnpm install`');
    }
    throw err;
  }
}

// ---------------------------------------------------------------------------------------
// Running codex
// ---------------------------------------------------------------------------------------

function runCodex(codex, args, codexHome) {
  try {
    return execFileSync(codex.bin, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      // A fresh CODEX_HOME so that no user config (features, profiles) can change the output.
      env: { ...process.env, CODEX_HOME: codexHome },
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    const stderr = err.stderr ? String(err.stderr) : '';
    throw new Error(`\`codex ${args.join(' ')}\` failed: ${err.message}\n${stderr}`);
  }
}

function assertHelpHasExperimental(codex, subcommand, codexHome) {
  const help = runCodex(codex, ['app-server', subcommand, '--help'], codexHome);
  if (!/--experimental\b/.test(help)) {
    throw new Error(`\`codex app-server ${subcommand}\` has no --experimental flag; update ${SCRIPT}`);
  }
}

function runGenerators(codex, work) {
  const home = path.join(work, 'codex-home');
  fs.mkdirSync(home, { recursive: true });
  const reported = runCodex(codex, ['--version'], home).trim();
  if (!reported.endsWith(` ${codex.version}`)) {
    throw new Error(`codex binary reports "${reported}" but @openai/codex is ${codex.version}`);
  }
  assertHelpHasExperimental(codex, 'generate-json-schema', home);
  assertHelpHasExperimental(codex, 'generate-ts', home);
  const dirs = {
    schema: path.join(work, 'schema'),
    schemaX: path.join(work, 'schema-experimental'),
    ts: path.join(work, 'ts'),
    tsX: path.join(work, 'ts-experimental'),
  };
  runCodex(codex, ['app-server', 'generate-json-schema', '--out', dirs.schema], home);
  runCodex(codex, ['app-server', 'generate-json-schema', '--experimental', '--out', dirs.schemaX], home);
  runCodex(codex, ['app-server', 'generate-ts', '--out', dirs.ts], home);
  runCodex(codex, ['app-server', 'generate-ts', '--experimental', '--out', dirs.tsX], home);
  return dirs;
}

// ---------------------------------------------------------------------------------------
// File helpers
// ---------------------------------------------------------------------------------------

/** All files under dir, as sorted posix paths relative to dir. */
function listFiles(dir) {
  const out = [];
  const walk = (rel) => {
    const abs = path.join(dir, rel);
    for (const entry of fs.readdirSync(abs, { withFileTypes: true })) {
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(childRel);
      else if (entry.isFile()) out.push(childRel);
    }
  };
  if (fs.existsSync(dir)) walk('');
  return out.sort();
}

function readTree(dir) {
  const tree = new Map();
  for (const rel of listFiles(dir)) tree.set(rel, fs.readFileSync(path.join(dir, rel), 'utf8'));
  return tree;
}

function sortedMap(map) {
  return new Map([...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

// ---------------------------------------------------------------------------------------
// JSON schema snapshot
// ---------------------------------------------------------------------------------------

function schemaFile(text, comment) {
  const value = JSON.parse(text);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error('unexpected JSON schema file: not an object');
  }
  if ('$comment' in value) throw new Error('JSON schema file already has a $comment');
  // `$comment` is the JSON Schema keyword for notes; validators ignore it.
  return `${JSON.stringify({ $comment: comment, ...value }, null, 2)}\n`;
}

// ---------------------------------------------------------------------------------------
// TypeScript trees (codex's ts-rs output, turned into .d.ts files)
// ---------------------------------------------------------------------------------------

const IMPORT_RE = /(\bfrom\s+")(\.{1,2}\/[^"]*)(")/g;

/** Resolve a relative module specifier inside a codex ts tree to a tree file ("v2/X.ts"). */
function resolveSpecifier(tree, fromFile, spec) {
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(fromFile), spec));
  if (tree.has(`${base}.ts`)) return `${base}.ts`;
  if (tree.has(`${base}/index.ts`)) return `${base}/index.ts`;
  throw new Error(`cannot resolve import "${spec}" in ${fromFile}`);
}

function importsOf(tree, file) {
  const deps = new Set();
  for (const m of tree.get(file).matchAll(IMPORT_RE)) deps.add(resolveSpecifier(tree, file, m[2]));
  return deps;
}

function relativeSpecifier(fromDir, target) {
  let rel = path.posix.relative(fromDir, target);
  if (!rel.startsWith('.')) rel = `./${rel}`;
  return rel;
}

const toDts = (tsFile) => tsFile.replace(/\.ts$/, '.d.ts');
const toJs = (tsFile) => tsFile.replace(/\.ts$/, '.js');

/**
 * Turn one ts-rs file into declaration-file text.
 * `locate(target)` returns the protocol/-relative path (".ts" suffix) the import should point at.
 */
function dtsFile(text, header, file, tree, outFile, locate) {
  const body = text.replace(/^\/\/ GENERATED CODE! DO NOT MODIFY BY HAND!\n\n?/, '');
  const outDir = path.posix.dirname(outFile);
  const rewritten = body.replace(IMPORT_RE, (_all, pre, spec, post) => {
    const target = locate(resolveSpecifier(tree, file, spec));
    // "./X.js" resolves to X.d.ts under every moduleResolution mode, CommonJS or ESM.
    return `${pre}${relativeSpecifier(outDir, toJs(target))}${post}`;
  });
  if (/\bconst\s+enum\b/.test(rewritten)) throw new Error(`${file}: const enum in codex output`);
  return `${header}\n${rewritten.endsWith('\n') ? rewritten : `${rewritten}\n`}`;
}

/** protocol/types: the stable tree, one .d.ts per codex .ts file. */
function stableTypes(ts, header) {
  const out = new Map();
  for (const file of ts.keys()) {
    out.set(`types/${toDts(file)}`, dtsFile(ts.get(file), header, file, ts, `types/${file}`, (t) => `types/${t}`));
  }
  return out;
}

/**
 * protocol/types-experimental: only what differs from the stable tree. A file is included
 * when it is new or changed under --experimental, or when it (transitively) imports such a
 * file, so every type reached from this tree has its experimental shape. Imports of
 * unaffected files point into ../types.
 */
function experimentalTypes(ts, tsX, header) {
  const graph = new Map([...tsX.keys()].map((f) => [f, importsOf(tsX, f)]));
  const affected = new Set([...tsX.keys()].filter((f) => ts.get(f) !== tsX.get(f)));
  for (let grew = true; grew; ) {
    grew = false;
    for (const [file, deps] of graph) {
      if (!affected.has(file) && [...deps].some((d) => affected.has(d))) {
        affected.add(file);
        grew = true;
      }
    }
  }
  const out = new Map();
  for (const file of [...affected].sort()) {
    const locate = (t) => {
      if (affected.has(t)) return `types-experimental/${t}`;
      if (!ts.has(t)) throw new Error(`types-experimental: ${t} is neither changed nor in the stable tree`);
      return `types/${t}`;
    };
    out.set(`types-experimental/${toDts(file)}`, dtsFile(tsX.get(file), header, file, tsX, `types-experimental/${file}`, locate));
  }
  const onlyStable = [...ts.keys()].filter((f) => !tsX.has(f));
  return { files: out, affected, onlyStable };
}

/** Type names exported by a tree's root index and its v2 index. */
function exportedNames(tree, indexFile) {
  const names = new Set();
  for (const m of tree.get(indexFile).matchAll(/export type \{ (\w+) \} from "/g)) names.add(m[1]);
  return names;
}

// ---------------------------------------------------------------------------------------
// Method maps from the schema unions
// ---------------------------------------------------------------------------------------

/**
 * Result types the `<X>Params` -> `<X>Response` and `<PascalCase(method)>Response`
 * conventions cannot find. Each is taken from codex's `client_request_definitions!`
 * (codex-rs/app-server-protocol/src/protocol/common.rs), or, where marked, is the only
 * unclaimed `*Response` type whose name matches the method. Every entry is checked against
 * the generated schema: a stale entry (unknown method or missing type) fails generation.
 */
const RESULT_OVERRIDES = {
  'account/logout': 'LogoutAccountResponse',
  'config/mcpServer/reload': 'McpServerRefreshResponse',
  'config/value/write': 'ConfigWriteResponse',
  'config/batchWrite': 'ConfigWriteResponse',
  'account/workspaceMessages/read': 'GetWorkspaceMessagesResponse',
  'externalAgentConfig/import/readHistories': 'ExternalAgentConfigImportHistoriesReadResponse',
  'account/gatewayOAuth/cancel': 'GatewayOAuthCancelResponse', // by name (only candidate)
  'account/securitySetup/read': 'GetAccountSecuritySetupResponse', // by name (only candidate)
  'accountSession/list': 'AccountSessionsResponse', // by name (only candidate), experimental
};

function refName(ref) {
  return ref.slice(ref.lastIndexOf('/') + 1);
}

/**
 * One entry of a oneOf union ({ method, params?, id? }) -> { method, params } where params is
 * { kind: 'ref' | 'optional' | 'none', name? }: required `X`, optional/nullable `X`, or no
 * params at all.
 */
function unionEntries(schema, file) {
  return schema.oneOf.map((entry) => {
    const props = entry.properties ?? {};
    const methods = props.method?.enum;
    if (!Array.isArray(methods) || methods.length !== 1) throw new Error(`${file}: entry without one method`);
    const method = methods[0];
    const p = props.params;
    const required = (entry.required ?? []).includes('params');
    let params;
    if (p === undefined || (p.type === 'null' && !p.$ref)) params = { kind: 'none' };
    else if (p.$ref && required) params = { kind: 'ref', name: refName(p.$ref) };
    else if (p.$ref) params = { kind: 'optional', name: refName(p.$ref) };
    else if (Array.isArray(p.anyOf)) {
      const refs = p.anyOf.filter((x) => x.$ref);
      const rest = p.anyOf.filter((x) => !x.$ref);
      if (refs.length !== 1 || rest.some((x) => x.type !== 'null')) throw new Error(`${file}: ${method}: unsupported params schema`);
      params = { kind: 'optional', name: refName(refs[0].$ref) };
    } else throw new Error(`${file}: ${method}: unsupported params schema ${JSON.stringify(p)}`);
    return { method, params };
  });
}

function pascalCase(method) {
  return method
    .split(/[/_]/)
    .filter(Boolean)
    .map((s) => s[0].toUpperCase() + s.slice(1))
    .join('');
}

function readUnion(schemaDir, name) {
  const file = `${name}.json`;
  return unionEntries(JSON.parse(fs.readFileSync(path.join(schemaDir, file), 'utf8')), file);
}

/** Methods of one of codex's TypeScript unions (ClientRequest.ts etc.), in order. */
function tsUnionMethods(text) {
  return [...text.matchAll(/\{ "method": "([^"]+)"/g)].map((m) => m[1]);
}

/**
 * The JSON schema unions and codex's TypeScript unions are compared. Every JSON method must
 * be in the TypeScript union. Notifications that only the TypeScript union has are added to
 * the notification map (they are sent, so clients must be able to narrow on them); client
 * requests that only the TypeScript union has (deprecated v1 methods) are listed, not mapped.
 */
function mergeTsUnion(name, entries, tsText) {
  const tsMethods = tsUnionMethods(tsText);
  const jsonMethods = new Set(entries.map((e) => e.method));
  const missing = [...jsonMethods].filter((m) => !tsMethods.includes(m));
  if (missing.length) throw new Error(`${name}: in the JSON schema but not in codex's TS union: ${missing.join(', ')}`);
  const tsOnly = tsMethods.filter((m) => !jsonMethods.has(m));
  if (name !== 'ServerNotification' || !tsOnly.length) return { entries, tsOnly };
  const params = new Map([...tsText.matchAll(/\{ "method": "([^"]+)", "params": (\w+) \}/g)].map((m) => [m[1], m[2]]));
  const byMethod = new Map(entries.map((e) => [e.method, e]));
  const merged = tsMethods.map((m) => {
    if (byMethod.has(m)) return byMethod.get(m);
    if (!params.has(m)) throw new Error(`${name}: cannot read the params type of ${m} from codex's TS union`);
    return { method: m, params: { kind: 'ref', name: params.get(m) }, tsOnly: true };
  });
  return { entries: merged, tsOnly };
}

function collectProtocol(dirs, schemaTypes, schemaTypesX, ts, tsX) {
  const unions = {};
  for (const name of ['ClientRequest', 'ServerNotification', 'ServerRequest', 'ClientNotification']) {
    const s = mergeTsUnion(name, readUnion(dirs.schema, name), ts.get(`${name}.ts`));
    const x = mergeTsUnion(name, readUnion(dirs.schemaX, name), tsX.get(`${name}.ts`));
    const stable = s.entries;
    const experimental = x.entries;
    const stableMethods = new Set(stable.map((e) => e.method));
    const removed = [...stableMethods].filter((m) => !experimental.some((e) => e.method === m));
    if (removed.length) throw new Error(`${name}: methods missing under --experimental: ${removed.join(', ')}`);
    unions[name] = {
      stable,
      experimentalOnly: experimental.filter((e) => !stableMethods.has(e.method)),
      tsOnly: [...new Set([...s.tsOnly, ...x.tsOnly])],
    };
  }

  // Server request responses follow <X>Params -> <X>Response without exception.
  for (const list of [unions.ServerRequest.stable, unions.ServerRequest.experimentalOnly]) {
    for (const e of list) {
      const types = list === unions.ServerRequest.stable ? schemaTypes : schemaTypesX;
      const response = e.params.name?.replace(/Params$/, 'Response');
      if (!response || !types.has(response)) throw new Error(`server request ${e.method}: no response type found`);
      e.response = response;
    }
  }

  // Client request results.
  const allClient = [...unions.ClientRequest.stable, ...unions.ClientRequest.experimentalOnly];
  const methods = new Set(allClient.map((e) => e.method));
  for (const [method, type] of Object.entries(RESULT_OVERRIDES)) {
    if (!methods.has(method)) throw new Error(`RESULT_OVERRIDES: ${method} is not a client request of this codex`);
    if (!schemaTypesX.has(type)) throw new Error(`RESULT_OVERRIDES: ${method}: type ${type} does not exist`);
  }
  const unmapped = [];
  for (const list of [unions.ClientRequest.stable, unions.ClientRequest.experimentalOnly]) {
    const types = list === unions.ClientRequest.stable ? schemaTypes : schemaTypesX;
    for (const e of list) {
      e.result = clientResult(e, types);
      if (!e.result) unmapped.push(e.method);
    }
  }
  return { unions, unmapped };
}

/** The result type of one client request (`{ name, rule }`), or null when no rule finds it. */
function clientResult(e, types) {
  const byParams = e.params.name?.endsWith('Params') ? e.params.name.replace(/Params$/, 'Response') : null;
  const byMethod = `${pascalCase(e.method)}Response`;
  if (byParams && types.has(byParams)) return { name: byParams, rule: 'params' };
  if (types.has(byMethod)) return { name: byMethod, rule: 'method' };
  if (RESULT_OVERRIDES[e.method] && types.has(RESULT_OVERRIDES[e.method])) {
    return { name: RESULT_OVERRIDES[e.method], rule: 'override' };
  }
  return null;
}

// ---------------------------------------------------------------------------------------
// protocol/index.d.ts and protocol/experimental.d.ts
// ---------------------------------------------------------------------------------------

const q = (s) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

function paramsTs(p, ref) {
  if (p.kind === 'none') return 'undefined';
  // The schema lets such params be omitted or null (codex's own TS varies per method
  // between `params?: T`, `params?: T | null` and `params: T | null`).
  if (p.kind === 'optional') return `${ref(p.name)} | null | undefined`;
  return ref(p.name);
}

function flatReexports(prefix, rootNames, v2Names) {
  const collisions = [...rootNames].filter((n) => v2Names.has(n)).sort();
  const lines = [
    `export * from '${prefix}/index.js';`,
    `export * from '${prefix}/v2/index.js';`,
  ];
  if (collisions.length) {
    lines.push(
      `// Defined both at the root of codex's tree and in v2/; the v2 (app-server protocol v2) one wins.`,
      `// The root definitions stay reachable through the files under ${prefix}/.`,
      `export type { ${collisions.join(', ')} } from '${prefix}/v2/index.js';`,
    );
  }
  return { lines, collisions };
}

function experimentalDts(header, rootNamesX, v2NamesX) {
  return [
    header,
    '// Types of the --experimental protocol, flattened like index.d.ts. Files that are the',
    '// same as in the stable tree are re-used from ./types, so identical types stay identical.',
    ...flatReexports('./types-experimental', rootNamesX, v2NamesX).lines,
    '',
  ].join('\n');
}

function indexDts(header, protocol, stableNames, experimentalNames) {
  const { unions, unmapped } = protocol;
  const { root, v2 } = stableNames;
  const imported = { root: new Set(), v2: new Set() };
  const ref = (name) => {
    if (v2.has(name)) imported.v2.add(name);
    else if (root.has(name)) imported.root.add(name);
    else throw new Error(`type ${name} is not exported by the stable TypeScript tree`);
    return name;
  };
  const refX = (name) => {
    if (!experimentalNames.root.has(name) && !experimentalNames.v2.has(name)) {
      throw new Error(`type ${name} is not exported by the experimental TypeScript tree`);
    }
    return `Exp.${name}`;
  };

  const requestEntry = (e, r) => {
    const result = e.result ? r(e.result.name) : 'unknown';
    const note = e.result ? '' : ' // result type not derivable from the schema';
    return `  ${q(e.method)}: { params: ${paramsTs(e.params, r)}; result: ${result} };${note}`;
  };
  const body = [];
  const iface = (name, doc, entries) => {
    body.push(`/** ${doc} */`);
    if (!entries.length) body.push(`export interface ${name} {}`);
    else body.push(`export interface ${name} {`, ...entries, '}');
    body.push('');
  };

  const cr = unions.ClientRequest;
  iface('ClientRequestMap', `Client -> server requests of the stable API (${cr.stable.length}).`,
    cr.stable.map((e) => requestEntry(e, ref)));
  iface('ExperimentalClientRequestMap',
    `Client -> server requests that exist only with \`experimentalApi\` (${cr.experimentalOnly.length}). Types from the --experimental schema.`,
    cr.experimentalOnly.map((e) => requestEntry(e, refX)));

  const sn = unions.ServerNotification;
  const notificationEntry = (r) => (e) =>
    `  ${q(e.method)}: ${paramsTs(e.params, r)};${e.tsOnly ? " // only in codex's TS union, not in the JSON schema" : ''}`;
  iface('ServerNotificationMap', `Server -> client notifications: method -> params (${sn.stable.length}).`,
    sn.stable.map(notificationEntry(ref)));
  iface('ExperimentalServerNotificationMap',
    `Server -> client notifications that exist only with \`experimentalApi\` (${sn.experimentalOnly.length}).`,
    sn.experimentalOnly.map(notificationEntry(refX)));

  const sr = unions.ServerRequest;
  const serverRequestEntry = (r) => (e) => `  ${q(e.method)}: { params: ${paramsTs(e.params, r)}; response: ${r(e.response)} };`;
  iface('ServerRequestMap', `Server -> client requests: the client answers each with \`response\` (${sr.stable.length}).`,
    sr.stable.map(serverRequestEntry(ref)));
  iface('ExperimentalServerRequestMap',
    `Server -> client requests that exist only with \`experimentalApi\` (${sr.experimentalOnly.length}).`,
    sr.experimentalOnly.map(serverRequestEntry(refX)));

  const cn = unions.ClientNotification;
  iface('ClientNotificationMap', `Client -> server notifications: method -> params (${cn.stable.length}).`,
    cn.stable.map(notificationEntry(ref)));
  iface('ExperimentalClientNotificationMap',
    `Client -> server notifications that exist only with \`experimentalApi\` (${cn.experimentalOnly.length}).`,
    cn.experimentalOnly.map(notificationEntry(refX)));

  body.push(
    'export type ClientRequestMethod = keyof ClientRequestMap;',
    'export type ExperimentalClientRequestMethod = keyof ExperimentalClientRequestMap;',
    'export type AnyClientRequestMap = ClientRequestMap & ExperimentalClientRequestMap;',
    'export type AnyClientRequestMethod = keyof AnyClientRequestMap;',
    'export type ServerNotificationMethod = keyof ServerNotificationMap;',
    'export type ExperimentalServerNotificationMethod = keyof ExperimentalServerNotificationMap;',
    'export type ServerRequestMethod = keyof ServerRequestMap;',
    'export type ExperimentalServerRequestMethod = keyof ExperimentalServerRequestMap;',
    'export type AnyServerRequestMap = ServerRequestMap & ExperimentalServerRequestMap;',
    'export type AnyServerRequestMethod = keyof AnyServerRequestMap;',
    'export type ClientNotificationMethod = keyof ClientNotificationMap;',
    '',
    '/** Params of a client request (stable or experimental). */',
    'export type ParamsOf<M extends AnyClientRequestMethod> = AnyClientRequestMap[M][\'params\'];',
    '/** Result of a client request (stable or experimental). */',
    'export type ResultOf<M extends AnyClientRequestMethod> = AnyClientRequestMap[M][\'result\'];',
    '/** Params of a server notification. */',
    'export type NotificationParamsOf<M extends ServerNotificationMethod> = ServerNotificationMap[M];',
    '/** Params of a server request. */',
    'export type ServerRequestParamsOf<M extends AnyServerRequestMethod> = AnyServerRequestMap[M][\'params\'];',
    '/** What the client answers to a server request. */',
    'export type ServerResponseOf<M extends AnyServerRequestMethod> = AnyServerRequestMap[M][\'response\'];',
    '',
    '/** A server notification, discriminated on `method`. */',
    'export type ServerNotification = {',
    '  [M in ServerNotificationMethod]: { method: M; params: ServerNotificationMap[M] };',
    '}[ServerNotificationMethod];',
    '',
  );

  const { lines: reexports, collisions } = flatReexports('./types', root, v2);
  for (const name of imported.root) {
    if (collisions.includes(name)) throw new Error(`map type ${name} is ambiguous (root and v2)`);
  }
  const importLines = (names, from) =>
    names.size ? [`import type {\n${[...names].sort().map((n) => `  ${n},`).join('\n')}\n} from '${from}';`] : [];

  const unmappedNote = unmapped.length
    ? [`// Client requests whose result type could not be derived (typed \`unknown\`): ${unmapped.join(', ')}.`]
    : ['// Every client request has a result type (see protocol/README.md for how they are derived).'];
  for (const name of ['ClientRequest', 'ServerRequest', 'ClientNotification']) {
    if (unions[name].tsOnly.length) {
      unmappedNote.push(`// In codex's TS ${name} union but not in its JSON schema (not mapped): ${unions[name].tsOnly.join(', ')}.`);
    }
  }
  if (unions.ServerNotification.tsOnly.length) {
    unmappedNote.push(`// ServerNotificationMap also has ${unions.ServerNotification.tsOnly.join(', ')}, which only codex's TS union lists.`);
  }

  return [
    header,
    '// The protocol types of the pinned codex app-server, flattened (codex generates its v2',
    '// types under ./types/v2), plus method maps derived from the schema unions',
    '// ClientRequest / ServerNotification / ServerRequest / ClientNotification.',
    ...unmappedNote,
    '',
    ...reexports,
    "export * as Experimental from './experimental.js';",
    '',
    ...importLines(imported.root, './types/index.js'),
    ...importLines(imported.v2, './types/v2/index.js'),
    "import type * as Exp from './experimental.js';",
    '',
    ...body,
  ].join('\n');
}

// ---------------------------------------------------------------------------------------
// protocol/README.md
// ---------------------------------------------------------------------------------------

function readme(version, protocol, stats) {
  const { unions, unmapped } = protocol;
  const overrides = [...unions.ClientRequest.stable, ...unions.ClientRequest.experimentalOnly]
    .filter((e) => e.result?.rule === 'override')
    .map((e) => `- \`${e.method}\` -> \`${e.result.name}\``);
  const byMethod = [...unions.ClientRequest.stable, ...unions.ClientRequest.experimentalOnly]
    .filter((e) => e.result?.rule === 'method')
    .map((e) => `\`${e.method}\``);
  return `<!-- Generated from codex ${version} by ${SCRIPT}. Do not edit. -->
# protocol/

The app-server protocol of the pinned \`@openai/codex\` ${version}, generated by
\`node ${SCRIPT}\`; \`node ${SCRIPT} --check\` fails when this directory is not what the
pinned codex generates. Do not edit by hand.

| path | content |
| --- | --- |
| \`index.d.ts\` | all stable types (flattened) + method maps (\`ClientRequestMap\`, \`ServerNotificationMap\`, \`ServerRequestMap\`, \`ClientNotificationMap\`, their \`Experimental*\` counterparts) and helpers (\`ParamsOf\`, \`ResultOf\`, \`NotificationParamsOf\`, \`ServerRequestParamsOf\`, \`ServerResponseOf\`, \`ServerNotification\`) |
| \`experimental.d.ts\` | all types of the \`--experimental\` protocol, flattened; also \`Experimental\` in \`index.d.ts\` |
| \`types/\` | \`codex app-server generate-ts\` (${stats.types} files), as \`.d.ts\`; v2 protocol types in \`types/v2/\` |
| \`types-experimental/\` | \`generate-ts --experimental\`: only the ${stats.typesX} files that are new or changed, or import one that is; the rest is imported from \`types/\` |
| \`schema/\` | \`codex app-server generate-json-schema\` (${stats.schema} files), re-serialized with 2-space indent and a \`$comment\` |
| \`schema-experimental/\` | \`generate-json-schema --experimental\`: only the ${stats.schemaX} files that are new or differ from \`schema/\` (schema files are self-contained) |

Counts: ${unions.ClientRequest.stable.length} stable client requests + ${unions.ClientRequest.experimentalOnly.length} experimental-only;
${unions.ServerNotification.stable.length} server notifications (+${unions.ServerNotification.experimentalOnly.length});
${unions.ServerRequest.stable.length} server requests (+${unions.ServerRequest.experimentalOnly.length});
${unions.ClientNotification.stable.length} client notification(s) (+${unions.ClientNotification.experimentalOnly.length}).

## Result types

The schema names each request's params type but not its result type. A result is found by,
in order: (1) \`<X>Params\` -> \`<X>Response\`; (2) the method in PascalCase + \`Response\`
(${byMethod.length ? byMethod.join(', ') : 'none'});
(3) the \`RESULT_OVERRIDES\` table in \`${SCRIPT}\` (checked against the schema on every run):
${overrides.length ? overrides.join('\n') : '- none'}

${unmapped.length ? `Not mapped (typed \`unknown\`): ${unmapped.map((m) => `\`${m}\``).join(', ')}.` : 'Every client request has a result type.'}
Server request responses all follow \`<X>Params\` -> \`<X>Response\`.
Params: \`undefined\` where the schema has no params, \`T | null | undefined\` where the schema
makes them optional and nullable.

## JSON schema vs codex's TypeScript unions

${['ClientRequest', 'ServerNotification', 'ServerRequest', 'ClientNotification']
  .map((n) => `- ${n}: ${unions[n].tsOnly.length ? `only in the TS union: ${unions[n].tsOnly.map((m) => `\`${m}\``).join(', ')}` : 'same methods'}`)
  .join('\n')}

Notifications only in the TS union are included in \`ServerNotificationMap\` (the server sends
them, e.g. when raw response events are enabled); client requests only in the TS union
(deprecated v1 methods) are left out of \`ClientRequestMap\`.
`;
}

// ---------------------------------------------------------------------------------------
// The pass-through protocol methods (js/generated/)
// ---------------------------------------------------------------------------------------

/**
 * The curated pass-through methods of the public API: their JS names, the protocol method
 * each sends, and how its JS arguments become the params. Everything else (that the method
 * exists, its params and result type names, that the fields named here exist with these
 * types) is read from the pinned schema's ClientRequest, and a mismatch fails generation.
 * js/passthrough.js installs the generated table onto the native classes; each call goes
 * through the session's one native request path (`_request`: typed errors, timeouts, and
 * the response settling after the notifications before it, src/order.rs).
 *
 *   args:  ['string', field]            a required string argument, sent as params[field]
 *          ['params', name]             an optional object of the method's params, sent as is
 *          ['options', name, [fields]]  an optional options object: each boolean field is
 *                                       sent (false when absent), nothing else is
 *   self:  params field that gets the Thread's own id
 *   fixed: constant params fields
 *   void:  resolves to undefined (the response is an empty object)
 *   A method with no args, self or fixed sends no params (`null`).
 *
 * Not here, and native: methods that return a Thread (start/resume/fork/unarchiveThread,
 * thread.fork) and the ones that are more than one request (thread.unarchive is
 * thread/unarchive then thread/resume; thread.rollback reads the turns to find the
 * thread/revert point).
 */
export const PUBLIC_METHODS = {
  Session: {
    readThread: {
      method: 'thread/read',
      args: [['string', 'threadId'], ['options', 'options', ['includeTurns']]],
      doc: "`thread/read`; with `includeTurns` the thread's turns and items too.",
    },
    listThreads: {
      method: 'thread/list',
      args: [['params', 'params']],
      doc: '`thread/list`: stored threads (archived ones with `archived: true`).',
    },
    archiveThread: { method: 'thread/archive', args: [['string', 'threadId']], void: true, doc: '`thread/archive`.' },
    listModels: { method: 'model/list', args: [['params', 'params']], doc: '`model/list`.' },
    readAccount: { method: 'account/read', args: [['params', 'params']], doc: '`account/read`.' },
    loginWithApiKey: {
      method: 'account/login/start',
      fixed: { type: 'apiKey' },
      args: [['string', 'apiKey']],
      doc: '`account/login/start` with an API key.',
    },
    logout: { method: 'account/logout', args: [], void: true, doc: '`account/logout`.' },
    readRateLimits: { method: 'account/rateLimits/read', args: [], doc: '`account/rateLimits/read`.' },
    readConfig: { method: 'config/read', args: [['params', 'params']], doc: '`config/read`: the effective configuration.' },
    // Experimental entries are checked against the --experimental schema and typed from
    // `Experimental`; the server refuses them unless the session has `experimentalApi: true`.
    listCollaborationModes: {
      method: 'collaborationMode/list',
      experimental: true,
      fixed: {},
      args: [],
      doc: '`collaborationMode/list` (experimental: needs `experimentalApi: true`): the mode presets, e.g. `plan` and `default`.',
    },
  },
  Thread: {
    read: {
      method: 'thread/read',
      self: 'threadId',
      args: [['options', 'options', ['includeTurns']]],
      doc: '`thread/read` of this thread.',
    },
    archive: { method: 'thread/archive', self: 'threadId', args: [], void: true, doc: '`thread/archive`.' },
    setName: {
      method: 'thread/name/set',
      self: 'threadId',
      args: [['string', 'name']],
      void: true,
      doc: '`thread/name/set`.',
    },
    compact: {
      method: 'thread/compact/start',
      self: 'threadId',
      args: [],
      void: true,
      doc: "Starts compacting the thread's history (`thread/compact/start`).",
    },
    unsubscribe: {
      method: 'thread/unsubscribe',
      self: 'threadId',
      args: [],
      void: true,
      doc: "Stops this connection receiving the thread's events (`thread/unsubscribe`).",
    },
  },
};

/** The schema of `field` in a params definition (any variant of a oneOf), or undefined. */
function paramsField(definition, field) {
  for (const variant of [definition, ...(definition?.oneOf ?? [])]) {
    const schema = variant?.properties?.[field];
    if (schema) return schema;
  }
  return undefined;
}

const typeOf = (schema) => [schema?.type ?? []].flat();

/** The ClientRequest union of a schema directory: its entries by method, and its type names. */
function clientRequests(schemaDir) {
  const file = 'ClientRequest.json';
  const union = JSON.parse(fs.readFileSync(path.join(schemaDir, file), 'utf8'));
  const entries = new Map(unionEntries(union, file).map((e) => [e.method, e]));
  const types = new Set(listFiles(schemaDir).map((f) => path.posix.basename(f, '.json')));
  return { file, union, entries, types };
}

/**
 * js/generated/methods.js and js/generated/method-types.d.ts from the stable ClientRequest
 * union of `schemaDir` (a `generate-json-schema` output, or protocol/schema); entries marked
 * `experimental` from that of `experimentalDir` (the `--experimental` output, or
 * protocol/schema-experimental, whose ClientRequest.json is whole). Throws when an entry of
 * `table` is not in the schema or does not fit it.
 */
export function methodFiles(schemaDir, header, table = PUBLIC_METHODS, experimentalDir = path.join(path.dirname(schemaDir), 'schema-experimental')) {
  const stable = clientRequests(schemaDir);
  let experimental = null;
  const imports = new Set();
  const js = [];
  const dts = [];
  for (const [cls, methods] of Object.entries(table)) {
    js.push(`  ${cls}: {`);
    dts.push(`/** ${cls}'s pass-through protocol methods (js/passthrough.js). */`, `export interface ${cls}Methods {`);
    for (const [name, spec] of Object.entries(methods)) {
      const where = `PUBLIC_METHODS.${cls}.${name}`;
      if (spec.experimental) experimental ??= clientRequests(experimentalDir);
      const { file, union, entries, types } = spec.experimental ? experimental : stable;
      // Experimental types are reachable only through the `Experimental` namespace.
      const typeRef = (n) => (spec.experimental ? `Experimental.${n}` : n);
      const use = (n) => imports.add(spec.experimental ? 'Experimental' : n);
      const e = entries.get(spec.method);
      if (!e) throw new Error(`${where}: ${spec.method} is not a client request of the pinned schema (${file})`);
      const definition = e.params.name ? union.definitions?.[e.params.name] : undefined;
      const need = (field, type, what) => {
        const schema = paramsField(definition, field);
        if (!schema || !typeOf(schema).includes(type)) {
          throw new Error(`${where}: ${spec.method} params (${e.params.name ?? 'none'}) have no ${type} field \`${field}\` (${what})`);
        }
        return schema;
      };
      for (const [field, value] of Object.entries(spec.fixed ?? {})) {
        const schema = need(field, typeof value, 'fixed');
        if (schema.enum && !schema.enum.includes(value)) throw new Error(`${where}: ${field}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
      }
      if (spec.self) need(spec.self, 'string', 'self');
      const sig = [];
      for (const [kind, argName, fields] of spec.args) {
        if (kind === 'string') {
          need(argName, 'string', 'argument');
          sig.push(`${argName}: string`);
        } else if (kind === 'params') {
          if (!e.params.name) throw new Error(`${where}: ${spec.method} takes no params`);
          use(e.params.name);
          sig.push(`${argName}?: ${typeRef(e.params.name)}`);
        } else if (kind === 'options') {
          for (const f of fields) need(f, 'boolean', 'option');
          sig.push(`${argName}?: { ${fields.map((f) => `${f}?: boolean`).join('; ')} }`);
        } else throw new Error(`${where}: unknown argument kind ${kind}`);
      }
      let result = 'void';
      if (!spec.void) {
        const r = clientResult(e, types);
        if (!r) throw new Error(`${where}: ${spec.method} has no result type in the schema`);
        use(r.name);
        result = typeRef(r.name);
      }
      const row = { method: spec.method, args: spec.args };
      if (spec.self) row.self = spec.self;
      if (spec.fixed) row.fixed = spec.fixed;
      if (spec.void) row.void = true;
      js.push(`    ${name}: ${JSON.stringify(row)},`);
      dts.push(`  /** ${spec.doc} */`, `  ${name}(${sig.join(', ')}): Promise<${result}>`);
    }
    js.push('  },');
    dts.push('}', '');
  }
  const how = `${header}\n// From the PUBLIC_METHODS table there and the pinned schema's ClientRequest.`;
  const methodsJs = `${how}
// @ts-check
'use strict'

/** @type {import('../passthrough.js').MethodTable} */
module.exports = {
${js.join('\n')}
}
`;
  const typesDts = `${how}
// The declarations of js/generated/methods.js; index.d.ts (js/header.d.ts) merges them into
// the Session and Thread classes.
import type {
${[...imports].sort().map((n) => `  ${n},`).join('\n')}
} from '../../protocol/index.js'

${dts.join('\n')}`;
  return new Map([
    ['methods.js', methodsJs],
    ['method-types.d.ts', typesDts],
  ]);
}

// ---------------------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------------------

function generate() {
  const codex = findCodex();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'codex-native-gen-'));
  try {
    const dirs = runGenerators(codex, work);
    const v = codex.version;
    const jsonComment = (flag) =>
      `Generated from codex ${v} by ${SCRIPT} (codex app-server generate-json-schema${flag}). Do not edit.`;
    const tsHeader = (flag) =>
      `// Generated from codex ${v} by ${SCRIPT} (codex app-server generate-ts${flag}). Do not edit.`;
    const header = `// Generated from codex ${v} by ${SCRIPT}. Do not edit.`;

    const out = new Map();

    // JSON schema.
    const schema = readTree(dirs.schema);
    const schemaX = readTree(dirs.schemaX);
    const schemaOut = new Map([...schema].map(([f, t]) => [f, schemaFile(t, jsonComment(''))]));
    for (const [f, t] of schemaOut) out.set(`schema/${f}`, t);
    let schemaXCount = 0;
    for (const [f, t] of schemaX) {
      const text = schemaFile(t, jsonComment(' --experimental'));
      if (schemaOut.get(f) !== schemaFile(t, jsonComment(''))) {
        out.set(`schema-experimental/${f}`, text);
        schemaXCount += 1;
      }
    }
    const schemaOnlyStable = [...schema.keys()].filter((f) => !schemaX.has(f));
    if (schemaOnlyStable.length) {
      throw new Error(`schema files missing under --experimental: ${schemaOnlyStable.join(', ')}`);
    }
    // Type names = schema file basenames (each file is one exported type).
    const namesOf = (tree) => new Set([...tree.keys()].map((f) => path.posix.basename(f, '.json')));

    // TypeScript.
    const ts = readTree(dirs.ts);
    const tsX = readTree(dirs.tsX);
    for (const [f, t] of stableTypes(ts, tsHeader(''))) out.set(f, t);
    const x = experimentalTypes(ts, tsX, tsHeader(' --experimental'));
    if (x.onlyStable.length) throw new Error(`ts files missing under --experimental: ${x.onlyStable.join(', ')}`);
    for (const [f, t] of x.files) out.set(f, t);

    const stableNames = { root: exportedNames(ts, 'index.ts'), v2: exportedNames(ts, 'v2/index.ts') };
    const experimentalNames = { root: exportedNames(tsX, 'index.ts'), v2: exportedNames(tsX, 'v2/index.ts') };
    const protocol = collectProtocol(dirs, namesOf(schema), namesOf(schemaX), ts, tsX);
    out.set('index.d.ts', indexDts(header, protocol, stableNames, experimentalNames));
    out.set('experimental.d.ts', experimentalDts(header, experimentalNames.root, experimentalNames.v2));
    out.set('README.md', readme(v, protocol, {
      types: ts.size,
      typesX: x.files.size,
      schema: schema.size,
      schemaX: schemaXCount,
    }));
    // Read from the fresh schema (= protocol/schema once written), so that --check covers it.
    const methods = methodFiles(dirs.schema, header, PUBLIC_METHODS, dirs.schemaX);
    return { files: sortedMap(out), methods, protocol, version: v };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function writeTree(dir, files) {
  for (const [rel, text] of files) {
    const abs = path.join(dir, ...rel.split('/'));
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    fs.writeFileSync(abs, text);
  }
}

function compareTrees(expectedDir, actualDir) {
  const expected = new Set(listFiles(expectedDir));
  const actual = new Set(listFiles(actualDir));
  const missing = [...expected].filter((f) => !actual.has(f));
  const extra = [...actual].filter((f) => !expected.has(f));
  const changed = [...expected].filter(
    (f) => actual.has(f) && !fs.readFileSync(path.join(expectedDir, f)).equals(fs.readFileSync(path.join(actualDir, f))),
  );
  return { missing, extra, changed };
}

function removeEmptyDirs(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      const child = path.join(dir, entry.name);
      removeEmptyDirs(child);
      if (fs.readdirSync(child).length === 0) fs.rmdirSync(child);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Protocol diff against another codex version (--diff <version>)
// ---------------------------------------------------------------------------------------

// generate-json-schema writes every type into this one bundle too (v2 types under
// definitions/v2), so one document holds the whole protocol of a version.
const BUNDLE = 'codex_app_server_protocol.schemas.json';
const UNION_LABELS = {
  ClientRequest: 'client requests',
  ServerRequest: 'server requests',
  ServerNotification: 'server notifications',
  ClientNotification: 'client notifications',
};

function resolvePointer(doc, ref) {
  if (typeof ref !== 'string' || !ref.startsWith('#/')) throw new Error(`unsupported $ref ${JSON.stringify(ref)}`);
  let node = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) throw new Error(`dangling $ref ${ref}`);
    node = node[key];
  }
  return node;
}

/** The $ref of a union entry's params: required `X`, or optional `X | null`; null if none. */
function paramsRefOf(p) {
  if (!p) return null;
  if (p.$ref) return p.$ref;
  const refs = (p.anyOf ?? p.oneOf ?? []).filter((x) => x.$ref);
  return refs.length === 1 ? refs[0].$ref : null;
}

/** `#/definitions/<ns>/<name>` for a type name: beside `nearRef` first, then every namespace. */
function findTypeRef(doc, name, nearRef) {
  const candidates = [];
  if (nearRef) candidates.push(`${nearRef.slice(0, nearRef.lastIndexOf('/'))}/${name}`);
  candidates.push(`#/definitions/${name}`);
  for (const ns of Object.keys(doc.definitions ?? {}).filter((k) => /^v\d+$/.test(k))) candidates.push(`#/definitions/${ns}/${name}`);
  for (const ref of candidates) {
    try {
      resolvePointer(doc, ref);
      return ref;
    } catch {
      // not there; try the next namespace
    }
  }
  return null;
}

/**
 * The methods of a schema bundle: for each union, method -> { params, result } ($refs or
 * null). Results follow the same rules as the method maps: `<X>Params` -> `<X>Response`,
 * then PascalCase(method) + `Response`, then RESULT_OVERRIDES.
 */
export function protocolSurface(doc) {
  const surface = {};
  for (const union of Object.keys(UNION_LABELS)) {
    const schema = doc.definitions?.[union];
    if (!schema || !Array.isArray(schema.oneOf)) throw new Error(`schema bundle has no ${union} union`);
    const methods = new Map();
    for (const entry of schema.oneOf) {
      const method = entry.properties?.method?.enum;
      if (!Array.isArray(method) || method.length !== 1) throw new Error(`${union}: an entry without exactly one method`);
      const params = paramsRefOf(entry.properties.params);
      let result = null;
      if (union === 'ClientRequest' || union === 'ServerRequest') {
        const name = params ? refName(params) : '';
        result =
          (name.endsWith('Params') && findTypeRef(doc, name.replace(/Params$/, 'Response'), params)) ||
          (union === 'ClientRequest' && findTypeRef(doc, `${pascalCase(method[0])}Response`, params)) ||
          (union === 'ClientRequest' && RESULT_OVERRIDES[method[0]] && findTypeRef(doc, RESULT_OVERRIDES[method[0]], params)) ||
          null;
      }
      methods.set(method[0], { params, result });
    }
    surface[union] = methods;
  }
  return surface;
}

/**
 * A oneOf/anyOf variant's name in a path, stable when variants are added or reordered: its
 * title, its `type` tag, another required one-value tag ("mode=show"), its one key, or
 * (last resort) its index.
 */
function variantName(v, i) {
  if (typeof v.title === 'string') return v.title;
  const props = v.properties ?? {};
  const tag = (key) => (Array.isArray(props[key]?.enum) && props[key].enum.length === 1 ? String(props[key].enum[0]) : null);
  if (tag('type')) return tag('type');
  const tagged = Object.keys(props).find((k) => (v.required ?? []).includes(k) && tag(k));
  if (tagged) return `${tagged}=${tag(tagged)}`;
  const keys = Object.keys(props);
  if (keys.length === 1 && (v.required ?? []).includes(keys[0])) return keys[0];
  return `#${i}`;
}

/**
 * Every field (and enum value) reachable from `ref`, as JSON-pointer-like paths ("/a/b",
 * "/items[]", "/x/oneOf(Variant)/y", "/status=\"active\"", "/map/*") -> a signature
 * ("required string|null") that the diff compares. Recursive types stop where they recur.
 */
export function fieldPaths(doc, ref) {
  const out = new Map();
  const note = (at, types, required) => {
    const prev = out.get(at) ?? { types: new Set(), required: false };
    for (const t of types) prev.types.add(t);
    prev.required ||= required;
    out.set(at, prev);
  };
  const walk = (schema, at, stack) => {
    if (schema === true || schema === false || schema === null || typeof schema !== 'object') return;
    if (schema.$ref) {
      if (stack.includes(schema.$ref)) return;
      walk(resolvePointer(doc, schema.$ref), at, [...stack, schema.$ref]);
      // Siblings of $ref (description, default) do not change the shape.
      return;
    }
    const types = [schema.type ?? []].flat();
    if (at) note(at, types, false);
    for (const [key, value] of Object.entries(schema.properties ?? {})) {
      const child = `${at}/${key}`;
      note(child, [], (schema.required ?? []).includes(key));
      walk(value, child, stack);
    }
    for (const value of schema.enum ?? []) if (value !== null) out.set(`${at}=${JSON.stringify(value)}`, { types: new Set(), required: false });
    if (schema.const !== undefined) out.set(`${at}=${JSON.stringify(schema.const)}`, { types: new Set(), required: false });
    for (const key of ['oneOf', 'anyOf']) {
      if (!Array.isArray(schema[key])) continue;
      // `X | null` is nullability, not a variant.
      const variants = schema[key].filter((v) => !(v && v.type === 'null' && Object.keys(v).length <= 2));
      if (variants.length < schema[key].length && at) note(at, ['null'], false);
      if (variants.length > 1 && at) note(at, [key], false);
      variants.forEach((v, i) => {
        const named = variants.length > 1 && (v.properties || v.$ref);
        walk(v, named ? `${at}/${key}(${v.$ref ? refName(v.$ref) : variantName(v, i)})` : at, stack);
      });
    }
    for (const part of schema.allOf ?? []) walk(part, at, stack);
    if (Array.isArray(schema.items)) schema.items.forEach((it, i) => walk(it, `${at}[${i}]`, stack));
    else if (schema.items) walk(schema.items, `${at}[]`, stack);
    if (schema.additionalProperties && typeof schema.additionalProperties === 'object') walk(schema.additionalProperties, `${at}/*`, stack);
  };
  walk({ $ref: ref }, '', []);
  return new Map([...out].map(([p, s]) => [p, `${s.required ? 'required ' : ''}${[...s.types].sort().join('|') || '-'}`]));
}

/**
 * What changed from schema bundle `before` to `after`: methods added/removed per union, and
 * for each method both have, the params/result fields added, removed or changed
 * (required-ness, type).
 */
export function diffProtocols(before, after) {
  const a = protocolSurface(before);
  const b = protocolSurface(after);
  const methods = {};
  const fields = [];
  for (const union of Object.keys(UNION_LABELS)) {
    methods[union] = {
      added: [...b[union].keys()].filter((m) => !a[union].has(m)).sort(),
      removed: [...a[union].keys()].filter((m) => !b[union].has(m)).sort(),
    };
    for (const [method, was] of a[union]) {
      const now = b[union].get(method);
      if (!now) continue;
      for (const part of ['params', 'result']) {
        if (!was[part] && !now[part]) continue;
        const entry = { union, method, part, added: [], removed: [], changed: [] };
        if (!was[part] || !now[part]) {
          // e.g. a method that gained params, or whose result type cannot be found.
          entry.changed.push({ path: '', from: was[part] ? refName(was[part]) : 'none', to: now[part] ? refName(now[part]) : 'none' });
        } else {
          const fa = fieldPaths(before, was[part]);
          const fb = fieldPaths(after, now[part]);
          entry.added = [...fb.keys()].filter((p) => !fa.has(p)).sort();
          entry.removed = [...fa.keys()].filter((p) => !fb.has(p)).sort();
          entry.changed = [...fa.keys()]
            .filter((p) => fb.has(p) && fa.get(p) !== fb.get(p))
            .sort()
            .map((p) => ({ path: p, from: fa.get(p), to: fb.get(p) }));
        }
        if (entry.added.length || entry.removed.length || entry.changed.length) fields.push(entry);
      }
    }
  }
  return { methods, fields };
}

/** Counts of a diff, for the README table. */
export function diffCounts(diff) {
  const sum = (f) => Object.values(diff.methods).reduce((n, m) => n + m[f].length, 0);
  const sumFields = (f) => diff.fields.reduce((n, e) => n + e[f].length, 0);
  return {
    methodsAdded: sum('added'),
    methodsRemoved: sum('removed'),
    fieldsAdded: sumFields('added'),
    fieldsRemoved: sumFields('removed'),
    fieldsChanged: sumFields('changed'),
    methodsWithFieldChanges: new Set(diff.fields.map((e) => `${e.union} ${e.method}`)).size,
  };
}

/** The experimental diff minus what the stable diff already reports. */
function experimentalOnly(x, s) {
  const methods = {};
  for (const [union, m] of Object.entries(x.methods)) {
    methods[union] = {
      added: m.added.filter((v) => !s.methods[union].added.includes(v)),
      removed: m.removed.filter((v) => !s.methods[union].removed.includes(v)),
    };
  }
  const key = (e) => `${e.union} ${e.method} ${e.part}`;
  const stable = new Map(s.fields.map((e) => [key(e), e]));
  const fields = [];
  for (const e of x.fields) {
    const se = stable.get(key(e));
    const seen = (list, p) => (se ? se[list].some((v) => (typeof v === 'string' ? v === p : v.path === p.path && v.to === p.to)) : false);
    const left = {
      ...e,
      added: e.added.filter((p) => !seen('added', p)),
      removed: e.removed.filter((p) => !seen('removed', p)),
      changed: e.changed.filter((c) => !seen('changed', c)),
    };
    if (left.added.length || left.removed.length || left.changed.length) fields.push(left);
  }
  return { methods, fields };
}

function readBundle(dir, label) {
  const file = path.join(dir, BUNDLE);
  if (!fs.existsSync(file)) throw new Error(`${label}: ${BUNDLE} not found in ${dir}`);
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/** The committed pinned schema (protocol/), which `--check` keeps equal to the pinned codex. */
function pinnedBundles() {
  const stable = readBundle(path.join(PROTOCOL_DIR, 'schema'), 'protocol/schema');
  const xDir = path.join(PROTOCOL_DIR, 'schema-experimental');
  // schema-experimental/ holds only files that differ from schema/.
  const experimental = fs.existsSync(path.join(xDir, BUNDLE)) ? readBundle(xDir, 'protocol/schema-experimental') : stable;
  const version = /codex (\S+)/.exec(stable.$comment ?? '')?.[1];
  if (!version) throw new Error(`protocol/schema/${BUNDLE} does not say which codex generated it; run \`node ${SCRIPT}\``);
  return { version, stable, experimental };
}

/** Both schema bundles of another codex version, installed into the compat cache. */
function versionBundles(version) {
  const codex = installCodex(version);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'codex-native-diff-'));
  try {
    const home = path.join(work, 'codex-home');
    fs.mkdirSync(home, { recursive: true });
    assertHelpHasExperimental(codex, 'generate-json-schema', home);
    runCodex(codex, ['app-server', 'generate-json-schema', '--out', path.join(work, 'schema')], home);
    runCodex(codex, ['app-server', 'generate-json-schema', '--experimental', '--out', path.join(work, 'schemaX')], home);
    return {
      version,
      stable: readBundle(path.join(work, 'schema'), `codex ${version}`),
      experimental: readBundle(path.join(work, 'schemaX'), `codex ${version} --experimental`),
    };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** The diff from the pinned protocol to `version`'s: { from, to, stable, experimental, counts }. */
export function diffAgainstPinned(version) {
  const pinned = pinnedBundles();
  const other = versionBundles(version);
  const stable = diffProtocols(pinned.stable, other.stable);
  const experimental = experimentalOnly(diffProtocols(pinned.experimental, other.experimental), stable);
  return { from: pinned.version, to: version, stable, experimental, counts: diffCounts(stable), experimentalCounts: diffCounts(experimental) };
}

function diffText(d) {
  const lines = [`protocol changes from codex ${d.from} (pinned) to ${d.to}`];
  const section = (title, diff) => {
    lines.push('', `${title}:`);
    let any = false;
    for (const [union, m] of Object.entries(diff.methods)) {
      if (!m.added.length && !m.removed.length) continue;
      any = true;
      lines.push(`  ${UNION_LABELS[union]}: +${m.added.length} -${m.removed.length}`);
      for (const v of m.added) lines.push(`    + ${v}`);
      for (const v of m.removed) lines.push(`    - ${v}`);
    }
    for (const e of diff.fields) {
      any = true;
      lines.push(`  ${e.method} ${e.part} (${UNION_LABELS[e.union].replace(/s$/, '')}):`);
      for (const p of e.added) lines.push(`    + ${p}`);
      for (const p of e.removed) lines.push(`    - ${p}`);
      for (const c of e.changed) lines.push(`    ~ ${c.path || '(type)'}: ${c.from} -> ${c.to}`);
    }
    if (!any) lines.push('  no changes');
  };
  section('stable protocol', d.stable);
  section('experimental API only (experimentalApi: true), beyond the above', d.experimental);
  const c = d.counts;
  lines.push(
    '',
    `stable: methods +${c.methodsAdded} -${c.methodsRemoved}; fields +${c.fieldsAdded} -${c.fieldsRemoved} ~${c.fieldsChanged} in ${c.methodsWithFieldChanges} method(s)`,
  );
  return lines.join('\n');
}

/** A short summary of a diff (what compat/results keep): method lists and counts. */
export function diffSummary(d) {
  const pick = (diff) =>
    Object.fromEntries(Object.entries(diff.methods).filter(([, m]) => m.added.length || m.removed.length));
  return {
    vs: d.from,
    counts: d.counts,
    experimentalCounts: d.experimentalCounts,
    methods: pick(d.stable),
    experimentalMethods: pick(d.experimental),
    changedMethods: [...new Set(d.stable.fields.map((e) => e.method))].sort(),
  };
}

/** One Markdown bullet for the README compatibility notes, from a diffSummary. */
export function diffMarkdown(version, s) {
  const list = (names, max = 8) =>
    names.length > max ? `${names.slice(0, max).map((n) => `\`${n}\``).join(', ')} and ${names.length - max} more` : names.map((n) => `\`${n}\``).join(', ');
  const parts = [];
  for (const [union, m] of Object.entries(s.methods)) {
    if (m.added.length) parts.push(`${UNION_LABELS[union]} added: ${list(m.added)}`);
    if (m.removed.length) parts.push(`${UNION_LABELS[union]} removed: ${list(m.removed)}`);
  }
  const c = s.counts;
  if (c.fieldsAdded || c.fieldsRemoved || c.fieldsChanged) {
    parts.push(`fields +${c.fieldsAdded} / -${c.fieldsRemoved} / changed ${c.fieldsChanged} in ${list(s.changedMethods, 6)}`);
  }
  const xc = s.experimentalCounts;
  const xm = xc.methodsAdded + xc.methodsRemoved;
  const xf = xc.fieldsAdded + xc.fieldsRemoved + xc.fieldsChanged;
  if (xm || xf) parts.push(`experimental API: ${xm} method(s) and ${xf} field(s) added, removed or changed beyond that`);
  return `- **${version}** vs ${s.vs}: ${parts.length ? parts.join('; ') : 'no protocol changes'}.`;
}

const USAGE = `usage: node ${SCRIPT} [--check]
       node ${SCRIPT} --diff <codex-version> [--markdown | --json]`;

function main(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        check: { type: 'boolean' },
        diff: { type: 'string' },
        markdown: { type: 'boolean' },
        json: { type: 'boolean' },
      },
    }));
    if (values.diff !== undefined) {
      checkVersionArgument(values.diff);
      if (values.check) throw new Error('--check and --diff do not go together');
      if (values.markdown && values.json) throw new Error('--markdown and --json do not go together');
    } else if (values.markdown || values.json) {
      throw new Error('--markdown and --json need --diff <codex-version>');
    }
  } catch (err) {
    console.error(`${USAGE}\n${err.message}`);
    return 2;
  }
  if (values.diff !== undefined) {
    const d = diffAgainstPinned(values.diff);
    if (values.json) console.log(JSON.stringify({ ...d, summary: diffSummary(d) }, null, 2));
    else if (values.markdown) console.log(diffMarkdown(values.diff, diffSummary(d)));
    else console.log(diffText(d));
    return 0;
  }
  const check = values.check === true;
  const { files, methods, protocol, version } = generate();
  const trees = [
    { dir: PROTOCOL_DIR, label: 'protocol', files },
    { dir: METHODS_DIR, label: 'js/generated', files: methods },
  ];

  if (check) {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'codex-native-check-'));
    try {
      let differs = false;
      for (const { dir, label, files: tree } of trees) {
        const fresh = path.join(tmp, ...label.split('/'));
        writeTree(fresh, tree);
        const { missing, extra, changed } = compareTrees(fresh, dir);
        if (!missing.length && !extra.length && !changed.length) {
          console.log(`${label}/ is up to date with codex ${version} (${tree.size} files)`);
          continue;
        }
        differs = true;
        console.error(`${label}/ differs from what codex ${version} generates:`);
        for (const f of missing) console.error(`  added    ${label}/${f}   (generated, missing from ${label}/)`);
        for (const f of extra) console.error(`  removed  ${label}/${f}   (in ${label}/, not generated)`);
        for (const f of changed) console.error(`  changed  ${label}/${f}`);
        console.error(`${missing.length} added, ${extra.length} removed, ${changed.length} changed; run \`node ${SCRIPT}\``);
      }
      return differs ? 1 : 0;
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }

  // Write only what changed and delete what is no longer generated.
  let written = 0;
  let removed = 0;
  for (const { dir, files: tree } of trees) {
    const existing = new Set(listFiles(dir));
    for (const [rel, text] of tree) {
      const abs = path.join(dir, ...rel.split('/'));
      if (existing.has(rel) && fs.readFileSync(abs, 'utf8') === text) continue;
      fs.mkdirSync(path.dirname(abs), { recursive: true });
      fs.writeFileSync(abs, text);
      written += 1;
    }
    for (const rel of existing) {
      if (!tree.has(rel)) {
        fs.rmSync(path.join(dir, ...rel.split('/')));
        removed += 1;
      }
    }
    if (fs.existsSync(dir)) removeEmptyDirs(dir);
  }
  const { unions, unmapped } = protocol;
  console.log(
    `protocol/ and js/generated/ from codex ${version}: ${files.size + methods.size} files (${written} written, ${removed} removed); ` +
      `client requests ${unions.ClientRequest.stable.length} stable + ${unions.ClientRequest.experimentalOnly.length} experimental, ` +
      `notifications ${unions.ServerNotification.stable.length}, server requests ${unions.ServerRequest.stable.length}` +
      ` + ${unions.ServerRequest.experimentalOnly.length} experimental`,
  );
  if (unmapped.length) console.log(`result type not mapped (unknown): ${unmapped.join(', ')}`);
  return 0;
}

// Run only as a script: the diff functions are imported by scripts/compat.mjs and the tests.
if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    console.error(`${SCRIPT}: ${err instanceof Error ? err.message : err}`);
    process.exitCode = 1;
  }
}
