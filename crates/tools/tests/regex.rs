//! `gaoler regex` (fail2ban-regex): report shape, differential runs against
//! Debian's fail2ban-regex, hostile input.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use gaoler_testkit::upstream;
use gaoler_tools::regex_run;

fn shared() -> PathBuf {
    gaoler_testkit::shared()
}

fn config() -> String {
    upstream().join("config").display().to_string()
}

fn gaoler(args: &[&str]) -> String {
    let mut out: Vec<u8> = Vec::new();
    regex_run(args.iter().map(|s| s.to_string()), &mut out).expect("gaoler regex");
    String::from_utf8_lossy(&out).into_owned()
}

/// Debian's fail2ban-regex, when installed (`None` otherwise).
fn fail2ban_regex(args: &[&str]) -> Option<String> {
    let exe = Path::new("/usr/bin/fail2ban-regex");
    if !exe.exists() {
        return None;
    }
    let out = Command::new("/usr/bin/python3")
        .arg(exe)
        .args(args)
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn lines_summary(report: &str) -> String {
    report
        .lines()
        .find(|l| l.starts_with("Lines: "))
        .unwrap_or("")
        .to_string()
}

#[test]
fn report_shape_on_stock_sshd_sample() {
    let log = upstream().join("logs/sshd").display().to_string();
    let r = gaoler(&["-c", &config(), &log, "sshd"]);
    for want in [
        "\nRunning tests\n=============\n\n",
        "Use             jail : sshd\n",
        "Use         maxlines : 1\n",
        "Use      datepattern : {^LN-BEG} : Default Detectors\n",
        "\nResults\n=======\n",
        "\nPrefregex: 155 total\n",
        "\nFailregex: 111 total\n|-  #) [# of hits] regular expression\n|   1) [8] ^[aA]uthentication",
        "\nIgnoreregex: 0 total\n",
        "\nDate template hits:\n|- [# of hits] date format\n|  [151] {^LN-BEG}(?:DAY )?MON Day %k:Minute:Second(?:\\.Microseconds)?(?: ExYear)?\n",
        "\nLines: 155 lines, 43 ignored, 65 matched, 47 missed\n[processed in ",
        "Ignored line(s): too many to print.  Use --print-all-ignored to print all 43 lines\n",
    ] {
        assert!(r.contains(want), "missing {want:?} in\n{r}");
    }
}

#[test]
fn literal_line_and_regex() {
    let r = gaoler(&[
        "Aug 14 11:59:59 host sshd[1]: Failed password for root from 192.0.2.4 port 22 ssh2",
        r"Failed password for \S+ from <HOST>",
    ]);
    assert!(
        r.contains("Use   failregex line : Failed password for \\S+ from <HOST>\n"),
        "{r}"
    );
    assert!(
        r.contains(
            "Use      single line : Aug 14 11:59:59 host sshd[1]: Failed password for ...\n"
        ),
        "{r}"
    );
    assert!(
        r.contains("|   1) [1] Failed password for \\S+ from <HOST>\n"),
        "{r}"
    );
    assert!(
        r.contains("Lines: 1 lines, 0 ignored, 1 matched, 0 missed"),
        "{r}"
    );
    let j = gaoler(&[
        "--json",
        "Aug 14 11:59:59 host sshd[1]: Failed password for root from 192.0.2.4 port 22 ssh2",
        r"Failed password for <F-USER>\S+</F-USER> from <HOST>",
    ]);
    let v: serde_json::Value = serde_json::from_str(j.trim()).expect("one JSON object");
    assert_eq!(v["id"], "192.0.2.4");
    assert_eq!(v["line"], 1);
    assert_eq!(v["fields"]["user"], "root");
    assert!(v["time"].as_f64().is_some());
}

/// The summary numbers agree with Debian's fail2ban-regex on the stock
/// sample logs (filters given as files, as fail2ban 1.0.2 has no jail
/// lookup). Known differences between 1.0.2 and the 1.1 corpus/filters are
/// skipped: dovecot (gh-4196 fixed after 1.0.2).
#[test]
fn stock_samples_agree_with_fail2ban_regex() {
    if fail2ban_regex(&["-V"]).is_none() {
        eprintln!("fail2ban-regex not installed; skipping");
        return;
    }
    let mut names: Vec<String> = std::fs::read_dir(upstream().join("logs"))
        .expect("logs")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| {
            upstream()
                .join(format!("config/filter.d/{n}.conf"))
                .is_file()
        })
        .collect();
    names.sort();
    let mut compared = 0;
    let mut diffs = Vec::new();
    for n in &names {
        if n == "dovecot" {
            continue;
        }
        let log = upstream().join("logs").join(n).display().to_string();
        let flt = upstream()
            .join(format!("config/filter.d/{n}.conf"))
            .display()
            .to_string();
        let Some(py) = fail2ban_regex(&["-c", &config(), &log, &flt]) else {
            continue;
        };
        let rs = gaoler(&["-c", &config(), &log, &flt]);
        compared += 1;
        let (a, b) = (lines_summary(&py), lines_summary(&rs));
        if a != b || a.is_empty() {
            diffs.push(format!("{n}: fail2ban {a:?} gaoler {b:?}"));
        }
        let total = |s: &str| {
            s.lines()
                .find(|l| l.starts_with("Failregex: "))
                .map(str::to_string)
        };
        if total(&py) != total(&rs) {
            diffs.push(format!("{n}: {:?} vs {:?}", total(&py), total(&rs)));
        }
    }
    eprintln!("compared {compared} sample logs with fail2ban-regex");
    assert!(diffs.is_empty(), "{diffs:#?}");
    assert!(compared > 60);
}

fn genlog(kind: &str, lines: usize, path: &Path) {
    let script = shared().join("bench/genlog.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(kind)
        .arg(lines.to_string())
        .output()
        .expect("python3 genlog.py");
    assert!(out.status.success(), "genlog failed");
    std::fs::write(path, out.stdout).expect("write log");
}

/// (line text, host, time) of every failure, via `-o`.
fn failures(output: &str) -> BTreeSet<String> {
    output.lines().map(str::to_string).collect()
}

/// Same failures as Debian's fail2ban-regex on generated freeswitch and
/// sshd logs (20,000 lines each, stock filters).
#[test]
fn differential_generated_logs() {
    if fail2ban_regex(&["-V"]).is_none() {
        eprintln!("fail2ban-regex not installed; skipping");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for kind in ["freeswitch", "sshd"] {
        let log = dir.path().join(format!("{kind}.log"));
        genlog(kind, 20_000, &log);
        let log_s = log.display().to_string();
        let flt = upstream()
            .join(format!("config/filter.d/{kind}.conf"))
            .display()
            .to_string();
        let fmt = "<fid>\t<time>\t<msg>";
        let py =
            fail2ban_regex(&["-c", &config(), "-o", fmt, &log_s, &flt]).expect("fail2ban-regex");
        let rs = gaoler(&["-c", &config(), "-o", fmt, &log_s, &flt]);
        let (a, b) = (failures(&py), failures(&rs));
        assert!(
            a.len() > 500,
            "{kind}: fail2ban found only {} failures",
            a.len()
        );
        let only_py: Vec<_> = a.difference(&b).take(5).collect();
        let only_rs: Vec<_> = b.difference(&a).take(5).collect();
        assert!(
            only_py.is_empty() && only_rs.is_empty(),
            "{kind}: only fail2ban {only_py:#?}\nonly gaoler {only_rs:#?}"
        );
        // and the summary counts
        let py = fail2ban_regex(&["-c", &config(), &log_s, &flt]).expect("fail2ban-regex");
        let rs = gaoler(&["-c", &config(), &log_s, &flt]);
        assert_eq!(lines_summary(&py), lines_summary(&rs), "{kind}");
        let fast = gaoler(&["-c", &config(), "--fast", &log_s, &flt]);
        assert_eq!(lines_summary(&fast), lines_summary(&rs), "{kind} --fast");
        eprintln!("{kind}: {} failures agree; {}", a.len(), lines_summary(&rs));
    }
}

/// ReDoS lines (GHSA-33wh-ccjc-p397), a 1 MB line, invalid UTF-8 and NUL
/// bytes: processed in bounded time, no panic.
#[test]
fn hostile_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut data: Vec<u8> = Vec::new();
    let a = "a: ".repeat(20_000);
    data.extend_from_slice(
        format!("Aug 31 16:06:05 s166 dovecot: imap-login: Disconnected: {a}(reason: x) (tried to use disallowed test auth): user=<>, rip=192.0.2.111\n").as_bytes(),
    );
    data.extend_from_slice(
        format!("Aug 31 16:06:06 s166 dovecot: imap-login: Disconnected: {a}test no match\n")
            .as_bytes(),
    );
    let w = "a ".repeat(20_000);
    data.extend_from_slice(
        format!("[0FDC:000A-0B54] 01/01/2019 10:00:00 AM  smtp: {w}[192.0.2.3] authentication failure using internet password\n").as_bytes(),
    );
    data.extend_from_slice(
        format!("[0FDC:000A-0B54] 01/01/2019 10:00:00 AM  smtp: {w}[192.0.2.3] authentication failure using internet password x\n").as_bytes(),
    );
    // 1 MB line
    data.extend_from_slice(b"Aug 31 16:06:07 host sshd[1]: ");
    data.extend_from_slice(&vec![b'x'; 1 << 20]);
    data.push(b'\n');
    // invalid UTF-8 and NUL bytes
    data.extend_from_slice(b"Aug 31 16:06:08 host sshd[2]: Failed password for \xff\xfe\x00root from 192.0.2.9 port 22 ssh2\n");
    data.extend_from_slice(b"\x00\x00\x00\n\xc3\x28\xa0\xa1\n");
    data.extend_from_slice(
        b"Aug 31 16:06:09 host sshd[3]: Failed password for root from 192.0.2.10 port 22 ssh2\n",
    );
    let log = dir.path().join("hostile.log");
    std::fs::write(&log, &data).expect("write");
    let log_s = log.display().to_string();
    for flt in ["dovecot", "domino-smtp", "sshd"] {
        let f = upstream()
            .join(format!("config/filter.d/{flt}.conf"))
            .display()
            .to_string();
        let t0 = Instant::now();
        let r = gaoler(&["-c", &config(), &log_s, &f]);
        let el = t0.elapsed();
        assert!(el < Duration::from_secs(20), "{flt}: {el:?}");
        let s = lines_summary(&r);
        assert!(s.starts_with("Lines: 9 lines"), "{flt}: {s}");
        if flt == "sshd" {
            assert!(!s.contains(" 0 matched"), "{s}");
        }
        let t0 = Instant::now();
        let _ = gaoler(&["-c", &config(), "-o", "row", &log_s, &f]);
        assert!(t0.elapsed() < Duration::from_secs(20));
    }
}

/// A filter file outside any filter.d ("foreign file"), the jail lookup with
/// options, and `-o` templates.
#[test]
fn filter_sources_and_templates() {
    let dir = tempfile::tempdir().expect("tempdir");
    for f in ["sshd.conf", "common.conf"] {
        std::fs::copy(
            upstream().join("config/filter.d").join(f),
            dir.path().join(f),
        )
        .expect("copy");
    }
    let log = upstream().join("logs/sshd").display().to_string();
    let foreign = dir.path().join("sshd.conf").display().to_string();
    let r = gaoler(&["-c", &config(), &log, &foreign]);
    assert!(
        r.contains(&format!("Use      filter file : {foreign}\n")),
        "{r}"
    );
    assert!(
        r.contains("Lines: 155 lines, 43 ignored, 65 matched, 47 missed"),
        "{r}"
    );

    let r = gaoler(&["-c", &config(), &log, "sshd[mode=aggressive]"]);
    assert!(
        r.contains("Use             jail : sshd\nUse jail/flt options : {'mode': 'aggressive'}\n"),
        "{r}"
    );
    assert!(
        r.contains("Lines: 155 lines, 30 ignored, 109 matched, 16 missed"),
        "{r}"
    );

    let r = gaoler(&[
        "-c",
        &config(),
        "-o",
        "<ip> <F-USER> <time> <fid> <family> <msg>",
        &log,
        "sshd",
    ]);
    // the time depends on the current year (the sample has no year)
    let first: Vec<&str> = r.lines().next().unwrap_or("").splitn(6, ' ').collect();
    assert_eq!(first[..2], ["192.030.0.6", "myhlj1374"], "{r}");
    assert!(
        first[2].ends_with(".0") && first[2].parse::<f64>().is_ok(),
        "{r}"
    );
    assert_eq!(first[3..5], ["192.030.0.6", "None"], "{r}");
    assert!(
        first[5].starts_with("Jun 21 16:47:48 digital-mlhhyiqscv sshd[13709]: error: PAM:"),
        "{r}"
    );
    let r = gaoler(&["-c", &config(), "-o", "row", &log, "sshd"]);
    assert!(r.starts_with("['192.030.0.6',\t17"), "{r}");
    let pcre = gaoler(&["-c", &config(), "--print-pcre", &log, "sshd"]);
    assert!(pcre.starts_with("(?J)(?:"), "{pcre}");
}

/// Reading with threads gives the report of reading in order, also when
/// blocks are small and date formats change between and inside them (the
/// main thread then reads blocks again): every upstream sample log, then
/// generated sshd and freeswitch logs, in one file, through several
/// filters and output modes.
#[test]
fn threads_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut all: Vec<u8> = Vec::new();
    for p in gaoler_testkit::upstream_sample_logs() {
        all.extend(std::fs::read(p).expect("sample log"));
        all.push(b'\n');
    }
    for kind in ["sshd", "freeswitch"] {
        let log = dir.path().join(kind);
        genlog(kind, 3_000, &log);
        all.extend(std::fs::read(&log).expect("generated log"));
    }
    // a line without a newline at the end is not read either way
    all.extend_from_slice(b"Jan  1 00:00:00 host sshd[1]: Invalid user x from 192.0.2.1");
    let log = dir.path().join("all.log");
    std::fs::write(&log, &all).expect("write log");
    let log = log.display().to_string();
    let cfg = config();
    let strip = |r: String| -> String {
        r.lines()
            .filter(|l| !l.starts_with("[processed in "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut compared = 0;
    for filter in [
        "sshd",
        "freeswitch",
        "apache-auth",
        "postfix[mode=aggressive]",
    ] {
        for extra in [
            &[][..],
            &["--fast"],
            &["-v", "--print-all-matched", "--print-all-missed"],
            &["--json"],
            &["-o", "<fid>\t<time>\t<msg>"],
        ] {
            let run = |threads: &[&str]| {
                let mut args: Vec<&str> = vec!["-c", &cfg];
                args.extend_from_slice(threads);
                args.extend_from_slice(extra);
                args.extend_from_slice(&[&log, filter]);
                strip(gaoler(&args))
            };
            let one = run(&["-j", "1"]);
            // one worker, or two, beside the main thread (which examines
            // blocks itself while the next one is not back)
            let threads = if compared % 2 == 0 { "2" } else { "3" };
            let many = run(&["-j", threads, "--block-bytes", "4096"]);
            assert!(one.lines().count() > 5, "{filter} {extra:?}: {one}");
            if extra.first() == Some(&"--fast") {
                // one thread parses dates lazily with --fast: the line
                // counts agree, the date statistics need not
                assert_eq!(lines_summary(&one), lines_summary(&many), "{filter} --fast");
            } else {
                assert!(one == many, "{filter} {extra:?}: reports differ");
            }
            compared += 1;
        }
    }
    assert_eq!(compared, 20);
}

/// A fake `journalctl` in `dir` that records its arguments in `args` and
/// prints `entries` (exits 1 with a message when `fail` exists).
fn fake_journalctl(dir: &Path) -> PathBuf {
    gaoler_testkit::fake_journalctl(dir, None)
}

/// `systemd-journal` as LOG: entries come from journalctl's JSON, carry
/// their own time (no date detection), the filter reads with the journal
/// logtype and the filter's journalmatch (or `-m`); the lines sort into
/// matched/ignored/missed as the same lines read from a file do.
#[test]
fn journal_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let log = d.join("sshd.log");
    genlog("sshd", 3_000, &log);
    let text = std::fs::read_to_string(&log).expect("read log");
    // "Jan  1 00:00:00 host1 sshd[42]: message" → journal fields
    let base: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z
    let mut entries = String::new();
    for (i, line) in text.lines().enumerate() {
        let rest = &line[16..];
        let (host, rest) = rest.split_once(' ').expect("host");
        let (ident, msg) = rest.split_once(": ").expect("ident");
        let (name, pid) = match ident.split_once('[') {
            Some((n, p)) => (n, Some(p.trim_end_matches(']'))),
            None => (ident, None),
        };
        let mut e = serde_json::json!({
            "__CURSOR": format!("s=1;i={i}"),
            "__REALTIME_TIMESTAMP": ((base + i as u64) * 1_000_000).to_string(),
            "__MONOTONIC_TIMESTAMP": "1000000",
            "_HOSTNAME": host,
            "SYSLOG_IDENTIFIER": name,
            "MESSAGE": msg,
        });
        if let Some(p) = pid {
            e["_PID"] = serde_json::Value::from(p);
        }
        entries.push_str(&e.to_string());
        entries.push('\n');
    }
    std::fs::write(d.join("entries"), entries).expect("write entries");
    let exe = fake_journalctl(d);
    let exe_s = exe.display().to_string();
    let args_seen = || -> Vec<String> {
        std::fs::read_to_string(d.join("args"))
            .expect("args")
            .lines()
            .map(str::to_string)
            .collect()
    };
    let cfg = config();
    let journal = |extra: &[&str]| -> String {
        let mut a = vec!["--journalctl", &exe_s, "-c", &cfg];
        a.extend_from_slice(extra);
        // (a freshly written script may be "text file busy" for a moment
        // while another test thread forks)
        for _ in 0..50 {
            let mut out: Vec<u8> = Vec::new();
            match regex_run(a.iter().map(|s| s.to_string()), &mut out) {
                Ok(()) => return String::from_utf8_lossy(&out).into_owned(),
                Err(e) if format!("{e:#}").contains("Text file busy") => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => panic!("gaoler regex: {e:#}"),
            }
        }
        panic!("journalctl stayed busy")
    };

    let r = journal(&["systemd-journal", "sshd"]);
    assert!(r.contains("Use         systemd journal\n"), "{r}");
    // sshd.conf's journalmatch, printed and passed on word by word
    let shown = r
        .lines()
        .find_map(|l| l.strip_prefix("Use    journal match : "))
        .expect("journal match line");
    assert!(
        shown.starts_with("_SYSTEMD_UNIT=sshd.service + _COMM=sshd"),
        "{shown}"
    );
    let args = args_seen();
    assert!(!args.iter().any(|a| a == "--follow"), "{args:?}");
    assert!(args.iter().any(|a| a == "json"), "{args:?}");
    let words: Vec<&str> = shown.split(' ').collect();
    assert!(args.ends_with(&words.iter().map(|w| w.to_string()).collect::<Vec<_>>()));
    // no date detection: the date template list is empty
    assert!(r.contains("Date template hits:\n\nLines:"), "{r}");
    let from_file = gaoler(&["-c", &cfg, &log.display().to_string(), "sshd"]);
    let summary = lines_summary(&r);
    assert_eq!(summary, lines_summary(&from_file));
    assert!(
        summary.contains(" matched") && !summary.contains(" 0 matched"),
        "{summary}"
    );

    // every failure carries its entry's time and line number
    let json = journal(&["--json", "systemd-journal", "sshd"]);
    let mut n = 0;
    for l in json.lines() {
        let v: serde_json::Value = serde_json::from_str(l).expect("json line");
        let line = v["line"].as_u64().expect("line") - 1;
        assert_eq!(v["time"].as_f64(), Some((base + line) as f64), "{l}");
        n += 1;
    }
    assert!(n > 50, "{n} failures");

    // -m replaces the filter's matches; backend options become arguments
    journal(&[
        "-m",
        "_COMM=dropbear",
        "systemd-journal[journalpath=/srv/j]",
        "sshd",
    ]);
    let args = args_seen();
    assert!(args.contains(&"--directory=/srv/j".to_string()), "{args:?}");
    assert_eq!(args.last().map(String::as_str), Some("_COMM=dropbear"));
    assert!(!args.iter().any(|a| a.contains("sshd.service")), "{args:?}");

    // a journalctl that fails is an error with its message
    std::fs::write(d.join("fail"), "").expect("flag");
    let mut out: Vec<u8> = Vec::new();
    let err = regex_run(
        [
            "--journalctl",
            &exe_s,
            "-c",
            &cfg,
            "systemd-journal",
            "sshd",
        ]
        .iter()
        .map(|s| s.to_string()),
        &mut out,
    )
    .expect_err("failing journalctl");
    assert!(
        format!("{err:#}").contains("No journal files were found."),
        "{err:#}"
    );
}

/// `-D`: each printed line with each regex of its kind and a debuggex.com
/// link (tags resolved, the query form-encoded as Python's `urlencode`);
/// the same lines as Debian's fail2ban-regex prints, apart from the IPv6
/// tag, which changed upstream after Debian's 1.0.2.
#[test]
fn debuggex_links() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("d.log");
    std::fs::write(
        &log,
        "Jan  1 00:00:00 host1 sshd[1]: Failed password for root from 192.0.2.1 port 22 ssh2\n\
         Jan  1 00:00:01 host1 sshd[2]: Accepted publickey for x from 192.0.2.2 port 22 ssh2: a*b~c/d\n\
         Jan  1 00:00:02 host1 cron[3]: hello w\u{f6}rld & more\n",
    )
    .expect("write log");
    let log = log.display().to_string();
    let args = [
        "-D",
        "--print-all-matched",
        "--print-all-missed",
        "--print-all-ignored",
        &log,
        r"from <HOST> port \d+",
        "Accepted",
    ];
    let tail = |r: &str| -> String {
        r.lines()
            .skip_while(|l| !l.starts_with("Lines: "))
            .filter(|l| !l.starts_with("[processed in"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let rs = tail(&gaoler(&args));
    assert!(
        rs.contains(
            "|  Jan  1 00:00:02 host1 cron[3]: hello w\u{f6}rld & more | from <HOST> port \\d+ |  \
             https://www.debuggex.com/?re=from+%28%3F%3A%5C%5B%3F"
        ),
        "{rs}"
    );
    assert!(
        rs.contains("&str=Jan++1+00%3A00%3A02+host1+cron%5B3%5D%3A+hello+w%C3%B6rld+%26+more&flavor=python\n"),
        "{rs}"
    );
    assert!(
        rs.contains("| Accepted |  https://www.debuggex.com/?re=Accepted&str=Jan++1+00%3A00%3A01+host1+sshd%5B2%5D%3A+Accepted+publickey+for+x+from+192.0.2.2+port+22+ssh2%3A+a%2Ab~c%2Fd&flavor=python"),
        "{rs}"
    );
    if let Some(py) = fail2ban_regex(&args) {
        // Debian's `<IP6>` alternation still has `::` where upstream has `:`
        let py = tail(&py).replace(
            "%3A%3A%3F%7C%3A%3A%29%7B1%2C7%7D",
            "%3A%3A%3F%7C%3A%29%7B1%2C7%7D",
        );
        assert_eq!(rs, py);
    }
}
