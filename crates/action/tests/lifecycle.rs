//! Lifecycle tests: every command appends a line to a log file, so the
//! order of operations can be observed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gaoler_action::{ActionError, ActionInfo, ActionSpec, CommandAction};

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
    fn log(&self) -> PathBuf {
        self.dir.path().join("log")
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    /// The log lines so far.
    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
    fn clear(&self) {
        let _ = std::fs::remove_file(self.log());
    }
    /// `echo WORDS >> log`
    fn echo(&self, words: &str) -> String {
        format!("echo {words} >> '{}'", self.log().display())
    }
}

fn spec(props: &[(&str, &str)]) -> ActionSpec {
    ActionSpec {
        jail: "test".into(),
        name: "act".into(),
        properties: props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn action(props: &[(String, String)]) -> CommandAction {
    let s = ActionSpec {
        jail: "test".into(),
        name: "act".into(),
        properties: props.to_vec(),
    };
    let mut a = CommandAction::new(&s).expect("valid action");
    a.set_ipv6_allowed(true);
    a
}

fn kv(k: &str, v: String) -> (String, String) {
    (k.to_string(), v)
}

fn ip(addr: &str) -> ActionInfo {
    ActionInfo::for_id(addr)
}

#[test]
fn plain_action_starts_once_and_stops() {
    let f = Fixture::new();
    let mut a = action(&[
        kv("actionstart", f.echo("start")),
        kv("actionban", f.echo("ban <ip>")),
        kv("actionunban", f.echo("unban <ip>")),
        kv("actionstop", f.echo("stop")),
    ]);
    assert_eq!(a.families(), vec![String::new()]);
    assert!(!a.start_on_demand());
    a.start().unwrap();
    a.ban(&ip("192.0.2.1")).unwrap();
    a.ban(&ip("2001:db8::1")).unwrap();
    a.unban(&ip("192.0.2.1")).unwrap();
    a.stop().unwrap();
    assert_eq!(
        f.lines(),
        vec![
            "start",
            "ban 192.0.2.1",
            "ban 2001:db8::1",
            "unban 192.0.2.1",
            "stop"
        ]
    );
    // stopped: a new stop does nothing
    a.stop().unwrap();
    assert_eq!(f.lines().len(), 5);
}

#[test]
fn conditional_action_starts_on_demand_per_family() {
    let f = Fixture::new();
    let mut a = action(&[
        kv("actionstart", f.echo("start <family> <set>")),
        kv("actionban", f.echo("ban <set> <ip>")),
        kv("actionstop", f.echo("stop <set>")),
        kv("set", "v4-<name>".into()),
        kv("set?family=inet6", "v6-<name>".into()),
        kv("name", "jail".into()),
    ]);
    assert_eq!(a.families(), vec!["inet4".to_string(), "inet6".to_string()]);
    assert!(a.start_on_demand());
    a.start().unwrap();
    assert!(f.lines().is_empty(), "on-demand: nothing at jail start");
    a.ban(&ip("192.0.2.1")).unwrap();
    a.ban(&ip("192.0.2.2")).unwrap();
    a.ban(&ip("2001:db8::5")).unwrap();
    a.stop().unwrap();
    assert_eq!(
        f.lines(),
        vec![
            "start inet4 v4-jail",
            "ban v4-jail 192.0.2.1",
            "ban v4-jail 192.0.2.2",
            "start inet6 v6-jail",
            "ban v6-jail 2001:db8::5",
            "stop v4-jail",
            "stop v6-jail",
        ]
    );
}

#[test]
fn explicit_start_on_demand_false_starts_all_families() {
    let f = Fixture::new();
    let mut a = action(&[
        kv("actionstart", f.echo("start <family>")),
        kv("actionstop", f.echo("stop")),
        kv("x?family=inet6", "6".into()),
        kv("actionstart_on_demand", "false".into()),
    ]);
    a.start().unwrap();
    a.stop().unwrap();
    // identical stop command for both families runs once
    assert_eq!(f.lines(), vec!["start inet4", "start inet6", "stop"]);
}

#[test]
fn ipv6_disallowed_gives_one_family() {
    let mut a = action(&[kv("x?family=inet6", "6".into())]);
    a.set_ipv6_allowed(false);
    assert_eq!(a.families(), vec!["inet4".to_string()]);
}

/// actionban fails the first time; check fails; repair fixes; ban retried.
#[test]
fn ban_failure_runs_check_and_repair_then_retries() {
    let f = Fixture::new();
    let broken = f.path("broken");
    std::fs::write(&broken, "").unwrap();
    let b = broken.display();
    let mut a = action(&[
        kv("actionstart", f.echo("start")),
        kv(
            "actionban",
            format!(
                "if [ -e '{b}' ]; then {} ; exit 1; fi; {}",
                f.echo("ban-failed"),
                f.echo("ban <ip>")
            ),
        ),
        kv(
            "actioncheck",
            format!("{}; [ ! -e '{b}' ]", f.echo("check")),
        ),
        kv("actionrepair", format!("{}; rm '{b}'", f.echo("repair"))),
    ]);
    a.start().unwrap();
    assert_eq!(a.ban_epoch(), 0);
    a.ban(&ip("192.0.2.9")).unwrap();
    assert_eq!(
        f.lines(),
        vec![
            "start",
            "ban-failed",
            "check",
            "repair",
            "check",
            "ban 192.0.2.9"
        ]
    );
    assert_eq!(a.ban_epoch(), 1, "repair invalidates the ban epoch");
}

/// Without actionrepair the family is stopped and started again.
#[test]
fn repair_without_actionrepair_restarts() {
    let f = Fixture::new();
    let broken = f.path("broken");
    std::fs::write(&broken, "").unwrap();
    let b = broken.display();
    let mut a = action(&[
        kv("actionstart", format!("{}; rm -f '{b}'", f.echo("start"))),
        kv("actionstop", f.echo("stop")),
        kv(
            "actionban",
            format!(
                "[ ! -e '{b}' ] || {{ {}; exit 1; }}; {}",
                f.echo("ban-failed"),
                f.echo("ban")
            ),
        ),
        kv(
            "actioncheck",
            format!("{}; [ ! -e '{b}' ]", f.echo("check")),
        ),
    ]);
    a.start().unwrap();
    std::fs::write(&broken, "").unwrap();
    let r = a.ban(&ip("192.0.2.9"));
    assert!(r.is_ok(), "{r:?} {:?}", f.lines());
    assert_eq!(a.ban_epoch(), 1);
    assert_eq!(
        f.lines(),
        vec![
            "start",
            "ban-failed",
            "check",
            "stop",
            "start",
            "check",
            "ban"
        ]
    );
}

/// Without actioncheck, a failed ban is retried once directly, then fails.
#[test]
fn ban_without_check_retries_once_then_errors() {
    let f = Fixture::new();
    let mut a = action(&[kv("actionban", format!("{}; exit 1", f.echo("ban")))]);
    a.start().unwrap();
    let err = a.ban(&ip("192.0.2.3")).unwrap_err();
    assert!(err.to_string().contains("Error banning 192.0.2.3"), "{err}");
    assert_eq!(f.lines(), vec!["ban", "ban"]);
    // nothing was recorded as banned, so unban is a no-op
    a.unban(&ip("192.0.2.3")).unwrap();
    assert_eq!(f.lines().len(), 2);
}

#[test]
fn unrepairable_check_fails_ban() {
    let f = Fixture::new();
    let mut a = action(&[
        kv("actionban", format!("{}; exit 1", f.echo("ban"))),
        kv("actioncheck", format!("{}; exit 1", f.echo("check"))),
        kv("actionrepair", format!("{}; exit 1", f.echo("repair"))),
    ]);
    a.start().unwrap();
    assert!(a.ban(&ip("192.0.2.3")).is_err());
    assert_eq!(f.lines(), vec!["ban", "check", "repair"]);
}

#[test]
fn unban_does_not_repair_unless_asked() {
    let f = Fixture::new();
    let broken = f.path("broken");
    let b = broken.display();
    let props = vec![
        kv("actionban", f.echo("ban")),
        kv(
            "actionunban",
            format!(
                "[ ! -e '{b}' ] || {{ {}; exit 1; }}; {}",
                f.echo("unban-failed"),
                f.echo("unban")
            ),
        ),
        kv(
            "actioncheck",
            format!("{}; [ ! -e '{b}' ]", f.echo("check")),
        ),
        kv("actionrepair", format!("{}; rm '{b}'", f.echo("repair"))),
    ];
    let mut a = action(&props);
    a.start().unwrap();
    a.ban(&ip("192.0.2.1")).unwrap();
    std::fs::write(&broken, "").unwrap();
    assert!(a.unban(&ip("192.0.2.1")).is_err());
    assert_eq!(f.lines(), vec!["ban", "unban-failed", "check"]);

    f.clear();
    let mut props = props;
    props.push(kv("actionrepair_on_unban", "true".into()));
    let mut a = action(&props);
    a.start().unwrap();
    a.ban(&ip("192.0.2.1")).unwrap();
    a.unban(&ip("192.0.2.1")).unwrap();
    assert_eq!(
        f.lines(),
        vec!["ban", "unban-failed", "check", "repair", "check", "unban"]
    );
}

#[test]
fn flush_runs_once_per_family_with_items() {
    let f = Fixture::new();
    let mut a = action(&[
        kv("actionban", f.echo("ban <ip>")),
        kv("actionunban", f.echo("unban <ip>")),
        kv("actionflush", f.echo("flush <set>")),
        kv("actionstop", f.echo("stop <set>")),
        kv("set", "s4".into()),
        kv("set?family=inet6", "s6".into()),
    ]);
    assert!(a.has_flush());
    // nothing banned: nothing to flush
    assert!(a.flush().unwrap());
    assert!(f.lines().is_empty());
    a.ban(&ip("192.0.2.1")).unwrap();
    a.ban(&ip("192.0.2.2")).unwrap();
    assert!(a.flush().unwrap());
    assert_eq!(
        f.lines(),
        vec!["ban 192.0.2.1", "ban 192.0.2.2", "flush s4"]
    );
    // after a flush the family holds no items: unban is a no-op, and a
    // second flush does nothing
    a.unban(&ip("192.0.2.1")).unwrap();
    assert!(a.flush().unwrap());
    a.stop().unwrap();
    assert_eq!(f.lines()[3..], ["stop s4"]);
}

#[test]
fn reban_prefers_actionreban() {
    let f = Fixture::new();
    let mut a = action(&[kv("actionban", f.echo("ban <ip>"))]);
    a.reban(&ip("192.0.2.1")).unwrap();
    a.set_property("actionreban", &f.echo("reban <ip>"))
        .unwrap();
    a.reban(&ip("192.0.2.1")).unwrap();
    assert_eq!(f.lines(), vec!["ban 192.0.2.1", "reban 192.0.2.1"]);
}

#[test]
fn prolong_only_when_defined() {
    let f = Fixture::new();
    let mut a = action(&[kv("actionban", f.echo("ban"))]);
    assert!(!a.is_prolongable());
    a.prolong(&ip("192.0.2.1")).unwrap();
    assert!(f.lines().is_empty());
    a.set_property("actionprolong", &f.echo("prolong <bantime>"))
        .unwrap();
    a.prolong(&ip("192.0.2.1").with("bantime", "600")).unwrap();
    assert_eq!(f.lines(), vec!["prolong 600"]);
}

#[test]
fn reload_and_reconfigure() {
    let f = Fixture::new();
    let mut a = action(&[
        kv("actionstart", f.echo("start")),
        kv("actionreload", f.echo("reload <x>")),
        kv("x", "1".into()),
    ]);
    a.start().unwrap();
    a.reconfigure(&[
        kv("actionreload", f.echo("reload2 <x>")),
        kv("x", "2".into()),
    ])
    .unwrap();
    // the old start command was reset by reconfigure
    assert_eq!(a.property("actionstart"), Some(""));
    a.reload().unwrap();
    assert_eq!(f.lines(), vec!["start", "reload2 2"]);
}

#[test]
fn start_failure_is_an_error_and_not_started() {
    let mut a = CommandAction::new(&spec(&[("actionstart", "exit 2")])).unwrap();
    let err = a.start().unwrap_err();
    assert!(matches!(err, ActionError::Operation { .. }));
    assert!(
        err.to_string().contains("Error starting action test/act"),
        "{err}"
    );
    assert!(a.started_families().is_empty());
}

/// Whether any process has exactly this command line.
fn process_running(cmdline: &[&str]) -> bool {
    let want: Vec<u8> = cmdline.iter().flat_map(|a| a.bytes().chain([0])).collect();
    std::fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten().any(|e| {
                let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
                std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == want)
                    && !stat.contains(") Z ")
            })
        })
        .unwrap_or(false)
}

#[test]
fn timeout_kills_long_command() {
    // A unique duration identifies our sleep among other processes.
    let secs = format!("100.{}", std::process::id());
    // Positive control: the detector sees such a process.
    let mut control = std::process::Command::new("sleep")
        .arg(&secs)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert!(process_running(&["sleep", &secs]));
    control.kill().unwrap();
    control.wait().unwrap();
    let ban = format!("sleep {secs}; true");
    let mut a = CommandAction::new(&spec(&[("actionban", &ban), ("timeout", "0.3")])).unwrap();
    assert_eq!(a.timeout(), Duration::from_millis(300));
    let t = Instant::now();
    assert!(a.ban(&ip("192.0.2.1")).is_err());
    // tried twice (retry without check), each killed after ~0.3 s + 0.2 s
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !process_running(&["sleep", &secs]),
        "sleep survived the timeout"
    );
}

#[test]
fn timeout_time_strings() {
    let a = CommandAction::new(&spec(&[("timeout", "1m")])).unwrap();
    assert_eq!(a.timeout(), Duration::from_secs(60));
    assert_eq!(a.property("timeout"), Some("60"));
    let e = CommandAction::new(&spec(&[("timeout", "soon")])).unwrap_err();
    assert!(matches!(e, ActionError::InvalidTimeout { .. }), "{e}");
}

#[test]
fn python_actions_are_refused() {
    let s = ActionSpec {
        jail: "sshd".into(),
        name: "smtp.py".into(),
        properties: vec![],
    };
    let e = CommandAction::new(&s).unwrap_err();
    assert!(
        matches!(&e, ActionError::PythonAction { jail, action } if jail == "sshd" && action == "smtp.py")
    );
    let msg = e.to_string();
    assert!(msg.contains("sshd") && msg.contains("smtp.py"), "{msg}");
}

#[test]
fn bantime_is_ignored_and_private_names_are_not_properties() {
    let a = CommandAction::new(&spec(&[("bantime", "600"), ("_x", "1"), ("y", "2")])).unwrap();
    assert_eq!(a.property("bantime"), None);
    assert_eq!(a.property("_x"), None);
    assert_eq!(a.property("y"), Some("2"));
}

#[test]
fn empty_commands_succeed() {
    let mut a = CommandAction::new(&spec(&[])).unwrap();
    a.start().unwrap();
    a.ban(&ip("192.0.2.1")).unwrap();
    a.unban(&ip("192.0.2.1")).unwrap();
    a.stop().unwrap();
}

const NASTY: &str = "`touch PWNED`;$(touch PWNED)|touch PWNED&\n~!'\"\\ <ip> $HOME *";

/// Hostile values from log lines arrive literally and nothing is executed.
#[test]
fn hostile_values_are_not_executed() {
    let f = Fixture::new();
    let out = f.path("out");
    let pwned = f.path("PWNED");
    let o = out.display();
    let mut a = action(&[
        kv(
            "actionban",
            format!(
                "cd '{}' && printf '%s\\n--\\n%s\\n--\\n%s\\n--\\n%s' \"<matches>\" \"<F-USER>\" \"<ip>\" \"<ipjailmatches>\" > '{o}'",
                f.dir.path().display()
            ),
        ),
    ]);
    let mut info = ActionInfo::for_id(NASTY);
    info.set("matches", NASTY)
        .set("ipjailmatches", format!("line1\n{NASTY}"))
        .set_data("user", NASTY);
    let cmd = a.render("<actionban>", &info).unwrap();
    assert!(
        !cmd.script.contains("PWNED"),
        "value pasted into script: {}",
        cmd.script
    );
    a.ban(&info).unwrap();
    let got = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        got,
        format!("{NASTY}\n--\n{NASTY}\n--\n{NASTY}\n--\nline1\n{NASTY}")
    );
    assert!(!pwned.exists(), "hostile value was executed");
    assert!(!Path::new("PWNED").exists());
}

/// A value without special characters is pasted raw, like fail2ban.
#[test]
fn safe_values_are_pasted() {
    let mut a = action(&[kv(
        "actionban",
        "ban <ip> <failures> <F-PORT> <unknown>".into(),
    )]);
    let mut info = ip("192.0.2.1").with("failures", "3");
    info.set_data("PORT", "22");
    let cmd = a.render("<actionban>", &info).unwrap();
    assert_eq!(cmd.script, "ban 192.0.2.1 3 22 <unknown>");
    assert!(cmd.args.is_empty());
}

/// The stock nftables action from the reference dump renders as expected
/// for both families.
#[test]
fn golden_nftables_renders_per_family() {
    let path = gaoler_testkit::upstream().join("golden/dump-all-jails.jsonl");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reference dump {} missing: {e}", path.display()));
    let line = text
        .lines()
        .find(|l| l.starts_with(r#"["multi-set", "sshd", "action", "nftables""#))
        .expect("sshd nftables action in dump");
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    let props: Vec<(String, String)> = v[4]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let val = match &p[1] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (p[0].as_str().unwrap().to_string(), val)
        })
        .collect();
    let mut a = action(&props);
    assert!(a.start_on_demand());
    let c4 = a.render("<actionban>", &ip("192.0.2.1")).unwrap();
    assert_eq!(
        c4.script,
        r"nft add element inet f2b-table addr-set-sshd \{ 192.0.2.1 \}"
    );
    let c6 = a.render("<actionban>", &ip("2001:db8::1")).unwrap();
    assert_eq!(
        c6.script,
        r"nft add element inet f2b-table addr6-set-sshd \{ 2001:db8::1 \}"
    );
    let start6 = a
        .render("<actionstart>", &ActionInfo::new().with("family", "inet6"))
        .unwrap();
    assert!(
        start6.script.contains("type ipv6_addr\\; flags interval"),
        "{}",
        start6.script
    );
    assert!(
        start6.script.contains("ip6 saddr @addr6-set-sshd reject"),
        "{}",
        start6.script
    );
    assert!(!start6.script.contains('<'), "{}", start6.script);
}

/// A "stacking" action on a file: a ban appends a line, an unban removes
/// the first equal line and fails when there is none (iptables' `-I`/`-D`).
/// Every command also notes itself in the log.
fn stacking(f: &Fixture, repeat: Option<&str>) -> CommandAction {
    let rules = f.path("rules");
    std::fs::write(&rules, "").unwrap();
    let r = rules.display();
    let mut props = vec![
        kv("actionban", format!("{}; echo <ip> >> '{r}'", f.echo("ban <ip>"))),
        kv(
            "actionunban",
            format!(
                "{}; grep -qxF '<ip>' '{r}' || exit 1; \
                 awk -v ip='<ip>' 'done || $0 != ip {{ print; next }} {{ done = 1 }}' '{r}' > '{r}.new' && mv '{r}.new' '{r}'",
                f.echo("unban <ip>")
            ),
        ),
    ];
    if let Some(v) = repeat {
        props.push(kv("actionunban_repeat", v.into()));
    }
    action(&props)
}

fn copies(f: &Fixture, addr: &str) -> usize {
    std::fs::read_to_string(f.path("rules"))
        .unwrap()
        .lines()
        .filter(|l| *l == addr)
        .count()
}

fn restored(addr: &str) -> ActionInfo {
    let mut i = ip(addr);
    i.set_restored(true);
    i
}

#[test]
fn ban_replaces_copies_in_a_stacking_action() {
    let f = Fixture::new();
    let mut a = stacking(&f, Some("true"));
    // What a crashed run (or several) left behind.
    std::fs::write(f.path("rules"), "192.0.2.1\n192.0.2.1\n192.0.2.9\n").unwrap();
    a.start().unwrap();
    a.ban(&restored("192.0.2.1")).unwrap();
    assert_eq!(copies(&f, "192.0.2.1"), 1);
    assert_eq!(copies(&f, "192.0.2.9"), 1, "other bans untouched");
    // A restored ban with nothing left from before: one failed (quiet)
    // unban, then the ban.
    f.clear();
    a.ban(&restored("192.0.2.2")).unwrap();
    assert_eq!(copies(&f, "192.0.2.2"), 1);
    assert_eq!(f.lines(), ["unban 192.0.2.2", "ban 192.0.2.2"]);
    // A fresh ban of an address whose rule survived (log lines read again
    // after a crash) replaces it as well.
    std::fs::write(f.path("rules"), "192.0.2.3\n").unwrap();
    f.clear();
    a.ban(&ip("192.0.2.3")).unwrap();
    assert_eq!(copies(&f, "192.0.2.3"), 1);
    assert_eq!(
        f.lines(),
        ["unban 192.0.2.3", "unban 192.0.2.3", "ban 192.0.2.3"]
    );
}

#[test]
fn unban_removes_every_copy_in_a_stacking_action() {
    let f = Fixture::new();
    let mut a = stacking(&f, Some("yes"));
    a.start().unwrap();
    a.ban(&ip("192.0.2.1")).unwrap();
    assert_eq!(copies(&f, "192.0.2.1"), 1);
    // Copies from elsewhere (an older version, a ban that timed out after
    // it inserted its rule).
    std::fs::write(f.path("rules"), "192.0.2.1\n192.0.2.1\n192.0.2.1\n").unwrap();
    f.clear();
    a.unban(&ip("192.0.2.1")).unwrap();
    assert_eq!(copies(&f, "192.0.2.1"), 0);
    // Three successful unbans and the failing one that ends the loop.
    assert_eq!(f.lines(), ["unban 192.0.2.1"; 4]);
}

#[test]
fn reban_replaces_in_a_stacking_action() {
    let f = Fixture::new();
    let mut a = stacking(&f, Some("true"));
    a.ban(&ip("192.0.2.1")).unwrap();
    a.reban(&ip("192.0.2.1")).unwrap();
    assert_eq!(copies(&f, "192.0.2.1"), 1);
}

#[test]
fn non_stacking_actions_keep_fail2bans_commands() {
    // The same file commands without `actionunban_repeat`: not recognised
    // as stacking (they are no plain iptables deletion), so fail2ban's
    // behaviour is kept exactly: a restore bans, an unban runs once.
    let f = Fixture::new();
    let mut a = stacking(&f, None);
    assert!(!a.unban_repeats(&ip("192.0.2.1")).unwrap());
    std::fs::write(f.path("rules"), "192.0.2.1\n").unwrap();
    a.ban(&restored("192.0.2.1")).unwrap();
    assert_eq!(f.lines(), ["ban 192.0.2.1"]);
    assert_eq!(copies(&f, "192.0.2.1"), 2);
    f.clear();
    a.unban(&ip("192.0.2.1")).unwrap();
    assert_eq!(f.lines(), ["unban 192.0.2.1"]);
    // An explicit "false" wins over the detection.
    let mut b = action(&[
        kv("actionunban", "iptables -D f2b-x -s <ip> -j DROP".into()),
        kv("actionunban_repeat", "false".into()),
    ]);
    assert!(!b.unban_repeats(&ip("192.0.2.1")).unwrap());
}

#[test]
fn iptables_deletions_are_detected_per_family() {
    let mut a = action(&[
        kv(
            "actionunban",
            "<iptables> -D f2b-<name> -s <ip> -j <blocktype>".into(),
        ),
        kv("iptables", "iptables <lockingopt>".into()),
        kv("iptables?family=inet6", "ip6tables <lockingopt>".into()),
        kv("lockingopt", "-w".into()),
        kv("name", "sshd".into()),
        kv(
            "blocktype",
            "REJECT --reject-with icmp-port-unreachable".into(),
        ),
    ]);
    assert!(a.unban_repeats(&ip("192.0.2.1")).unwrap());
    assert!(a.unban_repeats(&ip("2001:db8::1")).unwrap());
    let mut nft = action(&[kv(
        "actionunban",
        "nft delete element inet f2b-table addr-set-x { <ip> }".into(),
    )]);
    assert!(!nft.unban_repeats(&ip("192.0.2.1")).unwrap());
}

#[test]
fn repeated_unban_is_bounded() {
    // An unban that never fails (declared stacking by mistake) runs at
    // most MAX_COPIES extra times.
    let f = Fixture::new();
    let mut a = action(&[
        kv("actionban", f.echo("ban <ip>")),
        kv("actionunban", f.echo("unban <ip>")),
        kv("actionunban_repeat", "1".into()),
    ]);
    a.ban(&ip("192.0.2.1")).unwrap();
    f.clear();
    a.unban(&ip("192.0.2.1")).unwrap();
    assert_eq!(f.lines().len(), 1 + gaoler_action::MAX_COPIES);
}
