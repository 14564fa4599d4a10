//! Required-literal extraction for prefiltering.
//!
//! For a pattern P we compute a small set of strings S such that every match
//! of P contains at least one member of S. A caller can then skip the real
//! (expensive) match on text containing none of them. Soundness matters more
//! than selectivity: when in doubt the answer is "no requirement" (`None`).
//!
//! The pattern is first widened with [`Target::Relaxed`](crate::python) so the
//! Rust `regex-syntax` parser can read it; the widened language contains the
//! original, so its requirements hold for the original too. The analysis walks
//! the HIR computing, per node, the finite set of strings it matches exactly
//! (when small) and a required set. Concatenations merge adjacent exact parts
//! (cross product) into longer literals; zero-width assertions are transparent.
//! Case-insensitive letters (`[Aa]`) produce ASCII-case-insensitive literals.
//! Limitation: the Unicode case variants of `k` and `s` (KELVIN SIGN, LONG S)
//! are folded to ASCII, so text spelling a case-insensitive literal with those
//! two characters may be missed.

use regex_syntax::hir::{Class, Hir, HirKind};

use crate::python::{translate, Target};

/// One required literal.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lit {
    /// UTF-8 bytes; ASCII-lowercased when `ci`.
    pub text: Vec<u8>,
    /// Match ASCII letters case-insensitively.
    pub ci: bool,
}

const MAX_SET: usize = 64;
const MAX_CLASS: u32 = 6;

type Set = Vec<Lit>;

struct Info {
    /// The node matches exactly one of these strings (when small).
    exact: Option<Set>,
    /// Conjunction: every match contains a member of each set.
    req: Vec<Set>,
}

fn score(s: &Set) -> usize {
    s.iter().map(|l| l.text.len()).min().unwrap_or(0)
}

fn best(a: Option<Set>, b: Option<Set>) -> Option<Set> {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(a), Some(b)) => {
            let (sa, sb) = (score(&a), score(&b));
            if sa > sb || (sa == sb && a.len() <= b.len()) {
                Some(a)
            } else {
                Some(b)
            }
        }
    }
}

/// The single most selective set of a node.
fn best_of(i: Info) -> Option<Set> {
    i.req.into_iter().fold(i.exact, |acc, s| best(acc, Some(s)))
}

/// Add a set to a conjunction, ignoring useless ones (containing "").
fn push_req(conj: &mut Vec<Set>, s: Set) {
    if !s.is_empty() && score(&s) > 0 && !conj.contains(&s) {
        conj.push(s);
    }
}

fn norm(mut s: Set) -> Set {
    for l in &mut s {
        if l.ci {
            l.text.make_ascii_lowercase();
        }
    }
    s.sort();
    s.dedup();
    s
}

fn cross(a: &Set, b: &Set) -> Option<Set> {
    if a.len().saturating_mul(b.len()) > MAX_SET {
        return None;
    }
    let mut out = Vec::with_capacity(a.len() * b.len());
    for x in a {
        for y in b {
            let mut text = x.text.clone();
            text.extend_from_slice(&y.text);
            out.push(Lit {
                text,
                ci: x.ci || y.ci,
            });
        }
    }
    Some(norm(out))
}

fn empty_set() -> Set {
    vec![Lit {
        text: Vec::new(),
        ci: false,
    }]
}

fn class_set(cls: &Class) -> Option<Set> {
    let mut chars: Vec<char> = Vec::new();
    match cls {
        Class::Unicode(u) => {
            let mut n = 0u32;
            for r in u.ranges() {
                n += u32::from(r.end()) - u32::from(r.start()) + 1;
                if n > MAX_CLASS {
                    return None;
                }
                chars.extend(r.start()..=r.end());
            }
        }
        Class::Bytes(b) => {
            let mut n = 0u32;
            for r in b.ranges() {
                n += u32::from(r.end()) - u32::from(r.start()) + 1;
                if n > MAX_CLASS {
                    return None;
                }
                // only ASCII bytes are safe to treat as chars
                if r.end() > 0x7f {
                    return None;
                }
                chars.extend((r.start()..=r.end()).map(char::from));
            }
        }
    }
    if chars.is_empty() {
        return None;
    }
    // A case-folded ASCII letter: {X, x} plus possibly KELVIN SIGN / LONG S.
    let ascii: Vec<char> = chars.iter().copied().filter(char::is_ascii).collect();
    let others = chars.len() - ascii.len();
    if ascii.len() == 2
        && ascii[0].is_ascii_alphabetic()
        && ascii[0].eq_ignore_ascii_case(&ascii[1])
        && ascii[0] != ascii[1]
        && chars
            .iter()
            .all(|c| c.is_ascii() || matches!(c, '\u{212A}' | '\u{17F}'))
        && others <= 1
    {
        return Some(vec![Lit {
            text: vec![ascii[0].to_ascii_lowercase() as u8],
            ci: true,
        }]);
    }
    Some(norm(
        chars
            .into_iter()
            .map(|c| Lit {
                text: c.to_string().into_bytes(),
                ci: false,
            })
            .collect(),
    ))
}

fn info(h: &Hir) -> Info {
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => Info {
            exact: Some(empty_set()),
            req: Vec::new(),
        },
        HirKind::Literal(l) => Info {
            exact: Some(vec![Lit {
                text: l.0.to_vec(),
                ci: false,
            }]),
            req: Vec::new(),
        },
        HirKind::Class(c) => Info {
            exact: class_set(c),
            req: Vec::new(),
        },
        HirKind::Capture(c) => info(&c.sub),
        HirKind::Repetition(r) => {
            let s = info(&r.sub);
            let exact = match (&s.exact, r.max) {
                (Some(ex), Some(max)) if max == r.min && r.min <= 4 => {
                    let mut acc = Some(empty_set());
                    for _ in 0..r.min {
                        acc = acc.and_then(|a| cross(&a, ex));
                    }
                    acc
                }
                _ => None,
            };
            let mut req = Vec::new();
            if r.min >= 1 {
                if let Some(e) = s.exact {
                    push_req(&mut req, e);
                }
                for x in s.req {
                    push_req(&mut req, x);
                }
            }
            Info { exact, req }
        }
        HirKind::Concat(children) => {
            let mut run = empty_set();
            let mut all_exact = true;
            let mut conj: Vec<Set> = Vec::new();
            for ch in children {
                let ci = info(ch);
                match ci.exact {
                    Some(ex) => match cross(&run, &ex) {
                        Some(r) => run = r,
                        None => {
                            all_exact = false;
                            push_req(&mut conj, std::mem::replace(&mut run, ex));
                        }
                    },
                    None => {
                        all_exact = false;
                        push_req(&mut conj, std::mem::replace(&mut run, empty_set()));
                    }
                }
                for x in ci.req {
                    push_req(&mut conj, x);
                }
            }
            if all_exact {
                Info {
                    exact: Some(run),
                    req: conj,
                }
            } else {
                push_req(&mut conj, run);
                Info {
                    exact: None,
                    req: conj,
                }
            }
        }
        HirKind::Alternation(children) => {
            let mut exact: Option<Set> = Some(Vec::new());
            let mut union: Option<Set> = Some(Vec::new());
            for ch in children {
                let ci = info(ch);
                exact = match (exact, &ci.exact) {
                    (Some(mut a), Some(b)) if a.len() + b.len() <= MAX_SET => {
                        a.extend(b.iter().cloned());
                        Some(a)
                    }
                    _ => None,
                };
                union = match (union, best_of(ci)) {
                    (Some(mut a), Some(b)) if a.len() + b.len() <= MAX_SET && score(&b) > 0 => {
                        a.extend(b);
                        Some(a)
                    }
                    _ => None,
                };
            }
            let mut req = Vec::new();
            if let Some(u) = union {
                push_req(&mut req, norm(u));
            }
            Info {
                exact: exact.map(norm),
                req,
            }
        }
    }
}

fn parse(pattern: &str, case_insensitive: bool, multi_line: bool) -> Option<Hir> {
    let relaxed = translate(pattern, Target::Relaxed)?;
    regex_syntax::ParserBuilder::new()
        .case_insensitive(case_insensitive)
        .multi_line(multi_line)
        .build()
        .parse(&relaxed.pattern)
        .ok()
}

/// Literals of which every match of the Python `pattern` contains at least
/// one, or `None` if no useful set was found (a set containing the empty
/// string is never returned).
pub fn required_literals(
    pattern: &str,
    case_insensitive: bool,
    multi_line: bool,
) -> Option<Vec<Lit>> {
    let set = best_of(info(&parse(pattern, case_insensitive, multi_line)?))?;
    if set.is_empty() || score(&set) == 0 {
        return None;
    }
    Some(set)
}

/// All literal sets a match must satisfy at once: every match contains a
/// member of *each* returned set. Empty when nothing is known; `None` when
/// the pattern cannot be analysed.
pub fn required_literal_sets(
    pattern: &str,
    case_insensitive: bool,
    multi_line: bool,
) -> Option<Vec<Vec<Lit>>> {
    let i = info(&parse(pattern, case_insensitive, multi_line)?);
    let mut conj = Vec::new();
    if let Some(e) = i.exact {
        push_req(&mut conj, e);
    }
    for s in i.req {
        push_req(&mut conj, s);
    }
    Some(conj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lits(p: &str) -> Option<Vec<String>> {
        required_literals(p, false, false).map(|v| {
            v.into_iter()
                .map(|l| {
                    let s = String::from_utf8(l.text).unwrap();
                    if l.ci {
                        format!("(?i){s}")
                    } else {
                        s
                    }
                })
                .collect()
        })
    }

    #[test]
    fn picks_longest_run() {
        assert_eq!(
            lits(r"^\s*Failed password for .* from (?P<ip>\S+)").unwrap(),
            vec!["Failed password for "]
        );
        assert_eq!(
            lits(r"(?:error|fail)ed login").unwrap(),
            vec!["errored login", "failed login"]
        );
        assert_eq!(
            lits(r"(?:error|fail)\w+ed login").unwrap(),
            vec!["ed login"]
        );
        assert_eq!(lits(r"x(?:error|fail)").unwrap(), vec!["xerror", "xfail"]);
    }

    #[test]
    fn alternation_of_requirements() {
        assert_eq!(
            lits(r"(?:\d+ abc|\w+ defg)").unwrap(),
            vec![" abc", " defg"]
        );
        assert_eq!(lits(r"(?:\d+ abc|\w+)"), None);
    }

    #[test]
    fn python_constructs_are_widened() {
        assert_eq!(
            lits(r"user (?P<u>\w+)(?P=u) (?!root)denied").unwrap(),
            vec![" denied"]
        );
        assert_eq!(
            lits(r"(?(x)foo|bar)baz").unwrap(),
            vec!["barbaz", "baz", "foobaz"]
        );
        assert_eq!(lits(r"(?(x)\d+|bar)baz").unwrap(), vec!["baz"]);
        assert_eq!(
            lits(r"[aA]uthentication failure").unwrap(),
            vec!["(?i)authentication failure"]
        );
    }

    #[test]
    fn case_insensitive_flag() {
        assert_eq!(lits(r"(?i)login failed").unwrap(), vec!["(?i)login failed"]);
    }

    fn conj(p: &str) -> Vec<Vec<String>> {
        required_literal_sets(p, false, false)
            .unwrap()
            .into_iter()
            .map(|s| {
                s.into_iter()
                    .map(|l| String::from_utf8(l.text).unwrap())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn conjunction_of_requirements() {
        assert_eq!(
            conj(r"^Failed (?:publickey|\S+) for (?P<u>.*) from \S+$"),
            vec![vec!["Failed "], vec![" for "], vec![" from "]]
        );
        assert_eq!(
            conj(r"a\d+(?:xy|zw)\d+c"),
            vec![vec!["a"], vec!["xy", "zw"], vec!["c"]]
        );
        assert!(conj(r".*").is_empty());
    }

    #[test]
    fn nothing_required() {
        assert_eq!(lits(r".*"), None);
        assert_eq!(lits(r"(?:foo)?"), None);
    }
}
