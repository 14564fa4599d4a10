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
    /// An empty counter with `maxretry` = `max_retry`, `findtime` = `find_time`
    /// (seconds) and `maxmatches` = `max_matches` (lines kept per ticket);
    /// `maxtracked` starts at [`DEFAULT_MAX_TRACKED`].
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

    /// `maxretry`: the retry count at which an id is to be banned.
    pub fn max_retry(&self) -> u32 {
        self.max_retry
    }
    /// Change `maxretry`; retry counts already reached are kept and compared
    /// with the new value.
    pub fn set_max_retry(&mut self, v: u32) {
        self.max_retry = v;
    }
    /// `findtime` in seconds.
    pub fn find_time(&self) -> f64 {
        self.max_time
    }
    /// Change `findtime` (seconds); it applies from the next failure and
    /// cleanup.
    pub fn set_find_time(&mut self, v: f64) {
        self.max_time = v;
    }
    /// `maxmatches`: how many of its latest matched lines a ticket keeps (0:
    /// none).
    pub fn max_matches(&self) -> usize {
        self.max_matches
    }
    /// Change `maxmatches`; a counted ticket is cut down to it at its next
    /// failure.
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
mod tests;

#[cfg(test)]
mod storage_tests;

#[cfg(test)]
mod model;

#[cfg(test)]
mod props;
