//! Tests of `compact`.

use super::*;

fn round(store: &mut LineStore, lines: &[&str]) -> Vec<Box<[u8]>> {
    lines
        .iter()
        .map(|l| store.encode(KeyRef::Raw("x"), [], &[*l], 10))
        .collect()
}

#[test]
fn lines_round_trip_and_share_a_reference() {
    let mut s = LineStore::default();
    let lines = [
        "2026-01-01 10:00:00.000001 [WARNING] sofia_reg.c:1720 SIP auth failure (REGISTER) on sofia profile 'internal' for [1001@192.0.2.1] from ip 10.0.0.1",
        "2026-01-01 10:00:00.000002 [WARNING] sofia_reg.c:1720 SIP auth failure (REGISTER) on sofia profile 'internal' for [1001@192.0.2.1] from ip 10.0.0.2",
        "2026-01-01 10:00:01.123456 [WARNING] sofia_reg.c:1720 SIP auth failure (REGISTER) on sofia profile 'internal' for [alice@192.0.2.1] from ip 10.200.3.77",
        "Jan  1 10:00:00 host sshd[1234]: Failed password for root from 10.0.0.1 port 51234 ssh2",
        "Jan  1 10:00:02 host sshd[98765]: Failed password for invalid user oracle from 2001:db8::7 port 2222 ssh2",
        "",
        "é ü ✓ multi-byte ✓ text",
        "é ü ✗ multi-byte ✓ text!",
    ];
    let blobs = round(&mut s, &lines);
    for (b, l) in blobs.iter().zip(lines) {
        let (_, m) = s.decode(&FailKey::Raw("x".into()), b);
        assert_eq!(m, vec![l.to_string()]);
    }
    // The second FreeSWITCH line is a few bytes against the first.
    assert!(blobs[1].len() < 16, "{} bytes", blobs[1].len());
    assert!(blobs[2].len() < 40, "{} bytes", blobs[2].len());
    assert!(s.live_refs() <= 5, "{} refs", s.live_refs());
    for b in &blobs {
        s.release(b);
    }
    // Only the active references are left; nothing else refers to them.
    assert!(s.live_refs() <= ACTIVE_REFS);
}

#[test]
fn references_are_freed_with_their_last_user() {
    let mut s = LineStore::default();
    let mut blobs = Vec::new();
    // Dissimilar lines: each becomes a reference, the oldest leave the
    // active list and live only through their matches.
    for i in 0..20 {
        let c = char::from(b'a' + i as u8);
        let l = format!("{} {}", c.to_string().repeat(30), i * 7919);
        blobs.push(s.encode(KeyRef::Raw("x"), [], &[l], 10));
    }
    let before = s.live_refs();
    assert!(before > ACTIVE_REFS);
    for b in &blobs {
        s.release(b);
    }
    assert!(s.live_refs() <= ACTIVE_REFS);
    s.trim();
    assert!(s.refs.len() >= s.live_refs());
}

#[test]
fn fields_keep_order_and_mark_the_id() {
    let mut s = LineStore::default();
    let id = FailKey::V4([192, 0, 2, 7]);
    let b = s.encode(
        id.as_ref(),
        [
            ("ip4", FieldValue::Str("192.0.2.7")),
            ("user", FieldValue::Str("bob")),
            ("n", FieldValue::Json(serde_json::json!([1, "a"]))),
            ("gone", FieldValue::Json(Value::Null)),
        ],
        &[] as &[&str],
        5,
    );
    // nfields, key+marker, key+string, key+json, nmatches
    assert!(b.len() <= 20, "{} bytes", b.len());
    let (d, m) = s.decode(&id, &b);
    assert!(m.is_empty());
    assert_eq!(
        serde_json::Value::Object(d),
        serde_json::json!({"ip4": "192.0.2.7", "user": "bob", "n": [1, "a"]})
    );
    let b2 = s.merge(
        id.as_ref(),
        &b,
        [
            ("user", FieldValue::Str("eve")),
            ("mlfid", FieldValue::Str("192.0.2.7")),
        ],
        &["line"],
        5,
    );
    let (d, m) = s.decode(&id, &b2);
    assert_eq!(d["user"], "bob", "the first value stays");
    assert_eq!(d["mlfid"], "192.0.2.7");
    assert_eq!(d.keys().collect::<Vec<_>>(), ["ip4", "user", "n", "mlfid"]);
    assert_eq!(m, ["line"]);
}

#[test]
fn merge_truncates_to_the_newest() {
    let mut s = LineStore::default();
    let k = KeyRef::Raw("x");
    let mut b = s.encode(k, [], &["a 1", "a 2", "a 3"], 2);
    assert_eq!(s.decode(&k.to_owned_key(), &b).1, ["a 2", "a 3"]);
    b = s.merge(k, &b, [], &["a 4"], 2);
    assert_eq!(s.decode(&k.to_owned_key(), &b).1, ["a 3", "a 4"]);
    b = s.merge(k, &b, [], &["a 5", "a 6", "a 7"], 2);
    assert_eq!(s.decode(&k.to_owned_key(), &b).1, ["a 6", "a 7"]);
    b = s.without_matches(&b);
    assert_eq!(s.match_count(&b), 0);
    s.release(&b);
    assert!(s.live_refs() <= ACTIVE_REFS);
}

#[test]
fn a_field_is_the_id_exactly_when_its_text_is() {
    let mut s = LineStore::default();
    let cases = [
        ("10.0.9.99", "10.0.9.99", true),
        ("0.0.0.0", "0.0.0.0", true),
        ("192.168.100.255", "192.168.100.255", true),
        ("10.0.9.99", "10.0.9.099", false),
        ("10.0.9.99", "10.0.9.9", false),
        ("10.0.9.99", " 10.0.9.99", false),
        ("10.0.9.99", "10.0.9.99.", false),
        ("2001:db8::1", "2001:db8::1", true),
        ("2001:db8::1", "2001:DB8::1", false),
        ("::ffff:1.2.3.4", "1.2.3.4", true),
        ("198.51.100.0/24", "198.51.100.0/24", true),
    ];
    for (id, field, want) in cases {
        let a = Addr::parse(id);
        let mut set = false;
        assert_eq!(
            s.is_id_text(a.fail_key(), &mut set, field),
            want,
            "{id} {field}"
        );
        assert_eq!(field == a.to_string(), want, "{id} {field}");
    }
    let mut set = false;
    assert!(s.is_id_text(KeyRef::Raw("alice"), &mut set, "alice"));
    assert!(!s.is_id_text(KeyRef::Raw("alice"), &mut set, "Alice"));
    for q in [
        "1.2.3",
        "1.2.3.4.5",
        "256.1.1.1",
        "1..2.3",
        "a.b.c.d",
        "1.2.3.4 ",
        "1234.1.1.1",
    ] {
        assert_eq!(parse_quad(q), None, "{q}");
    }
}

#[test]
fn many_fields_and_inline_keys() {
    // More fields than a one-byte count, and keys past the interned
    // ones, survive encoding and merging.
    let mut s = LineStore::default();
    let id = KeyRef::Raw("x");
    let names: Vec<String> = (0..300).map(|i| format!("k{i}")).collect();
    let vals: Vec<String> = (0..300).map(|i| format!("v{i}")).collect();
    let b = s.encode(
        id,
        names
            .iter()
            .zip(&vals)
            .take(200)
            .map(|(k, v)| (k.as_str(), FieldValue::Str(v))),
        &["l"],
        5,
    );
    let (d, _) = s.decode(&id.to_owned_key(), &b);
    assert_eq!(d.len(), 200);
    assert_eq!(d["k199"], "v199");
    let b = s.merge(
        id,
        &b,
        names.iter().zip(&vals).skip(150).map(|(k, v)| {
            (
                k.as_str(),
                FieldValue::Str(if k == "k150" { "new" } else { v }),
            )
        }),
        &["m"],
        5,
    );
    let (d, m) = s.decode(&id.to_owned_key(), &b);
    assert_eq!(d.len(), 300);
    assert_eq!(d["k150"], "v150", "the first value stays");
    assert_eq!(d["k299"], "v299");
    assert_eq!(d.keys().next().map(String::as_str), Some("k0"));
    assert_eq!(m, ["l", "m"]);
    assert!(s.keys.len() <= MAX_KEYS);
}

#[test]
fn keys_follow_ipaddr_equality() {
    let a = Addr::parse("192.0.2.1");
    let raw = Addr::raw("192.0.2.1");
    assert_ne!(a.fail_key(), raw.fail_key(), "raw id and address differ");
    assert_eq!("192.0.2.1".fail_key(), a.fail_key(), "a string is parsed");
    assert_eq!("::ffff:192.0.2.1".fail_key(), a.fail_key());
    assert_eq!("alice".fail_key(), KeyRef::Raw("alice"));
    let net = Addr::parse("192.0.2.0/24");
    assert_eq!(net.fail_key().to_owned_key().to_string(), "192.0.2.0/24");
    assert_eq!(
        "2001:db8::1".fail_key().to_owned_key().to_addr(),
        Addr::parse("2001:db8::1")
    );
}
