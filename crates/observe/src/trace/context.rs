//! W3C Trace Context: the `traceparent` and `tracestate` headers.
//!
//! Parsing follows the W3C rules: lowercase hex only, all-zero trace or
//! parent ids are invalid, version `ff` is invalid, version `00` is exactly
//! 55 characters, and a higher (future) version is read by its first 55
//! characters when the next one is `-`. A malformed `traceparent` yields
//! `None` and the caller starts a new trace; a malformed `tracestate` is
//! dropped as a whole.

use std::fmt;

/// A 16-byte trace id (never all zeros once parsed or generated).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId(pub [u8; 16]);

/// An 8-byte span id (never all zeros once parsed or generated).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanId(pub [u8; 8]);

impl TraceId {
    /// A random, non-zero trace id.
    pub fn random() -> TraceId {
        loop {
            let id = rand::random::<[u8; 16]>();
            if id != [0; 16] {
                return TraceId(id);
            }
        }
    }

    /// 32 lowercase hex digits.
    pub fn to_hex(self) -> String {
        let mut s = String::with_capacity(32);
        push_hex(&mut s, &self.0);
        s
    }
}

impl SpanId {
    /// A random, non-zero span id.
    pub fn random() -> SpanId {
        loop {
            let id = rand::random::<[u8; 8]>();
            if id != [0; 8] {
                return SpanId(id);
            }
        }
    }

    /// 16 lowercase hex digits.
    pub fn to_hex(self) -> String {
        let mut s = String::with_capacity(16);
        push_hex(&mut s, &self.0);
        s
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The sampled bit of the trace flags.
pub const FLAG_SAMPLED: u8 = 0x01;

/// A parsed `traceparent` header (written back as version `00`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: TraceId,
    /// The caller's span: the parent of the span Portico creates.
    pub parent_id: SpanId,
    pub flags: u8,
}

const VERSION_00_LEN: usize = 55;

impl TraceParent {
    /// Parses a `traceparent` value; `None` when it is malformed.
    pub fn parse(value: &str) -> Option<TraceParent> {
        let v = value.trim_matches(|c| c == ' ' || c == '\t').as_bytes();
        if v.len() < VERSION_00_LEN {
            return None;
        }
        let version = hex_byte(v[0], v[1])?;
        if version == 0xff || v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
            return None;
        }
        match (version, v.len()) {
            (0, VERSION_00_LEN) => {}
            (0, _) => return None,
            // A future version may append fields after a dash.
            (_, VERSION_00_LEN) => {}
            (_, _) if v[VERSION_00_LEN] == b'-' => {}
            _ => return None,
        }
        let mut trace_id = [0u8; 16];
        decode_hex(&v[3..35], &mut trace_id)?;
        let mut parent_id = [0u8; 8];
        decode_hex(&v[36..52], &mut parent_id)?;
        let flags = hex_byte(v[53], v[54])?;
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(TraceParent {
            trace_id: TraceId(trace_id),
            parent_id: SpanId(parent_id),
            flags,
        })
    }

    /// The header value, version `00`.
    pub fn format(&self) -> String {
        let mut s = String::with_capacity(VERSION_00_LEN);
        s.push_str("00-");
        push_hex(&mut s, &self.trace_id.0);
        s.push('-');
        push_hex(&mut s, &self.parent_id.0);
        s.push('-');
        push_hex(&mut s, &[self.flags]);
        s
    }

    pub fn sampled(&self) -> bool {
        self.flags & FLAG_SAMPLED != 0
    }
}

/// Most list members a `tracestate` may carry.
const MAX_TRACESTATE_MEMBERS: usize = 32;

/// Validates a `tracestate` value (several header lines joined with `,`)
/// and returns it normalized (empty members and optional whitespace
/// removed). `None` when any member is malformed or there are too many:
/// the whole value is then discarded.
pub fn parse_tracestate(value: &str) -> Option<String> {
    let mut out = String::with_capacity(value.len());
    let mut members = 0;
    for member in value.split(',') {
        let member = member.trim_matches(|c| c == ' ' || c == '\t');
        if member.is_empty() {
            continue;
        }
        let (key, val) = member.split_once('=')?;
        if !valid_key(key) || !valid_value(val) {
            return None;
        }
        members += 1;
        if members > MAX_TRACESTATE_MEMBERS {
            return None;
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(member);
    }
    (!out.is_empty()).then_some(out)
}

/// `simple-key` or `tenant-id@system-id`.
fn valid_key(key: &str) -> bool {
    match key.split_once('@') {
        Some((tenant, system)) => {
            valid_key_part(tenant, 241, true) && valid_key_part(system, 14, false)
        }
        None => valid_key_part(key, 256, false),
    }
}

/// Lowercase letters, digits and `_-*/`; a simple key and a system id
/// start with a letter, a tenant id may start with a digit.
fn valid_key_part(part: &str, max: usize, digit_first: bool) -> bool {
    let b = part.as_bytes();
    let Some(&first) = b.first() else {
        return false;
    };
    b.len() <= max
        && (first.is_ascii_lowercase() || (digit_first && first.is_ascii_digit()))
        && b.iter().all(|&c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'*' | b'/')
        })
}

/// Printable ASCII except `,` and `=`, at most 256, not ending in a space.
fn valid_value(v: &str) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= 256
        && b.last() != Some(&b' ')
        && b.iter()
            .all(|&c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
}

fn push_hex(s: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
}

/// One lowercase hex digit (W3C forbids uppercase).
fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn hex_byte(hi: u8, lo: u8) -> Option<u8> {
    Some(hex_digit(hi)? << 4 | hex_digit(lo)?)
}

fn decode_hex(src: &[u8], dst: &mut [u8]) -> Option<()> {
    for (pair, out) in src.chunks_exact(2).zip(dst.iter_mut()) {
        *out = hex_byte(pair[0], pair[1])?;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_the_spec_example() {
        let tp = TraceParent::parse(EXAMPLE).expect("valid");
        assert_eq!(tp.trace_id.to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(tp.parent_id.to_hex(), "00f067aa0ba902b7");
        assert!(tp.sampled());
        assert_eq!(tp.format(), EXAMPLE);
        let unsampled = TraceParent::parse(&EXAMPLE.replace("-01", "-00")).expect("valid");
        assert!(!unsampled.sampled());
    }

    #[test]
    fn malformed_traceparents_are_ignored() {
        for bad in [
            "",
            "00",
            // uppercase hex
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            // all-zero trace id, all-zero parent id
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            // version ff
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // version 00 with trailing data
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            // wrong separators, short fields, non-hex
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // future version followed by something other than a dash
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn future_versions_are_read_by_their_first_fields() {
        let tp = TraceParent::parse(
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds",
        )
        .expect("valid");
        assert_eq!(tp.trace_id.to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            TraceParent::parse(&format!(" {EXAMPLE}\t")),
            TraceParent::parse(EXAMPLE)
        );
    }

    #[test]
    fn tracestate_is_validated_and_normalized() {
        assert_eq!(
            parse_tracestate("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE,,").as_deref(),
            Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
        );
        assert_eq!(
            parse_tracestate("fw529a3039@dt=x,1tenant@sys=y").as_deref(),
            Some("fw529a3039@dt=x,1tenant@sys=y")
        );
        for bad in [
            "Upper=1", "k", "k=", "k=a,b", "=v", "k=v w=", "1key=v", "k=\u{7f}",
        ] {
            assert_eq!(parse_tracestate(bad), None, "{bad:?}");
        }
        let too_many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert_eq!(parse_tracestate(&too_many.join(",")), None);
        assert_eq!(parse_tracestate(" , "), None);
    }

    fn traceparent() -> impl Strategy<Value = TraceParent> {
        (any::<[u8; 16]>(), any::<[u8; 8]>(), any::<u8>())
            .prop_filter("non-zero ids", |(t, s, _)| *t != [0; 16] && *s != [0; 8])
            .prop_map(|(t, s, flags)| TraceParent {
                trace_id: TraceId(t),
                parent_id: SpanId(s),
                flags,
            })
    }

    proptest! {
        #[test]
        fn parse_inverts_format(tp in traceparent()) {
            prop_assert_eq!(TraceParent::parse(&tp.format()), Some(tp));
        }

        #[test]
        fn parse_never_panics_and_accepts_only_lowercase_hex(s in "\\PC{0,80}") {
            if let Some(tp) = TraceParent::parse(&s) {
                let formatted = tp.format();
                // What was accepted re-reads to the same context.
                prop_assert_eq!(TraceParent::parse(&formatted), Some(tp));
                prop_assert!(formatted.bytes().all(|c| c == b'-' || hex_digit(c).is_some()));
            }
        }

        #[test]
        fn single_character_corruption_is_rejected(
            tp in traceparent(),
            at in 0usize..55,
            c in prop::sample::select(vec!['G', 'Z', '_', ' ', 'A', '-']),
        ) {
            let mut s: Vec<char> = tp.format().chars().collect();
            if s[at] != c {
                s[at] = c;
                let s: String = s.into_iter().collect();
                // Every position holds lowercase hex or a dash; none of these
                // replacements is valid there (a space at either end is
                // trimmed, which leaves a header one character short).
                prop_assert_eq!(TraceParent::parse(&s), None);
            }
        }

        #[test]
        fn valid_tracestate_round_trips(
            members in prop::collection::vec(("[a-z][a-z0-9_*/-]{0,10}", "[!-+.-<>-~]{1,10}"), 1..32)
        ) {
            let joined: Vec<String> = members.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let joined = joined.join(",");
            let parsed = parse_tracestate(&joined);
            prop_assert_eq!(parsed.as_deref(), Some(joined.as_str()));
        }
    }
}
