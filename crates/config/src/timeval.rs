//! Time values such as `10m`, `1h 30m`, `1d12h`, `-1`, `1year-6mo`
//! (fail2ban's `MyTime.str2seconds`).
//!
//! Upstream rewrites unit words into `*N` factors and then evaluates the
//! result as a Python expression. We do the same rewrite, then evaluate with
//! a small arithmetic parser (numbers, `+ - * / // % **`, parentheses) —
//! never a general-purpose `eval`.

use std::sync::OnceLock;

use gaoler_matcher::{Options, Regex};

/// A number as Python arithmetic keeps it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    pub fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
    /// Python's `int()` truncation.
    pub fn as_i64(self) -> i64 {
        match self {
            Num::Int(i) => i,
            Num::Float(f) => f.trunc() as i64,
        }
    }
}

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Num::Int(i) => write!(f, "{i}"),
            Num::Float(x) => {
                if x.fract() == 0.0 && x.abs() < 1e16 {
                    write!(f, "{x:.1}")
                } else {
                    write!(f, "{x}")
                }
            }
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid time value {value:?}: {message}")]
pub struct TimeError {
    pub value: String,
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

/// Evaluate a small arithmetic expression with Python semantics.
pub fn eval(expr: &str) -> Result<Num, String> {
    let mut p = Parser {
        s: expr.as_bytes(),
        i: 0,
        depth: 0,
    };
    let v = p.expr()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(format!("unexpected text {:?}", &expr[p.i..]));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn eat(&mut self, tok: &str) -> bool {
        self.ws();
        if self.s[self.i..].starts_with(tok.as_bytes()) {
            self.i += tok.len();
            true
        } else {
            false
        }
    }
    fn expr(&mut self) -> Result<Num, String> {
        let mut v = self.term()?;
        loop {
            if self.eat("+") {
                v = arith(v, self.term()?, '+')?;
            } else if self.eat("-") {
                v = arith(v, self.term()?, '-')?;
            } else {
                return Ok(v);
            }
        }
    }
    fn term(&mut self) -> Result<Num, String> {
        let mut v = self.unary()?;
        loop {
            self.ws();
            if self.s[self.i..].starts_with(b"**") {
                return Ok(v);
            }
            if self.eat("//") {
                v = arith(v, self.unary()?, 'f')?;
            } else if self.eat("*") {
                v = arith(v, self.unary()?, '*')?;
            } else if self.eat("/") {
                v = arith(v, self.unary()?, '/')?;
            } else if self.eat("%") {
                v = arith(v, self.unary()?, '%')?;
            } else {
                return Ok(v);
            }
        }
    }
    fn unary(&mut self) -> Result<Num, String> {
        self.depth += 1;
        if self.depth > 200 {
            return Err("expression nested too deeply".into());
        }
        let r = if self.eat("-") {
            self.unary().map(|v| match v {
                Num::Int(i) => Num::Int(i.wrapping_neg()),
                Num::Float(f) => Num::Float(-f),
            })
        } else if self.eat("+") {
            self.unary()
        } else {
            self.power()
        };
        self.depth -= 1;
        r
    }
    fn power(&mut self) -> Result<Num, String> {
        let base = self.atom()?;
        if self.eat("**") {
            let exp = self.unary()?;
            return arith(base, exp, '^');
        }
        Ok(base)
    }
    fn atom(&mut self) -> Result<Num, String> {
        self.ws();
        if self.eat("(") {
            let v = self.expr()?;
            if !self.eat(")") {
                return Err("missing ')'".into());
            }
            return Ok(v);
        }
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_digit() || self.s[self.i] == b'.' || self.s[self.i] == b'_')
        {
            self.i += 1;
        }
        // exponent
        if self.i > start && self.i < self.s.len() && matches!(self.s[self.i], b'e' | b'E') {
            let save = self.i;
            self.i += 1;
            if self.i < self.s.len() && matches!(self.s[self.i], b'+' | b'-') {
                self.i += 1;
            }
            let ds = self.i;
            while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                self.i += 1;
            }
            if ds == self.i {
                self.i = save;
            }
        }
        let tok = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
        if tok.is_empty() {
            let rest = String::from_utf8_lossy(&self.s[self.i..]);
            return Err(format!("expected a number at {rest:?}"));
        }
        let clean = tok.replace('_', "");
        if !clean.contains(['.', 'e', 'E']) {
            if clean.len() > 1 && clean.starts_with('0') && clean.chars().any(|c| c != '0') {
                return Err(format!("invalid number {tok:?}"));
            }
            return clean
                .parse::<i64>()
                .map(Num::Int)
                .map_err(|_| format!("invalid number {tok:?}"));
        }
        clean
            .parse::<f64>()
            .map(Num::Float)
            .map_err(|_| format!("invalid number {tok:?}"))
    }
}

fn arith(a: Num, b: Num, op: char) -> Result<Num, String> {
    use Num::*;
    Ok(match (a, b) {
        (Int(x), Int(y)) => match op {
            '+' => x
                .checked_add(y)
                .map(Int)
                .unwrap_or(Float(x as f64 + y as f64)),
            '-' => x
                .checked_sub(y)
                .map(Int)
                .unwrap_or(Float(x as f64 - y as f64)),
            '*' => x
                .checked_mul(y)
                .map(Int)
                .unwrap_or(Float(x as f64 * y as f64)),
            '/' => {
                if y == 0 {
                    return Err("division by zero".into());
                }
                Float(x as f64 / y as f64)
            }
            'f' => {
                if y == 0 {
                    return Err("division by zero".into());
                }
                let q = x / y;
                Int(if x % y != 0 && ((x < 0) != (y < 0)) {
                    q - 1
                } else {
                    q
                })
            }
            '%' => {
                if y == 0 {
                    return Err("division by zero".into());
                }
                Int(((x % y) + y) % y)
            }
            '^' => {
                if y >= 0 {
                    match u32::try_from(y).ok().and_then(|e| x.checked_pow(e)) {
                        Some(v) => Int(v),
                        None => Float((x as f64).powf(y as f64)),
                    }
                } else {
                    Float((x as f64).powf(y as f64))
                }
            }
            _ => return Err(format!("unknown operator {op}")),
        },
        _ => {
            let (x, y) = (a.as_f64(), b.as_f64());
            match op {
                '+' => Float(x + y),
                '-' => Float(x - y),
                '*' => Float(x * y),
                '/' | 'f' | '%' if y == 0.0 => return Err("division by zero".into()),
                '/' => Float(x / y),
                'f' => Float((x / y).floor()),
                '%' => Float(x - y * (x / y).floor()),
                '^' => Float(x.powf(y)),
                _ => return Err(format!("unknown operator {op}")),
            }
        }
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
