//! The Beautifier against fail2ban's own output.
//!
//! `fixtures/fail2ban-1.0.2.json` holds, for each command, the raw result
//! Debian's fail2ban 1.0.2 server returned (converted to JSON) and the
//! text its client printed; feeding the same result to our Beautifier must
//! give the same text. fail2ban 1.0.2 has no `status --all` and no `stats`;
//! those layouts (fail2ban 1.1) are checked against hand-derived texts.

use gaoler_client::Beautifier;
use gaoler_protocol::RemoteError;
use serde_json::{json, Value};

fn words(cmd: &[&str]) -> Vec<Value> {
    cmd.iter().map(|s| json!(s)).collect()
}

#[test]
fn captured_fail2ban_outputs() {
    let text = include_str!("fixtures/fail2ban-1.0.2.json");
    let doc: Value = serde_json::from_str(text).expect("fixture JSON");
    let cases = doc["cases"].as_array().expect("cases");
    assert!(cases.len() >= 30);
    let b = Beautifier::new(true);
    let mut seen = std::collections::BTreeSet::new();
    for case in cases {
        let cmd = case["cmd"].as_array().expect("cmd").clone();
        let expected = case["stdout"].as_str().expect("stdout");
        let rc = case["rc"].as_i64().expect("rc");
        let resp = &case["response"];
        let (printed, ok) = if let Some(v) = resp.get("ok") {
            (b.beautify(&cmd, v), true)
        } else {
            let e: RemoteError = serde_json::from_value(resp["error"].clone()).expect("error");
            (b.beautify_error(&cmd, &e), false)
        };
        assert_eq!(format!("{printed}\n"), expected, "command {cmd:?}");
        assert_eq!(ok, rc == 0, "exit code of {cmd:?}");
        seen.insert(
            cmd.iter()
                .take(3)
                .map(|w| w.as_str().unwrap_or("").to_string())
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    for must in [
        "status",
        "status sshd",
        "banned",
        "get sshd logpath",
        "get sshd ignoreip",
        "get sshd failregex",
        "get sshd datepattern",
        "get loglevel",
        "get nosuch logpath",
    ] {
        assert!(seen.contains(must), "fixture lacks {must:?}");
    }
}

fn jail_status(banned: &[&str]) -> Value {
    json!([
        [
            "Filter",
            [
                ["Currently failed", 1],
                ["Total failed", 3],
                ["File list", ["/var/log/auth.log"]]
            ]
        ],
        [
            "Actions",
            [
                ["Currently banned", banned.len()],
                ["Total banned", banned.len()],
                ["Banned IP list", banned]
            ]
        ]
    ])
}

#[test]
fn status_of_a_jail_as_in_the_spec() {
    let out =
        Beautifier::new(true).beautify(&words(&["status", "sshd"]), &jail_status(&["192.0.2.7"]));
    assert_eq!(
        out,
        "Status for the jail: sshd\n\
         |- Filter\n\
         |  |- Currently failed:\t1\n\
         |  |- Total failed:\t3\n\
         |  `- File list:\t/var/log/auth.log\n\
         `- Actions\n   \
            |- Currently banned:\t1\n   \
            |- Total banned:\t1\n   \
            `- Banned IP list:\t192.0.2.7"
    );
}

/// gaoler's addition: jails refused at start follow fail2ban's two lines,
/// names first, then one line per jail with its reason.
#[test]
fn status_with_failed_jails() {
    let resp = json!([
        ["Number of jail", 1],
        ["Jail list", "sshd"],
        [
            "Failed jails",
            [
                [
                    "apache-auth",
                    "/etc/gaoler/jail.local:7: [apache-auth] findtime: bad"
                ],
                ["nginx", "/etc/gaoler/jail.local:12: [nginx] maxretry: bad"]
            ]
        ]
    ]);
    let b = Beautifier::new(true);
    assert_eq!(
        b.beautify(&words(&["status"]), &resp),
        "Status\n\
         |- Number of jail:\t1\n\
         |- Jail list:\tsshd\n\
         `- Failed jails:\tapache-auth, nginx\n   \
            |- apache-auth:\t/etc/gaoler/jail.local:7: [apache-auth] findtime: bad\n   \
            `- nginx:\t/etc/gaoler/jail.local:12: [nginx] maxretry: bad"
    );
    let mut all = resp.as_array().unwrap().clone();
    all.push(json!({"sshd": jail_status(&[])}));
    let out = b.beautify(&words(&["status", "--all"]), &Value::Array(all));
    assert!(
        out.starts_with(
            "Status\n|- Number of jail:\t1\n|- Jail list:\tsshd\n\
             |- Failed jails:\tapache-auth, nginx\n\
             |  |- apache-auth:\t/etc/gaoler/jail.local:7: [apache-auth] findtime: bad\n\
             |  `- nginx:\t/etc/gaoler/jail.local:12: [nginx] maxretry: bad\n\
             `- Status for the jails:\n   `- Jail: sshd\n"
        ),
        "{out}"
    );
}

#[test]
fn status_all() {
    let resp = json!([
        ["Number of jail", 2],
        ["Jail list", "recidive, sshd"],
        {"recidive": jail_status(&[]), "sshd": jail_status(&["192.0.2.7", "192.0.2.8"])}
    ]);
    let out = Beautifier::new(true).beautify(&words(&["status", "--all"]), &resp);
    let expected = [
        "Status",
        "|- Number of jail:\t2",
        "|- Jail list:\trecidive, sshd",
        "`- Status for the jails:",
        "   |- Jail: recidive",
        "   |  |- Filter",
        "   |  |  |- Currently failed:\t1",
        "   |  |  |- Total failed:\t3",
        "   |  |  `- File list:\t/var/log/auth.log",
        "   |  `- Actions",
        "   |     |- Currently banned:\t0",
        "   |     |- Total banned:\t0",
        "   |     `- Banned IP list:\t",
        "   `- Jail: sshd",
        "      |- Filter",
        "      |  |- Currently failed:\t1",
        "      |  |- Total failed:\t3",
        "      |  `- File list:\t/var/log/auth.log",
        "      `- Actions",
        "         |- Currently banned:\t2",
        "         |- Total banned:\t2",
        "         `- Banned IP list:\t192.0.2.7 192.0.2.8",
    ]
    .join("\n");
    assert_eq!(out, expected);
    // The jail dict wrapped in a `["Status for the jails", {…}]` pair (the
    // shape gaoler's server returned at first) prints the same.
    let mut items = resp.as_array().unwrap().clone();
    let jails = items.pop().unwrap();
    items.push(json!(["Status for the jails", jails]));
    assert_eq!(
        Beautifier::new(true).beautify(&words(&["status", "--all"]), &Value::Array(items)),
        expected
    );
    // No jails: the general block alone, closed with `` `- ``.
    let none = json!([["Number of jail", 0], ["Jail list", ""], {}]);
    assert_eq!(
        Beautifier::new(true).beautify(&words(&["status", "--all"]), &none),
        "Status\n|- Number of jail:\t0\n`- Jail list:\t"
    );
}

#[test]
fn stats_table_utf8_and_ascii() {
    let resp = json!({
        "sshd": ["polling", [1, 3], [1, 1]],
        "recidive": ["polling", [0, 0], [0, 12345]]
    });
    let out = Beautifier::new(true).beautify(&words(&["stats"]), &resp);
    let expected = [
        "          ║          ║ Filter    ║ Actions    ",
        " Jail     ║ Backend  ╟───────────╫─────────────",
        "          ║          ║ cur │ tot ║ cur │   tot",
        "══════════╬══════════╬═══════════╬═════════════",
        " sshd     ║ polling  ║   1 │   3 ║   1 │     1",
        " recidive ║ polling  ║   0 │   0 ║   0 │ 12345",
        "══════════╩══════════╩═══════════╩═════════════",
    ]
    .join("\n");
    assert_eq!(out, expected);
    let ascii = Beautifier::new(false).beautify(&words(&["statistics"]), &resp);
    let expected = [
        "          |          | Filter    | Actions    ",
        " Jail     | Backend  |-----------x-------------",
        "          |          | cur | tot | cur |   tot",
        "----------x----------x-----------x-------------",
        " sshd     | polling  |   1 |   3 |   1 |     1",
        " recidive | polling  |   0 |   0 |   0 | 12345",
        "-------------------------------------------------",
    ];
    let got: Vec<&str> = ascii.lines().collect();
    assert_eq!(got[..6], expected[..6]);
    // The ASCII bottom joint is "-" too: one unbroken rule.
    assert!(got[6].chars().all(|c| c == '-'));
    assert_eq!(got[6].chars().count(), got[3].chars().count());
    assert_eq!(
        Beautifier::new(true).beautify(&words(&["stats"]), &json!({})),
        "No jails found."
    );
}

#[test]
fn other_beautified_texts() {
    let b = Beautifier::new(true);
    let t = |cmd: &[&str], v: Value| b.beautify(&words(cmd), &v);
    assert_eq!(t(&["stop"], Value::Null), "Shutdown successful");
    assert_eq!(t(&["stop", "sshd"], Value::Null), "Jail stopped");
    assert_eq!(t(&["start", "sshd"], Value::Null), "Jail started");
    assert_eq!(
        t(&["add", "sshd", "auto"], json!("sshd")),
        "Added jail sshd"
    );
    assert_eq!(t(&["flushlogs"], json!("flushed")), "logs: flushed");
    assert_eq!(
        t(&["get", "dbfile"], Value::Null),
        "Database currently disabled"
    );
    assert_eq!(
        t(&["get", "dbpurgeage"], json!(86400.0)),
        "Current database purge age is:\n`- 86400seconds"
    );
    assert_eq!(
        t(&["get", "sshd", "actions"], json!([])),
        "No actions for jail sshd"
    );
    assert_eq!(
        t(
            &["get", "sshd", "journalmatch"],
            json!([["_SYSTEMD_UNIT=sshd.service", "+", "_COMM=sshd"], ["A=1"]])
        ),
        "Current match filter:\n_SYSTEMD_UNIT=sshd.service + _COMM=sshd + A=1"
    );
    assert_eq!(
        t(&["get", "sshd", "datepattern"], Value::Null),
        "Current date pattern set to: Not set/required"
    );
    assert_eq!(
        t(
            &["get", "sshd", "banip", "--with-time"],
            json!(["a \tx", "b \ty"])
        ),
        "a \tx\nb \ty"
    );
    assert_eq!(
        t(&["get", "sshd", "actionmethods", "x"], json!([])),
        "No methods for jail sshd action x"
    );
    assert_eq!(t(&["server-status"], json!("Server ready")), "Server ready");
    assert_eq!(t(&["reload", "--all", "[]", "[]"], json!("OK")), "OK");
    assert_eq!(t(&["unban", "--all"], json!(3)), "3");
    assert_eq!(t(&["sleep", "1"], Value::Null), "None");
    let e = |kind: &str, msg: &str| b.beautify_error(&[], &RemoteError::new(kind, msg));
    assert_eq!(
        e("DuplicateJailException", "sshd"),
        "The jail 'sshd' already exists"
    );
    assert_eq!(
        e("IndexError", "list index out of range"),
        "Sorry but the command is invalid"
    );
    assert_eq!(e("Exception", "Invalid command"), "Invalid command");
}
