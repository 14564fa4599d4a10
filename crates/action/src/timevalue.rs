//! Time values (`60`, `1m`, `1h 30m`) for an action's `timeout`, evaluated
//! by the configuration crate's `str2seconds` so the whole project shares one
//! evaluator of fail2ban's time syntax.

use crate::error::TimeValueError;

/// Evaluates a fail2ban time value to seconds.
pub fn str2seconds(value: &str) -> Result<f64, TimeValueError> {
    let v = gaoler_config::str2seconds(value)
        .map_err(|e| TimeValueError {
            value: value.to_string(),
            reason: e.message,
        })?
        .as_f64();
    if !v.is_finite() {
        return Err(TimeValueError {
            value: value.to_string(),
            reason: "result is not finite".into(),
        });
    }
    Ok(v)
}

/// Formats a number like Python's `str()` of the value `str2seconds` gives:
/// integral values without a fraction (the common `60`), others as floats.
pub fn format_seconds(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_from_spec() {
        for (s, v) in [
            ("60", 60.0),
            ("10m", 600.0),
            ("1h", 3600.0),
            ("1d", 86400.0),
            ("1w", 604800.0),
            ("-1", -1.0),
            ("1h 30m", 5400.0),
            ("1hour+30min", 5400.0),
            ("0d 1h 30m", 5400.0),
            ("1d12h", 129600.0),
            ("1year-6mo", 15778800.0),
            ("6 months", 15778800.0),
            ("0.5", 0.5),
            ("(1+2)*3s", 9.0),
        ] {
            assert_eq!(str2seconds(s).unwrap(), v, "{s}");
        }
    }

    #[test]
    fn rejects_garbage() {
        assert!(str2seconds("abc").is_err());
        assert!(str2seconds("").is_err());
        assert!(str2seconds("1x").is_err());
        assert!(str2seconds("__import__('os')").is_err());
    }

    #[test]
    fn formats_like_python() {
        assert_eq!(format_seconds(60.0), "60");
        assert_eq!(format_seconds(0.5), "0.5");
    }
}
