//! The fleet's local tables (gaoler only; see gaoler-fleet): the outbox of
//! rows waiting for the shared database, the position read up to in it,
//! and the other hosts' ban counts for `fleetcount = fleet`.
//!
//! They are made only when the fleet is used ([`Store::ensure_fleet_tables`]),
//! so a fail2ban database stays exactly fail2ban's until then; fail2ban
//! itself ignores tables it does not know. Rows of the outbox are kept as
//! JSON text: the store does not need to understand them.
//!
//! The outbox's ids only ever grow and rows are only ever removed from its
//! head, so `max(id) - min(id) + 1` is its length without a scan.

use rusqlite::{params, OptionalExtension};

use gaoler_ban::BanHistory;

use crate::{Result, Store};

const FLEET_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS gaoler_fleet_outbox(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    row TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS gaoler_fleet_state(
    key TEXT PRIMARY KEY,
    value TEXT);
CREATE TABLE IF NOT EXISTS gaoler_fleet_counts(
    ip TEXT NOT NULL,
    jail TEXT NOT NULL,
    host TEXT NOT NULL,
    timeofban REAL NOT NULL,
    bantime REAL NOT NULL,
    bancount INTEGER NOT NULL,
    PRIMARY KEY(ip, jail, host));
";

/// One other host's latest ban of an address in a jail.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetCount {
    /// The address.
    pub ip: String,
    /// The jail on the other host.
    pub jail: String,
    /// The other host.
    pub host: String,
    /// When it banned.
    pub time_of_ban: f64,
    /// For how long.
    pub ban_time: f64,
    /// Its ban count.
    pub ban_count: u32,
}

impl Store {
    /// Creates the fleet's tables if they are missing.
    pub fn ensure_fleet_tables(&self) -> Result<()> {
        self.conn
            .execute_batch(FLEET_SCHEMA)
            .map_err(|e| self.err("create fleet tables", e))
    }

    /// Appends rows (JSON texts) to the outbox and drops the oldest beyond
    /// `cap`, in one transaction. Returns how many were dropped.
    pub fn fleet_outbox_push(&self, rows: &[String], cap: usize) -> Result<usize> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| self.err("begin", e))?;
        for r in rows {
            tx.prepare_cached("INSERT INTO gaoler_fleet_outbox(row) VALUES(?1)")
                .and_then(|mut st| st.execute([r]))
                .map_err(|e| self.err("queue fleet row", e))?;
        }
        let (min, max): (Option<i64>, Option<i64>) = tx
            .query_row(
                "SELECT min(id), max(id) FROM gaoler_fleet_outbox",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| self.err("count fleet rows", e))?;
        let len = match (min, max) {
            (Some(a), Some(b)) => (b - a + 1) as usize,
            _ => 0,
        };
        let over = len.saturating_sub(cap);
        if over > 0 {
            if let Some(min) = min {
                tx.execute(
                    "DELETE FROM gaoler_fleet_outbox WHERE id < ?1",
                    [min + over as i64],
                )
                .map_err(|e| self.err("drop fleet rows", e))?;
            }
        }
        tx.commit().map_err(|e| self.err("commit", e))?;
        Ok(over)
    }

    /// The oldest `max` outbox rows with their ids.
    pub fn fleet_outbox_peek(&self, max: usize) -> Result<Vec<(i64, String)>> {
        self.collect(
            "SELECT id, row FROM gaoler_fleet_outbox ORDER BY id LIMIT ?1",
            [max as i64],
            "read fleet rows",
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// Removes the outbox rows up to and including `id`.
    pub fn fleet_outbox_remove_through(&self, id: i64) -> Result<()> {
        self.conn
            .execute("DELETE FROM gaoler_fleet_outbox WHERE id <= ?1", [id])
            .map(|_| ())
            .map_err(|e| self.err("remove fleet rows", e))
    }

    /// Rows in the outbox.
    pub fn fleet_outbox_len(&self) -> Result<usize> {
        let (min, max): (Option<i64>, Option<i64>) = self
            .conn
            .query_row(
                "SELECT min(id), max(id) FROM gaoler_fleet_outbox",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| self.err("count fleet rows", e))?;
        Ok(match (min, max) {
            (Some(a), Some(b)) => (b - a + 1) as usize,
            _ => 0,
        })
    }

    /// A value of the fleet's state (`None`: never set).
    pub fn fleet_state(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT value FROM gaoler_fleet_state WHERE key=?1",
                [key],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err("read fleet state", e))
    }

    /// Sets a value of the fleet's state.
    pub fn set_fleet_state(&self, key: &str, value: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO gaoler_fleet_state(key, value) VALUES(?1, ?2)",
                [key, value],
            )
            .map(|_| ())
            .map_err(|e| self.err("write fleet state", e))
    }

    /// Records other hosts' latest bans (one transaction).
    pub fn record_fleet_counts(&self, counts: &[FleetCount]) -> Result<()> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| self.err("begin", e))?;
        for c in counts {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO gaoler_fleet_counts(ip, jail, host, timeofban, bantime, bancount) \
                 VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut st| {
                st.execute(params![c.ip, c.jail, c.host, c.time_of_ban, c.ban_time, c.ban_count])
            })
            .map_err(|e| self.err("record fleet counts", e))?;
        }
        tx.commit().map_err(|e| self.err("commit", e))
    }

    /// The fleet's history of `ip` for `bantime.increment`: the highest ban
    /// count another host gave it in one of `jails` (any jail if `None`),
    /// the latest time of ban, and the ban time of that latest ban. The
    /// highest count, not the sum: each host's count already includes the
    /// fleet's bans it knew of, so adding them up would count bans twice.
    pub fn fleet_history(&self, ip: &str, jails: Option<&[String]>) -> Result<Option<BanHistory>> {
        let map = |r: &rusqlite::Row<'_>| -> rusqlite::Result<Option<BanHistory>> {
            let count: Option<i64> = r.get(0)?;
            let tob: Option<f64> = r.get(1)?;
            let bt: Option<f64> = r.get(2)?;
            Ok(match (count, tob) {
                (Some(c), Some(t)) => Some(BanHistory {
                    ban_count: c.clamp(0, u32::MAX as i64) as u32,
                    time_of_ban: t,
                    ban_time: bt.unwrap_or(0.0),
                }),
                _ => None,
            })
        };
        let rows: Vec<Option<BanHistory>> = match jails {
            None => self.collect(
                "SELECT max(bancount), max(timeofban), \
                 (SELECT bantime FROM gaoler_fleet_counts c2 WHERE c2.ip=?1 ORDER BY timeofban DESC LIMIT 1) \
                 FROM gaoler_fleet_counts WHERE ip=?1",
                [ip],
                "read fleet history",
                map,
            )?,
            Some(js) => {
                // Numbered parameters, each used in both places.
                let list = (2..2 + js.len())
                    .map(|i| format!("?{i}"))
                    .collect::<Vec<_>>()
                    .join(",");
                let sql = format!(
                    "SELECT max(bancount), max(timeofban), \
                     (SELECT bantime FROM gaoler_fleet_counts c2 WHERE c2.ip=?1 AND c2.jail IN ({list}) \
                      ORDER BY timeofban DESC LIMIT 1) \
                     FROM gaoler_fleet_counts WHERE ip=?1 AND jail IN ({list})"
                );
                let mut args: Vec<&str> = vec![ip];
                args.extend(js.iter().map(String::as_str));
                self.collect(
                    &sql,
                    rusqlite::params_from_iter(args),
                    "read fleet history",
                    map,
                )?
            }
        };
        Ok(rows.into_iter().next().flatten())
    }

    /// Deletes other hosts' counts older than the purge age.
    pub fn purge_fleet_counts(&self, now: f64) -> Result<()> {
        self.conn
            .execute(
                "DELETE FROM gaoler_fleet_counts WHERE timeofban < ?1 AND bantime >= 0 \
                 AND timeofban + bantime < ?1",
                [now - self.purge_age],
            )
            .map(|_| ())
            .map_err(|e| self.err("purge fleet counts", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        let s = Store::open(":memory:").expect("open");
        s.ensure_fleet_tables().expect("tables");
        s
    }

    #[test]
    fn outbox_keeps_order_and_its_cap() {
        let s = store();
        let rows: Vec<String> = (0..5).map(|i| format!("{{\"n\":{i}}}")).collect();
        assert_eq!(s.fleet_outbox_push(&rows[..3], 4).unwrap(), 0);
        assert_eq!(s.fleet_outbox_push(&rows[3..], 4).unwrap(), 1);
        assert_eq!(s.fleet_outbox_len().unwrap(), 4);
        let got = s.fleet_outbox_peek(10).unwrap();
        let texts: Vec<&str> = got.iter().map(|(_, r)| r.as_str()).collect();
        assert_eq!(texts, [&rows[1], &rows[2], &rows[3], &rows[4]]);
        s.fleet_outbox_remove_through(got[1].0).unwrap();
        assert_eq!(s.fleet_outbox_len().unwrap(), 2);
        assert_eq!(s.fleet_outbox_peek(1).unwrap()[0].1, rows[3]);
        s.fleet_outbox_remove_through(i64::MAX).unwrap();
        assert_eq!(s.fleet_outbox_len().unwrap(), 0);
        // Ids keep growing after the outbox was emptied.
        s.fleet_outbox_push(&rows[..1], 4).unwrap();
        assert!(s.fleet_outbox_peek(1).unwrap()[0].0 > got[3].0);
    }

    #[test]
    fn state_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("db.sqlite3");
        let p = p.to_str().unwrap();
        {
            let s = Store::open(p).unwrap();
            s.ensure_fleet_tables().unwrap();
            assert_eq!(s.fleet_state("position").unwrap(), None);
            s.set_fleet_state("position", "abc:12").unwrap();
            s.fleet_outbox_push(&["{}".to_owned()], 10).unwrap();
        }
        let s = Store::open(p).unwrap();
        s.ensure_fleet_tables().unwrap();
        assert_eq!(
            s.fleet_state("position").unwrap().as_deref(),
            Some("abc:12")
        );
        assert_eq!(s.fleet_outbox_len().unwrap(), 1);
    }

    #[test]
    fn fleet_history_takes_the_highest_count() {
        let s = store();
        let c = |host: &str, jail: &str, t: f64, n: u32| FleetCount {
            ip: "192.0.2.7".into(),
            jail: jail.into(),
            host: host.into(),
            time_of_ban: t,
            ban_time: 600.0 * f64::from(n),
            ban_count: n,
        };
        s.record_fleet_counts(&[
            c("a", "sshd", 100.0, 1),
            c("b", "sshd", 200.0, 3),
            c("b", "nginx", 300.0, 5),
        ])
        .unwrap();
        let h = s
            .fleet_history("192.0.2.7", Some(&["sshd".to_owned()]))
            .unwrap()
            .unwrap();
        assert_eq!((h.ban_count, h.time_of_ban, h.ban_time), (3, 200.0, 1800.0));
        let all = s.fleet_history("192.0.2.7", None).unwrap().unwrap();
        assert_eq!(
            (all.ban_count, all.time_of_ban, all.ban_time),
            (5, 300.0, 3000.0)
        );
        let two = s
            .fleet_history("192.0.2.7", Some(&["nginx".to_owned(), "sshd".to_owned()]))
            .unwrap()
            .unwrap();
        assert_eq!(two.ban_count, 5);
        assert_eq!(s.fleet_history("198.51.100.1", None).unwrap(), None);
        // A newer ban of the same host replaces its row.
        s.record_fleet_counts(&[c("b", "nginx", 400.0, 6)]).unwrap();
        assert_eq!(
            s.fleet_history("192.0.2.7", None)
                .unwrap()
                .unwrap()
                .ban_count,
            6
        );
    }

    #[test]
    fn old_counts_are_purged_permanent_ones_kept() {
        let mut s = store();
        s.set_purge_age(86400.0);
        let c = |ip: &str, t: f64, bt: f64| FleetCount {
            ip: ip.into(),
            jail: "sshd".into(),
            host: "b".into(),
            time_of_ban: t,
            ban_time: bt,
            ban_count: 1,
        };
        let now = 1_000_000.0;
        s.record_fleet_counts(&[
            c("192.0.2.1", now - 2.0 * 86400.0, 600.0),
            c("192.0.2.2", now - 2.0 * 86400.0, -1.0),
            c("192.0.2.3", now - 600.0, 600.0),
        ])
        .unwrap();
        s.purge_fleet_counts(now).unwrap();
        assert_eq!(s.fleet_history("192.0.2.1", None).unwrap(), None);
        assert!(s.fleet_history("192.0.2.2", None).unwrap().is_some());
        assert!(s.fleet_history("192.0.2.3", None).unwrap().is_some());
    }

    #[test]
    fn a_stock_database_gets_no_fleet_tables() {
        let s = Store::open(":memory:").unwrap();
        let n: i64 = s
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name LIKE 'gaoler_fleet%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 0);
    }
}
