//! Opening the database: the file as fail2ban's `dbfile` names it, with
//! recovery from a corrupt file (moved aside, bans salvaged), the schema
//! made or migrated to version 4, and integrity checks.

use super::*;

impl Store {
    /// Open (or create) the database at `path`; `:memory:` gives a private
    /// in-memory database.
    pub fn open(path: &str) -> Result<Store> {
        Self::open_with(path, OpenOptions::default())
    }

    /// Open the database named by the `dbfile` setting: `None` (any case)
    /// disables persistence and gives `Ok(None)`.
    pub fn open_dbfile(dbfile: &str, opts: OpenOptions) -> Result<Option<Store>> {
        let v = dbfile.trim();
        if v.eq_ignore_ascii_case("none") {
            return Ok(None);
        }
        Self::open_with(v, opts).map(Some)
    }

    /// [`Store::open_dbfile`] that recovers from a corrupt file (see the
    /// module docs): the file is moved aside, a new database created and
    /// the readable rows copied over. Other errors are returned as they
    /// are.
    pub fn open_recovering(
        dbfile: &str,
        opts: OpenOptions,
    ) -> Result<(Option<Store>, Option<Recovered>)> {
        let path = dbfile.trim();
        let err = match Self::open_dbfile(path, opts.clone()) {
            Ok(s) => return Ok((s, None)),
            Err(e) if e.is_corrupt() && path != ":memory:" => e,
            Err(e) => return Err(e),
        };
        let reason = match &err {
            StoreError::Corrupt { source, .. } => source.to_string(),
            StoreError::Damaged { problems, .. } => problems.clone(),
            other => other.to_string(),
        };
        let backup = move_aside(path)?;
        let store = Self::open_with(path, opts)?;
        let salvaged = store.salvage_from(&backup);
        Ok((
            Some(store),
            Some(Recovered {
                backup,
                reason,
                salvaged,
            }),
        ))
    }

    /// Copy what SQLite can still read from the database at `from` (a
    /// corrupt file moved aside) into this new one, table by table; a
    /// table that cannot be read is skipped. Returns the rows copied.
    pub(crate) fn salvage_from(&self, from: &str) -> usize {
        if let Err(e) = self.conn.execute("ATTACH DATABASE ?1 AS old", [from]) {
            tracing::debug!("database {from}: nothing to recover: {e}");
            return 0;
        }
        // Parents first (foreign keys); ban rows only for known jails.
        let copies = [
            ("jails", "INSERT OR IGNORE INTO main.jails(name, enabled) SELECT name, enabled FROM old.jails"),
            ("logs", "INSERT OR IGNORE INTO main.logs(jail, path, firstlinemd5, lastfilepos) \
                SELECT jail, path, firstlinemd5, lastfilepos FROM old.logs \
                WHERE jail IN (SELECT name FROM main.jails)"),
            ("bans", "INSERT INTO main.bans(jail, ip, timeofban, bantime, bancount, data) \
                SELECT jail, ip, timeofban, bantime, bancount, data FROM old.bans \
                WHERE jail IN (SELECT name FROM main.jails)"),
            ("bips", "INSERT OR IGNORE INTO main.bips(ip, jail, timeofban, bantime, bancount, data) \
                SELECT ip, jail, timeofban, bantime, bancount, data FROM old.bips \
                WHERE jail IN (SELECT name FROM main.jails)"),
        ];
        let mut total = 0;
        for (table, sql) in copies {
            match self.conn.execute(sql, []) {
                Ok(n) => total += n,
                Err(e) => tracing::debug!("database {from}: table {table} not recovered: {e}"),
            }
        }
        let _ = self.conn.execute("DETACH DATABASE old", []);
        total.saturating_sub(self.drop_invalid_ban_rows())
    }

    /// Delete ban rows whose address is not a valid ban target (recovered
    /// rows can hold anything a damaged page decodes to).
    pub(crate) fn drop_invalid_ban_rows(&self) -> usize {
        let mut dropped = 0;
        for table in ["bans", "bips"] {
            let rows: Vec<(i64, Option<String>)> = self
                .conn
                .prepare(&format!("SELECT rowid, ip FROM {table}"))
                .and_then(|mut st| {
                    st.query_map([], |r| Ok((r.get(0)?, r.get(1).ok())))?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .unwrap_or_default();
            for (rowid, ip) in rows {
                let ok = ip
                    .as_deref()
                    .is_some_and(|ip| gaoler_addr::Addr::parse_ban_target(ip).is_ok());
                if !ok {
                    let sql = format!("DELETE FROM {table} WHERE rowid = ?1");
                    dropped += self.conn.execute(&sql, [rowid]).unwrap_or(0);
                }
            }
        }
        dropped
    }

    /// Opens (creating or upgrading) the database at `path` (`:memory:`
    /// for one in memory) with `opts`.
    pub fn open_with(path: &str, opts: OpenOptions) -> Result<Store> {
        let conn = if path == ":memory:" {
            Connection::open_in_memory()
        } else {
            Connection::open(path)
        }
        .map_err(|e| match StoreError::from_sql(path, "open", e) {
            StoreError::Sql { path, source, .. } => StoreError::Open { path, source },
            other => other,
        })?;
        let store = Store {
            conn,
            path: path.to_owned(),
            purge_age: opts.purge_age,
            max_matches: opts.max_matches,
        };
        store
            .conn
            .busy_timeout(opts.busy_timeout)
            .map_err(|e| store.err("set busy timeout", e))?;
        store.init()?;
        Ok(store)
    }

    pub(crate) fn init(&self) -> Result<()> {
        let c = &self.conn;
        // The first statement that reads the file: a non-database file
        // fails here with NotADatabase, a locked one with Busy.
        c.execute_batch("PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;")
            .map_err(|e| self.err("set pragmas", e))?;
        let _mode: String = c
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| self.err("set journal mode", e))?;
        c.execute_batch("PRAGMA synchronous = NORMAL;")
            .map_err(|e| self.err("set synchronous", e))?;

        // Damage beyond the header (a torn page, a bad index) shows up
        // here at start rather than at the first ban.
        let check: String = c
            .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))
            .map_err(|e| self.err("check integrity", e))?;
        if check != "ok" {
            return Err(StoreError::Damaged {
                path: self.path.clone(),
                problems: check,
            });
        }

        let has_version_table: bool = c
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type='table' AND name='fail2banDb')",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err("read schema", e))?;
        if has_version_table {
            let v: Option<i64> = c
                .query_row("SELECT version FROM fail2banDb LIMIT 1", [], |r| r.get(0))
                .optional()
                .map_err(|e| self.err("read version", e))?;
            match v {
                Some(v) if v > SCHEMA_VERSION => {
                    return Err(StoreError::UnsupportedVersion {
                        path: self.path.clone(),
                        version: v,
                    });
                }
                Some(v) if v < SCHEMA_VERSION => self.migrate(v)?,
                _ => {}
            }
        }
        // Create what is missing (all of it for a new file) and record the
        // version if the table was empty, in one transaction.
        let mut sql = String::from("BEGIN;\n");
        for (_, stmt) in SCHEMA {
            sql.push_str(stmt);
            sql.push_str(";\n");
        }
        sql.push_str(&format!(
            "INSERT INTO fail2banDb(version) SELECT {SCHEMA_VERSION} \
             WHERE NOT EXISTS (SELECT 1 FROM fail2banDb LIMIT 1);\nCOMMIT;"
        ));
        c.execute_batch(&sql).map_err(|e| {
            let _ = c.execute_batch("ROLLBACK;");
            self.err("create schema", e)
        })?;
        Ok(())
    }

    pub(crate) fn table_exists(&self, name: &str) -> rusqlite::Result<bool> {
        self.conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type='table' AND name=?1)",
            [name],
            |r| r.get(0),
        )
    }

    /// Upgrade a version 1-3 database to version 4 (see the module doc).
    pub(crate) fn migrate(&self, from: i64) -> Result<()> {
        let backup = if self.path == ":memory:" {
            None
        } else {
            let b = format!("{}.{}", self.path, utc_stamp(std::time::SystemTime::now()));
            if !std::path::Path::new(&b).exists() {
                // A consistent copy even if the file has a journal.
                self.conn
                    .execute("VACUUM INTO ?1", [&b])
                    .map_err(|e| self.err("back up before upgrade", e))?;
            }
            tracing::info!("database {}: backup before upgrade: {b}", self.path);
            Some(b)
        };
        let fail = |source| StoreError::Migration {
            path: self.path.clone(),
            from,
            backup: backup.clone(),
            source,
        };
        let schema_of = |names: &[&str]| -> String {
            SCHEMA
                .iter()
                .filter(|(n, _)| names.contains(n))
                .map(|(_, sql)| format!("{sql};\n"))
                .collect()
        };
        let mut sql = String::from("BEGIN;\n");
        if from < 2 && self.table_exists("logs").map_err(fail)? {
            sql.push_str(
                "CREATE TEMPORARY TABLE logs_temp AS \
                 SELECT jail, path, firstlinemd5, lastfilepos FROM logs;\n\
                 DROP TABLE logs;\n",
            );
            sql.push_str(&schema_of(&["logs", "logs_path", "logs_jail_path"]));
            sql.push_str("INSERT INTO logs SELECT * FROM logs_temp;\nDROP TABLE logs_temp;\n");
        }
        let has_bans = self.table_exists("bans").map_err(fail)?;
        if from < 3 && has_bans {
            // Ban times were not stored before version 3: -2 = unknown,
            // replaced by the jail's ban time when restored.
            sql.push_str(
                "CREATE TEMPORARY TABLE bans_temp AS \
                 SELECT jail, ip, timeofban, -2 AS bantime, 1 AS bancount, data FROM bans;\n\
                 DROP TABLE bans;\n",
            );
            sql.push_str(&schema_of(&[
                "bans",
                "bans_jail_timeofban_ip",
                "bans_jail_ip",
                "bans_ip",
            ]));
            sql.push_str("INSERT INTO bans SELECT * FROM bans_temp;\nDROP TABLE bans_temp;\n");
        }
        if !self.table_exists("bips").map_err(fail)? {
            sql.push_str(&schema_of(&["bips", "bips_timeofban", "bips_ip"]));
            if has_bans {
                sql.push_str(
                    "INSERT OR REPLACE INTO bips(ip, jail, timeofban, bantime, bancount, data) \
                     SELECT ip, jail, timeofban, bantime, bancount, data FROM bans ORDER BY timeofban;\n",
                );
            }
        }
        sql.push_str(&format!(
            "UPDATE fail2banDb SET version = {SCHEMA_VERSION};\nCOMMIT;"
        ));
        self.conn.execute_batch(&sql).map_err(|e| {
            let _ = self.conn.execute_batch("ROLLBACK;");
            fail(e)
        })?;
        tracing::warn!(
            "database {} upgraded from version {from} to {SCHEMA_VERSION}",
            self.path
        );
        Ok(())
    }

    /// Run SQLite's integrity check: the problems found (empty when "ok").
    pub fn check_integrity(&self) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare("PRAGMA integrity_check")
            .map_err(|e| self.err("integrity check", e))?;
        let rows = st
            .query_map([], |r| r.get::<_, String>(0))
            .and_then(|it| it.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err("integrity check", e))?;
        Ok(rows.into_iter().filter(|r| r != "ok").collect())
    }

    // ------------------------------------------------------------ jails
}
