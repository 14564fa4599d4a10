//! Shared by the action tests: actions as the configuration reader gives
//! them to the server.

use std::path::{Path, PathBuf};

use gaoler_action::{ActionInfo, ActionSpec};

#[allow(dead_code)]
pub mod stubs;

/// Upstream fail2ban's configuration tree (test data in `../shared`).
pub fn upstream() -> PathBuf {
    gaoler_testkit::upstream().join("config")
}

/// gaoler's own shipped configuration tree.
#[allow(dead_code)]
pub fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

/// The action property list the configuration reader produces for
/// `banaction` in a jail named `jail` (`port`, tcp) of the configuration
/// tree at `root`.
#[allow(dead_code)]
pub fn action_properties(root: &Path, banaction: &str, jail: &str, port: u16) -> ActionSpec {
    jail_action(
        root,
        jail,
        &format!("port = {port}\nbanaction = {banaction}"),
        None,
    )
}

/// The action the configuration reader makes of the jail line
/// `action = LINE` in a jail `jail` of gaoler's shipped tree (`port`).
#[allow(dead_code)]
pub fn configured_action(line: &str, jail: &str, port: u16) -> ActionSpec {
    jail_action(
        &shipped(),
        jail,
        &format!("port = {port}\naction = {line}"),
        None,
    )
}

/// The first action of jail `jail`, enabled in a temporary copy of the tree
/// at `root` with the option lines `settings` (`banaction = ...`,
/// `action = ...`, `port = ...`) and the log file `logpath` (an empty one
/// when `None`), as the configuration reader gives it to the server.
pub fn jail_action(root: &Path, jail: &str, settings: &str, logpath: Option<&Path>) -> ActionSpec {
    assert!(
        root.join("jail.conf").is_file(),
        "configuration missing at {}",
        root.display()
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = tmp.path().join("cfg");
    gaoler_testkit::run(&[
        "cp",
        "-r",
        root.to_str().expect("utf-8 path"),
        cfg.to_str().expect("utf-8 path"),
    ]);
    std::fs::create_dir_all(cfg.join("jail.d")).expect("jail.d");
    let empty = tmp.path().join("empty.log");
    std::fs::write(&empty, "").expect("log file");
    std::fs::write(
        cfg.join("jail.d/zz-gaoler-test.local"),
        format!(
            "[{jail}]\nenabled = true\nfilter = sshd\nbackend = polling\nlogpath = {}\n{settings}\n",
            logpath.unwrap_or(&empty).display()
        ),
    )
    .expect("jail.d file");
    let read = gaoler_config::read_config(&cfg, gaoler_config::ReadMode::Test, &Default::default())
        .expect("read config");
    assert!(read.problems().is_empty(), "{:?}", read.problems());
    for v in read.stream.iter().map(|c| c.to_json()) {
        if v[0] == "multi-set" && v[1] == jail && v[2] == "action" {
            let properties = v[4]
                .as_array()
                .expect("property list")
                .iter()
                .map(|p| {
                    let value = match &p[1] {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (p[0].as_str().expect("key").to_string(), value)
                })
                .collect();
            return ActionSpec {
                jail: jail.to_string(),
                name: v[3].as_str().expect("action name").to_string(),
                properties,
            };
        }
    }
    panic!("no action for jail {jail} ({settings:?}) in the stream");
}

/// Hostile texts, each trying to create `marker` if a shell, a mail
/// program or a tool ever took it for code, an option or a header.
#[allow(dead_code)]
pub fn hostile_values(marker: &Path) -> Vec<String> {
    let m = marker.display();
    vec![
        format!("`touch {m}`"),
        format!("$(touch {m})"),
        format!(";touch {m};"),
        format!("~! touch {m}"),
        format!("x\n~!touch {m}\nSubject: evil\nBcc: evil@example.com"),
        "-oQ/tmp/x".to_string(),
        "'".to_string(),
        format!("a' ; touch {m} ; '"),
        format!("a';touch {m};'"),
        format!("\"; touch {m}; \""),
        format!(")\ntouch {m}\n$(touch {m})\n__gaoler_data__x"),
    ]
}

/// A ticket for `addr` (3 failures) whose log-derived values are all
/// [`hostile_values`].
#[allow(dead_code)]
pub fn hostile_ticket(addr: &str, marker: &Path) -> ActionInfo {
    let evil = hostile_values(marker);
    let mut info = ActionInfo::for_id(addr);
    info.set_matches(&evil);
    info.set_data("user", evil[1].clone());
    info.set("ipmatches", evil[4].clone());
    info.set("ipjailmatches", evil[2].clone());
    info.set_failures(3);
    info
}

/// Fails unless running as root with `tools` in PATH; the actions' log goes
/// to the test's output.
#[allow(dead_code)]
pub fn require_root_and_tools(tools: &[&str]) {
    init_log();
    gaoler_testkit::require_root_and_tools(tools);
}

/// The actions' log (INFO and up) in the test's output.
pub fn init_log() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_max_level(tracing::Level::INFO)
        .try_init();
}
