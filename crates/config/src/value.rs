//! Option values as fail2ban's client carries them: strings, or ints and
//! bools after type conversion. They end up in the command stream as JSON.

use indexmap::IndexMap;

/// An option value: text, or an int or bool after type conversion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// Text (every option before type conversion).
    Str(String),
    /// An integer option (`maxretry`, `maxlines`, ...).
    Int(i64),
    /// A boolean option (`enabled`, `ignoreself`, ...).
    Bool(bool),
    /// An option whose section was missing (Python keeps `None`).
    Null,
}

impl Value {
    /// `str(value)` as Python would render it inside an interpolation.
    pub fn to_py_string(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Bool(true) => "True".into(),
            Value::Bool(false) => "False".into(),
            Value::Null => "None".into(),
        }
    }

    /// The text of a `Str`; `None` for the other kinds.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// True for `Null`: an option whose section was missing.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as it appears in the command stream (`Null` as JSON `null`).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Null => serde_json::Value::Null,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}

/// An ordered option dictionary (Python dicts keep insertion order, and the
/// stream order depends on it).
pub type Vars = IndexMap<String, Value>;

/// Python's `_as_bool`.
pub fn as_bool(s: &str) -> bool {
    matches!(s.to_lowercase().as_str(), "1" | "on" | "true" | "yes")
}

/// Python's `int(s)`: optional sign, digits, surrounding whitespace, `_` separators.
pub fn py_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    let v: i64 = digits.replace('_', "").parse().ok()?;
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_and_bools() {
        assert_eq!(py_int(" 5 "), Some(5));
        assert_eq!(py_int("-1"), Some(-1));
        assert_eq!(py_int("1_0"), Some(10));
        assert_eq!(py_int("5m"), None);
        assert_eq!(py_int(""), None);
        assert!(as_bool("Yes") && as_bool("1") && !as_bool("enabled"));
        assert_eq!(Value::Bool(true).to_py_string(), "True");
    }
}
