//! gaoler-ban: the decision core of a jail.
//!
//! Everything here is pure logic over plain data, with every outside input
//! injected:
//! - time: each function that depends on it takes `now` (seconds since the
//!   epoch as `f64`); nothing reads the system clock;
//! - name resolution: a [`Resolver`];
//! - the ignore command: an [`IgnoreCommand`];
//! - randomness (`bantime.rndtime`): a `FnMut() -> f64` closure;
//! - `ignoreip = file:` lists: a small [`fileset::FileSystem`] trait (the
//!   one place that reads files, with a real implementation by default);
//! - the ban history (`bantime.increment`) and restored bans: passed in as
//!   values read from `gaoler-store`.
//!
//! The pieces, named after fail2ban's:
//! - [`Ticket`] (`FailTicket`/`BanTicket`): one id's record;
//! - [`FailManager`]: failure counting within `findtime` and the
//!   `maxretry` trigger, in compact storage ([`compact`]) with a cap on
//!   the ids counted (`maxtracked`);
//! - [`IgnoreList`]: `ignoreself`, `ignoreip`, `ignorecommand`,
//!   `ignorecache`;
//! - [`BanManager`]: current bans, end of ban, unban decisions;
//! - [`BanTimeIncrement`]: `bantime.*` options, with the formula evaluator
//!   in [`expr`];
//! - [`RestoreRule`]: which database bans to restore at start.
//!
//! The managers are not synchronised: the jail owns them (behind its own
//! lock if it shares them between threads), which keeps every decision a
//! plain function call that is easy to test.
//!
//! # How a jail drives them (the order fail2ban uses)
//!
//! For each failure `(id, time, matches, data)` found by the filter:
//! 1. `ignore.check(id, Some(&ticket), now, resolver, cmd)`; on `Some(r)`
//!    log `[J] Ignore <id> by <r>` and stop.
//! 2. log `[J] Found <id> - <time>`; `retry = fm.add_failure(ticket, 1)`.
//! 3. with `bantime.increment` and a database:
//!    `fm.apply_history(id, time, store.ban_history(id, Some(jail), false), &inc)`.
//! 4. if the retry reached `maxretry`: `fm.to_ban(Some(id))` and queue the
//!    ticket for the actions thread. Every 100 lines: `fm.service(now, false)`.
//!
//! In the actions thread, for each queued ticket (up to [`BAN_PER_ROUND`]):
//! 1. `bm.add_ban_ticket(ticket, now)`: [`AddBan::Added`] → log
//!    `[J] Ban <id>` (or `Restore Ban`), run the actions' ban;
//!    `Expired` / `AlreadyBanned` → log as documented there.
//! 2. for an added ticket that is not restored: `inc.apply_to_ban(
//!    bm.get_mut(id), bm.ban_time(), history_over_jails, rng)`; if
//!    increased log `[J] Increase Ban ...` and schedule `actionprolong`;
//!    unless the ticket is (now) restored or its end is past, write it
//!    with `store.add_ban(...)`.
//! 3. `bm.unban_list(now, UNBAN_PER_CHECK)` → log `[J] Unban <id>` and run
//!    the actions' unban; sleep until `min(2 s, bm.next_unban_time() - now)`.
//!
//! At start: `store.current_bans(jail, &RestoreRule::new(bantime, &inc),
//! maxmatches, now)`, each ticket checked with the ignore list and queued.

#![deny(missing_docs)]

pub mod banmanager;
pub mod compact;
pub use gaoler_py::expr;
pub mod failmanager;
pub mod fileset;
pub mod ignore;
pub mod increment;
mod index;
pub mod resolver;
pub mod restore;
pub mod ticket;

pub use banmanager::{
    already_banned_level, AddBan, AlreadyBannedLevel, BanListEntry, BanManager, BAN_PER_ROUND,
    BATCH_PER_ROUND, UNBAN_PER_CHECK,
};
pub use compact::{FailId, FailKey, FieldValue, KeyRef};
pub use failmanager::{
    EvictionReport, FailManager, KnownFailure, DEFAULT_MAX_TRACKED, EVICTION_REPORT_INTERVAL,
};
pub use ignore::{IgnoreCacheConfig, IgnoreCommand, IgnoreList, IgnoreReason};
pub use increment::{BanHistory, BanTimeIncrement, IncrementError, IncrementOutcome};
pub use resolver::{NoResolver, Resolver, StaticResolver};
pub use restore::{RestoreRule, StoredBan};
pub use ticket::{is_permanent, py_round, py_round_i64, BanTicket, FailTicket, Ticket, MAX_TIME};
