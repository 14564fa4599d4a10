//! `FilterOptions`: a jail's filter as the command stream leaves it, read
//! the server's way by the server, `gaoler explain` and `gaoler lint`.

use gaoler_command::{Command, CommandError, JailSet, Set};
use gaoler_filter::{FilterOptions, UseDns};
use serde_json::json;

fn option(words: serde_json::Value) -> JailSet {
    let w = words.as_array().cloned().unwrap_or_default();
    match Command::parse(&w) {
        Ok(Command::Set {
            target: Set::Jail { option, .. },
            ..
        }) => option,
        other => panic!("not a jail option: {other:?}"),
    }
}

#[test]
fn the_stream_builds_the_filter() {
    let mut f = FilterOptions::default();
    for c in [
        json!(["set", "j", "prefregex", "^<F-CONTENT>.+</F-CONTENT>$"]),
        json!([
            "multi-set",
            "j",
            "addfailregex",
            ["^a <HOST>$", "^b <HOST>$"]
        ]),
        json!(["set", "j", "addignoreregex", "^c$"]),
        json!(["set", "j", "delfailregex", 0]),
        json!(["set", "j", "maxlines", "3"]),
        json!(["set", "j", "datepattern", "^%Y"]),
        json!(["set", "j", "logtimezone", "UTC"]),
        json!(["set", "j", "usedns", "no"]),
    ] {
        assert_eq!(f.apply(&option(c.clone())), Ok(true), "{c}");
    }
    assert_eq!(f.failregex, ["^b <HOST>$"]);
    assert_eq!(f.ignoreregex, ["^c$"]);
    assert_eq!(f.maxlines, 3);
    assert_eq!(f.usedns, UseDns::No);
    let spec = f.spec();
    assert_eq!(
        spec.prefregex.as_deref(),
        Some("^<F-CONTENT>.+</F-CONTENT>$")
    );
    assert_eq!(spec.datepattern.as_deref(), Some("^%Y"));
    assert_eq!(spec.logtimezone.as_deref(), Some("UTC"));
    // Empty values unset; an unknown usedns is "no", as in fail2ban.
    for c in [
        json!(["set", "j", "prefregex", ""]),
        json!(["set", "j", "datepattern", ""]),
        json!(["set", "j", "usedns", "yes"]),
    ] {
        f.apply(&option(c)).unwrap();
    }
    assert_eq!((f.prefregex.clone(), f.datepattern.clone()), (None, None));
    assert_eq!(f.usedns, UseDns::Yes);
    f.apply(&option(json!(["set", "j", "usedns", "sometimes"])))
        .unwrap();
    assert_eq!(f.usedns, UseDns::No);
}

#[test]
fn other_options_are_not_the_filters() {
    let mut f = FilterOptions::default();
    assert_eq!(
        f.apply(&option(json!(["set", "j", "maxretry", 3]))),
        Ok(false)
    );
    assert_eq!(f, FilterOptions::default());
}

#[test]
fn bad_values_get_the_servers_errors() {
    let mut f = FilterOptions::default();
    assert_eq!(
        f.apply(&option(json!(["set", "j", "delfailregex", 0]))),
        Err(CommandError::Failed(
            "Cannot remove regular expression. Index 0 is not valid".into()
        ))
    );
    assert!(matches!(
        f.apply(&option(json!(["set", "j", "maxlines", "many"]))),
        Err(CommandError::Invalid(_))
    ));
}
