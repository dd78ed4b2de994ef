//! Header and query-parameter matches shared by HTTPRoute and GRPCRoute.

use portico_ir::{HeaderMatch, QueryParamMatch, StringMatch};

use super::problem::Problem;

/// Upper bound on a compiled regex, so hostile input cannot make
/// translation allocate without limit.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Validates an RE2-style regular expression the way the data plane will
/// use it (anchored over the whole value).
pub fn check_regex(pattern: &str, what: &str) -> Result<(), Problem> {
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map(|_| ())
        .map_err(|e| {
            // The syntax error text spans lines (pattern, caret, reason):
            // keep the reason so the condition message stays one line.
            let text = e.to_string();
            let reason = text.lines().last().unwrap_or_default().trim();
            let reason = reason.strip_prefix("error: ").unwrap_or(reason);
            Problem::unsupported(format!(
                "invalid regular expression in {what} {pattern:?}: {reason}"
            ))
        })
}

/// Header matches: names lower-cased, only the first entry per name kept (as
/// the spec requires), regexes validated.
pub fn headers<'a>(
    items: impl Iterator<Item = (&'a str, &'a str, bool)>,
) -> Result<Vec<HeaderMatch>, Problem> {
    let mut out: Vec<HeaderMatch> = Vec::new();
    for (name, value, regex) in items {
        let name = name.to_ascii_lowercase();
        if out.iter().any(|h| h.name == name) {
            continue;
        }
        out.push(HeaderMatch {
            value: string_match(value, regex, "header match")?,
            name,
        });
    }
    Ok(out)
}

/// Query-param matches: names are case-sensitive; first entry per name wins.
pub fn query_params<'a>(
    items: impl Iterator<Item = (&'a str, &'a str, bool)>,
) -> Result<Vec<QueryParamMatch>, Problem> {
    let mut out: Vec<QueryParamMatch> = Vec::new();
    for (name, value, regex) in items {
        if out.iter().any(|q| q.name == name) {
            continue;
        }
        out.push(QueryParamMatch {
            name: name.to_string(),
            value: string_match(value, regex, "query param match")?,
        });
    }
    Ok(out)
}

fn string_match(value: &str, regex: bool, what: &str) -> Result<StringMatch, Problem> {
    if regex {
        check_regex(value, what)?;
        Ok(StringMatch::Regex(value.to_string()))
    } else {
        Ok(StringMatch::Exact(value.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_header_per_name_wins() {
        let got = headers(
            [
                ("X-Foo", "a", false),
                ("x-foo", "b", false),
                ("Bar", "c.*", true),
            ]
            .into_iter(),
        )
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].name, "x-foo");
        assert_eq!(got[0].value, StringMatch::Exact("a".into()));
        assert_eq!(got[1].value, StringMatch::Regex("c.*".into()));
    }

    #[test]
    fn bad_regex_is_unsupported_value() {
        let err = headers([("a", "(", true)].into_iter()).unwrap_err();
        assert_eq!(err.reason, "UnsupportedValue");
        assert!(check_regex("x{1000000}", "path").is_err(), "size limit");
    }

    #[test]
    fn query_params_are_case_sensitive() {
        let got = query_params([("A", "1", false), ("a", "2", false)].into_iter()).unwrap();
        assert_eq!(got.len(), 2);
    }
}
