//! Tests of `failmanager` (props).

use super::*;
use crate::ticket::Ticket;
use proptest::prelude::*;
use std::collections::HashMap;

proptest! {
    /// Invariants over any sequence of failures:
    /// - retry never exceeds the number of failures added for the id
    ///   (the rescale only lowers it), and the total counts every add;
    /// - first_time <= time and time is the max time seen;
    /// - matches never exceed maxmatches;
    /// - after cleanup(now) no ticket has time <= now - findtime.
    #[test]
    fn invariants(
        events in proptest::collection::vec((0u8..4, 0u32..1000), 1..60),
        find_time in 1u32..200,
        max_matches in 0usize..4,
        now_off in 0u32..400,
    ) {
        let mut fm = FailManager::new(u32::MAX, find_time as f64, max_matches);
        let mut added: HashMap<String, (u32, f64)> = HashMap::new();
        for (i, (who, t)) in events.iter().enumerate() {
            let id = format!("10.0.0.{who}");
            let t = *t as f64;
            fm.add_failure(Ticket::new(id.clone(), t).with_matches(vec![format!("{i}")]), 1);
            let e = added.entry(id).or_insert((0, f64::NEG_INFINITY));
            e.0 += 1;
            e.1 = e.1.max(t);
        }
        prop_assert_eq!(fm.fail_total(), events.len() as u64);
        for t in fm.tickets() {
            let (n, max_t) = added[&t.id];
            prop_assert!(t.retry <= n, "retry {} > failures {}", t.retry, n);
            prop_assert_eq!(t.failures, n);
            prop_assert!(t.first_time <= t.time);
            prop_assert_eq!(t.time, max_t);
            prop_assert!(t.matches.len() <= max_matches);
        }
        let now = 1000.0 + now_off as f64 - 200.0;
        fm.cleanup(now);
        for t in fm.tickets() {
            prop_assert!(t.time > now - find_time as f64);
        }
    }
}
