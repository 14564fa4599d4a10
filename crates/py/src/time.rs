//! fail2ban's renderings of time spans (`MyTime.seconds2str`).

/// A duration as fail2ban's log lines write it: the three largest of
/// weeks, days, hours, minutes and seconds (`1w 2d 3h`, `10m`, `30s`;
/// `0s` for nothing). Negative spans count as 0.
pub fn seconds2str(sec: f64) -> String {
    let mut s = sec.max(0.0).round() as i64;
    if s == 0 {
        return "0s".into();
    }
    let mut parts = Vec::new();
    for (unit, len) in [
        ("w", 604800),
        ("d", 86400),
        ("h", 3600),
        ("m", 60),
        ("s", 1),
    ] {
        if s >= len {
            parts.push(format!("{}{unit}", s / len));
            s %= len;
        }
        if parts.len() == 3 {
            break;
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_forms() {
        assert_eq!(seconds2str(0.0), "0s");
        assert_eq!(seconds2str(-5.0), "0s");
        assert_eq!(seconds2str(600.0), "10m");
        assert_eq!(seconds2str(1200.0), "20m");
        assert_eq!(
            seconds2str(86400.0 * 2.0 + 3600.0 * 7.0 + 900.0),
            "2d 7h 15m"
        );
        // at most three parts
        assert_eq!(seconds2str(604800.0 + 86400.0 + 3600.0 + 61.0), "1w 1d 1h");
        assert_eq!(seconds2str(59.0), "59s");
    }
}
