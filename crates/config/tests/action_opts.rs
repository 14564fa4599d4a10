//! gaoler's own action option `actionunban_repeat` (see gaoler-action's
//! `command` docs) is read from an action's `[Definition]` like fail2ban's
//! bool options, and passed on as a bool.

use serde_json::json;

#[test]
fn actionunban_repeat_is_a_definition_bool() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let log = root.join("app.log");
    std::fs::write(&log, "").expect("log");
    let files = [
        ("fail2ban.conf", "[Definition]\n".to_string()),
        (
            "jail.conf",
            format!(
                "[app]\nenabled = true\nfilter = app\nbackend = polling\nlogpath = {}\naction = stack\n",
                log.display()
            ),
        ),
        (
            "filter.d/app.conf",
            "[Definition]\nfailregex = ^fail <HOST>$\n".to_string(),
        ),
        (
            "action.d/stack.conf",
            "[Definition]\nactionban = true\nactionunban = true\nactionunban_repeat = yes\n"
                .to_string(),
        ),
    ];
    for (rel, text) in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    let read = gaoler_config::read_config(root, gaoler_config::ReadMode::Test, &Default::default())
        .expect("read config");
    let props = read
        .stream
        .iter()
        .map(|c| c.to_json())
        .find(|v| v[0] == "multi-set" && v[1] == "app" && v[2] == "action")
        .map(|v| v[4].clone())
        .expect("action properties in the stream");
    assert!(
        props
            .as_array()
            .expect("list")
            .contains(&json!(["actionunban_repeat", true])),
        "{props}"
    );
}
