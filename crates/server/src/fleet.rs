//! The server's side of the fleet (gaoler-fleet): its settings, the fleet
//! thread's start and stop, and the two adapters the fleet works through.
//!
//! Kept thin on purpose: what a row means and whether it is sound is the
//! fleet crate's business; here a decision becomes a jail call
//! ([`Jail::fleet_ban`], [`Jail::fleet_unban`], [`Jail::fleet_failure`]),
//! and the jails hand their own bans over as rows
//! ([`crate::jail::Jail`]'s publishing hooks). The outbox and the position
//! go to the jails' SQLite database when there is one ([`SqliteLocal`]),
//! else to memory.
//!
//! Rows are applied only while no start stream or reload is running
//! ([`crate::Server::fleet_ready`]): a row for a jail that the stream has
//! not added yet would otherwise be skipped for good.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use gaoler_ban::{BanHistory, Ticket};
use gaoler_fleet::{
    BanRow, ConnInfo, Fleet, FleetOptions, Host, JailFleet, Kind, Local, MemoryLocal, Plan,
    Received,
};

use crate::jail::{lock, Ctx};
use crate::log::level;
use crate::{CommandError, Server};

/// Data keys of a ticket that came from the fleet: the host and the jail
/// it was banned by. Kept in the ticket's data, so a restored ban still
/// knows where it came from (and is never published).
pub(crate) const ORIGIN_HOST: &str = "fleethost";
/// See [`ORIGIN_HOST`].
pub(crate) const ORIGIN_JAIL: &str = "fleetjail";

/// The fleet host and jail a ticket came from, if it came from the fleet.
pub(crate) fn origin_of(t: &Ticket) -> Option<(&str, &str)> {
    let host = t.data.get(ORIGIN_HOST)?.as_str()?;
    let jail = t
        .data
        .get(ORIGIN_JAIL)
        .and_then(|v| v.as_str())
        .unwrap_or("");
    Some((host, jail))
}

/// ` (from fleet host a, jail sshd)` for a fleet ticket's log lines.
pub(crate) fn origin_note(t: &Ticket) -> String {
    match origin_of(t) {
        Some((h, j)) => format!(" (from fleet host {h}, jail {j})"),
        None => String::new(),
    }
}

/// A row for one of this host's own tickets.
pub(crate) fn row_of(
    jail: &str,
    t: &Ticket,
    jail_ban_time: f64,
    kind: Kind,
    manual: bool,
) -> BanRow {
    BanRow {
        jail: jail.to_owned(),
        kind,
        ip: t.id.clone(),
        time_of_ban: t.time,
        ban_time: t.ban_time_or(jail_ban_time),
        ban_count: t.ban_count,
        failures: t.failures,
        matches: match kind {
            Kind::Ban => BanRow::bound_matches(&t.matches),
            Kind::Unban => Vec::new(),
        },
        manual,
    }
}

/// The history `bantime.increment` reads with `fleetcount = fleet`: the
/// higher ban count of this host's and the fleet's, the later time of ban
/// and the ban time of that later ban.
pub(crate) fn merge_history(
    local: Option<BanHistory>,
    fleet: Option<BanHistory>,
) -> Option<BanHistory> {
    match (local, fleet) {
        (None, f) => f,
        (l, None) => l,
        (Some(l), Some(f)) => {
            let later = if f.time_of_ban > l.time_of_ban { f } else { l };
            Some(BanHistory {
                ban_count: l.ban_count.max(f.ban_count),
                time_of_ban: later.time_of_ban,
                ban_time: later.ban_time,
            })
        }
    }
}

/// The fleet's settings as the stream set them, and the running fleet.
pub(crate) struct FleetSettings {
    /// `fleetdb` as given (with its password: never shown, see
    /// [`gaoler_fleet::redact`]).
    pub db: Option<String>,
    /// `fleethost`.
    pub host: String,
    /// `fleetretry`.
    pub retry: Duration,
    pub running: Option<Fleet>,
}

impl Default for FleetSettings {
    fn default() -> Self {
        FleetSettings {
            db: None,
            host: default_host(),
            retry: gaoler_fleet::backoff::Backoff::DEFAULT_CAP,
            running: None,
        }
    }
}

/// This machine's host name, as far as it is a valid fleet name.
fn default_host() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let clean: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        .take(gaoler_fleet::row::MAX_NAME)
        .collect();
    if clean.is_empty() {
        "localhost".into()
    } else {
        clean
    }
}

/// The outbox and position in the jails' SQLite database, or in memory
/// while there is none.
pub(crate) struct SqliteLocal {
    ctx: Weak<Ctx>,
    mem: MemoryLocal,
    /// The database whose fleet tables were made (by path).
    ensured: Mutex<Option<String>>,
}

const POSITION_KEY: &str = "position";

impl SqliteLocal {
    fn new(ctx: &Arc<Ctx>) -> SqliteLocal {
        SqliteLocal {
            ctx: Arc::downgrade(ctx),
            mem: MemoryLocal::new(),
            ensured: Mutex::new(None),
        }
    }

    /// Runs `f` on the database (its fleet tables made), or returns `None`
    /// when there is no database.
    fn with_db<R>(
        &self,
        f: impl FnOnce(&gaoler_store::Store) -> gaoler_store::Result<R>,
    ) -> Option<Result<R, String>> {
        let ctx = self.ctx.upgrade()?;
        let db = ctx.db();
        let db = db.as_ref()?;
        let mut ensured = lock(&self.ensured);
        if ensured.as_deref() != Some(db.path()) {
            if let Err(e) = db.ensure_fleet_tables() {
                return Some(Err(e.to_string()));
            }
            *ensured = Some(db.path().to_owned());
        }
        Some(f(db).map_err(|e| e.to_string()))
    }
}

impl Local for SqliteLocal {
    fn push(&self, rows: &[BanRow], cap: usize) -> Result<usize, String> {
        let texts: Vec<String> = rows
            .iter()
            .filter_map(|r| serde_json::to_string(r).ok())
            .collect();
        match self.with_db(|db| db.fleet_outbox_push(&texts, cap)) {
            Some(r) => r,
            None => self.mem.push(rows, cap),
        }
    }

    fn peek(&self, max: usize) -> Result<Vec<(i64, BanRow)>, String> {
        match self.with_db(|db| db.fleet_outbox_peek(max)) {
            Some(r) => Ok(r?
                .into_iter()
                .filter_map(|(id, text)| match serde_json::from_str(&text) {
                    Ok(row) => Some((id, row)),
                    Err(e) => {
                        // (written by this program; a damaged row is
                        // dropped rather than blocking the outbox)
                        if let Some(ctx) = self.ctx.upgrade() {
                            ctx.log(
                                level::WARNING,
                                "fail2ban.fleet",
                                format!("Fleet: dropping an unreadable outbox row {id}: {e}"),
                            );
                        }
                        None
                    }
                })
                .collect()),
            None => self.mem.peek(max),
        }
    }

    fn remove_through(&self, id: i64) -> Result<(), String> {
        match self.with_db(|db| db.fleet_outbox_remove_through(id)) {
            Some(r) => r,
            None => self.mem.remove_through(id),
        }
    }

    fn outbox_len(&self) -> Result<usize, String> {
        match self.with_db(|db| db.fleet_outbox_len()) {
            Some(r) => r,
            None => self.mem.outbox_len(),
        }
    }

    fn position(&self, db_id: &str) -> Result<i64, String> {
        match self.with_db(|db| db.fleet_state(POSITION_KEY)) {
            Some(r) => Ok(r?
                .and_then(|v| {
                    let (id, seq) = v.split_once(' ')?;
                    (id == db_id).then(|| seq.parse().ok()).flatten()
                })
                .unwrap_or(0)),
            None => self.mem.position(db_id),
        }
    }

    fn set_position(&self, db_id: &str, seq: i64) -> Result<(), String> {
        let v = format!("{db_id} {seq}");
        match self.with_db(|db| db.set_fleet_state(POSITION_KEY, &v)) {
            Some(r) => r,
            None => self.mem.set_position(db_id, seq),
        }
    }
}

/// The server as the fleet sees it.
struct ServerHost {
    server: Weak<Server>,
}

impl Host for ServerHost {
    fn now(&self) -> f64 {
        self.server.upgrade().map_or(0.0, |s| s.ctx.clock.now())
    }

    fn ready(&self) -> bool {
        self.server.upgrade().is_some_and(|s| s.fleet_ready())
    }

    fn jails(&self) -> Vec<JailFleet> {
        let Some(s) = self.server.upgrade() else {
            return Vec::new();
        };
        let jails = lock(&s.jails).clone();
        jails
            .iter()
            .filter(|j| j.is_alive())
            .map(|j| j.fleet_settings())
            .collect()
    }

    fn act(&self, plan: &Plan, row: &Received) {
        let Some(s) = self.server.upgrade() else {
            return;
        };
        let name = match plan {
            Plan::Ban(j) | Plan::Unban(j) | Plan::CountFailure(j) => j,
        };
        let Ok(jail) = s.jail(name) else { return };
        match plan {
            Plan::Ban(_) => jail.fleet_ban(row),
            Plan::Unban(_) => jail.fleet_unban(row),
            Plan::CountFailure(_) => jail.fleet_failure(row),
        }
    }

    fn log(&self, l: tracing::Level, message: &str) {
        let Some(s) = self.server.upgrade() else {
            return;
        };
        let l = match l {
            tracing::Level::ERROR => level::ERROR,
            tracing::Level::WARN => level::WARNING,
            tracing::Level::INFO => level::INFO,
            tracing::Level::DEBUG => level::DEBUG,
            tracing::Level::TRACE => level::HEAVYDEBUG,
        };
        s.ctx.log(l, "fail2ban.fleet", message);
    }

    fn purge(&self, now: f64) {
        let Some(s) = self.server.upgrade() else {
            return;
        };
        let db = s.ctx.db();
        if let Some(db) = db.as_ref() {
            if let Err(e) = db
                .ensure_fleet_tables()
                .and_then(|_| db.purge_fleet_counts(now))
            {
                s.ctx.log(level::ERROR, "fail2ban.fleet", format!("{e}"));
            }
        }
    }

    fn record(&self, bans: &[Received]) {
        let Some(s) = self.server.upgrade() else {
            return;
        };
        let counts: Vec<gaoler_store::FleetCount> = bans
            .iter()
            .map(|r| gaoler_store::FleetCount {
                ip: r.row.ip.clone(),
                jail: r.row.jail.clone(),
                host: r.origin.clone(),
                time_of_ban: r.row.time_of_ban,
                ban_time: r.row.ban_time,
                ban_count: r.row.ban_count,
            })
            .collect();
        let db = s.ctx.db();
        if let Some(db) = db.as_ref() {
            let r = db
                .ensure_fleet_tables()
                .and_then(|_| db.record_fleet_counts(&counts));
            if let Err(e) = r {
                s.ctx.log(
                    level::ERROR,
                    "fail2ban.fleet",
                    format!("cannot record the fleet's ban counts: {e}"),
                );
            }
        }
    }
}

impl Server {
    /// Whether fleet rows may be applied: no start stream or reload is
    /// configuring the jails.
    pub(crate) fn fleet_ready(&self) -> bool {
        self.streams.load(Ordering::SeqCst) == 0 && !self.is_shutting_down()
    }

    /// A start stream or reload begins.
    pub(crate) fn stream_begins(&self) {
        self.streams.fetch_add(1, Ordering::SeqCst);
    }

    /// A start stream or reload ended: the fleet may read again.
    pub(crate) fn stream_ends(&self) {
        if self.streams.fetch_sub(1, Ordering::SeqCst) == 1 {
            if let Some(f) = lock(&self.fleet).running.as_ref() {
                f.wake();
            }
        }
    }

    /// `set fleetdb V`: (re)starts the fleet on that database; empty or
    /// `none` stops it.
    pub(crate) fn set_fleet_db(&self, v: &str) -> Result<(), CommandError> {
        let v = v.trim();
        let off = v.is_empty() || v.eq_ignore_ascii_case("none");
        let info = if off {
            None
        } else {
            Some(ConnInfo::parse(v).map_err(|e| CommandError::Invalid(e.to_string()))?)
        };
        {
            let mut f = lock(&self.fleet);
            if f.db.as_deref() == Some(v) && f.running.is_some() {
                return Ok(());
            }
            f.db = (!off).then(|| v.to_owned());
        }
        self.restart_fleet(info)
    }

    /// `set fleethost V`.
    pub(crate) fn set_fleet_host(&self, v: &str) -> Result<(), CommandError> {
        let v = v.trim();
        gaoler_fleet::row::check_host(v).map_err(CommandError::Invalid)?;
        let running = {
            let mut f = lock(&self.fleet);
            if f.host == v {
                return Ok(());
            }
            f.host = v.to_owned();
            f.running.is_some()
        };
        self.restart_running_fleet(running)
    }

    /// `set fleetretry V` (seconds, at least 0.05).
    pub(crate) fn set_fleet_retry(&self, secs: f64) -> Result<(), CommandError> {
        let retry = gaoler_fleet::row::check_retry(secs).map_err(CommandError::Invalid)?;
        let running = {
            let mut f = lock(&self.fleet);
            if f.retry == retry {
                return Ok(());
            }
            f.retry = retry;
            f.running.is_some()
        };
        self.restart_running_fleet(running)
    }

    fn restart_running_fleet(&self, running: bool) -> Result<(), CommandError> {
        if !running {
            return Ok(());
        }
        let db = lock(&self.fleet).db.clone();
        let info = match db {
            Some(d) => Some(ConnInfo::parse(&d).map_err(|e| CommandError::Invalid(e.to_string()))?),
            None => None,
        };
        self.restart_fleet(info)
    }

    fn restart_fleet(&self, info: Option<ConnInfo>) -> Result<(), CommandError> {
        self.stop_fleet();
        let Some(info) = info else { return Ok(()) };
        let (host, retry) = {
            let f = lock(&self.fleet);
            (f.host.clone(), f.retry)
        };
        let purge_age = lock(&self.settings).dbpurgeage;
        let shown = info.shown().to_owned();
        let opts = FleetOptions {
            conninfo: info,
            host: host.clone(),
            retry_cap: retry,
            poll: FleetOptions::POLL,
            purge_age,
        };
        let local: Arc<dyn Local> = Arc::new(SqliteLocal::new(&self.ctx));
        let srv: Arc<dyn Host> = Arc::new(ServerHost {
            server: self.me.clone(),
        });
        self.ctx.log(
            level::INFO,
            "fail2ban.fleet",
            format!("Fleet: sharing bans through {shown} as host '{host}'"),
        );
        let fleet = Fleet::start(opts, local, srv)
            .map_err(|e| CommandError::Failed(format!("cannot start the fleet thread: {e}")))?;
        *lock(&self.ctx.fleet) = Some(fleet.publisher());
        lock(&self.fleet).running = Some(fleet);
        Ok(())
    }

    /// Stops the fleet's threads (rows still queued stay in the outbox).
    pub(crate) fn stop_fleet(&self) {
        *lock(&self.ctx.fleet) = None;
        let running = lock(&self.fleet).running.take();
        if let Some(mut f) = running {
            f.stop();
        }
    }

    /// `get fleetdb`: the connection string, redacted.
    pub(crate) fn fleet_db_shown(&self) -> Option<String> {
        lock(&self.fleet).db.as_deref().map(gaoler_fleet::redact)
    }

    pub(crate) fn fleet_host(&self) -> String {
        lock(&self.fleet).host.clone()
    }

    pub(crate) fn fleet_retry(&self) -> f64 {
        lock(&self.fleet).retry.as_secs_f64()
    }
}

pub(crate) use gaoler_fleet::row::redact_command;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_are_redacted_also_inside_streams() {
        let cmd = json!([
            "server-stream",
            [
                ["set", "fleetdb", "postgresql://g:hunter2@db/x"],
                ["set", "dbfile", "/var/lib/x"],
                ["set", "sshd", "fleet", "both"]
            ]
        ]);
        let r = redact_command(&cmd).to_string();
        assert!(!r.contains("hunter2"), "{r}");
        assert!(r.contains("postgresql://g:***@db/x"), "{r}");
        assert!(r.contains("/var/lib/x") && r.contains("both"), "{r}");
    }

    #[test]
    fn history_merges_by_the_highest_count_and_the_latest_ban() {
        let h = |c, t, b| BanHistory {
            ban_count: c,
            time_of_ban: t,
            ban_time: b,
        };
        assert_eq!(merge_history(None, None), None);
        assert_eq!(
            merge_history(Some(h(1, 10.0, 60.0)), None),
            Some(h(1, 10.0, 60.0))
        );
        assert_eq!(
            merge_history(None, Some(h(2, 5.0, 60.0))),
            Some(h(2, 5.0, 60.0))
        );
        assert_eq!(
            merge_history(Some(h(1, 10.0, 60.0)), Some(h(3, 20.0, 240.0))),
            Some(h(3, 20.0, 240.0))
        );
        assert_eq!(
            merge_history(Some(h(4, 30.0, 960.0)), Some(h(3, 20.0, 240.0))),
            Some(h(4, 30.0, 960.0))
        );
    }

    #[test]
    fn fleet_tickets_carry_their_origin() {
        let mut t = Ticket::new("192.0.2.7", 100.0);
        assert_eq!(origin_of(&t), None);
        assert_eq!(origin_note(&t), "");
        t.data.insert(ORIGIN_HOST.into(), json!("a"));
        t.data.insert(ORIGIN_JAIL.into(), json!("freeswitch"));
        assert_eq!(origin_of(&t), Some(("a", "freeswitch")));
        assert_eq!(origin_note(&t), " (from fleet host a, jail freeswitch)");
    }

    #[test]
    fn own_rows_keep_the_ban_as_decided() {
        let mut t =
            Ticket::new("192.0.2.7", 100.0).with_matches(vec!["a".into(), "x".repeat(5000)]);
        t.ban_count = 2;
        t.failures = 4;
        let r = row_of("sshd", &t, 600.0, Kind::Ban, false);
        assert_eq!(
            (r.time_of_ban, r.ban_time, r.ban_count, r.failures),
            (100.0, 600.0, 2, 4)
        );
        assert_eq!(r.matches.len(), 2);
        assert!(r.matches[1].len() <= gaoler_fleet::row::PUBLISH_LINE_BYTES);
        t.ban_time = Some(-1.0);
        let u = row_of("sshd", &t, 600.0, Kind::Unban, true);
        assert!(u.matches.is_empty() && u.manual && u.ban_time == -1.0);
    }
}
