//! The shared table in PostgreSQL: schema, publishing, reading, purging,
//! and `LISTEN` for the notifications.
//!
//! ```sql
//! gaoler_fleet_meta(id)             -- one row: this database's id
//! gaoler_fleet_bans(seq BIGSERIAL, origin, jail, kind, ip, timeofban,
//!                   bantime, bancount, failures, matches, manual, created)
//! ```
//!
//! Writers hold the transaction-level advisory lock [`LOCK_KEY`] from
//! before their insert to their commit, so rows commit in the order of
//! their sequence numbers and a reader's position never skips a row that
//! commits late (see the crate doc). The schema is made under the same
//! lock, since `CREATE TABLE IF NOT EXISTS` run by two hosts at once can
//! still fail on the second.
//!
//! Values are always bound as parameters, never put into SQL text.

use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::Client;

use crate::conninfo::ConnInfo;
use crate::row::{BanRow, RawRow, MAX_ADDR, MAX_MATCHES_BYTES, MAX_NAME};
use crate::FleetError;

/// The notification channel.
pub const CHANNEL: &str = "gaoler_fleet";
/// The advisory lock of writers (an arbitrary constant: "gaoler" in hex).
pub const LOCK_KEY: i64 = 0x67616f6c6572;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS gaoler_fleet_meta (id TEXT PRIMARY KEY);
INSERT INTO gaoler_fleet_meta(id)
    SELECT md5(random()::text || clock_timestamp()::text)
    WHERE NOT EXISTS (SELECT 1 FROM gaoler_fleet_meta);
CREATE TABLE IF NOT EXISTS gaoler_fleet_bans (
    seq BIGSERIAL PRIMARY KEY,
    origin TEXT NOT NULL,
    jail TEXT NOT NULL,
    kind TEXT NOT NULL,
    ip TEXT NOT NULL,
    timeofban DOUBLE PRECISION NOT NULL,
    bantime DOUBLE PRECISION NOT NULL,
    bancount INTEGER NOT NULL DEFAULT 1,
    failures INTEGER NOT NULL DEFAULT 0,
    matches TEXT NOT NULL DEFAULT '',
    manual BOOLEAN NOT NULL DEFAULT false,
    created TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS gaoler_fleet_bans_end
    ON gaoler_fleet_bans ((timeofban + bantime));
";

/// Rows as one array per column, for one `INSERT ... SELECT unnest(...)`
/// (one round trip for a whole batch).
#[derive(Default)]
struct Columns<'a> {
    origin: Vec<&'a str>,
    jail: Vec<&'a str>,
    kind: Vec<&'a str>,
    ip: Vec<&'a str>,
    time_of_ban: Vec<f64>,
    ban_time: Vec<f64>,
    ban_count: Vec<i32>,
    failures: Vec<i32>,
    matches: Vec<String>,
    manual: Vec<bool>,
}

impl<'a> Columns<'a> {
    fn of(origin: &'a str, rows: &'a [BanRow]) -> Columns<'a> {
        let mut c = Columns::default();
        for r in rows {
            c.origin.push(origin);
            c.jail.push(&r.jail);
            c.kind.push(r.kind.as_str());
            c.ip.push(&r.ip);
            c.time_of_ban.push(r.time_of_ban);
            c.ban_time.push(r.ban_time);
            c.ban_count
                .push(i32::try_from(r.ban_count).unwrap_or(i32::MAX));
            c.failures
                .push(i32::try_from(r.failures).unwrap_or(i32::MAX));
            c.matches.push(r.matches.join("\n"));
            c.manual.push(r.manual);
        }
        c
    }
}

/// One connection to the fleet database.
pub struct Db {
    client: Client,
    shown: String,
}

impl Db {
    /// Connects and makes sure the schema is there; returns the database
    /// with its id.
    pub fn open(info: &ConnInfo) -> Result<(Db, String), FleetError> {
        let client = info.connect()?;
        let mut db = Db {
            client,
            shown: info.shown().to_owned(),
        };
        let id = db.ensure_schema()?;
        Ok((db, id))
    }

    /// Connects without touching the schema (the listener's connection).
    pub fn connect(info: &ConnInfo) -> Result<Db, FleetError> {
        Ok(Db {
            client: info.connect()?,
            shown: info.shown().to_owned(),
        })
    }

    fn err(&self, op: &'static str) -> impl FnOnce(postgres::Error) -> FleetError {
        db_err(&self.shown, op)
    }

    fn ensure_schema(&mut self) -> Result<String, FleetError> {
        let shown = self.shown.clone();
        let err = |op: &'static str| db_err(&shown, op);
        let mut tx = self.client.transaction().map_err(err("begin"))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
            .map_err(err("lock"))?;
        tx.batch_execute(SCHEMA).map_err(err("create schema"))?;
        let id: String = tx
            .query_one("SELECT id FROM gaoler_fleet_meta LIMIT 1", &[])
            .and_then(|r| r.try_get(0))
            .map_err(err("read database id"))?;
        tx.commit().map_err(err("commit schema"))?;
        Ok(id)
    }

    /// Inserts `rows` of host `origin` and notifies, in one transaction.
    /// Returns the last sequence number given.
    pub fn publish(&mut self, origin: &str, rows: &[BanRow]) -> Result<i64, FleetError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let cols = Columns::of(origin, rows);
        let shown = self.shown.clone();
        let err = |op: &'static str| db_err(&shown, op);
        let mut tx = self.client.transaction().map_err(err("begin"))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
            .map_err(err("lock"))?;
        let row = tx
            .query_one(
                "WITH ins AS (
                    INSERT INTO gaoler_fleet_bans
                        (origin, jail, kind, ip, timeofban, bantime, bancount, failures, matches, manual)
                    SELECT o, j, k, i, t, b, c, f, m, n
                    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                        $5::float8[], $6::float8[], $7::int4[], $8::int4[], $9::text[], $10::bool[])
                        WITH ORDINALITY AS u(o, j, k, i, t, b, c, f, m, n, ord)
                    -- (sequence numbers in the outbox's order: a ban and
                    -- its unban in one batch stay in that order)
                    ORDER BY ord
                    RETURNING seq)
                 SELECT max(seq) FROM ins",
                &[
                    &cols.origin,
                    &cols.jail,
                    &cols.kind,
                    &cols.ip,
                    &cols.time_of_ban,
                    &cols.ban_time,
                    &cols.ban_count,
                    &cols.failures,
                    &cols.matches,
                    &cols.manual,
                ],
            )
            .map_err(err("publish"))?;
        let last: i64 = row.try_get(0).map_err(err("publish"))?;
        // Delivered at commit, to every listener (this host's too, which
        // then reads and skips its own rows).
        tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &last.to_string()])
            .map_err(err("notify"))?;
        tx.commit().map_err(err("commit"))?;
        Ok(last)
    }

    /// Up to `limit` rows after sequence `after`, in order. Text columns
    /// are cut to one byte over their limit, so that an oversized value is
    /// refused without being transferred whole.
    pub fn read_after(&mut self, after: i64, limit: i64) -> Result<Vec<RawRow>, FleetError> {
        let name = (MAX_NAME + 1) as i32;
        let addr = (MAX_ADDR + 1) as i32;
        let matches = (MAX_MATCHES_BYTES + 1) as i32;
        let rows = self
            .client
            .query(
                "SELECT seq, left(origin, $3), left(jail, $3), left(kind, 8), left(ip, $4),
                        timeofban, bantime, bancount::int8, failures::int8,
                        left(matches, $5), octet_length(matches)::int8, manual
                 FROM gaoler_fleet_bans WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&after, &limit, &name, &addr, &matches],
            )
            .map_err(self.err("read rows"))?;
        Ok(rows
            .iter()
            .map(|r| RawRow {
                seq: r.try_get(0).unwrap_or(after),
                origin: r.try_get(1).ok(),
                jail: r.try_get(2).ok(),
                kind: r.try_get(3).ok(),
                ip: r.try_get(4).ok(),
                time_of_ban: r.try_get(5).ok(),
                ban_time: r.try_get(6).ok(),
                ban_count: r.try_get(7).ok(),
                failures: r.try_get(8).ok(),
                matches: r.try_get(9).ok(),
                matches_len: r.try_get(10).ok(),
                manual: r.try_get(11).ok(),
            })
            .collect())
    }

    /// The highest sequence number (0 for an empty table).
    pub fn last_seq(&mut self) -> Result<i64, FleetError> {
        self.client
            .query_one("SELECT coalesce(max(seq), 0) FROM gaoler_fleet_bans", &[])
            .and_then(|r| r.try_get(0))
            .map_err(self.err("read last sequence"))
    }

    /// Deletes rows whose ban ended before `before` (permanent bans stay)
    /// and unbans older than it. Returns the rows deleted.
    pub fn purge(&mut self, before: f64) -> Result<u64, FleetError> {
        self.client
            .execute(
                "DELETE FROM gaoler_fleet_bans WHERE
                    (kind = 'ban' AND bantime >= 0 AND timeofban + bantime < $1)
                    OR (kind <> 'ban' AND timeofban < $1)",
                &[&before],
            )
            .map_err(self.err("purge"))
    }

    /// `LISTEN` on the fleet's channel.
    pub fn listen(&mut self) -> Result<(), FleetError> {
        self.client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .map_err(self.err("listen"))
    }

    /// Waits up to `timeout` for a notification: `Ok(true)` when one (or
    /// more) came, `Ok(false)` on timeout, an error when the connection is
    /// gone.
    pub fn wait(&mut self, timeout: Duration) -> Result<bool, FleetError> {
        let shown = &self.shown;
        let got = {
            let mut n = self.client.notifications();
            let got = n
                .timeout_iter(timeout)
                .next()
                .map_err(|source| FleetError::Db {
                    shown: shown.clone(),
                    op: "wait for notifications",
                    source,
                })?
                .is_some();
            // Several commits may have notified: one read takes them all.
            while let Ok(Some(_)) = n.iter().next() {}
            got
        };
        if !got && self.client.is_closed() {
            // (the driver says "none" for a closed connection)
            let shown = self.shown.clone();
            return self
                .client
                .check_connection()
                .map(|_| false)
                .map_err(|source| FleetError::Db {
                    shown,
                    op: "listen",
                    source,
                });
        }
        Ok(got)
    }

    /// Whether the connection is known to be gone.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

/// A database error of operation `op` on the database shown as `shown`
/// (the connection string without its password).
fn db_err(shown: &str, op: &'static str) -> impl FnOnce(postgres::Error) -> FleetError {
    let shown = shown.to_string();
    move |source| FleetError::Db { shown, op, source }
}
