//! Python `repr()` of the few value kinds fail2ban-regex prints (`-o row`,
//! `Use filter options : {...}`), so output can be compared with upstream's.

use gaoler_filter::{Data, Value};

/// `repr(str)`.
pub fn py_str(s: &str) -> String {
    gaoler_py::repr::str_repr(s)
}

/// `repr(float)`.
pub fn py_float(f: f64) -> String {
    gaoler_py::repr::float_repr(f)
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
