//! Tickets: the record of one id's failures (a `FailTicket`) or of its ban
//! (a `BanTicket`).
//!
//! fail2ban uses one class hierarchy where a ticket object is re-labelled
//! from "fail" to "ban" in place. We use a single [`Ticket`] struct and two
//! aliases: the fields that only matter for failures (`first_time`, `retry`)
//! are simply unused once the ticket is banned. This keeps the hand-over
//! from the FailManager to the BanManager a move, with no conversion.
//!
//! The free-form `data` map mirrors what fail2ban keeps in a ticket's data
//! dict (`user`, `mlfid`, `ip4`, ...). `failures` and `matches` are pulled
//! out as typed fields because the core logic reads them; [`Ticket::data_json`]
//! puts them back together in the same shape fail2ban stores in its database.

use serde_json::{Map, Value};

/// End of ban used for permanent bans (`bantime = -1`), the same constant as
/// fail2ban so that "end of ban" values compare the same way.
pub const MAX_TIME: f64 = 0x7FFF_FFFF_FFFF_u64 as f64;

/// A failure or ban record for one id (usually an IP address in its
/// canonical text form, but any failure id such as a user name works).
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    /// The failure id. Callers should pass the canonical form
    /// (`gaoler_addr::Addr::parse(s).to_string()`), because the managers
    /// key their maps by this exact string.
    pub id: String,
    /// Time of the last failure (seconds since the epoch). Once banned, this
    /// is also the start of the ban.
    pub time: f64,
    /// Start of the current counting interval (see `FailManager`).
    pub first_time: f64,
    /// Retry counter compared with `maxretry`. Normally equal to the number
    /// of failures, but it is rescaled by the findtime rate rule and raised
    /// for ids known from earlier bans (`bantime.increment`).
    pub retry: u32,
    /// Number of failures really seen (the `<failures>` action tag).
    pub failures: u32,
    /// Matched log lines, oldest first.
    pub matches: Vec<String>,
    /// Other data fields captured by the filter (`user`, `mlfid`, ...).
    pub data: Map<String, Value>,
    /// Ticket-specific ban time in seconds; `None` means "use the jail's".
    /// `-1` means permanent.
    pub ban_time: Option<f64>,
    /// How many times this id has been banned (including this ban once the
    /// BanManager accepted it).
    pub ban_count: u32,
    /// Restored from the database at start: not written back, and actions
    /// marked `norestored` skip it.
    pub restored: bool,
    /// Set by the caller once all actions' `ban` ran for this ticket.
    pub banned: bool,
}

/// A ticket while it is counted in the FailManager.
pub type FailTicket = Ticket;
/// A ticket held by the BanManager.
pub type BanTicket = Ticket;

impl Ticket {
    /// A fresh ticket for one failure of `id` at `time`.
    ///
    /// `retry` and `failures` start at 1: the FailManager counts a new id's
    /// first failure as one attempt (or `count` attempts for `attempt`).
    pub fn new(id: impl Into<String>, time: f64) -> Self {
        Ticket {
            id: id.into(),
            time,
            first_time: time,
            retry: 1,
            failures: 1,
            matches: Vec::new(),
            data: Map::new(),
            ban_time: None,
            ban_count: 0,
            restored: false,
            banned: false,
        }
    }

    /// Builder: set the matched lines.
    pub fn with_matches(mut self, matches: Vec<String>) -> Self {
        self.matches = matches;
        self
    }

    /// Builder: set the extra data fields. `null` values are dropped, as
    /// fail2ban drops `None` values.
    pub fn with_data(mut self, data: Map<String, Value>) -> Self {
        self.data = data.into_iter().filter(|(_, v)| !v.is_null()).collect();
        self
    }

    /// A ticket for a manual `banip`: no matches and zero failures, which is
    /// what fail2ban writes to the database for such bans.
    pub fn manual(id: impl Into<String>, time: f64) -> Self {
        let mut t = Ticket::new(id, time);
        t.failures = 0;
        t.retry = 0;
        t
    }

    /// The ticket's own ban time, or `default` (the jail's) if it has none.
    pub fn ban_time_or(&self, default: f64) -> f64 {
        self.ban_time.unwrap_or(default)
    }

    /// End of ban: `time + bantime`, or [`MAX_TIME`] for a permanent ban.
    pub fn end_of_ban(&self, default_ban_time: f64) -> f64 {
        let bt = self.ban_time_or(default_ban_time);
        if is_permanent(bt) {
            MAX_TIME
        } else {
            self.time + bt
        }
    }

    /// True once `now` is strictly after the end of ban (an unban at exactly
    /// the end time does not happen yet, as in fail2ban).
    pub fn is_timed_out(&self, now: f64, default_ban_time: f64) -> bool {
        let bt = self.ban_time_or(default_ban_time);
        !is_permanent(bt) && now > self.time + bt
    }

    /// Raise the ban count to `value` if that is larger.
    pub fn raise_ban_count(&mut self, value: u32) {
        if value > self.ban_count {
            self.ban_count = value;
        }
    }

    /// The ticket data as fail2ban stores it in the database `data` column:
    /// `{"matches": [...], "failures": n, <other fields>}`.
    ///
    /// `max_matches` keeps only the last lines; `Some(0)` removes the
    /// `matches` key entirely (fail2ban's `dbmaxmatches = 0`), `None` keeps
    /// all of them.
    pub fn data_json(&self, max_matches: Option<usize>) -> Value {
        let mut m = Map::new();
        match max_matches {
            Some(0) => {}
            Some(n) => {
                let start = self.matches.len().saturating_sub(n);
                m.insert(
                    "matches".into(),
                    Value::from(self.matches[start..].to_vec()),
                );
            }
            None => {
                m.insert("matches".into(), Value::from(self.matches.clone()));
            }
        }
        m.insert("failures".into(), Value::from(self.failures));
        for (k, v) in &self.data {
            if k != "matches" && k != "failures" && !v.is_null() {
                m.insert(k.clone(), v.clone());
            }
        }
        Value::Object(m)
    }

    /// Rebuild the typed fields from a database `data` object. Matches may
    /// be plain strings or the arrays fail2ban stores for date-split lines
    /// (joined back into one line); anything else is ignored rather than
    /// failing a restore.
    pub fn set_data_json(&mut self, data: &Value) {
        let Some(obj) = data.as_object() else {
            return;
        };
        self.matches = match obj.get("matches") {
            Some(Value::Array(items)) => items.iter().filter_map(match_line).collect(),
            _ => Vec::new(),
        };
        if let Some(f) = obj.get("failures").and_then(Value::as_f64) {
            // Python may have written a float; counts are small, clamp.
            self.failures = f.max(0.0).min(u32::MAX as f64) as u32;
        }
        self.data = obj
            .iter()
            .filter(|(k, v)| *k != "matches" && *k != "failures" && !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
    }
}

fn match_line(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .map(|p| match p {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
        ),
        _ => None,
    }
}

/// `-1` (or any negative value, which old databases may contain) means a
/// permanent ban. fail2ban tests `== -1`; we treat every negative value as
/// permanent so a corrupted value can never produce an end of ban in the
/// past that unbans at once. `-2` from old schemas is resolved before it
/// gets here (see `restore`).
pub fn is_permanent(ban_time: f64) -> bool {
    ban_time < 0.0
}

pub use gaoler_py::expr::{py_round, py_round_i64};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn eob_and_timeout() {
        let mut t = Ticket::new("1.2.3.4", 1000.0);
        assert_eq!(t.end_of_ban(600.0), 1600.0);
        assert!(!t.is_timed_out(1600.0, 600.0), "strictly greater");
        assert!(t.is_timed_out(1600.5, 600.0));
        t.ban_time = Some(-1.0);
        assert_eq!(t.end_of_ban(600.0), MAX_TIME);
        assert!(!t.is_timed_out(1e15, 600.0));
        t.ban_time = Some(10.0);
        assert_eq!(t.end_of_ban(600.0), 1010.0);
    }

    #[test]
    fn python_rounding() {
        assert_eq!(py_round(0.5), 0.0);
        assert_eq!(py_round(1.5), 2.0);
        assert_eq!(py_round(2.5), 2.0);
        assert_eq!(py_round(2.6), 3.0);
        assert_eq!(py_round(-0.5), -0.0);
        assert_eq!(py_round(-1.5), -2.0);
        assert_eq!(py_round(7.0), 7.0);
    }

    #[test]
    fn data_json_shape_and_truncation() {
        let mut d = Map::new();
        d.insert("user".into(), json!("bob"));
        d.insert("gone".into(), Value::Null);
        let mut t = Ticket::new("1.2.3.4", 1.0)
            .with_matches(vec!["a".into(), "b".into(), "c".into()])
            .with_data(d);
        t.failures = 3;
        assert_eq!(
            t.data_json(Some(2)),
            json!({"matches": ["b", "c"], "failures": 3, "user": "bob"})
        );
        assert_eq!(t.data_json(Some(0)), json!({"failures": 3, "user": "bob"}));
        assert_eq!(t.data_json(None)["matches"], json!(["a", "b", "c"]));
        // Key order is matches, failures, then the rest (as fail2ban writes).
        let s = t.data_json(None).to_string();
        assert!(s.starts_with("{\"matches\""), "{s}");
    }

    #[test]
    fn data_json_round_trip_with_tuple_matches() {
        let mut t = Ticket::new("x", 0.0);
        t.set_data_json(&json!({
            "matches": [["", "Nov 25 15:34:04", " host sshd: x"], "plain", 5],
            "failures": 2, "mlfid": "abc", "n": null
        }));
        assert_eq!(t.matches, vec!["Nov 25 15:34:04 host sshd: x", "plain"]);
        assert_eq!(t.failures, 2);
        assert_eq!(t.data.get("mlfid"), Some(&json!("abc")));
        assert!(!t.data.contains_key("n"));
    }

    #[test]
    fn manual_ticket() {
        let t = Ticket::manual("1.2.3.4", 5.0);
        assert_eq!(t.data_json(Some(10)), json!({"matches": [], "failures": 0}));
    }
}
