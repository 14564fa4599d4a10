//! Python's `int()` of a value the command stream carries.

/// An integer as the command stream carries it, as fail2ban's server reads
/// it with Python's `int()`: a JSON number (a float is truncated), or
/// text. The error is Python's `ValueError` message.
pub fn json_int(v: &serde_json::Value) -> Result<i64, String> {
    match v {
        serde_json::Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| format!("invalid literal for int(): {n}")),
        serde_json::Value::String(t) => t
            .trim()
            .parse::<i64>()
            .map_err(|_| format!("invalid literal for int() with base 10: '{t}'")),
        other => {
            let t = match other {
                serde_json::Value::Bool(true) => "True".to_owned(),
                serde_json::Value::Bool(false) => "False".to_owned(),
                serde_json::Value::Null => "None".to_owned(),
                o => o.to_string(),
            };
            Err(format!("invalid literal for int() with base 10: '{t}'"))
        }
    }
}
