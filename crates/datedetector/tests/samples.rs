//! Runs every annotated sample line of upstream fail2ban's test logs through
//! the detector configured like the filter (its `datepattern`, per option
//! set) and checks the parsed time equals the annotation exactly.
//!
//! Only lines the upstream runner would check are counted: a `"time"`
//! annotation on a `"match": true` line, outside journal-type blocks (those
//! carry no date), subject to `test.condition` and `constraint`. Every other
//! non-comment line is still fed to the detector so that its template order
//! evolves as it does upstream.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use gaoler_datedetector::samples::{directive, local_to_unix, TEST_TZ};
use gaoler_datedetector::DateDetector;
use gaoler_testkit::upstream;
use serde_json::{Map, Value};

const NOW: f64 = 1124013600.0;

/// `datepattern` per jail from the reference reader's command stream.
fn golden_datepatterns() -> HashMap<String, String> {
    let text = fs::read_to_string(upstream().join("golden/dump-all-jails.jsonl")).unwrap();
    let mut out = HashMap::new();
    for line in text.lines() {
        let Ok(Value::Array(a)) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if a.len() == 4 && a[0] == "set" && a[2] == "datepattern" {
            if let (Some(j), Some(v)) = (a[1].as_str(), a[3].as_str()) {
                out.insert(j.to_string(), v.to_string());
            }
        }
    }
    out
}

/// A minimal INI view: section -> key -> raw value (continuation lines joined
/// with `\n`), enough to resolve `datepattern` for filters without a jail
/// in the golden stream and for option sets that change it.
type Ini = HashMap<String, HashMap<String, String>>;

fn read_ini(path: &Path, into: &mut Ini) {
    let Ok(text) = fs::read_to_string(path) else {
        return;
    };
    let mut section = String::new();
    let mut last_key: Option<String> = None;
    for raw in text.lines() {
        if raw.trim_start().starts_with('#') || raw.trim_start().starts_with(';') {
            continue;
        }
        if raw.trim().is_empty() {
            last_key = None;
            continue;
        }
        if raw.starts_with(' ') || raw.starts_with('\t') {
            if let Some(k) = &last_key {
                let v = into
                    .entry(section.clone())
                    .or_default()
                    .entry(k.clone())
                    .or_default();
                v.push('\n');
                v.push_str(raw.trim());
            }
            continue;
        }
        let t = raw.trim();
        if t.starts_with('[') && t.ends_with(']') {
            section = t[1..t.len() - 1].to_string();
            last_key = None;
            continue;
        }
        if let Some((k, v)) = t.split_once('=') {
            let k = k.trim().to_string();
            into.entry(section.clone())
                .or_default()
                .insert(k.clone(), v.trim().to_string());
            last_key = Some(k);
        }
    }
}

fn load_filter(dir: &Path, name: &str) -> Ini {
    let mut own = Ini::new();
    read_ini(&dir.join(format!("{name}.conf")), &mut own);
    let mut ini = Ini::new();
    let includes = own.get("INCLUDES").cloned().unwrap_or_default();
    for f in includes
        .get("before")
        .map(|s| s.split_whitespace().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        let inc = load_filter(dir, f.trim_end_matches(".conf"));
        merge(&mut ini, inc);
    }
    merge(&mut ini, own);
    for f in includes
        .get("after")
        .map(|s| s.split_whitespace().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        let inc = load_filter(dir, f.trim_end_matches(".conf"));
        merge(&mut ini, inc);
    }
    ini
}

fn merge(into: &mut Ini, from: Ini) {
    for (s, kv) in from {
        into.entry(s).or_default().extend(kv);
    }
}

/// Resolve `%(x)s`, `%(sec/x)s`, `<x>`, `<sec/x>` and `%%` in a value.
fn resolve(ini: &Ini, opts: &Map<String, Value>, value: &str, depth: usize) -> String {
    let lookup = |key: &str| -> Option<String> {
        if let Some((s, k)) = key.split_once('/') {
            return ini.get(s).and_then(|m| m.get(k)).cloned();
        }
        if let Some(v) = opts.get(key).and_then(Value::as_str) {
            return Some(v.to_string());
        }
        ["Definition", "Init", "DEFAULT"]
            .iter()
            .find_map(|s| ini.get(*s).and_then(|m| m.get(key)).cloned())
    };
    let mut v = value.to_string();
    if depth > 10 {
        return v;
    }
    // %(name)s interpolation, keeping %% for the final unescape.
    while let Some(p) = v.find("%(") {
        let Some(e) = v[p..].find(")s") else { break };
        let key = v[p + 2..p + e].to_string();
        let rep = lookup(&key)
            .map(|r| resolve(ini, opts, &r, depth + 1))
            .unwrap_or_default();
        v.replace_range(p..p + e + 2, &rep);
    }
    // <tag> substitution, innermost first.
    loop {
        let mut changed = false;
        let bytes: Vec<(usize, char)> = v.char_indices().collect();
        let mut open = None;
        for &(i, c) in &bytes {
            if c == '<' {
                open = Some(i);
            } else if c == '>' {
                if let Some(o) = open {
                    let key = &v[o + 1..i];
                    if !key.is_empty()
                        && key
                            .chars()
                            .all(|c| c.is_alphanumeric() || "_-/".contains(c))
                    {
                        if let Some(r) = lookup(key) {
                            let r = resolve(ini, opts, &r, depth + 1);
                            v.replace_range(o..=i, &r);
                            changed = true;
                            break;
                        }
                    }
                }
                open = None;
            }
        }
        if !changed {
            break;
        }
    }
    v.replace("%%", "%")
}

fn constraint_holds(expr: &str, name: &str, opts: &Map<String, Value>) -> bool {
    gaoler_py::cond::sample_condition(expr, name, opts).unwrap_or_else(|e| panic!("{e}"))
}

/// An annotated time (local, in the test zone) as Unix time.
fn expected_time(t: &str) -> f64 {
    local_to_unix(t).unwrap_or_else(|| panic!("bad failJSON time {t:?}"))
}

struct Outcome {
    /// (line, option set) pairs checked, and how many agree.
    checked: usize,
    passed: usize,
    /// Distinct annotated lines among them.
    lines: std::collections::HashSet<(String, usize)>,
    /// Annotated times on lines that do not produce a failure: the upstream
    /// runner never checks those, so they are counted apart.
    unchecked_total: usize,
    unchecked_agree: usize,
    failures: Vec<String>,
}

fn run_filter(name: &str, filter_dir: &Path, golden: &HashMap<String, String>, out: &mut Outcome) {
    let ini = load_filter(filter_dir, name);
    // Per option set: the detector and the filter's "last date" memo.
    let mut detectors: HashMap<String, (DateDetector, Option<f64>)> = HashMap::new();
    let mut files = vec![name.to_string()];
    let mut sets: Vec<Map<String, Value>> = Vec::new();
    let mut common = Map::new();
    let mut ignore_block = false;
    let mut i = 0;
    while i < files.len() {
        let path = upstream().join("logs").join(&files[i]);
        i += 1;
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let mut lines = text.lines().enumerate();
        while let Some((lnnum, line)) = lines.next() {
            let mut faildata = Map::new();
            let mut line = line;
            let mut lnnum = lnnum;
            if let Some((kind, json)) = directive(line) {
                let v: Value = serde_json::from_str(json).unwrap_or(Value::Null);
                match kind {
                    "fileOptions" => {
                        common = v.as_object().cloned().unwrap_or_default();
                        continue;
                    }
                    "filterOptions" => {
                        sets.clear();
                        ignore_block = false;
                        let entries = match v {
                            Value::Array(a) => a,
                            other => vec![other],
                        };
                        for e in entries {
                            let mut opts = common.clone();
                            opts.extend(e.as_object().cloned().unwrap_or_default());
                            if let Some(c) = opts.get("test.condition").and_then(Value::as_str) {
                                ignore_block = !constraint_holds(c, name, &opts);
                            }
                            if !ignore_block {
                                sets.push(opts);
                            }
                        }
                        continue;
                    }
                    "addFILE" => {
                        if let Some(f) = v.as_str() {
                            files.push(f.to_string());
                        }
                        continue;
                    }
                    _ => {
                        faildata = v.as_object().cloned().unwrap_or_default();
                        match lines.next() {
                            Some((n, l)) => {
                                lnnum = n;
                                line = l;
                            }
                            None => break,
                        }
                    }
                }
            } else if ignore_block || line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if ignore_block {
                continue;
            }
            if sets.is_empty() {
                sets.push(Map::new());
            }
            let line = line.trim_end_matches(['\r', '\n']);
            for opts in &sets {
                if let Some(c) = faildata.get("constraint").and_then(Value::as_str) {
                    if !constraint_holds(c, name, opts) {
                        continue;
                    }
                }
                if opts.get("logtype").and_then(Value::as_str) == Some("journal") {
                    continue;
                }
                let flt_opts: Map<String, Value> = opts
                    .iter()
                    .filter(|(k, _)| !k.starts_with("test."))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let key = serde_json::to_string(&flt_opts).unwrap();
                let (dd, last_date) = detectors.entry(key).or_insert_with(|| {
                    let changes_pattern =
                        flt_opts.contains_key("logtype") || flt_opts.contains_key("logging");
                    let pattern = match golden.get(name) {
                        Some(p) if !changes_pattern => Some(p.clone()),
                        _ => ini
                            .get("Definition")
                            .and_then(|d| d.get("datepattern"))
                            .map(|v| resolve(&ini, &flt_opts, v, 0)),
                    };
                    let mut dd = DateDetector::new(pattern.as_deref())
                        .unwrap_or_else(|e| panic!("{name}: {e}"));
                    dd.set_local_timezone(TEST_TZ).unwrap();
                    // The reference run computed %ExY from its real clock (2026).
                    dd.set_reference_year(Some(2026));
                    (dd, None)
                });
                let hit = dd.find(line, NOW);
                // The filter's fallback (spec §2.2 step 2): an empty date, or
                // none, means the last date if it is recent, else (for an
                // empty date) now.
                let recent = last_date.filter(|d| *d > NOW - 60.0);
                let got = match &hit {
                    Some(h) if h.start == h.end => Some(recent.unwrap_or(NOW)),
                    Some(h) if h.time.is_some() => h.time,
                    _ => recent,
                };
                if hit.as_ref().is_some_and(|h| h.time.is_some()) {
                    *last_date = got;
                }
                let matched = faildata
                    .get("match")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let Some(t) = faildata.get("time").and_then(Value::as_str) else {
                    continue;
                };
                let want = expected_time(t);
                if !matched {
                    out.unchecked_total += 1;
                    out.unchecked_agree += usize::from(got == Some(want));
                    continue;
                }
                out.checked += 1;
                out.lines.insert((files[i - 1].clone(), lnnum));
                if got == Some(want) {
                    out.passed += 1;
                } else {
                    out.failures.push(format!(
                        "{}:{} [{}] want {t} ({want}) got {got:?} hit {hit:?} failure {:?}\n    {line}",
                        files[i - 1],
                        lnnum + 1,
                        serde_json::to_string(&flt_opts).unwrap(),
                        dd.last_failure(),
                    ));
                }
            }
        }
    }
}

#[test]
fn sample_log_times_match_annotations() {
    let golden = golden_datepatterns();
    let mut filters: Vec<(String, PathBuf)> = Vec::new();
    for (dir, only_zzz) in [("config/filter.d", false), ("test-config/filter.d", true)] {
        let dir = upstream().join(dir);
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".conf"))
                    .map(str::to_string)
            })
            .filter(|n| !n.ends_with("common") && (!only_zzz || n.starts_with("zzz-")))
            .collect();
        names.sort();
        filters.extend(names.into_iter().map(|n| (n, dir.clone())));
    }
    let mut out = Outcome {
        checked: 0,
        passed: 0,
        lines: Default::default(),
        unchecked_total: 0,
        unchecked_agree: 0,
        failures: Vec::new(),
    };
    for (name, dir) in &filters {
        run_filter(name, dir, &golden, &mut out);
    }
    eprintln!(
        "sample times: {} of {} match ({} distinct lines); on non-matching lines {} of {} agree",
        out.passed,
        out.checked,
        out.lines.len(),
        out.unchecked_agree,
        out.unchecked_total
    );
    for f in &out.failures {
        eprintln!("MISMATCH {f}");
    }
    assert!(
        out.checked > 700,
        "too few sample lines found: {}",
        out.checked
    );
    assert!(
        out.failures.is_empty(),
        "{} of {} sample times differ",
        out.failures.len(),
        out.checked
    );
}
