//! Python `repr()` of the few value kinds fail2ban-regex prints (`-o row`,
//! `Use filter options : {...}`), so output can be compared with upstream's.

use gaoler_filter::{Data, Value};

/// `repr(str)`: single quotes unless the text has `'` and no `"`.
pub fn py_str(s: &str) -> String {
    let q = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

/// `repr(float)`: shortest round-trip digits, `.0` for integral values
/// (Rust's `Debug` for `f64` has the same rules in the range used here).
pub fn py_float(f: f64) -> String {
    format!("{f:?}")
}

/// `repr()` of a failure data value.
pub fn py_value(v: &Value) -> String {
    match v {
        Value::Str(s) => py_str(s),
        Value::Tuple(t) => {
            let items: Vec<String> = t
                .iter()
                .map(|x| x.as_deref().map(py_str).unwrap_or_else(|| "None".into()))
                .collect();
            if items.len() == 1 {
                format!("({},)", items[0])
            } else {
                format!("({})", items.join(", "))
            }
        }
        Value::Set(s) => {
            if s.is_empty() {
                "set()".into()
            } else {
                let items: Vec<String> = s.iter().map(|x| py_str(x)).collect();
                format!("{{{}}}", items.join(", "))
            }
        }
        Value::Lines(l) => {
            let items: Vec<String> = l.iter().map(|x| py_str(x)).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Int(i) => i.to_string(),
        Value::Addr(a) => py_str(&a.to_string()),
    }
}

/// `repr()` of the failure data without `matches` (fail2ban-regex `-o row`).
/// Groups that did not take part are absent here (Python shows `None`), and
/// keys are sorted.
pub fn py_data(d: &Data) -> String {
    let items: Vec<String> = d
        .iter()
        .filter(|(k, _)| k.as_str() != "matches")
        .map(|(k, v)| format!("{}: {}", py_str(k), py_value(v)))
        .collect();
    format!("{{{}}}", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reprs() {
        assert_eq!(py_str("a'b"), "\"a'b\"");
        assert_eq!(py_str("a\nb"), "'a\\nb'");
        assert_eq!(py_float(1782060468.0), "1782060468.0");
        assert_eq!(py_float(1.5), "1.5");
    }
}
