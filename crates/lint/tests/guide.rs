//! The FreeSWITCH guide (`shared/seed/freeswitch-fail2ban-guide.txt`) on
//! fail2ban's stock tree: its `filter.d/freeswitch.local` replaces the
//! failregexes with lines written for whole log lines, which the stock
//! filter's prefregex has already consumed, so the jail never bans and
//! fail2ban says nothing. `gaoler lint` must say it, on the right lines,
//! with a fix that, once written into the `.local`, makes the lint quiet
//! and the guide's log lines match.

mod common;

use std::path::Path;

use common::*;
use gaoler_filter::{Filter, FilterSpec};
use gaoler_lint::Level;

/// The guide's text.
fn guide() -> String {
    let p = gaoler_testkit::shared().join("seed/freeswitch-fail2ban-guide.txt");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The configuration block after the heading line `heading` (its last
/// occurrence when `last`), up to the first line of prose. The web page
/// lost the indentation of continuation lines; they get it back here.
fn block(text: &str, heading: &str, last: bool) -> String {
    block_as(text, heading, last, true)
}

/// [`block`], the continuation lines indented again when `indent`, or as
/// the page has them.
fn block_as(text: &str, heading: &str, last: bool, indent: bool) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let starts: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim() == heading)
        .map(|(i, _)| i)
        .collect();
    let start = if last { starts.last() } else { starts.first() };
    let start = *start.unwrap_or_else(|| panic!("no {heading:?} in the guide"));
    let mut out = String::new();
    for l in &lines[start + 1..] {
        let is_section = l.starts_with('[') && l.ends_with(']');
        let is_option = l.split_once('=').is_some_and(|(k, _)| {
            !k.trim().is_empty()
                && k.trim()
                    .chars()
                    .all(|c| c.is_alphanumeric() || "._-".contains(c))
        });
        let is_comment = l.starts_with('#');
        // a continuation: a regex, an action or a path
        let is_value =
            l.starts_with('^') || l.starts_with('\\') || l.starts_with("%(") || l.starts_with('/');
        if is_section || is_option || is_comment {
            out.push_str(l);
        } else if is_value {
            if indent {
                out.push_str("            ");
            }
            out.push_str(l);
        } else {
            break;
        }
        out.push('\n');
    }
    out
}

/// The guide's FreeSWITCH lines (the format its failregexes describe),
/// with the full date FreeSWITCH writes, and its CDR intrusion rows.
const FS_LOG: &[&str] = &[
    "2018-01-03 18:55:06.436123 [WARNING] sofia_reg.c:1533 SIP auth failure (REGISTER) on sofia profile 'internal' for [1001@192.0.2.1] from ip 192.0.2.66",
    "2018-01-03 18:55:07.439001 [WARNING] sofia_reg.c:1533 SIP auth challenge (INVITE) on sofia profile 'external' for [1002@192.0.2.1] from ip 192.0.2.67",
    "2018-01-03 18:55:08.440777 [WARNING] sofia_reg.c:2531 Can't find user [1003@192.0.2.1] from 192.0.2.68",
];
const CDR_LOG: &[&str] = &["\"FAIL2BAN_HOST=192.0.2.77\",\"4f3c2a@pbx\""];

/// The addresses the filter finds in `lines` with the jail's filter.
fn banned_ids(conf: &Path, lines: &[&str]) -> Vec<String> {
    let read = gaoler_config::read_config(conf, gaoler_config::ReadMode::Dump, &Default::default())
        .expect("read");
    let words: Vec<_> = read.stream.iter().map(|c| c.to_json()).collect();
    let parts = gaoler_config::filterparts::FilterParts::from_stream(&words);
    let mut f = Filter::new(FilterSpec {
        prefregex: parts.prefregex,
        failregex: parts.failregex,
        ignoreregex: parts.ignoreregex,
        datepattern: parts.datepattern,
        ..FilterSpec::default()
    })
    .expect("filter");
    lines
        .iter()
        .flat_map(|l| f.process_line(l, 1.6e9))
        .filter_map(|x| x.id.map(|a| a.to_string()))
        .collect()
}

#[test]
fn guide_local_files_are_caught_and_the_fix_works() {
    let text = guide();
    let t = Tree::copy_of(&gaoler_testkit::upstream().join("config"));
    let filter_local = block(&text, "filter.d/freeswitch.local", false);
    let jail_local = block(&text, "freeswitch.local", true)
        .replace(
            "/var/log/freeswitch/freeswitch.log",
            "@LOGS@/freeswitch.log",
        )
        .replace(
            "/var/log/freeswitch/cdr-csv/intrusion.csv",
            "@LOGS@/intrusion.csv",
        );
    assert!(jail_local.contains("[freeswitch]") && jail_local.contains("enabled = true"));
    assert!(jail_local.contains("@LOGS@/intrusion.csv"), "{jail_local}");
    let local = t.write("filter.d/freeswitch.local", &filter_local);
    t.write("jail.d/freeswitch.local", &jail_local);
    t.log("freeswitch.log", FS_LOG);
    t.log("intrusion.csv", CDR_LOG);

    // as the guide has it, the jail finds nothing at all
    assert!(banned_ids(&t.conf(), FS_LOG).is_empty());

    let f = t.lint(&FakeHost::default());
    let consumed = of(&f, "prefregex-consumed");
    let sofia: Vec<usize> = filter_local
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("sofia_reg"))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(sofia.len(), 2, "{filter_local}");
    assert_eq!(
        consumed.iter().map(|c| c.line).collect::<Vec<_>>(),
        sofia.iter().map(|l| Some(*l)).collect::<Vec<_>>(),
        "{f:#?}"
    );
    for c in &consumed {
        assert_eq!(c.level, Level::Error);
        assert_eq!(c.file.as_deref(), Some(local.as_path()));
        assert_eq!(c.jail.as_deref(), Some("freeswitch"));
        says(
            &c.message,
            &["prefregex", "freeswitch.conf:", "never matches"],
        );
    }
    says(&consumed[0].fix, &["`^SIP auth (failure|challenge)"]);
    says(
        &consumed[0].message,
        &["freeswitch.log", "SIP auth failure (REGISTER)"],
    );
    says(&consumed[1].fix, &["`^Can't find user"]);
    // the CDR pattern: the prefregex matches no CSV row
    let nomatch = one(&f, "prefregex-nomatch", Level::Error);
    assert_eq!(nomatch.line, Some(sofia[1] + 1));
    says(
        &nomatch.message,
        &["intrusion.csv", "FAIL2BAN_HOST=192.0.2.77"],
    );

    // apply each fix: the regex between the fix's first backquotes
    let mut written = std::fs::read_to_string(&local).expect("local");
    for c in &consumed {
        let fix = c.fix.split('`').nth(1).expect("a quoted regex in the fix");
        let line = c.line.expect("line");
        let old = written.lines().nth(line - 1).expect("the line").to_string();
        let (lead, _) = old.split_at(old.find('^').expect("a regex"));
        written = written.replacen(&old, &format!("{lead}{fix}"), 1);
    }
    std::fs::write(&local, &written).expect("write the fix");

    let f = t.lint(&FakeHost::default());
    assert!(of(&f, "prefregex-consumed").is_empty(), "{f:#?}");
    assert_eq!(
        banned_ids(&t.conf(), FS_LOG),
        ["192.0.2.66", "192.0.2.67", "192.0.2.68"],
        "{written}"
    );
}

#[test]
fn guide_files_copied_without_indentation_are_caught_too() {
    // Copied as the page shows them, the second and third failregex start
    // at column 0: they become options nobody reads.
    let text = guide();
    let t = Tree::copy_of(&gaoler_testkit::upstream().join("config"));
    let filter_local = block_as(&text, "filter.d/freeswitch.local", false, false);
    t.write("filter.d/freeswitch.local", &filter_local);
    t.write(
        "jail.d/freeswitch.local",
        "[freeswitch]\nenabled = true\nlogpath = @LOGS@/freeswitch.log\n",
    );
    t.log("freeswitch.log", FS_LOG);
    let f = t.lint(&FakeHost::default());
    let lost: Vec<usize> = filter_local
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with('^') || l.starts_with('\\'))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(lost.len(), 2, "{filter_local}");
    let found = of(&f, "continuation-unindented");
    assert_eq!(
        found.iter().map(|c| c.line).collect::<Vec<_>>(),
        lost.iter().map(|l| Some(*l)).collect::<Vec<_>>(),
        "{f:#?}"
    );
    assert!(found.iter().all(|c| c.level == Level::Error));
}
