//! kubectl's AGE column.

use std::time::{Duration, SystemTime};

/// Age of an object created at `created` (RFC 3339), or `<unknown>`.
pub fn age(created: Option<&str>, now: SystemTime) -> String {
    let Some(time) = created.and_then(|c| humantime::parse_rfc3339_weak(c).ok()) else {
        return "<unknown>".to_string();
    };
    match now.duration_since(time) {
        Ok(d) => human_duration(d),
        Err(e) if e.duration() > Duration::from_secs(1) => "<invalid>".to_string(),
        Err(_) => "0s".to_string(),
    }
}

/// kubectl's `HumanDuration`: two significant units at most.
pub fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    let minutes = seconds / 60;
    let hours = minutes / 60;
    let days = hours / 24;
    let with = |big: u64, unit: &str, small: u64, small_unit: &str| {
        if small == 0 {
            format!("{big}{unit}")
        } else {
            format!("{big}{unit}{small}{small_unit}")
        }
    };
    if seconds < 120 {
        format!("{seconds}s")
    } else if minutes < 10 {
        with(minutes, "m", seconds % 60, "s")
    } else if minutes < 180 {
        format!("{minutes}m")
    } else if hours < 8 {
        with(hours, "h", minutes % 60, "m")
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        with(days, "d", hours % 24, "h")
    } else if hours < 24 * 365 * 2 {
        format!("{days}d")
    } else if hours < 24 * 365 * 8 {
        with(days / 365, "y", days % 365, "d")
    } else {
        format!("{}y", days / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_kubectl() {
        let s = Duration::from_secs;
        assert_eq!(human_duration(s(5)), "5s");
        assert_eq!(human_duration(s(119)), "119s");
        assert_eq!(human_duration(s(150)), "2m30s");
        assert_eq!(human_duration(s(600)), "10m");
        assert_eq!(human_duration(s(3 * 3600 + 5 * 60)), "3h5m");
        assert_eq!(human_duration(s(20 * 3600)), "20h");
        assert_eq!(human_duration(s(3 * 86400)), "3d");
        assert_eq!(human_duration(s(3 * 86400 + 3600)), "3d1h");
        assert_eq!(human_duration(s(30 * 86400)), "30d");
        assert_eq!(human_duration(s(3 * 365 * 86400)), "3y");
        assert_eq!(human_duration(s(10 * 365 * 86400)), "10y");
    }

    #[test]
    fn parses_rfc3339_and_handles_garbage() {
        let now = humantime::parse_rfc3339("2026-01-01T00:01:00Z").unwrap();
        assert_eq!(age(Some("2026-01-01T00:00:00Z"), now), "60s");
        assert_eq!(age(Some("not a time"), now), "<unknown>");
        assert_eq!(age(None, now), "<unknown>");
        assert_eq!(age(Some("2027-01-01T00:00:00Z"), now), "<invalid>");
    }
}
