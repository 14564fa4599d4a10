//! The jail's decisions, replayed in the log's own time.
//!
//! The same decision core as the daemon (`gaoler-ban`: FailManager,
//! IgnoreList, BanManager, BanTimeIncrement), driven in the order the
//! server drives it (see that crate's doc), with one difference: the
//! clock is the log's. Each failure happens at its line's time, and that
//! time is "now" for the ban, for `findtime` and for unbans. So an old log
//! is explained as the jail would have handled it live, not as a restart
//! today would (which skips lines older than `findtime`).
//!
//! What stays out: no firewall, no database writes (the ban history that
//! `bantime.increment` reads from the database is kept in memory, as one
//! `bips` row per address), no ignore command is run, names are not
//! resolved, and `bantime.rndtime` adds nothing (a replay must be
//! reproducible).

use std::collections::HashMap;

use gaoler_addr::Addr;
use gaoler_ban::ticket::is_permanent;
use gaoler_ban::{
    AddBan, BanHistory, BanManager, BanTimeIncrement, FailManager, IgnoreList, IgnoreReason,
    NoResolver,
};

/// A line of one of the logs read: the log's index, the line's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Place {
    /// Index of the log file (in the order given).
    pub file: usize,
    /// Line number in it, from 1.
    pub line: usize,
}

/// A ban the jail would have set.
#[derive(Debug, Clone, PartialEq)]
pub struct Ban {
    /// The banned id.
    pub id: String,
    /// When (the triggering failure's time).
    pub time: f64,
    /// For how long, seconds (negative: permanent).
    pub ban_time: f64,
    /// The id's ban count with this ban (`bantime.increment`).
    pub ban_count: u32,
    /// Failures counted for it.
    pub failures: u32,
    /// Where the failure that triggered it was found.
    pub place: Place,
    /// `bantime.increment` made it longer than `bantime`.
    pub increased: bool,
}

impl Ban {
    /// End of the ban (`None`: permanent).
    pub fn end(&self) -> Option<f64> {
        (!is_permanent(self.ban_time)).then_some(self.time + self.ban_time)
    }
}

/// What the jail did with one failure.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Not counted: `ignoreip`/`ignoreself` spared the id.
    Ignored(IgnoreReason),
    /// Counted; the id's failures within `findtime` so far.
    Counted(u32),
    /// Counted, and it reached `maxretry`: a new ban.
    Banned(Ban),
    /// Counted to `maxretry` while the id was still banned (the daemon
    /// logs "already banned"; the ban may be prolonged).
    AlreadyBanned,
}

/// The decision core on the log's clock.
pub struct Replay {
    fm: FailManager,
    ignore: IgnoreList,
    bm: BanManager,
    inc: Option<BanTimeIncrement>,
    /// The `bips` rows the daemon would have written.
    history: HashMap<String, BanHistory>,
    now: f64,
    unbans: Vec<(String, f64)>,
}

impl Replay {
    /// A replay with the jail's settings.
    pub fn new(
        maxretry: u32,
        findtime: f64,
        bantime: f64,
        increment: &BanTimeIncrement,
        ignore: IgnoreList,
    ) -> Replay {
        Replay {
            fm: FailManager::new(maxretry, findtime, 0),
            ignore,
            bm: BanManager::new(bantime),
            inc: increment.enabled.then(|| increment.clone()),
            history: HashMap::new(),
            now: f64::NEG_INFINITY,
            unbans: Vec::new(),
        }
    }

    /// Moves the clock to `time` (never back) and lifts the bans that
    /// ended before it; they are collected for [`Replay::take_unbans`].
    pub fn advance(&mut self, time: f64) {
        if time > self.now {
            self.now = time;
        }
        if self.bm.next_unban_time() <= self.now {
            let now = self.now;
            let bt = self.bm.ban_time();
            for t in self.bm.unban_list(now, usize::MAX) {
                let end = t.end_of_ban(bt);
                self.unbans.push((t.id, end));
            }
        }
    }

    /// The unbans since the last call: `(id, time)`.
    pub fn take_unbans(&mut self) -> Vec<(String, f64)> {
        std::mem::take(&mut self.unbans)
    }

    /// One failure of `id` at `time`, found at `place`.
    pub fn failure(&mut self, id: &Addr, time: f64, place: Place) -> Decision {
        self.advance(time);
        let now = self.now;
        // (a line dated before an earlier one happens "now", as a failure
        // in the future does in the daemon)
        let time = time.min(now);
        if let Some(r) = self.ignore.check_addr(id, now, &NoResolver) {
            return Decision::Ignored(r);
        }
        let no_matches: &[&str] = &[];
        let retry = self.fm.add(id, time, 1, 1, no_matches, std::iter::empty());
        let mut ban = retry >= self.fm.max_retry();
        if let Some(inc) = &self.inc {
            let h = self.history.get(&id.to_string());
            if let Some(k) = self.fm.apply_history(id, time, h, inc) {
                ban |= k.ban;
            }
        }
        let decision = if ban {
            match self.fm.to_ban(Some(id)) {
                Some(ticket) => self.ban(ticket, place),
                None => Decision::Counted(retry),
            }
        } else {
            Decision::Counted(retry)
        };
        self.fm.service(now, false);
        decision
    }

    /// The actions thread's part: the ban manager, then the increment.
    fn ban(&mut self, ticket: gaoler_ban::ticket::Ticket, place: Place) -> Decision {
        let id = ticket.id.clone();
        let failures = ticket.failures;
        let bantime = self.bm.ban_time();
        match self.bm.add_ban_ticket(ticket, self.now) {
            AddBan::Added => {}
            AddBan::Expired | AddBan::AlreadyBanned { .. } => return Decision::AlreadyBanned,
        }
        let Some(t) = self.bm.get_mut(&id) else {
            return Decision::AlreadyBanned;
        };
        let mut increased = false;
        if let Some(inc) = &self.inc {
            if !is_permanent(t.ban_time_or(bantime)) {
                let h = self.history.get(&id);
                if let Ok(o) = inc.apply_to_ban(t, bantime, h, &mut || 0.0) {
                    increased = o.increased;
                }
            }
            // the row the daemon stores (`bips`: one per address and jail)
            if !t.restored {
                self.history.insert(
                    id.clone(),
                    BanHistory {
                        ban_count: t.ban_count,
                        time_of_ban: t.time.round(),
                        ban_time: t.ban_time_or(bantime),
                    },
                );
            }
        }
        Decision::Banned(Ban {
            id,
            time: t.time,
            ban_time: t.ban_time_or(bantime),
            ban_count: t.ban_count,
            failures,
            place,
            increased,
        })
    }

    /// Bans still in force at the end of the log.
    pub fn active_bans(&self) -> usize {
        self.bm.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Addr {
        Addr::parse(s)
    }

    fn at(line: usize) -> Place {
        Place { file: 0, line }
    }

    #[test]
    fn bans_at_maxretry_within_findtime_and_lifts_after_bantime() {
        let mut r = Replay::new(
            3,
            60.0,
            100.0,
            &BanTimeIncrement::default(),
            IgnoreList::new(),
        );
        let a = addr("192.0.2.1");
        assert_eq!(r.failure(&a, 0.0, at(1)), Decision::Counted(1));
        assert_eq!(r.failure(&a, 10.0, at(2)), Decision::Counted(2));
        let Decision::Banned(b) = r.failure(&a, 20.0, at(3)) else {
            panic!("no ban")
        };
        assert_eq!(
            (b.time, b.ban_time, b.place.line, b.failures),
            (20.0, 100.0, 3, 3)
        );
        assert_eq!(b.end(), Some(120.0));
        r.advance(119.0);
        assert!(r.take_unbans().is_empty());
        r.advance(121.0);
        assert_eq!(r.take_unbans(), vec![("192.0.2.1".to_string(), 120.0)]);
    }

    #[test]
    fn failures_outside_findtime_do_not_add_up() {
        let mut r = Replay::new(
            3,
            60.0,
            100.0,
            &BanTimeIncrement::default(),
            IgnoreList::new(),
        );
        let a = addr("192.0.2.1");
        for (i, t) in [0.0, 61.0, 122.0, 183.0].into_iter().enumerate() {
            assert!(matches!(r.failure(&a, t, at(i)), Decision::Counted(_)));
        }
    }

    #[test]
    fn ignoreip_spares_an_address() {
        let mut ignore = IgnoreList::new();
        ignore.add("192.0.2.0/24");
        let mut r = Replay::new(1, 60.0, 100.0, &BanTimeIncrement::default(), ignore);
        assert!(matches!(
            r.failure(&addr("192.0.2.7"), 0.0, at(1)),
            Decision::Ignored(IgnoreReason::Ip)
        ));
        assert!(matches!(
            r.failure(&addr("198.51.100.7"), 0.0, at(2)),
            Decision::Banned(_)
        ));
    }

    #[test]
    fn increment_doubles_the_second_ban() {
        let mut inc = BanTimeIncrement::default();
        inc.enabled = true;
        let mut r = Replay::new(1, 60.0, 100.0, &inc, IgnoreList::new());
        let a = addr("192.0.2.1");
        let Decision::Banned(first) = r.failure(&a, 0.0, at(1)) else {
            panic!()
        };
        assert_eq!((first.ban_time, first.ban_count), (100.0, 1));
        // a failure while banned is "already banned"
        assert_eq!(r.failure(&a, 50.0, at(2)), Decision::AlreadyBanned);
        r.advance(200.0);
        assert_eq!(r.take_unbans().len(), 1);
        let Decision::Banned(second) = r.failure(&a, 300.0, at(3)) else {
            panic!()
        };
        assert_eq!((second.ban_time, second.ban_count), (200.0, 2));
        assert!(second.increased);
    }
}
