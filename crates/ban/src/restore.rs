//! Which bans to restore from the database when a jail starts, and with
//! which ban time.
//!
//! The database keeps the latest ban of each (ip, jail) in `bips`. At start
//! a ban is restored when it is still running: `timeofban + bantime > now`
//! or permanent. The ban time is then corrected so that a configuration
//! change takes effect:
//! - without `bantime.increment`, only bans started within the current
//!   jail `bantime` are taken, and longer (or permanent) ban times are cut
//!   to it — unless the jail bantime is itself permanent;
//! - with increment, the cap is `bantime.maxtime` (no cap when unset), so
//!   increased bans survive a restart;
//! - `-2` (written by schema upgrades from version < 3, "unknown") takes
//!   the jail's ban time.
//!
//! The remaining time is always measured from the original `timeofban`.
//! The store applies [`RestoreRule::sql_filter`] in SQL and then
//! [`RestoreRule::check`] on every row; the jail then runs the ignore check
//! and queues the ticket marked `restored`.

use crate::increment::BanTimeIncrement;
use crate::ticket::Ticket;

/// Old-schema marker for "ban time unknown".
pub const UNKNOWN_BAN_TIME: f64 = -2.0;

/// One `bips` row as read from the database.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBan {
    /// The banned id (`ip` column).
    pub ip: String,
    /// The jail's name.
    pub jail: String,
    /// `timeofban` (integer seconds in the database).
    pub time_of_ban: f64,
    /// `bantime`: seconds, `-1` permanent, `-2` unknown (old schema).
    pub ban_time: f64,
    /// `bancount`: how many times the id has been banned in this jail.
    pub ban_count: u32,
    /// The `data` JSON object (`{}` when missing or unreadable).
    pub data: serde_json::Value,
}

/// The restore parameters of one jail.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RestoreRule {
    /// Only rows with `timeofban > now - for_ban_time` (`None`: no limit).
    pub for_ban_time: Option<f64>,
    /// Cap for restored ban times (`None`: keep as stored).
    pub correct_ban_time: Option<f64>,
    /// The jail's `bantime`, used for `-2` rows.
    pub jail_ban_time: f64,
}

impl RestoreRule {
    /// The rule for a jail with ban time `jail_ban_time` and the given
    /// increment settings.
    pub fn new(jail_ban_time: f64, increment: &BanTimeIncrement) -> Self {
        let for_ban_time = if increment.enabled || jail_ban_time == -1.0 {
            None
        } else {
            Some(jail_ban_time)
        };
        RestoreRule {
            for_ban_time,
            correct_ban_time: increment.max_ban_time(jail_ban_time),
            jail_ban_time,
        }
    }

    /// Lower bound on `timeofban` for the SQL query, if any (rows must have
    /// `timeofban >` this).
    pub fn sql_filter(&self, now: f64) -> Option<f64> {
        self.for_ban_time.map(|b| now - b)
    }

    /// Decide one `bips` row: the corrected ban time if the ban is to be
    /// restored, `None` if it is over (or outside the search window).
    pub fn check(&self, time_of_ban: f64, ban_time: f64, now: f64) -> Option<f64> {
        // Rows the query would select.
        let running = time_of_ban + ban_time > now || ban_time <= -1.0;
        if !running {
            return None;
        }
        if let Some(min) = self.sql_filter(now) {
            if time_of_ban <= min {
                return None;
            }
        }
        let mut bt = ban_time;
        if bt == UNKNOWN_BAN_TIME {
            bt = self.jail_ban_time;
        } else if let Some(cap) = self.correct_ban_time.filter(|c| *c >= 0.0) {
            if bt == -1.0 || bt > cap {
                bt = cap;
            }
        }
        if bt < 0.0 {
            // Permanent.
            return Some(-1.0);
        }
        if time_of_ban + bt <= now {
            return None;
        }
        Some(bt)
    }

    /// Build the restored ticket for a row, or `None` if it is not to be
    /// restored. Matches are trimmed to `max_matches` (the jail's
    /// `maxmatches`, 0 for none).
    pub fn ticket(&self, row: &StoredBan, max_matches: usize, now: f64) -> Option<Ticket> {
        let bt = self.check(row.time_of_ban, row.ban_time, now)?;
        let mut t = Ticket::new(row.ip.clone(), row.time_of_ban);
        t.set_data_json(&row.data);
        let keep = t.matches.len().saturating_sub(max_matches);
        t.matches.drain(..keep);
        t.ban_time = Some(bt);
        t.ban_count = row.ban_count;
        t.restored = true;
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inc(enabled: bool, max: Option<f64>) -> BanTimeIncrement {
        let mut b = BanTimeIncrement::default();
        b.enabled = enabled;
        b.max_time = max;
        b
    }

    #[test]
    fn without_increment_window_and_cap() {
        let r = RestoreRule::new(600.0, &inc(false, None));
        let now = 10_000.0;
        // Running, inside window.
        assert_eq!(r.check(now - 100.0, 600.0, now), Some(600.0));
        // Ended.
        assert_eq!(r.check(now - 700.0, 600.0, now), None);
        // Long ban started 700 s ago: outside the jail bantime window.
        assert_eq!(r.check(now - 700.0, 3600.0, now), None);
        // Long ban started 100 s ago: cut to 600.
        assert_eq!(r.check(now - 100.0, 3600.0, now), Some(600.0));
        // Permanent ban: cut to 600 too.
        assert_eq!(r.check(now - 100.0, -1.0, now), Some(600.0));
        // Exactly at the window edge: timeofban must be strictly greater.
        assert_eq!(r.check(now - 600.0, 3600.0, now), None);
    }

    #[test]
    fn without_increment_permanent_jail() {
        let r = RestoreRule::new(-1.0, &inc(false, None));
        assert_eq!(r.correct_ban_time, None);
        assert_eq!(r.for_ban_time, None);
        assert_eq!(r.check(0.0, -1.0, 1e9), Some(-1.0));
        assert_eq!(
            r.check(1e9 - 10.0, 3600.0, 1e9),
            Some(3600.0),
            "kept as stored"
        );
        assert_eq!(r.check(0.0, 3600.0, 1e9), None);
    }

    #[test]
    fn with_increment_maxtime_cap() {
        let now = 100_000.0;
        let r = RestoreRule::new(600.0, &inc(true, None));
        // Increased ban started long ago (beyond jail bantime) still runs.
        assert_eq!(r.check(now - 5000.0, 9600.0, now), Some(9600.0));
        assert_eq!(r.check(now - 5000.0, -1.0, now), Some(-1.0));
        let r = RestoreRule::new(600.0, &inc(true, Some(7200.0)));
        assert_eq!(r.check(now - 5000.0, 9600.0, now), Some(7200.0));
        assert_eq!(r.check(now - 5000.0, -1.0, now), Some(7200.0));
        // Cut below the elapsed time: over.
        assert_eq!(r.check(now - 8000.0, 9600.0, now), None);
    }

    #[test]
    fn unknown_bantime_takes_jail() {
        let now = 10_000.0;
        let r = RestoreRule::new(600.0, &inc(false, None));
        assert_eq!(r.check(now - 100.0, -2.0, now), Some(600.0));
        assert_eq!(r.check(now - 900.0, -2.0, now), None);
        let r = RestoreRule::new(-1.0, &inc(false, None));
        assert_eq!(r.check(0.0, -2.0, now), Some(-1.0));
    }

    #[test]
    fn ticket_is_marked_restored() {
        let r = RestoreRule::new(600.0, &inc(false, None));
        let mut row = StoredBan {
            ip: "1.2.3.4".into(),
            jail: "sshd".into(),
            time_of_ban: 9900.0,
            ban_time: 600.0,
            ban_count: 2,
            data: serde_json::json!({"matches": ["a", "b", "c"], "failures": 3}),
        };
        let t = r.ticket(&row, 2, 10_000.0).unwrap();
        assert!(t.restored);
        assert_eq!(t.time, 9900.0, "remaining time from the original start");
        assert_eq!(t.ban_time, Some(600.0));
        assert_eq!(t.ban_count, 2);
        assert_eq!(t.matches, vec!["b", "c"]);
        assert_eq!(t.failures, 3);
        row.time_of_ban = 0.0;
        assert!(r.ticket(&row, 2, 10_000.0).is_none());
    }
}
