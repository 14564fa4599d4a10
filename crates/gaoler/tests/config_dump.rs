//! `gaoler client -d` against the reference: the golden dump of the whole
//! stock tree, and differential runs of Debian's `fail2ban-client -d` on
//! trees that exercise the reader's corners.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

#[test]
fn golden_dump_of_all_stock_jails_is_identical() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // The golden file was produced with `-c cfgall` (relative), which shows
    // up in `fail2ban_confpath`; reproduce the same invocation.
    let tree = tmp.path().join("cfgall");
    copy_tree(&upstream().join("config"), &tree);
    std::fs::create_dir_all(tree.join("jail.d")).expect("mkdir");
    std::fs::copy(
        upstream().join("golden/all-jails.local"),
        tree.join("jail.d/all.local"),
    )
    .expect("copy");
    std::fs::write("/tmp/empty.log", "").expect("touch /tmp/empty.log");

    let out = gaoler()
        .current_dir(tmp.path())
        .args(["client", "-c", "cfgall", "-d"])
        .output()
        .expect("run gaoler");
    assert!(out.status.success(), "gaoler failed: {}", stderr(&out));
    let ours = stdout(&out);
    let golden =
        std::fs::read_to_string(upstream().join("golden/dump-all-jails.jsonl")).expect("golden");
    let ours: Vec<&str> = ours.lines().collect();
    let golden: Vec<&str> = golden.lines().collect();
    for (i, (o, g)) in ours.iter().zip(golden.iter()).enumerate() {
        assert_eq!(o, g, "line {} differs", i + 1);
    }
    assert_eq!(ours.len(), golden.len(), "line count");
    assert_eq!(golden.len(), 1438);
    let jails = golden.iter().filter(|l| l.starts_with("[\"add\"")).count();
    assert_eq!(jails, 99);
}

/// Run both readers on `tree` and return (ours, reference) as JSON values.
fn both_dumps(tree: &Path) -> (Vec<Value>, Vec<Value>) {
    let out = gaoler()
        .args(["client", "-c"])
        .arg(tree)
        .arg("-d")
        .output()
        .expect("run gaoler");
    assert!(
        out.status.success(),
        "gaoler failed: {}\n{}",
        stderr(&out),
        stdout(&out)
    );
    let ours: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l}: {e}")))
        .collect();
    // The reference prints Python reprs; let Python turn them into JSON.
    let script = "import ast,json,subprocess,sys\n\
        out = subprocess.run(['fail2ban-client','-c',sys.argv[1],'-d'], capture_output=True, text=True)\n\
        lines = [l for l in out.stdout.splitlines() if l.startswith('[')]\n\
        [print(json.dumps(ast.literal_eval(l))) for l in lines]\n\
        sys.exit(0 if lines else 1)\n";
    let refr = Command::new("python3").args(["-c", script]).arg(tree).output().expect(
        "python3 and Debian's fail2ban-client are needed for differential tests (apt-get install fail2ban)",
    );
    assert!(
        refr.status.success(),
        "reference fail2ban-client failed: {}",
        stderr(&refr)
    );
    let theirs = stdout(&refr)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    (ours, theirs)
}

fn assert_same(tree_files: &[(&str, &str)]) -> Vec<Value> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let tree = tmp.path().join("conf");
    copy_tree(&upstream().join("config"), &tree);
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).expect("mkdir");
    for n in ["a.log", "b.log", "freeswitch.log", "cdr.csv"] {
        std::fs::write(logs.join(n), "").expect("log");
    }
    write_files_replacing(&tree, tree_files, "@LOGS@", &logs);
    let (ours, theirs) = both_dumps(&tree);
    for (i, (o, t)) in ours.iter().zip(theirs.iter()).enumerate() {
        assert_eq!(o, t, "command {} differs", i + 1);
    }
    assert_eq!(ours.len(), theirs.len(), "command count");
    assert!(ours.len() > 7, "the tree should enable at least one jail");
    ours
}

#[test]
fn freeswitch_guide_tree() {
    let out = assert_same(&[
        (
            "jail.d/freeswitch.local",
            "[freeswitch]\nenabled = true\n# LAN\nignoreip = 127.0.0.0/8 192.0.2.0/24\n\
             maxretry = 4 ; for a total of five failures\nfindtime = 3600 ; based on empirical testing\n\
             bantime = 1200 ; ban for 20m\nport = 5060\nbanaction = iptables-multiport\n\
             action = %(banaction)s[name=%(__name__)s-tcp, port=\"%(port)s\", protocol=\"tcp\", chain=\"%(chain)s\", actname=%(banaction)s-tcp]\n\
             \x20        %(banaction)s[name=%(__name__)s-udp, port=\"%(port)s\", protocol=\"udp\", chain=\"%(chain)s\", actname=%(banaction)s-udp]\n\
             logpath = @LOGS@/freeswitch.log\n          @LOGS@/cdr.csv\n          @LOGS@/missing-*.log\n",
        ),
        (
            "filter.d/freeswitch.local",
            "[Definition]\nfailregex = %(known/failregex)s\n            \\\"FAIL2BAN_HOST=<HOST>\\\"\n",
        ),
        ("jail.d/recidive.conf", "[recidive]\nenabled = true\nlogpath = @LOGS@/a.log\n"),
    ]);
    assert!(out
        .iter()
        .any(|c| c[2] == "addaction" && c[3] == "iptables-multiport-udp"));
}

#[test]
fn local_overrides_and_jail_d_order() {
    assert_same(&[
        (
            "jail.local",
            "[DEFAULT]\nbanaction = iptables-multiport\nbanaction_allports = iptables-allports\n\
             bantime.increment = true\nbantime.factor = 2\nbantime.maxtime = 5w\nignoreself = false\n\
             ignoreip = 127.0.0.1/8 ::1, 192.0.2.1\n\
             [sshd]\nenabled = true\nmode = aggressive\nlogpath = @LOGS@/a.log tail\nmaxretry = 3\n\
             [nginx-http-auth]\nenabled = true\nlogpath = @LOGS@/b*.log
          @LOGS@/f?eeswitch.log\n",
        ),
        ("jail.d/00-first.conf", "[sshd]\nmaxretry = 7\nfindtime = 1h 30m\n"),
        ("jail.d/10-second.local", "[sshd]\nbantime = 1d\n[my-own]\nenabled = true\nfilter = sshd[mode=ddos]\nlogpath = @LOGS@/b.log\n"),
        ("paths-overrides.local", "[DEFAULT]\nsyslog_authpriv = @LOGS@/a.log\n"),
    ]);
}

#[test]
fn bracket_options_filters_and_init_overrides() {
    assert_same(&[
        (
            "jail.d/x.local",
            "[postfix]\nenabled = true\nbackend = polling\nfilter = postfix[mode=aggressive]\nlogpath = @LOGS@/a.log\n\
             [sshd]\nenabled = true\nbackend = polling\nfilter = sshd[mode=extra, logtype=short]\nlogpath = @LOGS@/a.log\n\
             action = iptables[name=SSH, port=\"ssh, 2222\", protocol=tcp, blocktype=DROP]\n\
             \x20        sendmail-whois[name=SSH, dest=\"root@example.org\", sender='f2b@example.org']\n\
             [mongodb-auth]\nenabled = true\nlogpath = @LOGS@/b.log\nmaxlines = 5\n\
             [dovecot]\nenabled = true\nlogpath = @LOGS@/b.log\nfilter = dovecot[mode=aggressive]\n",
        ),
        ("action.d/iptables.local", "[Init]\nblocktype = REJECT --reject-with tcp-reset\nlockingopt = -w 10\n"),
        ("filter.d/mongodb-auth.local", "[Init]\nmaxlines = 12\n"),
    ]);
}

#[test]
fn known_chains_and_ipv6_conditional_parameters() {
    assert_same(&[
        (
            "jail.d/k.local",
            "[sshd]\nenabled = true\nlogpath = @LOGS@/a.log\nbackend = polling\n\
             failregex = %(known/failregex)s\n            ^Extra failure from <HOST>$\n\
             ignoreregex = ^ignored <HOST>$\n\
             action = %(known/action)s\n         custom-v6[name=sshd6]\n\
             [selinux-ssh]\nenabled = true\nlogpath = @LOGS@/a.log\naction = %(default/action_)s\n\
             [nsd]\nenabled = true\nlogpath = @LOGS@/a.log\n",
        ),
        (
            "action.d/custom-v6.conf",
            "[INCLUDES]\nbefore = iptables.conf\n[Definition]\nactionban = <iptables> -I f2b-<name> 1 -s <ip> -j <blocktype> # <family>\n\
             actionunban = <iptables> -D f2b-<name> -s <ip> -j <blocktype>\n\
             [Init]\nblocktype = DROP\n[Init?family=inet6]\nblocktype = REJECT --reject-with icmp6-adm-prohibited\n",
        ),
    ]);
}

#[test]
fn systemd_backend_skips_logpath() {
    assert_same(&[(
        "jail.d/j.local",
        "[sshd]\nenabled = true\nbackend = systemd\n[postfix]\nenabled = true\nbackend = systemd[journalflags=1]\n",
    )]);
}

/// gaoler's shipped tree with every jail enabled: `-d` resolves each
/// jail's filter and actions, Debian's fail2ban-client reads the same tree
/// to the same commands (our tree is fail2ban's dialect, nothing else), and
/// `-t` (which also compiles every regex) passes.
#[test]
fn shipped_tree_with_every_jail_enabled() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let tree = tmp.path().join("conf");
    copy_tree(&shipped(), &tree);
    let log = tmp.path().join("empty.log");
    std::fs::write(&log, "").expect("log");
    let jail_conf = std::fs::read_to_string(tree.join("jail.conf")).expect("jail.conf");
    let jails: Vec<&str> = jail_conf
        .lines()
        .filter_map(|l| l.strip_prefix('[')?.strip_suffix(']'))
        .filter(|n| !matches!(*n, "INCLUDES" | "DEFAULT"))
        .collect();
    assert!(
        jails.len() >= 100,
        "only {} jails in jail.conf",
        jails.len()
    );
    let mut all = String::new();
    for j in &jails {
        all.push_str(&format!(
            "[{j}]\nenabled = true\nlogpath = {}\nbackend = polling\n",
            log.display()
        ));
    }
    std::fs::create_dir_all(tree.join("jail.d")).expect("mkdir");
    std::fs::write(tree.join("jail.d/all.local"), all).expect("all.local");

    let (ours, theirs) = both_dumps(&tree);
    let added: Vec<&str> = ours
        .iter()
        .filter(|v| v[0] == "add")
        .filter_map(|v| v[1].as_str())
        .collect();
    assert_eq!(added, jails, "every jail of jail.conf is started, in order");
    for (i, (o, t)) in ours.iter().zip(theirs.iter()).enumerate() {
        assert_eq!(o, t, "command {} differs", i + 1);
    }
    assert_eq!(ours.len(), theirs.len(), "command count");

    let out = gaoler()
        .args(["client", "-c"])
        .arg(&tree)
        .arg("-t")
        .output()
        .expect("run gaoler");
    assert!(
        out.status.success(),
        "-t failed: {}\n{}",
        stderr(&out),
        stdout(&out)
    );
}

/// The README's table of the shipped library names every jail of
/// jail.conf and every action of action.d, so it cannot fall behind.
#[test]
fn readme_lists_every_shipped_jail_and_action() {
    let readme = std::fs::read_to_string(shipped().join("../README.md")).expect("README");
    let start = readme
        .find("## Shipped jails and actions")
        .expect("README section \"Shipped jails and actions\"");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let jail_conf = std::fs::read_to_string(shipped().join("jail.conf")).expect("jail.conf");
    let mut missing = Vec::new();
    for j in jail_conf
        .lines()
        .filter_map(|l| l.strip_prefix('[')?.strip_suffix(']'))
        .filter(|n| !matches!(*n, "INCLUDES" | "DEFAULT"))
    {
        if !section.contains(&format!("`{j}`")) {
            missing.push(format!("jail {j}"));
        }
    }
    for e in std::fs::read_dir(shipped().join("action.d")).expect("action.d") {
        let name = e.expect("entry").file_name().to_string_lossy().to_string();
        if let Some(a) = name.strip_suffix(".conf") {
            if !a.ends_with("common") && !section.contains(&format!("`{a}`")) {
                missing.push(format!("action {a}"));
            }
        }
    }
    assert!(missing.is_empty(), "not in the README table: {missing:?}");
}

/// The FreeSWITCH guide's jail, mail action included, on gaoler's own tree:
/// the whois mail action it names exists and both readers agree.
#[test]
fn freeswitch_guide_on_shipped_tree() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let tree = tmp.path().join("conf");
    copy_tree(&shipped(), &tree);
    let log = tmp.path().join("freeswitch.log");
    std::fs::write(&log, "").expect("log");
    write_files(
        &tree,
        &[(
            "jail.d/freeswitch.local",
            &format!(
                "[freeswitch]\nenabled = true\nignoreip = 127.0.0.0/8 192.0.2.0/24\n\
                 action = %(banaction)s[name=%(__name__)s-tcp, port=\"%(port)s\", protocol=\"tcp\", chain=\"%(chain)s\", actname=%(banaction)s-tcp]\n\
                 \x20        %(banaction)s[name=%(__name__)s-udp, port=\"%(port)s\", protocol=\"udp\", chain=\"%(chain)s\", actname=%(banaction)s-udp]\n\
                 \x20        %(mta)s-whois[name=%(__name__)s, dest=\"%(destemail)s\"]\n\
                 logpath = {}\nbackend = polling\n",
                log.display()
            ),
        )],
    );
    let (ours, theirs) = both_dumps(&tree);
    assert_eq!(ours, theirs);
    assert!(
        ours.iter()
            .any(|c| c[2] == "addaction" && c[3] == "sendmail-whois"),
        "{ours:?}"
    );
}
