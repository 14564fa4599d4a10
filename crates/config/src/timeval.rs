//! Time values such as `10m`, `1h 30m`, `1d12h`, `-1`, `1year-6mo`
//! (fail2ban's `MyTime.str2seconds`).
//!
//! Upstream rewrites unit words into `*N` factors and then evaluates the
//! result as a Python expression. We do the same rewrite, then evaluate
//! with the project's one arithmetic evaluator (`gaoler_py::expr`: numbers,
//! operators, parentheses, `math` functions; no names) — never a
//! general-purpose `eval`.

use std::sync::OnceLock;

use gaoler_matcher::{Options, Regex};

pub use gaoler_py::expr::Num;

/// A time value that cannot be converted to seconds.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid time value {value:?}: {message}")]
pub struct TimeError {
    /// The value as given.
    pub value: String,
    /// Why it was refused.
    pub message: String,
}

struct Rewrites {
    prep: Regex,
    parts: Vec<(Regex, &'static str)>,
    fini: Regex,
}

fn rewrites() -> &'static Rewrites {
    static R: OnceLock<Rewrites> = OnceLock::new();
    R.get_or_init(|| {
        let c = |p: &str| Regex::new_pcre2(p, Options::default()).expect("static regex");
        let part = |words: &str| c(&format!(r"(?i)(?<=[\d\s])({words})\b"));
        Rewrites {
            prep: c(r"(?i)(?<=[a-z])(\d)"),
            parts: vec![
                (part("days?|da|dd?"), "*86400"),
                (part("weeks?|wee?|ww?"), "*604800"),
                (part("months?|mon?"), "*2629800.0"),
                (part("years?|yea?|yy?"), "*31557600.0"),
                (part("seconds?|sec?|ss?"), "*1"),
                (part("minutes?|min?|mm?"), "*60"),
                (part("hours?|hou?|hh?"), "*3600"),
            ],
            fini: c(r"(\d)\s+(\d)"),
        }
    })
}

/// Replace every match; `repl` gets the text of groups 1 and 2.
fn sub(re: &Regex, text: &str, repl: impl Fn(&str, &str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    let mut last = 0;
    while pos <= text.len() {
        let Ok(Some(c)) = re.captures_at(text, pos) else {
            break;
        };
        let Some((s, e)) = c.get(0) else { break };
        let g = |i: usize| c.get(i).map(|(a, b)| &text[a..b]).unwrap_or("");
        out.push_str(&text[last..s]);
        out.push_str(&repl(g(1), g(2)));
        last = e;
        pos = if e > s {
            e
        } else {
            e + text[e..].chars().next().map_or(1, char::len_utf8)
        };
    }
    out.push_str(&text[last.min(text.len())..]);
    out
}

/// Convert a time value to seconds.
pub fn str2seconds(value: &str) -> Result<Num, TimeError> {
    let r = rewrites();
    let mut v = sub(&r.prep, value, |g1, _| format!(" {g1}"));
    for (re, factor) in &r.parts {
        v = sub(re, &v, |_, _| factor.to_string());
    }
    // `(\d)\s+(\d)` -> `\1+\2`, repeated matches do not overlap (Python `sub`).
    v = sub(&r.fini, &v, |g1, g2| format!("{g1}+{g2}"));
    eval(&v).map_err(|message| TimeError {
        value: value.to_string(),
        message,
    })
}

/// A time value as the command stream carries it: a JSON number as it
/// is, anything else through [`str2seconds`] (the server and `gaoler
/// explain` read `findtime`, `bantime` and `bantime.*` this way).
pub fn json_seconds(v: &serde_json::Value) -> Result<f64, TimeError> {
    match v {
        serde_json::Value::Number(n) => n.as_f64().ok_or_else(|| TimeError {
            value: n.to_string(),
            message: "not a finite number".into(),
        }),
        serde_json::Value::String(t) => str2seconds(t).map(Num::as_f64),
        // (a bool or null as Python's str() shows it, as fail2ban reads it)
        serde_json::Value::Bool(true) => str2seconds("True").map(Num::as_f64),
        serde_json::Value::Bool(false) => str2seconds("False").map(Num::as_f64),
        serde_json::Value::Null => str2seconds("None").map(Num::as_f64),
        other => str2seconds(&other.to_string()).map(Num::as_f64),
    }
}

/// Evaluate an arithmetic expression with Python semantics (the shared
/// evaluator of `gaoler_py::expr`, without the formula names).
pub fn eval(expr: &str) -> Result<Num, String> {
    gaoler_py::expr::Expr::parse_arithmetic(expr)
        .and_then(|e| e.eval(&gaoler_py::expr::Env::default()))
        .map_err(|e| match e {
            gaoler_py::expr::ExprError::Parse { msg, .. }
            | gaoler_py::expr::ExprError::Eval { msg, .. } => msg,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> f64 {
        str2seconds(v).unwrap().as_f64()
    }

    #[test]
    fn units() {
        assert_eq!(str2seconds("10m").unwrap(), Num::Int(600));
        assert_eq!(s("1h"), 3600.0);
        assert_eq!(s("1d"), 86400.0);
        assert_eq!(s("1w"), 604800.0);
        assert_eq!(str2seconds("-1").unwrap(), Num::Int(-1));
        assert_eq!(s("1h 30m"), 5400.0);
        assert_eq!(s("1d12h"), 86400.0 + 12.0 * 3600.0);
        assert_eq!(s("600"), 600.0);
        assert_eq!(s("1year-6mo"), 31557600.0 - 6.0 * 2629800.0);
        assert_eq!(s("2 hours"), 7200.0);
        assert_eq!(s("5 minutes 3 sec"), 303.0);
        assert_eq!(str2seconds("1mo").unwrap(), Num::Float(2629800.0));
    }

    #[test]
    fn invalid() {
        assert!(str2seconds("abc").is_err());
        assert!(str2seconds("10x").is_err());
        assert!(str2seconds("").is_err());
        assert!(str2seconds("1/0").is_err());
        assert!(str2seconds("((((").is_err());
        assert!(str2seconds("010").is_err());
        assert!(str2seconds("ban.Time").is_err());
    }

    #[test]
    fn arithmetic() {
        assert_eq!(eval("2**3*2").unwrap(), Num::Int(16));
        assert_eq!(eval("-2**2").unwrap(), Num::Int(-4));
        assert_eq!(eval("7//2").unwrap(), Num::Int(3));
        assert_eq!(eval("(1+2)*3").unwrap(), Num::Int(9));
        assert_eq!(eval("1/2").unwrap(), Num::Float(0.5));
    }
}
