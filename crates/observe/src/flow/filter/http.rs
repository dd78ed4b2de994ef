//! HTTP filters: status code (`404`, `4+`, `40+`), method and path regex;
//! plus the DNS query regex (validated; Portico records no DNS).

use regex::Regex;

use super::{Predicate, invalid, when};
use crate::Error;

/// A status pattern: the decimal prefix a code must start with, and
/// whether the pattern is exact (three digits) or a `+` range.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StatusPattern {
    prefix: String,
    exact: bool,
}

impl StatusPattern {
    fn parse(value: &str) -> Result<StatusPattern, Error> {
        let v = value.trim();
        let (digits, exact) = match v.strip_suffix('+') {
            Some(d) => (d, false),
            None => (v, true),
        };
        let ok_len = if exact {
            digits.len() == 3
        } else {
            (1..=2).contains(&digits.len())
        };
        let first_ok = digits
            .as_bytes()
            .first()
            .is_some_and(|b| (b'1'..=b'5').contains(b));
        if !ok_len || !first_ok || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(
                "http_status_code",
                value,
                "expected a status code (404) or a prefix range (4+, 40+)",
            ));
        }
        Ok(StatusPattern {
            prefix: digits.to_owned(),
            exact,
        })
    }

    fn matches(&self, code: u16) -> bool {
        let code = code.to_string();
        if self.exact {
            code == self.prefix
        } else {
            code.starts_with(&self.prefix)
        }
    }
}

pub(super) fn status_code(values: &[String]) -> Result<Option<Predicate>, Error> {
    let pats = values
        .iter()
        .map(|v| StatusPattern::parse(v))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(when(!pats.is_empty(), move |r| {
        r.flow
            .http()
            .is_some_and(|h| h.code != 0 && pats.iter().any(|p| p.matches(h.code)))
    }))
}

pub(super) fn method(values: &[String]) -> Result<Option<Predicate>, Error> {
    let methods = values
        .iter()
        .map(|v| {
            let m = v.trim();
            if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
                Err(invalid("http_method", v, "not an HTTP method"))
            } else {
                Ok(m.to_ascii_uppercase())
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(when(!methods.is_empty(), move |r| {
        r.flow
            .http()
            .is_some_and(|h| methods.iter().any(|m| m.eq_ignore_ascii_case(&h.method)))
    }))
}

fn regexes(field: &'static str, values: &[String]) -> Result<Vec<Regex>, Error> {
    values
        .iter()
        .map(|v| {
            Regex::new(v).map_err(|e| invalid(field, v, format!("invalid regular expression: {e}")))
        })
        .collect()
}

pub(super) fn path(values: &[String]) -> Result<Option<Predicate>, Error> {
    let res = regexes("http_path", values)?;
    Ok(when(!res.is_empty(), move |r| {
        r.flow.http().is_some_and(|h| {
            let path = h.path();
            res.iter().any(|re| re.is_match(path))
        })
    }))
}

pub(super) fn dns_query(values: &[String]) -> Result<Option<Predicate>, Error> {
    let res = regexes("dns_query", values)?;
    Ok(when(!res.is_empty(), |_| false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::filter::test_support::recorded;
    use crate::flow::record::{Flow, HttpInfo, L7Record, L7Type, Layer7};

    fn http(method: &str, url: &str, code: u16) -> Flow {
        Flow {
            l7: Some(Layer7 {
                kind: if code == 0 {
                    L7Type::Request
                } else {
                    L7Type::Response
                },
                latency: None,
                record: L7Record::Http(HttpInfo {
                    code,
                    method: method.to_owned().into(),
                    url: url.into(),
                    protocol: "HTTP/1.1",
                    ..HttpInfo::default()
                }),
            }),
            ..Flow::default()
        }
    }

    fn status(p: &str, code: u16) -> bool {
        status_code(&[p.to_string()]).expect("valid").expect("set")(&recorded(http(
            "GET", "/", code,
        )))
    }

    #[test]
    fn status_exact_and_ranges() {
        assert!(status("404", 404));
        assert!(!status("404", 403));
        assert!(status("4+", 404));
        assert!(status("4+", 499));
        assert!(!status("4+", 500));
        assert!(status("5+", 503));
        assert!(status("50+", 503));
        assert!(!status("50+", 510));
        assert!(!status("2+", 0), "requests have no status");
        assert!(!status_code(&["2+".into()]).expect("valid").expect("set")(
            &recorded(Flow::default())
        ));
    }

    #[test]
    fn bad_status_patterns_are_rejected() {
        for bad in ["", "+", "6+", "4040", "40", "4x+", "600", "1234+", "abc"] {
            let err = status_code(&[bad.into()]).err().expect(bad);
            assert!(err.to_string().contains("http_status_code"), "{err}");
        }
    }

    #[test]
    fn method_is_case_insensitive() {
        let f = recorded(http("POST", "/", 200));
        assert!(method(&["post".into()]).expect("valid").expect("set")(&f));
        assert!(method(&["GET".into(), "POST".into()])
            .expect("valid")
            .expect("set")(&f));
        assert!(!method(&["GET".into()]).expect("valid").expect("set")(&f));
        assert!(method(&["GE T".into()]).is_err());
        assert!(method(&["".into()]).is_err());
    }

    #[test]
    fn path_regex_matches_path_only() {
        let f = recorded(http("GET", "http://shop.example/api/v1/items?id=7", 200));
        let m = |re: &str| path(&[re.to_string()]).expect("valid").expect("set")(&f);
        assert!(m("^/api/v[0-9]+/"));
        assert!(m("items"));
        assert!(!m("id=7"), "query is not part of the path");
        assert!(!m("shop"), "host is not part of the path");
        assert!(!m("^/v1"));
    }

    #[test]
    fn bad_regex_is_rejected() {
        let err = path(&["(unclosed".into()]).err().expect("bad regex");
        assert!(
            err.to_string().contains("invalid regular expression"),
            "{err}"
        );
        assert!(dns_query(&["[".into()]).is_err());
        let dns = dns_query(&[".*".into()]).expect("valid").expect("set");
        assert!(!dns(&recorded(Flow::default())));
    }
}
