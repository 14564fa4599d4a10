//! The sample-log runner (`gaoler test-samples`) on upstream's corpus, on
//! gaoler's own shipped filters, and on deliberately wrong samples.

use std::path::{Path, PathBuf};

use gaoler_testkit::upstream;
use gaoler_tools::samples::{run, Report, RunOptions};

fn print_failures(r: &Report) {
    for c in r.failures().take(40) {
        eprintln!(
            "FAIL {}:{} [{}] {:?}\n  line: {}\n  expected: {}\n  got: {}",
            c.file.display(),
            c.line,
            c.config,
            c.problem,
            c.text,
            c.expected,
            c.got
        );
    }
}

/// Acceptance: every annotation of upstream's corpus passes, all filter
/// option variants included, and the `zzz-*` samples with upstream's test
/// filters.
#[test]
fn upstream_corpus_passes() {
    let opts = RunOptions {
        config: upstream().join("config"),
        filter_dirs: vec![upstream().join("test-config/filter.d")],
        require_all: false,
    };
    let r = run(&[upstream().join("logs")], &opts).expect("runner");
    let (p, f) = r.counts();
    eprintln!(
        "upstream corpus: {} files, {} configurations, {} annotated lines: {p} passed, {f} failed",
        r.files, r.configurations, r.annotations
    );
    print_failures(&r);
    assert_eq!(f, 0, "{f} sample checks failed");
    // 80 sample files with a filter (the shared copy has 82 files, two of
    // them only reached through addFILE or without filter)
    assert!(r.files >= 80, "only {} sample files ran", r.files);
    assert!(r.annotations > 1000, "only {} annotations", r.annotations);
    assert!(
        r.configurations > 100,
        "only {} configurations",
        r.configurations
    );
    // the zzz samples did run, with their own filters
    for name in ["zzz-generic-example", "zzz-sshd-obsolete-multiline"] {
        assert!(
            r.checks
                .iter()
                .any(|c| c.config.starts_with(name) && c.passed && c.line > 0),
            "{name} not exercised"
        );
    }
}

/// gaoler's own shipped filters and their samples (config/ of the repo).
#[test]
fn gaoler_config_samples_pass() {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../config"));
    if !root.join("samples").is_dir() {
        eprintln!("no config/samples yet; skipping");
        return;
    }
    let opts = RunOptions {
        config: root.clone(),
        filter_dirs: vec![],
        require_all: true,
    };
    let r = run(&[root.join("samples")], &opts).expect("runner");
    let (p, f) = r.counts();
    eprintln!("gaoler config: {} files: {p} passed, {f} failed", r.files);
    print_failures(&r);
    assert_eq!(f, 0);
    assert!(p > 0);
}

/// Acceptance of the shipped library: upstream's annotated samples pass
/// against *our* filters (with our own samples run along, see the runner's
/// docs), and every upstream sample file of a stock filter has a filter of
/// ours to run against.
#[test]
fn shipped_filters_pass_upstream_samples() {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../config"));
    let logs = upstream().join("logs");
    let stock = upstream().join("config/filter.d");
    let mut upstream_files: Vec<String> = std::fs::read_dir(&logs)
        .expect("upstream logs")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| stock.join(format!("{n}.conf")).is_file())
        .collect();
    upstream_files.sort();
    let covered: Vec<PathBuf> = upstream_files
        .iter()
        .filter(|n| root.join(format!("filter.d/{n}.conf")).is_file())
        .map(|n| logs.join(n))
        .collect();
    let missing: Vec<&String> = upstream_files
        .iter()
        .filter(|n| !root.join(format!("filter.d/{n}.conf")).is_file())
        .collect();
    eprintln!(
        "shipped filters: {} of {} upstream sample files covered{}",
        covered.len(),
        upstream_files.len(),
        if missing.is_empty() {
            String::new()
        } else {
            format!(" (no filter for: {missing:?})")
        }
    );
    let opts = RunOptions {
        config: root,
        filter_dirs: vec![],
        require_all: false,
    };
    let r = run(&covered, &opts).expect("runner");
    let (p, f) = r.counts();
    eprintln!(
        "shipped filters on upstream samples: {} files, {} configurations, {} annotated lines: {p} passed, {f} failed",
        r.files, r.configurations, r.annotations
    );
    print_failures(&r);
    assert_eq!(f, 0, "{f} checks failed");
    assert!(upstream_files.len() >= 78, "{upstream_files:?}");
    assert!(missing.is_empty(), "no shipped filter for {missing:?}");
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write sample");
    p
}

fn problems(r: &Report) -> Vec<(usize, String)> {
    r.failures()
        .map(|c| (c.line, c.problem.clone().unwrap_or_default()))
        .collect()
}

/// The runner must catch wrong expectations: wrong host, a missing match,
/// an unexpected match, a wrong time, a regex without samples.
#[test]
fn wrong_expectations_fail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sample = write(
        dir.path(),
        "sshd",
        concat!(
            "# failJSON: { \"time\": \"2005-08-14T11:59:59\", \"match\": true , \"host\": \"192.0.2.5\" }\n",
            "Aug 14 11:59:59 host sshd[1]: Failed password for root from 192.0.2.4 port 22 ssh2\n",
            "# failJSON: { \"time\": \"2005-08-14T11:59:59\", \"match\": true , \"host\": \"192.0.2.4\" }\n",
            "Aug 14 11:59:59 host sshd[2]: Server listening on 0.0.0.0 port 22.\n",
            "Aug 14 11:59:59 host sshd[3]: Failed password for root from 192.0.2.9 port 22 ssh2\n",
            "# failJSON: { \"time\": \"2005-08-14T11:59:58\", \"match\": true , \"host\": \"192.0.2.6\" }\n",
            "Aug 14 11:59:59 host sshd[4]: Failed password for root from 192.0.2.6 port 22 ssh2\n",
            "# failJSON: { \"time\": \"2005-08-14T11:59:59\", \"match\": true , \"host\": \"192.0.2.7\", \"user\": \"root\" }\n",
            "Aug 14 11:59:59 host sshd[5]: Failed password for root from 192.0.2.7 port 22 ssh2\n",
        ),
    );
    let opts = RunOptions {
        config: upstream().join("config"),
        filter_dirs: vec![],
        require_all: false,
    };
    let r = run(&[sample], &opts).expect("runner");
    let p = problems(&r);
    let at = |line: usize, what: &str| p.iter().any(|(l, m)| *l == line && m.contains(what));
    assert!(at(2, "host: expected \"192.0.2.5\""), "{p:#?}");
    assert!(at(4, "Line not matched when should have"), "{p:#?}");
    assert!(at(5, "Line matched when shouldn't have"), "{p:#?}");
    assert!(at(7, "time: expected 2005-08-14T11:59:58"), "{p:#?}");
    assert!(!p.iter().any(|(l, _)| *l == 9), "line 9 is right: {p:#?}");
    assert!(p
        .iter()
        .any(|(l, m)| *l == 0 && m.contains("Regex has no samples")));
    let (passed, failed) = r.counts();
    assert_eq!(passed, 1 + 1); // line 9 and the regex used by the samples
    assert!(failed >= 4 + 20);
}

/// filterOptions blocks, conditions, constraints, journal lines and a
/// filter from an extra directory, on a made-up filter.
#[test]
fn options_conditions_and_journal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fd = dir.path().join("filter.d");
    std::fs::create_dir_all(&fd).expect("mkdir");
    std::fs::write(
        fd.join("demo.conf"),
        concat!(
            "[Definition]\n",
            "mode = normal\n",
            "mode-normal = ^\\s*demo: bad login from <HOST>$\n",
            "mode-aggressive = ^\\s*demo: (?:bad login|probe) from <HOST>$\n",
            "failregex = <mode-<mode>>\n",
        ),
    )
    .expect("write filter");
    let samples = dir.path().join("samples");
    std::fs::create_dir_all(&samples).expect("mkdir");
    write(
        &samples,
        "demo",
        concat!(
            "# filterOptions: [{}, {\"mode\": \"aggressive\"}]\n",
            "# failJSON: { \"time\": \"2005-08-14T11:00:00\", \"match\": true , \"host\": \"192.0.2.1\" }\n",
            "2005-08-14 11:00:00 demo: bad login from 192.0.2.1\n",
            "# failJSON: { \"constraint\": \"opts.get('mode') == 'aggressive'\", \"time\": \"2005-08-14T11:00:01\", \"match\": true , \"host\": \"192.0.2.2\" }\n",
            "2005-08-14 11:00:01 demo: probe from 192.0.2.2\n",
            "# failJSON: { \"constraint\": \"opts.get('mode') != 'aggressive'\", \"match\": false }\n",
            "2005-08-14 11:00:01 demo: probe from 192.0.2.2\n",
            "# filterOptions: [{\"test.condition\": \"name == 'other'\"}]\n",
            "# failJSON: { \"match\": true , \"host\": \"never.checked\" }\n",
            "this block is skipped\n",
            "# filterOptions: [{\"logtype\": \"journal\", \"mode\": \"aggressive\"}]\n",
            "# failJSON: { \"time\": \"2005-08-14T12:00:00\", \"match\": true , \"host\": \"192.0.2.3\" }\n",
            "demo: probe from 192.0.2.3\n",
        ),
    );
    let opts = RunOptions {
        config: upstream().join("config"),
        filter_dirs: vec![fd.clone()],
        require_all: false,
    };
    let r = run(&[samples], &opts).expect("runner");
    print_failures(&r);
    let (p, f) = r.counts();
    assert_eq!(f, 0);
    // line 3 ×2 configurations, line 5 ×1, line 7 ×1, line 13 ×1, plus the
    // regex-coverage checks of the three configurations (1 regex each)
    assert_eq!(p, 2 + 1 + 1 + 1 + 3, "{:#?}", r.checks);
    assert!(!r.checks.iter().any(|c| c.line == 10));
}

/// An annotated host is compared as an address, and a shipped filter's own
/// samples (DIR/samples/NAME) run with a foreign sample file: a regex only
/// they sample is covered, and their own failures are reported.
#[test]
fn host_as_address_and_own_samples() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("cfg");
    std::fs::create_dir_all(cfg.join("filter.d")).expect("mkdir");
    std::fs::create_dir_all(cfg.join("samples")).expect("mkdir");
    std::fs::write(
        cfg.join("filter.d/demo.conf"),
        concat!(
            "[Definition]\n",
            "failregex = ^\\s*demo: bad login from <HOST>$\n",
            "            ^\\s*demo: probe from <HOST>$\n",
        ),
    )
    .expect("write filter");
    let foreign = dir.path().join("foreign");
    std::fs::create_dir_all(&foreign).expect("mkdir");
    let sample = write(
        &foreign,
        "demo",
        concat!(
            "# failJSON: { \"time\": \"2005-08-14T11:00:00\", \"match\": true , \"host\": \"2001:DB8::A\" }\n",
            "2005-08-14 11:00:00 demo: bad login from 2001:db8::a\n",
            "# failJSON: { \"time\": \"2005-08-14T11:00:01\", \"match\": true , \"host\": \"2001:db8::b\" }\n",
            "2005-08-14 11:00:01 demo: bad login from 2001:db8::c\n",
        ),
    );
    let opts = RunOptions {
        config: cfg.clone(),
        filter_dirs: vec![],
        require_all: false,
    };
    // Without own samples the second regex has none.
    let r = run(std::slice::from_ref(&sample), &opts).expect("runner");
    let p = problems(&r);
    assert!(!p.iter().any(|(l, _)| *l == 2), "{p:#?}");
    assert!(
        p.iter().any(|(l, m)| *l == 4 && m.contains("host")),
        "{p:#?}"
    );
    assert!(
        p.iter().any(|(_, m)| m.contains("Regex has no samples: 2")),
        "{p:#?}"
    );
    // With them, it is covered; their wrong line is reported.
    write(
        &cfg.join("samples"),
        "demo",
        concat!(
            "# failJSON: { \"time\": \"2005-08-14T11:00:02\", \"match\": true , \"host\": \"192.0.2.7\" }\n",
            "2005-08-14 11:00:02 demo: probe from 192.0.2.7\n",
            "2005-08-14 11:00:03 demo: probe from 192.0.2.8\n",
        ),
    );
    let r = run(&[sample], &opts).expect("runner");
    let p = problems(&r);
    assert_eq!(r.files, 2);
    assert!(
        !p.iter().any(|(_, m)| m.contains("Regex has no samples")),
        "{p:#?}"
    );
    assert!(
        r.failures()
            .any(|c| c.line == 3 && c.file.starts_with(cfg.join("samples"))),
        "{p:#?}"
    );
}
