//! gaoler's own notification and reporting actions (`config/action.d`:
//! sendmail-*, mail-*, abuseipdb, cloudflare*, apprise, blocklist_de,
//! xarf-login-attack, complain) run for real, with the programs they call
//! replaced by recording stubs.
//!
//! Every stub (`sendmail`, `mail`, `whois`, `curl`, `apprise`, `dig`) writes
//! its argv (NUL separated) and its stdin to a log directory and prints a
//! canned answer, so a test can check exactly what an action asked for: the
//! recipient, the subject, the headers, the body, the API request.
//!
//! The point is safety. The tickets carry hostile text in every place a log
//! line or a remote server can reach (`<matches>`, `<F-USER>`, whois output,
//! a non-IP ticket ID, a DNS answer): command substitutions, `;` commands,
//! mail tilde escapes (CVE-2021-32749), header lines, option-like words,
//! quotes. Each of them would `touch` a marker file if it ever ran; the
//! tests assert that the marker never exists, that the hostile text arrives
//! verbatim as data, and that it never becomes a header.
//!
//! The `mail` actions also run once against the real Debian `mail`
//! (GNU mailutils) and once against `s-nail -~`, which processes tilde
//! escapes even when its input is not a terminal (the configuration that
//! made CVE-2021-32749 exploitable); both hand the message to the sendmail
//! stub.
//!
//! Requirements: `mail` (Debian package mailutils) and `s-nail`. A missing
//! requirement FAILS the test.

use std::path::Path;

use gaoler_action::{ActionInfo, CommandAction, Executor};

// (only `shipped` is used here)
#[allow(dead_code)]
mod common;

use common::stubs::{Call, World};

/// The address every test bans (TEST-NET-1).
const IP: &str = "192.0.2.10";
const IP6: &str = "2001:db8::10";
const DEST: &str = "admin@example.com";
const SENDER: &str = "gaoler@example.net";

/// The stubbed programs.
const STUBS: &[&str] = &["sendmail", "mail", "whois", "curl", "apprise", "dig"];

/// Fails unless every tool is in PATH (no root needed: nothing here touches
/// the system).
fn require_tools(tools: &[&str]) {
    for tool in tools {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
        assert!(
            found,
            "this test needs `{tool}` in PATH (Debian packages mailutils and s-nail)"
        );
    }
}

// ---------------------------------------------------------------------------
// Hostile input

/// Log lines of the ban: each would run `touch <marker>` if the shell, or
/// `mail`, ever read it as code, and several try to pass for headers,
/// options or the end of a message. All mention [`IP`], so the -lines
/// actions find them in the jail's log too.
fn hostile_lines(w: &World) -> Vec<String> {
    let t = w.touch();
    vec![
        format!("sshd[11]: Failed password for `$(id)` from {IP} port 22"),
        format!("sshd[12]: Failed password for $({t}) from {IP}"),
        format!("sshd[13]: Failed password for ;{t}; from {IP}"),
        format!("~! {t} # {IP}"),
        format!("~!{t} # {IP}"),
        format!("~| {t} # {IP}"),
        format!("Bcc: evil@example.com {IP}"),
        format!("Subject: evil {IP}"),
        format!("-oQ/tmp/x {IP}"),
        format!("sshd[14]: Invalid user o'brien from {IP}"),
        format!("\\n~! {t} {IP} \\"),
        ".".to_string(),
    ]
}

/// A user name captured by the filter, with newlines, an escape, a header
/// and a command substitution.
fn hostile_user(w: &World) -> String {
    let t = w.touch();
    format!("root\n~! {t}\nBcc: evil@example.com\n$({t})\n-oQ/tmp/x")
}

/// What a malicious whois server (or a man in the middle) answers.
fn hostile_whois(w: &World) -> String {
    let t = w.touch();
    format!(
        "% whois stub answer\nnetname: TEST-NET-1\n~! {t}\n$({t})\n`{t}`\nBcc: evil@example.com\n.\nremarks: it's over\n"
    )
}

/// A ticket for [`IP`] carrying all the hostile values.
fn hostile_ticket(w: &World) -> ActionInfo {
    let lines = hostile_lines(w);
    let mut info = ActionInfo::for_id(IP);
    info.set_failures(3)
        .set_matches(&lines)
        .set("ipmatches", lines.join("\n"))
        .set("ipjailmatches", lines.join("\n"))
        .set("ipfailures", "7")
        .set("ipjailfailures", "5")
        .set_restored(false)
        .set_data("user", hostile_user(w));
    info
}

/// The jail's log: the hostile lines plus lines of other addresses.
fn write_jail_log(w: &World) {
    let mut log = String::from("sshd[1]: Failed password for bob from 198.51.100.9\n");
    for l in hostile_lines(w) {
        log.push_str(&l);
        log.push('\n');
    }
    log.push_str("sshd[2]: Accepted password for alice from 203.0.113.5\n");
    std::fs::write(w.jail_log(), log).expect("jail log");
}

/// `s` flattened to one line, as the actions do with ticket values.
fn flat(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

// ---------------------------------------------------------------------------
// Checking mails

/// A message as sendmail received it: headers and body.
struct Mail {
    headers: Vec<(String, String)>,
    body: String,
}

impl Mail {
    fn parse(raw: &str) -> Mail {
        let (head, body) = raw
            .split_once("\n\n")
            .unwrap_or_else(|| panic!("no end of headers in {raw:?}"));
        let headers = head
            .lines()
            .map(|l| {
                assert!(
                    !l.starts_with([' ', '\t']),
                    "a header continuation line: {l:?} in {raw:?}"
                );
                let (k, v) = l
                    .split_once(": ")
                    .unwrap_or_else(|| panic!("not a header: {l:?} in {raw:?}"));
                (k.to_string(), v.to_string())
            })
            .collect();
        Mail {
            headers,
            body: body.to_string(),
        }
    }

    fn header(&self, name: &str) -> &str {
        let found: Vec<&str> = self
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(found.len(), 1, "header {name} in {:?}", self.headers);
        found[0]
    }
}

/// Headers gaoler's sendmail actions write, and nothing else.
const OUR_HEADERS: &[&str] = &[
    "Subject",
    "Date",
    "From",
    "To",
    "Auto-Submitted",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
];

/// Checks one message from the sendmail actions: the argv, exactly our
/// headers, the subject.
fn check_sendmail(call: &Call, subject: &str) -> Mail {
    assert_eq!(call.args, ["-i", "-f", SENDER, DEST], "sendmail argv");
    let m = Mail::parse(&call.stdin);
    let names: Vec<&str> = m.headers.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, OUR_HEADERS, "headers of {:?}", call.stdin);
    assert_eq!(m.header("To"), DEST);
    assert_eq!(m.header("From"), format!("Fail2Ban <{SENDER}>"));
    assert!(
        m.header("Subject").starts_with(subject),
        "subject {:?}, want {subject:?}...",
        m.header("Subject")
    );
    assert_safe_body(&m.body);
    m
}

/// No line of a body may start with a tilde (mail's escape character).
fn assert_safe_body(body: &str) {
    for l in body.lines() {
        assert!(
            !l.starts_with('~'),
            "body line {l:?} starts with ~:\n{body}"
        );
    }
}

/// Every line of `text` is in `body`, indented by two spaces.
fn assert_quoted(body: &str, text: &str) {
    for l in text.lines() {
        let want = format!("  {l}\n");
        assert!(
            body.contains(&want),
            "body lacks quoted line {want:?}:\n{body}"
        );
    }
}

/// The checks on a ban report common to the sendmail and mail actions.
fn check_ban_body(w: &World, body: &str, jail: &str) {
    assert!(
        body.contains(&format!("Jail {jail} on ")),
        "jail name missing:\n{body}"
    );
    assert!(
        body.contains(&format!("has banned {IP}\nafter 3 failures.\n")),
        "address and failures missing:\n{body}"
    );
    assert!(
        body.contains(&format!(
            "The failures were for the user name \"{}\".\n",
            flat(&hostile_user(w))
        )),
        "user name missing or not flattened:\n{body}"
    );
}

fn check_whois_part(w: &World, body: &str) {
    assert!(body.contains(&format!("What whois says about {IP}:")));
    assert_quoted(body, &hostile_whois(w));
    let calls = w.calls("whois");
    assert_eq!(calls.len(), 1, "one whois lookup");
    assert_eq!(calls[0].args, ["--", IP], "whois argv");
}

// ---------------------------------------------------------------------------
// sendmail-*

/// start, a hostile ban, unban and stop of one sendmail action; returns
/// the body of the ban report.
fn sendmail_scenario(actname: &str, jail: &str, extra: &str) -> (World, String) {
    let w = World::new(STUBS);
    write_jail_log(&w);
    w.answer("whois", &hostile_whois(&w));
    let stub = w.stubs().join("sendmail");
    let s = w.spec(
        jail,
        &format!("{actname}[dest=\"{DEST}\", sender=\"{SENDER}\"{extra}]"),
        &[("/usr/sbin/sendmail", stub.to_str().expect("utf-8"))],
    );
    assert_eq!(s.name, actname);
    let mut a = w.action(&s);
    assert!(
        a.norestored(),
        "{actname}: restored bans must not be mailed"
    );
    a.start().expect("start");
    a.ban(&hostile_ticket(&w)).expect("ban");
    a.unban(&hostile_ticket(&w)).expect("unban");
    a.stop().expect("stop");
    w.assert_no_marker();

    let calls = w.calls("sendmail");
    assert_eq!(
        calls.len(),
        3,
        "{actname}: start, ban, stop mails: {calls:#?}"
    );
    let start = check_sendmail(&calls[0], &format!("[Fail2Ban] {jail}: started on "));
    assert!(start
        .body
        .contains(&format!("Jail {jail} has been started")));
    let stop = check_sendmail(&calls[2], &format!("[Fail2Ban] {jail}: stopped on "));
    assert!(stop.body.contains(&format!("Jail {jail} has been stopped")));
    let ban = check_sendmail(&calls[1], &format!("[Fail2Ban] {jail}: banned {IP} from "));
    check_ban_body(&w, &ban.body, jail);
    (w, ban.body)
}

#[test]
fn sendmail_reports_hostile_ban_as_data() {
    let (w, body) = sendmail_scenario("sendmail", "smj", "");
    assert!(w.calls("whois").is_empty(), "sendmail does no whois lookup");
    assert!(!body.contains("Failed password"), "no log lines:\n{body}");
}

#[test]
fn sendmail_whois_quotes_whois_answer() {
    let (w, body) = sendmail_scenario("sendmail-whois", "smw", "");
    check_whois_part(&w, &body);
}

#[test]
fn sendmail_whois_lines_quotes_log_lines() {
    let (w, body) = sendmail_scenario("sendmail-whois-lines", "sml", ", logpath=\"%(logpath)s\"");
    check_whois_part(&w, &body);
    assert!(body.contains(&format!("Log lines that mention {IP} (at most 1000):")));
    let lines: Vec<String> = hostile_lines(&w)
        .into_iter()
        .filter(|l| l.contains(IP))
        .collect();
    assert_quoted(&body, &lines.join("\n"));
    assert!(
        !body.contains("198.51.100.9") && !body.contains("203.0.113.5"),
        "lines of other addresses:\n{body}"
    );
}

#[test]
fn sendmail_whois_matches_quotes_matches() {
    let (w, body) = sendmail_scenario("sendmail-whois-matches", "smm", "");
    check_whois_part(&w, &body);
    assert!(body.contains(&format!("Log lines of this ban ({IP}, 3 failures):")));
    assert_quoted(&body, &hostile_lines(&w).join("\n"));
}

#[test]
fn sendmail_whois_ipmatches_quotes_ipmatches() {
    let (w, body) = sendmail_scenario("sendmail-whois-ipmatches", "smi", "");
    check_whois_part(&w, &body);
    assert!(body.contains(&format!("Log lines of {IP} in all jails (7 failures):")));
    assert_quoted(&body, &hostile_lines(&w).join("\n"));
}

#[test]
fn sendmail_whois_ipjailmatches_quotes_ipjailmatches() {
    let (w, body) = sendmail_scenario("sendmail-whois-ipjailmatches", "smj2", "");
    check_whois_part(&w, &body);
    assert!(body.contains(&format!("Log lines of {IP} in jail smj2 (5 failures):")));
    assert_quoted(&body, &hostile_lines(&w).join("\n"));
}

/// A ticket whose ID is not an address (a filter's `<F-ID>`) puts log text
/// into the subject: it stays one line, so it adds no header.
#[test]
fn sendmail_hostile_ticket_id_stays_in_the_subject() {
    let w = World::new(STUBS);
    let t = w.touch();
    let id = format!("x\nBcc: evil@example.com\n~! {t}\n$({t}) -oQ/tmp/x");
    let stub = w.stubs().join("sendmail");
    let s = w.spec(
        "smid",
        &format!("sendmail-whois[dest=\"{DEST}\", sender=\"{SENDER}\"]"),
        &[("/usr/sbin/sendmail", stub.to_str().expect("utf-8"))],
    );
    let mut a = w.action(&s);
    let mut info = ActionInfo::for_id(&id);
    info.set_failures(2).set_matches(&["m"]);
    a.ban(&info).expect("ban");
    w.assert_no_marker();
    let calls = w.calls("sendmail");
    assert_eq!(calls.len(), 1);
    let m = check_sendmail(&calls[0], "[Fail2Ban] smid: banned ");
    assert_eq!(
        m.header("Subject"),
        format!(
            "[Fail2Ban] smid: banned {} from {}",
            flat(&id),
            m.header("Subject").rsplit(" from ").next().expect("host")
        )
    );
    assert_eq!(w.calls("whois")[0].args, ["--", flat(&id).as_str()]);
}

/// Without the whois program the report says so, and the ban succeeds.
#[test]
fn sendmail_whois_without_whois_program() {
    let w = World::new(STUBS);
    std::fs::remove_file(w.stubs().join("whois")).expect("remove whois stub");
    // A PATH with everything of the system's but whois.
    let bin = w.path().join("bin");
    std::fs::create_dir(&bin).expect("bin");
    for dir in ["/usr/local/bin", "/usr/bin", "/bin"] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let link = bin.join(&name);
            if name == "whois" || link.symlink_metadata().is_ok() {
                continue;
            }
            std::os::unix::fs::symlink(e.path(), link).expect("symlink");
        }
    }
    let stub = w.stubs().join("sendmail");
    let s = w.spec(
        "smnw",
        &format!("sendmail-whois[dest=\"{DEST}\", sender=\"{SENDER}\"]"),
        &[("/usr/sbin/sendmail", stub.to_str().expect("utf-8"))],
    );
    let mut a = CommandAction::with_executor(
        &s,
        w.executor_path(&format!("{}:{}", w.stubs().display(), bin.display())),
    )
    .expect("action");
    a.ban(&hostile_ticket(&w)).expect("ban without whois");
    w.assert_no_marker();
    let calls = w.calls("sendmail");
    assert_eq!(calls.len(), 1);
    let m = check_sendmail(&calls[0], &format!("[Fail2Ban] smnw: banned {IP} from "));
    assert!(
        m.body.contains(
            "  (no whois information: the whois program is not installed on this host)\n"
        ),
        "{}",
        m.body
    );
}

// ---------------------------------------------------------------------------
// buffered

fn buffered_scenario(actname: &str, tool: &str) {
    let w = World::new(STUBS);
    let jail = "buf";
    let tmpfile = w.path().join("buffer.txt");
    let stub = w.stubs().join("sendmail");
    let s = w.spec(
        jail,
        &format!(
            "{actname}[dest=\"{DEST}\", sender=\"{SENDER}\", lines=2, tmpfile=\"{}\"]",
            tmpfile.display()
        ),
        &[("/usr/sbin/sendmail", stub.to_str().expect("utf-8"))],
    );
    let mut a = w.action(&s);
    a.start().expect("start");
    assert_eq!(w.calls(tool).len(), 1, "start mail");

    let t = w.touch();
    let evil_id = format!("x\n~! {t}\nBcc: evil@example.com $({t})");
    let mut first = ActionInfo::for_id(IP);
    first.set_failures(3);
    let mut second = ActionInfo::for_id(&evil_id);
    second.set_failures(4);
    let mut third = ActionInfo::for_id(IP6);
    third.set_failures(5);

    a.ban(&first).expect("ban 1");
    assert_eq!(w.calls(tool).len(), 1, "one ban is buffered");
    a.ban(&second).expect("ban 2");
    assert!(!tmpfile.exists(), "buffer sent and removed");
    a.ban(&third).expect("ban 3");
    a.stop().expect("stop");
    w.assert_no_marker();
    assert!(!tmpfile.exists(), "buffer sent at stop");

    let calls = w.calls(tool);
    assert_eq!(calls.len(), 4, "start, summary, summary, stop: {calls:#?}");
    let bodies: Vec<String> = calls
        .iter()
        .map(|c| {
            if tool == "sendmail" {
                let m = check_sendmail(c, &format!("[Fail2Ban] {jail}: "));
                m.body
            } else {
                check_mail(c, &format!("[Fail2Ban] {jail}: "))
            }
        })
        .collect();
    assert!(bodies[0].contains("reported in batches of 2"));
    let summary = &bodies[1];
    let summary_lines: Vec<&str> = summary
        .lines()
        .filter(|l| l.contains("failures)"))
        .collect();
    assert_eq!(summary_lines.len(), 2, "{summary}");
    assert!(
        summary_lines.iter().all(|l| l.starts_with("  ")),
        "{summary}"
    );
    assert!(summary_lines[0].ends_with(&format!("  {IP} (3 failures)")));
    assert!(summary_lines[1].ends_with(&format!("  {} (4 failures)", flat(&evil_id))));
    assert!(bodies[2].contains(&format!("  {IP6} (5 failures)")));
    assert!(bodies[3].contains("has been stopped"));
}

#[test]
fn sendmail_buffered_batches_bans() {
    buffered_scenario("sendmail-buffered", "sendmail");
}

#[test]
fn mail_buffered_batches_bans() {
    buffered_scenario("mail-buffered", "mail");
    let w = World::new(STUBS);
    let s = w.spec("bufm", &format!("mail-buffered[dest=\"{DEST}\"]"), &[]);
    assert!(CommandAction::with_executor(&s, w.executor())
        .expect("action")
        .norestored());
}

// ---------------------------------------------------------------------------
// mail-*

/// Checks one call of the `mail` stub: `-s SUBJECT DEST`, a safe body.
/// Returns the body.
fn check_mail(call: &Call, subject: &str) -> String {
    assert_eq!(call.args.len(), 3, "mail argv {:?}", call.args);
    assert_eq!(call.args[0], "-s");
    assert!(
        call.args[1].starts_with(subject) && !call.args[1].contains('\n'),
        "subject {:?}, want {subject:?}...",
        call.args[1]
    );
    assert_eq!(call.args[2], DEST);
    assert_safe_body(&call.stdin);
    call.stdin.clone()
}

fn mail_scenario(actname: &str, jail: &str, extra: &str) -> (World, String) {
    let w = World::new(STUBS);
    write_jail_log(&w);
    w.answer("whois", &hostile_whois(&w));
    let s = w.spec(jail, &format!("{actname}[dest=\"{DEST}\"{extra}]"), &[]);
    let mut a = w.action(&s);
    assert!(
        a.norestored(),
        "{actname}: restored bans must not be mailed"
    );
    a.start().expect("start");
    a.ban(&hostile_ticket(&w)).expect("ban");
    a.unban(&hostile_ticket(&w)).expect("unban");
    a.stop().expect("stop");
    w.assert_no_marker();
    let calls = w.calls("mail");
    assert_eq!(
        calls.len(),
        3,
        "{actname}: start, ban, stop mails: {calls:#?}"
    );
    let start = check_mail(&calls[0], &format!("[Fail2Ban] {jail}: started on "));
    assert!(start.contains(&format!("Jail {jail} has been started")));
    let stop = check_mail(&calls[2], &format!("[Fail2Ban] {jail}: stopped on "));
    assert!(stop.contains(&format!("Jail {jail} has been stopped")));
    let body = check_mail(&calls[1], &format!("[Fail2Ban] {jail}: banned {IP} from "));
    check_ban_body(&w, &body, jail);
    (w, body)
}

#[test]
fn mail_reports_hostile_ban_as_data() {
    let (w, _) = mail_scenario("mail", "mlj", "");
    assert!(w.calls("whois").is_empty());
}

#[test]
fn mail_whois_quotes_whois_answer() {
    let (w, body) = mail_scenario("mail-whois", "mlw", "");
    check_whois_part(&w, &body);
}

#[test]
fn mail_whois_lines_quotes_log_lines() {
    let (w, body) = mail_scenario("mail-whois-lines", "mll", ", logpath=\"%(logpath)s\"");
    check_whois_part(&w, &body);
    let lines: Vec<String> = hostile_lines(&w)
        .into_iter()
        .filter(|l| l.contains(IP))
        .collect();
    assert_quoted(&body, &lines.join("\n"));
    assert!(!body.contains("198.51.100.9"), "{body}");
}

/// Debian's `mail` from GNU mailutils (the `mail` alternative may point to
/// another implementation; this test wants this one).
const MAILUTILS: &str = "/usr/bin/mail.mailutils";

/// The real mail programs: Debian's `mail` (GNU mailutils) and `s-nail -~`
/// (tilde escapes on even without a terminal), each handing the message to
/// the sendmail stub.
fn real_mail(w: &World, jail: &str, mailcmd: Option<&str>, env: &[String]) -> Mail {
    write_jail_log(w);
    w.answer("whois", &hostile_whois(w));
    let extra = match mailcmd {
        Some(c) => format!(", mailcmd=\"{c}\""),
        None => String::new(),
    };
    let s = w.spec(
        jail,
        &format!("mail-whois-lines[dest=\"{DEST}\", logpath=\"%(logpath)s\"{extra}]"),
        &[],
    );
    // The stubs (whois) first on PATH, but the real mail program.
    std::fs::remove_file(w.stubs().join("mail")).expect("remove mail stub");
    if mailcmd.is_none() {
        std::os::unix::fs::symlink(MAILUTILS, w.stubs().join("mail")).expect("mail link");
    }
    let mut wrapper = vec![
        "env".to_string(),
        format!("PATH={}:/usr/bin:/bin", w.stubs().display()),
        format!("STUBLOG={}", w.log().display()),
        format!("HOME={}", w.path().display()),
    ];
    wrapper.extend(env.iter().cloned());
    let mut a = CommandAction::with_executor(&s, Executor::with_wrapper(wrapper)).expect("action");
    a.ban(&hostile_ticket(w))
        .expect("ban through the real mail");
    w.assert_no_marker();
    let calls = w.calls("sendmail");
    assert_eq!(calls.len(), 1, "one message: {calls:#?}");
    let m = Mail::parse(&calls[0].stdin);
    assert!(
        !m.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("bcc")),
        "{:?}",
        m.headers
    );
    assert!(m
        .header("Subject")
        .starts_with(&format!("[Fail2Ban] {jail}: banned {IP} from ")));
    assert_safe_body(&m.body);
    check_ban_body(w, &m.body, jail);
    assert_quoted(&m.body, &hostile_whois(w));
    // (s-nail -~ joins a line ending in a backslash with the next one, so
    // that line is not compared)
    let lines: Vec<String> = hostile_lines(w)
        .into_iter()
        .filter(|l| l.contains(IP) && !l.ends_with('\\'))
        .collect();
    assert_quoted(&m.body, &lines.join("\n"));
    m
}

#[test]
fn real_debian_mail_runs_no_tilde_escape() {
    assert!(
        Path::new(MAILUTILS).is_file(),
        "this test needs {MAILUTILS} (Debian package mailutils)"
    );
    let w = World::new(STUBS);
    let rc = w.path().join("mailrc");
    std::fs::write(
        &rc,
        format!("set sendmail=sendmail://{}/sendmail\n", w.stubs().display()),
    )
    .expect("mailrc");
    let m = real_mail(&w, "rml", None, &[format!("MAILRC={}", rc.display())]);
    assert!(m.headers.iter().any(|(k, v)| k == "To" && v.contains(DEST)));
}

#[test]
fn s_nail_with_escapes_on_runs_no_tilde_escape() {
    require_tools(&["s-nail"]);
    let w = World::new(STUBS);
    let stub = w.stubs().join("sendmail");
    let mailcmd = format!("s-nail -~ -:/ -S mta={} -s", stub.display());

    // Control: this s-nail does run "~!" lines of a body on a pipe, so the
    // test below would notice an escape getting through.
    let control = w.path().join("CONTROL");
    let script = format!(
        "printf 'body\\n~! touch {}\\n' | {mailcmd} subject {DEST}",
        control.display()
    );
    gaoler_testkit::run(&[
        "env",
        &format!("STUBLOG={}", w.log().display()),
        "sh",
        "-c",
        &script,
    ]);
    assert!(
        control.exists(),
        "s-nail -~ should have run the control escape"
    );
    w.clear();

    let m = real_mail(&w, "rsn", Some(&mailcmd), &[]);
    assert_eq!(m.header("To"), DEST);
}

// ---------------------------------------------------------------------------
// Web APIs (curl)

/// The value of the argument after `flag` whose value starts with `prefix`.
fn arg_after<'a>(args: &'a [String], flag: &str, prefix: &str) -> Vec<&'a str> {
    args.windows(2)
        .filter(|p| p[0] == flag && p[1].starts_with(prefix))
        .map(|p| p[1].as_str())
        .collect()
}

#[test]
fn abuseipdb_sends_log_lines_as_one_urlencoded_value() {
    let w = World::new(STUBS);
    let s = w.spec(
        "aij",
        "abuseipdb[abuseipdb_apikey=\"k3y-secret\", abuseipdb_category=\"18,22\"]",
        &[],
    );
    let mut a = w.action(&s);
    assert!(a.norestored());
    a.start().expect("start");
    let info = hostile_ticket(&w);
    a.ban(&info).expect("ban");
    a.unban(&info).expect("unban");
    a.stop().expect("stop");
    w.assert_no_marker();
    let calls = w.calls("curl");
    assert_eq!(calls.len(), 1, "one report: {calls:#?}");
    let c = &calls[0];
    let matches = hostile_lines(&w).join("\n");
    assert!(matches.len() < 1000);
    assert_eq!(
        arg_after(&c.args, "--data-urlencode", "comment="),
        [format!("comment={matches}")],
        "the log lines, whole, as one value: {:?}",
        c.args
    );
    assert_eq!(
        arg_after(&c.args, "--data-urlencode", "ip="),
        [format!("ip={IP}")]
    );
    assert_eq!(
        arg_after(&c.args, "--data-urlencode", "categories="),
        ["categories=18,22"]
    );
    assert_eq!(arg_after(&c.args, "-H", "@-"), ["@-"]);
    assert_eq!(
        c.args.last().map(String::as_str),
        Some("https://api.abuseipdb.com/api/v2/report")
    );
    assert_eq!(c.stdin, "Key: k3y-secret\nAccept: application/json\n");
    assert!(
        !c.args.iter().any(|a| a.contains("k3y-secret")),
        "the key must not be on the command line: {:?}",
        c.args
    );
    // Every argument is one of ours or one of our "name=value" data.
    for arg in &c.args {
        assert!(
            arg.starts_with('-')
                || arg.starts_with("comment=")
                || arg.starts_with("ip=")
                || arg.starts_with("categories=")
                || arg == "@-"
                || arg == "/dev/null"
                || arg == "30"
                || arg.starts_with("https://"),
            "unexpected curl argument {arg:?}"
        );
    }
}

#[test]
fn abuseipdb_cuts_long_comments_and_needs_its_settings() {
    let w = World::new(STUBS);
    let s = w.spec(
        "ai2",
        "abuseipdb[abuseipdb_apikey=\"k\", abuseipdb_category=\"18\"]",
        &[],
    );
    let mut a = w.action(&s);
    let mut info = ActionInfo::for_id(IP);
    let long = "é".repeat(300) + &"x".repeat(2000);
    info.set_failures(9).set_matches(&[long.as_str()]);
    a.ban(&info).expect("ban");
    let c = &w.calls("curl")[0];
    let comment = arg_after(&c.args, "--data-urlencode", "comment=")[0];
    assert_eq!(comment.len(), "comment=".len() + 1000);

    // Without a category (or a key) nothing is sent, and the ban says why.
    let w = World::new(STUBS);
    let s = w.spec("ai3", "abuseipdb[abuseipdb_apikey=\"k\"]", &[]);
    let mut a = w.action(&s);
    assert!(a.ban(&info).is_err(), "a report without categories");
    assert!(w.calls("curl").is_empty());
}

#[test]
fn abuseipdb_comment_can_leave_out_log_lines() {
    let w = World::new(STUBS);
    let s = w.spec("ai4",
        "abuseipdb[abuseipdb_apikey=\"k\", abuseipdb_category=\"18\", abuseipdb_comment=\"<name>: <failures> failures\"]",
        &[],
    );
    let mut a = w.action(&s);
    a.ban(&hostile_ticket(&w)).expect("ban");
    let c = &w.calls("curl")[0];
    assert_eq!(
        arg_after(&c.args, "--data-urlencode", "comment="),
        ["comment=ai4: 3 failures"]
    );
}

/// One Cloudflare action: ban and unban of an IPv4 and an IPv6 address.
fn cloudflare_scenario(action_line: &str, jail: &str, url: &str, headers: &str) {
    let w = World::new(STUBS);
    let s = w.spec(jail, action_line, &[]);
    let mut a = w.action(&s);
    a.start().expect("start");
    for (addr, target) in [(IP, "ip"), (IP6, "ip6")] {
        w.clear();
        let mut info = ActionInfo::for_id(addr);
        info.set_failures(3).set_matches(&hostile_lines(&w));
        a.ban(&info).expect("ban");
        let calls = w.calls("curl");
        assert_eq!(calls.len(), 1, "{calls:#?}");
        let c = &calls[0];
        assert_eq!(c.stdin, headers);
        assert!(c.args.windows(2).any(|p| p == ["-X", "POST"]));
        assert_eq!(
            arg_after(&c.args, "--data", "{"),
            [format!(
                "{{\"mode\":\"block\",\"configuration\":{{\"target\":\"{target}\",\"value\":\"{addr}\"}},\"notes\":\"Fail2Ban {jail}\"}}"
            )]
        );
        assert_eq!(c.args.last().map(String::as_str), Some(url));

        // Unban: look the rule up, delete it by its ID.
        w.clear();
        w.answer(
            "curl",
            "{\"result\":[{\"id\":\"92f17202ed8bd63d69a66b86a49a8f6b\",\"paused\":false}],\"success\":true}",
        );
        a.unban(&info).expect("unban");
        let calls = w.calls("curl");
        assert_eq!(calls.len(), 2, "{calls:#?}");
        assert!(calls[0].args.contains(&"-G".to_string()));
        assert_eq!(
            arg_after(&calls[0].args, "--data-urlencode", "configuration.value="),
            [format!("configuration.value={addr}")]
        );
        assert_eq!(
            arg_after(&calls[0].args, "--data-urlencode", "configuration.target="),
            [format!("configuration.target={target}")]
        );
        assert_eq!(calls[0].stdin, headers);
        assert!(calls[1].args.windows(2).any(|p| p == ["-X", "DELETE"]));
        assert_eq!(
            calls[1].args.last().map(String::as_str),
            Some(format!("{url}/92f17202ed8bd63d69a66b86a49a8f6b").as_str())
        );
        assert_eq!(calls[1].stdin, headers);
        std::fs::remove_file(w.log().join("curl.out")).expect("answer");
    }

    // A hostile answer's "ID" is not used.
    w.clear();
    let t = w.touch();
    w.answer(
        "curl",
        &format!("{{\"result\":[{{\"id\":\"../x$({t})\"}}],\"success\":true}}"),
    );
    a.unban(&ActionInfo::for_id(IP))
        .expect("unban, rule not found");
    assert_eq!(w.calls("curl").len(), 1, "no DELETE with a bad ID");

    // A ticket that is not an address is never sent.
    w.clear();
    let mut evil = ActionInfo::for_id(&format!("{IP}\",\"mode\":\"whitelist\" $({t})"));
    evil.set_failures(3);
    assert!(a.ban(&evil).is_err(), "not an address");
    assert!(w.calls("curl").is_empty());
    a.stop().expect("stop");
    w.assert_no_marker();
    for c in w.calls("curl") {
        for secret in ["glob-key-1", "tok-456"] {
            assert!(!c.args.iter().any(|a| a.contains(secret)));
        }
    }
}

#[test]
fn cloudflare_bans_and_unbans_addresses_only() {
    cloudflare_scenario(
        "cloudflare[cfuser=\"me@example.com\", cftoken=\"glob-key-1\"]",
        "cfj",
        "https://api.cloudflare.com/client/v4/user/firewall/access_rules/rules",
        "X-Auth-Email: me@example.com\nX-Auth-Key: glob-key-1\nContent-Type: application/json\n",
    );
}

#[test]
fn cloudflare_token_bans_and_unbans_addresses_only() {
    cloudflare_scenario(
        "cloudflare-token[cfzone=\"0123456789abcdef\", cftoken=\"tok-456\"]",
        "cft",
        "https://api.cloudflare.com/client/v4/zones/0123456789abcdef/firewall/access_rules/rules",
        "Authorization: Bearer tok-456\nContent-Type: application/json\n",
    );
}

#[test]
fn blocklist_de_sends_log_lines_as_one_urlencoded_value() {
    let w = World::new(STUBS);
    let s = w.spec("bld",
        "blocklist_de[email=\"me@example.com\", apikey=\"bl-key-9\", service=\"ssh\", agent=\"gaoler-test/1\"]",
        &[],
    );
    let mut a = w.action(&s);
    assert!(a.norestored());
    a.ban(&hostile_ticket(&w)).expect("ban");
    a.unban(&hostile_ticket(&w)).expect("unban");
    w.assert_no_marker();
    let calls = w.calls("curl");
    assert_eq!(calls.len(), 1);
    let c = &calls[0];
    assert_eq!(
        arg_after(&c.args, "--data-urlencode", "logs="),
        [format!("logs={}", hostile_lines(&w).join("\n"))]
    );
    for want in [
        "server=me@example.com".to_string(),
        "service=ssh".to_string(),
        format!("ip={IP}"),
        "apikey@-".to_string(),
    ] {
        assert_eq!(
            arg_after(&c.args, "--data-urlencode", &want),
            [want.as_str()]
        );
    }
    assert_eq!(arg_after(&c.args, "--user-agent", ""), ["gaoler-test/1"]);
    assert_eq!(c.stdin, "bl-key-9");
    assert_eq!(
        c.args.last().map(String::as_str),
        Some("https://www.blocklist.de/en/httpreports.html")
    );
}

// ---------------------------------------------------------------------------
// apprise

#[test]
fn apprise_notifies_with_flattened_address() {
    let w = World::new(STUBS);
    let s = w.spec("apj", "apprise[args=\"-g gaoler\"]", &[]);
    let mut a = w.action(&s);
    assert!(a.norestored());
    a.start().expect("start");
    let t = w.touch();
    let id = format!("x\n-oQ/tmp/x\n$({t})");
    let mut info = ActionInfo::for_id(&id);
    info.set_failures(3).set_matches(&hostile_lines(&w));
    a.ban(&info).expect("ban");
    a.unban(&info).expect("unban");
    a.stop().expect("stop");
    w.assert_no_marker();
    let calls = w.calls("apprise");
    assert_eq!(calls.len(), 3, "{calls:#?}");
    let base = ["-c", "/etc/gaoler/apprise.conf", "-g", "gaoler"];
    assert_eq!(calls[0].args[..4], base);
    assert_eq!(calls[0].args[4], "-t");
    assert!(calls[0].args[5].starts_with("[Fail2Ban] apj: started on "));
    assert_eq!(calls[1].args[..4], base);
    assert_eq!(calls[1].args[4..7], ["-n", "warning", "-t"]);
    assert!(calls[1].args[7].starts_with(&format!("[Fail2Ban] apj: banned {} from ", flat(&id))));
    assert!(calls[1]
        .stdin
        .contains(&format!("has banned {} after 3 failures.", flat(&id))));
    assert!(calls[2].args[5].starts_with("[Fail2Ban] apj: stopped on "));
}

// ---------------------------------------------------------------------------
// Complaints to abuse contacts (the contacts come from DNS)

/// A DNS answer with two good contacts and words that must not become
/// recipients (options, command substitutions, quotes).
fn hostile_dig(w: &World) -> String {
    let t = w.touch();
    format!(
        "\"abuse@example.org, -oQ/tmp/x@evil.example, $({t})@x.example\" \"noc@example.net\" \"`{t}`@y.example;-t\"\n"
    )
}

#[test]
fn complain_mails_only_valid_contacts() {
    let w = World::new(STUBS);
    write_jail_log(&w);
    w.answer("dig", &hostile_dig(&w));
    let s = w.spec("cpl", "complain[logpath=\"%(logpath)s\"]", &[]);
    let mut a = w.action(&s);
    assert!(a.norestored());
    a.ban(&hostile_ticket(&w)).expect("ban");
    w.assert_no_marker();
    let dig = w.calls("dig");
    assert_eq!(dig.len(), 1);
    assert_eq!(
        dig[0].args,
        [
            "+short",
            "-t",
            "txt",
            "-q",
            "10.2.0.192.abuse-contacts.abusix.org"
        ]
    );
    let calls = w.calls("mail");
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(
        calls[0].args,
        [
            "-s",
            &format!("Abuse from {IP}"),
            "abuse@example.org",
            "noc@example.net"
        ]
    );
    let body = &calls[0].stdin;
    assert_safe_body(body);
    assert!(
        body.contains(&format!("abuse from the address {IP}, which")),
        "{body}"
    );
    let lines: Vec<String> = hostile_lines(&w)
        .into_iter()
        .filter(|l| l.contains(IP))
        .collect();
    assert_quoted(body, &lines.join("\n"));

    // No contact: nothing is sent, the ban is fine. Not an address: refused.
    w.clear();
    w.answer("dig", "");
    a.ban(&hostile_ticket(&w)).expect("ban without contacts");
    assert!(w.calls("mail").is_empty());
    let t = w.touch();
    let mut evil = ActionInfo::for_id(&format!("x\\n~! {t}"));
    evil.set_failures(1);
    assert!(a.ban(&evil).is_err());
    assert!(w.calls("dig").len() == 1 && w.calls("mail").is_empty());
    w.assert_no_marker();
}

#[test]
fn xarf_report_keeps_log_lines_in_their_part() {
    let w = World::new(STUBS);
    w.answer("dig", &hostile_dig(&w));
    let stub = w.stubs().join("sendmail");
    let s = w.spec(
        "xrf",
        &format!("xarf-login-attack[service=ssh, sender=\"{SENDER}\", port=22]"),
        &[("/usr/sbin/sendmail", stub.to_str().expect("utf-8"))],
    );
    let mut a = w.action(&s);
    assert!(a.norestored());
    let mut info = hostile_ticket(&w);
    info.set_time(1_700_000_000.25);
    a.ban(&info).expect("ban");
    w.assert_no_marker();
    let calls = w.calls("sendmail");
    assert_eq!(calls.len(), 1, "{calls:#?}");
    let c = &calls[0];
    assert_eq!(
        c.args,
        [
            "-i",
            "-f",
            SENDER,
            "--",
            "abuse@example.org",
            "noc@example.net"
        ]
    );
    let m = Mail::parse(&c.stdin);
    let names: Vec<&str> = m.headers.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "Subject",
            "From",
            "To",
            "Auto-Submitted",
            "X-XARF",
            "MIME-Version",
            "Content-Type"
        ]
    );
    assert!(m
        .header("Subject")
        .starts_with(&format!("abuse report about {IP} - ")));
    assert!(m.header("Subject").contains("Nov 2023"), "the ban's date");
    assert_eq!(m.header("To"), "abuse@example.org, noc@example.net");
    let ct = m.header("Content-Type");
    let boundary = ct
        .split("boundary=\"")
        .nth(1)
        .and_then(|b| b.strip_suffix('"'))
        .expect("boundary");
    assert!(boundary.len() > 20, "a random boundary: {boundary}");
    let parts: Vec<&str> = m.body.split(&format!("--{boundary}")).collect();
    assert_eq!(parts.len(), 5, "preamble, 3 parts, end: {}", m.body);
    assert!(parts[2].contains(&format!("\nSource: {IP}\n")));
    assert!(parts[2].contains("\nService: ssh\n") && parts[2].contains("\nPort: 22\n"));
    assert!(parts[2].contains("\nOccurances: 3\n"));
    assert!(parts[2].contains("\nReport-ID: 1700000000.25@"));
    assert!(
        parts[3].contains(&hostile_lines(&w).join("\n")),
        "{}",
        parts[3]
    );
    assert_eq!(parts[4], "--\n");
}

// ---------------------------------------------------------------------------
// Every command of every action is valid shell

#[test]
fn every_command_parses() {
    let w = World::new(STUBS);
    let actions = [
        "sendmail-common",
        "sendmail",
        "sendmail-whois",
        "sendmail-whois-lines",
        "sendmail-whois-matches",
        "sendmail-whois-ipmatches",
        "sendmail-whois-ipjailmatches",
        "sendmail-buffered",
        "mail",
        "mail-whois",
        "mail-whois-lines",
        "mail-buffered",
        "abuseipdb",
        "cloudflare",
        "cloudflare-token",
        "apprise",
        "blocklist_de",
        "xarf-login-attack",
        "complain",
    ];
    for (i, name) in actions.iter().enumerate() {
        let line = format!("{name}[sender=\"{SENDER}\", dest=\"{DEST}\"]");
        let s = w.spec(&format!("p{i}"), &line, &[]);
        let mut a = w.action(&s);
        for ip in [IP, IP6] {
            let info = hostile_ticket(&w);
            let mut info = info.with("ip", ip);
            info.set_time(1_700_000_000.0);
            for cmd in [
                "<actionstart>",
                "<actionstop>",
                "<actioncheck>",
                "<actionban>",
                "<actionunban>",
            ] {
                let c = a.render(cmd, &info).expect("render");
                assert_eq!(
                    unresolved_tags(&c.script),
                    Vec::<String>::new(),
                    "{name} {cmd}: unresolved tags in {}",
                    c.script
                );
                let out = std::process::Command::new("/bin/sh")
                    .arg("-n")
                    .arg("-c")
                    .arg(&c.script)
                    .output()
                    .expect("sh -n");
                assert!(
                    out.status.success(),
                    "{name} {cmd}: {}\n{}",
                    String::from_utf8_lossy(&out.stderr),
                    c.script
                );
            }
        }
    }
}

/// `<tag>`s left in a script (an address in angle brackets is no tag).
fn unresolved_tags(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = script;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let end = rest
            .find(|c: char| c == '>' || c == '<' || c.is_whitespace())
            .unwrap_or(rest.len());
        if rest[end..].starts_with('>') && end > 0 && !rest[..end].contains('@') {
            out.push(rest[..end].to_string());
        }
    }
    out
}
