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
//!
//! # Storage (bounded memory under an address spray)
//!
//! A spray of distinct failing addresses makes this the largest structure
//! of the daemon, so it is laid out for size rather than kept as a map of
//! [`Ticket`]s (about 1 KB per address, as in fail2ban):
//! - each counted id is one fixed-size entry (72 bytes: the packed key of
//!   [`FailKey`], times, counters, and one blob with the data fields and the
//!   last `maxmatches` lines, encoded by [`LineStore`](crate::compact));
//! - entries live in chunks of [`CHUNK`] (growing never copies them all,
//!   so there is no doubling peak, and emptied chunks are freed) and are
//!   found through a table of slot numbers with 32 bits of each key's
//!   hash in one 8-byte bucket (`index`: a new id costs one cache miss,
//!   growing never touches the entries); the hash is randomly seeded (an
//!   attacker chooses the addresses, so it must not be predictable);
//! - a removal moves the last entry into the hole; a cleanup that drops a
//!   large part compacts the entries and rebuilds the table at the new
//!   size, so memory is given back after a spray expires
//!   ([`FailManager::cleanup`] returns how many went, for the caller to
//!   ask the allocator to return pages).
//!
//! Tickets are rebuilt ([`FailManager::get`], [`FailManager::to_ban`]) only
//! when they leave or are looked at, which is rare next to counting.
//!
//! # The cap (`maxtracked`)
//!
//! fail2ban counts any number of ids. Here at most `maxtracked` ids are
//! counted (0: no limit). When a new id would exceed the cap, the entries
//! closest to expiry go first: the oldest last failure, and among equal
//! times the lowest retry count, so an id about to reach `maxretry` is the
//! last to be dropped, then the earliest last failure (log times often
//! have whole seconds, so a whole spray can share one time). They are evicted in batches of an eighth of the cap
//! (each selection is a pass over all entries, so a batch keeps the cost
//! per failure constant). Evictions are counted;
//! [`FailManager::eviction_report`] hands them to the caller at most once
//! per [`EVICTION_REPORT_INTERVAL`] for a rate-limited warning.

use std::cmp::Ordering;

use foldhash::fast::RandomState;

use crate::compact::{FailId, FailKey, FieldValue, KeyRef, LineStore};
use crate::increment::{BanHistory, BanTimeIncrement};
use crate::index::Index;
use crate::ticket::{py_round, FailTicket, Ticket};

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

/// Default `maxtracked`: ids counted per jail at most.
pub const DEFAULT_MAX_TRACKED: usize = 1_000_000;

/// Minimum interval between two [`EvictionReport`]s.
pub const EVICTION_REPORT_INTERVAL: f64 = 60.0;

/// Entries per chunk.
pub const CHUNK: usize = 1024;

/// Evictions since the last report (see [`FailManager::eviction_report`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvictionReport {
    /// Ids dropped before their time since the last report.
    pub evicted: u64,
    /// Ids dropped before their time since the manager was created.
    pub total: u64,
    /// Ids counted now.
    pub tracked: usize,
    /// The cap.
    pub max_tracked: usize,
}

/// One counted id (see the module docs).
#[derive(Debug, Clone)]
struct Entry {
    key: FailKey,
    /// Time of the last failure.
    time: f64,
    /// Start of the current counting interval.
    first_time: f64,
    retry: u32,
    failures: u32,
    ban_count: u32,
    /// Order of the last failure (the low 32 bits of the manager's
    /// failure counter): among equal times and retries, the older goes
    /// first. It fills what would be padding.
    seq: u32,
    /// Data fields and matched lines (see `compact`).
    blob: Box<[u8]>,
}

impl Entry {
    /// Eviction order: oldest last failure first, then lowest retry, then
    /// the failure seen first (log times often have whole seconds).
    fn expiry_order(&self) -> (f64, u32, u32) {
        (self.time, self.retry, self.seq)
    }
}

fn cmp_expiry(a: &(f64, u32, u32), b: &(f64, u32, u32)) -> Ordering {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2))
}

/// Entries in fixed-size chunks, addressed by slot number.
#[derive(Debug, Clone, Default)]
struct Slab {
    chunks: Vec<Vec<Entry>>,
    len: usize,
}

impl Slab {
    fn get(&self, i: u32) -> &Entry {
        let i = i as usize;
        &self.chunks[i / CHUNK][i % CHUNK]
    }
    fn get_mut(&mut self, i: u32) -> &mut Entry {
        let i = i as usize;
        &mut self.chunks[i / CHUNK][i % CHUNK]
    }
    fn push(&mut self, e: Entry) -> u32 {
        if !matches!(self.chunks.last(), Some(c) if c.len() < CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        if let Some(c) = self.chunks.last_mut() {
            c.push(e);
        }
        self.len += 1;
        (self.len - 1) as u32
    }
    /// Removes slot `i`; the last entry (if another) moves into it.
    fn swap_remove(&mut self, i: u32) -> Entry {
        let last_chunk = self.chunks.len() - 1;
        let mut last = self.chunks[last_chunk].pop().expect("slab is not empty");
        if self.chunks[last_chunk].is_empty() {
            self.chunks.pop();
        }
        self.len -= 1;
        if (i as usize) < self.len {
            std::mem::swap(self.get_mut(i), &mut last);
        }
        last
    }
    fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.chunks.iter().flatten()
    }
}

/// Failure counter of one jail.
#[derive(Clone)]
pub struct FailManager {
    /// Slot numbers by 32 bits of the key's hash (see `index`).
    index: Index,
    hasher: RandomState,
    slab: Slab,
    lines: LineStore,
    max_retry: u32,
    /// `findtime` in seconds.
    max_time: f64,
    /// `maxmatches`: how many matched lines a ticket keeps (0 = none).
    max_matches: usize,
    /// `maxtracked` (0 = no cap).
    max_tracked: usize,
    fail_total: u64,
    next_service: f64,
    evicted_total: u64,
    evicted_unreported: u64,
    next_report: f64,
}

impl std::fmt::Debug for FailManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailManager")
            .field("size", &self.size())
            .field("max_retry", &self.max_retry)
            .field("find_time", &self.max_time)
            .field("max_matches", &self.max_matches)
            .field("max_tracked", &self.max_tracked)
            .field("fail_total", &self.fail_total)
            .finish_non_exhaustive()
    }
}

impl Default for FailManager {
    fn default() -> Self {
        // fail2ban's server-side defaults (the jail reader normally
        // overrides them): maxretry 3, findtime 600, maxmatches 5.
        FailManager::new(3, 600.0, 5)
    }
}

/// The 32 bits of a key's hash kept in the table.
fn hash32(h: &RandomState, k: KeyRef<'_>) -> u32 {
    (k.hash_with(h) >> 32) as u32
}

impl FailManager {
    pub fn new(max_retry: u32, find_time: f64, max_matches: usize) -> Self {
        FailManager {
            index: Index::default(),
            hasher: RandomState::default(),
            slab: Slab::default(),
            lines: LineStore::default(),
            max_retry,
            max_time: find_time,
            max_matches,
            max_tracked: DEFAULT_MAX_TRACKED,
            fail_total: 0,
            next_service: f64::NEG_INFINITY,
            evicted_total: 0,
            evicted_unreported: 0,
            next_report: f64::NEG_INFINITY,
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
    /// `maxtracked`: the most ids counted at once (0 = no cap).
    pub fn max_tracked(&self) -> usize {
        self.max_tracked
    }
    /// Sets `maxtracked`; ids above a lowered cap are evicted at once.
    pub fn set_max_tracked(&mut self, v: usize) {
        self.max_tracked = v.min(u32::MAX as usize);
        if self.max_tracked > 0 && self.size() > self.max_tracked {
            self.evict(self.size() - self.max_tracked);
        }
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
        self.slab.len
    }
    /// Ids dropped by the cap since the manager was created.
    pub fn evicted_total(&self) -> u64 {
        self.evicted_total
    }

    fn find(&self, k: KeyRef<'_>) -> Option<u32> {
        let h = hash32(&self.hasher, k);
        let slab = &self.slab;
        self.index.find(h, |i| slab.get(i).key.as_ref() == k)
    }

    fn ticket_of(&self, e: &Entry) -> FailTicket {
        let (data, matches) = self.lines.decode(&e.key, &e.blob);
        let mut t = Ticket::new(e.key.to_string(), e.time);
        t.first_time = e.first_time;
        t.retry = e.retry;
        t.failures = e.failures;
        t.ban_count = e.ban_count;
        t.matches = matches;
        t.data = data;
        t
    }

    /// The ticket currently counted for `id`, if any (rebuilt from the
    /// compact entry).
    pub fn get<I: FailId + ?Sized>(&self, id: &I) -> Option<FailTicket> {
        let i = self.find(id.fail_key())?;
        Some(self.ticket_of(self.slab.get(i)))
    }
    /// The retry count of `id`, if counted.
    pub fn retry<I: FailId + ?Sized>(&self, id: &I) -> Option<u32> {
        self.find(id.fail_key()).map(|i| self.slab.get(i).retry)
    }
    /// All tickets currently counted (unordered, rebuilt).
    pub fn tickets(&self) -> impl Iterator<Item = FailTicket> + '_ {
        self.slab.iter().map(|e| self.ticket_of(e))
    }

    /// Add one failure (or `count` attempts, for `set J attempt`) for the
    /// ticket's id. Returns the id's retry count afterwards; compare it with
    /// [`FailManager::max_retry`] and call [`FailManager::to_ban`] when it is
    /// reached.
    ///
    /// `ticket.failures` is the number of real failures the ticket stands
    /// for (1 for a log line); `count` is what it adds to the retry counter.
    /// The id is the ticket's text, parsed ([`FailId`] for `str`); the
    /// filter's failures go through [`FailManager::add`] with their
    /// [`gaoler_addr::Addr`].
    pub fn add_failure(&mut self, ticket: FailTicket, count: u32) -> u32 {
        let data = ticket
            .data
            .iter()
            .map(|(k, v)| (k.as_str(), FieldValue::Json(v.clone())));
        let (retry, slot, new) = self.add_key(
            ticket.id.as_str().fail_key(),
            ticket.time,
            count,
            ticket.failures.max(1),
            &ticket.matches,
            data,
        );
        if new && ticket.ban_count > 0 {
            self.slab.get_mut(slot).ban_count = ticket.ban_count;
        }
        retry
    }

    /// Add one failure of `id` at `time`: `count` toward the retry counter,
    /// `attempts` real failures (`<failures>`), the matched lines and the
    /// filter's data fields (`null` values are dropped). Returns the id's
    /// retry count afterwards.
    pub fn add<'a, I: FailId + ?Sized>(
        &mut self,
        id: &I,
        time: f64,
        count: u32,
        attempts: u32,
        matches: &[impl AsRef<str>],
        data: impl IntoIterator<Item = (&'a str, FieldValue<'a>)>,
    ) -> u32 {
        self.add_key(id.fail_key(), time, count, attempts.max(1), matches, data)
            .0
    }

    fn add_key<'a>(
        &mut self,
        key: KeyRef<'_>,
        time: f64,
        count: u32,
        attempts: u32,
        matches: &[impl AsRef<str>],
        data: impl IntoIterator<Item = (&'a str, FieldValue<'a>)>,
    ) -> (u32, u32, bool) {
        self.fail_total += 1;
        let max_matches = self.max_matches;
        if self.max_tracked > 0 && self.size() >= self.max_tracked && self.find(key).is_none() {
            let batch = (self.max_tracked / 8).max(1);
            self.evict(self.size() + batch - self.max_tracked);
        }
        let h = hash32(&self.hasher, key);
        let slab = &self.slab;
        let next = slab.len as u32;
        // One probe finds the id or the place for it.
        let (i, new) = self
            .index
            .find_or_insert(h, |i| slab.get(i).key.as_ref() == key, || next);
        if !new {
            let max_time = self.max_time;
            let e = self.slab.get_mut(i);
            adjust_time(e, time, max_time);
            e.retry = e.retry.saturating_add(count);
            e.failures = e.failures.saturating_add(attempts);
            e.seq = self.fail_total as u32;
            let blob = self.lines.merge(key, &e.blob, data, matches, max_matches);
            e.blob = blob;
            return (e.retry, i, false);
        }
        let blob = self.lines.encode(key, data, matches, max_matches);
        let retry = count.max(1);
        let slot = self.slab.push(Entry {
            key: key.to_owned_key(),
            time,
            first_time: time,
            retry,
            failures: attempts,
            ban_count: 0,
            seq: self.fail_total as u32,
            blob,
        });
        debug_assert_eq!(slot, i);
        (retry, slot, true)
    }

    /// The extra count of `bantime.increment` for an id known from earlier
    /// bans: adds `extra` to the retry counter of the id's current ticket.
    ///
    /// Returns `None` when the id is not counted any more (already handed
    /// over for a ban), in which case nothing is added, as fail2ban's
    /// observer does. The number of real failures is not changed.
    pub fn add_extra_retry<I: FailId + ?Sized>(&mut self, id: &I, extra: u32) -> Option<u32> {
        let i = self.find(id.fail_key())?;
        let e = self.slab.get_mut(i);
        e.retry = e.retry.saturating_add(extra);
        Some(e.retry)
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
    pub fn apply_history<I: FailId + ?Sized>(
        &mut self,
        id: &I,
        failure_time: f64,
        history: Option<&BanHistory>,
        increment: &BanTimeIncrement,
    ) -> Option<KnownFailure> {
        let max_retry = self.max_retry;
        let i = self.find(id.fail_key())?;
        let e = self.slab.get_mut(i);
        let extra = increment.extra_retry(history, e.ban_count, failure_time, max_retry)?;
        let ban_count = history.map_or(0, |h| h.ban_count).max(e.ban_count);
        e.retry = e.retry.saturating_add(extra);
        e.ban_count = e.ban_count.max(ban_count);
        Some(KnownFailure {
            ban_count,
            retry: e.retry,
            ban: e.retry >= max_retry,
        })
    }

    /// Removes slot `i` from the table and the entries.
    fn remove_slot(&mut self, i: u32) -> Entry {
        let h = hash32(&self.hasher, self.slab.get(i).key.as_ref());
        self.index.remove(h, i);
        let last = (self.slab.len - 1) as u32;
        if i != last {
            // The last entry moves into slot i.
            let h = hash32(&self.hasher, self.slab.get(last).key.as_ref());
            self.index.relocate(h, last, i);
        }
        self.slab.swap_remove(i)
    }

    /// Removes an entry and rebuilds its ticket.
    fn take(&mut self, i: u32) -> FailTicket {
        let e = self.remove_slot(i);
        let t = self.ticket_of(&e);
        self.lines.release(&e.blob);
        t
    }

    /// Remove and return a ticket that reached `maxretry`: the one for `id`
    /// if given (and it qualifies), else any qualifying one.
    pub fn to_ban<I: FailId + ?Sized>(&mut self, id: Option<&I>) -> Option<FailTicket> {
        let max = self.max_retry;
        let i = match id {
            Some(id) => self
                .find(id.fail_key())
                .filter(|&i| self.slab.get(i).retry >= max),
            None => self
                .slab
                .iter()
                .position(|e| e.retry >= max)
                .map(|i| i as u32),
        }?;
        Some(self.take(i))
    }

    /// Remove and return every ticket that reached `maxretry`.
    pub fn drain_to_ban(&mut self) -> Vec<FailTicket> {
        let max = self.max_retry;
        let slots: Vec<u32> = (0..self.slab.len as u32)
            .filter(|&i| self.slab.get(i).retry >= max)
            .collect();
        // Highest slot first: a removal only moves the last entry, which is
        // then never one still to be taken.
        slots.into_iter().rev().map(|i| self.take(i)).collect()
    }

    /// Forget an id (e.g. after a manual ban).
    pub fn del_failure<I: FailId + ?Sized>(&mut self, id: &I) -> Option<FailTicket> {
        let i = self.find(id.fail_key())?;
        Some(self.take(i))
    }

    /// Removes every entry for which `pred` holds (called once per entry);
    /// returns how many. A large removal compacts the entries and rebuilds
    /// the table at its new size, which gives the memory back.
    fn remove_where(&mut self, victims: usize, mut pred: impl FnMut(&Entry) -> bool) -> usize {
        if victims == 0 {
            return 0;
        }
        let mut removed = 0;
        if victims * 4 >= self.slab.len {
            let old = std::mem::take(&mut self.slab);
            // Each old chunk is freed as soon as it has been moved.
            for chunk in old.chunks {
                for e in chunk {
                    if pred(&e) {
                        self.lines.release(&e.blob);
                        removed += 1;
                    } else {
                        self.slab.push(e);
                    }
                }
            }
            self.rebuild_index();
            self.lines.trim();
        } else {
            let mut i = 0u32;
            while (i as usize) < self.slab.len {
                if pred(self.slab.get(i)) {
                    let e = self.remove_slot(i);
                    self.lines.release(&e.blob);
                    removed += 1;
                } else {
                    i += 1;
                }
            }
            self.index.shrink();
        }
        self.slab.chunks.shrink_to_fit();
        removed
    }

    fn rebuild_index(&mut self) {
        let mut index = Index::with_capacity(self.slab.len);
        for (i, e) in self.slab.iter().enumerate() {
            index.insert_new(hash32(&self.hasher, e.key.as_ref()), i as u32);
        }
        self.index = index;
    }

    /// Evicts the `n` entries closest to expiry (see the module docs).
    fn evict(&mut self, n: usize) {
        let n = n.min(self.size());
        if n == 0 {
            return;
        }
        let mut order: Vec<(f64, u32, u32)> = self.slab.iter().map(Entry::expiry_order).collect();
        let (_, &mut nth, _) = order.select_nth_unstable_by(n - 1, cmp_expiry);
        let below = order
            .iter()
            .filter(|x| cmp_expiry(x, &nth) == Ordering::Less)
            .count();
        drop(order);
        let mut ties = n - below;
        let removed = self.remove_where(n, |e| match cmp_expiry(&e.expiry_order(), &nth) {
            Ordering::Less => true,
            Ordering::Equal if ties > 0 => {
                ties -= 1;
                true
            }
            _ => false,
        });
        self.evicted_total += removed as u64;
        self.evicted_unreported += removed as u64;
    }

    /// The evictions since the last report, at most once per
    /// [`EVICTION_REPORT_INTERVAL`] (the first one at once): for a
    /// rate-limited warning.
    pub fn eviction_report(&mut self, now: f64) -> Option<EvictionReport> {
        if self.evicted_unreported == 0 || now < self.next_report {
            return None;
        }
        self.next_report = now + EVICTION_REPORT_INTERVAL;
        let evicted = std::mem::take(&mut self.evicted_unreported);
        Some(EvictionReport {
            evicted,
            total: self.evicted_total,
            tracked: self.size(),
            max_tracked: self.max_tracked,
        })
    }

    /// Drop tickets whose last failure is at or before `now - findtime`.
    /// Returns how many were dropped.
    pub fn cleanup(&mut self, now: f64) -> usize {
        let limit = now - self.max_time;
        let victims = self.slab.iter().filter(|e| e.time <= limit).count();
        self.remove_where(victims, |e| e.time <= limit)
    }

    /// Run [`FailManager::cleanup`] unless one ran less than 5 s ago (or
    /// `force`). Returns how many tickets it dropped, `None` when it did
    /// not run.
    pub fn service(&mut self, now: f64, force: bool) -> Option<usize> {
        if force || now >= self.next_service {
            self.next_service = now + SERVICE_INTERVAL;
            Some(self.cleanup(now))
        } else {
            None
        }
    }

    /// Approximate heap bytes held (entries, table, blobs, shared lines).
    pub fn heap_bytes(&self) -> usize {
        let entries = self.slab.chunks.len() * CHUNK * std::mem::size_of::<Entry>();
        let table = self.index.capacity() * std::mem::size_of::<u64>();
        let blobs: usize = self
            .slab
            .iter()
            .map(|e| {
                e.blob.len()
                    + match &e.key {
                        FailKey::Raw(s) => s.len(),
                        FailKey::Net(_) => 24,
                        _ => 0,
                    }
            })
            .sum();
        entries + table + blobs + self.lines.ref_bytes()
    }
}

/// The findtime rate rescale (see the module doc).
fn adjust_time(t: &mut Entry, time: f64, max_time: f64) {
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
}

#[cfg(test)]
mod storage_tests {
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
}

#[cfg(test)]
mod model {
    //! The compact manager against the plain ticket map it replaced.
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// The former FailManager: tickets in a map keyed by id text.
    struct Plain {
        list: HashMap<String, Ticket>,
        max_time: f64,
        max_matches: usize,
    }

    impl Plain {
        fn add(&mut self, mut t: Ticket, count: u32) -> u32 {
            let attempt = t.failures.max(1);
            match self.list.get_mut(&t.id) {
                Some(d) => {
                    if t.time > d.time {
                        if d.first_time < t.time - self.max_time {
                            let el = t.time - d.first_time;
                            d.retry = py_round(d.retry as f64 / el * self.max_time) as u32;
                            d.first_time = t.time - self.max_time;
                        }
                        d.time = t.time;
                    }
                    d.retry += count;
                    d.failures += attempt;
                    d.matches.append(&mut t.matches);
                    let n = d.matches.len().saturating_sub(self.max_matches);
                    d.matches.drain(..n);
                    for (k, v) in t.data {
                        d.data.entry(k).or_insert(v);
                    }
                    d.retry
                }
                None => {
                    t.first_time = t.time;
                    t.retry = count.max(1);
                    t.failures = attempt;
                    let n = t.matches.len().saturating_sub(self.max_matches);
                    t.matches.drain(..n);
                    let r = t.retry;
                    self.list.insert(t.id.clone(), t);
                    r
                }
            }
        }
    }

    proptest! {
        #[test]
        fn same_counting_as_the_ticket_map(
            events in proptest::collection::vec(
                (0u8..5, 0u32..500, 1u32..3, 0usize..3, 0u8..3), 1..80),
            find_time in 1u32..200,
            max_matches in 0usize..4,
            max_retry in 2u32..6,
        ) {
            let mut fm = FailManager::new(max_retry, find_time as f64, max_matches);
            let mut plain = Plain { list: HashMap::new(), max_time: find_time as f64, max_matches };
            for (n, (who, t, count, nm, field)) in events.into_iter().enumerate() {
                let id = if who == 4 { "alice".to_string() } else { format!("192.0.2.{who}") };
                let lines: Vec<String> = (0..nm)
                    .map(|j| format!("Jan 1 00:00:{:02} host sshd[{n}]: fail {j} from {id}", t % 60))
                    .collect();
                let mut data = serde_json::Map::new();
                match field {
                    0 => {}
                    1 => { data.insert("ip4".into(), id.clone().into()); }
                    _ => { data.insert("user".into(), format!("u{n}").into()); }
                }
                let ticket = Ticket::new(id.clone(), t as f64)
                    .with_matches(lines)
                    .with_data(data);
                let a = fm.add_failure(ticket.clone(), count);
                let b = plain.add(ticket, count);
                prop_assert_eq!(a, b);
                if a >= max_retry {
                    let x = fm.to_ban(Some(id.as_str())).expect("qualifies");
                    let y = plain.list.remove(&id).expect("qualifies");
                    prop_assert_eq!(x, y);
                }
            }
            prop_assert_eq!(fm.size(), plain.list.len());
            for (id, t) in &plain.list {
                prop_assert_eq!(&fm.get(id.as_str()).expect("counted"), t);
            }
        }
    }
}

#[cfg(test)]
mod props {
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
}
