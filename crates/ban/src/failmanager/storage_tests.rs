//! Tests of `failmanager` (storage_tests).

use super::*;
use gaoler_addr::Addr;
use serde_json::json;

fn fs_line(i: usize, ip: &str) -> String {
    format!(
        "2026-01-01 10:{:02}:{:02}.{:06} [WARNING] sofia_reg.c:1720 SIP auth failure (REGISTER) \
         on sofia profile 'internal' for [1001@192.0.2.1] from ip {ip}",
        i / 60 % 60,
        i % 60,
        i
    )
}

fn spray_addr(i: usize) -> Addr {
    if i % 10 == 9 {
        Addr::parse(&format!("2001:db8:{:x}::{:x}", i >> 16, i & 0xffff))
    } else {
        Addr::parse(&format!(
            "10.{}.{}.{}",
            i >> 16 & 255,
            i >> 8 & 255,
            i & 255
        ))
    }
}

/// Adds one filter-like failure of `addr` (an `ip4`/`ip6` field equal
/// to the id, one matched line).
fn add_spray(fm: &mut FailManager, i: usize, addr: &Addr, time: f64) -> u32 {
    let text = addr.to_string();
    let key = if text.contains(':') { "ip6" } else { "ip4" };
    let line = fs_line(i, &text);
    fm.add(addr, time, 1, 1, &[line], [(key, FieldValue::Str(&text))])
}

#[test]
fn raw_ids_and_addresses_are_distinct_as_in_fail2ban() {
    // fail2ban: IPAddr('192.0.2.1') != IPAddr('192.0.2.1', CIDR_RAW),
    // but a plain string equals the address.
    let mut fm = FailManager::new(10, 600.0, 5);
    let ip = Addr::parse("192.0.2.1");
    let raw = Addr::raw("192.0.2.1");
    fm.add(&ip, 1.0, 1, 1, &["a"], []);
    fm.add(&raw, 2.0, 1, 1, &["b"], []);
    assert_eq!(fm.size(), 2);
    assert_eq!(fm.add_failure(Ticket::new("192.0.2.1", 3.0), 1), 2);
    assert_eq!(fm.retry(&ip), Some(2));
    assert_eq!(fm.retry(&raw), Some(1));
    assert_eq!(fm.get(&raw).unwrap().matches, ["b"]);
    // A raw id that is no address, and an mlfid-like one.
    fm.add(&Addr::raw("alice"), 4.0, 1, 1, &["c"], []);
    assert_eq!(fm.retry("alice"), Some(1));
    let t = fm.del_failure(&ip).unwrap();
    assert_eq!((t.id.as_str(), t.retry, t.time), ("192.0.2.1", 2, 3.0));
    assert_eq!(fm.retry(&raw), Some(1), "the raw id is still counted");
    // Subnet ids keep their prefix.
    let net = Addr::parse("198.51.100.0/24");
    fm.add(&net, 5.0, 1, 1, &["d"], []);
    assert_eq!(fm.get("198.51.100.0/24").unwrap().id, "198.51.100.0/24");
    assert_eq!(fm.retry("198.51.100.0"), None);
}

#[test]
fn spray_costs_under_200_bytes_per_address_and_round_trips() {
    let n = 20_000;
    let mut fm = FailManager::new(1_000_000, 600.0, 1_000_000);
    for i in 0..n {
        add_spray(&mut fm, i, &spray_addr(i), 1000.0 + i as f64 / 1e4);
    }
    assert_eq!(fm.size(), n);
    let per = fm.heap_bytes() / n;
    eprintln!("compact storage: {per} bytes per address");
    assert!(per <= 200, "{per} bytes per address");
    // The stored tickets are the ones given.
    for i in [0, 1, 9, 777, n - 1] {
        let a = spray_addr(i);
        let t = fm.get(&a).unwrap();
        let text = a.to_string();
        let key = if i % 10 == 9 { "ip6" } else { "ip4" };
        assert_eq!(t.id, text);
        assert_eq!(t.matches, vec![fs_line(i, &text)]);
        assert_eq!(serde_json::Value::Object(t.data), json!({ key: text }));
        assert_eq!((t.retry, t.failures), (1, 1));
    }
    // Everything expires: the memory goes with it.
    assert_eq!(fm.cleanup(1e6), n);
    assert_eq!(fm.size(), 0);
    assert!(fm.heap_bytes() < 4096, "{} bytes left", fm.heap_bytes());
}

#[test]
fn cap_evicts_closest_to_expiry_first() {
    let mut fm = FailManager::new(100, 600.0, 5);
    fm.set_max_tracked(16);
    // 16 ids at times 0..16; id 3 has failed three times at time 3.
    for i in 0..16 {
        fm.add(&spray_addr(i), i as f64, 1, 1, &["x"], []);
    }
    fm.add(&spray_addr(3), 3.0, 1, 1, &["x"], []);
    fm.add(&spray_addr(3), 3.0, 1, 1, &["x"], []);
    // Two more at time 1 than the first: ties at time 1 too.
    fm.add(&spray_addr(1), 1.0, 1, 1, &["x"], []);
    assert_eq!(fm.size(), 16);
    assert_eq!(fm.eviction_report(0.0), None, "nothing evicted yet");
    // A new id: a batch of 16/8 = 2 goes, the two oldest (times 0
    // and 1, whatever their retry).
    fm.add(&spray_addr(100), 50.0, 1, 1, &["x"], []);
    assert_eq!(fm.size(), 15);
    assert_eq!(fm.retry(&spray_addr(0)), None);
    assert_eq!(fm.retry(&spray_addr(1)), None);
    assert_eq!(fm.retry(&spray_addr(2)), Some(1));
    // Equal times: the lower retry goes first.
    let mut fm2 = FailManager::new(100, 600.0, 5);
    fm2.set_max_tracked(8);
    for i in 0..8 {
        let r = if i == 5 { 4 } else { 1 };
        fm2.add(&spray_addr(i), 7.0, r, 1, &["x"], []);
    }
    fm2.add(&spray_addr(8), 7.0, 1, 1, &["x"], []);
    assert_eq!(fm2.size(), 8, "one of eight evicted");
    assert_eq!(
        fm2.retry(&spray_addr(5)),
        Some(4),
        "the highest retry stays"
    );
    // Lowering the cap evicts at once, oldest first.
    fm.set_max_tracked(4);
    assert_eq!(fm.size(), 4);
    assert_eq!(fm.retry(&spray_addr(100)), Some(1));
    assert_eq!(fm.evicted_total(), 2 + 11);
}

#[test]
fn equal_times_evict_the_earliest_failure_first() {
    // A spray within one second (whole-second log times): the ids that
    // failed last are kept, so an attacker failing every 20 ids under
    // a cap of 40 is counted to maxretry.
    let mut fm = FailManager::new(3, 600.0, 5);
    fm.set_max_tracked(40);
    let a = Addr::parse("192.0.2.7");
    let mut banned = 0;
    for i in 0..300 {
        fm.add(&spray_addr(i), 100.0, 1, 1, &["x"], []);
        if (i == 250 || i == 270 || i == 290) && fm.add(&a, 100.0, 1, 1, &["x"], []) >= 3 {
            banned += usize::from(fm.to_ban(Some(&a)).is_some());
        }
    }
    assert_eq!(banned, 1);
    // The 30 newest spray ids are all there.
    for i in 270..300 {
        assert!(fm.retry(&spray_addr(i)).is_some(), "{i}");
    }
}

#[test]
fn an_entry_stays_72_bytes() {
    assert!(
        std::mem::size_of::<Entry>() <= 72,
        "{}",
        std::mem::size_of::<Entry>()
    );
}

#[test]
fn eviction_warnings_are_rate_limited_with_counts() {
    let mut fm = FailManager::new(1000, 600.0, 5);
    fm.set_max_tracked(80);
    for i in 0..100 {
        fm.add(&spray_addr(i), i as f64, 1, 1, &["x"], []);
    }
    // Cap 80, batches of 10: two batches went.
    let r = fm.eviction_report(100.0).expect("evictions are reported");
    assert_eq!(
        r,
        EvictionReport {
            evicted: 20,
            total: 20,
            tracked: 80,
            max_tracked: 80
        }
    );
    for i in 100..130 {
        fm.add(&spray_addr(i), i as f64, 1, 1, &["x"], []);
    }
    assert_eq!(fm.eviction_report(130.0), None, "within the interval");
    assert_eq!(fm.eviction_report(159.9), None);
    let r = fm.eviction_report(160.0).expect("after the interval");
    assert_eq!((r.evicted, r.total, r.tracked), (30, 50, 80));
    assert_eq!(fm.eviction_report(1000.0), None, "nothing new");
}

#[test]
fn addresses_reaching_maxretry_are_banned_under_a_spray() {
    let mut fm = FailManager::new(5, 600.0, 5);
    fm.set_max_tracked(500);
    let attackers: Vec<Addr> = (0..20).map(|i| Addr::raw(format!("attacker{i}"))).collect();
    let mut banned = Vec::new();
    let mut t = 0.0;
    for i in 0..50_000 {
        t += 0.001;
        add_spray(&mut fm, i, &spray_addr(i), t);
        assert!(fm.size() <= 500);
        // Each attacker fails once every 100 spray lines, interleaved.
        if i % 100 == 0 {
            let a = &attackers[(i / 100) % attackers.len()];
            if fm.add(a, t, 1, 1, &["bad"], []) >= fm.max_retry() {
                banned.push(fm.to_ban(Some(a)).expect("qualifies").id);
            }
        }
    }
    // The limit of any cap: an id whose failures are further apart
    // than the cap's worth of new ids (here 2,000 spray lines, cap
    // 500) is evicted in between and never reaches maxretry.
    assert!(banned.is_empty(), "{banned:?}");
    // With failures 100 lines apart and a cap of 500 they stay counted.
    let mut fm = FailManager::new(5, 600.0, 5);
    fm.set_max_tracked(500);
    let a = Addr::raw("attacker");
    let mut bans = 0;
    for i in 0..50_000 {
        t += 0.001;
        add_spray(&mut fm, i, &spray_addr(i), t);
        if i % 100 == 0 && fm.add(&a, t, 1, 1, &["bad"], []) >= 5 {
            assert!(fm.to_ban(Some(&a)).is_some());
            bans += 1;
        }
    }
    assert_eq!(bans, 100, "every fifth failure bans");
    assert!(fm.evicted_total() > 40_000);
}
