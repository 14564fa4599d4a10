//! Translation of Python `re` syntax into what PCRE2 and the Rust `regex`
//! crate understand with the same meaning.
//!
//! One tokenizer, three outputs:
//! - [`Target::Pcre2`]: PCRE2 already reads Python's group syntax, look-around,
//!   back-references and conditionals; only the places where the two
//!   dialects *mean* different things are rewritten (`\s` also covering
//!   `\x1c`–`\x1f`, `{,n}`, stray `{`/`}`, `[` inside a class, `\Z`).
//! - [`Target::Rust`]: the same rewrites plus the escapes the `regex` crate
//!   reads differently (`\<`/`\>` are word boundaries there, `&&`/`~~` are
//!   class operators). Python-only constructs make the translation fail so the
//!   caller falls back to PCRE2.
//! - [`Target::Relaxed`]: Rust syntax whose language is a *superset* of the
//!   Python pattern's: look-arounds are dropped (they are zero-width, so
//!   dropping them only allows more), back-references become `(?s:.*)`,
//!   conditionals become plain alternations with an empty branch. Used only to
//!   derive required literals for prefiltering, never to decide a match.

/// Output dialect of [`translate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// PCRE2 syntax with Python's meaning.
    Pcre2,
    /// Rust `regex` syntax with Python's meaning (fails where it cannot).
    Rust,
    /// A looser Rust pattern that matches at least what Python would (see
    /// the module doc), for prefilter literals only.
    Relaxed,
}

/// Result of a translation.
#[derive(Clone, Debug)]
pub struct Translated {
    /// The pattern in the target's syntax.
    pub pattern: String,
    /// An unescaped `$` outside a class occurs (its Python meaning, "end or
    /// before a final newline", differs from Rust's non-multiline `$`).
    pub has_dollar: bool,
}

const WS_EXTRA: &str = r"\x1c-\x1f";

/// Index just after the `)` closing the group whose body starts at `i`
/// (i.e. `i` is past the group's opening syntax), honouring escapes and
/// classes. Returns `chars.len()` if unbalanced.
fn group_end(chars: &[char], mut i: usize) -> usize {
    let mut depth = 1usize;
    let mut in_class = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            i += 2;
            continue;
        }
        if in_class {
            if c == ']' {
                in_class = false;
            }
        } else if c == '[' {
            in_class = true;
            // a `]` (after an optional `^`) first in a class is literal
            if chars.get(i + 1) == Some(&'^') {
                i += 1;
            }
            if chars.get(i + 1) == Some(&']') {
                i += 1;
            }
        } else if c == '(' {
            depth += 1;
        } else if c == ')' {
            depth -= 1;
            if depth == 0 {
                return i + 1;
            }
        }
        i += 1;
    }
    chars.len()
}

/// If `chars[i]` is `{` starting a valid Python quantifier, its parts
/// (min, max-or-None-for-open, has_comma) and the index after `}`.
fn quantifier(chars: &[char], i: usize) -> Option<(String, Option<String>, usize)> {
    let mut j = i + 1;
    let mut lo = String::new();
    while j < chars.len() && chars[j].is_ascii_digit() {
        lo.push(chars[j]);
        j += 1;
    }
    if chars.get(j) == Some(&'}') {
        return if lo.is_empty() {
            None
        } else {
            Some((lo.clone(), Some(lo), j + 1))
        };
    }
    if chars.get(j) != Some(&',') {
        return None;
    }
    j += 1;
    let mut hi = String::new();
    while j < chars.len() && chars[j].is_ascii_digit() {
        hi.push(chars[j]);
        j += 1;
    }
    if chars.get(j) != Some(&'}') {
        return None;
    }
    // Python reads `{,}` as `{0,}` too.
    Some((lo, if hi.is_empty() { None } else { Some(hi) }, j + 1))
}

/// Translate a Python pattern. `None` when the target cannot express it
/// (only for [`Target::Rust`]).
pub fn translate(pattern: &str, target: Target) -> Option<Translated> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut has_dollar = false;
    let mut in_class = false;
    // Per open group: does it need `|)` at its close (relaxed conditional)?
    let mut groups: Vec<bool> = Vec::new();
    let rust = target != Target::Pcre2;
    let relaxed = target == Target::Relaxed;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            let Some(&n) = chars.get(i + 1) else {
                // trailing backslash: let the engine report it
                out.push('\\');
                i += 1;
                continue;
            };
            i += 2;
            match n {
                's' => {
                    if in_class {
                        out.push_str(r"\s");
                        out.push_str(WS_EXTRA);
                    } else {
                        out.push_str(r"[\s");
                        out.push_str(WS_EXTRA);
                        out.push(']');
                    }
                }
                'S' if !in_class => {
                    out.push_str(r"[^\s");
                    out.push_str(WS_EXTRA);
                    out.push(']');
                }
                '<' | '>' => out.push(n),
                'Z' if !in_class => out.push_str(r"\z"),
                '1'..='9' if !in_class => {
                    // numeric back-reference
                    if relaxed {
                        while i < chars.len() && chars[i].is_ascii_digit() {
                            i += 1;
                        }
                        out.push_str("(?s:.*)");
                    } else if rust {
                        return None;
                    } else {
                        out.push('\\');
                        out.push(n);
                    }
                }
                _ => {
                    out.push('\\');
                    out.push(n);
                }
            }
            continue;
        }
        if in_class {
            match c {
                ']' => {
                    in_class = false;
                    out.push(']');
                }
                '[' => out.push_str(r"\["),
                '&' | '~' => {
                    out.push('\\');
                    out.push(c);
                }
                _ => out.push(c),
            }
            i += 1;
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                if chars.get(i) == Some(&']') {
                    out.push_str(r"\]");
                    i += 1;
                }
            }
            '(' => {
                if chars.get(i + 1) != Some(&'?') {
                    groups.push(false);
                    out.push('(');
                    i += 1;
                    continue;
                }
                let rest: String = chars[i + 2..chars.len().min(i + 5)].iter().collect();
                if rest.starts_with("P=") {
                    // named back-reference (?P=name)
                    let end = group_end(&chars, i + 1);
                    if relaxed {
                        out.push_str("(?s:.*)");
                    } else if rust {
                        return None;
                    } else {
                        out.extend(&chars[i..end]);
                    }
                    i = end;
                } else if rest.starts_with('=')
                    || rest.starts_with('!')
                    || rest.starts_with("<=")
                    || rest.starts_with("<!")
                {
                    if relaxed {
                        // zero-width: dropping it only widens the language
                        i = group_end(&chars, i + 1);
                    } else if rust {
                        return None;
                    } else {
                        groups.push(false);
                        out.push('(');
                        i += 1;
                    }
                } else if rest.starts_with('#') {
                    // comment group
                    while i < chars.len() && chars[i] != ')' {
                        i += 1;
                    }
                    i += 1;
                } else if rest.starts_with('(') {
                    // conditional (?(name)yes|no)
                    let mut j = i + 3;
                    while j < chars.len() && chars[j] != ')' {
                        j += 1;
                    }
                    if relaxed {
                        groups.push(true);
                        out.push_str("(?:");
                    } else if rust {
                        return None;
                    } else {
                        groups.push(false);
                        out.extend(&chars[i..(j + 1).min(chars.len())]);
                    }
                    i = j + 1;
                } else {
                    // (?:, (?P<name>, (?i), (?i:...) -- same in all targets
                    let is_flags_only = {
                        let mut j = i + 2;
                        while j < chars.len() && chars[j].is_ascii_alphabetic() {
                            j += 1;
                        }
                        j > i + 2 && chars.get(j) == Some(&')')
                    };
                    if is_flags_only {
                        // global flags `(?i)`: copy through its `)`
                        while i < chars.len() && chars[i] != ')' {
                            out.push(chars[i]);
                            i += 1;
                        }
                        out.push(')');
                        i += 1;
                    } else {
                        groups.push(false);
                        out.push('(');
                        i += 1;
                    }
                }
            }
            ')' => {
                if groups.pop() == Some(true) {
                    out.push('|');
                }
                out.push(')');
                i += 1;
            }
            '{' => match quantifier(&chars, i) {
                Some((lo, hi, end)) => {
                    out.push('{');
                    out.push_str(if lo.is_empty() { "0" } else { &lo });
                    if hi.as_deref() != Some(lo.as_str()) || lo.is_empty() {
                        out.push(',');
                        if let Some(h) = &hi {
                            out.push_str(h);
                        }
                    }
                    out.push('}');
                    i = end;
                }
                None => {
                    out.push_str(r"\{");
                    i += 1;
                }
            },
            '}' => {
                out.push_str(r"\}");
                i += 1;
            }
            '$' => {
                has_dollar = true;
                out.push('$');
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(Translated {
        pattern: out,
        has_dollar,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(p: &str, target: Target) -> Option<String> {
        translate(p, target).map(|t| t.pattern)
    }

    #[test]
    fn pcre2_rewrites() {
        assert_eq!(t(r"a\sb", Target::Pcre2).unwrap(), r"a[\s\x1c-\x1f]b");
        assert_eq!(t(r"[\s,]", Target::Pcre2).unwrap(), r"[\s\x1c-\x1f,]");
        assert_eq!(t(r"\d{,3}", Target::Pcre2).unwrap(), r"\d{0,3}");
        assert_eq!(
            t(r"x{2}y{1,}z{2,5}", Target::Pcre2).unwrap(),
            r"x{2}y{1,}z{2,5}"
        );
        assert_eq!(
            t(r"\({{(?:\d+,){3}\d+},\d+}\)", Target::Pcre2).unwrap(),
            r"\(\{\{(?:\d+,){3}\d+\},\d+\}\)"
        );
        assert_eq!(t(r"[^[]+", Target::Pcre2).unwrap(), r"[^\[]+");
        assert_eq!(t(r"[]a]", Target::Pcre2).unwrap(), r"[\]a]");
        assert_eq!(t(r"\<?x\>", Target::Pcre2).unwrap(), r"<?x>");
        assert_eq!(
            t(r"(?P<a>x)(?P=a)", Target::Pcre2).unwrap(),
            r"(?P<a>x)(?P=a)"
        );
        assert_eq!(t(r"(?(a)x|y)", Target::Pcre2).unwrap(), r"(?(a)x|y)");
        assert_eq!(t(r"\\s", Target::Pcre2).unwrap(), r"\\s");
    }

    #[test]
    fn rust_refuses_python_only() {
        assert!(t(r"(?=x)", Target::Rust).is_none());
        assert!(t(r"(?P<a>x)(?P=a)", Target::Rust).is_none());
        assert!(t(r"(?(a)x|y)", Target::Rust).is_none());
        assert_eq!(t(r"[^\>&]", Target::Rust).unwrap(), r"[^>\&]");
        assert!(translate("a$", Target::Rust).unwrap().has_dollar);
        assert!(!translate(r"a\$[$]", Target::Rust).unwrap().has_dollar);
    }

    #[test]
    fn relaxed_is_superset_shape() {
        assert_eq!(t(r"a(?=b)c(?<!x\))d", Target::Relaxed).unwrap(), "acd");
        assert_eq!(
            t(r"(?P<a>x)(?P=a)", Target::Relaxed).unwrap(),
            "(?P<a>x)(?s:.*)"
        );
        assert_eq!(t(r"(?(a)x|y)z", Target::Relaxed).unwrap(), "(?:x|y|)z");
        assert_eq!(t(r"(?:a)(?i)b", Target::Relaxed).unwrap(), "(?:a)(?i)b");
        assert_eq!(t(r"(?!\[)[^]]+", Target::Relaxed).unwrap(), r"[^\]]+");
    }
}
