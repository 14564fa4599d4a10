//! gaoler-store: the persistent database, in fail2ban's SQLite format
//! (schema version 4), so that a database can move between fail2ban and
//! gaoler in either direction.
//!
//! Tables (same columns, constraints and indexes as fail2ban):
//! - `fail2banDb(version)`: one row, `4`;
//! - `jails(name, enabled)`: every jail seen; disabled jails without bans
//!   are removed by [`Store::purge`];
//! - `logs(jail, path, firstlinemd5, lastfilepos)`: read positions (the
//!   "md5" column holds the SHA-1 of the first line; for the systemd
//!   journal it holds the ISO time and the position is the epoch time);
//! - `bans(...)`: append-only history of bans;
//! - `bips(...)`: the latest ban per (ip, jail), used for restore at start
//!   and for `bantime.increment`.
//!
//! `data` is a JSON object stored as a BLOB of UTF-8 bytes, as fail2ban's
//! adapter does; reading accepts TEXT too, and unreadable JSON reads as
//! `{}` rather than failing a restore.
//!
//! Choices that differ from fail2ban:
//! - `journal_mode=WAL` and `synchronous=NORMAL` (fail2ban: MEMORY/OFF),
//!   so a crash cannot lose or corrupt committed bans;
//! - a database that is corrupt, locked beyond the busy timeout, or of
//!   another schema version is a typed [`StoreError`] naming the path
//!   ([`Store::open_with`]). At server start, [`Store::open_recovering`]
//!   does what fail2ban does with a corrupt file, which is the floor: the
//!   file (with its `-wal`/`-shm` companions) is moved aside as
//!   `<file>.<UTC YYYYmmdd-HHMMSS>` and a new database is created, so the
//!   jails start; instead of fail2ban's `sqlite3 .dump | sqlite3` repair,
//!   the rows SQLite can still read are copied from the backup in-process,
//!   bans whose address is not a valid ban target dropped. A locked
//!   database or one of a newer schema is never moved: it is not corrupt.
//!   Opening also runs `PRAGMA quick_check`, so damage beyond the header
//!   is found at start rather than at the first ban;
//! - schema versions 1 to 3 are upgraded like fail2ban does (logs
//!   rebuilt, old bans get ban time `-2` = "unknown", `bips` filled from
//!   `bans`) after a backup copy `<file>.<UTC YYYYmmdd-HHMMSS>`; a failed
//!   upgrade is an error ([`StoreError::Migration`]), not a new database.
//!   A newer version is refused ([`StoreError::UnsupportedVersion`]).
//!
//! gaoler's fleet (bans shared between hosts, gaoler-fleet) adds its own
//! tables, `gaoler_fleet_*`, only when it is used (see the `fleet` module).
//!
//! Every method takes `now` where fail2ban would read the clock. Each call
//! is its own transaction. The store is not `Sync`: the daemon keeps it
//! behind one mutex, which also serialises writes like fail2ban's lock.

#![deny(missing_docs)]

use std::collections::BTreeSet;
use std::time::Duration;

mod fleet;
mod open;

pub use fleet::FleetCount;

use gaoler_ban::{py_round_i64, BanHistory, RestoreRule, StoredBan, Ticket};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension};
use serde_json::Value;
use thiserror::Error;

/// The schema version we read and write.
pub const SCHEMA_VERSION: i64 = 4;

/// Default `dbpurgeage`: one day.
pub const DEFAULT_PURGE_AGE: f64 = 86400.0;
/// Default `dbmaxmatches`.
pub const DEFAULT_MAX_MATCHES: usize = 10;
/// `bips` rows are kept until `timeofban + bantime * 3` is older than the
/// purge age.
pub const OUT_DATED_FACTOR: i64 = 3;
/// The `logs.path` value used for the systemd journal position.
pub const JOURNAL_PATH: &str = "systemd-journal";

/// The schema, one statement per entry: (object name, SQL). Written to
/// define exactly fail2ban's version-4 tables so that either program can
/// open the other's file.
const SCHEMA: &[(&str, &str)] = &[
    (
        "fail2banDb",
        "CREATE TABLE IF NOT EXISTS fail2banDb(version INTEGER)",
    ),
    (
        "jails",
        "CREATE TABLE IF NOT EXISTS jails(\
         name TEXT NOT NULL UNIQUE, \
         enabled INTEGER NOT NULL DEFAULT 1)",
    ),
    (
        "jails_name",
        "CREATE INDEX IF NOT EXISTS jails_name ON jails(name)",
    ),
    (
        "logs",
        "CREATE TABLE IF NOT EXISTS logs(\
         jail TEXT NOT NULL, \
         path TEXT, \
         firstlinemd5 TEXT, \
         lastfilepos INTEGER DEFAULT 0, \
         FOREIGN KEY(jail) REFERENCES jails(name) ON DELETE CASCADE, \
         UNIQUE(jail, path), \
         UNIQUE(jail, path, firstlinemd5))",
    ),
    (
        "logs_path",
        "CREATE INDEX IF NOT EXISTS logs_path ON logs(path)",
    ),
    (
        "logs_jail_path",
        "CREATE INDEX IF NOT EXISTS logs_jail_path ON logs(jail, path)",
    ),
    (
        "bans",
        "CREATE TABLE IF NOT EXISTS bans(\
         jail TEXT NOT NULL, \
         ip TEXT, \
         timeofban INTEGER NOT NULL, \
         bantime INTEGER NOT NULL, \
         bancount INTEGER NOT NULL default 1, \
         data JSON, \
         FOREIGN KEY(jail) REFERENCES jails(name))",
    ),
    (
        "bans_jail_timeofban_ip",
        "CREATE INDEX IF NOT EXISTS bans_jail_timeofban_ip ON bans(jail, timeofban)",
    ),
    (
        "bans_jail_ip",
        "CREATE INDEX IF NOT EXISTS bans_jail_ip ON bans(jail, ip)",
    ),
    ("bans_ip", "CREATE INDEX IF NOT EXISTS bans_ip ON bans(ip)"),
    (
        "bips",
        "CREATE TABLE IF NOT EXISTS bips(\
         ip TEXT NOT NULL, \
         jail TEXT NOT NULL, \
         timeofban INTEGER NOT NULL, \
         bantime INTEGER NOT NULL, \
         bancount INTEGER NOT NULL default 1, \
         data JSON, \
         PRIMARY KEY(ip, jail), \
         FOREIGN KEY(jail) REFERENCES jails(name))",
    ),
    (
        "bips_timeofban",
        "CREATE INDEX IF NOT EXISTS bips_timeofban ON bips(timeofban)",
    ),
    ("bips_ip", "CREATE INDEX IF NOT EXISTS bips_ip ON bips(ip)"),
];

/// Errors of the store. Every variant names the database path.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The file could not be opened as a database.
    #[error("cannot open database {path}: {source}")]
    Open {
        /// The database file.
        path: String,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file is not a SQLite database, or SQLite found it corrupt.
    #[error("database {path} is corrupt or not a SQLite database ({source}); move it away or disable the database (dbfile = :none:)")]
    Corrupt {
        /// The database file.
        path: String,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// Another process holds the database's lock.
    #[error("database {path} is locked by another process ({source}); is another fail2ban or gaoler running on it?")]
    Locked {
        /// The database file.
        path: String,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer version.
    #[error(
        "database {path} has schema version {version}, newer than the supported {SCHEMA_VERSION}"
    )]
    UnsupportedVersion {
        /// The database file.
        path: String,
        /// Its schema version.
        version: i64,
    },
    /// An older schema could not be upgraded.
    #[error(
        "cannot upgrade database {path} from schema version {from} (backup: {backup:?}): {source}"
    )]
    Migration {
        /// The database file.
        path: String,
        /// The schema version found.
        from: i64,
        /// Where the copy made before the upgrade is, if one was made.
        backup: Option<String>,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// SQLite's integrity check found damage.
    #[error("database {path} is corrupt: integrity check: {problems}")]
    Damaged {
        /// The database file.
        path: String,
        /// What the integrity check reported.
        problems: String,
    },
    /// A corrupt database could not be moved aside.
    #[error("database {path} is corrupt and cannot be moved aside to {backup}: {source}")]
    Backup {
        /// The database file.
        path: String,
        /// Where it was to go.
        backup: String,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// Any other SQLite error, with what was being done.
    #[error("database {path}: {op}: {source}")]
    Sql {
        /// The database file.
        path: String,
        /// The operation ("add ban", "commit", ...).
        op: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
}

impl StoreError {
    /// Classify a SQLite error: corruption and locking get their own
    /// variants so that the caller can explain them.
    fn from_sql(path: &str, op: &'static str, e: rusqlite::Error) -> Self {
        let path = path.to_owned();
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
                StoreError::Corrupt { path, source: e }
            }
            Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
                StoreError::Locked { path, source: e }
            }
            _ => StoreError::Sql {
                path,
                op,
                source: e,
            },
        }
    }
}

impl StoreError {
    /// The file is corrupt (not a database, or damaged pages).
    pub fn is_corrupt(&self) -> bool {
        matches!(
            self,
            StoreError::Corrupt { .. } | StoreError::Damaged { .. }
        )
    }
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What [`Store::open_recovering`] did with a corrupt database file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Where the corrupt file now is.
    pub backup: String,
    /// Why it was found corrupt.
    pub reason: String,
    /// Rows copied from the backup into the new database.
    pub salvaged: usize,
}

/// Options for [`Store::open_with`].
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// How long a statement waits for another process's lock before
    /// failing with [`StoreError::Locked`].
    pub busy_timeout: Duration,
    /// `dbpurgeage` in seconds.
    pub purge_age: f64,
    /// `dbmaxmatches`: matched lines kept per ban in `data` (0: none).
    pub max_matches: usize,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            busy_timeout: Duration::from_secs(5),
            purge_age: DEFAULT_PURGE_AGE,
            max_matches: DEFAULT_MAX_MATCHES,
        }
    }
}

/// Merged history of one ip (for the `<ipmatches>`, `<ipfailures>`,
/// `<ipjailmatches>`, `<ipjailfailures>` action tags).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MergedBans {
    /// Matches of all bans, oldest first, at most `dbmaxmatches`.
    pub matches: Vec<String>,
    /// Sum of the bans' failure counts.
    pub failures: u64,
    /// Time of the latest ban.
    pub last_time: f64,
}

/// One `logs` row.
#[derive(Debug, Clone, PartialEq)]
pub struct LogPosition {
    /// Hash of the file's first line, to recognise a rotated file.
    pub hash: Option<String>,
    /// The byte offset read up to.
    pub pos: f64,
}

/// An open fail2ban-format database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: String,
    purge_age: f64,
    max_matches: usize,
}

impl Store {
    fn err(&self, op: &'static str, e: rusqlite::Error) -> StoreError {
        StoreError::from_sql(&self.path, op, e)
    }

    /// The path this store was opened with.
    pub fn path(&self) -> &str {
        &self.path
    }
    /// `dbpurgeage`: bans older than this many seconds are purged.
    pub fn purge_age(&self) -> f64 {
        self.purge_age
    }
    /// Sets `dbpurgeage`.
    pub fn set_purge_age(&mut self, v: f64) {
        self.purge_age = v;
    }
    /// `dbmaxmatches`: how many log lines a stored ban keeps.
    pub fn max_matches(&self) -> usize {
        self.max_matches
    }
    /// Sets `dbmaxmatches`.
    pub fn set_max_matches(&mut self, v: usize) {
        self.max_matches = v;
    }

    /// The stored schema version.
    pub fn version(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT version FROM fail2banDb LIMIT 1", [], |r| r.get(0))
            .map_err(|e| self.err("read version", e))
    }

    /// Mark every jail disabled (at server start, before the configured
    /// jails are added again).
    pub fn disable_all_jails(&self) -> Result<()> {
        self.conn
            .execute("UPDATE jails SET enabled=0", [])
            .map_err(|e| self.err("disable jails", e))?;
        Ok(())
    }

    /// Add a jail, or enable it again.
    pub fn add_jail(&self, name: &str) -> Result<()> {
        let n = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO jails(name, enabled) VALUES(?1, 1)",
                [name],
            )
            .map_err(|e| self.err("add jail", e))?;
        if n == 0 {
            self.conn
                .execute(
                    "UPDATE jails SET enabled=1 WHERE name=?1 AND enabled!=1",
                    [name],
                )
                .map_err(|e| self.err("enable jail", e))?;
        }
        Ok(())
    }

    /// Disable a jail (it is deleted by the purge once it has no bans).
    pub fn del_jail(&self, name: &str) -> Result<()> {
        self.conn
            .execute("UPDATE jails SET enabled=0 WHERE name=?1", [name])
            .map_err(|e| self.err("disable jail", e))?;
        Ok(())
    }

    /// Jail names, optionally only the enabled or disabled ones.
    pub fn jail_names(&self, enabled: Option<bool>) -> Result<BTreeSet<String>> {
        let (sql, args): (&str, Vec<i64>) = match enabled {
            None => ("SELECT name FROM jails", vec![]),
            Some(e) => ("SELECT name FROM jails WHERE enabled=?1", vec![e as i64]),
        };
        self.collect(sql, rusqlite::params_from_iter(args), "list jails", |r| {
            r.get(0)
        })
        .map(|v| v.into_iter().collect())
    }

    // ------------------------------------------------------------ logs

    /// A log file is being added to `jail`: returns the position to resume
    /// from when the stored first-line hash equals `hash`, else `None`
    /// (read from the start). Records the file when it was not known.
    pub fn add_log(
        &self,
        jail: &str,
        path: &str,
        pos: u64,
        hash: Option<&str>,
    ) -> Result<Option<u64>> {
        let stored = self.add_log_inner(jail, path, SqlValue::Integer(pos as i64), hash)?;
        Ok(stored.map(|p| p.max(0.0) as u64))
    }

    fn add_log_inner(
        &self,
        jail: &str,
        path: &str,
        pos: SqlValue,
        hash: Option<&str>,
    ) -> Result<Option<f64>> {
        let row: Option<(Option<String>, Option<f64>)> = self
            .conn
            .query_row(
                "SELECT firstlinemd5, lastfilepos FROM logs WHERE jail=?1 AND path=?2",
                params![jail, path],
                |r| Ok((r.get(0)?, num_opt(r.get_ref(1)?))),
            )
            .optional()
            .map_err(|e| self.err("read log position", e))?;
        let (stored_hash, stored_pos) = row.unwrap_or((None, None));
        let pos_set =
            !matches!(pos, SqlValue::Integer(0)) && !matches!(pos, SqlValue::Real(r) if r == 0.0);
        if stored_hash.is_none() && (pos_set || hash.is_some()) {
            self.conn
                .execute(
                    "INSERT OR REPLACE INTO logs(jail, path, firstlinemd5, lastfilepos) VALUES(?1, ?2, ?3, ?4)",
                    params![jail, path, hash, pos],
                )
                .map_err(|e| self.err("add log", e))?;
        }
        if hash.is_some() && hash != stored_hash.as_deref() {
            return Ok(None);
        }
        Ok(stored_pos)
    }

    /// Store the read position and first-line hash of a log file.
    pub fn update_log(&self, jail: &str, path: &str, pos: u64, hash: Option<&str>) -> Result<()> {
        self.update_log_inner(jail, path, SqlValue::Integer(pos as i64), hash)
    }

    fn update_log_inner(
        &self,
        jail: &str,
        path: &str,
        pos: SqlValue,
        hash: Option<&str>,
    ) -> Result<()> {
        let n = self
            .conn
            .execute(
                "UPDATE logs SET firstlinemd5=?1, lastfilepos=?2 WHERE jail=?3 AND path=?4",
                params![hash, pos, jail, path],
            )
            .map_err(|e| self.err("update log", e))?;
        if n == 0 {
            self.conn
                .execute(
                    "INSERT OR REPLACE INTO logs(jail, path, firstlinemd5, lastfilepos) VALUES(?1, ?2, ?3, ?4)",
                    params![jail, path, hash, pos],
                )
                .map_err(|e| self.err("add log", e))?;
        }
        Ok(())
    }

    /// The stored position of one log (or journal) of a jail.
    pub fn log_position(&self, jail: &str, path: &str) -> Result<Option<LogPosition>> {
        self.conn
            .query_row(
                "SELECT firstlinemd5, lastfilepos FROM logs WHERE jail=?1 AND path=?2",
                params![jail, path],
                |r| {
                    Ok(LogPosition {
                        hash: r.get(0)?,
                        pos: num_opt(r.get_ref(1)?).unwrap_or(0.0),
                    })
                },
            )
            .optional()
            .map_err(|e| self.err("read log position", e))
    }

    /// Paths of the logs known for `jail` (all jails if `None`).
    pub fn log_paths(&self, jail: Option<&str>) -> Result<BTreeSet<String>> {
        let v: Vec<Option<String>> = match jail {
            Some(j) => self.collect(
                "SELECT path FROM logs WHERE jail=?1",
                [j],
                "list logs",
                |r| r.get(0),
            )?,
            None => self.collect("SELECT path FROM logs", [], "list logs", |r| r.get(0))?,
        };
        Ok(v.into_iter().flatten().collect())
    }

    /// Last journal position (epoch time) of a systemd jail.
    pub fn journal_position(&self, jail: &str) -> Result<Option<f64>> {
        self.add_log_inner(jail, JOURNAL_PATH, SqlValue::Integer(0), None)
    }

    /// Store the journal position: `time` (epoch seconds) and its ISO text.
    pub fn update_journal(&self, jail: &str, time: f64, iso: &str) -> Result<()> {
        self.update_log_inner(jail, JOURNAL_PATH, num_value(time), Some(iso))
    }

    // ------------------------------------------------------------ bans

    /// Record a ban in `bans` (history) and `bips` (latest per ip/jail).
    /// `jail_ban_time` is used when the ticket has no ban time of its own.
    pub fn add_ban(&self, jail: &str, ticket: &Ticket, jail_ban_time: f64) -> Result<()> {
        self.add_bans(jail, [ticket], jail_ban_time)
    }

    /// [`Store::add_ban`] for a round of tickets, in one transaction (a
    /// commit per ban cost half the time of banning 2,000 addresses).
    pub fn add_bans<'a>(
        &self,
        jail: &str,
        tickets: impl IntoIterator<Item = &'a Ticket>,
        jail_ban_time: f64,
    ) -> Result<()> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| self.err("begin", e))?;
        for ticket in tickets {
            let data = ticket.data_json(Some(self.max_matches));
            let data = serde_json::to_vec(&data).unwrap_or_else(|_| b"{}".to_vec());
            let tob = py_round_i64(ticket.time);
            let bt = num_value(ticket.ban_time_or(jail_ban_time));
            tx.prepare_cached(
                "INSERT INTO bans(jail, ip, timeofban, bantime, bancount, data) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut st| st.execute(params![jail, ticket.id, tob, bt, ticket.ban_count, data]))
            .map_err(|e| self.err("add ban", e))?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO bips(ip, jail, timeofban, bantime, bancount, data) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut st| st.execute(params![ticket.id, jail, tob, bt, ticket.ban_count, data]))
            .map_err(|e| self.err("add ban", e))?;
        }
        tx.commit().map_err(|e| self.err("commit", e))
    }

    /// Manual unban: delete the ips from both tables of `jail`; an empty
    /// list deletes every ban of the jail.
    pub fn del_ban(&self, jail: &str, ips: &[&str]) -> Result<()> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| self.err("begin", e))?;
        if ips.is_empty() {
            tx.execute("DELETE FROM bips WHERE jail=?1", [jail])
                .and_then(|_| tx.execute("DELETE FROM bans WHERE jail=?1", [jail]))
                .map_err(|e| self.err("delete bans", e))?;
        } else {
            for ip in ips {
                tx.execute("DELETE FROM bips WHERE jail=?1 AND ip=?2", [jail, ip])
                    .and_then(|_| {
                        tx.execute("DELETE FROM bans WHERE jail=?1 AND ip=?2", [jail, ip])
                    })
                    .map_err(|e| self.err("delete ban", e))?;
            }
        }
        tx.commit().map_err(|e| self.err("commit", e))
    }

    /// The latest `bips` rows of a jail (all jails if `None`), unfiltered.
    pub fn stored_bans(&self, jail: Option<&str>) -> Result<Vec<StoredBan>> {
        let sql = "SELECT ip, jail, timeofban, bantime, bancount, data FROM bips";
        match jail {
            Some(j) => self.collect(
                &format!("{sql} WHERE jail=?1 ORDER BY ip"),
                [j],
                "read bans",
                stored_ban,
            ),
            None => self.collect(
                &format!("{sql} ORDER BY jail, ip"),
                [],
                "read bans",
                stored_ban,
            ),
        }
    }

    /// Bans of `jail` to restore at start (§3.5 rules of [`RestoreRule`]),
    /// as tickets marked `restored`. Matches are cut to `max_matches` (the
    /// jail's `maxmatches`).
    pub fn current_bans(
        &self,
        jail: &str,
        rule: &RestoreRule,
        max_matches: usize,
        now: f64,
    ) -> Result<Vec<Ticket>> {
        let mut sql = String::from(
            "SELECT ip, jail, timeofban, bantime, bancount, data FROM bips \
             WHERE jail=?1 AND (timeofban + bantime > ?2 OR bantime <= -1)",
        );
        let mut args: Vec<SqlValue> = vec![SqlValue::Text(jail.to_owned()), SqlValue::Real(now)];
        if let Some(min) = rule.sql_filter(now) {
            sql.push_str(" AND timeofban > ?3");
            args.push(SqlValue::Real(min));
        }
        sql.push_str(" ORDER BY ip");
        let rows = self.collect(
            &sql,
            rusqlite::params_from_iter(args),
            "read current bans",
            stored_ban,
        )?;
        Ok(rows
            .iter()
            // A row without an ip cannot be banned again; skip it.
            .filter(|row| !row.ip.is_empty())
            .filter_map(|row| rule.ticket(row, max_matches, now))
            .collect())
    }

    /// Ban history of `ip` for `bantime.increment`: the `bips` row of
    /// `jail`, or with `overall_jails` (or no jail) the sums of ban counts
    /// and ban times over all jails with the latest ban time.
    pub fn ban_history(
        &self,
        ip: &str,
        jail: Option<&str>,
        overall_jails: bool,
    ) -> Result<Option<BanHistory>> {
        let map = |r: &rusqlite::Row<'_>| -> rusqlite::Result<Option<BanHistory>> {
            let count = num_opt(r.get_ref(0)?);
            let tob = num_opt(r.get_ref(1)?);
            let bt = num_opt(r.get_ref(2)?);
            Ok(match (count, tob) {
                (Some(c), Some(t)) => Some(BanHistory {
                    ban_count: c.max(0.0).min(u32::MAX as f64) as u32,
                    time_of_ban: t,
                    ban_time: bt.unwrap_or(0.0),
                }),
                _ => None,
            })
        };
        let res = match jail.filter(|_| !overall_jails) {
            Some(j) => self.conn.query_row(
                "SELECT bancount, timeofban, bantime FROM bips WHERE ip=?1 AND jail=?2",
                [ip, j],
                map,
            ),
            None => self.conn.query_row(
                "SELECT sum(bancount), max(timeofban), sum(bantime) FROM bips WHERE ip=?1 GROUP BY ip",
                [ip],
                map,
            ),
        };
        Ok(res
            .optional()
            .map_err(|e| self.err("read ban history", e))?
            .flatten())
    }

    /// Merged `bans` history of `ip` (in `jail`, or all jails), for the
    /// `<ip[jail]matches>` / `<ip[jail]failures>` tags. `None` if never
    /// banned.
    pub fn bans_merged(&self, ip: &str, jail: Option<&str>) -> Result<Option<MergedBans>> {
        let map = |r: &rusqlite::Row<'_>| {
            Ok((
                num_opt(r.get_ref(0)?).unwrap_or(0.0),
                data_of(r.get_ref(1)?),
            ))
        };
        let rows: Vec<(f64, Value)> = match jail {
            Some(j) => self.collect(
                "SELECT timeofban, data FROM bans WHERE ip=?1 AND jail=?2 ORDER BY timeofban DESC",
                [ip, j],
                "read bans",
                map,
            )?,
            None => self.collect(
                "SELECT timeofban, data FROM bans WHERE ip=?1 ORDER BY timeofban DESC",
                [ip],
                "read bans",
                map,
            )?,
        };
        if rows.is_empty() {
            return Ok(None);
        }
        let mut out = MergedBans {
            last_time: rows[0].0,
            ..Default::default()
        };
        // Newest first: prepend older matches while there is room.
        for (_, data) in &rows {
            let mut t = Ticket::new(ip, 0.0);
            t.failures = 1; // a row without "failures" counts one
            t.set_data_json(data);
            let room = self.max_matches.saturating_sub(out.matches.len());
            if room > 0 {
                let start = t.matches.len().saturating_sub(room);
                let mut m = t.matches[start..].to_vec();
                m.append(&mut out.matches);
                out.matches = m;
            }
            out.failures += t.failures as u64;
        }
        Ok(Some(out))
    }

    /// Delete old history (`dbpurgeage`): `bans` rows older than the purge
    /// age, `bips` rows whose ban ended more than three ban times before
    /// it (never permanent ones), then disabled jails with no rows left.
    pub fn purge(&self, now: f64) -> Result<()> {
        let limit = now - self.purge_age;
        let ilimit = now.trunc() as i64 - self.purge_age as i64;
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| self.err("begin", e))?;
        tx.execute("DELETE FROM bans WHERE timeofban < ?1", [limit])
            .and_then(|_| {
                tx.execute(
                    "DELETE FROM bips WHERE timeofban < ?1 AND bantime != -1 \
                     AND (timeofban + (bantime * ?2)) < ?1",
                    params![ilimit, OUT_DATED_FACTOR],
                )
            })
            .and_then(|_| {
                tx.execute(
                    "DELETE FROM jails WHERE enabled = 0 \
                     AND NOT EXISTS(SELECT * FROM bans WHERE jail = jails.name) \
                     AND NOT EXISTS(SELECT * FROM bips WHERE jail = jails.name)",
                    [],
                )
            })
            .map_err(|e| self.err("purge", e))?;
        tx.commit().map_err(|e| self.err("commit", e))
    }

    fn collect<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        op: &'static str,
        f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut st = self.conn.prepare(sql).map_err(|e| self.err(op, e))?;
        let rows = st
            .query_map(params, f)
            .and_then(|it| it.collect::<rusqlite::Result<Vec<T>>>())
            .map_err(|e| self.err(op, e))?;
        Ok(rows)
    }
}

/// `YYYYmmdd-HHMMSS` in UTC, for backup names.
/// Move a corrupt database file (and its `-wal`, `-shm` and `-journal`
/// companions, which belong to it and must not be applied to a new file)
/// to `<path>.<UTC YYYYmmdd-HHMMSS>` (`.1`, `.2`, … when taken); the
/// backup's path.
fn move_aside(path: &str) -> Result<String> {
    let stamp = utc_stamp(std::time::SystemTime::now());
    let base = format!("{path}.{stamp}");
    let taken = |b: &str| {
        ["", "-wal", "-shm", "-journal"]
            .iter()
            .any(|s| std::fs::symlink_metadata(format!("{b}{s}")).is_ok())
    };
    let mut backup = base.clone();
    let mut n = 0;
    while taken(&backup) {
        n += 1;
        backup = format!("{base}.{n}");
    }
    let fail = |source| StoreError::Backup {
        path: path.to_owned(),
        backup: backup.clone(),
        source,
    };
    std::fs::rename(path, &backup).map_err(fail)?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let from = format!("{path}{suffix}");
        if std::fs::symlink_metadata(&from).is_ok() {
            std::fs::rename(&from, format!("{backup}{suffix}")).map_err(fail)?;
        }
    }
    Ok(backup)
}

fn utc_stamp(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Numbers are written as INTEGER when integral (what Python writes for
/// ints) and REAL otherwise (a random or formula ban time).
fn num_value(v: f64) -> SqlValue {
    gaoler_py::repr::as_int(v).map_or(SqlValue::Real(v), SqlValue::Integer)
}

/// Read a numeric column that may hold INTEGER, REAL or (from a damaged
/// row) text.
fn num_opt(v: ValueRef<'_>) -> Option<f64> {
    match v {
        ValueRef::Integer(i) => Some(i as f64),
        ValueRef::Real(f) => Some(f),
        ValueRef::Text(t) => std::str::from_utf8(t).ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// Decode the `data` column (BLOB or TEXT JSON); anything unreadable is
/// an empty object, as fail2ban's converter does.
fn data_of(v: ValueRef<'_>) -> Value {
    let bytes = match v {
        ValueRef::Blob(b) | ValueRef::Text(b) => b,
        _ => return Value::Object(Default::default()),
    };
    let text = String::from_utf8_lossy(bytes);
    match serde_json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => v,
        _ => Value::Object(Default::default()),
    }
}

fn stored_ban(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredBan> {
    Ok(StoredBan {
        ip: r.get::<_, Option<String>>(0)?.unwrap_or_default(),
        jail: r.get(1)?,
        time_of_ban: num_opt(r.get_ref(2)?).unwrap_or(0.0),
        ban_time: num_opt(r.get_ref(3)?).unwrap_or(-2.0),
        ban_count: num_opt(r.get_ref(4)?).map_or(1, |c| c.max(0.0).min(u32::MAX as f64) as u32),
        data: data_of(r.get_ref(5)?),
    })
}

#[cfg(test)]
mod tests;
