//! Checking one sample line: the failures a filter found against its
//! `failJSON` (host as an address, users, time in the test's zone), and
//! the texts a failed check prints.

use super::*;

pub(super) fn json_text(v: &J) -> String {
    match v {
        J::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(super) fn eval_cond(
    expr: &str,
    name: &str,
    opts: &serde_json::Map<String, J>,
) -> Result<bool, String> {
    gaoler_py::cond::sample_condition(expr, name, opts)
}

pub(super) fn fail_check(file: &Path, line: usize, config: &str, problem: String) -> Check {
    Check {
        file: file.to_path_buf(),
        line,
        config: config.to_string(),
        text: String::new(),
        expected: String::new(),
        got: String::new(),
        passed: false,
        problem: Some(problem),
    }
}

/// A failure's value for a failJSON key, as JSON (lists sorted).
pub(super) fn got_value(f: &Failure, key: &str) -> J {
    match f.data.get(key) {
        Some(v) => value_json(v),
        None => match key {
            "host" => {
                f.id.as_ref()
                    .map(|a| J::String(a.to_string()))
                    .unwrap_or(J::Null)
            }
            "attempts" => J::from(f.matches().len()),
            _ => J::Null,
        },
    }
}

pub(super) fn value_json(v: &Value) -> J {
    let sorted = |mut v: Vec<String>| {
        v.sort();
        J::Array(v.into_iter().map(J::String).collect())
    };
    match v {
        Value::Str(s) => J::String(s.to_string()),
        Value::Int(i) => J::from(*i),
        Value::Addr(a) => J::String(a.to_string()),
        Value::Set(s) => sorted(s.iter().map(|x| x.to_string()).collect()),
        Value::Lines(l) => sorted(l.clone()),
        Value::Tuple(t) => J::Array(
            t.iter()
                .map(|x| x.clone().map(J::String).unwrap_or(J::Null))
                .collect(),
        ),
    }
}

pub(super) fn sort_json(v: &J) -> J {
    match v {
        J::Array(a) => {
            let mut items: Vec<J> = a.iter().map(sort_json).collect();
            items.sort_by_key(|x| x.to_string());
            J::Array(items)
        }
        other => other.clone(),
    }
}

/// An annotated host equals the found one as an address, as in upstream's
/// test: `2001:DB8::1` is `2001:db8::1`, `::ffff:192.0.2.1` is not
/// `192.0.2.1`.
pub(super) fn same_address(got: &J, want: &J) -> bool {
    let addr = |v: &J| v.as_str().and_then(|s| s.parse::<std::net::IpAddr>().ok());
    matches!((addr(got), addr(want)), (Some(a), Some(b)) if a == b)
}

pub(super) fn json_eq(got: &J, want: &J) -> bool {
    match (got, want) {
        (J::Array(_), J::Array(_)) => sort_json(got) == sort_json(want),
        (J::Number(a), J::Number(b)) => a.as_f64() == b.as_f64(),
        _ => got == want,
    }
}

pub(super) fn summarize(f: &Failure, regexes: &[String]) -> String {
    let mut m = serde_json::Map::new();
    m.insert(
        "host".into(),
        f.id.as_ref()
            .map(|a| J::String(a.to_string()))
            .unwrap_or(J::Null),
    );
    m.insert(
        "time".into(),
        f.time.map(|t| J::String(local_iso(t))).unwrap_or(J::Null),
    );
    for (k, v) in &f.data {
        if k == "matches" {
            m.insert("attempts".into(), J::from(f.matches().len()));
            continue;
        }
        m.insert(k.to_string(), value_json(v));
    }
    let re = regexes.get(f.regex_index).map(String::as_str).unwrap_or("");
    format!(
        "{} (failregex {}: {})",
        J::Object(m),
        f.regex_index + 1,
        shorten(re, 80)
    )
}

pub(super) fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let t: String = s.chars().take(n - 3).collect();
        format!("{t}...")
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn check_line(
    st: &mut TestState,
    idx: usize,
    cname: &str,
    opts: &serde_json::Map<String, J>,
    sample: &mut String,
    faildata: &serde_json::Map<String, J>,
    file: &Path,
    line_no: usize,
) -> Check {
    let expected = if faildata.is_empty() {
        r#"{"match": false}"#.to_string()
    } else {
        J::Object(faildata.clone()).to_string()
    };
    let mut check = Check {
        file: file.to_path_buf(),
        line: line_no,
        config: cname.to_string(),
        text: sample.clone(),
        expected,
        got: String::new(),
        passed: false,
        problem: None,
    };
    let (cfg, used_texts) = match st.filters.get_mut(idx) {
        Some((_, Ok(c))) => (c, &mut st.used_texts),
        Some((_, Err(e))) => {
            check.problem = Some(format!("filter configuration failed: {e}"));
            return check;
        }
        None => {
            check.problem = Some("internal: unknown configuration".into());
            return check;
        }
    };
    let journal = opts.get("logtype").and_then(J::as_str) == Some("journal");
    let outcome = if journal {
        if let Some(p) = opts.get("test.prefix-line").and_then(J::as_str) {
            if !p.is_empty() {
                // upstream prepends to its loop variable, so the prefix
                // stays for the following configurations too
                sample.insert_str(0, p);
                check.text.clone_from(sample);
            }
        }
        let tuple = TupleLine {
            prefix: String::new(),
            date: TEST_NOW_STR.to_string(),
            suffix: sample.clone(),
        };
        cfg.filter
            .process_line_with_date_detailed(tuple, TEST_NOW, TEST_NOW)
    } else {
        cfg.filter.process_line_detailed(sample, TEST_NOW)
    };
    let unevaluated = outcome
        .unevaluated
        .map(|r| format!(" (the line could not be evaluated: {r})"))
        .unwrap_or_default();
    let mut found: Vec<Failure> = Vec::new();
    for f in outcome.failures {
        if f.id.is_none() || f.is_nofail() {
            cfg.used.insert(f.regex_index);
            if let Some(r) = cfg.regexes.get(f.regex_index) {
                used_texts.insert(r.clone());
            }
            continue;
        }
        found.push(f);
    }
    let want_match = faildata
        .get("match")
        .map(|v| match v {
            J::Bool(b) => *b,
            J::Null => false,
            J::String(s) => !s.is_empty(),
            J::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
            _ => true,
        })
        .unwrap_or(false);
    check.got = if found.is_empty() {
        "no match".to_string()
    } else {
        found
            .iter()
            .map(|f| summarize(f, &cfg.regexes))
            .collect::<Vec<_>>()
            .join("; ")
    };
    if found.is_empty() {
        if want_match {
            check.problem = Some(format!("Line not matched when should have{unevaluated}"));
        } else {
            check.passed = true;
            check.got.clear();
        }
        return check;
    }
    if !want_match {
        check.problem = Some("Line matched when shouldn't have".into());
        return check;
    }
    if found.len() != 1 {
        let ids: Vec<String> = found
            .iter()
            .map(|f| (f.regex_index + 1).to_string())
            .collect();
        check.problem = Some(format!("Multiple regexs matched [{}]", ids.join(", ")));
        return check;
    }
    let f = &found[0];
    let mut problems = Vec::new();
    for (k, v) in faildata {
        if matches!(k.as_str(), "time" | "match" | "desc" | "constraint") {
            continue;
        }
        let got = got_value(f, k);
        if !(json_eq(&got, v) || k == "host" && same_address(&got, v)) {
            problems.push(format!("{k}: expected {v}, got {got}"));
        }
    }
    if let Some(t) = faildata.get("time").and_then(J::as_str) {
        match (local_to_unix(t), f.time) {
            (Some(want), Some(got)) if (want - got).abs() < 1e-6 => {}
            (want, got) => problems.push(format!(
                "time: expected {t} ({}), got {}",
                want.map(|w| w.to_string())
                    .unwrap_or_else(|| "unparsable".into()),
                got.map(|g| format!("{} ({g})", local_iso(g)))
                    .unwrap_or_else(|| "no time".into())
            )),
        }
    }
    cfg.used.insert(f.regex_index);
    if let Some(r) = cfg.regexes.get(f.regex_index) {
        used_texts.insert(r.clone());
    }
    if problems.is_empty() {
        check.passed = true;
    } else {
        check.problem = Some(problems.join("; "));
    }
    check
}

/// Upstream's `RE_WRONG_GREED`: a greedy `.*`/`.+` before `<HOST>` when the
/// regex is not hard-anchored at its end.
pub(super) fn wrong_greed(regex: &str) -> bool {
    static RE: std::sync::OnceLock<Option<gaoler_matcher::Regex>> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        let host = gaoler_filter::resolve_tags("<HOST>", UseDns::Yes);
        let pat = format!(
            r"\.[+\*](?!\?)[^\$\^]*{}.*(?:\.[+\*].*|[^\$])$",
            regex::escape(&host)
        );
        gaoler_matcher::Regex::new(&pat, gaoler_matcher::Options::default()).ok()
    })
    .as_ref()
    .is_some_and(|r| r.is_match(regex).unwrap_or(false))
}
