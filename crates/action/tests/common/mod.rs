//! Shared by the firewall tests: action properties as the configuration
//! reader gives them.

use std::path::{Path, PathBuf};

use gaoler_action::ActionSpec;

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
/// `banaction` in a jail named `jail` (`port`, tcp), read from a
/// temporary copy of the configuration tree at `root`.
pub fn action_properties(root: &Path, banaction: &str, jail: &str, port: u16) -> ActionSpec {
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
    let log = tmp.path().join("empty.log");
    std::fs::write(&log, "").expect("log file");
    std::fs::write(
        cfg.join("jail.d/zz-gaoler-test.local"),
        format!(
            "[{jail}]\nenabled = true\nfilter = sshd\nbackend = polling\nport = {port}\nlogpath = {}\nbanaction = {banaction}\n",
            log.display()
        ),
    )
    .expect("jail.d file");
    let read = gaoler_config::read_config(&cfg, gaoler_config::ReadMode::Test, &Default::default())
        .expect("read config");
    for v in &read.stream {
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
    panic!("no action for jail {jail} in the stream");
}
