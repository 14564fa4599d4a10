//! FailManager: counts failures per id and decides when an id reaches
//! `maxretry`.
//!
//! Counting is the rate-based rule of fail2ban, not a sliding window: when a
//! new failure arrives more than `findtime` after the first failure of the
//! current interval, the retry count is rescaled to the rate observed so far
//! (`round(retry / elapsed * findtime)`) and the interval start is moved to
//! `time - findtime`. Failures that arrive out of order (older than the last
//! one) are counted but do not move the interval.
//!
//! The manager is plain data: the caller owns it (typically behind the
//! jail's mutex), passes `now` explicitly and decides when to run
//! [`FailManager::cleanup`] (fail2ban does it every 100 lines or 10 polls,
//! at most every 5 s: [`FailManager::service`] implements that throttle).

use std::collections::HashMap;

use crate::increment::{BanHistory, BanTimeIncrement};
use crate::ticket::{py_round, FailTicket};

/// Result of [`FailManager::apply_history`]: a failure of an id known from
/// earlier bans was given extra weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownFailure {
    /// Ban count from the history (for the log line
    /// `[J] Found <ip>, bad - <time>, <count> # -> <retry>[, Ban]`).
    pub ban_count: u32,
    /// The id's retry count after the extra was added.
    pub retry: u32,
    /// `retry >= maxretry`: call [`FailManager::to_ban`] now.
    pub ban: bool,
}

/// Minimum interval between two cleanups run through [`FailManager::service`].
pub const SERVICE_INTERVAL: f64 = 5.0;

/// Failure counter of one jail.
#[derive(Debug, Clone)]
pub struct FailManager {
    fail_list: HashMap<String, FailTicket>,
    max_retry: u32,
    /// `findtime` in seconds.
    max_time: f64,
    /// `maxmatches`: how many matched lines a ticket keeps (0 = none).
    max_matches: usize,
    fail_total: u64,
    next_service: f64,
}

impl Default for FailManager {
    fn default() -> Self {
        // fail2ban's server-side defaults (the jail reader normally
        // overrides them): maxretry 3, findtime 600, maxmatches 5.
        FailManager::new(3, 600.0, 5)
    }
}

impl FailManager {
    pub fn new(max_retry: u32, find_time: f64, max_matches: usize) -> Self {
        FailManager {
            fail_list: HashMap::new(),
            max_retry,
            max_time: find_time,
            max_matches,
            fail_total: 0,
            next_service: f64::NEG_INFINITY,
        }
    }

    pub fn max_retry(&self) -> u32 {
        self.max_retry
    }
    pub fn set_max_retry(&mut self, v: u32) {
        self.max_retry = v;
    }
    /// `findtime` in seconds.
    pub fn find_time(&self) -> f64 {
        self.max_time
    }
    pub fn set_find_time(&mut self, v: f64) {
        self.max_time = v;
    }
    pub fn max_matches(&self) -> usize {
        self.max_matches
    }
    pub fn set_max_matches(&mut self, v: usize) {
        self.max_matches = v;
    }

    /// "Total failed": number of failures ever added.
    pub fn fail_total(&self) -> u64 {
        self.fail_total
    }
    /// Restore the total (used on jail reload to keep the counter).
    pub fn set_fail_total(&mut self, v: u64) {
        self.fail_total = v;
    }
    /// "Currently failed": number of ids being counted.
    pub fn size(&self) -> usize {
        self.fail_list.len()
    }
    /// The ticket currently counted for `id`, if any.
    pub fn get(&self, id: &str) -> Option<&FailTicket> {
        self.fail_list.get(id)
    }
    pub fn get_mut(&mut self, id: &str) -> Option<&mut FailTicket> {
        self.fail_list.get_mut(id)
    }
    /// All tickets currently counted (unordered).
    pub fn tickets(&self) -> impl Iterator<Item = &FailTicket> {
        self.fail_list.values()
    }

    /// Add one failure (or `count` attempts, for `set J attempt`) for the
    /// ticket's id. Returns the id's retry count afterwards; compare it with
    /// [`FailManager::max_retry`] and call [`FailManager::to_ban`] when it is
    /// reached.
    ///
    /// `ticket.failures` is the number of real failures the ticket stands
    /// for (1 for a log line); `count` is what it adds to the retry counter.
    pub fn add_failure(&mut self, mut ticket: FailTicket, count: u32) -> u32 {
        let attempt = ticket.failures.max(1);
        let retry = match self.fail_list.get_mut(&ticket.id) {
            Some(data) => {
                adjust_time(data, ticket.time, self.max_time);
                data.retry = data.retry.saturating_add(count);
                data.failures = data.failures.saturating_add(attempt);
                if self.max_matches > 0 {
                    data.matches.append(&mut ticket.matches);
                    truncate_front(&mut data.matches, self.max_matches);
                } else {
                    data.matches.clear();
                }
                // The first failure's data fields stay (fail2ban keeps the
                // counted ticket's data); fields it lacked are added.
                for (k, v) in ticket.data {
                    data.data.entry(k).or_insert(v);
                }
                data.retry
            }
            None => {
                ticket.first_time = ticket.time;
                ticket.retry = count.max(1);
                ticket.failures = attempt;
                if self.max_matches > 0 {
                    truncate_front(&mut ticket.matches, self.max_matches);
                } else {
                    ticket.matches.clear();
                }
                let r = ticket.retry;
                self.fail_list.insert(ticket.id.clone(), ticket);
                r
            }
        };
        self.fail_total += 1;
        retry
    }

    /// The extra count of `bantime.increment` for an id known from earlier
    /// bans: adds `extra` to the retry counter of the id's current ticket.
    ///
    /// Returns `None` when the id is not counted any more (already handed
    /// over for a ban), in which case nothing is added, as fail2ban's
    /// observer does. The number of real failures is not changed.
    pub fn add_extra_retry(&mut self, id: &str, extra: u32) -> Option<u32> {
        let data = self.fail_list.get_mut(id)?;
        data.retry = data.retry.saturating_add(extra);
        Some(data.retry)
    }

    /// `bantime.increment` for a failure just added with
    /// [`FailManager::add_failure`]: if the id is known from earlier bans
    /// (`history`, this jail's `bips` row) and the failure is newer than the
    /// last ban, raise its retry count by the extra of
    /// [`BanTimeIncrement::extra_retry`] and remember the ban count on the
    /// ticket (so the coming ban counts on from it).
    ///
    /// `None` when nothing changed (increment off, unknown id, failure not
    /// newer than the last ban, no extra, or the id was already handed over
    /// for a ban).
    pub fn apply_history(
        &mut self,
        id: &str,
        failure_time: f64,
        history: Option<&BanHistory>,
        increment: &BanTimeIncrement,
    ) -> Option<KnownFailure> {
        let max_retry = self.max_retry;
        let ticket = self.fail_list.get_mut(id)?;
        let extra = increment.extra_retry(history, ticket.ban_count, failure_time, max_retry)?;
        let ban_count = history.map_or(0, |h| h.ban_count).max(ticket.ban_count);
        ticket.retry = ticket.retry.saturating_add(extra);
        ticket.raise_ban_count(ban_count);
        Some(KnownFailure {
            ban_count,
            retry: ticket.retry,
            ban: ticket.retry >= max_retry,
        })
    }

    /// Remove and return a ticket that reached `maxretry`: the one for `id`
    /// if given (and it qualifies), else any qualifying one.
    pub fn to_ban(&mut self, id: Option<&str>) -> Option<FailTicket> {
        let key = match id {
            Some(id) if self.fail_list.contains_key(id) => {
                let t = &self.fail_list[id];
                if t.retry >= self.max_retry {
                    Some(id.to_owned())
                } else {
                    None
                }
            }
            _ => self
                .fail_list
                .iter()
                .find(|(_, t)| t.retry >= self.max_retry)
                .map(|(k, _)| k.clone()),
        }?;
        self.fail_list.remove(&key)
    }

    /// Remove and return every ticket that reached `maxretry`.
    pub fn drain_to_ban(&mut self) -> Vec<FailTicket> {
        let keys: Vec<String> = self
            .fail_list
            .iter()
            .filter(|(_, t)| t.retry >= self.max_retry)
            .map(|(k, _)| k.clone())
            .collect();
        keys.iter()
            .filter_map(|k| self.fail_list.remove(k))
            .collect()
    }

    /// Forget an id (e.g. after a manual ban).
    pub fn del_failure(&mut self, id: &str) -> Option<FailTicket> {
        self.fail_list.remove(id)
    }

    /// Drop tickets whose last failure is at or before `now - findtime`.
    /// Returns how many were dropped.
    pub fn cleanup(&mut self, now: f64) -> usize {
        let limit = now - self.max_time;
        let before = self.fail_list.len();
        self.fail_list.retain(|_, t| t.time > limit);
        before - self.fail_list.len()
    }

    /// Run [`FailManager::cleanup`] unless one ran less than 5 s ago (or
    /// `force`). Returns whether it ran.
    pub fn service(&mut self, now: f64, force: bool) -> bool {
        if force || now >= self.next_service {
            self.next_service = now + SERVICE_INTERVAL;
            self.cleanup(now);
            true
        } else {
            false
        }
    }
}

/// The findtime rate rescale (see the module doc).
fn adjust_time(t: &mut FailTicket, time: f64, max_time: f64) {
    if time > t.time {
        if t.first_time < time - max_time {
            let elapsed = time - t.first_time;
            let scaled = py_round(t.retry as f64 / elapsed * max_time);
            t.retry = scaled.max(0.0).min(u32::MAX as f64) as u32;
            t.first_time = time - max_time;
        }
        t.time = time;
    }
}

fn truncate_front(v: &mut Vec<String>, keep: usize) {
    if v.len() > keep {
        v.drain(..v.len() - keep);
    }
}

#[cfg(test)]
mod tests {
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
        assert!(fm.to_ban(None).is_none());
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
        assert!(fm.service(100.0, false));
        assert!(!fm.service(104.9, false));
        assert!(fm.service(104.9, true));
        assert!(fm.service(110.0, false));
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
}

#[cfg(test)]
mod props {
    use super::*;
    use crate::ticket::Ticket;
    use proptest::prelude::*;

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
}
