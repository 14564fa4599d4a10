//! The typed command against the wire: every command fail2ban's reader
//! emits for the stock tree reads back to the same JSON words, and
//! malformed commands get fail2ban's errors.

use gaoler_command::{Command, CommandError, Get, JailSet, ParseError, ServerSetting, Set};
use serde_json::{json, Value as Json};

fn words(v: Json) -> Vec<Json> {
    v.as_array().cloned().expect("a JSON array")
}

fn parse(v: Json) -> Result<Command, ParseError> {
    Command::parse(&words(v))
}

/// fail2ban's own dump of all 99 stock jails (1,438 commands).
#[test]
fn golden_dump_round_trips() {
    let text =
        std::fs::read_to_string(gaoler_testkit::upstream().join("golden/dump-all-jails.jsonl"))
            .expect("golden dump");
    let mut n = 0;
    for line in text.lines() {
        let w: Vec<Json> = serde_json::from_str(line).expect("json line");
        let c = Command::parse(&w).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(c.to_json(), w, "{line}");
        // serde takes the same path
        assert_eq!(serde_json::to_value(&c).expect("serialize"), Json::Array(w));
        let back: Command = serde_json::from_str(line).expect("deserialize");
        assert_eq!(back, c);
        n += 1;
    }
    assert_eq!(n, 1438);
}

/// The tree gaoler ships, every jail enabled, read as `-d` reads it: the
/// reader emits typed commands (their words are checked against
/// fail2ban's in the gaoler crate's golden dump test).
#[test]
fn shipped_stream_round_trips() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    gaoler_testkit::copy_tree(&root, tmp.path());
    std::fs::create_dir_all(tmp.path().join("jail.d")).expect("mkdir");
    std::fs::copy(
        gaoler_testkit::upstream().join("golden/all-jails.local"),
        tmp.path().join("jail.d/all.local"),
    )
    .expect("copy");
    let read = gaoler_config::read_config(
        tmp.path(),
        gaoler_config::ReadMode::Dump,
        &Default::default(),
    )
    .expect("shipped tree reads");
    let jails = read
        .stream
        .iter()
        .filter(|c| matches!(c, Command::Add { .. }))
        .count();
    assert!(jails > 90, "{jails} jails");
    // (the reader made each command from its words: back and forth again)
    for c in &read.stream {
        let w = c.to_json();
        assert_eq!(
            &Command::parse(&w).unwrap_or_else(|e| panic!("{w:?}: {e}")),
            c
        );
    }
}

#[test]
fn structure_is_typed() {
    let c = parse(json!(["set", "sshd", "findtime", "10m"])).unwrap();
    assert_eq!(c.jail(), Some("sshd"));
    assert_eq!(c.option(), Some("findtime"));
    assert!(matches!(
        c,
        Command::Set { multi: false, target: Set::Jail { option: JailSet::FindTime(ref v), .. } }
            if v == "10m"
    ));
    let c = parse(json!(["multi-set", "sshd", "addfailregex", ["a", "b"]])).unwrap();
    assert_eq!(c.option(), Some("failregex"));
    assert!(matches!(
        c,
        Command::Set { multi: true, target: Set::Jail { option: JailSet::AddFailRegex(ref r), .. } }
            if r == &["a", "b"]
    ));
    let c = parse(json!(["set", "dbpurgeage", "1d"])).unwrap();
    assert_eq!(c.jail(), None);
    assert!(matches!(
        c,
        Command::Set {
            target: Set::Server {
                setting: ServerSetting::DbPurgeAge,
                ..
            },
            ..
        }
    ));
    // (fail2ban has no `get allowipv6`: it names a jail)
    assert!(matches!(
        parse(json!(["get", "allowipv6", "maxretry"])).unwrap(),
        Command::Get(Get::Jail { .. })
    ));
    assert_eq!(
        parse(json!(["add", "a"])).unwrap().to_json(),
        words(json!(["add", "a", "auto"]))
    );
    assert_eq!(parse(json!(["start", "a"])).unwrap().jail(), Some("a"));
    assert_eq!(parse(json!(["config-error", "x"])).unwrap().jail(), None);
}

#[test]
fn fail2ban_errors_for_malformed_commands() {
    let err = |v: Json| parse(v).expect_err("refused");
    assert_eq!(err(json!([])).error, CommandError::invalid_command());
    assert_eq!(err(json!([1])).error, CommandError::invalid_command());
    assert_eq!(err(json!(["nope"])).error, CommandError::invalid_command());
    assert_eq!(err(json!(["unban"])).error, CommandError::invalid_command());
    assert_eq!(err(json!(["set"])).error, CommandError::missing_argument());
    assert_eq!(
        err(json!(["set", "loglevel"])).error,
        CommandError::missing_argument()
    );
    assert_eq!(
        err(json!(["add", "--all"])).error,
        CommandError::Failed("Reserved name '--all'".into())
    );
    assert_eq!(
        err(json!(["status", "a", "b", "c"])).error,
        CommandError::Failed("Invalid command (no status)".into())
    );
    // A jail's bad option names the jail, so that the server can say
    // first that the jail does not exist (fail2ban's order).
    let e = err(json!(["set", "nojail", "bogus", "1"]));
    assert_eq!(e.jail.as_deref(), Some("nojail"));
    assert_eq!(
        e.error,
        CommandError::Failed(
            "Invalid command 'bogus' (no set action or not yet implemented)".into()
        )
    );
    let e = err(json!(["get", "j", "bogus"]));
    assert_eq!(e.jail.as_deref(), Some("j"));
    assert_eq!(
        err(json!(["set", "j", "findtime"])).error,
        CommandError::invalid_command()
    );
    assert_eq!(
        err(json!(["set", "j", "usedns"])).error,
        CommandError::missing_argument()
    );
    assert_eq!(
        err(json!(["set", "j", "idle", "maybe"])).error,
        CommandError::Failed("Invalid idle option, must be 'on' or 'off'".into())
    );
    assert_eq!(
        err(json!(["set", "j", "addlogpath", "/x", "middle"])).error,
        CommandError::Invalid("File option must be 'head' or 'tail'".into())
    );
    assert_eq!(
        err(json!(["set", "j", "addlogpath", "/x", "head", "/y"])).error,
        CommandError::Invalid("Only one file can be added at a time".into())
    );
}

#[test]
fn commands_round_trip() {
    for v in [
        json!(["ping"]),
        json!(["stop"]),
        json!(["stop", "--all"]),
        json!(["stop", "sshd"]),
        json!(["reload", "--all", ["--unban"], [["start", "a"]]]),
        json!(["unban", "--all"]),
        json!(["unban", "192.0.2.1", "192.0.2.2"]),
        json!(["banned", "192.0.2.1"]),
        json!(["echo", 1, "x", [2]]),
        json!(["server-stream", [["ping"]]]),
        json!(["sleep", 0.1]),
        json!(["status"]),
        json!(["status", "sshd", "short"]),
        json!(["version"]),
        json!(["set", "thread"]),
        json!(["set", "metrics", "127.0.0.1:9191"]),
        json!(["set", "j", "idle", "on"]),
        json!(["set", "j", "addlogpath", "/var/log/x", "tail"]),
        json!(["set", "j", "attempt", "192.0.2.1", "m1", "m2"]),
        json!(["set", "j", "unbanip", "--report-absent", "192.0.2.1"]),
        json!(["set", "j", "addaction", "x.py", "{}"]),
        json!(["set", "j", "action", "a", "actionban", "echo"]),
        json!(["set", "j", "action", "a", "flush"]),
        json!(["multi-set", "j", "action", "a", [["k", "v"]]]),
        json!(["set", "j", "bantime.increment", "true"]),
        json!(["get", "j", "banip", "--with-time"]),
        json!(["get", "j", "action", "a", "actionban"]),
        json!(["get", "j", "bantime.factor"]),
        json!(["get", "dbfile"]),
    ] {
        let w = words(v);
        let c = Command::parse(&w).unwrap_or_else(|e| panic!("{w:?}: {e}"));
        assert_eq!(c.to_json(), w);
    }
}

#[test]
fn skipped_message_round_trip() {
    let m = gaoler_command::skipped_message("sshd", "jail.local:3: bad");
    assert_eq!(
        gaoler_command::parse_skipped(&m),
        Some(("sshd", "jail.local:3: bad"))
    );
    assert_eq!(gaoler_command::parse_skipped("something else"), None);
}
