//! `X-Echo-Set-Header: Name:val,Name2:val2` — response headers the client
//! asks the echo server to set.

use http::{HeaderMap, HeaderName, HeaderValue};

/// The request header carrying the instructions.
pub(crate) const ECHO_SET_HEADER: &str = "x-echo-set-header";

/// Adds the headers requested in `request` to `response`. Every occurrence
/// of the request header is a comma-separated list of `Name:value`; a name
/// given twice gets its values joined with `,`. Malformed names or values are
/// skipped.
pub(crate) fn apply_echo_set_header(request: &HeaderMap, response: &mut HeaderMap) {
    let mut collected: Vec<(HeaderName, String)> = Vec::new();
    for list in request.get_all(ECHO_SET_HEADER) {
        let Ok(list) = list.to_str() else { continue };
        for item in list.split(',') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let (name, value) = item.split_once(':').unwrap_or((item, ""));
            let Ok(name) = HeaderName::from_bytes(name.trim().as_bytes()) else {
                continue;
            };
            let value = value.trim();
            match collected.iter_mut().find(|(n, _)| *n == name) {
                Some((_, existing)) => {
                    existing.push(',');
                    existing.push_str(value);
                }
                None => collected.push((name, value.to_owned())),
            }
        }
    }
    for (name, value) in collected {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(values: &[&str]) -> HeaderMap {
        let mut req = HeaderMap::new();
        for v in values {
            req.append(ECHO_SET_HEADER, v.parse().expect("value"));
        }
        let mut resp = HeaderMap::new();
        apply_echo_set_header(&req, &mut resp);
        resp
    }

    #[test]
    fn sets_listed_headers() {
        let resp = apply(&["X-Header-Set-1:a, X-Header-Set-2: b"]);
        assert_eq!(resp["x-header-set-1"], "a");
        assert_eq!(resp["x-header-set-2"], "b");
    }

    #[test]
    fn repeated_names_are_joined() {
        let resp = apply(&["X-A:1,X-A:2", "x-a:3"]);
        assert_eq!(resp["x-a"], "1,2,3");
    }

    #[test]
    fn empty_and_malformed_entries_are_ignored() {
        let resp = apply(&["", " , bad name:1,X-Ok:"]);
        assert_eq!(resp.len(), 1);
        assert_eq!(resp["x-ok"], "");
    }
}
