//! FileSource against real files in temporary directories, for both
//! backends. Waits are bounded loops ("poll until the lines are there or a few
//! seconds passed"), never fixed sleeps, except the short quiet period used to
//! prove that no extra line shows up.

use gaoler_source::{Backend, FileSource, LogLine, Position, SourceOptions, StartAt};
use std::fs::{self, File, OpenOptions};
use std::io::{Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn opts(backend: Backend) -> SourceOptions {
    SourceOptions {
        backend,
        poll_min: Duration::from_millis(10),
        poll_max: Duration::from_millis(50),
        rescan_interval: Duration::from_millis(200),
        hash_check_interval: Duration::from_millis(200),
        drain_grace: Duration::from_secs(2),
        ..SourceOptions::default()
    }
}

fn source(backend: Backend) -> FileSource {
    FileSource::new(opts(backend)).expect("source")
}

fn append(path: &Path, data: &[u8]) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append");
    f.write_all(data).expect("append");
}

/// Polls until `want` lines arrived (or 5 s passed).
fn collect(src: &mut FileSource, want: usize) -> Vec<LogLine> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        got.extend(src.poll(Duration::from_millis(100)).expect("poll"));
    }
    got
}

/// Polls for a quiet period (longer than the drain grace) and returns
/// whatever showed up: used to prove nothing is delivered twice.
fn settle(src: &mut FileSource) -> Vec<LogLine> {
    let end = Instant::now() + Duration::from_millis(500);
    let mut got = Vec::new();
    while Instant::now() < end {
        got.extend(src.poll(Duration::from_millis(50)).expect("poll"));
    }
    got
}

fn texts(lines: &[LogLine]) -> Vec<&str> {
    lines.iter().map(|l| l.text.as_str()).collect()
}

fn sorted(mut v: Vec<&str>) -> Vec<&str> {
    v.sort_unstable();
    v
}

fn log_in(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

// ---------------------------------------------------------------- scenarios

fn append_and_read(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let log = log_in(&dir, "auth.log");
    append(&log, b"old line 1\nold line 2\n");
    let mut src = source(b);
    src.add_path(path_str(&log), StartAt::Tail, &[]).unwrap();
    assert!(settle(&mut src).is_empty(), "tail must skip existing lines");
    append(&log, b"new 1\nnew 2\n");
    let got = collect(&mut src, 2);
    assert_eq!(texts(&got), ["new 1", "new 2"]);
    assert!(got.iter().all(|l| !l.catching_up), "tail: lines are live");
    assert_eq!(got[1].end_pos, fs::metadata(&log).unwrap().len());
    assert!(!got[0].rotated);
    append(&log, b"new 3\n");
    assert_eq!(texts(&collect(&mut src, 1)), ["new 3"]);
    assert!(settle(&mut src).is_empty());
    let pos = src.positions();
    assert_eq!(pos.len(), 1);
    assert_eq!(pos[0].pos, fs::metadata(&log).unwrap().len());
    assert_eq!(
        pos[0].first_line_hash,
        gaoler_source::first_line_hash(b"old line 1\n")
    );
}

fn partial_line_completion(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let log = log_in(&dir, "a.log");
    append(&log, b"");
    let mut src = source(b);
    src.add_path(path_str(&log), StartAt::Tail, &[]).unwrap();
    append(&log, b"first\nhalf a ");
    assert_eq!(texts(&collect(&mut src, 1)), ["first"]);
    assert!(
        settle(&mut src).is_empty(),
        "an incomplete line must be held back"
    );
    // The stored position excludes the incomplete line.
    assert_eq!(src.positions()[0].pos, 6);
    append(&log, b"line\r\n");
    assert_eq!(texts(&collect(&mut src, 1)), ["half a line"]);
}

fn tail_starts_at_unterminated_last_line(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let log = log_in(&dir, "a.log");
    append(&log, b"done\nbeing writ");
    let mut src = source(b);
    src.add_path(path_str(&log), StartAt::Tail, &[]).unwrap();
    append(&log, b"ten\n");
    assert_eq!(texts(&collect(&mut src, 1)), ["being written"]);
}

fn rename_create_rotation_with_late_writes(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let log = log_in(&dir, "syslog");
    let old = log_in(&dir, "syslog.1");
    append(&log, b"");
    let mut src = source(b);
    src.add_path(path_str(&log), StartAt::Tail, &[]).unwrap();
    append(&log, b"before 1\nbefore 2\n");
    assert_eq!(texts(&collect(&mut src, 2)), ["before 1", "before 2"]);

    // logrotate: rename, create, and the daemon keeps writing to the old
    // file until it is told to reopen.
    append(&log, b"unread before rename\n");
    fs::rename(&log, &old).unwrap();
    append(&log, b"new 1\n");
    append(&old, b"late to old\n");
    let got = collect(&mut src, 3);
    assert_eq!(
        sorted(texts(&got)),
        ["late to old", "new 1", "unread before rename"]
    );
    let late = got.iter().find(|l| l.text == "late to old").unwrap();
    assert!(late.rotated);
    let unread = got
        .iter()
        .position(|l| l.text == "unread before rename")
        .unwrap();
    let new1 = got.iter().position(|l| l.text == "new 1").unwrap();
    assert!(
        unread < new1,
        "old file's lines come first: {:?}",
        texts(&got)
    );

    // Late writes keep arriving while the old file is drained.
    append(&old, b"later to old\n");
    append(&log, b"new 2\n");
    let got = collect(&mut src, 2);
    assert_eq!(sorted(texts(&got)), ["later to old", "new 2"]);
    assert!(settle(&mut src).is_empty(), "no line twice");
    // The position now refers to the new file.
    let pos = src.positions();
    assert_eq!(
        pos[0].first_line_hash,
        gaoler_source::first_line_hash(b"new 1\n")
    );
    assert_eq!(pos[0].pos, 12);
}

fn rotated_partial_line_delivered_when_drained(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let log = log_in(&dir, "p.log");
    append(&log, b"");
    let mut o = opts(b);
    o.drain_grace = Duration::from_millis(300);
    let mut src = FileSource::new(o).unwrap();
    src.add_path(path_str(&log), StartAt::Tail, &[]).unwrap();
    append(&log, b"whole\nno newline ever");
    assert_eq!(texts(&collect(&mut src, 1)), ["whole"]);
    fs::rename(&log, log_in(&dir, "p.log.1")).unwrap();
    append(&log, b"next\n");
    let got = collect(&mut src, 2);
    assert_eq!(sorted(texts(&got)), ["next", "no newline ever"]);
    assert!(settle(&mut src).is_empty());
}

fn copytruncate(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let log = log_in(&dir, "app.log");
    append(&log, b"");
    let mut src = source(b);
    src.add_path(path_str(&log), StartAt::Tail, &[]).unwrap();
    append(
        &log,
        b"a fairly long line number one\na fairly long line number two\n",
    );
    assert_eq!(collect(&mut src, 2).len(), 2);
    fs::copy(&log, log_in(&dir, "app.log.1")).unwrap();
    File::options()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&log, b"after truncate\n");
    assert_eq!(texts(&collect(&mut src, 1)), ["after truncate"]);
    assert!(settle(&mut src).is_empty());
}

fn truncate_and_regrow_past_position(b: Backend) {
    // Truncated and refilled beyond the old position before we look: only
    // the first-line hash can tell.
    let dir = tempfile::tempdir().unwrap();
    let log = log_in(&dir, "app.log");
    append(&log, b"");
    let mut src = source(b);
    src.add_path(path_str(&log), StartAt::Tail, &[]).unwrap();
    append(&log, b"short 1\n");
    assert_eq!(texts(&collect(&mut src, 1)), ["short 1"]);
    let mut f = File::options().write(true).open(&log).unwrap();
    f.set_len(0).unwrap();
    f.write_all(b"replaced first line\nreplaced second line\n")
        .unwrap();
    drop(f);
    let got = collect(&mut src, 2);
    assert_eq!(texts(&got), ["replaced first line", "replaced second line"]);
    assert!(settle(&mut src).is_empty());
}

fn copytruncate_hole_from_non_append_writer(b: Backend) {
    // A writer without O_APPEND continues at its old offset after the
    // truncation, leaving a hole of NULs before its next line.
    let dir = tempfile::tempdir().unwrap();
    let log = log_in(&dir, "app.log");
    let mut writer = File::create(&log).unwrap();
    let mut src = source(b);
    src.add_path(path_str(&log), StartAt::Tail, &[]).unwrap();
    writer
        .write_all(b"line one is here\nline two is here\n")
        .unwrap();
    assert_eq!(collect(&mut src, 2).len(), 2);
    File::options()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    // Let the source see the truncation first (size 0 < position).
    assert!(settle(&mut src).is_empty());
    writer.write_all(b"after hole\n").unwrap();
    assert_eq!(writer.stream_position().unwrap(), 45);
    let got = collect(&mut src, 1);
    assert_eq!(texts(&got), ["after hole"]);
    assert!(settle(&mut src).is_empty());
}

fn delete_and_recreate(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let log = log_in(&dir, "d.log");
    append(&log, b"");
    let mut src = source(b);
    src.add_path(path_str(&log), StartAt::Tail, &[]).unwrap();
    append(&log, b"one\n");
    assert_eq!(texts(&collect(&mut src, 1)), ["one"]);
    append(&log, b"two\n");
    fs::remove_file(&log).unwrap();
    // Seen missing for a while before it comes back.
    let got = settle(&mut src);
    assert_eq!(
        texts(&got),
        ["two"],
        "the deleted file's last line is still read"
    );
    append(&log, b"three\n");
    assert_eq!(texts(&collect(&mut src, 1)), ["three"]);
    assert!(settle(&mut src).is_empty());
}

fn missing_file_created_later(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let log = log_in(&dir, "later.log");
    let mut src = source(b);
    let added = src.add_path(path_str(&log), StartAt::Tail, &[]).unwrap();
    assert_eq!(added, std::slice::from_ref(&log));
    assert!(settle(&mut src).is_empty());
    // Written in one go before we notice: all of it is new, read from 0.
    append(&log, b"l1\nl2\n");
    assert_eq!(texts(&collect(&mut src, 2)), ["l1", "l2"]);
}

fn glob_picks_up_new_file(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let a = log_in(&dir, "a.log");
    append(&a, b"a old\n");
    let pattern = format!("{}/*.log", path_str(dir.path()));
    let mut src = source(b);
    let added = src.add_path(&pattern, StartAt::Tail, &[]).unwrap();
    assert_eq!(added, std::slice::from_ref(&a));
    let c = log_in(&dir, "c.log");
    append(&c, b"c 1\nc 2\n");
    append(&log_in(&dir, "c.txt"), b"not matched\n");
    let got = collect(&mut src, 2);
    assert_eq!(texts(&got), ["c 1", "c 2"]);
    assert_eq!(&*got[0].path, c.as_path());
    append(&a, b"a new\n");
    assert_eq!(texts(&collect(&mut src, 1)), ["a new"]);
    assert!(settle(&mut src).is_empty());
    assert_eq!(src.paths().len(), 2);
    assert!(src.remove_path(&pattern));
    assert!(src.paths().is_empty());
}

fn glob_follows_rename_into_match(b: Backend) {
    // Glob `x.log*` matches the rotated name too: the renamed file must be
    // continued, not read again from 0.
    let dir = tempfile::tempdir().unwrap();
    let log = log_in(&dir, "x.log");
    let rotated = log_in(&dir, "x.log.1");
    append(&log, b"");
    let pattern = format!("{}/x.log*", path_str(dir.path()));
    let mut src = source(b);
    src.add_path(&pattern, StartAt::Tail, &[]).unwrap();
    append(&log, b"one\ntwo\n");
    assert_eq!(collect(&mut src, 2).len(), 2);
    fs::rename(&log, &rotated).unwrap();
    append(&log, b"fresh\n");
    append(&rotated, b"late\n");
    let got = collect(&mut src, 2);
    assert_eq!(sorted(texts(&got)), ["fresh", "late"]);
    assert!(
        settle(&mut src).is_empty(),
        "nothing re-read from the renamed file"
    );
    append(&rotated, b"later\n");
    let got = collect(&mut src, 1);
    assert_eq!(texts(&got), ["later"]);
    assert!(settle(&mut src).is_empty());
}

fn glob_logrotate_shift(b: Backend) {
    // Both `x.log` and `x.log.1` are tracked; logrotate shifts
    // x.log.1 -> x.log.2, x.log -> x.log.1 and creates x.log. Each path then
    // names a file another path was reading: nothing may be read twice.
    let dir = tempfile::tempdir().unwrap();
    let log = log_in(&dir, "x.log");
    let one = log_in(&dir, "x.log.1");
    let two = log_in(&dir, "x.log.2");
    append(&one, b"ancient\n");
    append(&log, b"current\n");
    let pattern = format!("{}/x.log*", path_str(dir.path()));
    let mut src = source(b);
    assert_eq!(src.add_path(&pattern, StartAt::Head, &[]).unwrap().len(), 2);
    assert_eq!(sorted(texts(&collect(&mut src, 2))), ["ancient", "current"]);
    fs::rename(&one, &two).unwrap();
    fs::rename(&log, &one).unwrap();
    append(&log, b"fresh\n");
    append(&one, b"late\n");
    let got = collect(&mut src, 2);
    assert_eq!(sorted(texts(&got)), ["fresh", "late"]);
    assert!(
        settle(&mut src).is_empty(),
        "nothing re-read after the shift"
    );
    append(&one, b"later\n");
    append(&two, b"very late\n");
    assert_eq!(sorted(texts(&collect(&mut src, 2))), ["later", "very late"]);
    assert!(settle(&mut src).is_empty());
}

fn symlinked_duplicate_is_read_once(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let log = log_in(&dir, "messages");
    let link = log_in(&dir, "syslog");
    append(&log, b"");
    std::os::unix::fs::symlink(&log, &link).unwrap();
    let mut src = source(b);
    src.add_path(path_str(&log), StartAt::Tail, &[]).unwrap();
    src.add_path(path_str(&link), StartAt::Tail, &[]).unwrap();
    append(&log, b"once\n");
    assert_eq!(texts(&collect(&mut src, 1)), ["once"]);
    assert!(settle(&mut src).is_empty());
}

fn resume_from_stored_position(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let log = log_in(&dir, "r.log");
    append(&log, b"first\nsecond\n");
    let positions: Vec<Position> = {
        let mut src = source(b);
        src.add_path(path_str(&log), StartAt::Head, &[]).unwrap();
        assert_eq!(texts(&collect(&mut src, 2)), ["first", "second"]);
        src.positions()
    };
    assert_eq!(positions[0].pos, 13);
    append(&log, b"third\n");
    let mut src = source(b);
    src.add_path(path_str(&log), StartAt::Head, &positions)
        .unwrap();
    assert_eq!(texts(&collect(&mut src, 1)), ["third"]);
    assert!(settle(&mut src).is_empty());
}

fn hash_mismatch_starts_from_zero(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let log = log_in(&dir, "r.log");
    append(&log, b"other first\nother second\n");
    let stored = [Position {
        path: log.clone(),
        first_line_hash: gaoler_source::first_line_hash(b"first\n"),
        pos: 13,
    }];
    let mut src = source(b);
    src.add_path(path_str(&log), StartAt::Head, &stored)
        .unwrap();
    assert_eq!(
        texts(&collect(&mut src, 2)),
        ["other first", "other second"]
    );
    assert!(settle(&mut src).is_empty());
}

fn tail_ignores_stored_position(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let log = log_in(&dir, "r.log");
    append(&log, b"first\nsecond\nthird\n");
    let stored = [Position {
        path: log.clone(),
        first_line_hash: gaoler_source::first_line_hash(b"first\n"),
        pos: 6,
    }];
    let mut src = source(b);
    src.add_path(path_str(&log), StartAt::Tail, &stored)
        .unwrap();
    assert!(settle(&mut src).is_empty());
}

fn head_seek_hook_skips_old_lines(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let log = log_in(&dir, "h.log");
    let mut content = String::new();
    for t in 0..100 {
        content.push_str(&format!("{t} msg\n"));
    }
    append(&log, content.as_bytes());
    let mut src = source(b);
    src.set_head_seek(Some(Box::new(|probe| {
        gaoler_source::seek_to_time(probe, 90.0, |l| l.split(' ').next()?.parse().ok()).ok()
    })));
    src.add_path(path_str(&log), StartAt::Head, &[]).unwrap();
    let got = collect(&mut src, 10);
    assert_eq!(got.len(), 10);
    assert_eq!(got[0].text, "90 msg");
    assert!(got.iter().all(|l| l.catching_up));
    assert!(settle(&mut src).is_empty());
    assert!(src.in_operation(&log));
    append(&log, b"100 msg\n");
    let got = collect(&mut src, 1);
    assert!(!got[0].catching_up, "after EOF the file is in operation");
}

fn huge_line_is_capped(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let log = log_in(&dir, "big.log");
    append(&log, b"");
    let mut o = opts(b);
    o.max_line_len = 1000;
    let mut src = FileSource::new(o).unwrap();
    src.add_path(path_str(&log), StartAt::Tail, &[]).unwrap();
    let mut big = vec![b'x'; 300_000];
    big.push(b'\n');
    // Written in pieces so that the cap applies across reads.
    for chunk in big.chunks(70_000) {
        append(&log, chunk);
    }
    append(&log, b"after\n");
    let got = collect(&mut src, 2);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].text.len(), 1000);
    assert_eq!(got[0].end_pos, 300_001);
    assert_eq!(got[1].text, "after");
}

fn invalid_utf8_and_nul_bytes(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let log = log_in(&dir, "bin.log");
    append(&log, b"");
    let mut src = source(b);
    src.add_path(path_str(&log), StartAt::Tail, &[]).unwrap();
    append(&log, b"bad \xff\xfe byte\nnul\0inside\nok\n");
    let got = collect(&mut src, 3);
    assert_eq!(
        texts(&got),
        ["bad \u{FFFD}\u{FFFD} byte", "nul\0inside", "ok"]
    );
}

fn latin1_encoding(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let log = log_in(&dir, "l1.log");
    append(&log, b"");
    let mut o = opts(b);
    o.encoding = "latin-1".into();
    let mut src = FileSource::new(o).unwrap();
    src.add_path(path_str(&log), StartAt::Tail, &[]).unwrap();
    append(&log, b"caf\xe9\n");
    assert_eq!(texts(&collect(&mut src, 1)), ["café"]);
}

fn batches_are_capped_and_ordered(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let log = log_in(&dir, "many.log");
    let mut content = String::new();
    for i in 0..5000 {
        content.push_str(&format!("line {i}\n"));
    }
    append(&log, content.as_bytes());
    let mut o = opts(b);
    o.max_batch = 700;
    let mut src = FileSource::new(o).unwrap();
    src.add_path(path_str(&log), StartAt::Head, &[]).unwrap();
    let mut all = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while all.len() < 5000 && Instant::now() < deadline {
        let batch = src.poll(Duration::from_millis(100)).unwrap();
        // A batch may overshoot by at most one read chunk of short lines.
        assert!(
            batch.len() <= 700 + 64 * 1024 / 10,
            "batch of {}",
            batch.len()
        );
        all.extend(batch);
    }
    assert_eq!(all.len(), 5000);
    for (i, l) in all.iter().enumerate() {
        assert_eq!(l.text, format!("line {i}"));
    }
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod inotify {
            $( #[test] fn $name() { super::$name(gaoler_source::Backend::Inotify) } )*
        }
        mod polling {
            $( #[test] fn $name() { super::$name(gaoler_source::Backend::Polling) } )*
        }
    };
}

both_backends!(
    append_and_read,
    partial_line_completion,
    tail_starts_at_unterminated_last_line,
    rename_create_rotation_with_late_writes,
    rotated_partial_line_delivered_when_drained,
    copytruncate,
    truncate_and_regrow_past_position,
    copytruncate_hole_from_non_append_writer,
    delete_and_recreate,
    missing_file_created_later,
    glob_picks_up_new_file,
    glob_follows_rename_into_match,
    glob_logrotate_shift,
    symlinked_duplicate_is_read_once,
    resume_from_stored_position,
    hash_mismatch_starts_from_zero,
    tail_ignores_stored_position,
    head_seek_hook_skips_old_lines,
    huge_line_is_capped,
    invalid_utf8_and_nul_bytes,
    latin1_encoding,
    batches_are_capped_and_ordered,
);

#[test]
fn backend_names() {
    assert_eq!(Backend::parse("auto").unwrap(), Backend::Inotify);
    assert_eq!(Backend::parse("pyinotify").unwrap(), Backend::Inotify);
    assert_eq!(Backend::parse("polling").unwrap(), Backend::Polling);
    assert!(Backend::parse("systemd").is_err());
    assert!(Backend::parse("gamin").is_err());
}

#[test]
fn first_line_hash_is_sha1_hex() {
    // sha1("abc") from FIPS 180-1.
    assert_eq!(
        gaoler_source::first_line_hash(b"abc"),
        "a9993e364706816aba3e25717850c26c9cd0d89d"
    );
}

/// Options where only inotify events can wake the source quickly.
fn event_only_opts() -> SourceOptions {
    SourceOptions {
        rescan_interval: Duration::from_secs(60),
        hash_check_interval: Duration::from_secs(60),
        drain_grace: Duration::from_secs(60),
        ..opts(Backend::Inotify)
    }
}

/// Runs `act` on another thread shortly after `poll` started blocking and
/// returns what one `poll(10 s)` gave and how long it took.
fn poll_during(
    src: &mut FileSource,
    act: impl FnOnce() + Send + 'static,
) -> (Vec<LogLine>, Duration) {
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        act();
    });
    let start = Instant::now();
    let mut got = Vec::new();
    // A spurious wake-up (e.g. the directory event of an earlier step) may
    // return an empty batch; keep polling within the same budget.
    while got.is_empty() && start.elapsed() < Duration::from_secs(10) {
        got = src.poll(Duration::from_secs(10)).unwrap();
    }
    t.join().unwrap();
    (got, start.elapsed())
}

#[test]
fn inotify_wakes_on_append() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_in(&dir, "ev.log");
    append(&log, b"");
    let mut src = FileSource::new(event_only_opts()).unwrap();
    src.add_path(path_str(&log), StartAt::Tail, &[]).unwrap();
    let l2 = log.clone();
    let (got, took) = poll_during(&mut src, move || append(&l2, b"woken\n"));
    assert_eq!(texts(&got), ["woken"]);
    assert!(
        took < Duration::from_secs(5),
        "took {took:?}: not woken by inotify"
    );
}

#[test]
fn inotify_wakes_on_new_glob_match_and_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let pattern = format!("{}/*.log", path_str(dir.path()));
    let mut src = FileSource::new(event_only_opts()).unwrap();
    src.add_path(&pattern, StartAt::Tail, &[]).unwrap();
    let n = log_in(&dir, "n.log");
    let n2 = n.clone();
    let (got, took) = poll_during(&mut src, move || append(&n2, b"new file\n"));
    assert_eq!(texts(&got), ["new file"]);
    assert!(took < Duration::from_secs(5), "took {took:?}");

    let old = log_in(&dir, "n.old");
    let (n3, old2) = (n.clone(), old.clone());
    let (got, took) = poll_during(&mut src, move || {
        fs::rename(&n3, &old2).unwrap();
        append(&n3, b"recreated\n");
    });
    assert_eq!(texts(&got), ["recreated"]);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    // A write to the renamed-away file still wakes us (its own watch).
    let old3 = old.clone();
    let (got, took) = poll_during(&mut src, move || append(&old3, b"late\n"));
    assert_eq!(texts(&got), ["late"]);
    assert!(got[0].rotated);
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

// ------------------------------------------------- non-regular files (FIFOs)

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path_str(path)).unwrap();
    // SAFETY: a valid NUL-terminated path.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(rc, 0, "mkfifo: {}", std::io::Error::last_os_error());
}

/// Runs `f` with the source on another thread and fails if it has not
/// returned within 5 s (a blocking `open` of a FIFO never returns; the
/// FIFO is then opened for writing to let the stuck thread go).
fn within_5s<T: Send + 'static>(
    fifo: &Path,
    src: FileSource,
    f: impl FnOnce(FileSource) -> (FileSource, T) + Send + 'static,
) -> (FileSource, T) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f(src));
    });
    match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(r) => r,
        Err(_) => {
            let _ = OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(fifo);
            panic!("the source blocked on the FIFO {}", fifo.display());
        }
    }
}

fn fifo_at_logpath(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let log = log_in(&dir, "pipe.log");
    mkfifo(&log);
    let pattern = path_str(&log).to_string();
    let (src, got) = within_5s(&log, source(b), move |mut src| {
        src.add_path(&pattern, StartAt::Head, &[])
            .expect("add_path");
        let got = settle(&mut src);
        (src, got)
    });
    assert!(got.is_empty());
    // Replaced by a regular file: read as usual.
    fs::remove_file(&log).unwrap();
    append(&log, b"regular now\n");
    let (src, got) = within_5s(&log, src, |mut src| {
        let got = collect(&mut src, 1);
        (src, got)
    });
    assert_eq!(texts(&got), ["regular now"]);
    // Rotated to a FIFO: the old file is drained, the FIFO never opened.
    fs::rename(&log, log_in(&dir, "pipe.log.1")).unwrap();
    mkfifo(&log);
    let (_src, got) = within_5s(&log, src, |mut src| {
        let got = settle(&mut src);
        (src, got)
    });
    assert!(got.is_empty(), "{:?}", texts(&got));
}

#[test]
fn fifo_at_logpath_is_not_opened_inotify() {
    fifo_at_logpath(Backend::Inotify);
}

#[test]
fn fifo_at_logpath_is_not_opened_polling() {
    fifo_at_logpath(Backend::Polling);
}
