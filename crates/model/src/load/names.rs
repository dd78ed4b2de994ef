//! Object name rules the API server enforces (apimachinery validation).

/// Which rule a name must follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameRule {
    /// RFC 1123 subdomain: at most 253 of `a-z0-9-.`, alphanumeric at both ends.
    Subdomain,
    /// RFC 1123 label: at most 63 of `a-z0-9-`, alphanumeric at both ends.
    Label,
    /// RFC 1035 label: an RFC 1123 label that starts with a letter.
    Label1035,
}

/// The rule for `metadata.name` of `kind`.
pub(crate) fn name_rule(kind: &str) -> NameRule {
    match kind {
        "Namespace" => NameRule::Label,
        "Service" => NameRule::Label1035,
        _ => NameRule::Subdomain,
    }
}

fn alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && alnum(b[0])
        && alnum(b[b.len() - 1])
        && b.iter().all(|&c| alnum(c) || c == b'-')
}

/// Checks `name` against `rule`; the error reads like the API server's.
pub(crate) fn check(rule: NameRule, name: &str) -> Result<(), String> {
    let ok = match rule {
        NameRule::Subdomain => {
            name.len() <= 253
                && !name.is_empty()
                && name.split('.').all(|part| {
                    let b = part.as_bytes();
                    !b.is_empty()
                        && alnum(b[0])
                        && alnum(b[b.len() - 1])
                        && b.iter().all(|&c| alnum(c) || c == b'-')
                })
        }
        NameRule::Label => is_label(name),
        NameRule::Label1035 => is_label(name) && name.as_bytes()[0].is_ascii_lowercase(),
    };
    if ok {
        return Ok(());
    }
    Err(match rule {
        NameRule::Subdomain => format!(
            "invalid value {name:?}: a lowercase RFC 1123 subdomain (at most 253 characters) \
             must consist of lower case alphanumeric characters, '-' or '.', and must start \
             and end with an alphanumeric character"
        ),
        NameRule::Label => format!(
            "invalid value {name:?}: a lowercase RFC 1123 label (at most 63 characters) must \
             consist of lower case alphanumeric characters or '-', and must start and end with \
             an alphanumeric character"
        ),
        NameRule::Label1035 => format!(
            "invalid value {name:?}: a DNS-1035 label (at most 63 characters) must consist of \
             lower case alphanumeric characters or '-', start with an alphabetic character, \
             and end with an alphanumeric character"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains() {
        for ok in ["a", "a.b-c", "0abc", "x.y.z", &"a".repeat(253)] {
            assert!(check(NameRule::Subdomain, ok).is_ok(), "{ok}");
        }
        for bad in ["", "A", "a..b", "-a", "a-", "a_b", ".a", &"a".repeat(254)] {
            assert!(check(NameRule::Subdomain, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn labels() {
        assert!(check(NameRule::Label, "0-a").is_ok());
        assert!(check(NameRule::Label, "a.b").is_err());
        assert!(check(NameRule::Label, &"a".repeat(64)).is_err());
        assert!(check(NameRule::Label1035, "svc-1").is_ok());
        assert!(check(NameRule::Label1035, "1svc").is_err());
        assert_eq!(name_rule("Service"), NameRule::Label1035);
        assert_eq!(name_rule("HTTPRoute"), NameRule::Subdomain);
    }
}
