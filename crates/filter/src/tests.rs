//! Unit tests of the filter rules. A fake date finder keeps them independent
//! of the date detector: `@<seconds>` anywhere in a line is its date (`@`
//! alone an empty date match, `@?` a date text that does not convert).

use super::*;

struct FakeDates;

impl DateFinder for FakeDates {
    fn find(&mut self, line: &str, _now: f64) -> Option<DateHit> {
        let at = line.find('@')?;
        let digits = line[at + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        let end = at + 1 + digits;
        if line[at + 1..].starts_with('?') {
            // a date text that does not convert
            return Some(DateHit {
                start: at,
                end: at + 2,
                time: None,
                template: 0,
            });
        }
        if digits == 0 {
            // an empty date match (like `{NONE}` templates)
            return Some(DateHit {
                start: end,
                end,
                time: None,
                template: 0,
            });
        }
        let time = line[at + 1..end].parse::<f64>().ok();
        Some(DateHit {
            start: at,
            end,
            time,
            template: 0,
        })
    }
}

const NOW: f64 = 10_000.0;

fn spec(fail: &[&str]) -> FilterSpec {
    FilterSpec {
        failregex: fail.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn filter(s: FilterSpec) -> Filter {
    Filter::with_date_finder(s, Box::new(FakeDates)).expect("filter")
}

fn ids(v: &[Failure]) -> Vec<String> {
    v.iter()
        .map(|f| {
            f.id.as_ref()
                .map(|a| a.to_string())
                .unwrap_or_else(|| "<pending>".into())
        })
        .collect()
}

#[test]
fn basic_failure_and_trailing_newline_dollar() {
    let mut f = filter(spec(&[
        r"^ sshd: Failed for <F-USER>\S+</F-USER> from <HOST>$",
    ]));
    let r = f.process_line("@9990 sshd: Failed for bob from 192.0.2.1", NOW);
    assert_eq!(ids(&r), ["192.0.2.1"]);
    assert_eq!(r[0].time, Some(9990.0));
    assert_eq!(r[0].get_str("user"), Some("bob"));
    assert_eq!(r[0].get_str("ip4"), Some("192.0.2.1"));
    assert_eq!(
        r[0].matches(),
        ["@9990 sshd: Failed for bob from 192.0.2.1"]
    );
    assert_eq!(r[0].id.as_ref().and_then(Addr::family), Some(Family::Inet4));
    assert!(f
        .process_line("@9990 sshd: Failed for bob from 192.0.2.1 x", NOW)
        .is_empty());
}

#[test]
fn ipv6_mapped_and_bracketed() {
    let mut f = filter(spec(&[r"from <HOST>"]));
    assert_eq!(
        ids(&f.process_line("@1 from ::ffff:192.0.2.9", NOW)),
        ["192.0.2.9"]
    );
    assert_eq!(
        ids(&f.process_line("@1 from [2001:DB8::1]:22", NOW)),
        ["2001:db8::1"]
    );
}

#[test]
fn usedns_modes() {
    let line = "@1 from host.example.org";
    // `no`: <HOST> has no DNS alternative
    let mut f = filter(FilterSpec {
        usedns: UseDns::No,
        ..spec(&["from <HOST>$"])
    });
    assert!(f.process_line(line, NOW).is_empty());
    // raw: the name is the ID
    let mut f = filter(FilterSpec {
        usedns: UseDns::Raw,
        ..spec(&["from <HOST>$"])
    });
    let r = f.process_line(line, NOW);
    assert_eq!(r[0].id, Some(Addr::raw("host.example.org")));
    assert_eq!(r[0].get_str("dns"), Some("host.example.org"));
    // return_raw_host makes even an IP-looking dns capture raw text
    let mut f = filter(FilterSpec {
        return_raw_host: true,
        ..spec(&["from <DNS>$"])
    });
    assert_eq!(
        f.process_line("@1 from 10.0.0.1", NOW)[0].id,
        Some(Addr::raw("10.0.0.1"))
    );
    // warn/yes: a literal address in the dns group is taken as an IP
    let mut f = filter(spec(&["from <DNS>$"]));
    assert_eq!(
        f.process_line("@1 from 10.0.0.1", NOW)[0].id,
        Some(Addr::parse("10.0.0.1"))
    );
}

#[test]
fn regex_errors_carry_text() {
    assert!(matches!(
        Filter::with_date_finder(spec(&["  "]), Box::new(FakeDates)),
        Err(FilterError::EmptyRegex)
    ));
    match Filter::with_date_finder(spec(&["no id here"]), Box::new(FakeDates)) {
        Err(FilterError::NoFailureId { regex }) => assert_eq!(regex, "no id here"),
        other => panic!("{other:?}"),
    }
    match Filter::with_date_finder(spec(&["(<HOST>"]), Box::new(FakeDates)) {
        Err(e @ FilterError::Compile { .. }) => assert!(e.to_string().contains("(?P<ip4>")),
        other => panic!("{other:?}"),
    }
    // an id group in the prefregex satisfies the check
    let s = FilterSpec {
        prefregex: Some("from <HOST> <F-CONTENT>.+</F-CONTENT>$".into()),
        ..spec(&["^denied$"])
    };
    assert!(Filter::with_date_finder(s, Box::new(FakeDates)).is_ok());
}

#[test]
fn prefregex_content_replacement() {
    let s = FilterSpec {
        prefregex: Some(r"^ <F-MLFID>\w+\[\d+\]:</F-MLFID> <F-CONTENT>.+</F-CONTENT>$".into()),
        ..spec(&[
            r"^Failed from <ADDR>$",
            r"^bad user <F-USER>\w+</F-USER> from <ADDR>",
        ])
    };
    let mut f = filter(s);
    let r = f.process_line("@5 sshd[1]: Failed from 192.0.2.4", NOW);
    assert_eq!(ids(&r), ["192.0.2.4"]);
    assert_eq!(r[0].get_str("mlfid"), Some("sshd[1]:"));
    assert!(!r[0].data.contains_key("content"));
    // prefregex not matching: nothing, even if a failregex would match
    assert!(f.process_line("Failed from 192.0.2.4", NOW).is_empty());
}

#[test]
fn ignoreregex_late_and_early() {
    // late path: 1 ignore, 1 fail
    let mut f = filter(FilterSpec {
        ignoreregex: vec!["trusted".into()],
        ..spec(&["from <ADDR>"])
    });
    let o = f.process_line_detailed("@1 from 192.0.2.1 trusted", NOW);
    assert!(o.failures.is_empty());
    assert_eq!(o.ignored_by, [0]);
    assert_eq!(f.process_line("@1 from 192.0.2.1", NOW).len(), 1);
    // early path: 1 ignore < 4 fail - 2
    let mut f = filter(FilterSpec {
        ignoreregex: vec!["trusted".into()],
        ..spec(&["a <ADDR>", "b <ADDR>", "c <ADDR>", "from <ADDR>"])
    });
    let o = f.process_line_detailed("@1 from 192.0.2.1 trusted", NOW);
    assert!(o.failures.is_empty());
    assert_eq!(o.ignored_by, [0]);
}

#[test]
fn first_match_vs_check_all() {
    let regs = ["from <ADDR>", r"(?P<fid>\d+\.\d+\.\d+\.\d+)"];
    let mut f = filter(spec(&regs));
    let r = f.process_line("@1 from 192.0.2.1", NOW);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].regex_index, 0);
    let mut f = filter(FilterSpec {
        check_all_regex: true,
        ..spec(&regs)
    });
    let r = f.process_line("@1 from 192.0.2.1", NOW);
    assert_eq!(r.iter().map(|x| x.regex_index).collect::<Vec<_>>(), [0, 1]);
}

#[test]
fn alt_and_tuple_groups() {
    let mut f = filter(spec(&[
        r"user=(?:<F-USER>\w+</F-USER>|<F-ALT_USER>\w+</F-ALT_USER>!) <F-TUPLE_USER>\w+</F-TUPLE_USER> from <ADDR>",
    ]));
    let r = f.process_line("@1 user=bob! x from 192.0.2.1", NOW);
    assert_eq!(
        r[0].data.get("user"),
        Some(&Value::Tuple(vec![Some("bob".into()), Some("x".into())]))
    );
    let mut f = filter(spec(&[
        r"(?:u=<F-USER>\w*</F-USER> )?a=<F-ALT_USER_2>\w+</F-ALT_USER_2> from <ADDR>",
    ]));
    let r = f.process_line("@1 u= a=alice from 192.0.2.1", NOW);
    assert_eq!(r[0].get_str("user"), Some("alice"));
    let r = f.process_line("@1 u=carl a=alice from 192.0.2.1", NOW);
    assert_eq!(r[0].get_str("user"), Some("carl"));
}

#[test]
fn subnet_and_fid_ids() {
    let mut f = filter(spec(&["net <SUBNET>$"]));
    assert_eq!(
        ids(&f.process_line("@1 net 192.0.2.77/24", NOW)),
        ["192.0.2.0/24"]
    );
    assert_eq!(
        ids(&f.process_line("@1 net 192.0.2.77", NOW)),
        ["192.0.2.77"]
    );
    assert_eq!(
        ids(&f.process_line("@1 net 2001:db8::7/64", NOW)),
        ["2001:db8::/64"]
    );
    let mut f = filter(spec(&["session <F-ID>\\w+</F-ID> from <ADDR>"]));
    let r = f.process_line("@1 session abc from 192.0.2.5", NOW);
    assert_eq!(ids(&r), ["abc"]);
    assert_eq!(
        r[0].data.get("ip"),
        Some(&Value::Addr(Addr::parse("192.0.2.5")))
    );
    let mut f = filter(spec(&["token <F-ID/>"]));
    assert_eq!(ids(&f.process_line("@1 token 10.1.1.1", NOW)), ["10.1.1.1"]);
    assert!(f.process_line("@1 token 10.1.1.1", NOW)[0]
        .id
        .as_ref()
        .is_some_and(Addr::is_ip));
}

fn sshd_like() -> Filter {
    filter(FilterSpec {
        prefregex: Some(r"^ <F-MLFID>sshd\[\d+\]:</F-MLFID> <F-CONTENT>.+</F-CONTENT>$".into()),
        ..spec(&[
            r"^<F-NOFAIL>Connection</F-NOFAIL> from <HOST>$",
            r"^Invalid user <F-USER>\S+</F-USER>(?: from <HOST>)?$",
            r"^Failed <F-NOFAIL>publickey</F-NOFAIL> for <F-USER>\S+</F-USER> from <HOST>$",
            r"^Too many authentication failures$",
            r"^<F-MLFGAINED>Accepted \S+</F-MLFGAINED> for <F-USER>\S+</F-USER> from <HOST>$",
            r"^<F-MLFFORGET><F-NOFAIL>Disconnected</F-NOFAIL></F-MLFFORGET>$",
        ])
    })
}

#[test]
fn mlfid_inherits_host_from_nofail() {
    let mut f = sshd_like();
    // nofail line: cached, reported as nofail only
    let r = f.process_line("@1 sshd[7]: Failed publickey for bob from 192.0.2.8", NOW);
    assert!(r.iter().all(|x| !x.is_real()));
    // failure without an IP inherits host and user
    let r = f.process_line("@2 sshd[7]: Too many authentication failures", NOW);
    assert_eq!(ids(&r), ["192.0.2.8"]);
    assert!(r[0].is_real());
    assert_eq!(r[0].get_str("user"), Some("bob"));
    assert_eq!(r[0].matches().len(), 2, "{:?}", r[0].matches());
    // another connection knows nothing: pending, dropped (ignore_pending)
    assert!(f
        .process_line("@3 sshd[8]: Too many authentication failures", NOW)
        .is_empty());
    let mut f = filter(FilterSpec {
        ignore_pending: false,
        ..sshd_like().spec().clone()
    });
    let r = f.process_line("@3 sshd[8]: Too many authentication failures", NOW);
    assert_eq!(ids(&r), ["<pending>"]);
}

#[test]
fn mlfid_pending_then_id() {
    let mut f = sshd_like();
    assert!(f
        .process_line("@1 sshd[9]: Invalid user eve", NOW)
        .is_empty());
    // the pending failure becomes real when the host shows up, even on a nofail line
    let r = f.process_line("@2 sshd[9]: Failed publickey for eve from 192.0.2.9", NOW);
    assert_eq!(ids(&r), ["192.0.2.9"]);
    assert!(r[0].is_real(), "{:?}", r[0]);
    assert_eq!(r[0].matches().len(), 2);
}

#[test]
fn mlfid_gained_and_users() {
    let mut f = sshd_like();
    f.process_line("@1 sshd[5]: Failed publickey for bob from 192.0.2.7", NOW);
    assert!(f
        .process_line("@2 sshd[5]: Accepted publickey for bob from 192.0.2.7", NOW)
        .is_empty());
    // a later failure on the connection carries all lines
    let r = f.process_line("@3 sshd[5]: Too many authentication failures", NOW);
    assert_eq!(ids(&r), ["192.0.2.7"]);
    assert_eq!(r[0].matches().len(), 3);
    // a second user on the same connection counts even when nofail
    let mut f = sshd_like();
    f.process_line("@1 sshd[6]: Failed publickey for bob from 192.0.2.6", NOW);
    let r = f.process_line("@2 sshd[6]: Failed publickey for root from 192.0.2.6", NOW);
    assert_eq!(ids(&r), ["192.0.2.6"]);
    assert!(r[0].is_real());
    assert_eq!(
        r[0].data.get("users"),
        Some(&Value::Set(
            ["bob", "root"].map(crate::Str::from).into_iter().collect()
        ))
    );
}

#[test]
fn mlfid_forget_drops_entry() {
    let mut f = sshd_like();
    f.process_line("@1 sshd[4]: Failed publickey for bob from 192.0.2.4", NOW);
    assert!(f.process_line("@2 sshd[4]: Disconnected", NOW).is_empty());
    assert!(f
        .process_line("@3 sshd[4]: Too many authentication failures", NOW)
        .is_empty());
}

#[test]
fn multiline_with_skiplines() {
    let mut f = filter(FilterSpec {
        maxlines: 4,
        ..spec(&[r"^ conn (?P<fid>\d+) start<SKIPLINES>^ conn (?P=fid) from <ADDR> failed$"])
    });
    assert!(f.process_line("@1 conn 12 start", NOW).is_empty());
    assert!(f.process_line("@2 other noise", NOW).is_empty());
    let r = f.process_line("@3 conn 12 from 192.0.2.3 failed", NOW);
    assert_eq!(ids(&r), ["12"]);
    assert_eq!(
        r[0].data.get("ip"),
        Some(&Value::Addr(Addr::parse("192.0.2.3")))
    );
    // skipped line is not part of the matches
    assert_eq!(
        r[0].matches(),
        ["@1 conn 12 start", "@3 conn 12 from 192.0.2.3 failed"]
    );
}

#[test]
fn python_dialect_in_filters() {
    let mut f = filter(spec(&[
        r"\<(?P<fid>\w+)\> x{,2}y [^[]+\[<ADDR>\]",
        r"a((?i)LOGIN|z) <ADDR>",
    ]));
    assert_eq!(
        ids(&f.process_line("@1 <bob> xxy abc[192.0.2.1]", NOW)),
        ["bob"]
    );
    assert_eq!(
        ids(&f.process_line("@1 alogin 192.0.2.2", NOW)),
        ["192.0.2.2"]
    );
    // the flag is scoped: `a` stays case-sensitive
    assert!(f.process_line("@1 ALOGIN 192.0.2.2", NOW).is_empty());
    let mut f = filter(spec(&[r"user\s<F-USER>\S+</F-USER> <ADDR>"]));
    assert_eq!(
        f.process_line("@1 user\x1dbob 192.0.2.3", NOW)[0].get_str("user"),
        Some("bob")
    );
}

#[test]
fn prefilter_is_sound_across_removed_date() {
    // the literal "[] sshd" only exists once the date is removed
    let mut f = filter(spec(&[r"^\[\] sshd: from <ADDR>"]));
    assert!(f.has_prefilter());
    let r = f.process_line("[@77] sshd: from 192.0.2.1", NOW);
    assert_eq!(ids(&r), ["192.0.2.1"]);
    let o = f.process_line_detailed("unrelated line", NOW);
    assert!(o.prefiltered);
}

#[test]
fn undated_line_uses_last_date_even_if_skipped() {
    let mut f = filter(spec(&["failure from <ADDR>"]));
    assert!(f.has_prefilter());
    assert!(f.process_line_detailed("@9980 unrelated", NOW).prefiltered);
    let r = f.process_line("failure from 192.0.2.1", NOW);
    assert_eq!(r[0].time, Some(9980.0));
    // too old (> 60 s): no date at all outside server mode
    let mut f = filter(spec(&["failure from <ADDR>"]));
    f.process_line("@9000 unrelated", NOW);
    assert_eq!(f.process_line("failure from 192.0.2.1", NOW)[0].time, None);
    // empty date match: last date or now
    assert_eq!(
        f.process_line("@ failure from 192.0.2.1", NOW)[0].time,
        Some(NOW)
    );
}

/// Lazy and eager filters over the same lines give the same results.
fn assert_lazy_is_eager(s: FilterSpec, lines: &[&str], now: f64, in_operation: bool) {
    let mut lazy = filter(FilterSpec {
        eager_dates: false,
        ..s.clone()
    });
    let mut eager = filter(FilterSpec {
        eager_dates: true,
        ..s
    });
    assert!(lazy.has_prefilter() && !eager.has_prefilter());
    lazy.set_in_operation(in_operation);
    eager.set_in_operation(in_operation);
    for l in lines {
        assert_eq!(
            lazy.process_line(l, now),
            eager.process_line(l, now),
            "{l:?}"
        );
    }
}

#[test]
fn undated_skipped_line_does_not_hide_an_older_date() {
    let s = spec(&["failure from <ADDR>"]);
    let lines = [
        "@9990 unrelated",
        "unrelated, no date",
        "failure from 192.0.2.1",
    ];
    let mut f = filter(s.clone());
    for l in &lines[..2] {
        assert!(f.process_line_detailed(l, NOW).prefiltered);
    }
    let r = f.process_line(lines[2], NOW);
    assert_eq!(r[0].time, Some(9990.0));
    assert_eq!(r[0].matches(), ["@9990failure from 192.0.2.1"]);
    assert_lazy_is_eager(s, &lines, NOW, false);
}

#[test]
fn unconvertible_or_empty_date_uses_the_skipped_lines_date() {
    let s = spec(&["failure from <ADDR>"]);
    let lines = ["@9990 unrelated", "@? failure from 192.0.2.1"];
    let mut f = filter(s.clone());
    let r: Vec<_> = lines.iter().flat_map(|l| f.process_line(l, NOW)).collect();
    assert_eq!(r[0].time, Some(9990.0));
    assert_lazy_is_eager(s.clone(), &lines, NOW, false);
    let lines = ["@9990 unrelated", "x", "@ failure from 192.0.2.1"];
    assert_lazy_is_eager(s, &lines, NOW, false);
}

#[test]
fn full_hold_of_skipped_lines() {
    let s = spec(&["failure from <ADDR>"]);
    // a dated skipped line, then more undated ones than the hold takes
    let mut lines = vec!["@9990 unrelated".to_string()];
    lines.extend((0..3 * SKIPPED_LINES).map(|i| format!("unrelated {i}")));
    lines.push("failure from 192.0.2.1".into());
    // dated skipped lines overflowing the hold: the newest date wins
    lines.extend((0..3 * SKIPPED_LINES).map(|i| format!("@{} unrelated", 9900 + i)));
    lines.extend((0..5).map(|i| format!("unrelated {i}")));
    lines.push("failure from 192.0.2.2".into());
    // a huge skipped line does not fit: parsed at once
    lines.push(format!("@9997 {}", "x".repeat(2 * SKIPPED_BYTES)));
    lines.push("unrelated".into());
    lines.push("failure from 192.0.2.3".into());
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let mut f = filter(s.clone());
    let times: Vec<Option<f64>> = refs
        .iter()
        .flat_map(|l| f.process_line(l, NOW))
        .map(|x| x.time)
        .collect();
    assert_eq!(
        times,
        [
            Some(9990.0),
            Some(9900.0 + (3 * SKIPPED_LINES - 1) as f64),
            Some(9997.0)
        ]
    );
    assert_lazy_is_eager(s, &refs, NOW, false);
}

#[test]
fn stage1_pauses_when_it_rejects_little() {
    // Lines that pass literal stage 1 ("failure" is there) but match no
    // failregex: stage 1 is switched off after a window, and back on for
    // a window later. Results must not change either way.
    let s = spec(&["failure from <ADDR>"]);
    let mut lines = Vec::new();
    for i in 0..(STAGE1_WINDOW * (STAGE1_PAUSE + 3)) as usize {
        lines.push(match i % 7 {
            0 => format!("@{} failure from nowhere", 9900 + i % 90),
            1 => "unrelated".to_string(),
            2 => format!("@{} unrelated", 9900 + i % 90),
            3 => "failure from 192.0.2.1".to_string(),
            4 => String::new(),
            5 => "@ failure from 192.0.2.2".to_string(),
            _ => "failure, no date".to_string(),
        });
    }
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let mut f = filter(s.clone());
    let mut skipped = [0usize; 2];
    for (i, l) in refs.iter().enumerate() {
        let phase = usize::from(i >= STAGE1_WINDOW as usize);
        skipped[phase] += usize::from(f.process_line_detailed(l, NOW).prefiltered);
    }
    assert!(skipped[0] > 0);
    // paused for most of the rest
    assert!(skipped[1] < refs.len() / 7, "{skipped:?}");
    assert_lazy_is_eager(s, &refs, NOW, false);
}

#[test]
fn stage1_pauses_grow_while_it_keeps_failing() {
    // windows measured before each pause, for a verdict sequence
    fn pauses(verdicts: &[bool]) -> Vec<u32> {
        let mut st = Stage1::default();
        let mut out = Vec::new();
        for &pays in verdicts {
            while !st.active() {}
            for i in 0..STAGE1_WINDOW {
                st.count(pays || i % 8 == 0, true);
            }
            out.push(st.paused);
        }
        out
    }
    let p = STAGE1_PAUSE;
    assert_eq!(
        pauses(&[false, false, false, true, false]),
        [p, 2 * p, 4 * p, 0, p]
    );
    let many = pauses(&[false; 8]);
    assert_eq!(many.last(), Some(&STAGE1_PAUSE_MAX));
    // without the candidate DFA stage 1 is never paused
    let mut st = Stage1::default();
    for _ in 0..STAGE1_WINDOW {
        st.count(false, false);
    }
    assert!(st.active());
}

#[test]
fn server_in_operation_dates_every_line() {
    // A last date in the future is replaced by now on every line in
    // operation mode, undated ones included: lazy must see them all.
    let s = FilterSpec {
        check_find_time: Some(600.0),
        ..spec(&["failure from <ADDR>"])
    };
    let lines = [
        "@10500 unrelated",
        "@10000 failure from 192.0.2.1",
        "@10500 unrelated",
        "unrelated",
        "@20000 unrelated",
        "unrelated, no date",
        "failure from 192.0.2.1",
        "@ failure from 192.0.2.2",
    ];
    assert_lazy_is_eager(s.clone(), &lines, NOW, true);
    assert_lazy_is_eager(s, &lines, NOW, false);
}

#[test]
fn server_time_checks() {
    let mut f = filter(FilterSpec {
        check_find_time: Some(600.0),
        ..spec(&["failure from <ADDR>"])
    });
    // catching up: too old lines are dropped
    assert!(f
        .process_line("@100 failure from 192.0.2.1", NOW)
        .is_empty());
    assert_eq!(
        f.process_line("@9500 failure from 192.0.2.1", NOW)[0].time,
        Some(9500.0)
    );
    // in operation: odd times become now
    f.set_in_operation(true);
    assert_eq!(
        f.process_line("@100 failure from 192.0.2.1", NOW)[0].time,
        Some(NOW)
    );
    assert_eq!(
        f.process_line("failure from 192.0.2.1", NOW)[0].time,
        Some(NOW)
    );
}

#[test]
fn journal_lines_skip_date_detection() {
    let mut f = filter(spec(&["^failure from <ADDR>"]));
    let t = TupleLine {
        prefix: String::new(),
        date: "2005-08-14T10:00:00 ".into(),
        suffix: "failure from 192.0.2.1".into(),
    };
    let r = f.process_line_with_date(t, 1234.0, NOW);
    assert_eq!(r[0].time, Some(1234.0));
    assert_eq!(
        r[0].matches(),
        ["2005-08-14T10:00:00 failure from 192.0.2.1"]
    );
}

#[test]
fn match_without_any_id_group_is_skipped() {
    // upstream: "No group found", the regex is skipped, the next one runs
    let mut f = filter(FilterSpec {
        check_all_regex: true,
        ..spec(&[r"^ denied(?: from <ADDR>)?$", r"^ (?P<fid>denied)$"])
    });
    let r = f.process_line("@1 denied", NOW);
    assert_eq!(ids(&r), ["denied"]);
    assert_eq!(r[0].regex_index, 1);
}

#[test]
fn prefregex_groups_survive_unmatched_failregex_groups() {
    // the failregex's unmatched `ip4` must not hide the prefregex's one
    let s = FilterSpec {
        prefregex: Some(r"^ auth\(<ADDR>\): <F-CONTENT>.+</F-CONTENT>$".into()),
        ..spec(&[r"^mismatch(?: from <ADDR>)?$"])
    };
    let mut f = filter(s);
    assert_eq!(
        ids(&f.process_line("@1 auth(192.0.2.110): mismatch", NOW)),
        ["192.0.2.110"]
    );
}

#[test]
fn filter_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<Filter>();
    assert_send::<Failure>();
}

/// Failure data built with the [`DataPlan`]s equals the data from the
/// groups lists merged: same keys, same values, the failregex's group
/// winning over the prefregex's of the same name only when it took part,
/// alongside a failregex (alt_ groups) that cannot have a plan.
///
/// [`DataPlan`]: crate::regex::DataPlan
#[test]
fn forgotten_hits_change_nothing() {
    // Hits that forget their mlfid, settled from their spans (plans on) or
    // from built data (plans off), with and without a cache entry (live or
    // expired), an address or none, dates cut out before, inside or after
    // the groups; in every mode that changes what a failure carries.
    let base = FilterSpec {
        prefregex: Some(r"^ <F-MLFID>sshd\[\d+\]:</F-MLFID> <F-CONTENT>.+</F-CONTENT>$".into()),
        ..spec(&[
            r"^<F-NOFAIL>Received <F-MLFFORGET>disconnect</F-MLFFORGET></F-NOFAIL> from <HOST>",
            r"^<F-MLFFORGET><F-MLFGAINED>Accepted \S+</F-MLFGAINED></F-MLFFORGET> for <F-USER>\S+</F-USER> from <HOST>$",
            r"^<F-MLFFORGET><F-NOFAIL>Disconnected</F-NOFAIL></F-MLFFORGET>(?: from <F-ID>\S+</F-ID>)?$",
            r"^Failed <F-NOFAIL>publickey</F-NOFAIL> for <F-USER>\S+</F-USER> from <HOST>$",
            r"^Invalid user <F-USER>\S+</F-USER>(?: from <HOST>)?$",
            // (the forget group takes in the buffer's newline)
            r"^<F-NOFAIL>Closed</F-NOFAIL> by <HOST><F-MLFFORGET>\s*</F-MLFFORGET>$",
        ])
    };
    let lines = [
        (0.0, "@1 sshd[15]: Closed by 192.0.2.9"),
        (0.0, "@1 sshd[7]: Received disconnect from 192.0.2.1"),
        (0.0, "@1 sshd[7]: Failed publickey for bob from 192.0.2.1"),
        (0.0, "@1 sshd[7]: Received disconnect from 192.0.2.1"),
        (0.0, "@1 sshd[8]: Accepted password for ann from 192.0.2.2"),
        (0.0, "@1 sshd[8]: Disconnected"),
        (0.0, "@1 sshd[8]: Disconnected from fid9"),
        (0.0, "@1 sshd[9]: Invalid user x from 192.0.2.3"),
        (0.0, "@1 sshd[9]: Accepted key for x from 192.0.2.3"),
        (0.0, "@1 sshd[10]: Failed publickey for bob from 192.0.2.4"),
        (400.0, "@1 sshd[10]: Received disconnect from 192.0.2.4"),
        (0.0, " ssh@5d[11]: Received disconnect from 192.0.2.5"),
        (0.0, " sshd[12]: Received disconnect from 192.0.2.6 @7"),
        (0.0, " sshd[13]: Received disconnect from 192.0@3.2.7"),
        (0.0, " sshd[14]: Accepted @3password for ann from 192.0.2.8"),
    ];
    for check_all in [false, true] {
        for failure_data in [false, true] {
            for ignore_pending in [false, true] {
                let s = FilterSpec {
                    check_all_regex: check_all,
                    failure_data,
                    ignore_pending,
                    ..base.clone()
                };
                let mut with = filter(s.clone());
                let mut without = filter(s);
                assert!(with.plans.iter().all(Option::is_some));
                without.plans.clear();
                for (dt, l) in lines {
                    let (a, b) = (
                        with.process_line(l, NOW + dt),
                        without.process_line(l, NOW + dt),
                    );
                    // without failure data only the counting fields are kept
                    let show = |v: &[Failure]| -> String {
                        if failure_data {
                            format!("{v:?}")
                        } else {
                            let v: Vec<_> = v
                                .iter()
                                .map(|f| (f.regex_index, &f.id, f.time, f.is_nofail()))
                                .collect();
                            format!("{v:?}")
                        }
                    };
                    assert_eq!(show(&a), show(&b), "{l} {check_all} {failure_data}");
                }
            }
        }
    }
}

#[test]
fn data_plans_change_nothing() {
    let specs = [
        FilterSpec {
            failure_data: true,
            ..sshd_like().spec().clone()
        },
        FilterSpec {
            prefregex: Some(
                r"^ <F-MLFID>\S+</F-MLFID>(?: user <F-USER>\w+</F-USER>)?(?: at <ADDR>)? <F-CONTENT>.+</F-CONTENT>$"
                    .into(),
            ),
            check_all_regex: true,
            failure_data: true,
            ..spec(&[
                r"^deny(?: user <F-USER>\w+</F-USER>)?(?: from <ADDR>)?$",
                r"^deny.* (?:alt <F-ALT_USER>\w+</F-ALT_USER>)?",
                r"^(?:deny|allow) (?:<F-ID>\w+</F-ID>|user <F-USER>\w+</F-USER>) from <HOST>$",
                r"^<F-NOFAIL>allow</F-NOFAIL>(?: <F-USER>\w+</F-USER>)? from <HOST>$",
            ])
        },
    ];
    let lines = [
        "@1 sshd[7]: Connection from 192.0.2.1",
        "@1 sshd[7]: Invalid user bob from 192.0.2.1",
        "@1 sshd[7]: Failed publickey for bob from 192.0.2.1",
        "@1 sshd[7]: Too many authentication failures",
        "@1 sshd[8]: Accepted key for ann from 192.0.2.2",
        "@1 sshd[8]: Disconnected",
        "@1 svc deny",
        "@1 svc user ann deny",
        "@1 svc user ann at 192.0.2.3 deny user bob from 192.0.2.4",
        "@1 svc at 192.0.2.3 deny from 192.0.2.4",
        "@1 svc at 192.0.2.3 deny user bob",
        "@1 svc at 192.0.2.3 deny alt carl",
        "@1 svc user ann deny x alt carl",
        "@1 svc deny user bob from 192.0.2.5",
        "@1 svc user ann at 192.0.2.3 allow id7 from 192.0.2.6",
        "@1 svc allow user bob from 192.0.2.6",
        "@1 svc user ann allow from 192.0.2.7",
        "@1 svc allow carl from 192.0.2.7",
    ];
    for s in specs {
        let mut with = filter(s.clone());
        let mut without = filter(s);
        assert!(with.plans.iter().any(Option::is_some));
        without.plans.clear();
        for l in lines {
            let (a, b) = (with.process_line(l, NOW), without.process_line(l, NOW));
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "{l}");
        }
    }
}
