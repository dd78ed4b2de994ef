//! Listener hostname validation: a DNS-1123 subdomain, optionally with a
//! leading `*.` wildcard label; IP addresses are not hostnames.

/// Why a listener hostname is rejected, or `None` when it is valid.
pub fn invalid_reason(hostname: &str) -> Option<String> {
    let name = hostname.strip_prefix("*.").unwrap_or(hostname);
    if name.is_empty() {
        return Some("hostname is empty".to_string());
    }
    if hostname.len() > 253 {
        return Some("hostname is longer than 253 characters".to_string());
    }
    if name.parse::<std::net::IpAddr>().is_ok() {
        return Some("hostname must not be an IP address".to_string());
    }
    for label in name.split('.') {
        let bytes = label.as_bytes();
        let valid = !bytes.is_empty()
            && bytes.len() <= 63
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
            && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
            && bytes.last().is_some_and(u8::is_ascii_alphanumeric);
        if !valid {
            return Some(format!(
                "label {label:?} is not a lower-case DNS-1123 label (a wildcard is only allowed as the whole first label)"
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_names_and_leading_wildcards() {
        for ok in [
            "example.com",
            "a.b-c.example",
            "*.example.com",
            "localhost",
            "x1",
        ] {
            assert_eq!(invalid_reason(ok), None, "{ok}");
        }
    }

    #[test]
    fn rejects_bad_names() {
        for bad in [
            "",
            "*",
            "*.",
            "Example.com",
            "a..b",
            "-a.com",
            "a-.com",
            "foo.*.com",
            "a*.com",
            "10.0.0.1",
            "under_score.com",
            "*.*.com",
        ] {
            assert!(invalid_reason(bad).is_some(), "{bad}");
        }
    }
}
