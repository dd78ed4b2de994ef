//! Session persistence (cookie or header): the first response names the
//! endpoint that served it; later requests that carry the name go back to
//! that endpoint while it stays usable. Tokens are a fixed hash of the
//! endpoint address, so every replica understands every other's tokens.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use portico_ir::{SessionPersistence, SessionPersistenceKind};

#[derive(Clone, Debug)]
pub enum Session {
    Cookie {
        name: Box<str>,
        /// `Max-Age` for permanent cookies.
        max_age: Option<u64>,
    },
    Header(HeaderName),
}

impl Session {
    pub fn compile(p: &SessionPersistence) -> Option<Session> {
        match p.kind {
            SessionPersistenceKind::Cookie => {
                let valid = !p.name.is_empty()
                    && p.name
                        .bytes()
                        .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b));
                if !valid {
                    tracing::warn!(name = %p.name, "invalid session cookie name; session persistence off");
                    return None;
                }
                Some(Session::Cookie {
                    name: p.name.as_str().into(),
                    max_age: p
                        .absolute_timeout
                        .filter(|_| p.permanent)
                        .map(|d| d.as_secs()),
                })
            }
            SessionPersistenceKind::Header => match HeaderName::from_bytes(p.name.as_bytes()) {
                Ok(name) => Some(Session::Header(name)),
                Err(_) => {
                    tracing::warn!(name = %p.name, "invalid session header name; session persistence off");
                    None
                }
            },
        }
    }

    /// The session token the request carries, if any.
    pub fn token<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        match self {
            Session::Header(name) => headers.get(name)?.to_str().ok(),
            Session::Cookie { name, .. } => headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .find_map(|kv| {
                    let (k, v) = kv.trim().split_once('=')?;
                    (k == &**name).then_some(v.trim_matches('"'))
                }),
        }
    }

    /// Names the serving endpoint in the response.
    pub fn stamp(&self, headers: &mut HeaderMap, token: &str) {
        match self {
            Session::Header(name) => {
                if let Ok(v) = HeaderValue::from_str(token) {
                    headers.insert(name.clone(), v);
                }
            }
            Session::Cookie { name, max_age } => {
                let mut cookie = format!("{name}={token}; Path=/; HttpOnly");
                if let Some(age) = max_age {
                    cookie.push_str(&format!("; Max-Age={age}"));
                }
                if let Ok(v) = HeaderValue::from_str(&cookie) {
                    headers.append(header::SET_COOKIE, v);
                }
            }
        }
    }
}

/// The token for an endpoint address.
pub fn token_for(address: &std::net::SocketAddr) -> String {
    format!(
        "{:016x}",
        portico_maglev::xxh64(address.to_string().as_bytes(), 0x7365_7373_696f_6e31)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn policy(kind: SessionPersistenceKind, name: &str, permanent: bool) -> SessionPersistence {
        SessionPersistence {
            kind,
            name: name.into(),
            absolute_timeout: Some(Duration::from_secs(600)),
            idle_timeout: None,
            permanent,
        }
    }

    #[test]
    fn cookie_round_trip() {
        let s = Session::compile(&policy(SessionPersistenceKind::Cookie, "sticky", true)).unwrap();
        let mut resp = HeaderMap::new();
        s.stamp(&mut resp, "abc123");
        assert_eq!(
            resp[header::SET_COOKIE],
            "sticky=abc123; Path=/; HttpOnly; Max-Age=600"
        );
        let mut req = HeaderMap::new();
        req.insert(
            header::COOKIE,
            "other=1; sticky=abc123; x=y".parse().unwrap(),
        );
        assert_eq!(s.token(&req), Some("abc123"));
        req.insert(header::COOKIE, "stickyx=1".parse().unwrap());
        assert_eq!(s.token(&req), None);
    }

    #[test]
    fn session_cookie_has_no_max_age() {
        let s = Session::compile(&policy(SessionPersistenceKind::Cookie, "sid", false)).unwrap();
        let mut resp = HeaderMap::new();
        s.stamp(&mut resp, "t");
        assert_eq!(resp[header::SET_COOKIE], "sid=t; Path=/; HttpOnly");
    }

    #[test]
    fn header_round_trip_and_invalid_names() {
        let s =
            Session::compile(&policy(SessionPersistenceKind::Header, "X-Session", false)).unwrap();
        let mut resp = HeaderMap::new();
        s.stamp(&mut resp, "tok");
        assert_eq!(resp["x-session"], "tok");
        assert_eq!(s.token(&resp), Some("tok"));
        assert!(
            Session::compile(&policy(SessionPersistenceKind::Header, "bad name", false)).is_none()
        );
        assert!(
            Session::compile(&policy(SessionPersistenceKind::Cookie, "bad;name", false)).is_none()
        );
    }

    #[test]
    fn tokens_are_stable_and_distinct() {
        let a: std::net::SocketAddr = "10.0.0.1:80".parse().unwrap();
        let b: std::net::SocketAddr = "10.0.0.2:80".parse().unwrap();
        assert_eq!(token_for(&a), token_for(&a));
        assert_ne!(token_for(&a), token_for(&b));
        assert_eq!(token_for(&a).len(), 16);
    }
}
