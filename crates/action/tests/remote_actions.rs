//! gaoler's own reporting and remote actions (`config/action.d`): dshield,
//! mynetwatchman, ipthreat, nginx-block-map, nsupdate, mikrotik, netscaler,
//! symbiosis-blacklist-allports, shorewall-ipset-proto6,
//! sendmail-geoip-lines, and the BSD/macOS firewalls bsd-ipfw, ipfw, npf,
//! ipfilter, osx-afctl and osx-ipfw.
//!
//! Each action runs for real (through the configuration reader and
//! `CommandAction`), with every program it calls (`curl`, `wget`, `mail`,
//! `sendmail`, `nsupdate`, `ssh`, `ipset`, `iptables`, `ipfw`, `npfctl`,
//! `ipf`, `afctl`, `nginx`, `geoiplookup`) replaced by a recording stub
//! first on PATH or named in the action's command parameter. A stub writes
//! its argv (NUL separated) and its stdin to a log directory and prints a
//! canned answer, so a test sees exactly what an action asked for.
//!
//! The tickets carry hostile text wherever a log line, a DNS answer or a
//! database can reach: `<matches>`, `<F-USER>`, `<ip-host>`, the GeoIP
//! answer, and the ticket ID itself (`<ip>`, `<fid>`: a filter's `<F-ID>`
//! need not be an address). The texts would create a marker file if they
//! ever ran (command substitutions, backquotes, `;`, mail's `~!`), or try to
//! add a header, a query field, a JSON field, a map line, an option. Every
//! test asserts that the marker never exists and that the text arrived as
//! data: verbatim where the action passes it on, or refused where the
//! action only accepts an IP address.
//!
//! Two actions that work on Linux firewalls also run for real, inside a
//! private network namespace (never the host's firewall), and traffic from
//! a second namespace shows that a ban blocks and an unban unblocks:
//! symbiosis-blacklist-allports (iptables/ip6tables, with the `blacklist`
//! chain Symbiosis would make) and shorewall-ipset-proto6 (ipset, with the
//! rule Shorewall's blrules would make). Those two tests need root, `ip`,
//! `iptables`, `ip6tables` and `ipset`; a missing requirement FAILS them.
//! nginx-block-map also runs against a real nginx in a namespace: the map
//! it writes, hostile keys and all, must pass `nginx -t`, and requests
//! with a banned session cookie get 403 after the action's reload, others
//! 200 (needs root, `ip`, `nginx`, `curl`).
//! Everything else needs no root, network or firewall.

use std::path::Path;

use gaoler_action::{ActionInfo, CommandAction, Executor};

// (only `shipped` is used here)
#[allow(dead_code)]
mod common;

use common::stubs::World;

const IP: &str = "192.0.2.10";
const IP6: &str = "2001:db8::10";
const DEST: &str = "admin@example.com";
const SENDER: &str = "gaoler@example.net";
/// The time of every ban: 2023-11-14 22:13:20 UTC.
const TIME: f64 = 1_700_000_000.25;

/// The stubbed programs.
const STUBS: &[&str] = &[
    "curl",
    "wget",
    "mail",
    "sendmail",
    "nsupdate",
    "ssh",
    "ipset",
    "iptables",
    "ip6tables",
    "ipfw",
    "npfctl",
    "ipf",
    "afctl",
    "nginx",
    "geoiplookup",
];

/// The action of `jail` configured by the line `line`, run with the stubs.
fn action(w: &World, jail: &str, line: &str) -> CommandAction {
    action_replacing(w, jail, line, &[])
}

fn action_replacing(w: &World, jail: &str, line: &str, replace: &[(&str, &str)]) -> CommandAction {
    w.action(&w.spec(jail, line, replace))
}

// ---------------------------------------------------------------------------
// Hostile input

/// Log lines of a ban: each would run `touch <marker>` if a shell or `mail`
/// ever read it as code; others try to pass for headers or options.
fn hostile_lines(w: &World) -> Vec<String> {
    let t = w.touch();
    vec![
        format!("sshd[11]: Failed password for `$(id)` from {IP} port 22"),
        format!("sshd[12]: Failed password for $({t}) from {IP}"),
        format!("sshd[13]: Failed password for ;{t}; from {IP}"),
        format!("~! {t} # {IP}"),
        format!("~!{t} # {IP}"),
        format!("Bcc: evil@example.com {IP}"),
        format!("Subject: evil {IP}"),
        format!("-oQ/tmp/x {IP}"),
        format!("sshd[14]: Invalid user o'brien from {IP}"),
    ]
}

/// A user name captured by the filter.
fn hostile_user(w: &World) -> String {
    let t = w.touch();
    format!("root\n~! {t}\nBcc: evil@example.com\n$({t})\n-oQ/tmp/x")
}

/// Ticket IDs that are not addresses: what a filter's `<F-ID>` (or a
/// broken `<HOST>`) can hand an action.
fn hostile_ids(w: &World) -> Vec<String> {
    let t = w.touch();
    vec![
        "`$(id)`".to_string(),
        format!("$({t})"),
        format!(";{t};"),
        format!("~! {t}"),
        format!("x\n~!{t}\nSubject: evil\nBcc: evil@example.com"),
        "-oQ/tmp/x".to_string(),
        "'".to_string(),
        format!("a' ; {t} ; '"),
        format!("\"; {t}; \""),
        "../../../etc/passwd".to_string(),
        format!("192.0.2.1 -j ACCEPT; {t}"),
        format!("{IP}\n{t}"),
    ]
}

/// A ticket for `id` with hostile log-derived values everywhere.
fn ticket(w: &World, id: &str) -> ActionInfo {
    let lines = hostile_lines(w);
    let t = w.touch();
    let mut info = ActionInfo::for_id(id);
    info.set_failures(3)
        .set_time(TIME)
        .set_bantime(600)
        .set_matches(&lines)
        .set("ipmatches", lines.join("\n"))
        .set("ipjailmatches", lines.join("\n"))
        .set(
            "ip-host",
            format!("evil.example\n~! {t}\nBcc: x@example.com $({t})"),
        )
        .set_restored(false)
        .set_data("user", hostile_user(w));
    info
}

/// Bans every hostile ticket ID, and runs the unban command for it: each
/// must be refused before the ID reaches any program, and nothing may run.
/// (The unban command is run directly: an action unbans only in a family
/// that had a ban, and these IDs have no family.) A program may still be
/// called without the ID, e.g. by `actioncheck` before the ban's retry.
fn assert_refuses_hostile_ids(w: &World, a: &mut CommandAction) {
    w.clear();
    for id in hostile_ids(w) {
        assert!(a.ban(&ticket(w, &id)).is_err(), "ban of {id:?} accepted");
        let unban = a
            .render("<actionunban>", &ticket(w, &id))
            .expect("unban command");
        let out = w
            .executor()
            .execute(&unban, std::time::Duration::from_secs(30));
        assert!(!out.success(), "unban of {id:?} accepted: {unban:?}");
        for tool in STUBS {
            for c in w.calls(tool) {
                assert!(
                    !c.args.iter().any(|a| a.contains(&id)) && !c.stdin.contains(&id),
                    "{id:?} reached {tool}: {c:?}"
                );
            }
        }
        w.clear();
    }
    w.assert_no_marker();
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// `%XX` decoding of a query value.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(&b[i + 1..i + 3]).expect("hex");
            out.push(u8::from_str_radix(h, 16).expect("hex"));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8")
}

/// The fields of a query string, decoded.
fn query_fields(url: &str) -> Vec<(String, String)> {
    let (_, q) = url.split_once('?').expect("query");
    q.split('&')
        .map(|f| {
            let (k, v) = f.split_once('=').expect("field");
            (k.to_string(), percent_decode(v))
        })
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    let found: Vec<&str> = fields
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(found.len(), 1, "field {name} in {fields:?}");
    found[0]
}

// ---------------------------------------------------------------------------
// dshield

/// A dshield ticket: banned now (the buffer's age counts from the ban).
fn dshield_ticket(w: &World, id: &str, now: u64) -> ActionInfo {
    let mut info = ticket(w, id);
    info.set_time(now as f64 + 0.5);
    info
}

#[test]
fn dshield_buffers_and_mails_reports() {
    let w = World::new(STUBS);
    let tmp = w.p("dshield");
    let mut a = action(
        &w,
        "ds",
        &format!(
            "dshield[port=22, userid=12345, myip=203.0.113.1, lines=2, tmpfile=\"{tmp}\", dest=\"{DEST}\"]"
        ),
    );
    assert!(a.norestored(), "restored bans must not be reported");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{now}"), "+%Y-%m-%d %H:%M:%S +00:00"])
        .output()
        .expect("date");
    let stamp = String::from_utf8(out.stdout).expect("utf-8");
    let stamp = stamp.trim_end();

    a.start().expect("start");
    let evil = format!("x\t~! {}\n~!{}", w.touch(), w.touch());
    a.ban(&dshield_ticket(&w, IP, now)).expect("ban 1");
    assert!(w.calls("mail").is_empty(), "one line is only buffered");
    a.ban(&dshield_ticket(&w, &evil, now)).expect("ban 2");
    a.ban(&dshield_ticket(&w, IP6, now)).expect("ban 3");
    a.unban(&dshield_ticket(&w, IP, now)).expect("unban");
    let mails = w.calls("mail");
    assert_eq!(mails.len(), 1, "two lines make a report: {mails:#?}");
    a.stop().expect("stop");
    w.assert_no_marker();
    let mails = w.calls("mail");
    assert_eq!(mails.len(), 2, "the rest goes out at stop: {mails:#?}");

    for m in &mails {
        assert_eq!(
            m.args,
            strings(&["-s", "FORMAT DSHIELD USERID 12345 TZ +00:00 Fail2Ban", DEST])
        );
        for l in m.stdin.lines() {
            assert!(l.starts_with(&format!("{stamp}\t")), "{l:?}");
        }
    }
    let line = |addr: &str| format!("{stamp}\t12345\t3\t{addr}\t???\t203.0.113.1\t22\t6\t\n");
    let flat_evil = evil.replace(['\t', '\n'], " ");
    assert_eq!(mails[0].stdin, format!("{}{}", line(IP), line(&flat_evil)));
    assert_eq!(mails[1].stdin, line(IP6));
    assert!(!Path::new(&format!("{tmp}.buffer")).exists());
    assert!(Path::new(&format!("{tmp}.lastsent")).exists());

    // a buffer older than maxbufferage goes out at the next unban, or at
    // once with a ban that old
    w.clear();
    a.ban(&dshield_ticket(&w, IP, now)).expect("ban");
    assert!(w.calls("mail").is_empty());
    std::fs::write(format!("{tmp}.first"), format!("{}\n", now - 30_000)).expect("first");
    a.unban(&dshield_ticket(&w, IP, now)).expect("unban");
    assert_eq!(w.calls("mail").len(), 1, "old buffer sent at unban");
    a.ban(&dshield_ticket(&w, IP6, now - 30_000))
        .expect("old ban");
    assert_eq!(w.calls("mail").len(), 2, "old ban sent at once");

    // every hostile ID stays one field of one line
    w.clear();
    let ids = hostile_ids(&w);
    for id in &ids {
        a.ban(&dshield_ticket(&w, id, now)).expect("ban");
    }
    a.stop().expect("stop");
    w.assert_no_marker();
    let sent: Vec<String> = w
        .calls("mail")
        .iter()
        .flat_map(|m| m.stdin.lines().map(str::to_string).collect::<Vec<_>>())
        .collect();
    assert_eq!(sent.len(), ids.len(), "{sent:#?}");
    for (l, id) in sent.iter().zip(&ids) {
        let f: Vec<&str> = l.split('\t').collect();
        assert_eq!(f.len(), 9, "{l:?}");
        assert_eq!(f[0], stamp);
        assert_eq!(f[3], id.replace(['\t', '\n'], " "));
    }
}

// ---------------------------------------------------------------------------
// mynetwatchman

#[test]
fn mynetwatchman_encodes_every_query_value() {
    let w = World::new(STUBS);
    let tmp = w.p("mnw");
    let pass = "p&ss=w;rd $x'`";
    let mut a = action(
        &w,
        "mnw",
        &format!(
            "mynetwatchman[port=22, mnwlogin=\"me@example.com\", mnwpass=\"{pass}\", myip=203.0.113.1, tmpfile=\"{tmp}\"]"
        ),
    );
    w.answer("wget", "<html>Attack Report Insert Successful</html>\n");
    a.start().expect("start");
    let mut ids = vec![
        IP.to_string(),
        format!("x&AttackerIP=198.51.100.1\n$({})", w.touch()),
    ];
    ids.extend(hostile_ids(&w));
    for id in &ids {
        a.ban(&ticket(&w, id)).expect("ban");
    }
    a.stop().expect("stop");
    w.assert_no_marker();
    let calls = w.calls("wget");
    assert_eq!(calls.len(), ids.len());
    for (call, id) in calls.iter().zip(&ids) {
        let url = call.args.last().expect("url");
        assert!(url.starts_with("http://mynetwatchman.com/insertwebreport.asp?AT=2&AV=0&"));
        assert!(
            call.args[..call.args.len() - 1]
                .iter()
                .all(|a| a.starts_with("--")),
            "options only before the address: {:?}",
            call.args
        );
        let f = query_fields(url);
        assert_eq!(f.len(), 11, "{f:?}");
        assert_eq!(field(&f, "AgentEmail"), "me@example.com");
        assert_eq!(field(&f, "AgentPassword"), pass);
        assert_eq!(field(&f, "AttackerIP"), id.as_str());
        assert_eq!(field(&f, "SrcPort"), "0");
        assert_eq!(field(&f, "ProtocolID"), "6");
        assert_eq!(field(&f, "DestPort"), "22");
        assert_eq!(field(&f, "AttackCount"), "3");
        assert_eq!(field(&f, "VictimIP"), "203.0.113.1");
        assert_eq!(field(&f, "AttackDateTime"), "2023-11-14 22:13:20");
        assert!(call.args.contains(&"--user-agent=Fail2ban".to_string()));
    }

    // an answer without the success message fails the ban and is kept
    w.answer("wget", "Login failed\n");
    assert!(a.ban(&ticket(&w, IP)).is_err());
    assert_eq!(
        std::fs::read_to_string(format!("{tmp}.out")).expect("answer kept"),
        "Login failed\n"
    );

    // without credentials nothing is sent
    w.clear();
    let mut a = action(&w, "mnw2", "mynetwatchman[port=22]");
    assert!(a.ban(&ticket(&w, IP)).is_err());
    w.assert_no_calls();
}

// ---------------------------------------------------------------------------
// ipthreat

#[test]
fn ipthreat_posts_json_with_key_on_stdin() {
    let w = World::new(STUBS);
    let mut a = action(&w, "ipt", "ipthreat[ipthreat_apikey=\"K3Y\"]");
    assert!(a.norestored());
    a.start().expect("start");
    let mut ids = vec![IP.to_string(), IP6.to_string()];
    ids.extend(hostile_ids(&w));
    for id in &ids {
        a.ban(&ticket(&w, id)).expect("ban");
        a.unban(&ticket(&w, id)).expect("unban");
    }
    a.stop().expect("stop");
    w.assert_no_marker();
    let calls = w.calls("curl");
    assert_eq!(calls.len(), ids.len(), "one report per ban, none per unban");
    for (call, id) in calls.iter().zip(&ids) {
        assert_eq!(
            call.stdin,
            "X-API-KEY: K3Y\nContent-Type: application/json\n"
        );
        let n = call.args.len();
        assert_eq!(
            call.args[..n - 2],
            strings(&[
                "-sS",
                "--fail",
                "--max-time",
                "30",
                "-o",
                "/dev/null",
                "-H",
                "@-",
                "-X",
                "POST",
                "--data-raw"
            ])[..]
        );
        assert_eq!(call.args[n - 1], "https://api.ipthreat.net/api/report");
        let report: serde_json::Value = serde_json::from_str(&call.args[n - 2])
            .unwrap_or_else(|e| panic!("{e}: {:?}", call.args[n - 2]));
        assert_eq!(
            report,
            serde_json::json!({"ip": id, "flags": "8", "system": "ipt", "notes": "fail2ban"})
        );
    }

    // flags and system per jail; no key, no report
    w.clear();
    let mut a = action(
        &w,
        "ipt2",
        "ipthreat[ipthreat_apikey=k, ipthreat_flags=\"BruteForce,PortScan\", ipthreat_system=SSH]",
    );
    a.ban(&ticket(&w, IP)).expect("ban");
    let calls = w.calls("curl");
    let report: serde_json::Value =
        serde_json::from_str(&calls[0].args[calls[0].args.len() - 2]).expect("json");
    assert_eq!(report["flags"], "BruteForce,PortScan");
    assert_eq!(report["system"], "SSH");
    w.clear();
    let mut a = action(&w, "ipt3", "ipthreat");
    assert!(a.ban(&ticket(&w, IP)).is_err(), "no key");
    w.assert_no_calls();
}

// ---------------------------------------------------------------------------
// nginx-block-map

/// Reads the key of one map line written by the action, undoing nginx's
/// quoting and map's leading backslash; `None` if the line is not one
/// quoted key followed by ` 1;`.
fn nginx_map_key(line: &str) -> Option<String> {
    let rest = line.strip_prefix('"')?;
    let mut key = String::new();
    let mut chars = rest.chars();
    loop {
        match chars.next()? {
            '"' => break,
            '\\' => match chars.next()? {
                'n' => key.push('\n'),
                'r' => key.push('\r'),
                't' => key.push('\t'),
                c @ ('"' | '\'' | '\\') => key.push(c),
                c => {
                    key.push('\\');
                    key.push(c);
                }
            },
            c if c == '\n' || c == '\r' => return None,
            c => key.push(c),
        }
    }
    if chars.as_str() != " 1;" {
        return None;
    }
    // map drops one leading backslash: the key is taken literally
    key.strip_prefix('\\').map(str::to_string)
}

#[test]
fn nginx_block_map_writes_quoted_keys() {
    let w = World::new(STUBS);
    let map = w.p("blacklisted.map");
    let pid = w.p("nginx.pid");
    let mut a = action(
        &w,
        "ngx",
        &format!("nginx-block-map[blck_lst_file=\"{map}\", srv_pid=\"{pid}\"]"),
    );
    assert!(!a.start_on_demand());
    a.start().expect("start");
    assert_eq!(std::fs::read_to_string(&map).expect("map"), "");
    assert!(w.calls("nginx").is_empty(), "no reload at start");

    // nginx not running: the map is written, nginx left alone
    a.ban(&ticket(&w, "sess1")).expect("ban");
    assert!(w.calls("nginx").is_empty());
    std::fs::write(&pid, "1\n").expect("pid file");

    let mut ids = vec![
        "sess2".to_string(),
        "default".to_string(),
        "~.*".to_string(),
    ];
    ids.extend(hostile_ids(&w));
    ids.push("x\" 1;\ndefault 1;\ninclude /etc/passwd;".to_string());
    ids.push("tab\there\\ and \r}".to_string());
    ids.push("trailing\n".to_string());
    for id in &ids {
        w.clear();
        a.ban(&ticket(&w, id)).expect("ban");
        assert_eq!(
            w.take_args("nginx"),
            vec![strings(&["-qt"]), strings(&["-s", "reload"])]
        );
    }
    w.assert_no_marker();
    let text = std::fs::read_to_string(&map).expect("map");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), ids.len() + 1, "one line per ban:\n{text}");
    assert_eq!(lines[0], r#""\\sess1" 1;"#);
    assert_eq!(lines[2], r#""\\default" 1;"#);
    let keys: Vec<String> = lines
        .iter()
        .map(|l| nginx_map_key(l).unwrap_or_else(|| panic!("bad map line {l:?}")))
        .collect();
    assert_eq!(keys[0], "sess1");
    assert_eq!(keys[1..], ids[..]);

    // an unban removes exactly that line
    a.unban(&ticket(&w, &ids[4])).expect("unban");
    a.unban(&ticket(&w, "sess1")).expect("unban");
    a.unban(&ticket(&w, "not-banned"))
        .expect("unban of nothing");
    w.assert_no_marker();
    let after: Vec<String> = std::fs::read_to_string(&map)
        .expect("map")
        .lines()
        .map(|l| nginx_map_key(l).expect("map line"))
        .collect();
    let mut want = ids.clone();
    want.remove(4);
    assert_eq!(after, want);

    // a failing configuration test: no reload, the ban still stands
    w.clear();
    w.status("nginx", 1);
    a.ban(&ticket(&w, "sess3")).expect("ban");
    assert_eq!(w.take_args("nginx"), vec![strings(&["-qt"])]);
    std::fs::remove_file(w.log().join("nginx.rc")).expect("rc");

    assert!(a.flush().expect("flush"));
    assert_eq!(std::fs::read_to_string(&map).expect("map"), "");
    a.stop().expect("stop");
    assert_eq!(std::fs::read_to_string(&map).expect("map"), "");
    w.assert_no_marker();

    // an empty ID is refused
    assert!(a.ban(&ticket(&w, "")).is_err());
}

// ---------------------------------------------------------------------------
// nsupdate

#[test]
fn nsupdate_adds_and_deletes_txt_records() {
    let w = World::new(STUBS);
    let key = w.p("f2b.key");
    let stub = w.stub("nsupdate");
    let mut a = action(
        &w,
        "nsu",
        &format!(
            "nsupdate[domain=rbl.example.org, keyfile=\"{key}\", nsupdatecmd=\"{}\"]",
            stub.display()
        ),
    );
    a.start().expect("start");
    a.ban(&ticket(&w, IP)).expect("ban");
    a.ban(&ticket(&w, IP6)).expect("ban v6");
    a.unban(&ticket(&w, IP)).expect("unban");
    a.stop().expect("stop");
    w.assert_no_marker();
    let calls = w.calls("nsupdate");
    assert_eq!(calls.len(), 3);
    for c in &calls {
        assert_eq!(c.args, strings(&["-k", &key]));
    }
    let v4 = "10.2.0.192.rbl.example.org.";
    let v6 = "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.rbl.example.org.";
    assert_eq!(
        calls[0].stdin,
        format!("prereq nxrrset {v4} TXT\nupdate add {v4} 60 IN TXT \"Your IP has been banned\"\nsend\n")
    );
    assert_eq!(
        calls[1].stdin,
        format!("prereq nxrrset {v6} TXT\nupdate add {v6} 60 IN TXT \"Your IP has been banned\"\nsend\n")
    );
    assert_eq!(calls[2].stdin, format!("update delete {v4}\nsend\n"));

    assert_refuses_hostile_ids(&w, &mut a);

    // without a domain nothing is sent
    let mut a = action(
        &w,
        "nsu2",
        &format!("nsupdate[nsupdatecmd=\"{}\"]", stub.display()),
    );
    assert!(a.ban(&ticket(&w, IP)).is_err());
    w.assert_no_calls();
}

// ---------------------------------------------------------------------------
// mikrotik

#[test]
fn mikrotik_runs_routeros_commands_over_ssh() {
    let w = World::new(STUBS);
    let mut a = action(
        &w,
        "mk",
        "mikrotik[keyfile=\"/etc/f2b/id_ed25519\", user=f2b, host=192.0.2.1, list=\"BAD LIST\"]",
    );
    a.start().expect("start");
    a.ban(&ticket(&w, IP)).expect("ban");
    a.ban(&ticket(&w, IP6)).expect("ban v6");
    a.unban(&ticket(&w, IP)).expect("unban");
    assert!(a.flush().expect("flush"));
    a.stop().expect("stop");
    w.assert_no_marker();
    let ssh = [
        "-l",
        "f2b",
        "-p",
        "22",
        "-i",
        "/etc/f2b/id_ed25519",
        "--",
        "192.0.2.1",
    ];
    let cmds: Vec<String> = w
        .calls("ssh")
        .into_iter()
        .map(|c| {
            assert_eq!(c.args[..8], strings(&ssh)[..]);
            assert_eq!(c.args.len(), 9, "{:?}", c.args);
            c.args[8].clone()
        })
        .collect();
    let flush = r#"/ip firewall address-list remove [find list="BAD LIST" and comment~"^f2b-mk-"]"#;
    assert_eq!(
        cmds,
        vec![
            format!(
                r#"/ip firewall address-list add list="BAD LIST" address={IP} comment="f2b-mk-{IP}""#
            ),
            format!(
                r#"/ip firewall address-list add list="BAD LIST" address={IP6} comment="f2b-mk-{IP6}""#
            ),
            format!(
                r#"/ip firewall address-list remove [find list="BAD LIST" and comment="f2b-mk-{IP}"]"#
            ),
            flush.to_string(),
            flush.to_string(),
        ]
    );
    w.clear();
    assert_refuses_hostile_ids(&w, &mut a);

    // list names are quoted for RouterOS
    let mut a = action(&w, "mk.x", "mikrotik[host=r, list='a\"b$c\\d']");
    a.ban(&ticket(&w, IP)).expect("ban");
    let c = w.calls("ssh");
    assert_eq!(
        c[0].args.last().expect("command"),
        &format!(
            r#"/ip firewall address-list add list="a\"b\$c\\d" address={IP} comment="f2b-mk.x-{IP}""#
        )
    );
    w.clear();
    assert!(a.flush().expect("flush"));
    assert!(w.calls("ssh")[0]
        .args
        .last()
        .expect("command")
        .ends_with(r#"comment~"^f2b-mk\\.x-"]"#));
}

// ---------------------------------------------------------------------------
// netscaler

#[test]
fn netscaler_binds_addresses_through_nitro() {
    let w = World::new(STUBS);
    let mut a = action(
        &w,
        "ns",
        "netscaler[ns_host=adc.example.net, ns_auth=\"dXNlcjpwYXNz\", ns_dataset=f2b_set]",
    );
    a.start().expect("start");
    a.ban(&ticket(&w, IP)).expect("ban");
    a.unban(&ticket(&w, IP)).expect("unban");
    a.ban(&ticket(&w, IP6)).expect("ban v6");
    a.stop().expect("stop");
    w.assert_no_marker();
    let calls = w.calls("curl");
    assert_eq!(calls.len(), 4);
    let common = [
        "-sS",
        "--fail",
        "--max-time",
        "30",
        "--insecure",
        "-H",
        "@-",
        "-o",
        "/dev/null",
    ];
    for c in &calls {
        assert_eq!(c.stdin, "Authorization: Basic dXNlcjpwYXNz\n");
        assert_eq!(c.args[..9], strings(&common)[..]);
    }
    assert_eq!(
        calls[0].args[9..],
        strings(&["https://adc.example.net/nitro/v1/config"])[..]
    );
    let put = |ip: &str| {
        strings(&[
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/json",
            "--data-raw",
            &format!(r#"{{"policydataset_value_binding":{{"name":"f2b_set","value":"{ip}"}}}}"#),
            "https://adc.example.net/nitro/v1/config/",
        ])
    };
    assert_eq!(calls[1].args[9..], put(IP)[..]);
    assert_eq!(
        calls[2].args[9..],
        strings(&[
            "-X",
            "DELETE",
            &format!("https://adc.example.net/nitro/v1/config/policydataset_value_binding/f2b_set?args=value:{IP}")
        ])[..]
    );
    assert_eq!(calls[3].args[9..], put(IP6)[..]);
    w.clear();
    assert_refuses_hostile_ids(&w, &mut a);

    let mut a = action(&w, "ns2", "netscaler");
    assert!(a.ban(&ticket(&w, IP)).is_err(), "not configured");
    w.assert_no_calls();
}

// ---------------------------------------------------------------------------
// symbiosis-blacklist-allports

#[test]
fn symbiosis_writes_blacklist_files_and_rules() {
    let w = World::new(STUBS);
    let dir = w.file("blacklist.d");
    std::fs::create_dir(&dir).expect("dir");
    let mut a = action(
        &w,
        "sym",
        &format!(
            "symbiosis-blacklist-allports[blacklist_dir=\"{}\"]",
            dir.display()
        ),
    );
    a.start().expect("start");
    assert_eq!(w.take_args("iptables"), Vec::<Vec<String>>::new());
    a.ban(&ticket(&w, IP)).expect("ban");
    a.ban(&ticket(&w, IP6)).expect("ban v6");
    let f4 = dir.join(format!("{IP}.auto"));
    let f6 = dir.join(format!("{IP6}.auto"));
    assert_eq!(std::fs::read_to_string(&f4).expect("v4 file"), "all\n");
    assert_eq!(std::fs::read_to_string(&f6).expect("v6 file"), "all\n");
    assert_eq!(
        w.calls("iptables")
            .into_iter()
            .map(|c| c.args)
            .collect::<Vec<_>>(),
        vec![strings(&[
            "-w",
            "-I",
            "blacklist",
            "1",
            "-s",
            IP,
            "-j",
            "DROP"
        ])]
    );
    assert_eq!(
        w.calls("ip6tables")
            .into_iter()
            .map(|c| c.args)
            .collect::<Vec<_>>(),
        vec![strings(&[
            "-w",
            "-I",
            "blacklist",
            "1",
            "-s",
            IP6,
            "-j",
            "DROP"
        ])]
    );
    w.clear();
    a.unban(&ticket(&w, IP)).expect("unban");
    assert!(!f4.exists());
    assert_eq!(
        w.take_args("iptables"),
        vec![strings(&["-w", "-D", "blacklist", "-s", IP, "-j", "DROP"])]
    );
    assert!(!a.has_flush(), "no flush: bans are undone one by one");
    a.stop().expect("stop");
    assert_eq!(w.take_args("iptables"), Vec::<Vec<String>>::new());
    assert_refuses_hostile_ids(&w, &mut a);
    let entries: Vec<_> = std::fs::read_dir(&dir).expect("dir").flatten().collect();
    assert_eq!(entries.len(), 1, "only the IPv6 ban's file: {entries:?}");
    assert!(!w.path().join("etc").exists());
}

// ---------------------------------------------------------------------------
// shorewall-ipset-proto6

#[test]
fn shorewall_ipset_uses_one_set_per_family() {
    let w = World::new(STUBS);
    let mut a = action(&w, "swi", "shorewall-ipset-proto6");
    a.start().expect("start");
    assert!(w.calls("ipset").is_empty(), "sets are made on demand");
    a.ban(&ticket(&w, IP)).expect("ban");
    a.ban(&ticket(&w, IP6)).expect("ban v6");
    a.unban(&ticket(&w, IP)).expect("unban");
    a.stop().expect("stop");
    w.assert_no_marker();
    let create = "-exist create";
    let args: Vec<String> = w
        .calls("ipset")
        .into_iter()
        .map(|c| c.args.join(" "))
        .collect();
    assert_eq!(
        args,
        vec![
            format!("{create} f2b-swi hash:ip timeout 0 maxelem 65536"),
            format!("-exist add f2b-swi {IP} timeout 0"),
            format!("{create} f2b-swi6 hash:ip timeout 0 maxelem 65536 family inet6"),
            format!("-exist add f2b-swi6 {IP6} timeout 0"),
            format!("-exist del f2b-swi {IP}"),
            "flush f2b-swi".to_string(),
            "flush f2b-swi6".to_string(),
        ]
    );
    w.clear();
    let mut a = action(
        &w,
        "swi",
        "shorewall-ipset-proto6[ipsettime=\"<timeout-bantime>\", maxelem=100]",
    );
    a.ban(&ticket(&w, IP)).expect("ban");
    assert_eq!(
        w.take_args("ipset")[1],
        strings(&["-exist", "add", "f2b-swi", IP, "timeout", "600"])
    );
    assert_refuses_hostile_ids(&w, &mut a);
}

// ---------------------------------------------------------------------------
// sendmail-geoip-lines

#[test]
fn sendmail_geoip_lines_quotes_foreign_text() {
    let w = World::new(STUBS);
    let t = w.touch();
    let mut log = String::from("sshd[1]: Failed password for bob from 198.51.100.9\n");
    for l in hostile_lines(&w) {
        log.push_str(&l);
        log.push('\n');
    }
    std::fs::write(w.jail_log(), log).expect("jail log");
    let db = w.p("GeoIP.dat");
    std::fs::write(&db, "").expect("db");
    w.answer(
        "geoiplookup",
        &format!("GeoIP Country Edition: XX, Nowhere\n~! {t}\nBcc: evil@example.com $({t})\n"),
    );
    let stub = w.stub("sendmail");
    let mut a = action_replacing(
        &w,
        "geo",
        &format!(
            "sendmail-geoip-lines[dest=\"{DEST}\", sender=\"{SENDER}\", logpath=\"%(logpath)s\", geoip_country=\"{db}\", geoip_asn=\"{}\"]",
            w.p("missing.dat")
        ),
        &[("/usr/sbin/sendmail", stub.to_str().expect("utf-8"))],
    );
    assert!(a.norestored());
    a.start().expect("start");
    a.ban(&ticket(&w, IP)).expect("ban");
    a.unban(&ticket(&w, IP)).expect("unban");
    a.stop().expect("stop");
    w.assert_no_marker();

    let calls = w.calls("sendmail");
    assert_eq!(calls.len(), 3, "start, ban, stop");
    let ban = &calls[1];
    assert_eq!(ban.args, strings(&["-i", "-f", SENDER, DEST]));
    let (head, body) = ban.stdin.split_once("\n\n").expect("headers");
    let names: Vec<&str> = head
        .lines()
        .map(|l| l.split_once(": ").expect("header").0)
        .collect();
    assert_eq!(
        names,
        [
            "Subject",
            "Date",
            "From",
            "To",
            "Auto-Submitted",
            "MIME-Version",
            "Content-Type",
            "Content-Transfer-Encoding"
        ]
    );
    assert!(head.starts_with(&format!("Subject: [Fail2Ban] geo: banned {IP} from ")));
    for l in body.lines() {
        assert!(!l.starts_with('~'), "{l:?} in\n{body}");
        assert!(
            !l.starts_with("Bcc:") && !l.starts_with("Subject:"),
            "{l:?}"
        );
    }
    assert!(
        body.contains(&format!(
            "Country:   XX, Nowhere ~! {t} evil@example.com $({t}) \n"
        )),
        "{body}"
    );
    assert!(body.contains("AS:        (unknown: no database "), "{body}");
    assert!(
        body.contains(&format!(
            "Host name: evil.example ~! {t} Bcc: x@example.com $({t})\n"
        )),
        "{body}"
    );
    assert!(body.contains(&format!("  https://bgp.he.net/ip/{IP}\n")));
    for l in hostile_lines(&w) {
        assert!(
            body.contains(&format!("  {l}\n")),
            "{l:?} not quoted:\n{body}"
        );
    }
    assert!(!body.contains("198.51.100.9"));
    let geo = w.calls("geoiplookup");
    assert_eq!(geo.len(), 1);
    assert_eq!(geo[0].args, strings(&["-f", &db, IP]));

    // a ticket ID that is not an address is never given to geoiplookup
    w.clear();
    let mut a = action_replacing(
        &w,
        "geo2",
        &format!(
            "sendmail-geoip-lines[dest=\"{DEST}\", sender=\"{SENDER}\", geoip_country=\"{db}\"]"
        ),
        &[("/usr/sbin/sendmail", stub.to_str().expect("utf-8"))],
    );
    for id in hostile_ids(&w) {
        a.ban(&ticket(&w, &id)).expect("ban");
    }
    w.assert_no_marker();
    assert!(w.calls("geoiplookup").is_empty());
    for c in w.calls("sendmail") {
        let (_, body) = c.stdin.split_once("\n\n").expect("headers");
        assert!(body.contains("Country:   (not an IP address)\n"), "{body}");
        assert!(body.lines().all(|l| !l.starts_with('~')), "{body}");
    }
}

// ---------------------------------------------------------------------------
// BSD and macOS

#[test]
fn bsd_ipfw_table_and_rule() {
    let w = World::new(STUBS);
    let state = w.p("ipfw-started");
    let mut a = action(
        &w,
        "bsd",
        &format!("bsd-ipfw[startstatefile=\"{state}\", port=\"22,80\"]"),
    );
    w.answer(
        "ipfw",
        "00100 allow ip from any to any via lo0\n00111 deny ip from 198.51.100.0/24 to me\n65535 deny ip from any to any\n",
    );
    a.start().expect("start");
    assert_eq!(
        w.take_args("ipfw"),
        vec![
            strings(&["list"]),
            strings(&["list"]),
            strings(&[
                "-q", "add", "112", "unreach", "port", "ip", "from", "table(1)", "to", "me",
                "22,80"
            ]),
        ]
    );
    assert_eq!(std::fs::read_to_string(&state).expect("state"), "112\n");
    std::fs::remove_file(w.log().join("ipfw.out")).expect("answer");
    a.ban(&ticket(&w, IP)).expect("ban");
    a.unban(&ticket(&w, IP6)).expect("unban");
    assert_eq!(
        w.take_args("ipfw"),
        vec![
            strings(&["table", "1", "add", IP]),
            strings(&["table", "1", "delete", IP6]),
        ]
    );
    // already there / already gone is fine, another error is not
    w.status("ipfw", 71);
    w.answer("ipfw", "ipfw: setsockopt(IP_FW_TABLE_XADD): File exists\n");
    a.ban(&ticket(&w, IP)).expect("ban of a banned address");
    w.answer("ipfw", "ipfw: table delete: record not found\n");
    a.unban(&ticket(&w, IP))
        .expect("unban of an unbanned address");
    w.answer("ipfw", "ipfw: no such table\n");
    assert!(a.ban(&ticket(&w, IP)).is_err());
    std::fs::remove_file(w.log().join("ipfw.rc")).expect("rc");
    std::fs::remove_file(w.log().join("ipfw.out")).expect("answer");
    w.clear();
    a.stop().expect("stop");
    assert_eq!(w.take_args("ipfw"), vec![strings(&["-q", "delete", "112"])]);
    assert!(!Path::new(&state).exists());

    // a rule of the admin's own for the table: nothing added
    w.answer("ipfw", "00050 deny ip from table(1) to any\n");
    let mut a = action(&w, "bsd2", &format!("bsd-ipfw[startstatefile=\"{state}\"]"));
    a.start().expect("start");
    assert_eq!(w.take_args("ipfw"), vec![strings(&["list"])]);
    assert!(!Path::new(&state).exists());
    assert_refuses_hostile_ids(&w, &mut a);
}

#[test]
fn ipfw_rule_per_address() {
    let w = World::new(STUBS);
    let mut a = action(&w, "ipfw", "ipfw");
    a.start().expect("start");
    a.ban(&ticket(&w, IP)).expect("ban");
    assert_eq!(
        w.take_args("ipfw"),
        vec![strings(&[
            "add",
            "unreach",
            "port",
            "tcp",
            "from",
            IP,
            "to",
            "127.0.0.1",
            "ssh"
        ])]
    );
    w.answer(
        "ipfw",
        &format!(
            "00100 unreach port tcp from {IP} to 127.0.0.1 dst-port 22\n00200 unreach port tcp from {IP}0 to 127.0.0.1 dst-port 22\n00300 unreach port tcp from {IP} to 127.0.0.1 dst-port 22\n"
        ),
    );
    a.unban(&ticket(&w, IP)).expect("unban");
    assert_eq!(
        w.take_args("ipfw"),
        vec![
            strings(&["list"]),
            strings(&["delete", "00100"]),
            strings(&["delete", "00300"]),
        ]
    );
    assert_refuses_hostile_ids(&w, &mut a);
}

#[test]
fn npf_table_add_and_remove() {
    let w = World::new(STUBS);
    let mut a = action(
        &w,
        "npf",
        &format!(
            "npf[npfctl=\"{}\", tablename=f2b]",
            w.stub("npfctl").display()
        ),
    );
    a.start().expect("start");
    a.ban(&ticket(&w, IP)).expect("ban");
    a.ban(&ticket(&w, IP6)).expect("ban v6");
    a.unban(&ticket(&w, IP)).expect("unban");
    a.stop().expect("stop");
    assert_eq!(
        w.take_args("npfctl"),
        vec![
            strings(&["table", "f2b", "add", IP]),
            strings(&["table", "f2b", "add", IP6]),
            strings(&["table", "f2b", "rem", IP]),
        ]
    );
    assert_refuses_hostile_ids(&w, &mut a);
    // the default is NetBSD's path
    let s = w.spec("npf2", "npf", &[]);
    let cmd = CommandAction::new(&s).expect("action");
    assert!(
        cmd.property("npfctl") == Some("/sbin/npfctl"),
        "{:?}",
        cmd.property("npfctl")
    );
}

#[test]
fn ipfilter_rules_on_stdin() {
    let w = World::new(STUBS);
    let ipf = w.stub("ipf");
    let mut a = action(&w, "ipfl", &format!("ipfilter[ipf=\"{}\"]", ipf.display()));
    a.start().expect("start");
    a.ban(&ticket(&w, IP)).expect("ban");
    a.ban(&ticket(&w, IP6)).expect("ban v6");
    a.unban(&ticket(&w, IP)).expect("unban");
    a.stop().expect("stop");
    let calls = w.calls("ipf");
    let got: Vec<(Vec<String>, String)> = calls.into_iter().map(|c| (c.args, c.stdin)).collect();
    assert_eq!(
        got,
        vec![
            (strings(&["-E"]), String::new()),
            (
                strings(&["-f", "-"]),
                format!("block return-icmp(port-unr) in quick from {IP}/32\n")
            ),
            (
                strings(&["-f", "-"]),
                format!("block return-icmp(port-unr) in quick from {IP6}/128\n")
            ),
            (
                strings(&["-r", "-f", "-"]),
                format!("block return-icmp(port-unr) in quick from {IP}/32\n")
            ),
        ]
    );
    w.clear();
    let mut a = action(
        &w,
        "ipfl2",
        &format!("ipfilter[ipf=\"{}\", blocktype=]", ipf.display()),
    );
    a.ban(&ticket(&w, IP)).expect("ban");
    assert_eq!(
        w.calls("ipf")[0].stdin,
        format!("block in quick from {IP}/32\n")
    );
    assert_refuses_hostile_ids(&w, &mut a);
}

#[test]
fn osx_afctl_ban_unban_prolong() {
    let w = World::new(STUBS);
    let mut a = action(
        &w,
        "afc",
        &format!("osx-afctl[afctl=\"{}\"]", w.stub("afctl").display()),
    );
    a.start().expect("start");
    a.ban(&ticket(&w, IP)).expect("ban");
    a.prolong(&ticket(&w, IP)).expect("prolong");
    a.unban(&ticket(&w, IP)).expect("unban");
    a.stop().expect("stop");
    assert_eq!(
        w.take_args("afctl"),
        vec![
            strings(&["-a", IP, "-t", "600"]),
            strings(&["-r", IP]),
            strings(&["-a", IP, "-t", "600"]),
            strings(&["-r", IP]),
        ]
    );
    assert_refuses_hostile_ids(&w, &mut a);
}

#[test]
fn osx_ipfw_rule_in_set() {
    let w = World::new(STUBS);
    let mut a = action(&w, "oxi", "osx-ipfw");
    a.start().expect("start");
    a.ban(&ticket(&w, IP)).expect("ban");
    let calls = w.take_args("ipfw");
    assert_eq!(calls.len(), 1);
    let num: u32 = calls[0][1].parse().expect("rule number");
    assert!((10000..12000).contains(&num), "{num}");
    assert_eq!(
        calls[0],
        strings(&[
            "add",
            &num.to_string(),
            "set",
            "10",
            "unreach",
            "port",
            "log",
            "tcp",
            "from",
            IP,
            "to",
            "me",
            "ssh"
        ])
    );
    w.answer(
        "ipfw",
        &format!(
            "10001 set 10 unreach port log tcp from {IP} to me dst-port 22\n10002 set 10 unreach port log tcp from {IP}1 to me dst-port 22\n10003 set 11 unreach port log tcp from {IP} to me dst-port 22\n"
        ),
    );
    a.unban(&ticket(&w, IP)).expect("unban");
    assert_eq!(
        w.take_args("ipfw"),
        vec![strings(&["-S", "list"]), strings(&["delete", "10001"])]
    );
    assert_refuses_hostile_ids(&w, &mut a);
}

/// Every action of this file reads from gaoler's tree without problems,
/// with its defaults.
#[test]
fn all_actions_read_with_defaults() {
    let w = World::new(STUBS);
    for name in [
        "dshield",
        "mynetwatchman",
        "ipthreat",
        "nginx-block-map",
        "nsupdate",
        "mikrotik",
        "netscaler",
        "symbiosis-blacklist-allports",
        "shorewall-ipset-proto6",
        "sendmail-geoip-lines",
        "bsd-ipfw",
        "ipfw",
        "npf",
        "ipfilter",
        "osx-afctl",
        "osx-ipfw",
    ] {
        let jail = format!("j{}", name.replace('-', ""));
        let s = w.spec(&jail, name, &[]);
        assert_eq!(s.name, name);
        let a = CommandAction::new(&s).expect("action");
        for key in ["actionban", "actionunban"] {
            let cmd = a.property(key).unwrap_or_default();
            assert!(!cmd.contains("%("), "{name} {key}: {cmd}");
        }
    }
}

// ---------------------------------------------------------------------------
// Real firewalls, in a private network namespace

const NETNS_PORT: u16 = 5060;

fn netns_action(net: &gaoler_testkit::TestNet, jail: &str, line: &str) -> CommandAction {
    let w = World::new(STUBS);
    let s = w.spec(jail, line, &[]);
    let mut a = CommandAction::with_executor(&s, Executor::with_wrapper(net.server_wrapper()))
        .expect("action");
    a.set_ipv6_allowed(true);
    a
}

#[test]
fn symbiosis_blocks_and_unblocks_in_netns() {
    use gaoler_testkit::{CLIENT4, CLIENT6, SERVER4, SERVER6};
    gaoler_testkit::require_root_and_tools(&["ip", "iptables", "ip6tables"]);
    let net = gaoler_testkit::TestNet::new("sym");
    let _listeners = net.listen_tcp(&[NETNS_PORT]);
    net.wait_tcp_ready(NETNS_PORT);
    // what Symbiosis' firewall sets up: its blacklist chain, jumped to
    for ipt in ["iptables", "ip6tables"] {
        net.in_server(&[ipt, "-w", "-N", "blacklist"]);
        net.in_server(&[ipt, "-w", "-I", "INPUT", "-j", "blacklist"]);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = netns_action(
        &net,
        "symn",
        &format!(
            "symbiosis-blacklist-allports[blacklist_dir=\"{}\"]",
            dir.path().display()
        ),
    );
    a.start().expect("start");
    a.ban(&ActionInfo::for_id(CLIENT4)).expect("ban v4");
    assert!(
        !net.tcp_reachable(SERVER4, NETNS_PORT),
        "v4 ban does not block"
    );
    assert!(
        net.tcp_reachable(SERVER6, NETNS_PORT),
        "v6 blocked by a v4 ban"
    );
    assert!(dir.path().join(format!("{CLIENT4}.auto")).is_file());
    a.ban(&ActionInfo::for_id(CLIENT6)).expect("ban v6");
    assert!(
        !net.tcp_reachable(SERVER6, NETNS_PORT),
        "v6 ban does not block"
    );
    a.unban(&ActionInfo::for_id(CLIENT4)).expect("unban v4");
    assert!(
        net.tcp_reachable(SERVER4, NETNS_PORT),
        "v4 unban does not unblock"
    );
    a.unban(&ActionInfo::for_id(CLIENT6)).expect("unban v6");
    assert!(
        net.tcp_reachable(SERVER6, NETNS_PORT),
        "v6 unban does not unblock"
    );
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    a.stop().expect("stop");
    assert!(
        net.in_server(&["iptables-save"]).contains(":blacklist"),
        "Symbiosis' chain is left alone"
    );
}

#[test]
fn shorewall_ipset_blocks_and_unblocks_in_netns() {
    use gaoler_testkit::{CLIENT4, CLIENT6, SERVER4, SERVER6};
    gaoler_testkit::require_root_and_tools(&["ip", "iptables", "ip6tables", "ipset"]);
    let net = gaoler_testkit::TestNet::new("swi");
    let _listeners = net.listen_tcp(&[NETNS_PORT]);
    net.wait_tcp_ready(NETNS_PORT);
    let mut a = netns_action(&net, "swin", "shorewall-ipset-proto6");
    a.start().expect("start");

    // the first ban of each family makes its set; then the rule Shorewall
    // would compile from blrules ("DROP net:+f2b-swin all") refers to it
    a.ban(&ActionInfo::for_id(CLIENT4)).expect("ban v4");
    a.ban(&ActionInfo::for_id(CLIENT6)).expect("ban v6");
    for (ipt, set) in [("iptables", "f2b-swin"), ("ip6tables", "f2b-swin6")] {
        net.in_server(&[
            ipt,
            "-w",
            "-I",
            "INPUT",
            "-m",
            "set",
            "--match-set",
            set,
            "src",
            "-j",
            "DROP",
        ]);
    }
    assert!(net
        .in_server(&["ipset", "list", "f2b-swin"])
        .contains(CLIENT4));
    assert!(net
        .in_server(&["ipset", "list", "f2b-swin6"])
        .contains(CLIENT6));
    assert!(
        !net.tcp_reachable(SERVER4, NETNS_PORT),
        "v4 ban does not block"
    );
    assert!(
        !net.tcp_reachable(SERVER6, NETNS_PORT),
        "v6 ban does not block"
    );
    a.unban(&ActionInfo::for_id(CLIENT4)).expect("unban v4");
    assert!(
        net.tcp_reachable(SERVER4, NETNS_PORT),
        "v4 unban does not unblock"
    );
    assert!(!net.tcp_reachable(SERVER6, NETNS_PORT));
    // the stop empties the sets (Shorewall's rules still use them)
    a.stop().expect("stop");
    assert!(
        net.tcp_reachable(SERVER6, NETNS_PORT),
        "v6 still blocked after stop"
    );
    assert!(!net
        .in_server(&["ipset", "list", "f2b-swin6"])
        .contains(CLIENT6));
}

/// The nginx master started by a test (in the foreground, as our child):
/// stopped with SIGTERM and reaped on drop, also when the test panics.
struct NginxGuard {
    child: std::process::Child,
}

impl Drop for NginxGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// The HTTP status nginx in the server namespace answers for a request
/// with the cookie `session_id=session`.
fn nginx_status(net: &gaoler_testkit::TestNet, session: &str) -> String {
    net.in_server(&[
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        &format!("Cookie: session_id={session}"),
        "http://127.0.0.1:8080/",
    ])
}

/// Polls until nginx answers `want` for `session` (a reload is
/// asynchronous).
fn wait_nginx_status(net: &gaoler_testkit::TestNet, session: &str, want: &str) {
    let mut got = String::new();
    for _ in 0..50 {
        got = nginx_status(net, session);
        if got == want {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("session {session:?}: status {got}, want {want}");
}

#[test]
fn nginx_block_map_with_real_nginx() {
    gaoler_testkit::require_root_and_tools(&["ip", "nginx", "curl"]);
    let net = gaoler_testkit::TestNet::new("ngx");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display();
    let map = dir.path().join("blacklisted-sessions.map");
    let conf = dir.path().join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            r#"daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ }}
http {{
    access_log off;
    map_hash_bucket_size 256;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    map $cookie_session_id $blck_lst_ses {{ include {map}; }}
    server {{
        listen 127.0.0.1:8080;
        location / {{
            if ($blck_lst_ses != "") {{ return 403; }}
            return 200 "ok\n";
        }}
    }}
}}
"#,
            map = map.display()
        ),
    )
    .expect("nginx.conf");
    let srv_cmd = format!("nginx -c {}", conf.display());
    let mut a = netns_action(
        &net,
        "ngxn",
        &format!(
            "nginx-block-map[blck_lst_file=\"{}\", srv_pid=\"{d}/nginx.pid\", srv_cmd=\"{srv_cmd}\"]",
            map.display()
        ),
    );
    a.start().expect("start");
    let mut nginx = std::process::Command::new("ip");
    nginx
        .args(["netns", "exec", &net.server, "nginx", "-c"])
        .arg(&conf);
    let _guard = NginxGuard {
        child: nginx.spawn().expect("start nginx"),
    };
    // the action reloads only a running nginx: wait for its pid file
    for _ in 0..50 {
        if dir.path().join("nginx.pid").exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    wait_nginx_status(&net, "sess1", "200");

    let marker = dir.path().join("PWNED");
    let t = format!("touch {}", marker.display());
    let mut ids = vec![
        "sess1".to_string(),
        "~.*".to_string(),
        "default".to_string(),
        "include".to_string(),
        "hostnames".to_string(),
        format!("x\" 1;\ndefault 1;\ninclude /etc/passwd;\n$({t})"),
        format!("a'b`{t}`{{}}\\\t#c"),
        "$cookie_session_id".to_string(),
    ];
    for id in &ids {
        a.ban(&ActionInfo::for_id(id)).expect("ban");
    }
    assert!(!marker.exists(), "hostile text was run");
    // the file is one map entry per ban, and nginx accepts it
    net.in_server(&["nginx", "-t", "-q", "-c", conf.to_str().expect("utf-8")]);
    let text = std::fs::read_to_string(&map).expect("map");
    assert_eq!(text.lines().count(), ids.len(), "{text}");

    // banned sessions are refused, literally: no regular expression, no
    // default, no variable
    wait_nginx_status(&net, "sess1", "403");
    wait_nginx_status(&net, "~.*", "403");
    wait_nginx_status(&net, "default", "403");
    wait_nginx_status(&net, "$cookie_session_id", "403");
    wait_nginx_status(&net, "sess2", "200");
    wait_nginx_status(&net, "innocent", "200");

    a.unban(&ActionInfo::for_id("sess1")).expect("unban");
    wait_nginx_status(&net, "sess1", "200");
    wait_nginx_status(&net, "~.*", "403");
    ids.remove(0);
    assert_eq!(
        std::fs::read_to_string(&map).expect("map").lines().count(),
        ids.len()
    );
    a.stop().expect("stop");
    wait_nginx_status(&net, "~.*", "200");
    assert_eq!(std::fs::read_to_string(&map).expect("map"), "");
    assert!(!marker.exists(), "hostile text was run");
}
