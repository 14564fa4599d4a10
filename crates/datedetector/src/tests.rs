//! Unit tests for the detector (matching order, keywords, conversion).
//! One file of about 1,000 lines on purpose: the cases share the fixed
//! clock and time zone set up here and read as one table of fail2ban's
//! behaviour, section by section.
use super::*;

const NOW: f64 = 1124013600.0; // 2005-08-14 12:00:00 CEST
use crate::samples::TEST_TZ;

fn shared(rel: &str) -> std::path::PathBuf {
    gaoler_testkit::shared().join(rel)
}

fn detector(p: Option<&str>) -> DateDetector {
    let mut dd = DateDetector::new(p).expect("valid datepattern");
    dd.set_local_timezone(TEST_TZ).expect("tz");
    dd.set_reference_year(Some(2026));
    dd
}

/// Local wall time in the test zone to Unix time.
fn local(y: i16, mo: i8, d: i8, h: i8, mi: i8, s: i8) -> f64 {
    let tz = TimeZone::posix(TEST_TZ).unwrap();
    let dt = jiff::civil::DateTime::new(y, mo, d, h, mi, s, 0).unwrap();
    tz.to_ambiguous_timestamp(dt)
        .compatible()
        .unwrap()
        .as_second() as f64
}

fn time_of(dd: &mut DateDetector, line: &str) -> Option<f64> {
    dd.find(line, NOW).and_then(|h| h.time)
}

/// Python `repr()` of a str back to text (only the escapes the dump uses).
fn unrepr(s: &str) -> String {
    let inner = &s[1..s.len() - 1];
    let mut out = String::new();
    let mut it = inner.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some(n) => out.push(n),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn default_templates_equal_reference_dump() {
    let text = std::fs::read_to_string(shared("spec/default-date-templates.txt")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let dd = detector(None);
    let mine = dd.templates();
    assert_eq!(mine.len(), 31);
    let mut n = 0;
    for pair in lines.chunks(2) {
        let head = pair[0];
        let regex = pair[1].trim_start();
        let (idx, rest) = head.split_once(' ').unwrap();
        let idx: usize = idx.parse().unwrap();
        let name_end = rest.rfind(" flags=").unwrap();
        let name = unrepr(&rest[..name_end]);
        let flags: u8 = rest[name_end + 8..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let weight: f64 = rest
            .split("weight= ")
            .nth(1)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(mine[idx].name, name, "name of #{idx}");
        assert_eq!(mine[idx].regex, regex, "regex of #{idx}");
        assert_eq!(dd.slots[idx].tpl.flags, flags, "flags of #{idx}");
        assert_eq!(dd.slots[idx].tpl.weight, weight, "weight of #{idx}");
        n += 1;
    }
    assert_eq!(n, 31);
}

fn span<'a>(line: &'a str, h: &DateHit) -> &'a str {
    &line[h.start..h.end]
}

#[test]
fn none_or_default_give_31_templates() {
    for p in [None, Some(""), Some("{DEFAULT}"), Some("  \n{default}\n\n")] {
        assert_eq!(detector(p).templates().len(), 31, "{p:?}");
    }
}

#[test]
fn default_entry_adds_nothing_next_to_others() {
    // fail2ban quirk: `{DEFAULT}` only matters when nothing else is given.
    let dd = detector(Some("%H:%M:%S\n{DEFAULT}"));
    assert_eq!(dd.templates().len(), 1);
}

#[test]
fn line_begin_keyword_keeps_the_17_anchored_defaults() {
    let dd = detector(Some("{^LN-BEG}"));
    let t = dd.templates();
    assert_eq!(t.len(), 17);
    assert!(dd.slots.iter().all(|s| s.tpl.flags & LINE_BEGIN != 0));
    assert_eq!(t[14].name, "{^LN-BEG}24hour:Minute:Second");
    assert_eq!(t[15].name, "^<Month/Day/ExYear2@24hour:Minute:Second>");
    // Repeating it later adds nothing (duplicates are ignored then).
    assert_eq!(detector(Some("{^LN-BEG}\n{^LN-BEG}")).templates().len(), 17);
    assert_eq!(detector(Some("{^LN-BEG}\n%Y")).templates().len(), 18);
}

#[test]
fn date_placeholder_makes_one_template_per_base() {
    let dd = detector(Some("^{DATE}"));
    let t = dd.templates();
    assert_eq!(t.len(), 17);
    assert_eq!(
        t[0].name,
        r"^ExYear(?P<_sep>[-/.])Month(?P=_sep)Day(?:T|  ?)24hour:Minute:Second(?:[.,]Microseconds)?(?:\s*Zone offset)?"
    );
    // `{^LN-BEG}%H:%M:%S` loses its marker before substitution.
    assert_eq!(t[8].name, "^24hour:Minute:Second");
    // Keyword templates are rebuilt from their name: `^Epoch` is the
    // line-start epoch template.
    assert_eq!(t[7].name, "{^LN-BEG}Epoch");
    assert_eq!(t[16].name, "{^LN-BEG}TAI64N");

    let mut dd = detector(Some(r"^[^\[]*\[({DATE})"));
    let line = "192.0.2.1 - - [14/Aug/2005:11:59:59 +0200] \"GET /\"";
    let h = dd.find(line, NOW).unwrap();
    assert_eq!(span(line, &h), "14/Aug/2005:11:59:59 +0200");
    assert_eq!(h.time, Some(local(2005, 8, 14, 11, 59, 59)));
}

#[test]
fn none_keyword_matches_empty() {
    let mut dd = detector(Some("{NONE}"));
    let h = dd.find("Jan 23 21:59:59 whatever", NOW).unwrap();
    assert_eq!((h.start, h.end, h.time), (0, 0, None));
    assert_eq!(dd.templates()[0].name, "^");
    // `**` after an empty group, as guacamole's `^WARNING:()**`.
    let mut dd = detector(Some("^WARNING:()**"));
    let h = dd.find("WARNING: x", NOW).unwrap();
    assert_eq!((h.start, h.end, h.time), (8, 8, None));
}

#[test]
fn pattern_errors_name_the_pattern() {
    for bad in ["%Y-%q", "100%", "(%H", "%H)"] {
        let e = DateDetector::new(Some(bad)).unwrap_err().to_string();
        assert!(e.contains(bad), "{bad}: {e}");
    }
    let e = DateDetector::new(Some("%H:%M\n%H:%M")).unwrap_err();
    assert!(matches!(e, Error::Duplicate { .. }), "{e}");
    // Python 3.11 rejects a global flag group that is not at the start.
    assert!(DateDetector::new(Some("(?i)%b %d")).is_err());
    assert!(DateDetector::new(Some("(?i)%H")).is_ok());
}

#[test]
fn describe_like_get_datepattern() {
    assert_eq!(
        detector(None).describe(),
        (None, "Default Detectors".to_string())
    );
    assert_eq!(
        detector(Some("^%Y-%m-%d")).describe(),
        (Some("^%Y-%m-%d".to_string()), "^Year-Month-Day".to_string())
    );
    assert_eq!(
        detector(Some("EPOCH")).describe(),
        (None, "Epoch".to_string())
    );
}

#[test]
fn syslog_date_without_year() {
    let mut dd = detector(None);
    let line = "Jan 23 21:59:59 host sshd[1]: msg";
    let h = dd.find(line, NOW).unwrap();
    assert_eq!(span(line, &h), "Jan 23 21:59:59");
    assert_eq!(h.time, Some(local(2005, 1, 23, 21, 59, 59)));
    assert_eq!(
        dd.templates()[h.template].name,
        r"{^LN-BEG}(?:DAY )?MON Day %k:Minute:Second(?:\.Microseconds)?(?: ExYear)?"
    );
    assert_eq!(dd.templates()[h.template].hits, 1);
}

#[test]
fn missing_year_goes_back_when_more_than_a_day_ahead() {
    let mut dd = detector(None);
    // now = 2005-08-14 12:00 local.
    assert_eq!(
        time_of(&mut dd, "Dec 31 23:00:00 x"),
        Some(local(2004, 12, 31, 23, 0, 0))
    );
    assert_eq!(
        time_of(&mut dd, "Aug 15 11:00:00 x"),
        Some(local(2005, 8, 15, 11, 0, 0))
    );
    assert_eq!(
        time_of(&mut dd, "Aug 15 12:00:00 x"),
        Some(local(2005, 8, 15, 12, 0, 0))
    );
    assert_eq!(
        time_of(&mut dd, "Aug 15 12:00:01 x"),
        Some(local(2004, 8, 15, 12, 0, 1))
    );
    // Feb 29 of a leap year read in a year whose previous year has none.
    let now_2009 = local(2009, 1, 10, 0, 0, 0);
    let h = dd.find("Feb 29 10:00:00 x", now_2009).unwrap();
    assert_eq!(h.time, None);
    assert!(matches!(
        dd.last_failure(),
        Some(ConversionFailure::Invalid(_))
    ));
}

#[test]
fn time_only_is_today_or_yesterday() {
    let mut dd = detector(None);
    assert_eq!(
        time_of(&mut dd, "11:00:00 x"),
        Some(local(2005, 8, 14, 11, 0, 0))
    );
    assert_eq!(
        time_of(&mut dd, "12:00:01 x"),
        Some(local(2005, 8, 13, 12, 0, 1))
    );
}

#[test]
fn two_digit_years_are_this_century() {
    let mut dd = detector(None);
    assert_eq!(
        time_of(&mut dd, "23/01/05 21:59:59 x"),
        Some(local(2005, 1, 23, 21, 59, 59))
    );
    let mut dd = detector(Some("%y-%m-%d %H:%M:%S"));
    assert_eq!(
        time_of(&mut dd, "99-01-23 21:59:59"),
        Some(local(2099, 1, 23, 21, 59, 59))
    );
    assert_eq!(
        time_of(&mut dd, "00-01-23 21:59:59"),
        Some(local(2000, 1, 23, 21, 59, 59))
    );
}

#[test]
fn twelve_hour_clock() {
    let mut dd = detector(None);
    let t = |dd: &mut DateDetector, s: &str| time_of(dd, &format!("{s} x"));
    assert_eq!(
        t(&mut dd, "Jan 23, 2005 12:15:00 AM"),
        Some(local(2005, 1, 23, 0, 15, 0))
    );
    assert_eq!(
        t(&mut dd, "Jan 23, 2005 12:15:00 PM"),
        Some(local(2005, 1, 23, 12, 15, 0))
    );
    assert_eq!(
        t(&mut dd, "jan 23, 2005 1:15:00 pm"),
        Some(local(2005, 1, 23, 13, 15, 0))
    );
    let mut dd = detector(Some("%l:%M %p"));
    assert_eq!(
        time_of(&mut dd, " 9:30 am"),
        Some(local(2005, 8, 14, 9, 30, 0))
    );
    // No AM/PM group: like AM.
    let mut dd = detector(Some("%Y-%m-%d %I:%M"));
    assert_eq!(
        time_of(&mut dd, "2005-01-23 12:30"),
        Some(local(2005, 1, 23, 0, 30, 0))
    );
}

#[test]
fn day_of_year_and_week_numbers() {
    let mut dd = detector(Some("%Y %j %H:%M:%S"));
    assert_eq!(
        time_of(&mut dd, "2005 032 10:00:00"),
        Some(local(2005, 2, 1, 10, 0, 0))
    );
    // %U (weeks start Sunday) with %w (0 = Sunday): week 1 Sunday = Jan 2.
    let mut dd = detector(Some("%Y %U %w"));
    assert_eq!(
        time_of(&mut dd, "2005 01 0"),
        Some(local(2005, 1, 2, 0, 0, 0))
    );
    // %W (weeks start Monday) with %a: week 1 Monday = Jan 3.
    let mut dd = detector(Some("%Y %W %a"));
    assert_eq!(
        time_of(&mut dd, "2005 01 Mon"),
        Some(local(2005, 1, 3, 0, 0, 0))
    );
    // Full names.
    let mut dd = detector(Some("%A %d %B %Y"));
    assert_eq!(
        time_of(&mut dd, "Sunday 14 AUGUST 2005"),
        Some(local(2005, 8, 14, 0, 0, 0))
    );
    // Month without day: Python fails (TypeError); no time here.
    let mut dd = detector(Some("%m/%Y"));
    assert_eq!(dd.find("01/2005", NOW).unwrap().time, None);
}

#[test]
fn zones_in_the_line() {
    let mut dd = detector(None);
    let utc = |y, mo, d, h, mi, s| {
        jiff::civil::DateTime::new(y, mo, d, h, mi, s, 0)
            .unwrap()
            .to_zoned(TimeZone::UTC)
            .unwrap()
            .timestamp()
            .as_second() as f64
    };
    assert_eq!(
        time_of(&mut dd, "2005-01-23T21:59:59+0200 x"),
        Some(utc(2005, 1, 23, 19, 59, 59))
    );
    assert_eq!(
        time_of(&mut dd, "2005-01-23 21:59:59.123 Z x"),
        Some(utc(2005, 1, 23, 21, 59, 59))
    );
    assert_eq!(
        time_of(&mut dd, "2005-01-23 21:59:59 -05:00"),
        Some(utc(2005, 1, 24, 2, 59, 59))
    );
    assert_eq!(
        time_of(&mut dd, "[23/Jan/2005:21:59:59 -0000]"),
        Some(utc(2005, 1, 23, 21, 59, 59))
    );
    // Named zone (monit style), fixed table offset.
    assert_eq!(
        time_of(&mut dd, "PDT Apr 16 21:05:29 x"),
        Some(utc(2005, 4, 17, 4, 5, 29))
    );
    // An abbreviation missing from the table: no time, and the failure says
    // it is the kind fail2ban does not catch.
    let h = dd.find("IST Apr 16 21:05:29 x", NOW).unwrap();
    assert_eq!(h.time, None);
    assert_eq!(
        dd.last_failure(),
        Some(&ConversionFailure::UnknownZone("IST".into()))
    );
    // Lower case does not parse as a zone.
    let mut dd = detector(Some("%Y-%m-%d %H:%M:%S %Z"));
    assert!(dd
        .find("2005-01-23 21:59:59 CET", NOW)
        .unwrap()
        .time
        .is_some());
    let mut dd = detector(Some("%b %d %H:%M:%S %Z"));
    let h = dd.find("Jan 23 21:59:59 cet", NOW).unwrap();
    assert_eq!(h.time, None);
    assert!(matches!(
        dd.last_failure(),
        Some(ConversionFailure::Invalid(_))
    ));
    // %Exz: abbreviation plus offset adds up.
    let mut dd = detector(Some("%Y-%m-%d %H:%M:%S %Exz"));
    assert_eq!(
        time_of(&mut dd, "2005-01-23 21:59:59 CET+0100"),
        Some(utc(2005, 1, 23, 19, 59, 59))
    );
}

#[test]
fn logtimezone_applies_when_the_line_has_none() {
    let line = "2005-01-23 21:59:59 x";
    let at = |tz: Option<&str>| {
        let mut dd = detector(None);
        dd.set_timezone(tz).unwrap();
        time_of(&mut dd, line).unwrap()
    };
    let utc = at(Some("UTC"));
    assert_eq!(utc, 1106517599.0);
    assert_eq!(at(Some("UTC+0200")), utc - 7200.0);
    assert_eq!(at(Some("GMT-0100")), utc + 3600.0);
    // CET is a fixed +01:00, even in summer.
    assert_eq!(at(Some("CET")), utc - 3600.0);
    assert_eq!(at(None), local(2005, 1, 23, 21, 59, 59));
    // A zone in the line wins.
    let mut dd = detector(None);
    dd.set_timezone(Some("UTC+0500")).unwrap();
    assert_eq!(time_of(&mut dd, "2005-01-23 21:59:59 +0000 x"), Some(utc));
    for bad in ["Europe/Paris", "utc", "UTC+2", "XYZ"] {
        let e = dd.set_timezone(Some(bad)).unwrap_err().to_string();
        assert!(e.contains(bad), "{e}");
    }
}

#[test]
fn local_time_follows_dst() {
    let mut dd = detector(None);
    // Winter: CET (+1); summer: CEST (+2).
    assert_eq!(
        time_of(&mut dd, "2005-01-10 12:00:00 x"),
        Some(1105354800.0)
    );
    assert_eq!(
        time_of(&mut dd, "2005-07-10 12:00:00 x"),
        Some(1120989600.0)
    );
    // In the spring gap, the wall time moves forward (like mktime).
    assert_eq!(
        time_of(&mut dd, "2005-03-27 02:30:00 x"),
        Some(1111887000.0)
    );
    assert!(dd.set_local_timezone("not a zone !").is_err());
    dd.set_local_timezone("UTC0").unwrap();
    assert_eq!(
        time_of(&mut dd, "2005-01-10 12:00:00 x"),
        Some(1105358400.0)
    );
}

#[test]
fn invalid_dates_have_no_time() {
    let mut dd = detector(None);
    for line in [
        "2005-02-30 10:00:00 x",
        "2005-01-10 12:00:60 x",
        "Jan 10 29:00:00 x",
    ] {
        let h = dd.find(line, NOW);
        assert!(
            h.as_ref().is_some_and(|h| h.time.is_none()),
            "{line}: {h:?}"
        );
    }
}

#[test]
fn epoch_forms() {
    let mut dd = detector(None);
    assert_eq!(time_of(&mut dd, "1124013600.123 x"), Some(1124013600.123));
    assert_eq!(time_of(&mut dd, "[1124013600] x"), Some(1124013600.0));
    let mut dd = detector(Some("EPOCH"));
    let line = "type=USER_LOGIN msg=audit(1124013600.544:2) x";
    let h = dd.find(line, NOW).unwrap();
    assert_eq!(span(line, &h), "1124013600.544");
    // Not after `audit(` nor at line start: no match.
    assert!(dd.find("x 1124013600 y", NOW).is_none());
    let mut dd = detector(Some("LEPOCH"));
    assert_eq!(time_of(&mut dd, "1124013600123 x"), Some(1124013600.123));
    assert_eq!(
        time_of(&mut dd, "1124013600123456 x"),
        Some(1124013600.123456)
    );
    assert_eq!(time_of(&mut dd, "1124013600123.5 x"), Some(1124013600.1235));
    let mut dd = detector(Some("ts={EPOCH}"));
    let line = "x ts=1124013600 y";
    let h = dd.find(line, NOW).unwrap();
    assert_eq!(
        (span(line, &h), h.time),
        ("ts=1124013600", Some(1124013600.0))
    );
    let mut dd = detector(Some("{^LN-BEG}Epoch"));
    assert!(dd.find("x 1124013600", NOW).is_none());
    assert_eq!(time_of(&mut dd, "[1124013600] x"), Some(1124013600.0));
}

#[test]
fn tai64n() {
    let mut dd = detector(Some("TAI64N"));
    // 0x43a6c3e5 = 1135002597 (15 hex digits after "@4").
    let line = "@4000000043a6c3e53b9aca00 x";
    let h = dd.find(line, NOW).unwrap();
    assert_eq!((h.start, h.end), (0, 25));
    assert_eq!(h.time, Some(1135002597.0));
}

#[test]
fn exy_follows_the_reference_year() {
    assert_eq!(exy_alternatives(2026), "20[012]");
    assert_eq!(exy_alternatives(2027), "20[0123]");
    assert_eq!(exy_alternatives(2005), "200");
    assert_eq!(exy_alternatives(1999), "(?:199|200)");
    assert_eq!(
        exy_alternatives(2098),
        "2(?:00|01|02|03|04|05|06|07|08|09|10)"
    );
    let mut dd = DateDetector::new(Some("^%ExY-%m-%d")).unwrap();
    dd.set_local_timezone(TEST_TZ).unwrap();
    let in_2026 = local(2026, 6, 1, 0, 0, 0);
    let in_2030 = local(2030, 6, 1, 0, 0, 0);
    assert!(dd.find("2031-01-01", in_2026).is_none());
    assert!(dd.find("2031-01-01", in_2030).is_some());
    dd.set_reference_year(Some(2026));
    assert!(dd.find("2031-01-01", in_2030).is_none());
    assert!(dd.templates()[0].regex.contains(r"(?P<Y>20[012]\d)"));
}

#[test]
fn anchored_date_wins_over_later_dates() {
    let mut dd = detector(None);
    let line = "Jan 23 21:59:59 host x 2005-01-01 10:00:00";
    let h = dd.find(line, NOW).unwrap();
    assert_eq!(span(line, &h), "Jan 23 21:59:59");
}

#[test]
fn leftmost_candidate_wins() {
    let mut dd = detector(None);
    let line = "host 1 Jan 24 10:00:00 bar 2005-01-23 21:59:59";
    let h = dd.find(line, NOW).unwrap();
    assert_eq!(span(line, &h), "Jan 24 10:00:00");
    // fail2ban quirk: the optional zone name is case-insensitive too, so a
    // word before the date is taken as a zone, which then does not parse.
    let mut dd = detector(None);
    let line = "host foo Jan 24 10:00:00 bar";
    let h = dd.find(line, NOW).unwrap();
    assert_eq!((span(line, &h), h.time), ("foo Jan 24 10:00:00", None));
    let line = "host foo 2005-01-23 21:59:59 bar Jan 24 10:00:00";
    let h = dd.find(line, NOW).unwrap();
    assert_eq!(span(line, &h), "2005-01-23 21:59:59");
}

#[test]
fn winner_moves_up_and_is_tried_first() {
    let mut dd = detector(None);
    let before = dd.templates();
    let line = "host 2005-01-23 21:59:59 x";
    let h = dd.find(line, NOW).unwrap();
    let name = before[14].name.clone();
    assert_eq!(dd.templates()[h.template].name, name);
    assert!(h.template < 14, "moved up: {}", h.template);
    // Same shape again: same template, found at the remembered position.
    let h2 = dd.find("host 2005-01-24 21:59:59 y", NOW).unwrap();
    assert_eq!(dd.templates()[h2.template].name, name);
    assert_eq!(dd.templates()[h2.template].hits, 2);
    // A different format later is still found.
    let line = "Jan 23 21:59:59 other";
    let h3 = dd.find(line, NOW).unwrap();
    assert_eq!(span(line, &h3), "Jan 23 21:59:59");
}

#[test]
fn word_boundaries() {
    let mut dd = detector(Some("%H:%M:%S"));
    assert!(dd.find("x112:00:00", NOW).is_none());
    assert!(dd.find("12:00:001", NOW).is_none());
    let mut dd = detector(Some("{UNB}%H:%M:%S"));
    assert!(dd.find("x12:00:00y", NOW).is_some());
    let mut dd = detector(Some("**%H:%M:%S"));
    assert!(dd.find("x12:00:00 y", NOW).is_some());
    assert!(dd.find("x12:00:00y", NOW).is_none());
}

#[test]
fn line_begin_allows_two_non_word_chars() {
    let mut dd = detector(Some("{^LN-BEG}%H:%M:%S"));
    assert_eq!(dd.find("[ 11:00:00] x", NOW).map(|h| h.start), Some(2));
    assert!(dd.find("[[[11:00:00] x", NOW).is_none());
    assert!(dd.find("a 11:00:00 x", NOW).is_none());
}

#[test]
fn names_match_fail2ban_regex_output() {
    let dd = detector(Some("x %Exk %Exl %G %V %u %j %U %W %w %f %ExZ %Exz %%"));
    assert_eq!(
        dd.templates()[0].name,
        "x Ex%k Ex%l %G %V %u Yearday Yearweek Yearweek Weekday Microseconds ExZone name ExZone offset %"
    );
    assert_eq!(detector(Some("%x %X")).templates()[0].name, "%x %X");
    assert_eq!(detector(Some("%c")).templates()[0].name, "%c");
    // Directives that share a group name cannot be combined (as in Python).
    assert!(DateDetector::new(Some("%c %X")).is_err());
    // fail2ban strips the regex, so a leading `%k` loses its optional space
    // and the group wrapping breaks: an error there too.
    assert!(DateDetector::new(Some("%k:%M")).is_err());
}

#[test]
fn detector_is_clone_and_send() {
    fn check<T: Clone + Send>() {}
    check::<DateDetector>();
}

#[test]
fn hostile_lines_are_bounded() {
    let mut dd = detector(None);
    let big = "a ".repeat(512 * 1024);
    let t = std::time::Instant::now();
    assert!(dd.find(&big, NOW).is_none());
    let with_date = format!("{big} Jan 23 21:59:59");
    assert!(dd.find(&with_date, NOW).is_some());
    let digits = "1".repeat(1 << 20);
    let _ = dd.find(&digits, NOW);
    let nul = "\0Jan 23 21:59:59\0\0 x\0";
    assert!(dd.find(nul, NOW).is_some());
    let mixed: String = "é1:2-/\0 Jan".repeat(80_000);
    let _ = dd.find(&mixed, NOW);
    assert!(t.elapsed().as_secs() < 60, "took {:?}", t.elapsed());
    // Patterns with NUL bytes or junk compile or fail cleanly.
    let _ = DateDetector::new(Some("\0%H\0"));
    let _ = DateDetector::new(Some("((((((((((%H"));
}

#[test]
fn unicode_digits_convert_like_python_int() {
    // `\d` is Unicode-aware (as in Python), and so is the conversion.
    let mut dd = detector(Some("%Y-%m-%d %H:%M:%S"));
    let line = "x ٢٠٠٥-01-2٣ 21:59:5٩";
    assert_eq!(time_of(&mut dd, line), Some(local(2005, 1, 23, 21, 59, 59)));
    // `%m` is `0?[1-9]|1[0-2]`: ASCII only, so this is no date at all.
    assert!(dd.find("٢٠٠٥-٠١-٢٣ 21:59:59", NOW).is_none());
    let mut dd = detector(Some("LEPOCH"));
    assert_eq!(time_of(&mut dd, "١١٢٤٠١٣٦٠٠١٢٣ x"), Some(1124013600.123));
    // Mathematical digits come as five runs of ten in a row.
    assert_eq!(
        convert::ascii_digits("\u{1D7CE}\u{1D7D7}\u{1D7E2}\u{1D7FF}"),
        "0909"
    );
}

#[test]
fn positions_are_remembered_in_characters() {
    // Same date shape after a multi-byte prefix of the same length in
    // characters: the remembered window still applies.
    let mut dd = detector(None);
    let a = "éé 2005-01-23 21:59:59 x";
    let b = "üü 2005-01-24 21:59:59 y";
    assert_eq!(span(a, &dd.find(a, NOW).unwrap()), "2005-01-23 21:59:59");
    let h = dd.find(b, NOW).unwrap();
    assert_eq!(span(b, &h), "2005-01-24 21:59:59");
    assert_eq!(dd.last_pos.at, 3);
}

/// The per-template conversion memo must give what a fresh detector gives,
/// also when only `now` (which decides the year of a year-less date) or
/// the sub-seconds (ignored) change between lines.
#[test]
fn conversion_memo_matches_fresh_detector() {
    let lines = [
        "Jan  1 00:00:00 host sshd[1]: a",
        "Jan  1 00:00:00 host sshd[2]: b",
        "Dec 31 23:59:59 host sshd[3]: c",
        "2026-01-01 00:00:00.000001 x",
        "2026-01-01 00:00:00.999999 x",
        "2026-01-01 00:00:01.5 x",
    ];
    let nows = [NOW, NOW, 1767225600.0, 1767225600.0, NOW + 0.5];
    let mut reused = detector(None);
    for now in nows {
        for l in lines {
            let got = reused.find(l, now).and_then(|h| h.time);
            let want = detector(None).find(l, now).and_then(|h| h.time);
            assert_eq!(got, want, "{l} at {now}");
        }
    }
    // a changed time zone is not served from the memo
    let l = "2026-01-01 00:00:00 x";
    let before = reused.find(l, NOW).and_then(|h| h.time);
    reused.set_timezone(Some("UTC+0300")).expect("zone");
    let after = reused.find(l, NOW).and_then(|h| h.time);
    assert_ne!(before, after);
}

/// Lines around the syslog template's plain form, and some just outside.
fn syslog_like_lines() -> Vec<String> {
    let mut out = Vec::new();
    let starts = ["", "Mon ", "sun ", "MON ", "Thu  ", "Tux ", "[", "- ", "é"];
    let months = ["Jan", "aug", "DEC", "Sep", "Sept", "Foo", "ſep", "Kan"];
    let days = [
        "01", " 1", "1", "9", "00", "10", "29", "30", "31", "32", "3", " 0", "0 1", "  1",
    ];
    let times = [
        "00:00:00", "23:59:59", "29:59:59", "30:00:00", "1:00:00", "01:5:00", "01:60:00",
        "12:00:60", "12:00:61", "12:00:6", "12:00:5", "12:34:56",
    ];
    let tails = [
        "",
        " ",
        " host sshd[1]: x",
        ".123 x",
        ".1234567",
        " 2005 x",
        " 2026",
        " 20x",
        " 1 x",
        "x",
        "Z",
        "\t",
        ":",
        " é",
        "٣",
        "\n",
        " 2",
    ];
    for s in starts {
        for m in months {
            for d in days {
                for (k, t) in times.iter().enumerate() {
                    for (j, tl) in tails.iter().enumerate() {
                        // the full product is large: a deterministic sample
                        if (k + j + d.len() + m.len() + s.len()) % 3 != 0 {
                            continue;
                        }
                        out.push(format!("{s}{m} {d} {t}{tl}"));
                        out.push(format!("{s}{m} {d}  {t}{tl}"));
                    }
                }
            }
        }
    }
    out
}

/// Lines around the ISO template's plain form, and some just outside.
fn iso_like_lines() -> Vec<String> {
    let mut out = Vec::new();
    let years = [
        "2005", "2026", "2019", "2030", "1999", "205", "20051", "٢005", "x2005",
    ];
    let seps = ["-", "/", ".", ":"];
    let months = ["01", "1", "09", "10", "12", "13", "00", "0"];
    let days = ["01", " 1", "1", "29", "30", "31", "32", "00"];
    let mids = ["T", " ", "  ", "t", "_"];
    let times = [
        "00:00:00", "23:59:59", "24:00:00", "19:00:00", "2:00:00", "12:5:00", "12:00:60",
        "12:00:6", "12:34:56",
    ];
    let tails = [
        "",
        " ",
        " [INFO] x",
        ".123 x",
        ",5",
        ".1234567 x",
        ".123456",
        ".",
        ". x",
        " +0200",
        "+02:00",
        "Z",
        " Z x",
        " UTC",
        " GMT",
        " Gx",
        " -1",
        "\t",
        " \t",
        "  x",
        "x",
        " é",
        "\n",
        " \u{b}",
        "\u{85}",
        " \u{1c}x",
    ];
    let mut n = 0usize;
    for y in years {
        for sp in seps {
            for m in months {
                for d in days {
                    for mid in mids {
                        for t in times {
                            for tl in tails {
                                n += 1;
                                // the full product is large: a deterministic sample
                                let sampled = n.is_multiple_of(13)
                                    || (sp == "-" && mid != "_" && n.is_multiple_of(3));
                                if !sampled {
                                    continue;
                                }
                                out.push(format!("{y}{sp}{m}{sp}{d}{mid}{t}{tl}"));
                            }
                        }
                    }
                }
            }
        }
    }
    out.push("2005-08-14 11:59:59/2005-08-14 11:59:59".into());
    out.push("2005-08/14 11:59:59".into());
    for f in ["", ".000000", ".001000", ".1", ".0000001"] {
        out.push(format!(
            "2026-01-01 00:00:00{f} [INFO] sofia_reg.c:2130 Registered"
        ));
        out.push(format!(
            "2005-08-14 11:59:59{f} [WARNING] sofia_reg.c:1657 SIP auth"
        ));
    }
    out
}

const FREESWITCH_DATES: &str = "^(?:%Y-)?%m-%d[ T]%H:%M:%S(?:\\.%f)?\n{^LN-BEG}";

fn check_fast_spans(name: &str, lines: Vec<String>) {
    let dd = detector((name == "iso_user").then_some(FREESWITCH_DATES));
    let slot = dd
        .slots
        .iter()
        .find(|s| {
            matches!(
                (&s.fast, name),
                (Some(fast::Fast::Syslog(_)), "syslog")
                    | (Some(fast::Fast::Iso(_)), "iso" | "iso_user")
            )
        })
        .expect("the templates include it");
    assert!(slot.tpl.anchored());
    let fast = slot.fast.clone().expect("fast");
    let re = slot.regex.as_ref().expect("compiled");
    let mut locs = re.locations();
    let mut spans = Vec::new();
    let (mut taken, mut total) = (0, 0);
    for line in lines {
        total += 1;
        if !fast.recognise(&line, &mut spans, &dd.exy_years) {
            continue;
        }
        taken += 1;
        assert!(
            re.captures_read_at(&mut locs, &line, 0).expect("search"),
            "{line:?}"
        );
        let want: Vec<_> = (0..locs.len()).map(|g| locs.get(g)).collect();
        assert_eq!(spans, want, "{line:?}");
    }
    assert!(taken > 100, "{name}: {taken} of {total}");
    eprintln!("{name}: {taken} of {total} lines recognised");
}

#[test]
fn syslog_fast_path_gives_pcre2_spans() {
    check_fast_spans("syslog", syslog_like_lines());
}

#[test]
fn iso_fast_path_gives_pcre2_spans() {
    check_fast_spans("iso", iso_like_lines());
    check_fast_spans("iso_user", iso_like_lines());
}

/// Generated syslog and ISO lines, then every upstream sample log.
fn generated_and_sample_lines() -> Vec<String> {
    let mut lines = syslog_like_lines();
    lines.extend(iso_like_lines());
    for p in gaoler_testkit::upstream_sample_logs() {
        let text = std::fs::read_to_string(p).unwrap_or_default();
        lines.extend(text.lines().map(str::to_string));
    }
    lines
}

/// The detector with and without the fast path finds the same dates (and
/// keeps the same template order) over generated lines and the upstream
/// sample logs.
#[test]
fn fast_paths_change_nothing() {
    let lines = generated_and_sample_lines();
    for pattern in [None, Some(FREESWITCH_DATES), Some("{^LN-BEG}")] {
        let mut a = detector(pattern);
        let mut b = detector(pattern);
        b.disable_fast_paths();
        assert!(a.slots.iter().any(|s| s.fast.is_some()));
        for l in &lines {
            assert_eq!(a.find(l, NOW), b.find(l, NOW), "{pattern:?}: {l:?}");
        }
        assert_eq!(a.templates(), b.templates());
    }
}

/// Lines split among clones and absorbed back (`Checkpoint`) give the
/// dates and statistics of one detector reading them in order: chunks the
/// main detector cannot absorb are read again by it, as a caller does.
#[test]
fn absorbed_runs_equal_reading_in_order() {
    let lines = generated_and_sample_lines();
    for chunk in [7, 64] {
        let mut reference = detector(None);
        let want: Vec<_> = lines.iter().map(|l| reference.find(l, NOW)).collect();
        let mut main = detector(None);
        let mut workers = [main.clone(), main.clone()];
        let (mut got, mut absorbed, mut redone) = (Vec::new(), 0, 0);
        for (c, part) in lines.chunks(chunk).enumerate() {
            let w = &mut workers[c % 2];
            let from = w.checkpoint();
            let hits: Vec<_> = part.iter().map(|l| w.find(l, NOW)).collect();
            if main.absorb(&from, &w.checkpoint()) {
                absorbed += 1;
                got.extend(hits);
            } else {
                redone += 1;
                got.extend(part.iter().map(|l| main.find(l, NOW)));
                // a caller would hand the workers the new state
                workers = [main.clone(), main.clone()];
            }
        }
        assert_eq!(got, want, "chunks of {chunk}");
        assert_eq!(main.templates(), reference.templates());
        assert!(
            absorbed > 0 && redone > 0,
            "{absorbed} absorbed, {redone} redone"
        );
    }
}

/// A run in which the winning template changes is not steady: it cannot
/// be absorbed, even when it starts in the absorbing detector's state.
#[test]
fn template_change_is_not_absorbed() {
    let mut main = detector(None);
    main.find("Jan  1 00:00:00 host sshd[1]: a", NOW);
    let mut w = main.clone();
    let from = w.checkpoint();
    w.find("Jan  1 00:00:01 host sshd[1]: b", NOW);
    assert!(main.clone().absorb(&from, &w.checkpoint()));
    w.find("2026-01-01 00:00:02 host sshd[1]: c", NOW);
    assert!(!main.absorb(&from, &w.checkpoint()));
    // nor a run that started elsewhere
    let mut other = detector(None);
    other.find("2026-01-01 00:00:02 x", NOW);
    let from = other.checkpoint();
    other.find("2026-01-01 00:00:03 x", NOW);
    assert!(!main.absorb(&from, &other.checkpoint()));
}

/// Lines that share their date text but not what follows it, or differ
/// in their `%f` digits: the recogniser's remembered answer is reused
/// only when it would read the same (a year or zone after the date, or
/// another number of `%f` digits, changes the match).
#[test]
fn same_date_text_other_tails() {
    let dates = [
        "Jan  1 00:00:00",
        "Mon Jan  1 00:00:00",
        "2024-01-01 00:00:00",
        "2024-01-01 00:00:00.5",
        "2024-01-01 00:00:00.7",
        "2024-01-01 00:00:00.a",
        "2024-01-01 00:00:00.77",
        "2024-01-01 00:00:00.123456",
        "2024-01-01 00:00:00.1234567",
        "2024-01-01T00:00:00",
        // recognised, but no such day: every repeat must fail again
        "Feb 30 00:00:00",
        "2024-02-30 00:00:00",
    ];
    let tails = [
        " host1 sshd[1]: x",
        " 2024 host y",
        "",
        " ",
        " +0100 z",
        " Z",
        "Z",
        ".123 a",
        "x",
        " UTC b",
        "1 c",
        " \u{e9}t\u{e9} d",
    ];
    let mut lines = Vec::new();
    for d in dates {
        for (i, t) in tails.iter().enumerate() {
            // each tail after each other one, and twice in a row
            lines.push(format!("{d}{t}"));
            lines.push(format!("{d}{}", tails[(i * 7 + 3) % tails.len()]));
            lines.push(format!("{d}{t}"));
        }
    }
    // and the same tail after other dates (other `%f` digits)
    for t in tails {
        for d in dates {
            lines.push(format!("{d}{t}"));
        }
    }
    for pattern in [None, Some(FREESWITCH_DATES)] {
        let mut a = detector(pattern);
        let mut b = detector(pattern);
        b.disable_fast_paths();
        for l in &lines {
            assert_eq!(a.find(l, NOW), b.find(l, NOW), "{pattern:?}: {l:?}");
            assert_eq!(a.last_failure(), b.last_failure(), "{pattern:?}: {l:?}");
            let (ca, cb) = (a.checkpoint(), b.checkpoint());
            assert_eq!(ca.counters, cb.counters, "{pattern:?}: {l:?}");
            assert!(ca.same_decisions(&cb), "{pattern:?}: {l:?}");
        }
        assert_eq!(a.templates(), b.templates());
    }
}
