//! Stock filters on arbitrary log lines.
//!
//! The filters are read at run time, through the configuration reader, from
//! gaoler's own `config/filter.d` and, when it is there, from upstream
//! fail2ban's tree (`$GAOLER_FUZZ_UPSTREAM`, default
//! `../../shared/fail2ban-upstream/config` next to this directory) — used
//! as test data, never copied. Each is compiled once per process; every
//! input runs on fresh copies ([`Filter::fork`]), so an input's result does
//! not depend on the inputs before it.
//!
//! Input: `SELECT FLAGS LINES`. SELECT picks the filter, FLAGS bit 0 builds
//! it with `usedns = raw` (host names become IDs) instead of `no`; bits 1-2
//! pick `now`. LINES are split on `\n` and fed in order.
//!
//! Checked, per line:
//! - no panic;
//! - the shortcuts change nothing: the filter as the server runs it (literal
//!   prefilter, lazy dates, candidate DFA) and with eager dates report the
//!   same failures as the reference path ([`Filter::disable_prefilters`]);
//! - a reported host comes from the log: a raw ID is a substring of the
//!   input, an address is what one of the captured values that are
//!   substrings of the input reads as (a capture may also span the place
//!   a date was cut out of its line, as in fail2ban, but an address made
//!   that way is reported), and every matched line is an input
//!   line (an undated one after the last date's text, as fail2ban has it).

#![no_main]

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use gaoler_config::filterparts::FilterParts;
use gaoler_filter::{Addr, DateHit, Failure, Family, Filter, FilterSpec, UseDns, Value};
use libfuzzer_sys::fuzz_target;

const TZ: &str = "CET-01CEST-02,M3.5.0,M10.5.0";
const NOWS: [f64; 4] = [1_124_013_600.0, 1_767_225_599.0, 1_000.0, 4_102_444_800.0];

/// gaoler's shipped filters (all of them).
const OWN: &[&str] = &[
    "sshd",
    "sshd[mode=aggressive]",
    "freeswitch",
    "asterisk",
    "dovecot",
    "nginx-http-auth",
    "postfix[mode=aggressive]",
    "recidive",
];

/// A spread of upstream's: big ones, prefregex + mlfid ones, multi-line
/// ones, custom datepatterns.
const UPSTREAM: &[&str] = &[
    "sshd[mode=aggressive]",
    "sshd[mode=ddos]",
    "postfix[mode=aggressive]",
    "dovecot",
    "courier-auth",
    "apache-auth",
    "apache-overflows",
    "nginx-limit-req",
    "named-refused",
    "exim",
    "pure-ftpd",
    "proftpd",
    "vsftpd",
    "monit",
    "roundcube-auth",
    "selinux-ssh",
    "mysqld-auth",
    "cyrus-imap",
    "haproxy-http-auth",
    "traefik-auth",
    "sendmail-reject",
    "sendmail-auth",
    "kerio",
    "3proxy",
    "nsd",
    "slapd",
    "openhab",
    "centreon",
    "guacamole",
    "mongodb-auth",
    "ejabberd-auth",
];

fn own_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config")
}

fn upstream_config() -> PathBuf {
    std::env::var_os("GAOLER_FUZZ_UPSTREAM")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("GAOLER_UPSTREAM").map(|p| PathBuf::from(p).join("config")))
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fail2ban-upstream/config")
        })
}

/// The list of (config dir, filter name) this process fuzzes.
fn catalogue() -> &'static Vec<(PathBuf, &'static str)> {
    static C: OnceLock<Vec<(PathBuf, &'static str)>> = OnceLock::new();
    C.get_or_init(|| {
        let mut v: Vec<_> = OWN.iter().map(|n| (own_config(), *n)).collect();
        let up = upstream_config();
        if up.join("filter.d").is_dir() {
            v.extend(UPSTREAM.iter().map(|n| (up.clone(), *n)));
        }
        v
    })
}

/// The filter part of the stream → a spec (what `gaoler regex` does).
fn spec_for(dir: &Path, name: &str, raw: bool) -> FilterSpec {
    let stream = gaoler_config::reader::read_filter_stream(dir, name, "jail", "auto")
        .unwrap_or_else(|e| panic!("stock filter {name} in {}: {e}", dir.display()));
    let mut spec = FilterSpec {
        usedns: if raw { UseDns::Raw } else { UseDns::No },
        check_all_regex: true,
        ..Default::default()
    };
    let p = FilterParts::from_stream(&stream);
    spec.prefregex = p.prefregex;
    spec.failregex = p.failregex;
    spec.ignoreregex = p.ignoreregex;
    spec.maxlines = p.maxlines.unwrap_or(1);
    spec.datepattern = p.datepattern;
    spec
}

fn build(spec: FilterSpec) -> Filter {
    let name = format!("{:?}", spec.failregex.first());
    let mut f = Filter::new(spec).unwrap_or_else(|e| panic!("filter {name}: {e}"));
    if let Some(d) = f.date_detector_mut() {
        d.set_local_timezone(TZ).expect("POSIX TZ");
        d.set_reference_year(Some(2026));
    }
    f
}

/// A compiled stock filter: masters that are only ever forked (lazy and
/// eager dates), or, for multi-line filters (which cannot fork), the spec
/// to build fresh ones from.
enum Master {
    Forkable { lazy: Filter, eager: Filter },
    MultiLine(FilterSpec),
}

type Masters = Vec<[Option<Master>; 2]>;

fn masters() -> &'static Mutex<Masters> {
    static M: OnceLock<Mutex<Masters>> = OnceLock::new();
    M.get_or_init(|| Mutex::new(catalogue().iter().map(|_| [None, None]).collect()))
}

fn master<'a>(slot: &'a mut Option<Master>, dir: &Path, name: &str, raw: bool) -> &'a mut Master {
    slot.get_or_insert_with(|| {
        let spec = spec_for(dir, name, raw);
        if spec.maxlines > 1 {
            return Master::MultiLine(spec);
        }
        Master::Forkable {
            lazy: build(spec.clone()),
            eager: build(FilterSpec {
                eager_dates: true,
                ..spec
            }),
        }
    })
}

/// Add `line` without its date to `seen`.
fn add_cut(seen: &mut String, line: &str, date: Option<&DateHit>) {
    if let Some(h) = date {
        seen.push_str(&line[..h.start]);
        seen.push_str(&line[h.end..]);
        seen.push('\n');
    }
}

/// Where a failure's ID can come from: a captured value that lies in the
/// input.
fn id_from_log(id: &Addr, f: &Failure, text: &str) -> bool {
    if let Addr::Raw(s) = id {
        return text.contains(s.as_str());
    }
    f.data.iter().any(|(_, v)| {
        let Value::Str(s) = v else { return false };
        if !text.contains(s.as_str()) {
            return false;
        }
        match id {
            Addr::Ip(_) => {
                Addr::parse(s) == *id
                    || Addr::parse_family(s, Family::Inet4) == *id
                    || Addr::parse_family(s, Family::Inet6) == *id
            }
            Addr::Net(_, p) => Addr::with_prefix(s, *p) == *id,
            Addr::Raw(_) => unreachable!(),
        }
    })
}

/// `seen`: the input and each line so far without its date (what the
/// regexes search, so what a capture may span); `text`: the input.
fn check_failures(
    name: &str,
    line: &str,
    failures: &[Failure],
    text: &str,
    seen: &str,
    lines: &[&str],
) {
    for f in failures {
        if let Some(t) = f.time {
            assert!(t.is_finite(), "{name}: time {t} on {line:?}");
        }
        for (k, v) in f.data.iter() {
            match v {
                Value::Str(s) => {
                    assert!(
                        seen.contains(s.as_str()),
                        "{name}: {k}={s:?} not in the input"
                    )
                }
                Value::Lines(ls) => {
                    // an undated line is reported after the last date's
                    // text, as fail2ban reports it
                    for l in ls {
                        assert!(
                            lines
                                .iter()
                                .any(|x| l.strip_suffix(x).is_some_and(|date| text.contains(date))),
                            "{name}: matched line {l:?} is not an input line"
                        );
                    }
                }
                _ => {}
            }
        }
        if let Some(id) = &f.id {
            assert!(
                id_from_log(id, f, text),
                "{name}: ID {id:?} does not come from the log (line {line:?}, data {:?})",
                f.data
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [select, flags, rest @ ..] = data else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let cat = catalogue();
    let i = usize::from(*select) % cat.len();
    let (dir, name) = &cat[i];
    let raw = flags & 1 != 0;
    let now = NOWS[usize::from(flags >> 1) & 3];
    let lines: Vec<&str> = text.split('\n').take(32).collect();

    let mut all = masters().lock().unwrap_or_else(|e| e.into_inner());
    match master(&mut all[i][usize::from(raw)], dir, name, raw) {
        Master::Forkable { lazy, eager } => {
            let mut lazy = lazy.fork().expect("single-line filter forks");
            let mut eager = eager.fork().expect("single-line filter forks");
            let mut reference = eager.fork().expect("single-line filter forks");
            reference.disable_prefilters();
            let mut seen = format!("{text}\n");
            for line in &lines {
                let out = reference.process_line_detailed(line, now);
                add_cut(&mut seen, line, out.date.as_ref());
                let want = out.failures;
                check_failures(name, line, &want, text, &seen, &lines);
                assert_eq!(
                    eager.process_line(line, now),
                    want,
                    "{name}: eager dates with shortcuts differ on {line:?}"
                );
                assert_eq!(
                    lazy.process_line(line, now),
                    want,
                    "{name}: lazy dates with shortcuts differ on {line:?}"
                );
            }
        }
        Master::MultiLine(spec) => {
            let mut f = build(spec.clone());
            let mut seen = format!("{text}\n");
            for line in &lines {
                let out = f.process_line_detailed(line, now);
                add_cut(&mut seen, line, out.date.as_ref());
                check_failures(name, line, &out.failures, text, &seen, &lines);
            }
        }
    }
});
