//! A tiny evaluator for the Python expressions sample logs use in
//! `constraint` and `test.condition`: `name == 'sshd'`,
//! `opts.get('mode') != 'aggressive'`, combined with `and`/`or`/`not`,
//! `in`/`not in`, parentheses, string/None/True/False literals and
//! `[...]`/`(...)` lists.
//!
//! Upstream `eval()`s them with the filter name in `name` and the option set
//! in `opts`. Anything outside this subset is an error (reported with the
//! sample's file and line) rather than a guess.

use std::collections::BTreeMap;

/// A Python value as a condition sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum PyVal {
    /// `None`.
    None,
    /// `True` or `False`.
    Bool(bool),
    /// A string.
    Str(String),
    /// A list (or tuple).
    List(Vec<PyVal>),
    /// A dict with string keys.
    Dict(BTreeMap<String, PyVal>),
}

impl PyVal {
    /// Python's truth value (`bool(x)`).
    pub fn truthy(&self) -> bool {
        match self {
            PyVal::None => false,
            PyVal::Bool(b) => *b,
            PyVal::Str(s) => !s.is_empty(),
            PyVal::List(l) => !l.is_empty(),
            PyVal::Dict(d) => !d.is_empty(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Str(String),
    Ident(String),
    Op(&'static str),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let cs: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < cs.len() {
        let c = cs[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' || c == '"' {
            let mut v = String::new();
            i += 1;
            loop {
                match cs.get(i) {
                    None => return Err(format!("unterminated string in {s:?}")),
                    Some(&'\\') => {
                        if let Some(&n) = cs.get(i + 1) {
                            v.push(match n {
                                'n' => '\n',
                                't' => '\t',
                                o => o,
                            });
                        }
                        i += 2;
                    }
                    Some(&q) if q == c => {
                        i += 1;
                        break;
                    }
                    Some(&o) => {
                        v.push(o);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(v));
        } else if c.is_alphanumeric() || c == '_' {
            let st = i;
            while i < cs.len() && (cs[i].is_alphanumeric() || cs[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(cs[st..i].iter().collect()));
        } else {
            let two: String = cs[i..(i + 2).min(cs.len())].iter().collect();
            let op: &'static str = match two.as_str() {
                "==" => "==",
                "!=" => "!=",
                _ => match c {
                    '(' => "(",
                    ')' => ")",
                    '[' => "[",
                    ']' => "]",
                    ',' => ",",
                    '.' => ".",
                    _ => return Err(format!("unsupported character {c:?} in {s:?}")),
                },
            };
            i += op.len();
            out.push(Tok::Op(op));
        }
    }
    Ok(out)
}

struct P<'a> {
    toks: Vec<Tok>,
    pos: usize,
    vars: &'a BTreeMap<String, PyVal>,
}

impl P<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn is_ident(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(x)) if x == w)
    }
    fn is_op(&self, o: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(x)) if *x == o)
    }
    fn expect_op(&mut self, o: &str) -> Result<(), String> {
        if self.is_op(o) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected {o:?} at token {}", self.pos))
        }
    }
    fn or(&mut self) -> Result<PyVal, String> {
        let mut v = self.and()?;
        while self.is_ident("or") {
            self.pos += 1;
            let r = self.and()?;
            if !v.truthy() {
                v = r;
            }
        }
        Ok(v)
    }
    fn and(&mut self) -> Result<PyVal, String> {
        let mut v = self.not()?;
        while self.is_ident("and") {
            self.pos += 1;
            let r = self.not()?;
            if v.truthy() {
                v = r;
            }
        }
        Ok(v)
    }
    fn not(&mut self) -> Result<PyVal, String> {
        if self.is_ident("not") {
            self.pos += 1;
            let v = self.not()?;
            return Ok(PyVal::Bool(!v.truthy()));
        }
        self.cmp()
    }
    fn cmp(&mut self) -> Result<PyVal, String> {
        let l = self.primary()?;
        if self.is_op("==") || self.is_op("!=") {
            let eq = self.is_op("==");
            self.pos += 1;
            let r = self.primary()?;
            return Ok(PyVal::Bool((l == r) == eq));
        }
        let negate = if self.is_ident("not")
            && matches!(self.toks.get(self.pos + 1), Some(Tok::Ident(x)) if x == "in")
        {
            self.pos += 2;
            true
        } else if self.is_ident("in") {
            self.pos += 1;
            false
        } else {
            return Ok(l);
        };
        let r = self.primary()?;
        let found = match (&r, &l) {
            (PyVal::List(items), _) => items.contains(&l),
            (PyVal::Str(hay), PyVal::Str(needle)) => hay.contains(needle.as_str()),
            (PyVal::Dict(d), PyVal::Str(k)) => d.contains_key(k),
            _ => return Err("unsupported operands for 'in'".into()),
        };
        Ok(PyVal::Bool(found != negate))
    }
    fn primary(&mut self) -> Result<PyVal, String> {
        let Some(t) = self.peek().cloned() else {
            return Err("unexpected end of expression".into());
        };
        self.pos += 1;
        let mut v = match t {
            Tok::Str(s) => PyVal::Str(s),
            Tok::Op("(") | Tok::Op("[") => {
                let close = if t == Tok::Op("(") { ")" } else { "]" };
                let mut items = Vec::new();
                let mut tuple = close == "]";
                while !self.is_op(close) {
                    items.push(self.or()?);
                    if self.is_op(",") {
                        self.pos += 1;
                        tuple = true;
                    } else {
                        break;
                    }
                }
                self.expect_op(close)?;
                if tuple {
                    PyVal::List(items)
                } else {
                    items.pop().unwrap_or(PyVal::List(Vec::new()))
                }
            }
            Tok::Ident(w) => match w.as_str() {
                "None" => PyVal::None,
                "True" => PyVal::Bool(true),
                "False" => PyVal::Bool(false),
                name => self
                    .vars
                    .get(name)
                    .cloned()
                    .ok_or_else(|| format!("name {name:?} is not defined"))?,
            },
            Tok::Op(o) => return Err(format!("unexpected {o:?}")),
        };
        // method calls: only dict.get(key[, default])
        while self.is_op(".") {
            self.pos += 1;
            let Some(Tok::Ident(m)) = self.peek().cloned() else {
                return Err("expected a method name".into());
            };
            self.pos += 1;
            self.expect_op("(")?;
            let mut args = Vec::new();
            while !self.is_op(")") {
                args.push(self.or()?);
                if self.is_op(",") {
                    self.pos += 1;
                } else {
                    break;
                }
            }
            self.expect_op(")")?;
            v = match (m.as_str(), &v, args.as_slice()) {
                ("get", PyVal::Dict(d), [PyVal::Str(k)]) => {
                    d.get(k).cloned().unwrap_or(PyVal::None)
                }
                ("get", PyVal::Dict(d), [PyVal::Str(k), dflt]) => {
                    d.get(k).cloned().unwrap_or_else(|| dflt.clone())
                }
                _ => return Err(format!("unsupported method call .{m}()")),
            };
        }
        Ok(v)
    }
}

/// Evaluate `expr` with the given variables; returns its truth value.
pub fn eval_bool(expr: &str, vars: &BTreeMap<String, PyVal>) -> Result<bool, String> {
    let mut p = P {
        toks: tokenize(expr)?,
        pos: 0,
        vars,
    };
    let v = p.or()?;
    if p.pos != p.toks.len() {
        return Err(format!("unsupported expression {expr:?}"));
    }
    Ok(v.truthy())
}

/// Convert a JSON value (option sets) to a Python value.
pub fn from_json(v: &serde_json::Value) -> PyVal {
    match v {
        serde_json::Value::Null => PyVal::None,
        serde_json::Value::Bool(b) => PyVal::Bool(*b),
        serde_json::Value::String(s) => PyVal::Str(s.clone()),
        serde_json::Value::Number(n) => PyVal::Str(n.to_string()),
        serde_json::Value::Array(a) => PyVal::List(a.iter().map(from_json).collect()),
        serde_json::Value::Object(o) => {
            PyVal::Dict(o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
        }
    }
}

/// A sample log's `constraint` or `test.condition` for the filter `name`
/// with the option set `opts` (upstream `eval()`s it with these two names).
pub fn sample_condition(
    expr: &str,
    name: &str,
    opts: &serde_json::Map<String, serde_json::Value>,
) -> Result<bool, String> {
    let mut vars = BTreeMap::new();
    vars.insert("name".to_string(), PyVal::Str(name.to_string()));
    vars.insert(
        "opts".to_string(),
        from_json(&serde_json::Value::Object(opts.clone())),
    );
    eval_bool(expr, &vars).map_err(|e| format!("cannot evaluate {expr:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str, mode: Option<&str>) -> BTreeMap<String, PyVal> {
        let mut opts = BTreeMap::new();
        if let Some(m) = mode {
            opts.insert("mode".to_string(), PyVal::Str(m.into()));
        }
        let mut v = BTreeMap::new();
        v.insert("name".to_string(), PyVal::Str(name.into()));
        v.insert("opts".to_string(), PyVal::Dict(opts));
        v
    }

    #[test]
    fn corpus_forms() {
        let v = vars("sshd", Some("aggressive"));
        assert!(eval_bool("name=='sshd'", &v).unwrap());
        assert!(eval_bool("name == 'sshd'", &v).unwrap());
        assert!(!eval_bool("opts.get('mode') != 'aggressive'", &v).unwrap());
        assert!(eval_bool("opts.get('mode') == 'aggressive'", &v).unwrap());
        let w = vars("zzz", None);
        assert!(!eval_bool("name=='sshd'", &w).unwrap());
        assert!(eval_bool("opts.get('mode') != 'aggressive'", &w).unwrap());
        assert!(eval_bool("opts.get('mode', 'normal') in ('normal', 'ddos')", &w).unwrap());
        assert!(eval_bool(
            "not name == 'sshd' and (opts.get('mode') is None or True)",
            &w
        )
        .is_err());
        assert!(eval_bool("name not in ['sshd'] or False", &w).unwrap());
        assert!(eval_bool("__import__('os')", &w).is_err());
    }
}
