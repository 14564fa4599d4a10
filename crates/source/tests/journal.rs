//! JournalSource process plumbing, with a fake `journalctl` script that
//! records its arguments and prints canned JSON entries.

use gaoler_source::{JournalLine, JournalOptions, JournalSource, JournalStart, SourceError};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now_usec() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

fn entry(cursor: &str, usec: u64, ident: &str, msg: &str) -> String {
    serde_json::json!({
        "__CURSOR": cursor,
        "__REALTIME_TIMESTAMP": usec.to_string(),
        "_HOSTNAME": "host",
        "SYSLOG_IDENTIFIER": ident,
        "_PID": "100",
        "MESSAGE": msg,
    })
    .to_string()
}

/// A fake journalctl in `dir` (see [`gaoler_testkit::fake_journalctl`]):
/// run N records its arguments in `args.N`, prints `entries.N`, and stays
/// alive from run `stay_from` on.
fn fake_journalctl(dir: &Path, stay_from: u32) -> PathBuf {
    gaoler_testkit::fake_journalctl(dir, Some(stay_from))
}

/// Spawns, retrying while the freshly written script is "text file busy"
/// (another test thread may be forking while our write descriptor exists).
fn spawn(opts: JournalOptions) -> JournalSource {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match JournalSource::spawn(opts.clone()) {
            Ok(s) => return s,
            Err(SourceError::Spawn { source, .. })
                if source.raw_os_error() == Some(libc_etxtbsy()) && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("spawn: {e}"),
        }
    }
}

fn libc_etxtbsy() -> i32 {
    26 // ETXTBSY on Linux
}

fn collect(src: &mut JournalSource, want: usize) -> Vec<JournalLine> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        got.extend(src.poll(Duration::from_millis(200)).unwrap());
    }
    got
}

fn args_of(dir: &Path, n: u32) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(s) = fs::read_to_string(dir.join(format!("args.{n}"))) {
            return s.lines().map(str::to_string).collect();
        }
        assert!(Instant::now() < deadline, "invocation {n} never happened");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn entries_are_formatted_filtered_and_tracked() {
    let dir = tempfile::tempdir().unwrap();
    let now = now_usec();
    let old = now - 3_600_000_000;
    let lines = [
        entry("c-old", old, "sshd", "too old"),
        "this is not json".to_string(),
        entry(
            "c1",
            now - 2_000_000,
            "sshd",
            "Failed password for root from 192.0.2.1",
        ),
        entry("c2", now - 1_000_000, "sshd", "multi\nline"),
    ];
    fs::write(dir.path().join("entries.1"), lines.join("\n") + "\n").unwrap();
    let mut opts = JournalOptions::new(JournalStart::AfterCursor("c0".into()));
    opts.journalctl = fake_journalctl(dir.path(), 1);
    opts.matches = vec![vec![
        "_SYSTEMD_UNIT=sshd.service".into(),
        "+".into(),
        "_COMM=sshd".into(),
    ]];
    opts.not_before = Some(SystemTime::now() - Duration::from_secs(600));
    let mut src = spawn(opts);
    let got = collect(&mut src, 2);
    let texts: Vec<&str> = got.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "host sshd[100]: Failed password for root from 192.0.2.1",
            "host sshd[100]: multi\\nline"
        ]
    );
    assert_eq!(src.position().unwrap().cursor, "c2");
    assert!((src.position().unwrap().time - (now - 1_000_000) as f64 / 1e6).abs() < 1e-3);
    let args = args_of(dir.path(), 1);
    assert!(args.contains(&"-o".to_string()) && args.contains(&"json".to_string()));
    assert!(args.contains(&"--after-cursor=c0".to_string()));
    assert_eq!(
        &args[args.len() - 3..],
        ["_SYSTEMD_UNIT=sshd.service", "+", "_COMM=sshd"]
    );
    // Nothing more: the poll times out and the backlog counts as read.
    assert!(src.poll(Duration::from_millis(200)).unwrap().is_empty());
    assert!(src.in_operation());
    src.stop();
}

#[test]
fn restarts_after_exit_from_last_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let now = now_usec();
    fs::write(
        dir.path().join("entries.1"),
        entry("k1", now, "a", "first run") + "\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("entries.2"),
        entry("k2", now + 1, "a", "second run") + "\n",
    )
    .unwrap();
    let mut opts = JournalOptions::new(JournalStart::Since(
        SystemTime::now() - Duration::from_secs(60),
    ));
    opts.journalctl = fake_journalctl(dir.path(), 2);
    opts.restart_delay = Duration::from_millis(100);
    let mut src = spawn(opts);
    let got = collect(&mut src, 2);
    let texts: Vec<&str> = got.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["host a[100]: first run", "host a[100]: second run"]);
    let first = args_of(dir.path(), 1);
    assert!(
        first.iter().any(|a| a.starts_with("--since=@")),
        "{first:?}"
    );
    let second = args_of(dir.path(), 2);
    assert!(
        second.contains(&"--after-cursor=k1".to_string()),
        "{second:?}"
    );
    assert_eq!(src.position().unwrap().cursor, "k2");
}

#[test]
fn missing_journalctl_is_a_spawn_error() {
    let mut opts = JournalOptions::new(JournalStart::AfterCursor("x".into()));
    opts.journalctl = PathBuf::from("/nonexistent/journalctl");
    match JournalSource::spawn(opts) {
        Err(SourceError::Spawn { .. }) => {}
        other => panic!("expected a spawn error, got {other:?}"),
    }
}

/// `JournalDump`: one `journalctl -o json` run without following; entries
/// in order, bad ones skipped, a last entry without newline kept, and a
/// failing `journalctl` reported with its stderr.
#[test]
fn dump_reads_once_and_reports_failure() {
    use gaoler_source::JournalDump;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let body = format!(
        "{}\nnot json\n\n{}",
        entry(
            "c1",
            1_700_000_000_000_000,
            "sshd",
            "Failed password for root"
        ),
        entry("c2", 1_700_000_001_500_000, "sshd", "two\nlines")
    );
    fs::write(d.join("entries"), body).unwrap();
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{0}/args'\ncat '{0}/entries'\n\
         if [ -e '{0}/fail' ]; then echo 'No journal files were found.' >&2; exit 1; fi\n",
        d.display()
    );
    let exe = d.join("journalctl");
    fs::write(&exe, script).unwrap();
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();
    let matches = vec![
        vec!["_SYSTEMD_UNIT=sshd.service".to_string()],
        vec!["_COMM=sshd".to_string()],
    ];
    let extra = vec!["--directory=/j".to_string()];
    let dump = || loop {
        match JournalDump::spawn(&exe, &matches, &extra, "UTF-8") {
            Err(SourceError::Spawn { source, .. })
                if source.raw_os_error() == Some(libc_etxtbsy()) =>
            {
                std::thread::sleep(Duration::from_millis(20))
            }
            r => break r.unwrap(),
        }
    };
    let got: Vec<JournalLine> = dump().map(Result::unwrap).collect();
    let texts: Vec<&str> = got.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "host sshd[100]: Failed password for root",
            "host sshd[100]: two\\nlines"
        ]
    );
    assert!((got[1].time - 1_700_000_001.5).abs() < 1e-6);
    let args = fs::read_to_string(d.join("args")).unwrap();
    let args: Vec<&str> = args.lines().collect();
    assert!(!args.contains(&"--follow"), "{args:?}");
    assert_eq!(
        &args[args.len() - 4..],
        [
            "--directory=/j",
            "_SYSTEMD_UNIT=sshd.service",
            "+",
            "_COMM=sshd"
        ]
    );

    fs::write(d.join("fail"), "").unwrap();
    let results: Vec<_> = dump().collect();
    assert_eq!(results.len(), 3, "two entries, then the failure");
    match results.last() {
        Some(Err(SourceError::JournalFailed { stderr, .. })) => {
            assert_eq!(stderr, "No journal files were found.")
        }
        other => panic!("{other:?}"),
    }
}
