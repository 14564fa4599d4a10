//! Throughput check: `filter_bench <jail> <logfile>` runs the golden-dump
//! expansion of a stock jail over a log file and prints lines/s and counts.
//! `--eager` parses every line's date (as fail2ban-regex's statistics need);
//! `--conf` reads `filter.d/<jail>.conf` with the filter's own defaults
//! instead (what `fail2ban-regex LOG filter.d/<jail>.conf` runs);
//! `--no-prefilter` turns every shortcut off (the reference path);
//! `--print-rg` prints the combined pattern for `rg -P -c` and exits.

use std::time::Instant;

use gaoler_filter::{Filter, FilterSpec, UseDns};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(jail), Some(path)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: filter_bench <jail> <logfile> [--eager]");
        std::process::exit(2);
    };
    let eager = args.iter().any(|a| a == "--eager");
    let print = args.iter().any(|a| a == "--print-matched");
    let upstream = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fail2ban-upstream"
    );
    let golden = if args.iter().any(|a| a == "--conf") {
        let stream = gaoler_config::reader::read_filter_stream(
            std::path::Path::new(&format!("{upstream}/config")),
            jail,
            jail,
            "auto",
        )?;
        stream
            .iter()
            .map(|c| serde_json::Value::Array(c.clone()).to_string())
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        std::fs::read_to_string(format!("{upstream}/golden/dump-all-jails.jsonl"))?
    };
    let mut spec = FilterSpec {
        check_all_regex: true,
        return_raw_host: true,
        eager_dates: eager,
        ..Default::default()
    };
    for l in golden.lines() {
        let a: serde_json::Value = serde_json::from_str(l)?;
        if a[1] != jail.as_str() {
            continue;
        }
        let strs = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .map(|x| {
                    x.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        // `set J key v` carries one value, `multi-set J key [v…]` a list
        let many = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => vec![s.clone()],
            other => strs(other),
        };
        match a[2].as_str().unwrap_or("") {
            "addfailregex" => spec.failregex.extend(many(&a[3])),
            "addignoreregex" => spec.ignoreregex.extend(many(&a[3])),
            "prefregex" => spec.prefregex = a[3].as_str().map(String::from),
            "datepattern" => spec.datepattern = a[3].as_str().map(String::from),
            "maxlines" => spec.maxlines = a[3].as_u64().unwrap_or(1) as usize,
            "usedns" => {
                spec.usedns = a[3]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(UseDns::Warn)
            }
            _ => {}
        }
    }
    let mut f = Filter::new(spec)?;
    if args.iter().any(|a| a == "--print-rg") {
        println!("{}", rg_pattern(&f));
        return Ok(());
    }
    if args.iter().any(|a| a == "--no-prefilter") {
        f.disable_prefilters();
    }
    if let Some(d) = f.date_detector_mut() {
        d.set_reference_year(Some(2026));
    }
    let text = std::fs::read_to_string(path)?;
    let now = 1124013600.0;
    let t0 = Instant::now();
    let (mut lines, mut matched, mut prefiltered) = (0usize, 0usize, 0usize);
    for line in text.lines() {
        lines += 1;
        let o = f.process_line_detailed(line, now);
        if o.prefiltered {
            prefiltered += 1;
        }
        if o.failures.iter().any(|x| x.is_real()) {
            matched += 1;
            if print {
                println!("{line}");
            }
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    println!(
        "{jail}: {lines} lines, {matched} matched, {prefiltered} prefiltered, {dt:.3} s, {:.0} lines/s (prefilter {})",
        lines as f64 / dt,
        f.has_prefilter()
    );
    Ok(())
}

/// The filter as one PCRE2 pattern for `rg -P -c`: the prefregex with its
/// content group replaced by the alternation of the failregexes (their `^`
/// then means "where the content starts"), duplicate group names allowed.
fn rg_pattern(f: &Filter) -> String {
    let alts: Vec<String> = f
        .failregex_texts()
        .iter()
        .map(|r| match r.strip_prefix('^') {
            Some(rest) => rest.to_string(),
            None => format!(".*?{r}"),
        })
        .collect();
    let body = format!("(?:{})", alts.join("|"));
    let combined = match f.prefregex_text() {
        Some(p) if p.contains("(?P<content>.+)") => p.replace("(?P<content>.+)", &body),
        _ => body,
    };
    format!("(?J){combined}")
}
