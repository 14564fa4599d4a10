//! Stage-2 prefilter: one lazy DFA over the date-stripped line that says
//! which failregexes *may* match it.
//!
//! Each failregex `F` becomes one pattern of a multi-pattern lazy DFA
//! (`regex-automata`'s hybrid engine), searched anchored at the start of
//! the buffer. With a prefregex `A<F-CONTENT>.+</F-CONTENT>$` the pattern
//! is `A (?s:.*) F` (the failregex runs on the content, which here ends
//! the line), or `A F` when `F` starts with `^` (the content starts where
//! `A` ends); without one it is `(?s:.*) F`, or `F` when anchored ("starts
//! with `^`" means every match does: `^a|b` is not anchored). Anchored
//! patterns let the search stop as soon as no pattern can match any more,
//! which for most lines is a few bytes past the prefix. Every pattern is
//! *relaxed* so that its language contains the exact (PCRE2, Python-syntax)
//! one:
//! - the text goes through [`Target::Relaxed`] (look-arounds dropped,
//!   back-references widened to `(?s:.*)`, conditionals to alternations);
//! - in the syntax tree every remaining assertion (`^`, `\b`, …) is
//!   dropped (zero-width, so dropping only allows more) and capture groups
//!   are flattened; `$` becomes "before a newline or at the end", which on
//!   single-line buffers (one newline, at the end) allows at least as much
//!   and keeps a pattern ending in `$` from being a match at every byte
//!   before the end (except with few failregexes, where the walk stops at
//!   the first match); counted repetitions (`\d{1,3}`, `{1,7}`) become
//!   loops, whose nesting (IPv6 in `<HOST>`) would otherwise multiply
//!   states for every address in a line;
//! - every character class gains all non-ASCII characters, so differences
//!   between the engines' Unicode tables (PCRE2's UCP `\w` has `\p{No}`,
//!   Rust's has `\p{Mc}`, case folding of `K`/`ſ`, …) cannot make the
//!   relaxed form reject a line the exact one accepts; ASCII stays precise,
//!   which is what makes it selective, and the DFA stays small.
//!
//! A line whose pattern set is empty cannot match any failregex; otherwise
//! only the failregexes in the set are run through PCRE2 (the others cannot
//! match). Unless the prefregex ends with its content group `(?P<content>
//! .+)` (and possibly `$`), the content is not known to end the line and no
//! DFA is built (the literal prefilter stays). Should a search fail at run
//! time (the engine is not configured to give up, but the API allows it),
//! every failregex is run.
//!
//! [`Target::Relaxed`]: gaoler_matcher::python::Target::Relaxed

use gaoler_matcher::python::{translate, Target};
use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::{Anchored, Input, MatchKind, PatternSet};
use regex_syntax::hir::{Class, ClassBytesRange, ClassUnicodeRange, Hir, HirKind, Look};

/// Up to this many failregexes a line that may match runs all of them.
const FEW: usize = 3;

/// See the module documentation.
pub(crate) struct CandidateDfa {
    dfa: DFA,
    cache: Cache,
    set: PatternSet,
    /// The patterns in `set`, in ascending order after a scan.
    list: Vec<usize>,
    anchored: bool,
}

fn parse(pattern: &str) -> Option<Hir> {
    let relaxed = translate(pattern, Target::Relaxed)?;
    regex_syntax::ParserBuilder::new()
        .build()
        .parse(&relaxed.pattern)
        .ok()
}

/// The relaxed superset form of a syntax tree (see the module docs).
fn relax(h: &Hir, dollar: bool) -> Hir {
    match h.kind() {
        // With `dollar`, `$` (Python: at the end, or before a final newline)
        // is kept as "before a newline or at the end": on single-line
        // buffers, whose only newline ends them, that allows at least as
        // much; and it keeps a pattern ending in `$` from matching, so its
        // state from being a match state, at every byte of a line it could
        // end (which the walk handles on its slow path).
        HirKind::Look(Look::End | Look::EndLF | Look::EndCRLF) if dollar => Hir::look(Look::EndLF),
        HirKind::Empty | HirKind::Look(_) => Hir::empty(),
        HirKind::Literal(_) => h.clone(),
        HirKind::Class(Class::Unicode(c)) => {
            let mut c = c.clone();
            c.union(&regex_syntax::hir::ClassUnicode::new([
                ClassUnicodeRange::new('\u{80}', char::MAX),
            ]));
            Hir::class(Class::Unicode(c))
        }
        HirKind::Class(Class::Bytes(c)) => {
            let mut c = c.clone();
            c.union(&regex_syntax::hir::ClassBytes::new([ClassBytesRange::new(
                0x80, 0xff,
            )]));
            Hir::class(Class::Bytes(c))
        }
        HirKind::Capture(c) => relax(&c.sub, dollar),
        // A counted repetition (`\d{1,3}`, `{3}`, `{1,7}`) becomes `+` (or
        // `*`): a superset, and one loop instead of a chain of states per
        // count, which nested (IPv6's `(?:[0-9a-f]{1,4}:){1,7}`) multiply
        // into many DFA states for every address in a line.
        HirKind::Repetition(r) => {
            let counted = r.max.is_some_and(|n| n > 1);
            Hir::repetition(regex_syntax::hir::Repetition {
                min: if counted { r.min.min(1) } else { r.min },
                max: if counted { None } else { r.max },
                greedy: r.greedy,
                sub: Box::new(relax(&r.sub, dollar)),
            })
        }
        HirKind::Concat(v) => Hir::concat(v.iter().map(|x| relax(x, dollar)).collect()),
        HirKind::Alternation(v) => Hir::alternation(v.iter().map(|x| relax(x, dollar)).collect()),
    }
}

fn any_text() -> Hir {
    // (?s:.*)
    Hir::repetition(regex_syntax::hir::Repetition {
        min: 0,
        max: None,
        greedy: true,
        sub: Box::new(Hir::class(Class::Unicode(
            regex_syntax::hir::ClassUnicode::new([ClassUnicodeRange::new('\0', char::MAX)]),
        ))),
    })
}

/// The prefregex split at its content group: the relaxed part before it,
/// and whether it starts with `^`. `None` unless the content group is
/// `.+` at the very end (optionally followed by `$`) so that the content
/// runs to the end of the line; checked on the text because the relaxed
/// translation drops look-aheads that could follow it.
fn split_prefregex(pref: &str) -> Option<(Hir, bool)> {
    if !(pref.ends_with("(?P<content>.+)$") || pref.ends_with("(?P<content>.+)")) {
        return None;
    }
    let h = parse(pref)?;
    let (items, pos) = content_at_end(&h)?;
    if let HirKind::Capture(c) = items[pos].kind() {
        if c.sub.properties().minimum_len().unwrap_or(0) == 0 {
            return None;
        }
    }
    let anchored = matches!(
        items.first().map(Hir::kind),
        Some(HirKind::Look(Look::Start))
    );
    let before = Hir::concat(items[..pos].iter().map(|x| relax(x, false)).collect());
    Some((before, anchored))
}

/// The items of a top-level sequence and the position of its content
/// group, when only assertions follow that group.
fn content_at_end(h: &Hir) -> Option<(&[Hir], usize)> {
    let HirKind::Concat(items) = h.kind() else {
        return None;
    };
    let pos = items.iter().position(
        |x| matches!(x.kind(), HirKind::Capture(c) if c.name.as_deref() == Some("content")),
    )?;
    items[pos + 1..]
        .iter()
        .all(|x| matches!(x.kind(), HirKind::Look(_)))
        .then_some((items.as_slice(), pos))
}

/// The prefregex without its final `(?P<content>.+)$`, when that group
/// and `$` end its top-level sequence (no alternation or group around
/// them): what comes before the content can then be matched alone (see
/// `regex::ContentTail`).
pub(crate) fn prefregex_head(pref: &str) -> Option<&str> {
    let head = pref.strip_suffix("(?P<content>.+)$")?;
    content_at_end(&parse(pref)?).map(|_| head)
}

/// Whether a prefregex matches every single-line buffer whose line is not
/// empty: its content group is `.+` at the very end (then at most `$`),
/// and everything before it can match the empty string without any
/// assertion but a leading `^`. The empty path then always works and `.+`
/// takes the line. Decided on the exact translation (no look-arounds,
/// back-references or conditionals, which could make the empty path fail),
/// so a `false` only means "run the regex". Many stock filters qualify:
/// `__prefix_line` is all optional parts.
pub(crate) fn matches_every_line(pref: &str) -> bool {
    if !(pref.ends_with("(?P<content>.+)$") || pref.ends_with("(?P<content>.+)")) {
        return false;
    }
    let Some(t) = translate(pref, Target::Rust) else {
        return false;
    };
    let Ok(h) = regex_syntax::ParserBuilder::new().build().parse(&t.pattern) else {
        return false;
    };
    let HirKind::Concat(items) = h.kind() else {
        return false;
    };
    let Some(pos) = items.iter().position(
        |x| matches!(x.kind(), HirKind::Capture(c) if c.name.as_deref() == Some("content")),
    ) else {
        return false;
    };
    let before = items[..pos]
        .iter()
        .enumerate()
        .all(|(i, x)| match x.kind() {
            HirKind::Look(Look::Start) => i == 0,
            _ => x.properties().minimum_len() == Some(0) && x.properties().look_set().is_empty(),
        });
    let after = items[pos + 1..]
        .iter()
        .all(|x| matches!(x.kind(), HirKind::Look(Look::End)));
    before && after
}

impl CandidateDfa {
    /// `prefregex` only when it has a content group (otherwise the
    /// failregexes see the whole line and it does not matter here). `None`
    /// when some regex cannot be analysed or the DFA cannot be built.
    pub(crate) fn build(prefregex: Option<&str>, failregex: &[&str]) -> Option<CandidateDfa> {
        let (prefix, anchored) = match prefregex {
            Some(p) => {
                let (h, a) = split_prefregex(p)?;
                (Some(h), a)
            }
            None => (None, false),
        };
        let mut hirs = Vec::with_capacity(failregex.len());
        // A failregex starting with `^` (not MULTILINE here) matches only at
        // the start of what it runs on: right after the prefregex prefix,
        // or at the start of the line. Anchoring it keeps the DFA's states
        // few and lets a search stop as soon as every pattern is dead.
        for f in failregex {
            let exact = parse(f)?;
            // `^` must begin *every* match (`^a|b` does not anchor `b`)
            let at_start = exact.properties().look_set_prefix().contains(Look::Start);
            // (with few failregexes the walk stops at the first match
            // state: an early one is better)
            let fr = relax(&exact, failregex.len() > FEW);
            hirs.push(match &prefix {
                Some(p) if at_start => Hir::concat(vec![p.clone(), fr]),
                Some(p) => Hir::concat(vec![p.clone(), any_text(), fr]),
                None if at_start => fr,
                None => Hir::concat(vec![any_text(), fr]),
            });
        }
        // Without a prefregex every pattern carries its own unanchored
        // prefix (`(?s:.*)`) unless it starts with `^`.
        let anchored = prefix.is_none() || anchored;
        let nfa = thompson::Compiler::new()
            .configure(
                thompson::Config::new()
                    .which_captures(WhichCaptures::None)
                    .shrink(true),
            )
            .build_many_from_hir(&hirs)
            .ok()?;
        let dfa = DFA::builder()
            .configure(
                // The cache grows on demand up to this bound, and is cleared
                // (not given up) when full; with ASCII-precise classes the
                // stock filters need a few hundred KiB, and a server holds
                // one per jail.
                DFA::config()
                    .match_kind(MatchKind::All)
                    .cache_capacity(1 << 20),
            )
            .build_from_nfa(nfa)
            .ok()?;
        let cache = dfa.create_cache();
        let set = PatternSet::new(dfa.pattern_len());
        Some(CandidateDfa {
            dfa,
            cache,
            set,
            list: Vec::new(),
            anchored,
        })
    }

    /// A copy for another thread: the same automaton, its own cache.
    pub(crate) fn fork(&self) -> CandidateDfa {
        CandidateDfa {
            dfa: self.dfa.clone(),
            cache: self.dfa.create_cache(),
            set: PatternSet::new(self.dfa.pattern_len()),
            list: Vec::new(),
            anchored: self.anchored,
        }
    }

    /// Whether a line that may match runs every failregex (there are at
    /// most `FEW`): the DFA then only rejects lines.
    pub(crate) fn only_rejects(&self) -> bool {
        self.set.capacity() <= FEW
    }

    /// Run over `text` (the buffer the regexes will see). Returns `false`
    /// when no failregex can match; otherwise [`CandidateDfa::candidates`]
    /// tells which may.
    pub(crate) fn scan(&mut self, text: &str) -> bool {
        self.set.clear();
        self.list.clear();
        match self.walk(text.as_bytes()) {
            Ok(()) => {
                self.list.sort_unstable();
                !self.set.is_empty()
            }
            // (the engine is not configured to give up or quit)
            Err(()) => self.all(),
        }
    }

    /// One pass over `text`, collecting the patterns of every match state
    /// passed through (matches are reported one byte late, and at the end
    /// by the end-of-input transition), until the automaton dies or the
    /// text ends. Most lines die a few bytes past the prefix. This is the
    /// loop regex-automata documents for walking a lazy DFA by hand: it
    /// costs a fraction of the engine's overlapping search, which stops
    /// and resumes at every match.
    fn walk(&mut self, text: &[u8]) -> Result<(), ()> {
        let input = Input::new(text).anchored(if self.anchored {
            Anchored::Yes
        } else {
            Anchored::No
        });
        let dfa = &self.dfa;
        let cache = &mut self.cache;
        let mut sid = dfa.start_state_forward(cache, &input).map_err(drop)?;
        let mut at = 0;
        loop {
            if sid.is_tagged() {
                if sid.is_match() {
                    for i in 0..dfa.match_len(cache, sid) {
                        add(
                            &mut self.set,
                            &mut self.list,
                            dfa.match_pattern(cache, sid, i),
                        );
                    }
                    if self.set.capacity() <= FEW {
                        // With this few failregexes, running them all
                        // costs less than finding out which may match.
                        return Err(());
                    }
                } else if sid.is_dead() {
                    return Ok(());
                } else if sid.is_quit() {
                    return Err(());
                }
                let Some(&b) = text.get(at) else { break };
                sid = dfa.next_state(cache, sid, b).map_err(drop)?;
                at += 1;
            } else {
                let mut prev = sid;
                while let Some(&b) = text.get(at) {
                    prev = sid;
                    // SAFETY: `sid` is an untagged state of this DFA taken
                    // from `cache` (by `start_state_forward`, `next_state` or
                    // this loop), and nothing cleared `cache` since.
                    sid = unsafe { dfa.next_state_untagged_unchecked(cache, sid, b) };
                    at += 1;
                    if sid.is_tagged() {
                        break;
                    }
                }
                if sid.is_unknown() {
                    // not computed yet: the checked transition computes it
                    sid = dfa.next_state(cache, prev, text[at - 1]).map_err(drop)?;
                } else if !sid.is_tagged() {
                    break;
                }
            }
        }
        let eoi = dfa.next_eoi_state(cache, sid).map_err(drop)?;
        if eoi.is_match() {
            for i in 0..dfa.match_len(cache, eoi) {
                add(
                    &mut self.set,
                    &mut self.list,
                    dfa.match_pattern(cache, eoi, i),
                );
            }
        }
        Ok(())
    }

    /// Every failregex is a candidate.
    fn all(&mut self) -> bool {
        self.set.clear();
        self.list.clear();
        for i in 0..self.set.capacity() {
            if let Ok(p) = regex_automata::PatternID::new(i) {
                add(&mut self.set, &mut self.list, p);
            }
        }
        true
    }

    /// After a successful [`CandidateDfa::scan`]: the failregexes that may
    /// match, in ascending order.
    pub(crate) fn candidates(&self) -> &[usize] {
        &self.list
    }
}

/// Add pattern `p` to the candidate `set` and its `list`.
fn add(set: &mut PatternSet, list: &mut Vec<usize>, p: regex_automata::PatternID) {
    if set.try_insert(p).unwrap_or(false) {
        list.push(p.as_usize());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_and_selects() {
        let mut d = CandidateDfa::build(
            Some(r"^(?P<mlfid>\S+ sshd\[\d+\]: )(?P<content>.+)$"),
            &[
                r"^Failed \S+ for (?P<user>\w+) from x$",
                r"^Invalid user \w+$",
            ],
        )
        .expect("builds");
        assert!(!d.scan("host sshd[1]: session opened\n"));
        assert!(d.scan("host sshd[1]: Invalid user bob\n"));
        // (with this few failregexes, all are run)
        assert_eq!(d.candidates(), [0, 1]);
        // the prefix is anchored: no match further right
        assert!(!d.scan(" host sshd[1]: Invalid user bob\n"));
    }

    #[test]
    fn non_ascii_classes_are_widened() {
        // PCRE2 (UCP) and Python count `²` as `\w`; Rust's `\w` does not.
        let mut d = CandidateDfa::build(None, &[r"user \w+ denied"]).expect("builds");
        assert!(d.scan("user x² denied\n"));
        assert!(!d.scan("user x denial\n"));
    }

    #[test]
    fn optional_prefixes_match_every_line() {
        assert!(matches_every_line(
            r"^(?P<mlfid>(?:\S+\s+)?(?:\[\d+\])?:?\s*)(?:error: )?(?P<content>.+)$"
        ));
        // a required part, or an assertion on the empty path, need the regex
        assert!(!matches_every_line(r"^(?P<mlfid>\S+\s+)(?P<content>.+)$"));
        assert!(!matches_every_line(r"^(?P<mlfid>\b\w*)(?P<content>.+)$"));
        assert!(!matches_every_line(r"^(?P<mlfid>(?=x)?)(?P<content>.+)$"));
        assert!(!matches_every_line(r"^(?P<content>.+) x$"));
    }

    #[test]
    fn content_must_end_the_line() {
        assert!(CandidateDfa::build(Some(r"^(?P<content>.+)(?=x)"), &["a"]).is_none());
        assert!(CandidateDfa::build(Some(r"^(?P<content>.*)$"), &["a"]).is_none());
    }

    #[test]
    fn caret_anchors_only_when_every_branch_has_it() {
        let mut d = CandidateDfa::build(
            Some(r"^(?P<mlfid>\w+: )(?P<content>.+)$"),
            &["^aaa|bbb", "^ccc", "^x", "^y"],
        )
        .expect("builds");
        // `bbb` may match anywhere in the content, `ccc` only at its start
        assert!(d.scan("host: zz bbb\n"));
        assert_eq!(d.candidates(), [0]);
        assert!(!d.scan("host: zz ccc\n"));
    }

    #[test]
    fn dollar_is_kept_with_many_failregexes() {
        let fr = ["^a b$", "^x", "^y", "^z"];
        let mut d =
            CandidateDfa::build(Some(r"^(?P<mlfid>\w+: )(?P<content>.+)$"), &fr).expect("builds");
        assert!(d.scan("h: a b\n"));
        assert_eq!(d.candidates(), [0]);
        // not at the end: cannot match
        assert!(!d.scan("h: a b c\n"));
        assert!(!d.scan("h: a b\r\n"));
        // with few failregexes it is dropped (the walk stops early anyway)
        let mut d = CandidateDfa::build(None, &fr[..2]).expect("builds");
        assert!(d.scan("a b c\n"));
    }

    #[test]
    fn counted_repetitions_become_loops() {
        let fr = [r"^x\d{2,3}y$", "^a", "^b", "^c"];
        let mut d = CandidateDfa::build(None, &fr).expect("builds");
        // what the regex accepts, the DFA does
        assert!(d.scan("x12y\n") && d.scan("x123y\n"));
        // and more: the count is not tracked
        assert!(d.scan("x1y\n") && d.scan("x12345y\n"));
        assert!(!d.scan("xy\n"));
    }

    #[test]
    fn candidates_in_regex_order() {
        let mut d = CandidateDfa::build(
            Some(r"^(?P<mlfid>\w+: )(?P<content>.+)$"),
            &["^a.*z$", "^ab", "^x", "^y"],
        )
        .expect("builds");
        // `^ab` is found first, `^a.*z$` at the end of the line
        assert!(d.scan("host: abcz\n"));
        assert_eq!(d.candidates(), [0, 1]);
        assert!(d.scan("host: abc\n"));
        assert_eq!(d.candidates(), [1]);
    }
}
