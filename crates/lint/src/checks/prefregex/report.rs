//! The log half of the prefregex check, and the findings' texts: what
//! the first lines of a jail's log show when they go through the real
//! filter, and how a conviction is worded (see the parent module for the
//! reasoning).

use std::path::{Path, PathBuf};
use std::rc::Rc;

use gaoler_config::Origin;
use gaoler_filter::Filter;

use super::{spec, Consumed};
use crate::checks::{quote, Ctx};
use crate::finding::{Finding, Level};
use crate::model::JailView;
use gaoler_filter::FilterOptions;

/// What the first lines of one log show.
pub(super) struct LogRun {
    pub path: PathBuf,
    pub lines: Rc<Vec<String>>,
    /// Non-empty lines looked at.
    pub looked: usize,
    /// Lines the prefregex matched (all looked-at lines without one).
    pub pref_ok: Vec<bool>,
    pub pref_hits: usize,
    /// Per failregex: lines with a failure through the prefregex.
    pub through: Vec<Vec<usize>>,
    /// Per failregex: lines it matches alone (computed only for the
    /// failregexes without a failure through the prefregex).
    pub alone: Vec<Vec<usize>>,
    /// Per failregex: lines its fix matches through the prefregex.
    pub fixed: Vec<Vec<usize>>,
}

fn run_lines(
    filter: &mut Filter,
    lines: &[String],
    now: f64,
    mut each: impl FnMut(usize, &gaoler_filter::LineOutcome),
) {
    filter.disable_prefilters();
    for (i, l) in lines.iter().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        let out = filter.process_line_detailed(l, now);
        each(i, &out);
    }
}

pub(super) fn run_log(
    ctx: &Ctx<'_>,
    f: &FilterOptions,
    fixes: &[Option<String>],
    path: &Path,
    lines: Rc<Vec<String>>,
) -> Option<LogRun> {
    let n = f.failregex.len();
    let mut s = spec(f, f.prefregex.as_deref(), f.failregex.clone());
    s.count_prefregex = f.prefregex.is_some();
    let mut through = vec![Vec::new(); n];
    let mut pref_ok = vec![false; lines.len()];
    let mut looked = 0;
    let mut filter = Filter::new(s).ok()?;
    run_lines(&mut filter, &lines, ctx.now, |i, out| {
        looked += 1;
        pref_ok[i] = out.prefregex.unwrap_or(true);
        for fl in &out.failures {
            if let Some(t) = through.get_mut(fl.regex_index) {
                if t.last() != Some(&i) {
                    t.push(i);
                }
            }
        }
    });
    let hits_of = |prefregex: Option<&str>, r: &str| -> Vec<usize> {
        let mut hits = Vec::new();
        if let Ok(mut one) = Filter::new(spec(f, prefregex, vec![r.to_string()])) {
            run_lines(&mut one, &lines, ctx.now, |i, out| {
                if !out.failures.is_empty() {
                    hits.push(i);
                }
            });
        }
        hits
    };
    let mut alone = vec![Vec::new(); n];
    let mut fixed = vec![Vec::new(); n];
    for i in 0..n {
        if !through[i].is_empty() {
            continue;
        }
        alone[i] = hits_of(None, &f.failregex[i]);
        if let Some(fx) = &fixes[i] {
            fixed[i] = hits_of(f.prefregex.as_deref(), fx);
        }
    }
    let pref_hits = pref_ok.iter().filter(|p| **p).count();
    Some(LogRun {
        path: path.to_path_buf(),
        lines,
        looked,
        pref_ok,
        pref_hits,
        through,
        alone,
        fixed,
    })
}

/// Where `prefregex =` goes: the `.local` beside the file that holds the
/// failregex.
fn local_of(at: Option<&Origin>) -> String {
    match at {
        Some(o) => {
            let s = o.file.display().to_string();
            match s.strip_suffix(".conf") {
                Some(stem) => format!("{stem}.local"),
                None => s,
            }
        }
        None => "the filter's .local".to_string(),
    }
}

pub(super) fn consumed_finding(
    jail: &JailView<'_>,
    c: &Consumed,
    runs: &[LogRun],
    i: usize,
    pref_at: &str,
    at: Option<&Origin>,
) -> Finding {
    let what = match (&c.fix, c.literal.is_empty()) {
        (Some((_, dropped)), _) => format!("starts with `{dropped}`, text"),
        (None, false) => format!("starts with `{}`, text", c.literal),
        (None, true) => "is written for whole lines, whose beginning".to_string(),
    };
    let mut message = format!(
        "this failregex never matches: it {what} the filter's prefregex{pref_at} has already \
         matched. fail2ban applies the prefregex first and hands the failregexes only its \
         <F-CONTENT> part, so a failregex anchored at `^` must not repeat what comes before \
         it. The jail counts no failure from this failregex, and fail2ban does not warn"
    );
    let mut verified_empty = false;
    for run in runs {
        if let Some(&l) = run.fixed[i].first() {
            message.push_str(&format!(
                ". {}: {} of the {} lines read are such failures and none is found, e.g. line {}: `{}`",
                run.path.display(),
                run.fixed[i].len(),
                run.looked,
                l + 1,
                quote(&run.lines[l])
            ));
            break;
        }
        if let Some(&l) = run.alone[i].first() {
            verified_empty = true;
            message.push_str(&format!(
                ". {}: {} of the {} lines read match this failregex alone and give no \
                 failure through the prefregex, e.g. line {}: `{}`",
                run.path.display(),
                run.alone[i].len(),
                run.looked,
                l + 1,
                quote(&run.lines[l])
            ));
            break;
        }
    }
    let empty = format!("set `prefregex =` (empty) in {}", local_of(at));
    let fix = match (c.fix.as_ref().map(|(fx, _)| fx), verified_empty) {
        (Some(fx), true) => format!(
            "write the failregex without what the prefregex already matched: `{fx}`; or {empty} \
             (every failregex of the filter then sees whole lines)"
        ),
        (Some(fx), false) => {
            format!("write the failregex without what the prefregex already matched: `{fx}`")
        }
        (None, true) => format!("{empty} (every failregex of the filter then sees whole lines)"),
        (None, false) => format!(
            "remove from the failregex the text up to where the prefregex's <F-CONTENT> \
             starts, or {empty} and write every failregex for whole lines"
        ),
    };
    Finding::new(
        Level::Error,
        "prefregex-consumed",
        Some(&jail.name),
        message,
        fix,
    )
    .at(at)
}

pub(super) fn nomatch_finding(
    jail: &JailView<'_>,
    r: &str,
    run: &LogRun,
    i: usize,
    l: usize,
    pref_at: &str,
    at: Option<&Origin>,
) -> Finding {
    let log = run.path.display();
    let stem = run
        .path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "extra".into());
    let name = format!(
        "{}-{stem}",
        jail.filter_name().unwrap_or_else(|| jail.name.clone())
    );
    let message = format!(
        "the filter's prefregex{pref_at} matches none of the {} lines read from {log}, so \
         fail2ban never runs the failregexes on them; this failregex alone matches {} of them, \
         e.g. line {}: `{}`",
        run.looked,
        run.alone[i].len(),
        l + 1,
        quote(&run.lines[l])
    );
    let fix = format!(
        "read {log} with a filter that has no prefregex: filter.d/{name}.local with \
         `[Definition]` and `failregex = {r}`, and a jail `[{name}]` with `filter = {name}` and \
         `logpath = {log}` (then drop {log} from this jail); or set `prefregex =` in {} if every \
         failregex of the filter is written for whole lines",
        local_of(at)
    );
    Finding::new(
        Level::Error,
        "prefregex-nomatch",
        Some(&jail.name),
        message,
        fix,
    )
    .at(at)
}
