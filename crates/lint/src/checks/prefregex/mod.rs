//! `prefregex-consumed` and `prefregex-nomatch`: failregexes that the
//! filter's `prefregex` keeps from ever matching.
//!
//! fail2ban runs `prefregex` on a line first; a line it does not match is
//! dropped, and when it has `<F-CONTENT>…</F-CONTENT>` the failregexes see
//! only that content. A failregex written for the whole line (as in the
//! FreeSWITCH guide's `filter.d/freeswitch.local`, whose lines start with
//! `^\.\d+ \[WARNING\] sofia_reg\.c:\d+`, text the stock prefregex
//! matches before its content) then matches nothing, and fail2ban says
//! nothing: the jail runs and never bans.
//!
//! The reasoning has two halves, and the first decides alone when there is
//! no log to look at:
//! 1. **On the patterns.** The prefregex part before `<F-CONTENT>`
//!    requires some literals (`required_literal_sets`: every match
//!    contains one of each set), e.g. `[WARN` and `sofia_reg.c:`. Those
//!    are *consumed*: they lie before the content. A failregex anchored at
//!    `^` must find its own leading required text at the start of the
//!    content. Its leading evidence is taken from the shortest prefix of
//!    the failregex (cut between top-level items, never inside a run of
//!    literal characters, so a literal is not cut in half) whose required
//!    literals include one of three or more characters (shorter ones, like
//!    the `.` of `\.\d+`, occur everywhere and prove nothing). When every
//!    literal of such a set overlaps a consumed literal (one contains the
//!    other), the failregex asks the content to start with text the
//!    prefregex already took: a line would have to repeat it. Only
//!    anchored failregexes are judged this way: an unanchored one may
//!    find its text later in the content.
//!
//!    That overlap could be a coincidence, so it is then tested on a
//!    *witness*: a line built from the failregex itself (see
//!    `witness::WitnessMaker`), the line its author had in mind. The
//!    real prefregex runs on it; if the failregex then matches the
//!    content, there is no finding. Otherwise the offset where the
//!    content starts, mapped back to the failregex's items, gives the fix:
//!    the failregex without the items the prefregex consumed (a cut that
//!    would drop a capture group or an address tag is not offered). The
//!    fix is only proposed after the filter, built with the prefregex and
//!    the rewritten failregex, finds a failure on the witness (so it
//!    compiles and works through the prefregex).
//! 2. **On the log**, when the jail's log exists and can be read: its first
//!    lines go through the real filter (prefregex and every failregex,
//!    with the jail's date pattern). A failregex that gives no failure
//!    there while it (alone, without the prefregex) or its fix (through
//!    the prefregex) matches some lines is confirmed, and one such line is
//!    quoted. The same run finds the other way to lose lines: a prefregex
//!    that matches none of a log's lines while a failregex alone would
//!    (`prefregex-nomatch`: the guide's `"FAIL2BAN_HOST=<HOST>"` pattern on
//!    a CSV file). A failregex the pattern reasoning let pass but that the
//!    log convicts the same way is reported too.
//!
//! The `prefregex =` (empty) alternative is offered as verified only when
//! the log shows the failregex matching lines on its own: emptying the
//! prefregex also hands the whole line (date cut out) to every other
//! failregex of the filter, and a failregex written for an older date
//! format (the guide's `^\.\d+` expects the fraction of a second the
//! date pattern now takes) matches nothing either way.

use gaoler_filter::{Filter, FilterSpec, TupleLine};
use gaoler_matcher::literals::required_literal_sets;

mod report;

use super::{failregex_places, Ctx};
use crate::finding::{Finding, Level};
use crate::model::JailView;
use crate::pattern::{self, first_real, starts_anchored, Item, Node};
use crate::witness::WitnessMaker;
use gaoler_filter::FilterOptions;
use report::{consumed_finding, nomatch_finding, run_log};

/// A failregex the pattern reasoning convicts.
pub(super) struct Consumed {
    /// The consumed literal it expects again.
    pub literal: String,
    /// The failregex without the consumed items, verified on the witness,
    /// and the source text of those items.
    pub fix: Option<(String, String)>,
}

/// The prefregex of a filter with `<F-CONTENT>`, ready to reason with.
struct Pref {
    text: String,
    /// Literal sets every match requires before the content (one member
    /// of each set; members of 3+ characters): (text, ASCII-case-insensitive).
    consumed: Vec<Vec<(String, bool)>>,
    re: gaoler_matcher::Regex,
    content: usize,
}

impl Pref {
    fn new(text: &str, f: &FilterOptions) -> Option<Pref> {
        let at = text.find("<F-CONTENT>")?;
        let before = gaoler_filter::resolve_tags(&text[..at], f.usedns);
        let consumed = literal_sets(&before, 3).unwrap_or_default();
        let full = gaoler_filter::glob_to_local_flags(&gaoler_filter::resolve_tags(text, f.usedns));
        let re =
            gaoler_matcher::Regex::new_pcre2(&full, gaoler_matcher::Options::default()).ok()?;
        let content = re.group_index("content")?;
        Some(Pref {
            text: text.to_string(),
            consumed,
            re,
            content,
        })
    }

    /// Where the content starts when the prefregex runs on `line` (a line
    /// without its date, as the filter hands it over).
    fn content_start(&self, line: &str) -> Option<usize> {
        let caps = self.re.captures(&format!("{line}\n")).ok()??;
        caps.get(self.content).map(|(s, _)| s)
    }

    /// How much of `lit` is text the prefregex consumed: the share of
    /// its characters covered by consumed literals, and the consumed text
    /// seen in it. A set counts only when each of its members lies in
    /// `lit` (whichever one a line has, `lit` repeats it), or when `lit`
    /// lies in each member.
    fn coverage(&self, lit: &str, ci: bool) -> (f64, String) {
        let fold = |s: &str, other_ci: bool| {
            if ci || other_ci {
                s.to_ascii_lowercase()
            } else {
                s.to_string()
            }
        };
        let mut covered = vec![false; lit.len()];
        let mut seen = String::new();
        for set in &self.consumed {
            let inside = set
                .iter()
                .all(|(m, mci)| fold(m, *mci).contains(&fold(lit, *mci)));
            if inside {
                covered.iter_mut().for_each(|c| *c = true);
                seen = set[0].0.clone();
                continue;
            }
            if !set
                .iter()
                .all(|(m, mci)| fold(lit, *mci).contains(&fold(m, *mci)))
            {
                continue;
            }
            for (m, mci) in set {
                let (hay, needle) = (fold(lit, *mci), fold(m, *mci));
                for (at, _) in hay.match_indices(&needle) {
                    covered[at..at + needle.len()]
                        .iter_mut()
                        .for_each(|c| *c = true);
                }
            }
            if seen.len() < set[0].0.len() {
                seen = set[0].0.clone();
            }
        }
        let n = covered.iter().filter(|c| **c).count();
        (n as f64 / lit.len().max(1) as f64, seen)
    }
}

/// The literal sets every match of `pattern` requires, keeping only sets
/// whose members all have `min_len` characters or more.
fn literal_sets(pattern: &str, min_len: usize) -> Option<Vec<Vec<(String, bool)>>> {
    Some(
        required_literal_sets(pattern, false, false)?
            .into_iter()
            .filter(|s| s.iter().all(|l| l.text.len() >= min_len))
            .map(|s| {
                s.into_iter()
                    .map(|l| (String::from_utf8_lossy(&l.text).into_owned(), l.ci))
                    .collect()
            })
            .collect(),
    )
}

/// Share of a failregex's leading literal that must be consumed text for
/// the failregex to be judged consumed: most of it, so that a word the
/// prefix and the message merely share (`client` in Apache's
/// `[client 1.2.3.4] client denied ...`) does not count.
const CONSUMED_SHARE: f64 = 0.5;

/// Shortest leading literal worth judging: shorter ones (` - `, `: `)
/// occur in every line.
const LEADING_MIN: usize = 4;

/// A filter spec for the jail with the given regexes (no shortcuts that
/// could hide a line: every line is examined).
pub(super) fn spec(
    f: &FilterOptions,
    prefregex: Option<&str>,
    failregex: Vec<String>,
) -> FilterSpec {
    FilterSpec {
        prefregex: prefregex.map(str::to_string),
        failregex,
        check_all_regex: true,
        ignore_pending: false,
        failure_data: false,
        ..f.spec()
    }
}

/// Whether `failregex` (through `prefregex`, if given) finds a failure on
/// `text`, a line without date; `None` when the filter cannot be built.
fn finds(f: &FilterOptions, prefregex: Option<&str>, failregex: &str, text: &str) -> Option<bool> {
    let mut s = spec(f, prefregex, vec![failregex.to_string()]);
    s.ignoreregex.clear();
    let mut filter = Filter::new(s).ok()?;
    let tuple = TupleLine {
        suffix: text.to_string(),
        ..TupleLine::default()
    };
    Some(!filter.process_line_with_date(tuple, 0.0, 0.0).is_empty())
}

/// Literal sets (of [`LEADING_MIN`]+ characters) of the shortest prefix
/// of `items` (after the `^` at `caret`) that has any; `None` when a
/// capture comes first (the text before an address or a field is not a
/// prefix the prefregex could have taken for its own).
fn leading_evidence(
    src: &str,
    items: &[Item],
    caret: usize,
    f: &FilterOptions,
) -> Option<Vec<Vec<(String, bool)>>> {
    let plain = |i: &Item| matches!(i.node, Node::Char(_)) && i.min == 1 && i.max == Some(1);
    for k in caret + 1..=items.len() {
        if drops_capture(&items[k - 1..k]) {
            return None;
        }
        if k < items.len() && plain(&items[k - 1]) && plain(&items[k]) {
            continue;
        }
        let prefix = gaoler_filter::resolve_tags(&src[..items[k - 1].end], f.usedns);
        let evidence = literal_sets(&prefix, LEADING_MIN)?;
        if !evidence.is_empty() {
            return Some(evidence);
        }
    }
    None
}

/// Whether cutting items `from..to` would drop a capture (data or id).
fn drops_capture(items: &[Item]) -> bool {
    pattern::flatten(items).iter().any(|fl| {
        matches!(
            fl.item.node,
            Node::Tag(_)
                | Node::Field { .. }
                | Node::Group {
                    kind: pattern::GroupKind::Capture,
                    ..
                }
        )
    })
}

/// The failregex without what the prefregex consumes of its witness,
/// verified on that witness, and the text cut out; `Err(())` when the
/// failregex works through the prefregex on its own witness (nothing is
/// consumed).
fn witness_fix(
    pref: &Pref,
    src: &str,
    items: &[Item],
    caret: usize,
    f: &FilterOptions,
    maker: &mut WitnessMaker,
) -> Result<Option<(String, String)>, ()> {
    let Some(w) = maker.make(items) else {
        return Ok(None);
    };
    // a witness the failregex itself rejects proves nothing
    if finds(f, None, src, &w.text) == Some(false) {
        return Ok(None);
    }
    if finds(f, Some(&pref.text), src, &w.text) == Some(true) {
        return Err(());
    }
    let Some(start) = pref.content_start(&w.text) else {
        return Ok(None);
    };
    let Some(cut) = (caret + 1..items.len()).find(|&i| w.offsets[i] == start) else {
        return Ok(None);
    };
    if cut == caret + 1 || drops_capture(&items[caret + 1..cut]) {
        return Ok(None);
    }
    let fixed = format!("{}{}", &src[..items[caret].end], &src[items[cut].start..]);
    let dropped = src[items[caret].end..items[cut].start].to_string();
    Ok((finds(f, Some(&pref.text), &fixed, &w.text) == Some(true)).then_some((fixed, dropped)))
}

/// The pattern half of the check for one failregex.
fn judge(pref: &Pref, src: &str, f: &FilterOptions, maker: &mut WitnessMaker) -> Option<Consumed> {
    if pref.consumed.is_empty() {
        return None;
    }
    let branches = pattern::parse(src)?;
    let [items] = branches.as_slice() else {
        return None;
    };
    if !starts_anchored(items) {
        return None;
    }
    let caret = first_real(items)?;
    let evidence = leading_evidence(src, items, caret, f)?;
    // every member of a leading set must be mostly consumed text
    let literal = evidence.iter().find_map(|set| {
        let mut seen = String::new();
        for (l, ci) in set {
            let (share, s) = pref.coverage(l, *ci);
            if share < CONSUMED_SHARE {
                return None;
            }
            seen = s;
        }
        Some(seen)
    })?;
    let fix = witness_fix(pref, src, items, caret, f, maker).ok()?;
    Some(Consumed { literal, fix })
}

/// A fix found for a failregex the log convicted (no pattern evidence):
/// the witness cut, if the failregex allows one.
fn cut_only(
    pref: &Pref,
    src: &str,
    f: &FilterOptions,
    maker: &mut WitnessMaker,
) -> Option<(String, String)> {
    let branches = pattern::parse(src)?;
    let [items] = branches.as_slice() else {
        return None;
    };
    let caret = first_real(items).filter(|_| starts_anchored(items))?;
    witness_fix(pref, src, items, caret, f, maker)
        .ok()
        .flatten()
}

/// Runs the check on one jail.
pub(crate) fn check(ctx: &Ctx<'_>, jail: &JailView<'_>, out: &mut Vec<Finding>) {
    let f = &jail.filter;
    if f.failregex.is_empty() {
        return;
    }
    if let Err(e) = Filter::new(spec(f, f.prefregex.as_deref(), f.failregex.clone())) {
        out.push(
            Finding::new(
                Level::Error,
                "filter-invalid",
                Some(&jail.name),
                format!("the filter cannot be built, so the jail cannot start: {e}"),
                "correct the regex or date pattern named (test it with `gaoler regex LOG FILTER`)",
            )
            .at(jail.origin("failregex")),
        );
        return;
    }
    let places = failregex_places(ctx, jail);
    let pref = f.prefregex.as_deref().and_then(|p| Pref::new(p, f));
    let mut maker = WitnessMaker::default();
    let mut judged: Vec<Option<Consumed>> = f
        .failregex
        .iter()
        .map(|r| pref.as_ref().and_then(|p| judge(p, r, f, &mut maker)))
        .collect();
    let mut runs = Vec::new();
    if f.maxlines == 1 && !jail.is_journal() {
        let fixes: Vec<Option<String>> = judged
            .iter()
            .map(|j| {
                j.as_ref()
                    .and_then(|c| c.fix.as_ref())
                    .map(|(fx, _)| fx.clone())
            })
            .collect();
        for lp in ctx.log_files(jail) {
            for p in &lp.files {
                if let Some(lines) = ctx.log_head(p).filter(|l| !l.is_empty()) {
                    runs.extend(run_log(ctx, f, &fixes, p, lines));
                }
            }
        }
    }
    let pref_at = jail
        .origin("prefregex")
        .map(|o| format!(" ({o})"))
        .unwrap_or_default();
    for (i, r) in f.failregex.iter().enumerate() {
        let at = places.get(i).cloned().flatten();
        // the log convicts a failregex the patterns let pass: it matches
        // lines alone, the prefregex matches those lines, no failure comes
        if judged[i].is_none() {
            if let Some(p) = pref.as_ref() {
                let convicted = runs.iter().any(|run| {
                    run.through[i].is_empty() && run.alone[i].iter().any(|&l| run.pref_ok[l])
                });
                if convicted {
                    judged[i] = Some(Consumed {
                        literal: String::new(),
                        fix: cut_only(p, r, f, &mut maker),
                    });
                }
            }
        }
        if let Some(c) = &judged[i] {
            out.push(consumed_finding(jail, c, &runs, i, &pref_at, at.as_ref()));
        }
        for run in &runs {
            if run.pref_hits == 0 && f.prefregex.is_some() {
                if let Some(&l) = run.alone[i].first() {
                    out.push(nomatch_finding(jail, r, run, i, l, &pref_at, at.as_ref()));
                }
            }
        }
    }
}
