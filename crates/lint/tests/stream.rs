//! `check_stream`: what the server would refuse, found before anything
//! runs (`client -t`), without a server.

use serde_json::json;

/// The check of a stream written as JSON words (each must parse).
fn check(stream: &[Vec<serde_json::Value>]) -> Vec<String> {
    let typed: Vec<gaoler_command::Command> = stream
        .iter()
        .map(|w| gaoler_command::Command::parse(w).expect("a command"))
        .collect();
    gaoler_lint::stream::check_stream(&typed)
}

fn stream(failregex: &str, action: Vec<serde_json::Value>) -> Vec<Vec<serde_json::Value>> {
    vec![
        vec![json!("add"), json!("j"), json!("polling")],
        vec![
            json!("set"),
            json!("j"),
            json!("addfailregex"),
            json!(failregex),
        ],
        vec![json!("set"), json!("j"), json!("maxretry"), json!(3)],
        action,
        vec![
            json!("set"),
            json!("dbfile"),
            json!("/nonexistent/dir/never-opened.sqlite3"),
        ],
        vec![json!("start"), json!("j")],
    ]
}

fn noop_action() -> Vec<serde_json::Value> {
    vec![json!("set"), json!("j"), json!("addaction"), json!("dummy")]
}

#[test]
fn a_valid_stream_has_no_problems() {
    let p = check(&stream("^auth failure from <HOST>$", noop_action()));
    assert!(p.is_empty(), "{p:?}");
}

#[test]
fn invalid_regex_is_reported_with_its_text() {
    let p = check(&stream("^auth (failure from <HOST>$", noop_action()));
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].contains("auth (failure"), "{p:?}");
}

#[test]
fn regex_without_failure_id_is_reported() {
    let p = check(&stream("^auth failure$", noop_action()));
    assert_eq!(p.len(), 1, "{p:?}");
}

#[test]
fn python_action_is_reported() {
    let act = vec![
        json!("set"),
        json!("j"),
        json!("addaction"),
        json!("smtp"),
        json!("/etc/fail2ban/action.d/smtp.py"),
        json!("{}"),
    ];
    let p = check(&stream("^x from <HOST>$", act));
    assert!(p.iter().any(|m| m.contains("smtp")), "{p:?}");
}

#[test]
fn the_start_check_validates_fleetdb_without_connecting() {
    let good = vec![vec![
        json!("set"),
        json!("fleetdb"),
        json!("host=/nonexistent dbname=x"),
    ]];
    assert!(check(&good).is_empty());
    let bad = vec![vec![
        json!("set"),
        json!("fleetdb"),
        json!("postgresql://u:hunter2@db/x?sslmode=sometimes"),
    ]];
    let p = check(&bad);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains("sslmode") && !p[0].contains("hunter2"),
        "{p:?}"
    );
}

/// The check binds nothing: a metrics address in use (as the running
/// server holds it during a reload check) is no refusal.
#[test]
fn the_check_binds_no_metrics_socket() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = held.local_addr().expect("addr").to_string();
    let s = vec![vec![json!("set"), json!("metrics"), json!(addr)]];
    assert!(check(&s).is_empty());
}
