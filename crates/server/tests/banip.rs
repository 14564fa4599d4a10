//! A manual ban of something that is neither an address nor an ID a
//! filter could produce is refused.

mod common;

use common::{run, stream, Env};
use serde_json::json;

/// `banip` of junk: refused with a clear message, nothing is banned.
/// fail2ban lists any string as banned (and hands it to the actions).
#[test]
fn banip_refuses_what_is_not_an_address_or_id() {
    let env = Env::new();
    let srv = env.server();
    stream(&srv, env.stream("test", &[]));
    for junk in [
        "",
        "a b",
        "x;reboot",
        "$(id)",
        "192.0.2.300",
        "a\nb",
        &"h".repeat(300),
    ] {
        let e = srv
            .handle(&[json!("set"), json!("test"), json!("banip"), json!(junk)])
            .expect_err(junk);
        assert_eq!(e.kind(), "ValueError");
        assert!(
            e.to_string()
                .starts_with("Invalid IP address, subnet or ID"),
            "{e}"
        );
        let e = srv
            .handle(&[json!("set"), json!("test"), json!("attempt"), json!(junk)])
            .expect_err(junk);
        assert_eq!(e.kind(), "ValueError");
    }
    // One bad value refuses the whole command: nothing half-done.
    assert!(srv
        .handle(&[
            json!("set"),
            json!("test"),
            json!("banip"),
            json!("192.0.2.1"),
            json!("a b")
        ])
        .is_err());
    assert_eq!(run(&srv, json!(["get", "test", "banip"])), json!([]));
    // What fail2ban's filters produce still works.
    for good in [
        "192.0.2.7",
        "2001:db8::7",
        "198.51.100.0/24",
        "host.example.org",
    ] {
        assert_eq!(
            run(&srv, json!(["set", "test", "banip", good])),
            json!(1),
            "{good}"
        );
    }
    assert_eq!(
        run(&srv, json!(["get", "test", "banip"]))
            .as_array()
            .unwrap()
            .len(),
        4
    );
    srv.shutdown();
}
