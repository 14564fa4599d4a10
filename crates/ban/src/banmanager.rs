//! BanManager: the set of currently banned ids of one jail, with their end
//! of ban, and the decisions of when to unban.
//!
//! It only decides; running the actions, logging and writing to the
//! database belong to the caller. Every method that depends on the time
//! takes `now`.
//!
//! Design notes:
//! - The ticket's `time` (the last failure) is the start of the ban, so a
//!   ban read late from a log ends as if it had been applied on time. A
//!   ban whose end is already past is refused ([`AddBan::Expired`]).
//! - `next_unban` caches the earliest end of ban so that the actions loop
//!   can sleep until then and [`BanManager::unban_list`] returns at once
//!   when nothing can have expired.

use std::collections::HashMap;
use std::net::IpAddr;

use gaoler_addr::Addr;

use crate::resolver::Resolver;
use crate::ticket::{is_permanent, BanTicket, MAX_TIME};

/// At most this many tickets are unbanned per check of the actions loop.
pub const UNBAN_PER_CHECK: usize = 20;
/// At most this many queued tickets are banned per round of the actions loop.
pub const BAN_PER_ROUND: usize = 10;
/// The same when every action of the jail applies a round as one batch
/// (gaoler's): 100,000 restored bans go in one round (nft adds them in
/// about half a second; in rounds of 20,000 each round took longer than
/// the last, as nft reads the interval set back to check for overlaps),
/// and unbans wait at most about a second.
pub const BATCH_PER_ROUND: usize = 100_000;

/// Result of [`BanManager::add_ban_ticket`].
#[derive(Debug, Clone, PartialEq)]
pub enum AddBan {
    /// Newly banned; the ban count was incremented. Log `[J] Ban <id>` (or
    /// `[J] Restore Ban <id>` for a restored ticket) and run the actions.
    Added,
    /// The end of ban is already in the past: log
    /// `[J] Ignore <id>, expired bantime` and do nothing else.
    Expired,
    /// The id is already banned.
    AlreadyBanned {
        /// The existing ban was extended because the new one ends later.
        prolonged: bool,
        /// New failure time minus the existing ban's start, which chooses
        /// the log level (see [`already_banned_level`]).
        since: f64,
        /// Whether the existing ticket had been fully banned by the actions.
        banned: bool,
    },
}

/// Log level for "already banned", by how long after the ban the new
/// failure occurred: backends may deliver a few lines late (DEBUG), a slow
/// action can explain up to a minute (NOTICE), beyond that something is
/// wrong with the firewall (WARNING, and the caller should run the
/// actions' consistency check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlreadyBannedLevel {
    /// Under 3 s: the backend delivered a line late.
    Debug,
    /// From 3 s to under a minute: a slow ban action can explain it.
    Notice,
    /// A minute or more: the ban does not seem to work.
    Warning,
}

/// The level for logging an [`AddBan::AlreadyBanned`], from its `since`
/// (seconds from the ban's start to the new failure).
pub fn already_banned_level(since: f64) -> AlreadyBannedLevel {
    if since < 3.0 {
        AlreadyBannedLevel::Debug
    } else if since < 60.0 {
        AlreadyBannedLevel::Notice
    } else {
        AlreadyBannedLevel::Warning
    }
}

/// One line of `get J banip --with-time`.
#[derive(Debug, Clone, PartialEq)]
pub struct BanListEntry {
    /// The banned id.
    pub id: String,
    /// Start of the ban: the ticket's last failure (seconds since the epoch).
    pub time: f64,
    /// Effective ban time: the ticket's own, else the jail's (seconds, `-1`
    /// permanent).
    pub ban_time: f64,
    /// When the ban ends (seconds since the epoch; [`MAX_TIME`] if permanent).
    pub end_of_ban: f64,
}

/// Banned ids of one jail.
#[derive(Debug, Clone)]
pub struct BanManager {
    ban_list: HashMap<String, BanTicket>,
    /// The jail's `bantime` in seconds (`-1` permanent).
    ban_time: f64,
    ban_total: u64,
    next_unban: f64,
}

impl Default for BanManager {
    fn default() -> Self {
        BanManager::new(600.0)
    }
}

impl BanManager {
    /// An empty ban list for a jail with `bantime` = `ban_time` (seconds, `-1`
    /// permanent).
    pub fn new(ban_time: f64) -> Self {
        BanManager {
            ban_list: HashMap::new(),
            ban_time,
            ban_total: 0,
            next_unban: MAX_TIME,
        }
    }

    /// The jail's ban time (seconds, `-1` permanent).
    pub fn ban_time(&self) -> f64 {
        self.ban_time
    }
    /// Change the jail's ban time. Tickets without their own ban time follow
    /// it, so the cached next-unban time is recomputed on the next check.
    pub fn set_ban_time(&mut self, v: f64) {
        self.ban_time = v;
        self.next_unban = f64::NEG_INFINITY;
    }
    /// "Total banned".
    pub fn ban_total(&self) -> u64 {
        self.ban_total
    }
    /// Overwrite "Total banned", e.g. to carry it over from a previous manager.
    pub fn set_ban_total(&mut self, v: u64) {
        self.ban_total = v;
    }
    /// "Currently banned".
    pub fn size(&self) -> usize {
        self.ban_list.len()
    }
    /// Whether exactly this id (no subnet or name matching) is banned now.
    pub fn is_banned(&self, id: &str) -> bool {
        self.ban_list.contains_key(id)
    }
    /// The current ban ticket of exactly this id.
    pub fn get(&self, id: &str) -> Option<&BanTicket> {
        self.ban_list.get(id)
    }
    /// Mutable access (e.g. to apply `bantime.increment`). The cached next
    /// unban time is recomputed afterwards, as the ban time may change.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut BanTicket> {
        let t = self.ban_list.get_mut(id)?;
        self.next_unban = f64::NEG_INFINITY;
        Some(t)
    }
    /// Every current ban ticket, in no particular order.
    pub fn tickets(&self) -> impl Iterator<Item = &BanTicket> {
        self.ban_list.values()
    }
    /// End of ban of a ticket under this jail's ban time.
    pub fn end_of_ban(&self, t: &BanTicket) -> f64 {
        t.end_of_ban(self.ban_time)
    }
    /// When the next unban may be due: never later than the earliest end
    /// of ban (it can be earlier after a ban was prolonged, which only
    /// costs an extra check); [`MAX_TIME`] when nothing is banned.
    pub fn next_unban_time(&self) -> f64 {
        if self.next_unban == f64::NEG_INFINITY {
            self.compute_next_unban()
        } else {
            self.next_unban
        }
    }

    fn compute_next_unban(&self) -> f64 {
        self.ban_list
            .values()
            .map(|t| t.end_of_ban(self.ban_time))
            .fold(MAX_TIME, f64::min)
    }

    /// Add a ban. The ticket is moved in when it is a new ban; otherwise it
    /// is dropped after the existing ban was possibly prolonged.
    pub fn add_ban_ticket(&mut self, mut ticket: BanTicket, now: f64) -> AddBan {
        let eob = ticket.end_of_ban(self.ban_time);
        if eob < now {
            return AddBan::Expired;
        }
        if let Some(old) = self.ban_list.get_mut(&ticket.id) {
            let since = ticket.time - old.time;
            let mut prolonged = false;
            if eob > old.end_of_ban(self.ban_time) {
                // Keep the old start and stretch its ban time so that it
                // ends where the new ban would.
                let mut bt = ticket.ban_time_or(self.ban_time);
                if !is_permanent(bt) && since > 0.0 {
                    bt += since;
                }
                old.ban_time = Some(bt);
                prolonged = true;
            }
            return AddBan::AlreadyBanned {
                prolonged,
                since,
                banned: old.banned,
            };
        }
        ticket.ban_count += 1;
        self.ban_total += 1;
        if self.next_unban > eob {
            self.next_unban = eob;
        }
        self.ban_list.insert(ticket.id.clone(), ticket);
        AddBan::Added
    }

    /// Remove and return the tickets whose end of ban is strictly before
    /// `now`, at most `max_count` of them (use [`UNBAN_PER_CHECK`]).
    pub fn unban_list(&mut self, now: f64, max_count: usize) -> Vec<BanTicket> {
        if self.next_unban_time() > now {
            return Vec::new();
        }
        let mut expired: Vec<String> = Vec::new();
        let mut next = MAX_TIME;
        let mut capped = false;
        for (id, t) in &self.ban_list {
            let eob = t.end_of_ban(self.ban_time);
            if now > eob {
                if expired.len() >= max_count {
                    capped = true;
                    break;
                }
                expired.push(id.clone());
            } else if eob < next {
                next = eob;
            }
        }
        // When capped, some expired tickets remain: make the next check
        // run at once instead of waiting for `next`.
        self.next_unban = if capped { f64::NEG_INFINITY } else { next };
        let mut out: Vec<BanTicket> = expired
            .iter()
            .filter_map(|id| self.ban_list.remove(id))
            .collect();
        out.sort_by(|a, b| {
            a.end_of_ban(self.ban_time)
                .total_cmp(&b.end_of_ban(self.ban_time))
        });
        out
    }

    /// Remove and return the ticket of exactly this id (manual unban).
    pub fn take(&mut self, id: &str) -> Option<BanTicket> {
        let t = self.ban_list.remove(id)?;
        self.next_unban = f64::NEG_INFINITY;
        Some(t)
    }

    /// Manual `unbanip`: an exact id, or else a subnet or DNS name that
    /// unbans every banned IP it contains. Returns the removed tickets
    /// (empty means "`<x> is not banned`").
    pub fn remove_banned(&mut self, spec: &str, resolver: &dyn Resolver) -> Vec<BanTicket> {
        if let Some(t) = self.take(spec) {
            return vec![t];
        }
        let canonical = Addr::parse(spec);
        if let Some(t) = self.take(&canonical.to_string()) {
            return vec![t];
        }
        let ids: Vec<String> = match &canonical {
            // A single address that is not banned: nothing more to try.
            Addr::Ip(_) => Vec::new(),
            Addr::Net(..) => self
                .ban_list
                .keys()
                .filter(|id| canonical.contains(&Addr::parse(id)))
                .cloned()
                .collect(),
            Addr::Raw(name) => {
                let ips: Vec<IpAddr> = resolver.resolve(name);
                self.ban_list
                    .keys()
                    .filter(|id| match Addr::parse(id) {
                        Addr::Ip(ip) => ips.contains(&ip),
                        _ => false,
                    })
                    .cloned()
                    .collect()
            }
        };
        ids.iter().filter_map(|id| self.take(id)).collect()
    }

    /// Remove and return every ticket (jail stop / `unban --all`).
    pub fn flush(&mut self) -> Vec<BanTicket> {
        self.next_unban = MAX_TIME;
        self.ban_list.drain().map(|(_, t)| t).collect()
    }

    /// Banned ids sorted by end of ban (ties by id, for a stable output).
    pub fn ban_list(&self) -> Vec<String> {
        self.ban_list_with_time()
            .into_iter()
            .map(|e| e.id)
            .collect()
    }

    /// Banned tickets with start, ban time and end, sorted by end of ban.
    pub fn ban_list_with_time(&self) -> Vec<BanListEntry> {
        let mut v: Vec<BanListEntry> = self
            .ban_list
            .values()
            .map(|t| BanListEntry {
                id: t.id.clone(),
                time: t.time,
                ban_time: t.ban_time_or(self.ban_time),
                end_of_ban: t.end_of_ban(self.ban_time),
            })
            .collect();
        v.sort_by(|a, b| a.end_of_ban.total_cmp(&b.end_of_ban).then(a.id.cmp(&b.id)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolver::StaticResolver;
    use crate::ticket::Ticket;

    fn t(id: &str, time: f64) -> Ticket {
        Ticket::new(id, time)
    }

    #[test]
    fn add_sets_count_total_and_eob() {
        let mut bm = BanManager::new(600.0);
        assert_eq!(
            bm.add_ban_ticket(t("1.2.3.4", 1000.0), 1000.0),
            AddBan::Added
        );
        let tk = bm.get("1.2.3.4").unwrap();
        assert_eq!(tk.ban_count, 1);
        assert_eq!(bm.end_of_ban(tk), 1600.0);
        assert_eq!(bm.ban_total(), 1);
        assert_eq!(bm.size(), 1);
        assert_eq!(bm.next_unban_time(), 1600.0);
    }

    #[test]
    fn expired_ticket_is_skipped() {
        let mut bm = BanManager::new(600.0);
        // Ban started 700 s ago with bantime 600: ended 100 s ago.
        assert_eq!(bm.add_ban_ticket(t("a", 300.0), 1000.0), AddBan::Expired);
        // Ends exactly now: not expired (strictly less).
        assert_eq!(bm.add_ban_ticket(t("b", 400.0), 1000.0), AddBan::Added);
        assert_eq!(bm.ban_total(), 1);
    }

    #[test]
    fn permanent_ban() {
        let mut bm = BanManager::new(-1.0);
        assert_eq!(bm.add_ban_ticket(t("a", 0.0), 1e12), AddBan::Added);
        assert_eq!(bm.end_of_ban(bm.get("a").unwrap()), MAX_TIME);
        assert!(bm.unban_list(1e13, 20).is_empty());
    }

    #[test]
    fn already_banned_prolongs_when_later() {
        let mut bm = BanManager::new(600.0);
        bm.add_ban_ticket(t("a", 1000.0), 1000.0);
        // Same time, same bantime: not later.
        assert_eq!(
            bm.add_ban_ticket(t("a", 1000.0), 1000.0),
            AddBan::AlreadyBanned {
                prolonged: false,
                since: 0.0,
                banned: false
            }
        );
        // 100 s later: new eob 1700 > 1600 -> bantime 600 + 100.
        assert_eq!(
            bm.add_ban_ticket(t("a", 1100.0), 1100.0),
            AddBan::AlreadyBanned {
                prolonged: true,
                since: 100.0,
                banned: false
            }
        );
        let tk = bm.get("a").unwrap();
        assert_eq!(tk.time, 1000.0, "start kept");
        assert_eq!(tk.ban_time, Some(700.0));
        assert_eq!(bm.end_of_ban(tk), 1700.0);
        assert_eq!(tk.ban_count, 1, "not counted again");
        assert_eq!(bm.ban_total(), 1);
        // A permanent new ban makes the old one permanent.
        let mut p = t("a", 1200.0);
        p.ban_time = Some(-1.0);
        bm.add_ban_ticket(p, 1200.0);
        assert_eq!(bm.get("a").unwrap().ban_time, Some(-1.0));
    }

    #[test]
    fn already_banned_levels() {
        assert_eq!(already_banned_level(2.9), AlreadyBannedLevel::Debug);
        assert_eq!(already_banned_level(3.0), AlreadyBannedLevel::Notice);
        assert_eq!(already_banned_level(59.0), AlreadyBannedLevel::Notice);
        assert_eq!(already_banned_level(60.0), AlreadyBannedLevel::Warning);
    }

    #[test]
    fn unban_strictly_after_eob() {
        let mut bm = BanManager::new(10.0);
        bm.add_ban_ticket(t("a", 0.0), 0.0);
        assert!(
            bm.unban_list(10.0, 20).is_empty(),
            "now == eob keeps the ban"
        );
        let u = bm.unban_list(10.001, 20);
        assert_eq!(u.len(), 1);
        assert_eq!(bm.size(), 0);
        assert_eq!(bm.next_unban_time(), MAX_TIME);
    }

    #[test]
    fn unban_at_most_max_count() {
        let mut bm = BanManager::new(10.0);
        for i in 0..45 {
            bm.add_ban_ticket(t(&format!("10.0.0.{i}"), i as f64 / 100.0), 0.0);
        }
        bm.add_ban_ticket(t("late", 100.0), 100.0);
        assert_eq!(bm.unban_list(50.0, UNBAN_PER_CHECK).len(), 20);
        assert_eq!(bm.unban_list(50.0, UNBAN_PER_CHECK).len(), 20);
        assert_eq!(bm.unban_list(50.0, UNBAN_PER_CHECK).len(), 5);
        assert!(bm.unban_list(50.0, UNBAN_PER_CHECK).is_empty());
        assert_eq!(bm.size(), 1);
        assert_eq!(bm.next_unban_time(), 110.0);
    }

    #[test]
    fn own_bantime_overrides_jail() {
        let mut bm = BanManager::new(600.0);
        let mut a = t("a", 0.0);
        a.ban_time = Some(5.0);
        bm.add_ban_ticket(a, 0.0);
        bm.add_ban_ticket(t("b", 0.0), 0.0);
        let u = bm.unban_list(6.0, 20);
        assert_eq!(
            u.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            vec!["a"]
        );
    }

    #[test]
    fn set_ban_time_reschedules() {
        let mut bm = BanManager::new(600.0);
        bm.add_ban_ticket(t("a", 0.0), 0.0);
        assert!(bm.unban_list(100.0, 20).is_empty());
        bm.set_ban_time(50.0);
        assert_eq!(bm.unban_list(100.0, 20).len(), 1);
    }

    #[test]
    fn ban_list_sorted_by_eob() {
        let mut bm = BanManager::new(600.0);
        bm.add_ban_ticket(t("c", 30.0), 30.0);
        bm.add_ban_ticket(t("a", 20.0), 30.0);
        let mut b = t("b", 10.0);
        b.ban_time = Some(1.0e6);
        bm.add_ban_ticket(b, 30.0);
        assert_eq!(bm.ban_list(), vec!["a", "c", "b"]);
        let w = bm.ban_list_with_time();
        assert_eq!(
            w[0],
            BanListEntry {
                id: "a".into(),
                time: 20.0,
                ban_time: 600.0,
                end_of_ban: 620.0
            }
        );
    }

    #[test]
    fn manual_unban_exact_subnet_and_name() {
        let mut bm = BanManager::new(600.0);
        for id in [
            "192.0.2.1",
            "192.0.2.77",
            "198.51.100.5",
            "2001:db8::1",
            "bob",
        ] {
            bm.add_ban_ticket(t(id, 0.0), 0.0);
        }
        let r = StaticResolver::default().with("host.example", &["198.51.100.5"]);
        assert_eq!(bm.remove_banned("bob", &r).len(), 1);
        assert!(bm.remove_banned("203.0.113.1", &r).is_empty());
        let mut ids: Vec<_> = bm
            .remove_banned("192.0.2.0/24", &r)
            .into_iter()
            .map(|t| t.id)
            .collect();
        ids.sort();
        assert_eq!(ids, vec!["192.0.2.1", "192.0.2.77"]);
        assert_eq!(bm.remove_banned("2001:db8::/32", &r).len(), 1);
        assert_eq!(bm.remove_banned("host.example", &r)[0].id, "198.51.100.5");
        assert_eq!(bm.size(), 0);
        assert!(bm.remove_banned("192.0.2.0/24", &r).is_empty());
    }

    #[test]
    fn changing_a_ticket_reschedules() {
        let mut bm = BanManager::new(600.0);
        bm.add_ban_ticket(t("a", 0.0), 0.0);
        assert!(bm.unban_list(100.0, 20).is_empty());
        bm.get_mut("a").unwrap().ban_time = Some(50.0);
        assert_eq!(bm.next_unban_time(), 50.0);
        assert_eq!(bm.unban_list(100.0, 20).len(), 1);
    }

    #[test]
    fn flush_empties() {
        let mut bm = BanManager::new(600.0);
        bm.add_ban_ticket(t("a", 0.0), 0.0);
        bm.add_ban_ticket(t("b", 0.0), 0.0);
        assert_eq!(bm.flush().len(), 2);
        assert_eq!(bm.size(), 0);
        assert_eq!(bm.ban_total(), 2, "total survives a flush");
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use crate::ticket::Ticket;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the bans and check times: an unbanned ticket had ended
        /// strictly before the check, no ticket left had ended when a check
        /// returned fewer than the cap, each id is banned at most once, and
        /// the ban total counts every accepted ban.
        #[test]
        fn unban_invariants(
            bans in proptest::collection::vec((0u8..30, 0u32..1000, prop_oneof![Just(None), (1u32..500).prop_map(Some), Just(Some(-1i64 as u32))]), 1..80),
            checks in proptest::collection::vec(0u32..2000, 1..10),
            jail_bt in 1u32..400,
        ) {
            let mut bm = BanManager::new(jail_bt as f64);
            let mut added = 0u64;
            for (who, time, bt) in &bans {
                let mut t = Ticket::new(format!("10.0.0.{who}"), *time as f64);
                t.ban_time = bt.map(|b| if b == u32::MAX { -1.0 } else { b as f64 });
                if bm.add_ban_ticket(t, *time as f64) == AddBan::Added {
                    added += 1;
                }
            }
            prop_assert_eq!(bm.ban_total(), added);
            let mut checks = checks;
            checks.sort();
            for now in checks {
                let now = now as f64;
                let out = bm.unban_list(now, 5);
                for t in &out {
                    prop_assert!(now > bm.end_of_ban(t));
                    prop_assert!(!bm.is_banned(&t.id));
                }
                if out.len() < 5 {
                    for t in bm.tickets() {
                        prop_assert!(bm.end_of_ban(t) >= now);
                    }
                }
                // The cached next unban time may be early (after a
                // prolongation) but never late, or an unban would be missed.
                let min_eob = bm.tickets().map(|t| bm.end_of_ban(t)).fold(MAX_TIME, f64::min);
                prop_assert!(bm.next_unban_time() <= min_eob);
            }
        }
    }
}
