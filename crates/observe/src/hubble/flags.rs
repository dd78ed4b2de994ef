//! `hubble observe`-style filter flags turned into whitelist/blacklist
//! [`FilterSpec`]s, with Hubble's semantics:
//!
//! - flags without `--not` build the whitelist, flags after `--not` the
//!   blacklist (`--not` applies to the next filter flag only);
//! - within a list, flags are ANDed, repeated flags ORed;
//! - "either side" flags (`--ip`, `--pod`, `-n`, `--label`, `--service`,
//!   `--fqdn`, `--port`) produce two filters, one for the source side and
//!   one for the destination side, ORed.
//!
//! [`scan`] finds filter flags in a raw argument list in order, which is
//! what gives `--not` its meaning; a CLI declares the same flags for help
//! and validation and passes its argv here.

use std::time::{Duration, SystemTime};

use crate::Error;
use crate::flow::filter::invalid;
use crate::flow::{
    EventType, EventTypeSpec, FilterSpec, FlowFilter, TcpFlags, TracePoint, Verdict,
};

/// Which side(s) a flag constrains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sides {
    From,
    To,
    Either,
}

/// The filter a flag sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Ip,
    Pod,
    Namespace,
    Label,
    Service,
    Fqdn,
    Port,
    Protocol,
    Verdict,
    Type,
    HttpStatus,
    HttpMethod,
    HttpPath,
    NodeName,
    TraceId,
    Uuid,
    TcpFlags,
}

/// Filter flags by long name: (name, field, sides).
const FLAGS: &[(&str, Field, Sides)] = &[
    ("ip", Field::Ip, Sides::Either),
    ("from-ip", Field::Ip, Sides::From),
    ("to-ip", Field::Ip, Sides::To),
    ("pod", Field::Pod, Sides::Either),
    ("from-pod", Field::Pod, Sides::From),
    ("to-pod", Field::Pod, Sides::To),
    ("namespace", Field::Namespace, Sides::Either),
    ("from-namespace", Field::Namespace, Sides::From),
    ("to-namespace", Field::Namespace, Sides::To),
    ("label", Field::Label, Sides::Either),
    ("from-label", Field::Label, Sides::From),
    ("to-label", Field::Label, Sides::To),
    ("service", Field::Service, Sides::Either),
    ("from-service", Field::Service, Sides::From),
    ("to-service", Field::Service, Sides::To),
    ("fqdn", Field::Fqdn, Sides::Either),
    ("from-fqdn", Field::Fqdn, Sides::From),
    ("to-fqdn", Field::Fqdn, Sides::To),
    ("port", Field::Port, Sides::Either),
    ("from-port", Field::Port, Sides::From),
    ("to-port", Field::Port, Sides::To),
    ("protocol", Field::Protocol, Sides::Either),
    ("verdict", Field::Verdict, Sides::Either),
    ("type", Field::Type, Sides::Either),
    ("http-status", Field::HttpStatus, Sides::Either),
    ("http-method", Field::HttpMethod, Sides::Either),
    ("http-path", Field::HttpPath, Sides::Either),
    ("node-name", Field::NodeName, Sides::Either),
    ("trace-id", Field::TraceId, Sides::Either),
    ("uuid", Field::Uuid, Sides::Either),
    ("tcp-flags", Field::TcpFlags, Sides::Either),
];

/// Short spellings: `-n` namespace, `-l` label, `-t` type.
const SHORT: &[(char, &str)] = &[('n', "namespace"), ('l', "label"), ('t', "type")];

/// Non-filter short flags that take a value (`-o json`), so their value is
/// not mistaken for a flag.
const OTHER_VALUE_SHORTS: &[char] = &['o'];

/// The long names of every filter flag (for a CLI to cross-check).
pub fn filter_flag_names() -> impl Iterator<Item = &'static str> {
    FLAGS.iter().map(|(n, _, _)| *n)
}

/// One filter flag occurrence, in command-line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagUse {
    /// Long name without dashes.
    pub name: String,
    pub value: String,
    /// Preceded by `--not`.
    pub negated: bool,
}

/// Finds filter flags (`--name value`, `--name=value`, `-n value`,
/// `-nvalue`, `-fn value`) and `--not` in `args`, in order. Other arguments
/// are skipped; a `--` ends the scan.
pub fn scan<I, S>(args: I) -> Result<Vec<FlagUse>, Error>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let args: Vec<String> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let mut out = Vec::new();
    let mut negate = false;
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            break;
        }
        if arg == "--not" {
            negate = true;
            continue;
        }
        let (name, inline) = if let Some(long) = arg.strip_prefix("--") {
            match long.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None => (long.to_owned(), None),
            }
        } else if let Some(short) = arg.strip_prefix('-') {
            // A cluster like `-fn shop` or `-ftl7`: switches, then at most
            // one flag taking a value (the rest of the cluster or the next
            // argument).
            let mut found = None;
            for (at, c) in short.char_indices() {
                let rest = &short[at + c.len_utf8()..];
                let rest = rest.strip_prefix('=').unwrap_or(rest);
                let inline = (!rest.is_empty()).then(|| rest.to_owned());
                if let Some((_, long)) = SHORT.iter().find(|(s, _)| *s == c) {
                    found = Some(((*long).to_owned(), inline));
                    break;
                }
                if OTHER_VALUE_SHORTS.contains(&c) {
                    if inline.is_none() {
                        i += 1; // skip its separate value
                    }
                    break;
                }
            }
            let Some(found) = found else { continue };
            found
        } else {
            continue;
        };
        if !FLAGS.iter().any(|(n, _, _)| *n == name) {
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => {
                let v = args
                    .get(i)
                    .ok_or_else(|| invalid("flag", &name, "missing value"))?;
                i += 1;
                v.clone()
            }
        };
        out.push(FlagUse {
            name,
            value,
            negated: negate,
        });
        negate = false;
    }
    if negate {
        return Err(invalid(
            "flag",
            "--not",
            "--not must be followed by a filter flag",
        ));
    }
    Ok(out)
}

/// Left (source-side) and right (destination-side) filters of one list.
#[derive(Debug, Default)]
struct Tracker {
    left: FilterSpec,
    right: FilterSpec,
    used: bool,
}

impl Tracker {
    fn both(&mut self, f: impl Fn(&mut FilterSpec)) {
        f(&mut self.left);
        f(&mut self.right);
        self.used = true;
    }

    fn sided(
        &mut self,
        sides: Sides,
        from: impl Fn(&mut FilterSpec),
        to: impl Fn(&mut FilterSpec),
    ) {
        match sides {
            Sides::From => self.both(from),
            Sides::To => self.both(to),
            Sides::Either => {
                from(&mut self.left);
                to(&mut self.right);
                self.used = true;
            }
        }
    }

    fn finish(self) -> Vec<FilterSpec> {
        if !self.used {
            Vec::new()
        } else if self.left == self.right {
            vec![self.left]
        } else {
            vec![self.left, self.right]
        }
    }
}

/// Parses a `-t/--type` value: `trace`, `drop`, `l7`, `policy-verdict`,
/// `trace-sock`, `capture`, `debug`, `agent`, a number, optionally with
/// `:sub-type` (`trace:to-endpoint`, `drop:133`).
pub fn parse_event_type(value: &str) -> Result<EventTypeSpec, Error> {
    let v = value.trim().to_ascii_lowercase();
    let (kind, sub) = match v.split_once(':') {
        Some((k, s)) => (k.to_owned(), Some(s.to_owned())),
        None => (v.clone(), None),
    };
    let kind = match kind.as_str() {
        "drop" => EventType::DROP,
        "debug" => EventType::DEBUG,
        "capture" => EventType::CAPTURE,
        "trace" => EventType::TRACE,
        "policy-verdict" => EventType::POLICY_VERDICT,
        "trace-sock" => EventType::TRACE_SOCK,
        "l7" => EventType::ACCESS_LOG,
        "agent" => EventType::AGENT,
        other => other
            .parse::<i32>()
            .map_err(|_| invalid("type", value, "unknown event type (trace, drop, l7, policy-verdict, trace-sock, capture, debug, agent)"))?,
    };
    let sub_type = match sub {
        None => None,
        Some(s) => Some(match s.parse::<i32>() {
            Ok(n) => n,
            Err(_) if kind == EventType::TRACE => TracePoint::ALL
                .into_iter()
                .find(|p| p.cli_name() == s)
                .map(|p| p as i32)
                .ok_or_else(|| invalid("type", value, "unknown trace observation point"))?,
            Err(_) => return Err(invalid("type", value, "unknown sub-type")),
        }),
    };
    Ok(EventTypeSpec { kind, sub_type })
}

fn parse_tcp_flags(value: &str) -> Result<TcpFlags, Error> {
    value.split(',').try_fold(TcpFlags::default(), |acc, name| {
        let name = name.trim().to_ascii_uppercase();
        TcpFlags::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| acc.with(*f))
            .ok_or_else(|| {
                invalid(
                    "tcp-flags",
                    value,
                    "unknown TCP flag (SYN, ACK, FIN, RST, PSH, URG, ECE, CWR, NS)",
                )
            })
    })
}

/// Builds whitelist and blacklist from flags in order. Pod and service
/// values without a namespace get `namespace` when one is given (`-n`).
/// Every resulting filter is compiled once so invalid values (bad CIDR,
/// bad regex, bad status) are reported here, before any request is sent.
pub fn build(
    uses: &[FlagUse],
    namespace: Option<&str>,
) -> Result<(Vec<FilterSpec>, Vec<FilterSpec>), Error> {
    let mut white = Tracker::default();
    let mut black = Tracker::default();
    for u in uses {
        let Some((_, field, sides)) = FLAGS.iter().find(|(n, _, _)| *n == u.name) else {
            return Err(invalid("flag", &u.name, "not a filter flag"));
        };
        let t = if u.negated { &mut black } else { &mut white };
        let v = u.value.clone();
        let qualify = |v: &str| match namespace {
            Some(ns) if !v.contains('/') => format!("{ns}/{v}"),
            _ => v.to_owned(),
        };
        match field {
            Field::Ip => t.sided(
                *sides,
                |f| f.source_ip.push(v.clone()),
                |f| f.destination_ip.push(v.clone()),
            ),
            Field::Pod => {
                let p = qualify(&v);
                t.sided(
                    *sides,
                    |f| f.source_pod.push(p.clone()),
                    |f| f.destination_pod.push(p.clone()),
                );
            }
            Field::Namespace => {
                let ns = format!("{}/", v.trim_end_matches('/'));
                t.sided(
                    *sides,
                    |f| f.source_pod.push(ns.clone()),
                    |f| f.destination_pod.push(ns.clone()),
                );
            }
            Field::Label => t.sided(
                *sides,
                |f| f.source_label.push(v.clone()),
                |f| f.destination_label.push(v.clone()),
            ),
            Field::Service => {
                let s = qualify(&v);
                t.sided(
                    *sides,
                    |f| f.source_service.push(s.clone()),
                    |f| f.destination_service.push(s.clone()),
                );
            }
            Field::Fqdn => t.sided(
                *sides,
                |f| f.source_fqdn.push(v.clone()),
                |f| f.destination_fqdn.push(v.clone()),
            ),
            Field::Port => t.sided(
                *sides,
                |f| f.source_port.push(v.clone()),
                |f| f.destination_port.push(v.clone()),
            ),
            Field::Protocol => t.both(|f| f.protocol.push(v.clone())),
            Field::Verdict => {
                let verdict = Verdict::parse(&v).ok_or_else(|| {
                    invalid("verdict", &v, "unknown verdict (FORWARDED, DROPPED, ERROR, AUDIT, REDIRECTED, TRACED, TRANSLATED)")
                })?;
                t.both(|f| f.verdict.push(verdict));
            }
            Field::Type => {
                let et = parse_event_type(&v)?;
                t.both(|f| f.event_type.push(et));
            }
            Field::HttpStatus => t.both(|f| f.http_status_code.push(v.clone())),
            Field::HttpMethod => t.both(|f| f.http_method.push(v.clone())),
            Field::HttpPath => t.both(|f| f.http_path.push(v.clone())),
            Field::NodeName => t.both(|f| f.node_name.push(v.clone())),
            Field::TraceId => t.both(|f| f.trace_id.push(v.clone())),
            Field::Uuid => t.both(|f| f.uuid.push(v.clone())),
            Field::TcpFlags => {
                let flags = parse_tcp_flags(&v)?;
                t.both(|f| f.tcp_flags.push(flags));
            }
        }
    }
    let (white, black) = (white.finish(), black.finish());
    for spec in white.iter().chain(black.iter()) {
        FlowFilter::compile(spec)?;
    }
    Ok((white, black))
}

/// Parses `--since`/`--until`: a duration back from `now` (`30s`, `5m`,
/// `1h30m`) or an RFC 3339 time (`2026-01-02T15:04:05Z`).
pub fn parse_time(field: &'static str, value: &str, now: SystemTime) -> Result<SystemTime, Error> {
    let v = value.trim();
    if let Ok(d) = humantime::parse_duration(v) {
        return now
            .checked_sub(d)
            .ok_or_else(|| invalid(field, value, "too far in the past"));
    }
    humantime::parse_rfc3339_weak(v).map_err(|_| {
        invalid(
            field,
            value,
            "expected a duration (5m, 1h30m) or an RFC 3339 time (2026-01-02T15:04:05Z)",
        )
    })
}

/// Formats a duration the way `--since` accepts it.
pub fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn scan_finds_filter_flags_in_order_with_not() {
        let uses = scan(args(
            "observe -f --last 5 --from-ip 10.0.0.1 --not --to-ip=10.0.0.2 -n shop -tl7 --http-status 5+ -o json",
        ))
        .expect("valid");
        let names: Vec<(&str, &str, bool)> = uses
            .iter()
            .map(|u| (u.name.as_str(), u.value.as_str(), u.negated))
            .collect();
        assert_eq!(
            names,
            vec![
                ("from-ip", "10.0.0.1", false),
                ("to-ip", "10.0.0.2", true),
                ("namespace", "shop", false),
                ("type", "l7", false),
                ("http-status", "5+", false),
            ]
        );
    }

    #[test]
    fn short_clusters() {
        let uses = scan(args("-fn shop -ftl7 -fo json -l app=web -ojson")).expect("valid");
        let got: Vec<(&str, &str)> = uses
            .iter()
            .map(|u| (u.name.as_str(), u.value.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![("namespace", "shop"), ("type", "l7"), ("label", "app=web")]
        );
    }

    #[test]
    fn dangling_not_and_missing_value_are_errors() {
        assert!(scan(args("--from-ip 1.1.1.1 --not")).is_err());
        assert!(scan(args("--to-ip")).is_err());
    }

    #[test]
    fn from_flags_and_and_either_flags_split() {
        let uses = scan(args("--from-ip 10.0.0.1 --protocol tcp")).expect("valid");
        let (white, black) = build(&uses, None).expect("valid");
        assert!(black.is_empty());
        assert_eq!(white.len(), 1);
        assert_eq!(white[0].source_ip, vec!["10.0.0.1"]);
        assert_eq!(white[0].protocol, vec!["tcp"]);

        let uses = scan(args("-n shop --port 80 --verdict dropped")).expect("valid");
        let (white, _) = build(&uses, None).expect("valid");
        assert_eq!(white.len(), 2);
        assert_eq!(white[0].source_pod, vec!["shop/"]);
        assert_eq!(white[0].source_port, vec!["80"]);
        assert!(white[0].destination_pod.is_empty());
        assert_eq!(white[1].destination_pod, vec!["shop/"]);
        assert_eq!(white[1].destination_port, vec!["80"]);
        assert_eq!(white[0].verdict, vec![Verdict::Dropped]);
        assert_eq!(white[1].verdict, vec![Verdict::Dropped]);
    }

    #[test]
    fn not_goes_to_blacklist_and_namespace_qualifies_services() {
        let uses = scan(args("--to-service web --not --http-path ^/health")).expect("valid");
        let (white, black) = build(&uses, Some("shop")).expect("valid");
        assert_eq!(white.len(), 1);
        assert_eq!(white[0].destination_service, vec!["shop/web"]);
        assert_eq!(black.len(), 1);
        assert_eq!(black[0].http_path, vec!["^/health"]);
    }

    #[test]
    fn invalid_values_are_reported_before_sending() {
        for bad in [
            "--verdict ALLOWED",
            "--from-ip 10.0.0.0/99",
            "--http-path (",
            "--http-status 7+",
            "--port http",
            "--protocol quic",
            "-t bogus",
            "-t trace:sideways",
            "--tcp-flags SYN,NOPE",
        ] {
            let uses = scan(args(bad)).expect("scan");
            let err = build(&uses, None).expect_err(bad);
            assert!(
                err.to_string().contains("invalid flow filter"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn event_types() {
        assert_eq!(
            parse_event_type("trace:to-endpoint").expect("valid"),
            EventTypeSpec {
                kind: EventType::TRACE,
                sub_type: Some(0)
            }
        );
        assert_eq!(
            parse_event_type("L7").expect("valid"),
            EventTypeSpec {
                kind: EventType::ACCESS_LOG,
                sub_type: None
            }
        );
        assert_eq!(
            parse_event_type("drop:133").expect("valid").sub_type,
            Some(133)
        );
    }

    #[test]
    fn times_relative_and_absolute() {
        let now = UNIX_EPOCH + Duration::from_secs(10_000);
        assert_eq!(
            parse_time("since", "5m", now).expect("valid"),
            UNIX_EPOCH + Duration::from_secs(9_700)
        );
        assert_eq!(
            parse_time("since", "1970-01-01T00:00:10Z", now).expect("valid"),
            UNIX_EPOCH + Duration::from_secs(10)
        );
        assert!(parse_time("since", "yesterday-ish", now).is_err());
    }
}
