//! Tests of `failmanager` (tests).

use super::*;
use crate::ticket::Ticket;

fn fail(id: &str, t: f64) -> Ticket {
    Ticket::new(id, t).with_matches(vec![format!("line@{t}")])
}

#[test]
fn new_id_starts_at_one() {
    let mut fm = FailManager::new(3, 600.0, 5);
    assert_eq!(fm.add_failure(fail("a", 100.0), 1), 1);
    let t = fm.get("a").unwrap();
    assert_eq!(
        (t.retry, t.failures, t.first_time, t.time),
        (1, 1, 100.0, 100.0)
    );
    assert_eq!(t.matches, vec!["line@100"]);
    assert_eq!(fm.size(), 1);
    assert_eq!(fm.fail_total(), 1);
}

#[test]
fn counts_and_triggers_at_maxretry() {
    let mut fm = FailManager::new(3, 600.0, 5);
    assert_eq!(fm.add_failure(fail("a", 100.0), 1), 1);
    assert!(fm.to_ban(Some("a")).is_none());
    assert_eq!(fm.add_failure(fail("a", 110.0), 1), 2);
    assert!(fm.to_ban::<str>(None).is_none());
    assert_eq!(fm.add_failure(fail("a", 120.0), 1), 3);
    let t = fm.to_ban(Some("a")).expect("reached maxretry");
    assert_eq!(t.failures, 3);
    assert_eq!(t.time, 120.0);
    assert_eq!(t.matches.len(), 3);
    assert_eq!(fm.size(), 0, "removed from the fail list");
    assert_eq!(fm.fail_total(), 3);
}

#[test]
fn rate_rescale_not_sliding_window() {
    // maxretry 3, findtime 10: failures at 0, 5, then 30.
    let mut fm = FailManager::new(3, 10.0, 5);
    fm.add_failure(fail("a", 0.0), 1);
    fm.add_failure(fail("a", 5.0), 1);
    // At 30: first_time 0 < 30-10, so retry = round(2/30*10) = round(0.667) = 1,
    // first_time = 20; then +1 => 2.
    assert_eq!(fm.add_failure(fail("a", 30.0), 1), 2);
    let t = fm.get("a").unwrap();
    assert_eq!(t.first_time, 20.0);
    assert_eq!(t.time, 30.0);
    assert_eq!(t.failures, 3, "failures are never rescaled");
}

#[test]
fn rescale_uses_half_even_rounding() {
    // retry 1 over 20 s with findtime 10: 1/20*10 = 0.5 -> 0 (half even), +1 = 1.
    let mut fm = FailManager::new(5, 10.0, 5);
    fm.add_failure(fail("a", 0.0), 1);
    assert_eq!(fm.add_failure(fail("a", 20.0), 1), 1);
    // retry 3 over 20 s: 1.5 -> 2 (half even), +1 = 3.
    let mut fm = FailManager::new(9, 10.0, 5);
    fm.add_failure(fail("b", 0.0), 1);
    fm.add_failure(fail("b", 0.0), 1);
    fm.add_failure(fail("b", 0.0), 1);
    assert_eq!(fm.add_failure(fail("b", 20.0), 1), 3);
    // retry 5 over 20 s: 2.5 -> 2 (half even, not 3), +1 = 3.
    let mut fm = FailManager::new(9, 10.0, 5);
    for _ in 0..5 {
        fm.add_failure(fail("c", 0.0), 1);
    }
    assert_eq!(fm.add_failure(fail("c", 20.0), 1), 3);
}

#[test]
fn older_failure_counts_without_moving_time() {
    let mut fm = FailManager::new(5, 10.0, 5);
    fm.add_failure(fail("a", 100.0), 1);
    assert_eq!(fm.add_failure(fail("a", 50.0), 1), 2);
    let t = fm.get("a").unwrap();
    assert_eq!((t.time, t.first_time), (100.0, 100.0));
}

#[test]
fn maxmatches_truncation_and_zero() {
    let mut fm = FailManager::new(10, 600.0, 2);
    for i in 0..4 {
        fm.add_failure(fail("a", i as f64), 1);
    }
    assert_eq!(fm.get("a").unwrap().matches, vec!["line@2", "line@3"]);
    let mut fm = FailManager::new(10, 600.0, 0);
    fm.add_failure(fail("a", 0.0), 1);
    fm.add_failure(fail("a", 1.0), 1);
    assert!(fm.get("a").unwrap().matches.is_empty());
}

#[test]
fn attempt_with_count() {
    // `set J attempt ip m1 m2 m3` counts 3 toward maxretry at once.
    let mut fm = FailManager::new(3, 600.0, 5);
    let t = Ticket::new("a", 0.0).with_matches(vec!["m1".into(), "m2".into(), "m3".into()]);
    assert_eq!(fm.add_failure(t, 3), 3);
    assert_eq!(fm.get("a").unwrap().failures, 1);
    assert!(fm.to_ban(Some("a")).is_some());
    // On an existing ticket the count adds to retry, failures += 1.
    let mut fm = FailManager::new(10, 600.0, 5);
    fm.add_failure(fail("a", 0.0), 1);
    assert_eq!(fm.add_failure(fail("a", 1.0), 2), 3);
    assert_eq!(fm.get("a").unwrap().failures, 2);
}

#[test]
fn cleanup_drops_at_or_before_limit() {
    let mut fm = FailManager::new(10, 10.0, 5);
    fm.add_failure(fail("old", 90.0), 1);
    fm.add_failure(fail("edge", 95.0), 1);
    fm.add_failure(fail("new", 96.0), 1);
    assert_eq!(
        fm.cleanup(105.0),
        2,
        "lastTime <= now - findtime is dropped"
    );
    assert!(fm.get("new").is_some());
    assert_eq!(fm.fail_total(), 3, "total is not reduced by cleanup");
}

#[test]
fn service_is_throttled() {
    let mut fm = FailManager::new(10, 10.0, 5);
    assert!(fm.service(100.0, false).is_some());
    assert!(fm.service(104.9, false).is_none());
    assert!(fm.service(104.9, true).is_some());
    assert!(fm.service(110.0, false).is_some());
}

#[test]
fn first_data_fields_stay() {
    let mut fm = FailManager::new(10, 600.0, 5);
    let with = |k: &str, v: &str| {
        let mut m = serde_json::Map::new();
        m.insert(k.into(), v.into());
        m
    };
    fm.add_failure(fail("a", 0.0).with_data(with("user", "bob")), 1);
    fm.add_failure(fail("a", 1.0).with_data(with("user", "eve")), 1);
    fm.add_failure(fail("a", 2.0).with_data(with("mlfid", "x")), 1);
    let t = fm.get("a").unwrap();
    assert_eq!(t.data["user"], "bob");
    assert_eq!(t.data["mlfid"], "x");
}

#[test]
fn extra_retry_only_for_counted_ids() {
    let mut fm = FailManager::new(5, 600.0, 5);
    fm.add_failure(fail("a", 0.0), 1);
    assert_eq!(fm.add_extra_retry("a", 2), Some(3));
    assert_eq!(fm.get("a").unwrap().failures, 1);
    assert_eq!(fm.add_extra_retry("zzz", 2), None);
}

#[test]
fn known_bad_ip_counts_more() {
    let mut inc = BanTimeIncrement::default();
    inc.enabled = true;
    let h = BanHistory {
        ban_count: 2,
        time_of_ban: 50.0,
        ban_time: 600.0,
    };
    let mut fm = FailManager::new(5, 600.0, 5);
    fm.add_failure(fail("a", 100.0), 1);
    // Counts 3 in total: +2.
    let k = fm.apply_history("a", 100.0, Some(&h), &inc).unwrap();
    assert_eq!(
        k,
        KnownFailure {
            ban_count: 2,
            retry: 3,
            ban: false
        }
    );
    assert_eq!(fm.get("a").unwrap().ban_count, 2);
    fm.add_failure(fail("a", 101.0), 1);
    let k = fm.apply_history("a", 101.0, Some(&h), &inc).unwrap();
    assert_eq!((k.retry, k.ban), (6, true));
    let t = fm.to_ban(Some("a")).unwrap();
    assert_eq!(t.failures, 2);
    // Failure before the last ban: nothing extra.
    fm.add_failure(fail("b", 40.0), 1);
    assert_eq!(fm.apply_history("b", 40.0, Some(&h), &inc), None);
    assert_eq!(fm.get("b").unwrap().retry, 1);
    // Disabled or no history: nothing.
    assert_eq!(fm.apply_history("b", 100.0, None, &inc), None);
    assert_eq!(
        fm.apply_history("b", 100.0, Some(&h), &BanTimeIncrement::default()),
        None
    );
    // Not counted any more: nothing.
    assert_eq!(fm.apply_history("zzz", 100.0, Some(&h), &inc), None);
}

#[test]
fn drain_to_ban_takes_all_qualifying() {
    let mut fm = FailManager::new(1, 600.0, 5);
    fm.add_failure(fail("a", 0.0), 1);
    fm.add_failure(fail("b", 0.0), 1);
    let mut ids: Vec<_> = fm.drain_to_ban().into_iter().map(|t| t.id).collect();
    ids.sort();
    assert_eq!(ids, vec!["a", "b"]);
    assert_eq!(fm.size(), 0);
}
