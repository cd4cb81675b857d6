//! The fast path of frame decoding: a strict JSON scanner that finds where a notification's
//! keys sit without building anything, and skips strings 16 bytes at a time.
//!
//! serde_json checks string bytes eight at a time; on a flood of large deltas (and on the
//! megabytes of a long turn's final `item/completed`) that scan was a quarter of the reader's
//! time. This scanner accepts a strict subset of what the serde path accepts and declines
//! everything else (a key written with escapes, a duplicate key, a frame with an `id`, a
//! nesting deeper than serde allows...), so the serde path still decides every frame it
//! declines, errors included. A unit test holds the two paths to the same answers.

/// Where a notification's interesting parts sit in its frame (byte ranges of `frame`).
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Found {
    pub method: Option<Str>,
    pub thread_id: Option<Str>,
    pub turn_id: Option<Str>,
    pub delta: Option<Str>,
    pub item_id: Option<Str>,
    /// Raw JSON values.
    pub turn: Option<(usize, usize)>,
    pub item: Option<(usize, usize)>,
    pub token_usage: Option<(usize, usize)>,
    pub request_id: Option<(usize, usize)>,
}

/// A string value: its contents between the quotes, and whether it holds escapes (then the
/// contents are not the string itself and must be decoded).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Str {
    pub start: usize,
    pub end: usize,
    pub escaped: bool,
}

/// Under serde_json's recursion limit (127 levels): deeper frames are left to it.
const MAX_DEPTH: u32 = 100;

/// Scans `frame` as a notification: `None` when it is anything else, or anything the serde
/// path should decide.
pub(super) fn notification(frame: &str) -> Option<Found> {
    scan(frame, None)
}

/// What a scan has met so far: the keys found, and which envelope members it passed.
#[derive(Debug, Default, Clone)]
struct Seen {
    found: Found,
    params: bool,
    result: bool,
    error: bool,
}

/// The scanner stopped at the value of `params.delta`: everything it needs to go on from there.
#[derive(Debug, Clone)]
struct Checkpoint {
    at: usize,
    depth: u32,
    seen: Seen,
}

/// Longest prefix a [`Memo`] keeps (the envelope and routing keys of a delta are ~150 bytes).
const MAX_MEMO_PREFIX: usize = 1024;

/// The scan of the last delta frame up to its `delta` value, kept to skip that part of the
/// next frame when it starts with the same bytes.
///
/// A flood is one kind of frame: `{"method":"item/agentMessage/delta","params":{"threadId":..,
/// "turnId":..,"itemId":..,"delta":"..."}}`, where only the delta changes. The scanner reads
/// left to right and decides from the bytes it has passed only, so a frame that starts with the
/// same bytes reaches the same state at the same place: the scan resumes there. It is the same
/// answer as a whole scan (a unit test holds them to it); a 16-byte delta frame decodes in 245 ns
/// instead of 494, the reader's copy included (bench/README.md). One per reader: frames of other
/// connections never meet.
#[derive(Debug, Default)]
pub(super) struct Memo {
    prefix: Vec<u8>,
    checkpoint: Option<Checkpoint>,
    /// Scans resumed (what the tests check the fast path by).
    #[cfg(test)]
    pub resumed: usize,
}

impl Memo {
    /// Whether `frame` starts where the last delta's scan stopped (the scan will resume).
    #[cfg(test)]
    pub(super) fn resumes(&self, frame: &str) -> bool {
        self.checkpoint
            .as_ref()
            .is_some_and(|c| frame.len() > c.at && frame.as_bytes()[..c.at] == self.prefix[..])
    }

    /// As [`notification`], skipping the prefix this frame shares with the last delta scanned.
    pub(super) fn notification(&mut self, frame: &str) -> Option<Found> {
        if let Some(checkpoint) = &self.checkpoint {
            let at = checkpoint.at;
            if frame.len() > at && frame.as_bytes()[..at] == self.prefix[..] {
                #[cfg(test)]
                {
                    self.resumed += 1;
                }
                return resume(frame, checkpoint.clone());
            }
        }
        let mut captured = None;
        let found = scan(frame, Some(&mut captured))?;
        if let Some(checkpoint) = captured.filter(|c| c.at <= MAX_MEMO_PREFIX) {
            self.prefix.clear();
            self.prefix
                .extend_from_slice(&frame.as_bytes()[..checkpoint.at]);
            self.checkpoint = Some(checkpoint);
        }
        Some(found)
    }
}

/// A whole scan; `capture` (when given) receives the checkpoint at `params.delta`'s value.
fn scan(frame: &str, mut capture: Option<&mut Option<Checkpoint>>) -> Option<Found> {
    let mut s = Scanner {
        b: frame.as_bytes(),
        i: 0,
        depth: 0,
    };
    let mut seen = Seen::default();
    s.open(b'{')?;
    if !s.close(b'}') {
        s.envelope_member(&mut seen, capture.as_deref_mut())?;
        s.envelope_rest(&mut seen, capture)?;
    }
    s.finish(seen)
}

/// Goes on from `checkpoint`, in a frame that starts with the bytes it was taken in.
fn resume(frame: &str, checkpoint: Checkpoint) -> Option<Found> {
    let mut s = Scanner {
        b: frame.as_bytes(),
        i: checkpoint.at,
        depth: checkpoint.depth,
    };
    let mut seen = checkpoint.seen;
    text_key(&mut s, &mut seen.found.delta)?;
    s.params_rest(&mut seen, None)?;
    s.envelope_rest(&mut seen, None)?;
    s.finish(seen)
}

fn once(seen: &mut bool) -> Option<()> {
    if std::mem::replace(seen, true) {
        None
    } else {
        Some(())
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    depth: u32,
}

impl<'a> Scanner<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        if self.peek()? != c {
            return None;
        }
        self.i += 1;
        Some(())
    }

    /// Enters an object or array.
    fn open(&mut self, c: u8) -> Option<()> {
        self.expect(c)?;
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// True (and leaves the container) when `c` closes it right away.
    fn close(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            self.depth -= 1;
            true
        } else {
            false
        }
    }

    /// After a member: true for `,` (another follows), false for the closing `c`.
    fn next_member(&mut self, c: u8) -> Option<bool> {
        match self.peek()? {
            b',' => {
                self.i += 1;
                Some(true)
            }
            x if x == c => {
                self.i += 1;
                self.depth -= 1;
                Some(false)
            }
            _ => None,
        }
    }

    /// A key, as its bytes; keys written with escapes are left to serde.
    fn key(&mut self) -> Option<&'a [u8]> {
        let s = self.string()?;
        if s.escaped {
            return None;
        }
        let b: &'a [u8] = self.b;
        Some(&b[s.start..s.end])
    }

    fn string(&mut self) -> Option<Str> {
        if self.peek()? != b'"' {
            return None;
        }
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        loop {
            self.i = find_special(self.b, self.i)?;
            match self.b[self.i] {
                b'"' => {
                    let end = self.i;
                    self.i += 1;
                    return Some(Str {
                        start,
                        end,
                        escaped,
                    });
                }
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                _ => return None, // a control character: invalid JSON
            }
        }
    }

    /// At a backslash: steps over a valid escape (`\uXXXX` needs four hex digits; whether it
    /// is a valid code point is decided where the string is decoded, as serde does).
    fn escape(&mut self) -> Option<()> {
        let kind = *self.b.get(self.i + 1)?;
        self.i += 2;
        match kind {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(()),
            b'u' => {
                let hex = self.b.get(self.i..self.i + 4)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                self.i += 4;
                Some(())
            }
            _ => None,
        }
    }

    /// Any JSON value; its byte range.
    fn value(&mut self) -> Option<(usize, usize)> {
        let start = {
            self.ws();
            self.i
        };
        match self.peek()? {
            b'"' => {
                self.string()?;
            }
            b'{' => {
                self.open(b'{')?;
                if !self.close(b'}') {
                    loop {
                        self.string()?;
                        self.expect(b':')?;
                        self.value()?;
                        if !self.next_member(b'}')? {
                            break;
                        }
                    }
                }
            }
            b'[' => {
                self.open(b'[')?;
                if !self.close(b']') {
                    loop {
                        self.value()?;
                        if !self.next_member(b']')? {
                            break;
                        }
                    }
                }
            }
            b't' => self.literal(b"true")?,
            b'f' => self.literal(b"false")?,
            b'n' => self.literal(b"null")?,
            b'-' | b'0'..=b'9' => self.number()?,
            _ => return None,
        }
        Some((start, self.i))
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if !self.b[self.i..].starts_with(word) {
            return None;
        }
        self.i += word.len();
        Some(())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Option<()> {
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match self.b.get(self.i)? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            self.digits_required()?;
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            self.digits_required()?;
        }
        Some(())
    }

    fn digits(&mut self) {
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
    }

    fn digits_required(&mut self) -> Option<()> {
        let start = self.i;
        self.digits();
        (self.i > start).then_some(())
    }

    /// One member of the envelope, after the `{` or a `,`.
    fn envelope_member(
        &mut self,
        seen: &mut Seen,
        capture: Option<&mut Option<Checkpoint>>,
    ) -> Option<()> {
        let key = self.key()?;
        self.expect(b':')?;
        match key {
            b"method" => set_once(&mut seen.found.method, self.string()?),
            b"params" => {
                once(&mut seen.params)?;
                self.params(seen, capture)
            }
            // A response or a server request: the serde path.
            b"id" => None,
            // Ignored by a notification, but a duplicate is serde's error to report.
            b"result" => {
                once(&mut seen.result)?;
                self.value().map(drop)
            }
            b"error" => {
                once(&mut seen.error)?;
                self.value().map(drop)
            }
            _ => self.value().map(drop),
        }
    }

    /// The envelope's members after one, to its `}`.
    fn envelope_rest(
        &mut self,
        seen: &mut Seen,
        mut capture: Option<&mut Option<Checkpoint>>,
    ) -> Option<()> {
        while self.next_member(b'}')? {
            self.envelope_member(seen, capture.as_deref_mut())?;
        }
        Some(())
    }

    /// After the envelope: nothing but whitespace, and a method was found.
    fn finish(mut self, seen: Seen) -> Option<Found> {
        self.ws();
        if self.i != self.b.len() || seen.found.method.is_none() {
            return None;
        }
        Some(seen.found)
    }

    /// `params`: an object whose routing keys are kept. Anything else (legal, unused by codex)
    /// is left to serde.
    fn params(
        &mut self,
        seen: &mut Seen,
        mut capture: Option<&mut Option<Checkpoint>>,
    ) -> Option<()> {
        self.open(b'{')?;
        if self.close(b'}') {
            return Some(());
        }
        self.params_member(seen, capture.as_deref_mut())?;
        self.params_rest(seen, capture)
    }

    /// `params`' members after one, to its `}`.
    fn params_rest(
        &mut self,
        seen: &mut Seen,
        mut capture: Option<&mut Option<Checkpoint>>,
    ) -> Option<()> {
        while self.next_member(b'}')? {
            self.params_member(seen, capture.as_deref_mut())?;
        }
        Some(())
    }

    /// One member of `params`. At the value of `delta`, the scan so far goes to `capture` (a
    /// second `delta` is a duplicate, which the scan declines: its checkpoint is never kept).
    fn params_member(
        &mut self,
        seen: &mut Seen,
        capture: Option<&mut Option<Checkpoint>>,
    ) -> Option<()> {
        let key = self.key()?;
        self.expect(b':')?;
        match key {
            b"threadId" => text_key(self, &mut seen.found.thread_id),
            b"turnId" => text_key(self, &mut seen.found.turn_id),
            b"delta" => {
                if let Some(slot) = capture {
                    *slot = Some(Checkpoint {
                        at: self.i,
                        depth: self.depth,
                        seen: seen.clone(),
                    });
                }
                text_key(self, &mut seen.found.delta)
            }
            b"itemId" => text_key(self, &mut seen.found.item_id),
            b"turn" => raw_key(self, &mut seen.found.turn),
            b"item" => raw_key(self, &mut seen.found.item),
            b"tokenUsage" => raw_key(self, &mut seen.found.token_usage),
            b"requestId" => raw_key(self, &mut seen.found.request_id),
            _ => self.value().map(drop),
        }
    }
}

/// A string key of `params` (`null` is its absence; anything else is serde's to judge). A
/// duplicate is serde's error, so it is declined here. `null` then a value is a duplicate
/// too, so a key's first sighting is remembered even when it is `null`.
fn text_key(s: &mut Scanner<'_>, slot: &mut Option<Str>) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    if s.peek()? == b'n' {
        s.literal(b"null")?;
        // Marks the key as seen; `Found` turns an empty marker back into `None`.
        *slot = Some(Str {
            start: usize::MAX,
            end: usize::MAX,
            escaped: false,
        });
        return Some(());
    }
    *slot = Some(s.string()?);
    Some(())
}

/// A raw-JSON key of `params` (`null` is its absence, as serde reads `Option<&RawValue>`).
fn raw_key(s: &mut Scanner<'_>, slot: &mut Option<(usize, usize)>) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(s.value()?);
    Some(())
}

impl Str {
    /// False for the marker of a key that was `null`.
    pub fn is_value(&self) -> bool {
        self.start != usize::MAX
    }
}

/// The first `"`, `\` or control character at or after `i`.
fn find_special(b: &[u8], i: usize) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    let i = {
        // SSE2 is part of x86_64: no detection needed.
        let (found, i) = find_special_sse2(b, i);
        if found.is_some() {
            return found;
        }
        i
    };
    find_special_swar(b, i)
}

/// 16 bytes per step; returns the hit, or where the unscanned tail starts.
#[cfg(target_arch = "x86_64")]
fn find_special_sse2(b: &[u8], mut i: usize) -> (Option<usize>, usize) {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is baseline on x86_64; every load reads 16 bytes inside `b`.
    unsafe {
        let quote = _mm_set1_epi8(b'"' as i8);
        let backslash = _mm_set1_epi8(b'\\' as i8);
        let below_space = _mm_set1_epi8(0x1f);
        while i + 16 <= b.len() {
            let v = _mm_loadu_si128(b.as_ptr().add(i).cast());
            let hits = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                // v <= 0x1f, unsigned: min(v, 0x1f) == v
                _mm_cmpeq_epi8(_mm_min_epu8(v, below_space), v),
            );
            let mask = _mm_movemask_epi8(hits);
            if mask != 0 {
                return (Some(i + mask.trailing_zeros() as usize), i);
            }
            i += 16;
        }
    }
    (None, i)
}

/// 8 bytes per step, for other architectures and for tails.
fn find_special_swar(b: &[u8], mut i: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    while i + 8 <= b.len() {
        let x = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        // Flags every byte equal to `"` or `\`, or below 0x20; a borrow can only flag bytes
        // above a true hit, so the lowest flag is exact.
        let hits = zero_byte(x ^ (ONES * b'"' as u64))
            | zero_byte(x ^ (ONES * b'\\' as u64))
            | (x.wrapping_sub(ONES * 0x20) & !x & HIGH);
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|p| i + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_bytes_are_found_at_every_offset_by_both_scans() {
        for len in 0..70 {
            for at in 0..len {
                for special in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
                    let mut b = vec![b'a'; len];
                    // bytes that are near misses for each test
                    for (k, x) in b.iter_mut().enumerate() {
                        *x = [b'a', 0x20, b'!', b'#', b'[', b']', 0x7f, 0xc3][k % 8];
                    }
                    b[at] = special;
                    assert_eq!(find_special(&b, 0), Some(at), "len {len} at {at}");
                    assert_eq!(find_special_swar(&b, 0), Some(at), "swar len {len} at {at}");
                    if at > 0 {
                        assert_eq!(find_special(&b, at), Some(at));
                    }
                    assert_eq!(find_special(&b, at + 1), None);
                }
            }
        }
    }
}
