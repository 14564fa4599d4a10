//! gaoler's shipped actions for tools that cannot run here (shorewall, pf,
//! apf, csf) and for the file-writing ones (hostsdeny, dummy).
//!
//! The firewall tools are replaced by recording stubs: scripts first on the
//! action's PATH that append their name, every argument and their stdin to
//! a log, NUL-separated, and succeed (the `pfctl` stub also keeps the last
//! rules loaded, for `pfctl -sr`). A real Shorewall would need a whole
//! compiled configuration (zones, interfaces, policy) to start at all, and
//! pf, apf and csf do not exist on Debian; what can be checked is that each
//! action calls its tool with the right arguments at the right time.
//!
//! Hostile values go into every tag the actions take from configuration
//! (`<name>`, `<port>`, comments, file names, ...) and into the ticket
//! (`<matches>`, `<F-USER>`, `<fid>`): command substitutions, backquotes,
//! `;`, `~!` lines, newlines followed by header lines, a leading `-` and
//! single quotes. Each test proves that nothing ran (a marker file the
//! hostile text would create must not exist) and that the hostile text
//! reached the tool verbatim, as one argument or as input, or a file as
//! one line of data.
//!
//! No root, network or firewall is needed.

use std::path::{Path, PathBuf};

use gaoler_action::{CommandAction, Executor};

// Not every helper in common is used here.
#[allow(dead_code)]
mod common;

const PORT: u16 = 5060;
const V4: &str = "192.0.2.2";
const V6: &str = "2001:db8::2";

/// One call of a stub: the program's name, its arguments, its stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Call {
    tool: String,
    args: Vec<String>,
    stdin: String,
}

/// A temporary directory with recording stubs, and a marker path that
/// hostile values try to create.
struct Stubs {
    dir: tempfile::TempDir,
}

impl Stubs {
    fn new(tools: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("bin");
        let log = dir.path().join("calls");
        let rules = dir.path().join("pf.rules");
        for tool in tools {
            // name NUL argc NUL args... stdin NUL RS
            let script = format!(
                r#"#!/bin/sh
in=$(mktemp)
cat > "$in"
{{
  printf '%s\0%s\0' "${{0##*/}}" "$#"
  for a in "$@"; do printf '%s\0' "$a"; done
  cat "$in"
  printf '\0\036'
}} >> '{log}'
if [ "${{0##*/}}" = pfctl ]; then
  for a in "$@"; do
    case "$a" in
      -f-) cp "$in" '{rules}' ;;
      -sr) cat '{rules}' 2>/dev/null ;;
    esac
  done
fi
rm -f "$in"
exit 0
"#,
                log = log.display(),
                rules = rules.display(),
            );
            let path = bin.join(tool);
            std::fs::write(&path, script).expect("stub");
            gaoler_testkit::run(&["chmod", "755", path.to_str().expect("utf-8")]);
        }
        Stubs { dir }
    }

    fn marker(&self) -> PathBuf {
        self.dir.path().join("PWNED")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs actions with the stubs first on PATH.
    fn executor(&self) -> Executor {
        Executor::with_wrapper([
            "env".to_string(),
            format!(
                "PATH={}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                self.dir.path().join("bin").display()
            ),
        ])
    }

    /// Every call so far, in order; the log is emptied.
    fn take(&self) -> Vec<Call> {
        let log = self.dir.path().join("calls");
        let raw = std::fs::read(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        let text = String::from_utf8(raw).expect("utf-8 log");
        text.split('\u{1e}')
            .filter(|r| !r.is_empty())
            .map(|r| {
                let mut parts = r.split('\0');
                let tool = parts.next().expect("tool").to_string();
                let argc: usize = parts.next().expect("argc").parse().expect("argc");
                let args: Vec<String> = (0..argc)
                    .map(|_| parts.next().expect("arg").to_string())
                    .collect();
                let stdin = parts.next().expect("stdin").to_string();
                Call { tool, args, stdin }
            })
            .collect()
    }

    fn assert_nothing_ran(&self) {
        assert!(
            !self.marker().exists(),
            "a hostile value was executed (marker {} exists)",
            self.marker().display()
        );
    }
}

/// `key="value"` for an action line, quoted so that the reader keeps the
/// value as it is.
fn opt(key: &str, value: &str) -> String {
    if !value.contains('"') {
        format!("{key}=\"{value}\"")
    } else {
        assert!(!value.contains('\''), "cannot quote {value:?}");
        format!("{key}='{value}'")
    }
}

/// Whether a value can be written in a configuration file at all: on one
/// line, without a " ;" (an inline comment there) and not with both kinds
/// of quotes (an option value cannot hold them together).
fn expressible(value: &str) -> bool {
    !(value.contains('\n')
        || value.contains(" ;")
        || value.contains('%')
        || (value.contains('"') && value.contains('\'')))
}

/// The hostile values a configuration file can hold.
fn hostile_config_values(marker: &Path) -> Vec<String> {
    common::hostile_values(marker)
        .into_iter()
        .filter(|v| expressible(v))
        .collect()
}

/// The shipped action made from the jail line `action = LINE`, with the
/// stubs first on its PATH.
fn configured(line: &str, jail: &str, stubs: &Stubs) -> CommandAction {
    let spec = common::configured_action(line, jail, PORT);
    let mut action = CommandAction::with_executor(&spec, stubs.executor()).expect("action");
    action.set_ipv6_allowed(true);
    action
}

fn shipped_action(banaction: &str, jail: &str, stubs: &Stubs) -> CommandAction {
    let spec = common::action_properties(&common::shipped(), banaction, jail, PORT);
    assert_eq!(spec.name, banaction);
    let mut action = CommandAction::with_executor(&spec, stubs.executor()).expect("action");
    action.set_ipv6_allowed(true);
    action
}

/// Fails unless every command of `action` that could write a file names
/// `path` (so that a test never falls back to a system file).
fn assert_writes_only(action: &CommandAction, path: &Path) {
    let p = path.to_str().expect("utf-8");
    for key in [
        "actionstart",
        "actionban",
        "actionunban",
        "actionflush",
        "actionstop",
    ] {
        let cmd = action.property(key).unwrap_or_default();
        assert!(
            cmd.is_empty() || cmd.contains(p),
            "{key} does not use the test's file {p}:\n{cmd}"
        );
    }
}

fn call(tool: &str, args: &[&str]) -> Call {
    Call {
        tool: tool.to_string(),
        args: args.iter().map(|s| s.to_string()).collect(),
        stdin: String::new(),
    }
}

#[test]
fn shorewall_bans_with_the_family_command() {
    let stubs = Stubs::new(&["shorewall", "shorewall6"]);
    let mut action = shipped_action("shorewall", "sw", &stubs);
    action.start().expect("start");
    assert_eq!(stubs.take(), vec![], "nothing to do at start");

    action
        .ban(&common::hostile_ticket(V4, &stubs.marker()))
        .expect("ban v4");
    action
        .ban(&common::hostile_ticket(V6, &stubs.marker()))
        .expect("ban v6");
    action
        .unban(&common::hostile_ticket(V4, &stubs.marker()))
        .expect("unban v4");
    action
        .unban(&common::hostile_ticket(V6, &stubs.marker()))
        .expect("unban v6");
    assert_eq!(
        stubs.take(),
        vec![
            call("shorewall", &["reject", V4]),
            call("shorewall6", &["reject", V6]),
            call("shorewall", &["allow", V4]),
            call("shorewall6", &["allow", V6]),
        ]
    );

    action.stop().expect("stop");
    assert_eq!(stubs.take(), vec![]);

    let mut action = configured("shorewall[blocktype=drop]", "sw", &stubs);
    action
        .ban(&common::hostile_ticket(V4, &stubs.marker()))
        .expect("ban drop");
    action
        .ban(&common::hostile_ticket(V6, &stubs.marker()))
        .expect("ban drop v6");
    assert_eq!(
        stubs.take(),
        vec![
            call("shorewall", &["drop", V4]),
            call("shorewall6", &["drop", V6])
        ]
    );
    stubs.assert_nothing_ran();
}

/// The calls pf's action makes at start for `anchor`/`table` and the rule.
fn pf_start(anchor: &str, table: &str, rule: &str) -> Vec<Call> {
    vec![
        Call {
            stdin: format!("table <{table}> persist counters\n"),
            ..call("pfctl", &["-a", anchor, "-f-"])
        },
        Call {
            stdin: format!("{rule}\n"),
            ..call("pfctl", &["-a", anchor, "-f-"])
        },
    ]
}

#[test]
fn pf_anchor_table_and_rule() {
    let stubs = Stubs::new(&["pfctl"]);
    let mut action = shipped_action("pf", "pfj", &stubs);
    assert!(!action.start_on_demand(), "pf starts with the jail");
    action.start().expect("start");
    assert_eq!(
        stubs.take(),
        pf_start(
            "f2b/pfj",
            "f2b-pfj",
            "block quick proto tcp from <f2b-pfj> to any port {5060}"
        )
    );

    action
        .ban(&common::hostile_ticket(V4, &stubs.marker()))
        .expect("ban v4");
    action
        .ban(&common::hostile_ticket(V6, &stubs.marker()))
        .expect("ban v6");
    action
        .unban(&common::hostile_ticket(V4, &stubs.marker()))
        .expect("unban");
    assert_eq!(
        stubs.take(),
        vec![
            call(
                "pfctl",
                &["-a", "f2b/pfj", "-t", "f2b-pfj", "-T", "add", V4]
            ),
            call(
                "pfctl",
                &["-a", "f2b/pfj", "-t", "f2b-pfj", "-T", "add", V6]
            ),
            call(
                "pfctl",
                &["-a", "f2b/pfj", "-t", "f2b-pfj", "-T", "delete", V4]
            ),
        ]
    );

    assert!(action.flush().expect("flush"));
    assert_eq!(
        stubs.take(),
        vec![call(
            "pfctl",
            &["-a", "f2b/pfj", "-t", "f2b-pfj", "-T", "flush"]
        )]
    );

    action.stop().expect("stop");
    let calls = stubs.take();
    assert_eq!(
        calls,
        vec![
            call("pfctl", &["-a", "f2b/pfj", "-sr"]),
            // our rule filtered out of what -sr showed
            call("pfctl", &["-a", "f2b/pfj", "-f-"]),
            call("pfctl", &["-a", "f2b/pfj", "-t", "f2b-pfj", "-T", "flush"]),
            call("pfctl", &["-a", "f2b/pfj", "-t", "f2b-pfj", "-T", "kill"]),
        ]
    );
    stubs.assert_nothing_ran();
}

#[test]
fn pf_allports_and_all_protocols() {
    let stubs = Stubs::new(&["pfctl"]);
    let mut action = configured("pf[actiontype=<allports>, protocol=all]", "pfa", &stubs);
    action.start().expect("start");
    assert_eq!(
        stubs.take(),
        pf_start("f2b/pfa", "f2b-pfa", "block quick from <f2b-pfa> to any")
    );
    action.stop().expect("stop");
    stubs.take();

    let mut action = configured(
        r#"pf[protocol=udp, port="{ 5060 5061 }", tablename=t, block="block return"]"#,
        "pfa",
        &stubs,
    );
    action.start().expect("start");
    assert_eq!(
        stubs.take(),
        pf_start(
            "f2b/pfa",
            "t-pfa",
            "block return proto udp from <t-pfa> to any port { 5060 5061 }"
        )
    );
    action.stop().expect("stop");
    stubs.assert_nothing_ran();
}

#[test]
fn pf_hostile_configuration_is_data() {
    let stubs = Stubs::new(&["pfctl"]);
    for (i, evil) in hostile_config_values(&stubs.marker())
        .into_iter()
        .enumerate()
    {
        let line = format!(
            "pf[{}, {}, {}]",
            opt("name", &evil),
            opt("port", &evil),
            opt("block", &evil)
        );
        let mut action = configured(&line, "pfh", &stubs);
        action.start().expect("start");
        action
            .ban(&common::hostile_ticket(V4, &stubs.marker()))
            .expect("ban");
        action.stop().expect("stop");
        stubs.assert_nothing_ran();
        let anchor = format!("f2b/{evil}");
        let table = format!("f2b-{evil}");
        let mut want = pf_start(
            &anchor,
            &table,
            &format!("{evil} proto tcp from <{table}> to any port {{{evil}}}"),
        );
        want.push(call(
            "pfctl",
            &["-a", &anchor, "-t", &table, "-T", "add", V4],
        ));
        let calls = stubs.take();
        assert_eq!(calls[..3], want[..], "hostile value {i}: {evil:?}");
        assert_eq!(
            calls[3..]
                .iter()
                .map(|c| c.args.last().map(String::as_str))
                .collect::<Vec<_>>(),
            [Some("-sr"), Some("-f-"), Some("flush"), Some("kill")],
            "hostile value {i}"
        );
    }
}

/// apf and csf: the same shape with their own options.
fn deny_list_tool(tool: &str, remove: &str) {
    let stubs = Stubs::new(&[tool]);
    let mut action = shipped_action(tool, "dl", &stubs);
    action.start().expect("start");
    action
        .ban(&common::hostile_ticket(V4, &stubs.marker()))
        .expect("ban v4");
    action
        .ban(&common::hostile_ticket(V6, &stubs.marker()))
        .expect("ban v6");
    action
        .unban(&common::hostile_ticket(V4, &stubs.marker()))
        .expect("unban v4");
    action
        .unban(&common::hostile_ticket(V6, &stubs.marker()))
        .expect("unban v6");
    action.stop().expect("stop");
    assert_eq!(
        stubs.take(),
        vec![
            call(tool, &["--deny", V4, "banned by Fail2Ban dl"]),
            call(tool, &["--deny", V6, "banned by Fail2Ban dl"]),
            call(tool, &[remove, V4]),
            call(tool, &[remove, V6]),
        ]
    );

    for (i, evil) in hostile_config_values(&stubs.marker())
        .into_iter()
        .enumerate()
    {
        let mut action = configured(&format!("{tool}[{}]", opt("name", &evil)), "dl", &stubs);
        action
            .ban(&common::hostile_ticket(V4, &stubs.marker()))
            .expect("ban");
        let mut action = configured(&format!("{tool}[{}]", opt("comment", &evil)), "dl", &stubs);
        action
            .ban(&common::hostile_ticket(V6, &stubs.marker()))
            .expect("ban");
        stubs.assert_nothing_ran();
        assert_eq!(
            stubs.take(),
            vec![
                call(tool, &["--deny", V4, &format!("banned by Fail2Ban {evil}")]),
                call(tool, &["--deny", V6, &evil]),
            ],
            "hostile value {i}: {evil:?}"
        );
    }
}

#[test]
fn apf_deny_and_remove() {
    deny_list_tool("apf", "--remove");
}

#[test]
fn csf_deny_and_denyrm() {
    deny_list_tool("csf", "--denyrm");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).expect("metadata").ino()
}

#[test]
fn hostsdeny_adds_and_removes_its_lines() {
    let stubs = Stubs::new(&[]);
    // a file name the shell would trip over if it were not quoted
    let file = stubs.path("hosts $(touch PWNED);'.deny");
    let others = "# existing\nsshd: 198.51.100.7\nALL: 192.0.2.20\nALL: 192.0.2.2 # not ours\n";
    std::fs::write(&file, others).expect("hosts.deny");
    let ino = inode(&file);
    let line = format!("hostsdeny[{}]", opt("file", file.to_str().expect("utf-8")));
    let mut action = configured(&line, "hd", &stubs);
    assert_writes_only(&action, &file);
    action.start().expect("start");

    action
        .ban(&common::hostile_ticket(V4, &stubs.marker()))
        .expect("ban v4");
    action
        .ban(&common::hostile_ticket(V6, &stubs.marker()))
        .expect("ban v6");
    // a ban made again (a restored one) does not add a second line
    action
        .ban(&common::hostile_ticket(V4, &stubs.marker()))
        .expect("ban v4 again");
    assert_eq!(read(&file), format!("{others}ALL: {V4}\nALL: [{V6}]\n"));
    action
        .unban(&common::hostile_ticket(V4, &stubs.marker()))
        .expect("unban v4");
    assert_eq!(read(&file), format!("{others}ALL: [{V6}]\n"));
    action
        .unban(&common::hostile_ticket(V6, &stubs.marker()))
        .expect("unban v6");
    assert_eq!(read(&file), others, "other lines kept as they were");
    assert_eq!(inode(&file), ino, "the file is rewritten in place");
    action.stop().expect("stop");

    // A missing file is made by the first ban.
    let fresh = stubs.path("fresh.deny");
    let line = format!(
        "hostsdeny[{}, daemon_list=\"sshd, vsftpd\"]",
        opt("file", fresh.to_str().expect("utf-8"))
    );
    let mut action = configured(&line, "hd", &stubs);
    assert_writes_only(&action, &fresh);
    action
        .ban(&common::hostile_ticket(V4, &stubs.marker()))
        .expect("ban");
    assert_eq!(read(&fresh), format!("sshd, vsftpd: {V4}\n"));
    action
        .unban(&common::hostile_ticket(V4, &stubs.marker()))
        .expect("unban");
    assert_eq!(read(&fresh), "");
    stubs.assert_nothing_ran();
    assert!(!stubs.path("PWNED").exists());
}

#[test]
fn hostsdeny_hostile_daemon_list_is_data() {
    let stubs = Stubs::new(&[]);
    let file = stubs.path("hosts.deny");
    for (i, evil) in hostile_config_values(&stubs.marker())
        .into_iter()
        .enumerate()
    {
        std::fs::write(&file, "keep: me\n").expect("hosts.deny");
        let line = format!(
            "hostsdeny[{}, {}]",
            opt("file", file.to_str().expect("utf-8")),
            opt("daemon_list", &evil)
        );
        let mut action = configured(&line, "hd", &stubs);
        assert_writes_only(&action, &file);
        action
            .ban(&common::hostile_ticket(V4, &stubs.marker()))
            .expect("ban");
        action
            .ban(&common::hostile_ticket(V6, &stubs.marker()))
            .expect("ban");
        stubs.assert_nothing_ran();
        assert_eq!(
            read(&file),
            format!("keep: me\n{evil}: {V4}\n{evil}: [{V6}]\n"),
            "hostile value {i}"
        );
        action
            .unban(&common::hostile_ticket(V4, &stubs.marker()))
            .expect("unban");
        action
            .unban(&common::hostile_ticket(V6, &stubs.marker()))
            .expect("unban");
        assert_eq!(read(&file), "keep: me\n", "hostile value {i}");
    }
}

#[test]
fn dummy_records_every_event() {
    let stubs = Stubs::new(&[]);
    let target = stubs.path("dummy $(touch PWNED) '.log");
    let line = format!("dummy[{}]", opt("target", target.to_str().expect("utf-8")));
    let mut action = configured(&line, "dj", &stubs);
    assert_writes_only(&action, &target);
    assert!(!action.start_on_demand());
    action.start().expect("start");
    assert_eq!(read(&target), "123\n");
    action
        .ban(&common::hostile_ticket(V4, &stubs.marker()))
        .expect("ban v4");
    action
        .ban(&common::hostile_ticket(V6, &stubs.marker()))
        .expect("ban v6");
    action
        .unban(&common::hostile_ticket(V4, &stubs.marker()))
        .expect("unban v4");
    assert!(action.flush().expect("flush"));
    assert_eq!(read(&target), format!("123\n+{V4}\n+{V6}\n-{V4}\n-*\n"));
    let out = action
        .render("<actionban>", &common::hostile_ticket(V6, &stubs.marker()))
        .expect("render");
    let o = Executor::new().execute(&out, std::time::Duration::from_secs(10));
    assert!(o.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!(
            "[dj] dummy {} -- banned {V6} (family: inet6)\n",
            target.display()
        )
    );
    action.stop().expect("stop");
    assert!(!target.exists(), "the stop deletes the target");
    stubs.assert_nothing_ran();
    assert!(!stubs.path("PWNED").exists());
}

#[test]
fn dummy_hostile_configuration_is_data() {
    let stubs = Stubs::new(&[]);
    let target = stubs.path("dummy.log");
    for (i, evil) in hostile_config_values(&stubs.marker())
        .into_iter()
        .enumerate()
    {
        let line = format!(
            "dummy[{}, {}, {}]",
            opt("target", target.to_str().expect("utf-8")),
            opt("name", &evil),
            opt("init", &evil)
        );
        let mut action = configured(&line, "dj", &stubs);
        assert_writes_only(&action, &target);
        action.start().expect("start");
        action
            .ban(&common::hostile_ticket(V4, &stubs.marker()))
            .expect("ban");
        let out = action
            .render(
                "<actionunban>",
                &common::hostile_ticket(V4, &stubs.marker()),
            )
            .expect("render");
        stubs.assert_nothing_ran();
        assert_eq!(read(&target), format!("{evil}\n+{V4}\n"), "value {i}");
        let o = Executor::new().execute(&out, std::time::Duration::from_secs(10));
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            format!(
                "[{evil}] {} {} -- unbanned {V4} (family: inet4)\n",
                action.property("actname").expect("actname"),
                target.display()
            ),
            "value {i}"
        );
        action.stop().expect("stop");
        assert!(!target.exists());
        stubs.assert_nothing_ran();
    }
}
