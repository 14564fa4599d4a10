//! `MyTime.str2seconds` (§1.8): time strings such as `60`, `1m`, `1h 30m`,
//! `1year-6mo`.
//!
//! fail2ban rewrites the string into a Python expression and `eval`s it. We
//! do the same rewrite (unit words become `*N`, juxtaposed numbers are added)
//! but evaluate with a tiny arithmetic parser (`+ - * /`, parentheses, unary
//! minus, floats) instead of running arbitrary code.

use crate::error::TimeValueError;

/// Unit words in fail2ban's replacement order, with their value in seconds.
const UNITS: &[(&[&str], &str)] = &[
    (&["days", "day", "da", "dd", "d"], "86400"),
    (&["weeks", "week", "wee", "we", "ww", "w"], "604800"),
    (&["months", "month", "mon", "mo"], "2629800.0"),
    (&["years", "year", "yea", "ye", "yy", "y"], "31557600.0"),
    (&["seconds", "second", "sec", "se", "ss", "s"], "1"),
    (&["minutes", "minute", "min", "mi", "mm", "m"], "60"),
    (&["hours", "hour", "hou", "ho", "hh", "h"], "3600"),
];

/// Evaluates a fail2ban time value to seconds.
pub fn str2seconds(value: &str) -> Result<f64, TimeValueError> {
    let err = |reason: &str| TimeValueError {
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let expr = rewrite(value);
    let mut p = Parser {
        s: expr.as_bytes(),
        pos: 0,
    };
    let v = p.expr().map_err(|e| err(&e))?;
    p.skip_ws();
    if p.pos != p.s.len() {
        return Err(err("unexpected trailing input"));
    }
    if !v.is_finite() {
        return Err(err("result is not finite"));
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

fn rewrite(value: &str) -> String {
    // Step 1: a space between a letter and a following digit ("1d12h").
    let mut spaced = String::with_capacity(value.len() + 4);
    let mut prev: Option<char> = None;
    for c in value.chars() {
        if c.is_ascii_digit() && prev.is_some_and(|p| p.is_ascii_alphabetic()) {
            spaced.push(' ');
        }
        spaced.push(c);
        prev = Some(c);
    }
    // Step 2: each letter run that follows a digit or whitespace and is
    // exactly a unit word becomes `*N` (the regex requires a word boundary
    // after the unit, and a digit directly after a letter was split off in
    // step 1, so the unit must be the whole run).
    let chars: Vec<char> = spaced.chars().collect();
    let mut out = String::with_capacity(spaced.len() + 16);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_alphabetic() {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let after_num_or_ws = start > 0
                && (chars[start - 1].is_ascii_digit() || chars[start - 1].is_whitespace());
            let lower = word.to_ascii_lowercase();
            match UNITS
                .iter()
                .find(|(words, _)| words.contains(&lower.as_str()))
            {
                Some((_, n)) if after_num_or_ws => {
                    out.push('*');
                    out.push_str(n);
                }
                _ => out.push_str(&word),
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    // Step 3: `(\d)\s+(\d)` -> `\1+\2`.
    let chars: Vec<char> = out.chars().collect();
    let mut res = String::with_capacity(out.len());
    let mut i = 0;
    while i < chars.len() {
        res.push(chars[i]);
        if chars[i].is_ascii_digit() {
            let mut j = i + 1;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            if j > i + 1 && j < chars.len() && chars[j].is_ascii_digit() {
                res.push('+');
                i = j;
                continue;
            }
        }
        i += 1;
    }
    res
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }
    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.pos).copied()
    }
    fn expr(&mut self) -> Result<f64, String> {
        let mut v = self.term()?;
        while let Some(c @ (b'+' | b'-')) = self.peek() {
            self.pos += 1;
            let r = self.term()?;
            v = if c == b'+' { v + r } else { v - r };
        }
        Ok(v)
    }
    fn term(&mut self) -> Result<f64, String> {
        let mut v = self.unary()?;
        while let Some(c @ (b'*' | b'/')) = self.peek() {
            self.pos += 1;
            let r = self.unary()?;
            if c == b'/' {
                if r == 0.0 {
                    return Err("division by zero".into());
                }
                v /= r;
            } else {
                v *= r;
            }
        }
        Ok(v)
    }
    fn unary(&mut self) -> Result<f64, String> {
        match self.peek() {
            Some(b'-') => {
                self.pos += 1;
                Ok(-self.unary()?)
            }
            Some(b'+') => {
                self.pos += 1;
                self.unary()
            }
            _ => self.atom(),
        }
    }
    fn atom(&mut self) -> Result<f64, String> {
        match self.peek() {
            Some(b'(') => {
                self.pos += 1;
                let v = self.expr()?;
                if self.peek() != Some(b')') {
                    return Err("missing ')'".into());
                }
                self.pos += 1;
                Ok(v)
            }
            Some(c) if c.is_ascii_digit() || c == b'.' => {
                let start = self.pos;
                while self.pos < self.s.len()
                    && (self.s[self.pos].is_ascii_digit() || self.s[self.pos] == b'.')
                {
                    self.pos += 1;
                }
                let text =
                    std::str::from_utf8(&self.s[start..self.pos]).map_err(|e| e.to_string())?;
                text.parse::<f64>()
                    .map_err(|_| format!("bad number {text:?}"))
            }
            Some(c) => Err(format!("unexpected character {:?}", c as char)),
            None => Err("unexpected end of expression".into()),
        }
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
