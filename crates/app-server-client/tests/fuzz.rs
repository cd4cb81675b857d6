//! Fuzzing, at a bounded case count so that it runs with every `cargo test`:
//!
//! * `decode_*`: `frame::decode` on arbitrary strings (lossy random bytes, mutated frames,
//!   deep nesting, huge numbers, escaped and duplicate keys, ids of every JSON type) never
//!   panics, and on well-formed frames returns exactly what was written;
//! * `line_reader_*`: `LineReader` over arbitrary bytes cut at arbitrary read boundaries yields
//!   the newline split of its input (blank lines skipped, CR stripped, oversized lines as
//!   `TooLarge` with their size, non-UTF-8 lines as `NotUtf8`);
//! * `session_*`: a `Session` against a peer writing thousands of random frames while the client
//!   makes requests, starts turns and listens: nothing panics, every request settles, every
//!   server request is answered exactly once, and once the peer closes, everything settles with
//!   `TRANSPORT_CLOSED` and nothing is left registered.
//!
//! Every case draws from its own generator (`rand`'s SmallRng), seeded from the base seed and the case
//! number; a failing case prints how to replay it. Environment:
//!
//! * `FUZZ_SEED=<n | 0xhex | random>` base seed (default: a fixed one, so CI is reproducible);
//! * `FUZZ_CASES=<n>` case count of every fuzz test, or `FUZZ_SCALE=<x>` to multiply defaults;
//! * `FUZZ_ONLY_CASE=<i>` runs case `i` alone (replay);
//! * `FUZZ_DUP_TURN_IDS=1` lets the fake server answer `turn/start` with a turn id already in
//!   use (see `a_duplicate_turn_id_settles_both_turns`). Its "well-behaved" phase completes
//!   turns by id only, while the client scopes turn ids to their thread, so in this mode a
//!   phase-B hang on an id reused across threads is the harness's, not the client's;
//! * `FUZZ_DUP_REQUEST_IDS=1` lets it send a server request with the id of one still pending
//!   (see `server_requests_with_the_same_id_all_get_answers`);
//!
//! e.g. `FUZZ_SEED=random FUZZ_SCALE=50 cargo test -p app-server-client --test fuzz -- --nocapture`.
//! The session fuzz also depends on task scheduling, so a replay reproduces its frames and
//! operations exactly but not necessarily their interleaving.
//!
//! The tests after the fuzzers are regression tests for defects the fuzzing found (all fixed).

use std::collections::{HashMap, HashSet};
use std::io;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use app_server_client::frame::{decode, DecodeError, Incoming, ResponseId};
use app_server_client::transport::{FrameReader, LineReader, LineWriter, ReadFrame};
use app_server_client::{
    Diagnostic, Error, EventStream, Input, RetryPolicy, Session, SessionOptions, Thread, TurnSetup,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader, DuplexStream, Lines,
    ReadBuf, ReadHalf, WriteHalf,
};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

mod common;
use common::peer::{self, Peer};

// ---------------------------------------------------------------------------------------------
// Deterministic randomness and case bookkeeping
// ---------------------------------------------------------------------------------------------

const DEFAULT_SEED: u64 = 0x5EED_F022_C0DE_0001;

/// Mixes the base seed and a case number into that case's seed (a hash, not a generator).
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The crate's one RNG (`rand`), seeded: the same seed gives the same cases (with the locked
/// `rand` version).
struct Rng(rand::rngs::SmallRng);

impl Rng {
    fn new(seed: u64) -> Rng {
        use rand::SeedableRng;
        Rng(rand::rngs::SmallRng::seed_from_u64(seed))
    }
    fn next(&mut self) -> u64 {
        use rand::Rng as _;
        self.0.next_u64()
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    /// Inclusive.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    fn fork(&mut self) -> Rng {
        Rng::new(self.next())
    }
    fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            xs.swap(i, self.below(i + 1));
        }
    }
}

fn env_number(name: &str) -> Option<u64> {
    let s = std::env::var(name).ok()?;
    let s = s.trim();
    let parsed = match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={s} is not a number")))
}

struct Fuzz {
    name: &'static str,
    base: u64,
    cases: usize,
    only: Option<usize>,
}

impl Fuzz {
    fn new(name: &'static str, default_cases: usize) -> Fuzz {
        let base = match std::env::var("FUZZ_SEED").as_deref() {
            Ok("random") => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1),
            Ok(_) => env_number("FUZZ_SEED").unwrap(),
            Err(_) => DEFAULT_SEED,
        };
        let scale: f64 = std::env::var("FUZZ_SCALE")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1.0);
        let cases = env_number("FUZZ_CASES")
            .map(|n| n as usize)
            .unwrap_or_else(|| ((default_cases as f64 * scale).ceil() as usize).max(1));
        Fuzz {
            name,
            base,
            cases,
            only: env_number("FUZZ_ONLY_CASE").map(|n| n as usize),
        }
    }

    /// (case number, case seed, guard that prints the replay command if the case panics).
    fn cases(&self) -> impl Iterator<Item = (usize, u64, CaseGuard)> + '_ {
        let ids: Vec<usize> = match self.only {
            Some(i) => vec![i],
            None => (0..self.cases).collect(),
        };
        let salt = self.name.bytes().fold(0xCBF2_9CE4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01B3)
        });
        ids.into_iter().map(move |i| {
            let seed = splitmix(self.base ^ splitmix(i as u64 ^ salt));
            let guard = CaseGuard(format!(
                "\n*** fuzz `{}` failed at case {i} (case seed {seed:#x}); replay with \
                 FUZZ_SEED={:#x} FUZZ_ONLY_CASE={i} cargo test -p app-server-client --test fuzz {}\n",
                self.name, self.base, self.name
            ));
            (i, seed, guard)
        })
    }
}

struct CaseGuard(String);

impl Drop for CaseGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.0);
        }
    }
}

fn ms(n: usize) -> Duration {
    Duration::from_millis(n as u64)
}

// ---------------------------------------------------------------------------------------------
// JSON text generators
// ---------------------------------------------------------------------------------------------

const ATOMS: &[&str] = &[
    "a", "b", "z", "Q", "0", "7", "/", "_", "-", ".", " ", "\"", "\\", "\n", "\r", "\t", "\u{0}",
    "\u{1f}", "\u{7f}", "é", "ß", "ж", "😀", "\u{2028}", "\u{a0}", "\u{feff}", "{", "}", "[", "]",
    ":", ",", "method", "params", "id", "turn", "null", "\\u0000",
];

const METHODS: &[&str] = &[
    "turn/started",
    "turn/completed",
    "item/agentMessage/delta",
    "item/completed",
    "item/started",
    "thread/tokenUsage/updated",
    "thread/started",
    "error",
    "item/commandExecution/requestApproval",
    "item/fileChange/requestApproval",
    "execCommandApproval",
    "applyPatchApproval",
    "mcpServer/elicitation/request",
    "item/permissions/requestApproval",
    "item/tool/call",
    "",
    "method",
    "a/b",
];

fn text(rng: &mut Rng, max_atoms: usize) -> String {
    (0..rng.range(0, max_atoms))
        .map(|_| *rng.pick(ATOMS))
        .collect()
}

fn method_name(rng: &mut Rng) -> String {
    if rng.chance(70) {
        rng.pick(METHODS).to_string()
    } else {
        text(rng, 6)
    }
}

/// A JSON string literal for `s`, escaped in one of several legal ways.
fn encode_str(rng: &mut Rng, s: &str) -> String {
    match rng.below(8) {
        0 => {
            let mut out = String::from("\"");
            for unit in s.encode_utf16() {
                out.push_str(&format!("\\u{unit:04x}"));
            }
            out.push('"');
            out
        }
        1 => serde_json::to_string(s).unwrap().replace('/', "\\/"),
        _ => serde_json::to_string(s).unwrap(),
    }
}

/// Optional whitespace between tokens (never a newline: frames are lines).
fn ws(rng: &mut Rng) -> &'static str {
    if rng.chance(85) {
        ""
    } else {
        const SPACES: &[&str] = &[" ", "\t", "\r", "  ", " \t\r "];
        rng.pick::<&str>(SPACES)
    }
}

fn number(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => (rng.next() as i64).to_string(),
        1 => rng.below(100).to_string(),
        _ => rng
            .pick(&[
                "0",
                "-0",
                "1",
                "-1",
                "42",
                "9223372036854775807",
                "-9223372036854775808",
                "9223372036854775808",
                "-9223372036854775809",
                "18446744073709551616",
                "123456789012345678901234567890",
                "1e999",
                "-1e999",
                "1.5",
                "1e-400",
                "0.0",
                "1E+2",
                "2.5e-3",
                "-0.0",
            ])
            .to_string(),
    }
}

const KEYS: &[&str] = &[
    "threadId",
    "turnId",
    "turn",
    "id",
    "status",
    "error",
    "delta",
    "itemId",
    "item",
    "tokenUsage",
    "method",
    "params",
    "text",
    "type",
    "k",
];
/// Keys of random payloads that must not look like a thread or a turn (see the session fuzz).
const SAFE_KEYS: &[&str] = &["k", "v", "data", "x", "ok", "list", "😀", "a\"b", ""];

fn json(rng: &mut Rng, depth: usize, keys: &[&str]) -> String {
    let kind = if depth == 0 {
        rng.below(5)
    } else {
        rng.below(8)
    };
    match kind {
        0 => "null".into(),
        1 => rng.pick(&["true", "false"]).to_string(),
        2 => number(rng),
        3 | 4 => {
            let s = text(rng, 8);
            encode_str(rng, &s)
        }
        5 | 6 => {
            let items: Vec<String> = (0..rng.below(4))
                .map(|_| json(rng, depth - 1, keys))
                .collect();
            let sep = format!("{},{}", ws(rng), ws(rng));
            format!("[{}{}{}]", ws(rng), items.join(&sep), ws(rng))
        }
        _ => {
            let mut members = Vec::new();
            for _ in 0..rng.below(4) {
                // Free-form keys only with the full pool: SAFE_KEYS payloads must never hold a
                // "turn" or a "thread".
                let free = keys.contains(&"turn") && rng.chance(20);
                let k = if free {
                    text(rng, 3)
                } else {
                    rng.pick(keys).to_string()
                };
                members.push((encode_str(rng, &k), json(rng, depth - 1, keys)));
            }
            object(rng, members)
        }
    }
}

/// A random `result` that cannot pass for a `turn/start` or `thread/start` answer: an object
/// without "turn" or "thread", or a scalar. (Arrays can: `[["x"]]` reads as
/// `{"turn":{"id":"x"}}`, see `arrays_never_decode_as_objects`.)
fn random_result(rng: &mut Rng) -> String {
    if rng.chance(20) {
        return json(rng, 0, SAFE_KEYS);
    }
    let mut members = Vec::new();
    for _ in 0..rng.below(4) {
        let k = *rng.pick(SAFE_KEYS);
        members.push((encode_str(rng, k), json(rng, 2, SAFE_KEYS)));
    }
    object(rng, members)
}

/// `{key: value, ...}` from already encoded keys and values, with random whitespace.
fn object(rng: &mut Rng, members: Vec<(String, String)>) -> String {
    let parts: Vec<String> = members
        .into_iter()
        .map(|(k, v)| format!("{k}{}:{}{v}", ws(rng), ws(rng)))
        .collect();
    let sep = format!("{},{}", ws(rng), ws(rng));
    format!("{{{}{}{}}}", ws(rng), parts.join(&sep), ws(rng))
}

fn key(rng: &mut Rng, k: &str) -> String {
    if rng.chance(8) {
        encode_str(rng, k)
    } else {
        format!("\"{k}\"")
    }
}

/// An id of any JSON type but null (a null id is no id).
fn any_id(rng: &mut Rng) -> String {
    let id = match rng.below(8) {
        0 | 1 => number(rng),
        2 => rng.below(1000).to_string(),
        3 => {
            let s = text(rng, 4);
            encode_str(rng, &s)
        }
        4 => rng
            .pick(&[
                "true",
                "false",
                "[]",
                "{}",
                "[1,2]",
                "{\"id\":1}",
                "\"1\"",
                "1.0",
                "[ 1 , \"x\" ]",
            ])
            .to_string(),
        _ => json(rng, 2, KEYS),
    };
    if id == "null" {
        "\"null\"".into()
    } else {
        id
    }
}

// ---------------------------------------------------------------------------------------------
// 1. frame::decode
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Keys {
    /// Non-object params: decode's keys are not checked (see `arrays_never_decode_as_objects`).
    unchecked: bool,
    thread_id: Option<String>,
    turn_id: Option<String>,
    nested_turn_id: Option<String>,
    delta: Option<String>,
}

/// What a well-formed frame must decode to.
#[derive(Debug)]
enum Expect {
    Notification {
        method: String,
        verbatim: bool,
        keys: Keys,
    },
    Request {
        id: String,
        method: String,
        params: String,
        keys: Keys,
    },
    Response {
        id: String,
        outcome: Result<String, (i64, String, Option<String>)>,
    },
    Invalid,
}

/// `params` with typed routing keys; returns its text and the keys decode must find.
fn params(rng: &mut Rng) -> (String, Keys) {
    let mut keys = Keys::default();
    match rng.below(10) {
        0 => {
            keys.unchecked = true;
            return (format!("[{}]", json(rng, 2, KEYS)), keys);
        }
        1 => return ("null".into(), keys),
        2 => {
            keys.unchecked = true;
            return (
                rng.pick(&["[1,2,3]", "\"str\"", "42", "true", "[]", "[\"t\",\"u\"]"])
                    .to_string(),
                keys,
            );
        }
        _ => {}
    }
    let mut members = Vec::new();
    let string_member = |rng: &mut Rng,
                         name: &str,
                         slot: &mut Option<String>,
                         members: &mut Vec<(String, String)>| {
        match rng.below(4) {
            0 => {}
            1 => members.push((key(rng, name), "null".into())),
            _ => {
                let v = if rng.chance(60) {
                    format!("{}{}", name.chars().next().unwrap(), rng.below(5))
                } else {
                    text(rng, 5)
                };
                members.push((key(rng, name), encode_str(rng, &v)));
                *slot = Some(v);
            }
        }
    };
    string_member(rng, "threadId", &mut keys.thread_id, &mut members);
    string_member(rng, "turnId", &mut keys.turn_id, &mut members);
    string_member(rng, "delta", &mut keys.delta, &mut members);
    let mut item_id = None;
    string_member(rng, "itemId", &mut item_id, &mut members);
    if rng.chance(40) {
        let mut turn_members = Vec::new();
        let mut turn_id = None;
        string_member(rng, "id", &mut turn_id, &mut turn_members);
        let mut status = None;
        string_member(rng, "status", &mut status, &mut turn_members);
        if rng.chance(50) {
            turn_members.push((key(rng, "error"), json(rng, 2, KEYS)));
        }
        if rng.chance(50) {
            turn_members.push((key(rng, "items"), json(rng, 2, KEYS)));
        }
        members.push((key(rng, "turn"), object(rng, turn_members)));
        keys.nested_turn_id = turn_id;
    }
    for name in ["item", "tokenUsage", "novel", "method", "x"] {
        if rng.chance(25) {
            members.push((key(rng, name), json(rng, 3, KEYS)));
        }
    }
    rng.shuffle(&mut members);
    (object(rng, members), keys)
}

fn extras(rng: &mut Rng, members: &mut Vec<(String, String)>) {
    if rng.chance(30) {
        members.push((key(rng, "jsonrpc"), "\"2.0\"".into()));
    }
    if rng.chance(20) {
        let k = rng
            .pick(&["extra", "Method", "ID", "Params", "x"])
            .to_string();
        members.push((format!("\"{k}\""), json(rng, 3, KEYS)));
    }
}

fn well_formed(rng: &mut Rng) -> (String, Expect) {
    let mut members = Vec::new();
    let mut expect = match rng.below(3) {
        0 => {
            let method = method_name(rng);
            let key_text = key(rng, "method");
            let value_text = encode_str(rng, &method);
            let verbatim = key_text == "\"method\"" && value_text == format!("\"{method}\"");
            members.push((key_text, value_text));
            let mut keys = Keys::default();
            if rng.chance(85) {
                let (p, k) = params(rng);
                members.push((key(rng, "params"), p));
                keys = k;
            }
            if rng.chance(10) {
                members.push((key(rng, "id"), "null".into()));
            }
            Expect::Notification {
                method,
                verbatim,
                keys,
            }
        }
        1 => {
            let id = any_id(rng);
            let method = method_name(rng);
            members.push((key(rng, "id"), id.clone()));
            members.push((key(rng, "method"), encode_str(rng, &method)));
            let (params, keys) = if rng.chance(85) {
                let (p, k) = params(rng);
                members.push((key(rng, "params"), p.clone()));
                (p, k)
            } else {
                ("null".to_owned(), Keys::default())
            };
            Expect::Request {
                id,
                method,
                params,
                keys,
            }
        }
        _ => {
            let id = any_id(rng);
            members.push((key(rng, "id"), id.clone()));
            let outcome = if rng.chance(40) {
                let code: i64 = match rng.below(3) {
                    0 => rng.next() as i64,
                    _ => *rng.pick(&[
                        -32001,
                        -32600,
                        -32601,
                        -32602,
                        -32603,
                        0,
                        1,
                        i64::MIN,
                        i64::MAX,
                    ]),
                };
                let mut err_members = vec![(key(rng, "code"), code.to_string())];
                let mut message = String::new();
                if rng.chance(80) {
                    message = text(rng, 6);
                    err_members.push((key(rng, "message"), encode_str(rng, &message)));
                }
                let mut data = None;
                if rng.chance(50) {
                    let d = json(rng, 3, KEYS);
                    data = (d != "null").then(|| d.clone());
                    err_members.push((key(rng, "data"), d));
                }
                members.push((key(rng, "error"), object(rng, err_members)));
                if rng.chance(20) {
                    members.push((key(rng, "result"), json(rng, 2, KEYS)));
                }
                Err((code, message, data))
            } else {
                if rng.chance(15) {
                    members.push((key(rng, "error"), "null".into()));
                }
                if rng.chance(90) {
                    let r = json(rng, 3, KEYS);
                    members.push((key(rng, "result"), r.clone()));
                    Ok(r)
                } else {
                    Ok("null".into())
                }
            };
            Expect::Response { id, outcome }
        }
    };
    extras(rng, &mut members);
    if rng.chance(8) && !members.is_empty() {
        // A known key twice is not a valid envelope (serde rejects duplicate fields).
        let i = rng.below(members.len());
        let dup = members[i].clone();
        let name: String = serde_json::from_str(&dup.0).unwrap();
        if ["id", "method", "params", "result", "error"].contains(&name.as_str()) {
            expect = Expect::Invalid;
        }
        members.push(dup);
    }
    rng.shuffle(&mut members);
    let mut frame = object(rng, members);
    if rng.chance(10) {
        frame = format!("{}{frame}{}", ws(rng), ws(rng));
    }
    (frame, expect)
}

fn mutate(rng: &mut Rng, s: &str) -> String {
    let mut b = s.as_bytes().to_vec();
    for _ in 0..rng.range(1, 3) {
        let len = b.len();
        let at = rng.below(len + 1);
        match rng.below(6) {
            0 => b.truncate(at),
            1 => {
                let end = (at + rng.range(1, 8)).min(len);
                b.drain(at..end);
            }
            2 => {
                let atom = *rng.pick(ATOMS);
                b.splice(at..at, atom.bytes());
            }
            3 if at < len => b[at] = *rng.pick(b"{}[]:,\"\\ 0a-e.\x00\xff"),
            4 => {
                let end = (at + rng.range(1, 16)).min(len);
                let copy = b[at..end].to_vec();
                b.splice(at..at, copy);
            }
            _ => {
                let end = (at + rng.range(1, 3)).min(len);
                let pieces: [&[u8]; 6] =
                    [&b"\\"[..], b"\"", b"\\u", b"\\ud800", b"}", b"{\"id\":1,"];
                let piece = *rng.pick(&pieces);
                b.splice(at..end, piece.iter().copied());
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

fn needs_escape(s: &str) -> bool {
    s.chars().any(|c| c == '"' || c == '\\' || c < ' ')
}

/// Raw id text of an object's `id` member, when it has exactly one.
fn raw_id(frame: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct IdOnly<'a> {
        #[serde(borrow)]
        id: &'a RawValue,
    }
    serde_json::from_str::<IdOnly>(frame)
        .ok()
        .map(|x| x.id.get().to_owned())
}

/// Decodes `input` and checks what holds for any input; returns the result for more checks.
fn decode_checked(input: &str) -> Result<Incoming, DecodeError> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let result = decode(input);
        check_any(input, &result);
        result
    }));
    match outcome {
        Ok(r) => r,
        Err(panic) => {
            let shown: String = input.chars().take(600).collect();
            eprintln!(
                "decode panicked or broke an invariant on input ({} bytes): {shown:?}",
                input.len()
            );
            resume_unwind(panic)
        }
    }
}

fn check_any(input: &str, result: &Result<Incoming, DecodeError>) {
    let Ok(incoming) = result else { return };
    let value: Option<Value> = serde_json::from_str(input).ok();
    if value.as_ref().is_some_and(|v| !v.is_object()) || input.trim_start().starts_with('[') {
        // A JSON array taken as [id, method, params, result, error]: known bug, see
        // `arrays_never_decode_as_objects`. Nothing below applies.
        return;
    }
    match incoming {
        Incoming::Notification(n) => {
            let m = n.method();
            if let Some(v) = &value {
                assert_eq!(
                    v.get("method").and_then(Value::as_str),
                    Some(m),
                    "method() differs from the frame's"
                );
                assert!(
                    v.get("id").is_none_or(Value::is_null),
                    "a frame with an id decoded as a notification"
                );
            }
            if &*n.raw != input && !needs_escape(m) {
                // Re-framed (the method was written with escapes): still one valid frame with the
                // same method. Methods that need escaping are a known bug, see
                // `escaped_method_names_keep_raw_valid_json`.
                assert!(
                    serde_json::from_str::<&RawValue>(&n.raw).is_ok(),
                    "re-framed raw is not JSON: {}",
                    n.raw
                );
                match decode(&n.raw) {
                    Ok(Incoming::Notification(again)) => assert_eq!(again.method(), m),
                    other => {
                        panic!("re-framed raw does not decode as the same notification: {other:?}")
                    }
                }
            }
        }
        Incoming::ServerRequest(r) => {
            assert!(r.id.get() != "null", "null id taken for a request");
            assert!(serde_json::from_str::<&RawValue>(r.params.get()).is_ok());
            if let Some(v) = &value {
                assert_eq!(
                    v.get("method").and_then(Value::as_str),
                    Some(r.method.as_str())
                );
            }
            assert_eq!(
                raw_id(input).as_deref(),
                Some(r.id.get()),
                "request id not kept verbatim"
            );
        }
        Incoming::Response { id, outcome } => {
            let text = raw_id(input).expect("a response has an id");
            match id {
                ResponseId::Int(n) => assert_eq!(text.parse::<i64>().ok(), Some(*n)),
                ResponseId::Other(s) => {
                    assert_eq!(s, &text);
                    assert!(text.parse::<i64>().is_err());
                }
            }
            if let Ok(result) = outcome {
                assert!(serde_json::from_str::<&RawValue>(result.get()).is_ok());
            }
        }
    }
}

fn check_expected(frame: &str, expect: &Expect, result: Result<Incoming, DecodeError>) {
    let context = || format!("frame {frame:?}, expected {expect:?}");
    match (expect, result) {
        (Expect::Invalid, Err(_)) => {}
        (
            Expect::Notification {
                method,
                verbatim,
                keys,
            },
            Ok(Incoming::Notification(n)),
        ) => {
            assert_eq!(n.method(), method, "{}", context());
            if *verbatim {
                assert_eq!(
                    &*n.raw,
                    frame,
                    "raw is not the frame as received: {}",
                    context()
                );
            }
            if !keys.unchecked {
                assert_eq!(n.thread_id(), keys.thread_id.as_deref(), "{}", context());
                assert_eq!(
                    n.turn_id(),
                    keys.turn_id.as_deref().or(keys.nested_turn_id.as_deref()),
                    "{}",
                    context()
                );
                assert_eq!(n.delta(), keys.delta.as_deref(), "{}", context());
            }
        }
        (
            Expect::Request {
                id,
                method,
                params,
                keys,
            },
            Ok(Incoming::ServerRequest(r)),
        ) if id != "null" => {
            assert_eq!(r.id.get(), id, "{}", context());
            assert_eq!(&r.method, method, "{}", context());
            assert_eq!(r.params.get(), params, "{}", context());
            if !keys.unchecked {
                assert_eq!(r.thread_id, keys.thread_id, "{}", context());
                assert_eq!(r.turn_id, keys.turn_id, "{}", context());
            }
        }
        (
            Expect::Response { id, outcome },
            Ok(Incoming::Response {
                id: got,
                outcome: got_outcome,
            }),
        ) => {
            let want = match id.parse::<i64>() {
                Ok(n) => ResponseId::Int(n),
                Err(_) => ResponseId::Other(id.clone()),
            };
            assert_eq!(got, want, "{}", context());
            match (outcome, got_outcome) {
                (Ok(r), Ok(got)) => assert_eq!(got.get(), r, "{}", context()),
                (Err((code, message, data)), Err(e)) => {
                    assert_eq!(
                        (e.code, &e.message, &e.data),
                        (*code, message, data),
                        "{}",
                        context()
                    )
                }
                (_, other) => panic!("outcome {other:?}: {}", context()),
            }
        }
        (_, other) => panic!("decoded as {other:?}: {}", context()),
    }
}

#[test]
fn decode_never_panics_and_keeps_well_formed_frames_intact() {
    let fuzz = Fuzz::new(
        "decode_never_panics_and_keeps_well_formed_frames_intact",
        3000,
    );
    let started = Instant::now();
    let mut decoded = 0usize;
    for (_, seed, _guard) in fuzz.cases() {
        let mut rng = Rng::new(seed);
        // Well-formed frames decode to exactly what was written.
        let (frame, expect) = well_formed(&mut rng);
        check_expected(&frame, &expect, decode_checked(&frame));
        // Their mutations (truncated, spliced, duplicated...) never panic.
        for _ in 0..4 {
            let mutated = mutate(&mut rng, &frame);
            let _ = decode_checked(&mutated);
        }
        // Arbitrary bytes, made UTF-8.
        let bytes: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
        let _ = decode_checked(&String::from_utf8_lossy(&bytes));
        let _ = decode_checked(&text(&mut rng, 20));
        // Arbitrary JSON values (most are not envelopes).
        let _ = decode_checked(&json(&mut rng, 4, KEYS));
        decoded += 8;
    }
    eprintln!(
        "decode fuzz: {} cases, {decoded} decodes in {:?}",
        fuzz.cases,
        started.elapsed()
    );
}

#[test]
fn decode_survives_deep_nesting_everywhere() {
    let fuzz = Fuzz::new("decode_survives_deep_nesting_everywhere", 40);
    for (case, seed, _guard) in fuzz.cases() {
        let mut rng = Rng::new(seed);
        // Far past any stack: one case by default (about a second in debug), more in long runs.
        let huge = case == 0 || (fuzz.cases > 100 && rng.chance(2));
        let depth = if huge {
            200_000
        } else {
            *rng.pick(&[1usize, 2, 127, 128, 129, 130, 1000, 20_000])
        };
        let array = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let obj = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        let open = "[{\"a\":".repeat(depth);
        let deep = if rng.chance(50) {
            array.clone()
        } else {
            obj.clone()
        };
        // (frame, must decode) — RawValue members are captured without recursion; typed members
        // fail on the first wrong token; unterminated nesting is an error.
        let cases: Vec<(String, Option<bool>)> = vec![
            // A deep array as a whole frame decodes (!) as a response whose id is the inner array:
            // see `arrays_never_decode_as_objects`.
            (deep.clone(), None),
            (open.clone(), Some(false)),
            (
                format!("{{\"method\":\"m\",\"params\":{deep}}}"),
                Some(true),
            ),
            (
                format!("{{\"method\":\"m\",\"params\":{{\"threadId\":\"t\",\"x\":{deep}}}}}"),
                Some(true),
            ),
            (
                format!("{{\"method\":\"m\",\"params\":{{\"turn\":{deep}}}}}"),
                Some(true),
            ),
            (format!("{{\"method\":\"m\",\"params\":{open}"), Some(false)),
            (format!("{{\"id\":{deep},\"method\":\"m\"}}"), Some(true)),
            (format!("{{\"id\":1,\"result\":{deep}}}"), Some(true)),
            (
                format!("{{\"id\":1,\"error\":{{\"code\":1,\"message\":\"m\",\"data\":{deep}}}}}"),
                Some(true),
            ),
            // A malformed error object still answers its request (as a malformed error).
            (
                format!("{{\"id\":1,\"error\":{{\"code\":{deep}}}}}"),
                Some(true),
            ),
            (format!("{{\"method\":{deep}}}"), Some(false)),
            (format!("{{\"unknown\":{deep}}}"), Some(false)),
            (format!("{{\"method\":\"m\",\"params\":{deep}"), Some(false)),
        ];
        for (frame, must_decode) in cases {
            let result = decode_checked(&frame);
            if let Some(ok) = must_decode {
                assert_eq!(
                    result.is_ok(),
                    ok,
                    "depth {depth}: {:?}…",
                    &frame[..frame.len().min(120)]
                );
            }
            if let Ok(Incoming::Notification(n)) = &result {
                assert_eq!(n.method(), "m");
                assert_eq!(&*n.raw, frame);
            }
        }
    }
}

#[test]
fn decode_classifies_ids_of_every_json_type() {
    let ids = [
        "0",
        "-0",
        "7",
        "-7",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775808",
        "1e999",
        "1.0",
        "1e2",
        "\"7\"",
        "\"\"",
        "\"\\u0037\"",
        "true",
        "false",
        "[]",
        "[7]",
        "{}",
        "{\"id\":7}",
    ];
    for id in ids {
        for frame in [
            format!("{{\"id\":{id},\"result\":1}}"),
            format!("{{\"id\": {id} ,\"error\":{{\"code\":-1}}}}"),
        ] {
            match decode_checked(&frame) {
                Ok(Incoming::Response {
                    id: ResponseId::Int(n),
                    ..
                }) => assert_eq!(id.parse::<i64>(), Ok(n), "{frame}"),
                Ok(Incoming::Response {
                    id: ResponseId::Other(s),
                    ..
                }) => {
                    assert_eq!(s, id, "{frame}");
                    assert!(id.parse::<i64>().is_err(), "{frame}");
                }
                other => panic!("{frame}: {other:?}"),
            }
        }
        match decode_checked(&format!(
            "{{\"id\":{id},\"method\":\"x/y\",\"params\":{{}}}}"
        )) {
            Ok(Incoming::ServerRequest(r)) => assert_eq!(r.id.get(), id),
            other => panic!("{id}: {other:?}"),
        }
    }
    // A null id is no id: a notification, or nothing at all.
    assert!(matches!(
        decode(r#"{"id":null,"method":"m"}"#),
        Ok(Incoming::Notification(_))
    ));
    assert!(decode(r#"{"id":null,"result":1}"#).is_err());
}

/// A notification whose method needs escaping is re-framed with the method written raw, which
/// is not JSON: `raw` must always be one valid frame (it goes to JavaScript as is).
#[test]
fn escaped_method_names_keep_raw_valid_json() {
    for frame in [
        r#"{"method":"a\"b","params":{}}"#,
        r#"{"method":"line\nbreak"}"#,
        r#"{"\u006dethod":"back\\slash"}"#,
    ] {
        let Ok(Incoming::Notification(n)) = decode(frame) else {
            panic!("{frame}")
        };
        let v: Value = serde_json::from_str(&n.raw)
            .unwrap_or_else(|e| panic!("raw {:?} of {frame} is not JSON: {e}", n.raw));
        assert_eq!(v["method"], n.method());
    }
}

/// serde-derived structs also deserialize from JSON arrays, by position. So `decode` takes a
/// top-level array as `[id, method, params, result, error]` (`[7]` answers request 7 with
/// null), an array `params` as `[threadId, turnId, turn, delta, ...]` (routing a notification
/// to a turn), and an array `error` as `[code, message, data]`.
#[test]
fn arrays_never_decode_as_objects() {
    for frame in [
        "[7]",
        "[7,null,null,{\"ok\":1}]",
        r#"[1,"item/commandExecution/requestApproval",{}]"#,
        r#"[null,"turn/completed"]"#,
    ] {
        assert!(
            decode(frame).is_err(),
            "{frame} decoded as {:?}",
            decode(frame)
        );
    }
    match decode(r#"{"method":"item/agentMessage/delta","params":["t1","u1"]}"#) {
        Ok(Incoming::Notification(n)) => assert_eq!(
            (n.thread_id(), n.turn_id()),
            (None, None),
            "array params routed"
        ),
        other => panic!("{other:?}"),
    }
    // An array where the error object belongs is not read by position: the answer still
    // settles its request, as a malformed error (not as code -32000).
    match decode(r#"{"id":1,"error":[-32000,"busy"]}"#) {
        Ok(Incoming::Response {
            outcome: Err(e), ..
        }) => assert_eq!(e.code, -32603, "{e:?}"),
        other => panic!("array error object accepted: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// 2. LineReader
// ---------------------------------------------------------------------------------------------

/// An `AsyncRead` that hands out its bytes in random chunk sizes, sometimes after a `Pending`.
struct Chunked {
    data: Vec<u8>,
    pos: usize,
    rng: Rng,
    max_chunk: usize,
}

impl AsyncRead for Chunked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.rng.chance(15) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let chunk = this.rng.range(1, this.max_chunk);
        let n = (this.data.len() - this.pos).min(buf.remaining()).min(chunk);
        buf.put_slice(&this.data[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

#[derive(Debug, PartialEq)]
enum Out {
    Frame(String),
    TooLarge(usize),
    NotUtf8,
}

/// What the reader must produce: the newline split, blank lines skipped, one CR stripped,
/// lines over `max` (CR included) reported with their size.
fn model(input: &[u8], max: usize) -> Vec<Out> {
    let mut segments: Vec<&[u8]> = input.split(|b| *b == b'\n').collect();
    if segments.last().is_some_and(|s| s.is_empty()) {
        segments.pop();
    }
    let mut out = Vec::new();
    for seg in segments {
        if seg.len() > max {
            out.push(Out::TooLarge(seg.len()));
            continue;
        }
        let seg = seg.strip_suffix(b"\r").unwrap_or(seg);
        match std::str::from_utf8(seg) {
            Err(_) => out.push(Out::NotUtf8),
            Ok(s) if s.trim().is_empty() => {}
            Ok(s) => out.push(Out::Frame(s.to_owned())),
        }
    }
    out
}

fn line_input(rng: &mut Rng, max: usize) -> Vec<u8> {
    let mut input = Vec::new();
    for _ in 0..rng.range(0, 12) {
        let seg: Vec<u8> = match rng.below(10) {
            0 => Vec::new(),
            1 => b"\r".to_vec(),
            2 => rng
                .pick(&[
                    " ",
                    "\t",
                    " \t ",
                    "\u{a0}",
                    "\u{2028}",
                    "\u{3000}",
                    "\u{b}\u{c}",
                    "\r\r",
                    " \r",
                ])
                .as_bytes()
                .to_vec(),
            3 => (0..rng.range(0, 2 * max + 2))
                .map(|_| rng.next() as u8)
                .collect(),
            4 => {
                let mut v = text(rng, 6).into_bytes();
                let pieces: [&[u8]; 5] = [
                    &b"\xff"[..],
                    b"\xc3",
                    b"\xe2\x82",
                    b"\xed\xa0\x80",
                    b"\xf0\x9f\x98",
                ];
                let broken = *rng.pick(&pieces);
                v.extend_from_slice(broken);
                v
            }
            5 => {
                let n = (max + rng.below(3)).saturating_sub(1);
                let mut v = vec![b'y'; n];
                if rng.chance(50) {
                    v.push(b'\r');
                }
                v
            }
            6 => vec![b'x'; rng.range(max, 3 * max + 1)],
            7 => json(rng, 3, KEYS).into_bytes(),
            8 => format!("a\rb\r{}\r\r", text(rng, 4)).into_bytes(),
            _ => text(rng, 10).into_bytes(),
        };
        input.extend_from_slice(&seg);
        input.extend_from_slice(if rng.chance(20) { b"\r\n" } else { b"\n" });
    }
    if rng.chance(40) {
        // A last line without a newline.
        input.extend_from_slice(text(rng, 5).as_bytes());
    }
    input
}

async fn read_all<R: AsyncBufRead + Unpin + Send>(mut reader: LineReader<R>) -> Vec<Out> {
    let mut out = Vec::new();
    loop {
        match reader
            .next_frame()
            .await
            .expect("in-memory reads do not fail")
        {
            Some(ReadFrame::Frame(s)) => out.push(Out::Frame(s)),
            Some(ReadFrame::TooLarge { size }) => out.push(Out::TooLarge(size)),
            Some(ReadFrame::NotUtf8) => out.push(Out::NotUtf8),
            None => break,
        }
    }
    // End of stream stays the end.
    assert!(reader.next_frame().await.unwrap().is_none());
    out
}

#[tokio::test]
async fn line_reader_splits_arbitrary_streams_at_arbitrary_boundaries() {
    let fuzz = Fuzz::new(
        "line_reader_splits_arbitrary_streams_at_arbitrary_boundaries",
        2000,
    );
    let started = Instant::now();
    for (_, seed, _guard) in fuzz.cases() {
        let mut rng = Rng::new(seed);
        let max = *rng.pick(&[0usize, 1, 2, 3, 8, 16, 64, 300, 1 << 20]);
        let input = line_input(&mut rng, max.min(400));
        let capacity = *rng.pick(&[1usize, 2, 3, 5, 8, 64, 4096]);
        let expected = model(&input, max);
        let read = async {
            if rng.chance(50) {
                let chunked = Chunked {
                    data: input.clone(),
                    pos: 0,
                    rng: rng.fork(),
                    max_chunk: rng.range(1, 50),
                };
                read_all(LineReader::new(
                    BufReader::with_capacity(capacity, chunked),
                    max,
                ))
                .await
            } else {
                read_all(LineReader::new(
                    BufReader::with_capacity(capacity, &input[..]),
                    max,
                ))
                .await
            }
        };
        let got = tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("LineReader hung");
        assert_eq!(
            got,
            expected,
            "max {max}, capacity {capacity}, input {:?}",
            String::from_utf8_lossy(&input)
        );
    }
    eprintln!(
        "line reader fuzz: {} cases in {:?}",
        fuzz.cases,
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// 3. The whole session against a chaotic peer
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct ClientRequest {
    id: i64,
    method: String,
    thread_id: Option<String>,
}

#[derive(Default)]
struct PeerState {
    /// Client requests this peer has not answered for good yet.
    outstanding: Vec<ClientRequest>,
    max_client_id: i64,
    final_requests: usize,
    /// Server request id (raw text) -> how many times sent = answers owed.
    owed: HashMap<String, usize>,
    /// The request lines behind `owed`, and the answer lines, for failure reports.
    request_lines: HashMap<String, Vec<String>>,
    answer_lines: HashMap<String, Vec<String>>,
    answers: HashMap<String, usize>,
    /// Client frames that are neither request, answer nor notification.
    strange: Vec<String>,
    client_eof: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<PeerState>,
    progress: Notify,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, PeerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn wait_for(&self, limit: Duration, cond: impl Fn(&PeerState) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.progress.notified();
            if cond(&self.state()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return cond(&self.state());
            }
        }
    }

    fn unanswered(&self) -> Vec<String> {
        let st = self.state();
        st.owed
            .iter()
            .filter(|(id, n)| st.answers.get(*id).copied().unwrap_or(0) != **n)
            .map(|(id, n)| {
                format!(
                    "{id} (sent {n}, answered {}): requests {:?}, answers {:?}",
                    st.answers.get(id).copied().unwrap_or(0),
                    st.request_lines.get(id),
                    st.answer_lines.get(id)
                )
            })
            .collect()
    }
}

/// Reads what the client writes: requests to answer, and answers to count.
async fn peer_read(mut lines: Lines<BufReader<ReadHalf<DuplexStream>>>, shared: Arc<Shared>) {
    #[derive(Deserialize)]
    struct Msg<'a> {
        #[serde(borrow, default)]
        id: Option<&'a RawValue>,
        #[serde(default)]
        method: Option<String>,
        #[serde(borrow, default)]
        params: Option<&'a RawValue>,
    }
    while let Ok(Some(line)) = lines.next_line().await {
        {
            let mut st = shared.state();
            match serde_json::from_str::<Msg>(&line) {
                Ok(Msg {
                    id: Some(id),
                    method: Some(method),
                    params,
                }) => match id.get().parse::<i64>() {
                    Ok(n) => {
                        let thread_id = params
                            .and_then(|p| serde_json::from_str::<Value>(p.get()).ok())
                            .and_then(|p| {
                                p.get("threadId").and_then(Value::as_str).map(str::to_owned)
                            });
                        st.max_client_id = st.max_client_id.max(n);
                        if method == "fuzz/final" {
                            st.final_requests += 1;
                        }
                        st.outstanding.push(ClientRequest {
                            id: n,
                            method,
                            thread_id,
                        });
                    }
                    Err(_) => st.strange.push(line),
                },
                Ok(Msg {
                    id: Some(id),
                    method: None,
                    ..
                }) => {
                    *st.answers.entry(id.get().to_owned()).or_default() += 1;
                    st.answer_lines
                        .entry(id.get().to_owned())
                        .or_default()
                        .push(line.clone());
                }
                Ok(Msg {
                    id: None,
                    method: Some(_),
                    ..
                }) => {}
                _ => st.strange.push(line),
            }
        }
        shared.progress.notify_waiters();
    }
    shared.state().client_eof = true;
    shared.progress.notify_waiters();
}

const THREADS: &[&str] = &["t0", "t1", "t2", "t3"];

/// The fake server: writes random frames and answers (or mis-answers) the client.
struct PeerWriter {
    out: WriteHalf<DuplexStream>,
    rng: Rng,
    shared: Arc<Shared>,
    max_frame: usize,
    dup_turn_ids: bool,
    dup_request_ids: bool,
    next_request: u64,
    sent_request_ids: Vec<String>,
    next_turn: u64,
    /// (turn id, thread id) of every turn/start answered with a turn.
    issued: Vec<(String, String)>,
    frames: usize,
    bytes: usize,
}

impl PeerWriter {
    /// Writes whole lines, first counting the server requests among them exactly as the
    /// client's reader will see them: those are owed one answer each.
    async fn send(&mut self, bytes: Vec<u8>) {
        debug_assert!(bytes.ends_with(b"\n"));
        {
            let mut st = self.shared.state();
            let mut segments: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
            segments.pop();
            for seg in segments {
                self.frames += 1;
                if seg.len() > self.max_frame {
                    continue;
                }
                let seg = seg.strip_suffix(b"\r").unwrap_or(seg);
                let Ok(text) = std::str::from_utf8(seg) else {
                    continue;
                };
                if let Ok(Incoming::ServerRequest(r)) = decode(text) {
                    *st.owed.entry(r.id.get().to_owned()).or_default() += 1;
                    st.request_lines
                        .entry(r.id.get().to_owned())
                        .or_default()
                        .push(text.to_owned());
                }
            }
        }
        self.bytes += bytes.len();
        self.out.write_all(&bytes).await.expect("peer write");
    }

    fn line(&mut self, text: impl Into<String>) -> Vec<u8> {
        let mut v = text.into().into_bytes();
        v.extend_from_slice(if self.rng.chance(15) { b"\r\n" } else { b"\n" });
        v
    }

    fn thread(&mut self) -> String {
        match self.rng.below(10) {
            0 => text(&mut self.rng, 3),
            1 if !self.issued.is_empty() => self.rng.pick(&self.issued).1.clone(),
            _ => self.rng.pick(THREADS).to_string(),
        }
    }

    fn turn(&mut self) -> String {
        match self.rng.below(10) {
            0..=5 if !self.issued.is_empty() => {
                // Mostly recent turns, which are the live ones.
                let n = self.issued.len();
                self.issued[n - 1 - self.rng.below(n.min(8))].0.clone()
            }
            6 => text(&mut self.rng, 3),
            // Never issued. (Ids of future turns would sit in a thread's early-event queue and
            // complete those turns the moment they start.)
            _ => format!("x{}", self.rng.below(8)),
        }
    }

    fn notification(&mut self) -> String {
        let rng = &mut self.rng;
        let method = if rng.chance(85) {
            rng.pick(&[
                "turn/started",
                "turn/completed",
                "item/agentMessage/delta",
                "item/agentMessage/delta",
                "item/completed",
                "thread/tokenUsage/updated",
                "item/started",
                "thread/status/changed",
            ])
            .to_string()
        } else {
            method_name(rng)
        };
        let thread = self.thread();
        let turn = self.turn();
        let rng = &mut self.rng;
        let mut params = Map::new();
        if rng.chance(90) {
            params.insert("threadId".into(), json!(thread));
        }
        match method.as_str() {
            "turn/started" | "turn/completed" if rng.chance(80) => {
                let status = rng.pick(&["inProgress", "completed", "interrupted", "failed", "?"]);
                let error = if rng.chance(30) {
                    json!({"message": text(rng, 4)})
                } else {
                    Value::Null
                };
                params.insert(
                    "turn".into(),
                    json!({"id": turn, "status": status, "error": error, "items": []}),
                );
            }
            _ => {
                if rng.chance(90) {
                    params.insert("turnId".into(), json!(turn));
                }
            }
        }
        if rng.chance(50) {
            params.insert("itemId".into(), json!(format!("i{}", rng.below(3))));
        }
        if method.contains("delta") || rng.chance(10) {
            params.insert("delta".into(), json!(text(rng, 5)));
        }
        if method == "item/completed" || rng.chance(10) {
            let kind = rng.pick(&["agentMessage", "reasoning", "commandExecution"]);
            params.insert(
                "item".into(),
                json!({"type": kind, "id": "i0", "text": text(rng, 5)}),
            );
        }
        if method.contains("tokenUsage") {
            params.insert(
                "tokenUsage".into(),
                json!({"total": {"totalTokens": rng.below(1000)}}),
            );
        }
        if rng.chance(5) {
            // Wrong types make the routing keys unusable; the frame still goes to listeners.
            params.insert("threadId".into(), json!(7));
        }
        let params = match rng.below(20) {
            0 => "[1,2]".to_owned(),
            1 => "null".to_owned(),
            _ => Value::Object(params).to_string(),
        };
        let method_json = encode_str(rng, &method);
        let mut frame = if rng.chance(5) {
            format!("{{\"method\":{method_json}}}")
        } else if rng.chance(50) {
            format!(
                "{{\"method\":{method_json},{}\"params\":{params}}}",
                ws(rng)
            )
        } else {
            format!("{{\"params\":{params},\"method\":{method_json},\"jsonrpc\":\"2.0\"}}")
        };
        if rng.chance(5) {
            frame = frame.replacen("\"method\"", "\"\\u006dethod\"", 1);
        }
        frame
    }

    fn error_object(&mut self) -> String {
        let code = *self.rng.pick(&[
            -32001i64,
            -32600,
            -32601,
            -32602,
            -32603,
            -32000,
            0,
            1,
            i64::MIN,
            i64::MAX,
        ]);
        let message = text(&mut self.rng, 4);
        let data = if self.rng.chance(30) {
            format!(",\"data\":{}", json(&mut self.rng, 2, SAFE_KEYS))
        } else {
            String::new()
        };
        format!(
            "{{\"code\":{code},\"message\":{}{data}}}",
            serde_json::to_string(&message).unwrap()
        )
    }

    /// The answer a well-behaved server gives; with `chaos`, sometimes a malformed one.
    fn proper_result(&mut self, req: &ClientRequest, chaos: bool) -> String {
        match req.method.as_str() {
            "turn/start" => {
                if chaos && self.rng.chance(8) {
                    return self
                        .rng
                        .pick(&["{}", "null", "{\"turn\":{}}", "{\"turn\":{\"id\":5}}", "[]"])
                        .to_string();
                }
                let id = if self.dup_turn_ids && !self.issued.is_empty() && self.rng.chance(20) {
                    self.rng.pick(&self.issued).0.clone()
                } else {
                    // Unpredictable, like real turn ids: a mutated frame must not be able to name
                    // a turn before it exists (it would wait in a thread's early-event queue;
                    // see `a_cancelled_turn_start_leaves_no_early_queue`).
                    self.next_turn += 1;
                    format!("u{}-{:04x}", self.next_turn, self.rng.next() & 0xffff)
                };
                self.issued
                    .push((id.clone(), req.thread_id.clone().unwrap_or_default()));
                json!({"turn": {"id": id, "status": "inProgress", "items": []}}).to_string()
            }
            "thread/start" => {
                if chaos && self.rng.chance(8) {
                    return "{\"thread\":{}}".into();
                }
                json!({"thread": {"id": self.rng.pick(THREADS)}}).to_string()
            }
            "turn/interrupt" | "turn/steer" => "{}".into(),
            _ => random_result(&mut self.rng),
        }
    }

    fn take_outstanding(&mut self) -> Option<ClientRequest> {
        let mut st = self.shared.state();
        if st.outstanding.is_empty() {
            return None;
        }
        let i = self.rng.below(st.outstanding.len());
        Some(st.outstanding.swap_remove(i))
    }

    fn put_back(&mut self, req: ClientRequest) {
        self.shared.state().outstanding.push(req);
    }

    fn answer(&mut self, req: &ClientRequest, chaos: bool) -> Vec<u8> {
        let result = self.proper_result(req, chaos);
        let space = ws(&mut self.rng);
        self.line(format!("{{\"id\":{},{space}\"result\":{result}}}", req.id))
    }

    /// Answers one request the client made: rightly, wrongly, twice, or not yet.
    fn answer_some(&mut self) -> Vec<u8> {
        let Some(req) = self.take_outstanding() else {
            return self.notification_line();
        };
        let id = req.id;
        match self.rng.below(100) {
            0..=59 => self.answer(&req, true),
            60..=69 => {
                let e = self.error_object();
                self.line(format!("{{\"id\":{id},\"error\":{e}}}"))
            }
            70..=77 => {
                let mut v = self.answer(&req, true);
                let dup = if self.rng.chance(50) {
                    format!("{{\"id\":{id},\"result\":null}}")
                } else {
                    format!("{{\"id\":{id},\"error\":{}}}", self.error_object())
                };
                v.extend(self.line(dup));
                v
            }
            78..=85 => {
                let wrong = match self.rng.below(4) {
                    0 => format!("\"{id}\""),
                    1 => format!("{id}.0"),
                    2 => format!("[{id}]"),
                    _ => format!("{id}e0"),
                };
                self.put_back(req);
                self.line(format!("{{\"id\":{wrong},\"result\":{{}}}}"))
            }
            86..=90 => {
                // An answer for the right id whose error object is malformed: the decoder drops
                // the frame and the request stays pending (see `known_bug_malformed_error_...`).
                let bad = *self.rng.pick(&[
                    r#"{"message":"no code"}"#,
                    r#"{"code":"x","message":"m"}"#,
                    r#"{"code":1.5}"#,
                    r#""oops""#,
                    r#"{"code":1e999}"#,
                ]);
                self.put_back(req);
                self.line(format!("{{\"id\":{id},\"error\":{bad}}}"))
            }
            _ => {
                self.put_back(req);
                self.notification_line()
            }
        }
    }

    fn notification_line(&mut self) -> Vec<u8> {
        let n = self.notification();
        self.line(n)
    }

    /// A response for an id picked at random: a real pending one, a stale one, a wrong type.
    fn random_response(&mut self) -> Vec<u8> {
        let max = self.shared.state().max_client_id.max(1) as usize;
        let n = self.rng.range(0, max + 3);
        let id = match self.rng.below(10) {
            0..=4 => n.to_string(),
            5 => format!("\"{n}\""),
            6 => format!("{n}.0"),
            7 => "null".into(),
            8 => self
                .rng
                .pick(&[
                    "-1",
                    "9223372036854775807",
                    "-9223372036854775808",
                    "9223372036854775808",
                    "1e999",
                    "true",
                    "[1]",
                    "{\"id\":1}",
                    "\"\"",
                ])
                .to_string(),
            _ => any_id(&mut self.rng),
        };
        if let Ok(n) = id.parse::<i64>() {
            // If it hits a request, that request is answered (with garbage): forget it.
            self.shared.state().outstanding.retain(|r| r.id != n);
        }
        let body = if self.rng.chance(60) {
            format!("\"result\":{}", random_result(&mut self.rng))
        } else {
            format!("\"error\":{}", self.error_object())
        };
        self.line(format!("{{\"id\":{id},{body}}}"))
    }

    fn server_request_frame(&mut self) -> String {
        let k = self.next_request;
        self.next_request += 1;
        let rng = &mut self.rng;
        let mut id = match rng.below(12) {
            0 => format!("\"sr-{k}\""),
            1 => format!("\"s\\u0072-{k}\""),
            2 => format!("{k}.5"),
            3 => format!("[{k},\"x\"]"),
            4 => format!("{{\"k\":{k}}}"),
            5 => format!("[ {k} , {{ }} ]"),
            6 => format!("\"😀{k}\""),
            7 => rng
                .pick(&[
                    "true",
                    "false",
                    "0",
                    "-0",
                    "1e999",
                    "-9223372036854775809",
                    "\"\"",
                    "[]",
                    "{}",
                ])
                .to_string(),
            8 if !self.sent_request_ids.is_empty() => rng.pick(&self.sent_request_ids).clone(),
            _ => (1_000_000 + k).to_string(),
        };
        if !self.dup_request_ids {
            // Ids may be reused once answered, not while pending (see
            // `server_requests_with_the_same_id_all_get_answers`).
            let st = self.shared.state();
            if st.owed.get(&id).copied().unwrap_or(0) != st.answers.get(&id).copied().unwrap_or(0) {
                id = (1_000_000 + k).to_string();
            }
        }
        self.sent_request_ids.push(id.clone());
        let method = if rng.chance(60) {
            rng.pick(&[
                "item/commandExecution/requestApproval",
                "item/fileChange/requestApproval",
                "execCommandApproval",
                "applyPatchApproval",
                "mcpServer/elicitation/request",
                "item/permissions/requestApproval",
                "item/tool/call",
                "account/chatgptAuthTokens/refresh",
            ])
            .to_string()
        } else {
            method_name(rng)
        };
        let params = match rng.below(6) {
            0 => None,
            1 => Some("[1,2]".to_owned()),
            2 => Some("\"p\"".to_owned()),
            _ => {
                // Often a live turn's: the request then also shows in that turn's stream.
                let (turn, thread) = match self.issued.len() {
                    0 => (format!("x{}", rng.below(5)), rng.pick(THREADS).to_string()),
                    n => self.issued[n - 1 - rng.below(n.min(6))].clone(),
                };
                Some(json!({"threadId": thread, "turnId": turn, "itemId": "i"}).to_string())
            }
        };
        let mut members = vec![
            ("\"id\"".to_owned(), id),
            ("\"method\"".to_owned(), encode_str(rng, &method)),
        ];
        if let Some(p) = params {
            members.push(("\"params\"".into(), p));
        }
        rng.shuffle(&mut members);
        object(rng, members)
    }

    /// Lines that cannot be a valid frame of any kind.
    fn garbage(&mut self) -> Vec<u8> {
        match self.rng.below(3) {
            0 => {
                let mut v: Vec<u8> = (0..self.rng.below(200))
                    .map(|_| self.rng.next() as u8)
                    .collect();
                v.push(b'\n');
                v
            }
            1 => {
                let t = text(&mut self.rng, 20).replace('\n', "");
                self.line(t)
            }
            _ => {
                let t = *self.rng.pick(&[
                    "null",
                    "[]",
                    "42",
                    "\"str\"",
                    "{}",
                    "{\"id\":null}",
                    "{\"method\":5}",
                    "{\"id\":1,\"id\":2,\"method\":\"m\"}",
                    "{\"method\":\"m\",\"method\":\"m\"}",
                    "{\"result\":1}",
                    "[{\"method\":\"m\"}]",
                    "{\"id\":1,\"error\":{}}",
                ]);
                self.line(t)
            }
        }
    }

    /// Garbage, or frames broken by truncation or mutation (which may leave them valid).
    fn malformed(&mut self) -> Vec<u8> {
        match self.rng.below(4) {
            0 => self.garbage(),
            1 => {
                let frame = if self.rng.chance(50) {
                    self.notification()
                } else {
                    self.server_request_frame()
                };
                let mut cut = self.rng.below(frame.len());
                while !frame.is_char_boundary(cut) {
                    cut -= 1;
                }
                self.line(&frame[..cut])
            }
            _ => {
                let n = if self.rng.chance(70) {
                    self.notification()
                } else {
                    self.server_request_frame()
                };
                let m = mutate(&mut self.rng, &n);
                self.line(m.replace('\n', " "))
            }
        }
    }

    fn huge(&mut self) -> Vec<u8> {
        let target = match self.rng.below(4) {
            0 => self.max_frame.saturating_sub(self.rng.below(40)),
            1 => self.max_frame + 1 + self.rng.below(40),
            _ => self.max_frame * self.rng.range(2, 4),
        };
        let frame = if self.rng.chance(50) {
            self.notification()
        } else {
            self.server_request_frame()
        };
        let padding = target.saturating_sub(frame.len() + 12);
        // Pad inside the object so that the frame stays valid at any size.
        let padded = format!("{{\"pad\":\"{}\",{}", "p".repeat(padding), &frame[1..]);
        self.line(padded)
    }

    /// A plausible stretch of one turn's life.
    fn burst(&mut self) -> Vec<u8> {
        let Some((turn, thread)) =
            (!self.issued.is_empty()).then(|| self.rng.pick(&self.issued).clone())
        else {
            return self.notification_line();
        };
        let mut out = Vec::new();
        let mut push = |w: &mut PeerWriter, v: Value| {
            let l = w.line(v.to_string());
            out.extend(l);
        };
        push(
            self,
            json!({"method": "turn/started", "params": {"threadId": thread, "turn": {"id": turn, "status": "inProgress"}}}),
        );
        for i in 0..self.rng.below(5) {
            push(
                self,
                json!({"method": "item/agentMessage/delta", "params": {"threadId": thread, "turnId": turn, "itemId": "m", "delta": format!("d{i}")}}),
            );
        }
        if self.rng.chance(50) {
            push(
                self,
                json!({"method": "item/completed", "params": {"threadId": thread, "turnId": turn, "item": {"type": "agentMessage", "id": "m", "text": "done"}}}),
            );
        }
        if self.rng.chance(30) {
            push(
                self,
                json!({"method": "turn/completed", "params": {"threadId": thread, "turn": {"id": turn, "status": "completed", "error": null}}}),
            );
        }
        out
    }

    async fn chaos_step(&mut self) {
        let bytes = match self.rng.below(100) {
            0..=24 => self.answer_some(),
            25..=49 => self.notification_line(),
            50..=59 => self.random_response(),
            60..=69 => {
                let f = self.server_request_frame();
                self.line(f)
            }
            70..=79 => self.malformed(),
            80..=84 => {
                let blank = *self.rng.pick(&["", "\r", " ", "\t\t", "\u{a0}", " \r"]);
                self.line(blank)
            }
            85..=89 => self.huge(),
            _ => self.burst(),
        };
        self.send(bytes).await;
        if self.rng.chance(10) {
            tokio::task::yield_now().await;
        }
        if self.rng.chance(1) {
            tokio::time::sleep(ms(1)).await;
        }
    }

    /// Answers everything properly and completes every turn until `done` holds.
    async fn settle(
        &mut self,
        limit: Duration,
        completed: &mut HashSet<String>,
        done: impl Fn() -> bool,
    ) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            while let Some(req) = self.take_outstanding() {
                let line = self.answer(&req, false);
                self.send(line).await;
            }
            for (turn, thread) in self.issued.clone() {
                if completed.insert(turn.clone()) {
                    let v = json!({"method": "turn/completed", "params": {"threadId": thread, "turn": {"id": turn, "status": "completed", "error": null}}});
                    let line = self.line(v.to_string());
                    self.send(line).await;
                }
            }
            if done() {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            let shared = Arc::clone(&self.shared);
            shared
                .wait_for(ms(5), |st| !st.outstanding.is_empty())
                .await;
        }
    }
}

/// What every unfinished operation is doing, for reports of hangs.
static PROGRESS: Mutex<std::collections::BTreeMap<u64, String>> =
    Mutex::new(std::collections::BTreeMap::new());
static NEXT_NOTE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

struct Note(u64);

impl Note {
    fn new(what: impl Into<String>) -> Note {
        let n = Note(NEXT_NOTE.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        n.set(what);
        n
    }
    fn set(&self, what: impl Into<String>) {
        PROGRESS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(self.0, what.into());
    }
}

impl Drop for Note {
    fn drop(&mut self) {
        PROGRESS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.0);
    }
}

fn unfinished_operations() -> String {
    let progress = PROGRESS.lock().unwrap_or_else(|p| p.into_inner());
    let shown: Vec<&str> = progress.values().take(20).map(String::as_str).collect();
    format!("{} unfinished: {shown:#?}", progress.len())
}

/// Error codes an operation may end with.
fn expect_code(e: &Error, allowed: &[&str], what: &str) -> Result<(), String> {
    if allowed.contains(&e.code()) {
        Ok(())
    } else {
        Err(format!(
            "{what}: unexpected {} ({e}); allowed {allowed:?}",
            e.code()
        ))
    }
}

const REQUEST_ERRORS: &[&str] = &["RPC_ERROR", "SERVER_OVERLOADED", "TRANSPORT_CLOSED"];
const OPEN_ERRORS: &[&str] = &[
    "RPC_ERROR",
    "SERVER_OVERLOADED",
    "TRANSPORT_CLOSED",
    "PROTOCOL_ERROR",
];

async fn request_op(session: Session, mut rng: Rng) -> Result<(), String> {
    let timeout = rng.chance(50).then(|| ms(rng.range(5, 300)));
    let method = if rng.chance(90) {
        "fuzz/echo".to_owned()
    } else {
        text(&mut rng, 5)
    };
    let params = json(&mut rng, 3, SAFE_KEYS);
    let started = Instant::now();
    let _note = Note::new(format!("request {method:?} timeout {timeout:?}"));
    let result = session.request(&method, &params, timeout).await;
    if let Some(limit) = timeout {
        // Three attempts at most (overload retries), each bounded, plus scheduling slack.
        let bound = limit * 3 + Duration::from_secs(3);
        if started.elapsed() > bound {
            return Err(format!(
                "request with timeout {limit:?} took {:?}",
                started.elapsed()
            ));
        }
    }
    match result {
        Ok(raw) => serde_json::from_str::<&RawValue>(raw.get())
            .map(drop)
            .map_err(|e| format!("result is not JSON: {e}")),
        Err(e) if timeout.is_some() && e.code() == "REQUEST_TIMEOUT" => Ok(()),
        Err(e) => expect_code(&e, REQUEST_ERRORS, "request"),
    }
}

async fn cancelled_request_op(session: Session, mut rng: Rng) -> Result<(), String> {
    match tokio::time::timeout(
        ms(rng.range(0, 10)),
        session.request("fuzz/cancel", "{}", None),
    )
    .await
    {
        Err(_) | Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => expect_code(&e, REQUEST_ERRORS, "cancelled request"),
    }
}

async fn listener_op(session: Session, mut rng: Rng) -> Result<(), String> {
    let mut stream = session.notifications();
    for _ in 0..rng.range(1, 15) {
        let max = rng.range(1, 100);
        match tokio::time::timeout(ms(rng.range(1, 30)), stream.next_batch(max)).await {
            Err(_) => {}
            Ok(Ok(Some(batch))) if !batch.is_empty() && batch.len() <= max => {}
            Ok(Ok(Some(batch))) => return Err(format!("batch of {} for max {max}", batch.len())),
            Ok(Ok(None)) => {
                return Err(
                    "session listener ended without an error while the session is open".into(),
                )
            }
            Ok(Err(e)) => return expect_code(&e, &["TRANSPORT_CLOSED"], "listener"),
        }
    }
    Ok(())
}

/// How a turn stream ended.
#[derive(Debug, PartialEq)]
enum StreamEnd {
    /// With `turn/completed` (this frame), then `Ok(None)`.
    Completed(String),
    /// With an error (`TRANSPORT_CLOSED`).
    Failed,
    /// `Ok(None)` without `turn/completed`: the known race of `turn_streams_end_with_the_transport_error`.
    Quiet,
}

/// A stream that ends with neither turn/completed nor an error lost its ending (the race fixed
/// in `TurnShared::fail`; see `turn_streams_end_with_the_transport_error`).
fn quiet_end(turn_id: &str) -> Result<(), String> {
    Err(format!(
        "turn {turn_id}: stream ended without turn/completed and without an error"
    ))
}

/// Drains one turn stream, checking that every event is the turn's and none follows its end.
async fn drain_turn(
    mut stream: EventStream,
    turn_id: String,
    max: usize,
    ends: &'static [&'static str],
) -> Result<StreamEnd, String> {
    let mut last: Option<String> = None;
    let mut last_raw = String::new();
    loop {
        match stream.next_batch(max).await {
            Ok(Some(batch)) => {
                if batch.is_empty() || batch.len() > max {
                    return Err(format!("batch of {} for max {max}", batch.len()));
                }
                for n in batch {
                    if n.turn_id() != Some(turn_id.as_str()) {
                        return Err(format!(
                            "turn {turn_id} got an event of turn {:?}: {}",
                            n.turn_id(),
                            n.raw
                        ));
                    }
                    if last.as_deref() == Some("turn/completed") {
                        return Err(format!(
                            "turn {turn_id} got an event after turn/completed: {}",
                            n.raw
                        ));
                    }
                    last = Some(n.method().to_owned());
                    last_raw = n.raw.to_string();
                }
            }
            Ok(None) if last.as_deref() == Some("turn/completed") => {
                return Ok(StreamEnd::Completed(last_raw))
            }
            Ok(None) => return Ok(StreamEnd::Quiet),
            Err(e) => return expect_code(&e, ends, "turn stream").map(|()| StreamEnd::Failed),
        }
    }
}

async fn one_turn(thread: Thread, mut rng: Rng) -> Result<(), String> {
    let note = Note::new(format!("turn/start on thread {}", thread.id()));
    // Sometimes with the inactivity watchdog, which may end the turn's streams and result
    // with TURN_STALLED first.
    let watchdog = rng.chance(10).then(|| ms(rng.range(20, 200)));
    let streams = TurnSetup {
        extra_streams: rng.below(3),
        inactivity_timeout: watchdog,
    };
    // PROTOCOL_ERROR: the (chaotic) server answered turn/start with a turn id already live.
    let ends: &'static [&'static str] = if watchdog.is_some() {
        &["TRANSPORT_CLOSED", "TURN_STALLED", "PROTOCOL_ERROR"]
    } else {
        &["TRANSPORT_CLOSED", "PROTOCOL_ERROR"]
    };
    let started = if rng.chance(5) {
        // Dropped while in flight.
        match tokio::time::timeout(
            ms(rng.range(0, 5)),
            thread.start_turn(Input::from("go"), Map::new(), streams),
        )
        .await
        {
            Err(_) => return Ok(()),
            Ok(r) => r,
        }
    } else {
        thread
            .start_turn(Input::from("go"), Map::new(), streams)
            .await
    };
    let (turn, extra) = match started {
        Ok(x) => x,
        Err(e) => return expect_code(&e, OPEN_ERRORS, "turn/start"),
    };
    let id = turn.id().to_owned();
    note.set(format!("turn {id} (thread {}): started", thread.id()));
    let mut streams = extra;
    if rng.chance(70) {
        streams.push(turn.take_events().ok_or("no turn events")?);
    } else {
        turn.discard_events();
    }
    let drains: Vec<_> = streams
        .into_iter()
        .map(|s| tokio::spawn(drain_turn(s, id.clone(), rng.range(1, 64), ends)))
        .collect();
    if rng.chance(15) {
        note.set(format!("turn {id} (thread {}): interrupt", thread.id()));
        if let Err(e) = turn.interrupt().await {
            expect_code(&e, REQUEST_ERRORS, "interrupt")?;
        }
    }
    if rng.chance(15) {
        note.set(format!("turn {id} (thread {}): steer", thread.id()));
        if let Err(e) = turn.steer(Input::from("more")).await {
            expect_code(&e, REQUEST_ERRORS, "steer")?;
        }
    }
    if rng.chance(30) {
        if let Err(e) = turn.result(Some(ms(rng.range(1, 30)))).await {
            expect_code(
                &e,
                &[
                    "REQUEST_TIMEOUT",
                    "TRANSPORT_CLOSED",
                    "TURN_STALLED",
                    "PROTOCOL_ERROR",
                ],
                "turn result with timeout",
            )?;
        }
    }
    note.set(format!("turn {id} (thread {}): result", thread.id()));
    let completed = match turn.result(None).await {
        Ok(r) => {
            if r.turn_id != id || r.thread_id != thread.id() {
                return Err(format!(
                    "result of {}/{} for turn {}/{id}",
                    r.thread_id,
                    r.turn_id,
                    thread.id()
                ));
            }
            true
        }
        Err(e) => expect_code(&e, ends, "turn result").map(|()| false)?,
    };
    note.set(format!(
        "turn {id} (thread {}): draining streams (completed {completed})",
        thread.id()
    ));
    for d in drains {
        match (
            d.await.map_err(|e| format!("turn stream task: {e}"))??,
            completed,
        ) {
            (StreamEnd::Completed(_), true) | (StreamEnd::Failed, false) => {}
            (StreamEnd::Quiet, false) => quiet_end(&id)?,
            (end, _) => {
                return Err(format!(
                    "turn {id}: stream ended {end:?} but result completed={completed}"
                ))
            }
        }
    }
    Ok(())
}

async fn turns_op(session: Session, mut rng: Rng) -> Result<(), String> {
    let note = Note::new("thread/start");
    let thread = match session.start_thread(Map::new()).await {
        Ok(t) => t,
        Err(e) => return expect_code(&e, OPEN_ERRORS, "thread/start"),
    };
    drop(note);
    // Several turns at once on one thread exercise the early-event bookkeeping.
    let turns: Vec<_> = (0..rng.range(1, 3))
        .map(|_| tokio::spawn(one_turn(thread.clone(), rng.fork())))
        .collect();
    for t in turns {
        t.await.map_err(|e| format!("turn task: {e}"))??;
    }
    Ok(())
}

/// Waits until the client has routed everything the peer wrote so far.
async fn sync_with_client(peer: &mut PeerWriter, session: &Session) {
    let mut listener = session.notifications();
    peer.send(b"{\"method\":\"fuzz/sentinel\"}\n".to_vec())
        .await;
    let seen = async {
        loop {
            match listener.next_batch(4096).await {
                Ok(Some(batch)) if batch.iter().any(|n| n.method() == "fuzz/sentinel") => return,
                Ok(Some(_)) => {}
                other => panic!("listener ended before the sentinel: {other:?}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), seen)
        .await
        .expect("client reader stuck: sentinel never routed");
}

async fn join_all(handles: Vec<JoinHandle<Result<(), String>>>, limit: Duration, what: &str) {
    let all = async {
        let mut failures = Vec::new();
        for h in handles {
            match h.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failures.push(e),
                Err(e) => failures.push(format!("task panicked: {e}")),
            }
        }
        failures
    };
    let failures = tokio::time::timeout(limit, all).await.unwrap_or_else(|_| {
        panic!(
            "{what}: operations still unsettled after {limit:?} (hang): {}",
            unfinished_operations()
        )
    });
    assert!(
        failures.is_empty(),
        "{what}: {} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

struct SessionCase {
    frames: usize,
    ops: usize,
}

async fn session_case(seed: u64, size: SessionCase) {
    let mut rng = Rng::new(seed);
    let pipe = *rng.pick(&[256usize, 4096, 1 << 16, 1 << 20]);
    let read_capacity = *rng.pick(&[3usize, 64, 1024, 8192, 65536]);
    let max_frame = *rng.pick(&[1024usize, 4096, 16384]);
    let dup_turn_ids = std::env::var("FUZZ_DUP_TURN_IDS").is_ok_and(|v| v == "1");
    let dup_request_ids = std::env::var("FUZZ_DUP_REQUEST_IDS").is_ok_and(|v| v == "1");

    let (client_side, server_side) = tokio::io::duplex(pipe);
    let (client_read, client_write) = tokio::io::split(client_side);
    let (server_read, server_write) = tokio::io::split(server_side);
    let mut lines = BufReader::new(server_read).lines();
    let (diag_tx, mut diag_rx) = mpsc::unbounded_channel::<Diagnostic>();
    let options = SessionOptions {
        diagnostics: Some(diag_tx),
        overload_retry: RetryPolicy {
            max_attempts: 3,
            initial_delay: ms(1),
            max_delay: ms(5),
        },
        ..SessionOptions::default()
    };
    let reader = Box::new(LineReader::new(
        BufReader::with_capacity(read_capacity, client_read),
        max_frame,
    ));
    let writer = Box::new(LineWriter::new(client_write));
    let mut out = server_write;
    let handshake = async {
        let line = lines.next_line().await.unwrap().expect("initialize");
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["method"], "initialize");
        let answer = json!({"id": v["id"], "result": {"userAgent": "fuzz/1", "codexHome": "/tmp", "platformFamily": "unix", "platformOs": "linux"}});
        out.write_all(format!("{answer}\n").as_bytes())
            .await
            .unwrap();
        let line = lines.next_line().await.unwrap().expect("initialized");
        assert!(line.contains("\"initialized\""), "{line}");
    };
    let (session, ()) = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::join!(
            async {
                Session::connect(reader, writer, options)
                    .await
                    .expect("connect")
            },
            handshake
        )
    })
    .await
    .expect("handshake hung");

    let shared = Arc::new(Shared::default());
    let reader_task = tokio::spawn(peer_read(lines, Arc::clone(&shared)));
    let mut peer = PeerWriter {
        out,
        rng: rng.fork(),
        shared: Arc::clone(&shared),
        max_frame,
        dup_turn_ids,
        dup_request_ids,
        next_request: 0,
        sent_request_ids: Vec::new(),
        next_turn: 0,
        issued: Vec::new(),
        frames: 0,
        bytes: 0,
    };

    // Phase A: chaos from the peer while the client works.
    let driver = {
        let session = session.clone();
        let mut rng = rng.fork();
        let ops = size.ops;
        tokio::spawn(async move {
            let mut handles = Vec::new();
            for _ in 0..ops {
                let s = session.clone();
                let r = rng.fork();
                handles.push(match rng.below(100) {
                    0..=29 => tokio::spawn(request_op(s, r)),
                    30..=37 => tokio::spawn(cancelled_request_op(s, r)),
                    38..=84 => tokio::spawn(turns_op(s, r)),
                    _ => tokio::spawn(listener_op(s, r)),
                });
                if rng.chance(50) {
                    tokio::time::sleep(ms(rng.range(0, 3))).await;
                } else {
                    tokio::task::yield_now().await;
                }
            }
            handles
        })
    };
    for _ in 0..size.frames {
        peer.chaos_step().await;
    }
    let mut handles = tokio::time::timeout(Duration::from_secs(20), driver)
        .await
        .expect("client driver hung")
        .expect("driver");

    // Phase B (most cases): a well-behaved peer; everything must settle and unregister.
    let mut completed = HashSet::new();
    if rng.chance(70) {
        let settled = peer
            .settle(Duration::from_secs(15), &mut completed, || {
                handles.iter().all(|h| h.is_finished())
            })
            .await;
        assert!(
            settled,
            "operations did not settle against a well-behaved peer within 15 s (hang); stats {:?}; {}; peer: {} outstanding, issued turns {:?}",
            session.stats(),
            unfinished_operations(),
            shared.state().outstanding.len(),
            peer.issued
        );
        join_all(
            std::mem::take(&mut handles),
            Duration::from_secs(5),
            "phase B",
        )
        .await;
        let stats = session.stats();
        assert_eq!(
            stats,
            (0, 0, 0),
            "(live turns, listeners, pending) after everything settled"
        );
    }

    // Phase C: fresh pending things, then the peer goes away. First make sure the client has
    // read everything so far, so that no stray answer of phase A lands on a phase C request.
    sync_with_client(&mut peer, &session).await;
    let finals = rng.range(1, 4);
    for _ in 0..finals {
        let s = session.clone();
        handles.push(tokio::spawn(async move {
            match s.request("fuzz/final", "{}", None).await {
                Err(e) => expect_code(&e, &["TRANSPORT_CLOSED"], "final request"),
                Ok(r) => Err(format!("final request got an answer: {}", r.get())),
            }
        }));
    }
    let mut listener = session.notifications();
    let last_listener = tokio::spawn(async move {
        loop {
            match listener.next_batch(1000).await {
                Ok(Some(_)) => {}
                Ok(None) => return Err("listener ended without TRANSPORT_CLOSED".to_owned()),
                Err(e) => return expect_code(&e, &["TRANSPORT_CLOSED"], "final listener"),
            }
        }
    });
    handles.push(last_listener);
    let final_turn = {
        let s = session.clone();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let h = tokio::spawn(async move {
            let thread = s
                .start_thread(Map::new())
                .await
                .map_err(|e| format!("final thread: {e}"))?;
            let (turn, _) = thread
                .start_turn(Input::from("last"), Map::new(), TurnSetup::default())
                .await
                .map_err(|e| format!("final turn: {e}"))?;
            let events = turn.take_events().unwrap();
            let _ = started_tx.send((turn.id().to_owned(), thread.id().to_owned()));
            match drain_turn(events, turn.id().to_owned(), 10, &["TRANSPORT_CLOSED"]).await? {
                StreamEnd::Completed(raw) => {
                    return Err(format!("final turn {} completed by {raw}", turn.id()))
                }
                StreamEnd::Quiet => quiet_end(turn.id())?,
                StreamEnd::Failed => {}
            }
            match turn.result(None).await {
                Err(e) => expect_code(&e, &["TRANSPORT_CLOSED"], "final turn result"),
                Ok(_) => Err(format!("final turn {} has a result", turn.id())),
            }
        });
        handles.push(h);
        started_rx
    };
    // Answer only what the final turn needs; leave the final requests pending.
    let mut final_turn = final_turn;
    let mut final_turn_id = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reqs: Vec<ClientRequest> = std::mem::take(&mut shared.state().outstanding);
        for req in reqs {
            if req.method == "thread/start" || req.method == "turn/start" {
                let line = peer.answer(&req, false);
                peer.send(line).await;
            } else {
                peer.put_back(req);
            }
        }
        if let Ok(ids) = final_turn.try_recv() {
            final_turn_id = Some(ids);
        }
        if final_turn_id.is_some() && shared.state().final_requests >= finals {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "final turn or final requests never reached the peer"
        );
        shared
            .wait_for(ms(5), |st| !st.outstanding.is_empty())
            .await;
    }
    // A little more chaos that neither answers nor completes anything, then every server
    // request must have its answer.
    let final_turn_id = final_turn_id.unwrap();
    for i in 0..rng.range(0, 30) {
        let bytes = match peer.rng.below(3) {
            0 => {
                let f = peer.server_request_frame();
                peer.line(f)
            }
            1 => peer.garbage(),
            _ => {
                let (turn, thread) = &final_turn_id;
                let v = json!({"method": "item/agentMessage/delta", "params": {"threadId": thread, "turnId": turn, "delta": format!("{i}")}});
                peer.line(v.to_string())
            }
        };
        peer.send(bytes).await;
    }
    let all_answered = shared
        .wait_for(Duration::from_secs(5), |st| {
            st.owed.iter().all(|(id, n)| st.answers.get(id) == Some(n))
        })
        .await;
    assert!(
        all_answered,
        "server requests not answered exactly once: {:?}",
        shared.unanswered()
    );
    if rng.chance(30) {
        // A last line without a newline: still a frame. (Neither a request, which could not be
        // answered any more, nor anything that could complete the final turn.)
        let (turn, thread) = &final_turn_id;
        let v = json!({"method": "item/agentMessage/delta", "params": {"threadId": thread, "turnId": turn, "delta": "last"}});
        peer.out.write_all(v.to_string().as_bytes()).await.unwrap();
    }
    let closed_at = Instant::now();
    peer.out.shutdown().await.unwrap();
    drop(peer.out);

    join_all(handles, Duration::from_secs(5), "after the peer closed").await;
    let settle_time = closed_at.elapsed();
    assert!(session.is_closed());
    assert_eq!(
        session.stats(),
        (0, 0, 0),
        "(live turns, listeners, pending) after the transport closed"
    );
    let late = session.request("late", "{}", None).await.unwrap_err();
    assert_eq!(late.code(), "TRANSPORT_CLOSED");
    assert!(session.start_thread(Map::new()).await.is_err());

    // Our side closes too: the peer sees end of input; count the answers once more.
    tokio::time::timeout(Duration::from_secs(5), session.close())
        .await
        .expect("close hung");
    tokio::time::timeout(Duration::from_secs(5), reader_task)
        .await
        .expect("client never closed its output")
        .unwrap();
    let st = shared.state();
    assert!(st.client_eof);
    assert!(
        st.strange.is_empty(),
        "client wrote frames that are neither requests, answers nor notifications: {:?}",
        st.strange
    );
    for (id, n) in &st.answers {
        assert_eq!(
            st.owed.get(id),
            Some(n),
            "answers for server request id {id}"
        );
    }
    let mut diagnostics = 0;
    while diag_rx.try_recv().is_ok() {
        diagnostics += 1;
    }
    eprintln!(
        "  {} frames ({} KiB), {} server requests, {} turns issued, {diagnostics} diagnostics, pipe {pipe}, read buffer {read_capacity}, max frame {max_frame}, settled {settle_time:?} after close",
        peer.frames,
        peer.bytes / 1024,
        st.owed.values().sum::<usize>(),
        peer.issued.len(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn session_survives_a_chaotic_peer_and_settles_everything() {
    let fuzz = Fuzz::new("session_survives_a_chaotic_peer_and_settles_everything", 6);
    let started = Instant::now();
    for (i, seed, _guard) in fuzz.cases() {
        let case = Instant::now();
        let size = SessionCase {
            frames: 1500,
            ops: 60,
        };
        tokio::time::timeout(Duration::from_secs(60), session_case(seed, size))
            .await
            .expect("session case hung");
        eprintln!("session case {i}: {:?}", case.elapsed());
    }
    eprintln!(
        "session fuzz: {} cases in {:?}",
        fuzz.cases,
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// Regression tests: defects the fuzzing found, reproduced minimally (all fixed)
// ---------------------------------------------------------------------------------------------

/// The shared scripted peer, on a small pipe (64 KiB) so that the client's writes meet
/// backpressure as they would on a real pipe.
async fn mini_connect() -> (Session, Peer) {
    peer::connect_with_pipe(SessionOptions::default(), 1 << 16).await
}

/// Two `turn/start`s answered with the same turn id: the second replaced the first in the
/// router, so the first was never failed when the transport closed and its `result()` and event
/// stream waited for ever.
#[tokio::test]
async fn a_duplicate_turn_id_settles_both_turns() {
    let (session, mut peer) = mini_connect().await;
    let mut turns = Vec::new();
    for thread_id in ["ta", "tb"] {
        turns.push(mini_thread_and_turn(&session, &mut peer, thread_id, "same").await);
    }
    // Turn ids are scoped to their thread: the same id on two threads is two turns. Reused on
    // the same thread while live, it is codex adding the input to its running turn: the second
    // start is another view of that turn, and settles with it.
    let (thread_a, ()) = tokio::join!(
        async { session.resume_thread("ta", Map::new()).await.unwrap() },
        async {
            let req = peer.recv().await;
            peer.send_raw(
                &json!({"id": req["id"], "result": {"thread": {"id": "ta"}}}).to_string(),
            )
            .await;
        }
    );
    let ((again, _), ()) = tokio::join!(
        async {
            thread_a
                .start_turn(Input::from("x"), Map::new(), TurnSetup::default())
                .await
                .unwrap()
        },
        async {
            let req = peer.recv().await;
            peer.send_raw(
                &json!({"id": req["id"], "result": {"turn": {"id": "same"}}}).to_string(),
            )
            .await;
        }
    );
    assert_eq!(again.id(), "same");
    drop(peer);
    for turn in turns.iter().chain([&again]) {
        let settled = tokio::time::timeout(Duration::from_secs(2), turn.result(None)).await;
        let err = settled
            .expect("turn result never settled after the transport closed")
            .unwrap_err();
        assert_eq!(err.code(), "TRANSPORT_CLOSED");
    }
}

async fn mini_thread_and_turn(
    session: &Session,
    peer: &mut Peer,
    thread_id: &str,
    turn_id: &str,
) -> app_server_client::Turn {
    let thread = peer::open_thread(session, peer, thread_id).await;
    peer::start_turn(&thread, peer, turn_id, TurnSetup::default()).await
}

/// `TurnShared::fail` drops the turn's outlets before it records the error, so a consumer
/// woken by the closed channel can read "no error" and see its stream end as if normally
/// (`Ok(None)`) although the transport closed and `result()` fails with TRANSPORT_CLOSED.
/// Timing-dependent: tries many times.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn turn_streams_end_with_the_transport_error() {
    let mut quiet = 0;
    let mut streams = 0;
    // Keep every worker busy (and the OS oversubscribed) so that the closing thread gets
    // preempted inside the window.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for _ in 0..8 {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tokio::task::yield_now().await;
            }
        });
    }
    for _ in 0..400 {
        let (session, mut peer) = mini_connect().await;
        let mut waiters = Vec::new();
        let mut turns = Vec::new();
        const TURNS: usize = 8;
        for i in 0..TURNS {
            let turn =
                mini_thread_and_turn(&session, &mut peer, &format!("t{i}"), &format!("u{i}")).await;
            let mut events = turn.take_events().unwrap();
            // Busy consumers: the race needs one polling right as the transport closes.
            waiters.push(tokio::spawn(async move {
                loop {
                    match events.next_batch(1).await {
                        Ok(Some(_)) => {}
                        Ok(None) => return Ok(false),
                        Err(e) => return Err(e),
                    }
                }
            }));
            turns.push(turn);
        }
        let mut flood = String::new();
        for k in 0..3 {
            for i in 0..TURNS {
                flood.push_str(&json!({"method": "item/agentMessage/delta", "params": {"threadId": format!("t{i}"), "turnId": format!("u{i}"), "delta": k.to_string()}}).to_string());
                flood.push('\n');
            }
        }
        peer.out.write_all(flood.as_bytes()).await.unwrap();
        drop(peer);
        for w in waiters {
            streams += 1;
            match w.await.unwrap() {
                Err(e) => assert_eq!(e.code(), "TRANSPORT_CLOSED"),
                Ok(_) => quiet += 1,
            }
        }
        for turn in &turns {
            assert_eq!(
                turn.result(None).await.unwrap_err().code(),
                "TRANSPORT_CLOSED"
            );
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        quiet, 0,
        "{quiet} of {streams} turn streams ended without an error on transport close"
    );
}

/// Server requests are now tracked by id: a second request with the id of one still pending
/// replaces the first's entry (dropping its fate sender), and whichever task finishes first
/// removes the entry of the other. A request whose fate sender is gone reads as `Closed` and is
/// skipped: one of the two (or both) never gets an answer. Timing-dependent: tries many ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn server_requests_with_the_same_id_all_get_answers() {
    let (_session, mut peer) = mini_connect().await;
    const PAIRS: usize = 50;
    let mut burst = String::new();
    for i in 0..PAIRS {
        for method in [
            "item/commandExecution/requestApproval",
            "item/permissions/requestApproval",
        ] {
            burst.push_str(
                &json!({"id": format!("dup{i}"), "method": method, "params": {}}).to_string(),
            );
            burst.push('\n');
        }
    }
    peer.out.write_all(burst.as_bytes()).await.unwrap();
    let mut answers: HashMap<String, usize> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    while answers.values().sum::<usize>() < 2 * PAIRS && Instant::now() < deadline {
        if let Ok(Ok(Some(line))) = tokio::time::timeout(ms(200), peer.lines.next_line()).await {
            let v: Value = serde_json::from_str(&line).unwrap();
            *answers
                .entry(v["id"].as_str().unwrap_or_default().to_owned())
                .or_default() += 1;
        }
    }
    let short: Vec<_> = (0..PAIRS)
        .map(|i| format!("dup{i}"))
        .filter(|id| answers.get(id) != Some(&2))
        .collect();
    assert!(
        short.is_empty(),
        "{} of {PAIRS} duplicated ids did not get both answers: {short:?}",
        short.len()
    );
}

/// `Thread::start_turn` counts the thread as "starting" before it sends `turn/start` and stops
/// after the answer; a start dropped in between (a timeout, an abort) is never uncounted. From
/// then on every event of that thread for a turn the router does not know is kept in the
/// thread's early-event queue for ever (unbounded growth), and handed to any later turn with
/// the same id (here: a turn of the thread that this client does not own, then re-used).
#[tokio::test]
async fn a_cancelled_turn_start_leaves_no_early_queue() {
    let (session, mut peer) = mini_connect().await;
    let (thread, ()) = tokio::join!(
        async { session.start_thread(Map::new()).await.unwrap() },
        async {
            let req = peer.recv().await;
            peer.send_raw(&json!({"id": req["id"], "result": {"thread": {"id": "t"}}}).to_string())
                .await;
        }
    );
    let abandoned = tokio::time::timeout(
        ms(50),
        thread.start_turn(Input::from("x"), Map::new(), TurnSetup::default()),
    )
    .await;
    assert!(
        abandoned.is_err(),
        "the start was meant to be dropped in flight"
    );
    assert_eq!(peer.recv().await["method"], "turn/start");
    // Long after, an event of a turn this client does not know.
    let mut all = session.notifications();
    peer.send_raw(&json!({"method": "turn/completed", "params": {"threadId": "t", "turn": {"id": "other", "status": "completed"}}}).to_string()).await;
    all.next_batch(10).await.unwrap().unwrap();
    let ((turn, _), ()) = tokio::join!(
        async {
            thread
                .start_turn(Input::from("y"), Map::new(), TurnSetup::default())
                .await
                .unwrap()
        },
        async {
            let req = peer.recv().await;
            peer.send_raw(
                &json!({"id": req["id"], "result": {"turn": {"id": "other"}}}).to_string(),
            )
            .await;
        }
    );
    assert!(
        !turn.is_finished(),
        "a stale event, held since the dropped start, completed the new turn"
    );
}

/// An answer for a pending request whose `error` is malformed (no `code`, say) fails to decode
/// as a whole; it is reported as a diagnostic and the request, which has no timeout by default,
/// waits until the connection closes although its answer came.
#[tokio::test]
async fn a_malformed_error_answer_still_settles_its_request() {
    let (session, mut peer) = mini_connect().await;
    let (result, ()) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(2), session.request("x", "{}", None)),
        async {
            let req = peer.recv().await;
            peer.send_raw(&format!(
                r#"{{"id":{},"error":{{"message":"no code"}}}}"#,
                req["id"]
            ))
            .await;
        }
    );
    let err = result
        .expect("request still pending after its (malformed) answer arrived")
        .unwrap_err();
    assert!(
        ["RPC_ERROR", "PROTOCOL_ERROR"].contains(&err.code()),
        "{err}"
    );
}
