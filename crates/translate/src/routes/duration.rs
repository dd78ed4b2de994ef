//! Gateway API durations (GEP-2257): one to four `<1-5 digits><unit>` pairs,
//! units `h`, `m`, `s`, `ms`, e.g. `10s`, `1m30s`, `500ms`, `1h0m0s`.

use std::time::Duration;

/// Parses a Gateway API duration strictly; `None` when the text is invalid.
pub fn parse(text: &str) -> Option<Duration> {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut pairs = 0;
    let mut total = Duration::ZERO;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let digits = i - start;
        if digits == 0 || digits > 5 {
            return None;
        }
        let value: u64 = text.get(start..i)?.parse().ok()?;
        let unit = if bytes.get(i..i + 2) == Some(b"ms") {
            i += 2;
            Duration::from_millis(value)
        } else {
            let d = match bytes.get(i) {
                Some(b'h') => Duration::from_secs(value * 3600),
                Some(b'm') => Duration::from_secs(value * 60),
                Some(b's') => Duration::from_secs(value),
                _ => return None,
            };
            i += 1;
            d
        };
        total += unit;
        pairs += 1;
        if pairs > 4 {
            return None;
        }
    }
    (pairs > 0).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_durations() {
        assert_eq!(parse("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse("0s"), Some(Duration::ZERO));
        assert_eq!(parse("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse("1h2m3s4ms"), Some(Duration::from_millis(3_723_004)));
        assert_eq!(parse("99999ms"), Some(Duration::from_millis(99_999)));
    }

    #[test]
    fn invalid_durations() {
        for bad in [
            "",
            "s",
            "10",
            "1.5s",
            "-1s",
            "1d",
            "10 s",
            "100000s",
            "1h1m1s1ms1s",
            "1S",
            "1mss",
            "ms",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
