//! Dump what the filter makes of every sample line of every stock jail (golden
//! expansion, check-all mode) as JSON lines `[jail, line, [[regex index, id,
//! time, user, #matches, nofail, users], ...]]`, for diffing against the
//! reference implementation driven the same way.
//!
//! `FIRST_MATCH=1`: server mode (stop at the first failregex).
//! `ALL_LOGS=<file>`: feed that file to every jail instead of its own sample.
use gaoler_filter::{Filter, FilterSpec, Value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let up = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fail2ban-upstream"
    );
    let golden = std::fs::read_to_string(format!("{up}/golden/dump-all-jails.jsonl"))?;
    let mut jails: std::collections::BTreeMap<String, FilterSpec> = Default::default();
    for l in golden.lines() {
        let a: serde_json::Value = serde_json::from_str(l)?;
        let (Some(j), Some(k)) = (a[1].as_str(), a[2].as_str()) else {
            continue;
        };
        let e = jails.entry(j.to_string()).or_insert_with(|| FilterSpec {
            check_all_regex: std::env::var_os("FIRST_MATCH").is_none(),
            return_raw_host: true,
            ..Default::default()
        });
        let strs = |v: &serde_json::Value| -> Vec<String> {
            match v {
                serde_json::Value::Array(x) => x
                    .iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect(),
                serde_json::Value::String(s) => vec![s.clone()],
                _ => vec![],
            }
        };
        match k {
            "addfailregex" => e.failregex.extend(strs(&a[3])),
            "addignoreregex" => e.ignoreregex.extend(strs(&a[3])),
            "prefregex" => e.prefregex = a[3].as_str().map(String::from),
            "datepattern" => e.datepattern = a[3].as_str().map(String::from),
            "maxlines" => e.maxlines = a[3].as_u64().unwrap_or(1) as usize,
            _ => {}
        }
    }
    for (name, spec) in jails {
        if spec.failregex.is_empty() {
            continue;
        }
        let path = std::env::var("ALL_LOGS").unwrap_or_else(|_| format!("{up}/logs/{name}"));
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        let mut f = Filter::new(spec)?;
        if let Some(d) = f.date_detector_mut() {
            d.set_local_timezone("CET-01CEST-02,M3.5.0,M10.5.0")?;
            d.set_reference_year(Some(2026));
        }
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let res: Vec<serde_json::Value> = f
                .process_line(line, 1124013600.0)
                .into_iter()
                .map(|x| {
                    let users: Vec<String> = match x.data.get("users") {
                        Some(Value::Set(s)) => s.iter().map(|x| x.to_string()).collect(),
                        _ => vec![],
                    };
                    serde_json::json!([
                        x.regex_index,
                        x.id.as_ref().map(|a| a.to_string()),
                        x.time,
                        x.get_str("user"),
                        x.matches().len(),
                        x.is_nofail(),
                        users
                    ])
                })
                .collect();
            println!("{}", serde_json::json!([name, line, res]));
        }
    }
    Ok(())
}
