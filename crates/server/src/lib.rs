//! gaoler-server: the daemon's runtime, fail2ban-server without the
//! socket.
//!
//! The front end (`gaoler server`, crates/client) owns the socket and the
//! process; it creates a [`Server`] and passes every request to
//! [`Server::handle`], which is fail2ban's `Transmitter`: the same command
//! set, results shaped like fail2ban's Python values (tuples and lists as
//! JSON arrays, dicts as objects), errors carrying fail2ban's exception
//! class names ([`CommandError::kind`]).
//!
//! Modules:
//! - [`transmitter`]: command dispatch (`ping` … `reload`, `set`/`get`);
//! - [`jail`]: one jail's filter and actions threads;
//! - which jails of a configuration can start, and why the others cannot,
//!   is decided before the stream is sent (`gaoler_lint::start`); a
//!   command that still fails here refuses its own jail alone;
//! - `fleet`: bans shared with other hosts through PostgreSQL
//!   (`fleetdb`, gaoler-fleet), the thin layer between the fleet thread
//!   and the jails;
//! - [`log`]: the server log in fail2ban's format (self-contained).
//!
//! Time is injected through [`Clock`] ([`ServerOptions::clock`]); the real
//! one reads the system clock. Waiting always uses real time.
//!
//! # Result shapes (JSON for fail2ban's Python values)
//!
//! | command | result |
//! |---|---|
//! | `ping` | `"pong"` |
//! | `status` | `[["Number of jail", n], ["Jail list", "a, b"]]`, plus `["Failed jails", [[jail, reason], ...]]` when jails were refused at start (gaoler's addition; absent otherwise) |
//! | `status J` of a refused jail | error `Jail 'J' failed to start: reason` |
//! | `status J [basic\|short]` | `[["Filter", [["Currently failed", n], ["Total failed", n], ["File list", [...]]]], ["Actions", [["Currently banned", n], ["Total banned", n], ["Banned IP list", [...]]]]]` (`short`: no IP list; systemd jails: `["Journal matches", ["A + B"]]`) |
//! | `status J stats` | `[backend, [failed, total], [banned, total]]` |
//! | `status --all [flavor]` | the `status` pairs plus a dict `{jail: status}` as last element; `stats` flavor: the dict alone |
//! | `stats` | `{jail: [backend, [failed, total], [banned, total]]}` |
//! | `banned` | `[{jail: [ips]}, ...]`; `banned ip...`: `[[jails], ...]` |
//! | `unban ...`, `set J banip`, `set J unbanip` | count |
//! | `get J banned [ip...]` | list / `1`/`0` / list of `1`/`0` |
//! | `get J banip [--with-time]` | list of ids / of `ip \tstart + bantime = end` |
//! | `get J datepattern` | `[pattern, name]` or `[null, "Default Detectors"]` |
//! | `reload ...` | `"OK"` |
//! | `flushlogs` | `"rolled over"` (file) or `"flushed"` |
//!
//! `set` answers with the matching `get` outside streams and null inside
//! (`server-stream`, `reload`). A failing command inside a `reload`
//! stream ends the stream (as in fail2ban) and is logged. In a start
//! stream (`server-stream`) it refuses only its own jail, which is
//! removed and listed as failed, and the other jails start (fail2ban
//! stops the whole stream there). A Python action is logged and skipped
//! so the jail keeps its other actions.

#![deny(missing_docs)]

mod fleet;
pub mod jail;
pub mod log;
mod metrics;
pub mod transmitter;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use jail::Jail;
pub use log::Logger;

use jail::{lock, Ctx};

/// The source of "now" for every jail decision.
pub trait Clock: Send + Sync {
    /// Seconds since the epoch.
    fn now(&self) -> f64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> f64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    }
}

/// Options the `gaoler server` front end passes in.
#[derive(Clone, Default)]
pub struct ServerOptions {
    /// The control socket's path.
    pub socket: PathBuf,
    /// The pid file's path.
    pub pidfile: PathBuf,
    /// The log level until the configuration sets one.
    pub loglevel: Option<String>,
    /// The log target until the configuration sets one.
    pub logtarget: Option<String>,
    /// The syslog socket until the configuration sets one.
    pub syslogsocket: Option<String>,
    /// The clock for jail decisions; `None` means [`SystemClock`].
    pub clock: Option<Arc<dyn Clock>>,
    /// The `journalctl` binary for `backend = systemd` jails; `None` means
    /// `journalctl` from `PATH` (tests point this at a fake).
    pub journalctl: Option<PathBuf>,
    /// A throw-away server (a configuration check) must not take the
    /// process's `tracing` events from the real one: the bridge sends them
    /// to the last server made, and this one is gone soon.
    pub no_tracing_bridge: bool,
}

impl std::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerOptions")
            .field("socket", &self.socket)
            .field("pidfile", &self.pidfile)
            .field("loglevel", &self.loglevel)
            .field("logtarget", &self.logtarget)
            .field("syslogsocket", &self.syslogsocket)
            .field("clock", &self.clock.as_ref().map(|_| "custom"))
            .field("journalctl", &self.journalctl)
            .field("no_tracing_bridge", &self.no_tracing_bridge)
            .finish()
    }
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A log level fail2ban does not know.
    #[error("invalid log level {0:?}")]
    LogLevel(String),
    /// The log target could not be opened.
    #[error(transparent)]
    Log(#[from] log::LogError),
}

pub use gaoler_command::CommandError;

/// fail2ban's `name[opt=v, ...]` split (backends, log targets).
pub(crate) fn split_options(value: &str) -> (String, Vec<(String, String)>) {
    let v = value.trim();
    if let (Some(open), true) = (v.find('['), v.ends_with(']')) {
        let opts = v[open + 1..v.len() - 1]
            .split(',')
            .filter_map(|kv| {
                let (k, val) = kv.split_once('=')?;
                Some((k.trim().to_owned(), val.trim().to_owned()))
            })
            .collect();
        (v[..open].trim().to_owned(), opts)
    } else {
        (v.to_owned(), Vec::new())
    }
}

/// Server-level settings that are not the logger's.
pub(crate) struct Settings {
    pub dbfile: Option<String>,
    pub dbpurgeage: f64,
    pub dbmaxmatches: usize,
    pub allowipv6: String,
    pub loglevel: String,
}

/// The server: jails plus the transmitter.
pub struct Server {
    /// This server, for the metrics listener's thread.
    me: std::sync::Weak<Server>,
    /// The Prometheus listener (`metrics = ADDR`), if on.
    metrics: Mutex<Option<metrics::Listener>>,
    pub(crate) ctx: Arc<Ctx>,
    pub(crate) jails: Mutex<Vec<Arc<Jail>>>,
    pub(crate) settings: Mutex<Settings>,
    /// Serialises jail-list changes (add/start/stop/reload).
    pub(crate) admin: Mutex<()>,
    /// Jails of a running reload that the new stream did not name (yet).
    pub(crate) reload_untouched: Mutex<Option<std::collections::BTreeSet<String>>>,
    /// Jails refused at start (configuration errors, commands the server
    /// refused), with the reason; shown by `status` until the jail is
    /// added again (reload) or stopped.
    pub(crate) failed: Mutex<std::collections::BTreeMap<String, String>>,
    stopping: AtomicBool,
    /// Set when a shutdown begins (makes it idempotent); `stopping` is set
    /// only once the jails are down, so a front end that exits as soon as
    /// it sees `is_stopping()` never cuts an `actionstop` short.
    shutting_down: AtomicBool,
    stop_cv: (Mutex<bool>, Condvar),
    #[allow(dead_code)]
    opts: ServerOptions,
    purge_stop: Arc<AtomicBool>,
    /// The fleet's settings and threads (`fleetdb`).
    pub(crate) fleet: Mutex<fleet::FleetSettings>,
    /// Start streams and reloads running (fleet rows wait for them).
    pub(crate) streams: AtomicUsize,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("jails", &self.jail_names())
            .field("stopping", &self.is_stopping())
            .finish()
    }
}

impl Server {
    /// Creates the server with its logger set from the options; no jails,
    /// no database until the stream sets `dbfile`.
    pub fn new(opts: ServerOptions) -> Result<Arc<Server>, ServerError> {
        let logger = Arc::new(Logger::new());
        let mut loglevel = "INFO".to_owned();
        if let Some(l) = &opts.loglevel {
            let n = log::parse_level(l).ok_or_else(|| ServerError::LogLevel(l.clone()))?;
            logger.set_level(n);
            loglevel = l.to_ascii_uppercase();
        }
        if let Some(s) = &opts.syslogsocket {
            logger.set_syslog_socket(s)?;
        }
        if let Some(t) = &opts.logtarget {
            logger.set_target(t)?;
        }
        if !opts.no_tracing_bridge {
            log::install_tracing_bridge(&logger);
        }
        let clock = opts
            .clock
            .clone()
            .unwrap_or_else(|| Arc::new(SystemClock) as Arc<dyn Clock>);
        let ctx = Arc::new(Ctx {
            logger,
            clock,
            db: Mutex::new(None),
            journalctl: opts.journalctl.clone(),
            ban_latency: metrics::ban_latency(),
            fleet: Mutex::new(None),
        });
        let purge_stop = Arc::new(AtomicBool::new(false));
        let server = Arc::new_cyclic(|me| Server {
            me: me.clone(),
            metrics: Mutex::new(None),
            ctx,
            jails: Mutex::new(Vec::new()),
            settings: Mutex::new(Settings {
                dbfile: None,
                dbpurgeage: gaoler_store::DEFAULT_PURGE_AGE,
                dbmaxmatches: gaoler_store::DEFAULT_MAX_MATCHES,
                allowipv6: "auto".into(),
                loglevel,
            }),
            admin: Mutex::new(()),
            reload_untouched: Mutex::new(None),
            failed: Mutex::new(std::collections::BTreeMap::new()),
            stopping: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
            stop_cv: (Mutex::new(false), Condvar::new()),
            opts,
            purge_stop: Arc::clone(&purge_stop),
            fleet: Mutex::new(fleet::FleetSettings::default()),
            streams: AtomicUsize::new(0),
        });
        server.spawn_purger(purge_stop);
        server.ctx.log(
            log::level::INFO,
            "fail2ban.server",
            format!("Starting Fail2ban v{} (gaoler)", transmitter::VERSION),
        );
        Ok(server)
    }

    /// Hourly `dbpurgeage` purge, on its own thread (holds only a weak
    /// reference to the context so it never keeps a dropped server alive).
    fn spawn_purger(&self, stop: Arc<AtomicBool>) {
        let ctx = Arc::downgrade(&self.ctx);
        let _ = std::thread::Builder::new()
            .name("f2b/purge".into())
            .spawn(move || {
                let mut waited = Duration::ZERO;
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(500));
                    waited += Duration::from_millis(500);
                    if waited < Duration::from_secs(3600) {
                        continue;
                    }
                    waited = Duration::ZERO;
                    let Some(ctx) = ctx.upgrade() else { return };
                    let now = ctx.clock.now();
                    let res = ctx.db().as_ref().map(|db| db.purge(now));
                    if let Some(Err(e)) = res {
                        ctx.log(log::level::ERROR, "fail2ban.database", format!("{e}"));
                    }
                }
            });
    }

    /// The logger (for the front end's own messages).
    pub fn logger(&self) -> &Arc<Logger> {
        &self.ctx.logger
    }

    /// Whether `stop` was requested (or [`Server::shutdown`] ran).
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Whether a shutdown has begun (jails may still be stopping).
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Blocks until the server is stopping, or `timeout` passes; returns
    /// [`Server::is_stopping`].
    pub fn wait_stopping(&self, timeout: Option<Duration>) -> bool {
        let (m, cv) = &self.stop_cv;
        let mut g = lock(m);
        match timeout {
            None => {
                while !*g {
                    g = cv.wait(g).unwrap_or_else(|p| p.into_inner());
                }
            }
            Some(t) => {
                let deadline = std::time::Instant::now() + t;
                while !*g {
                    let now = std::time::Instant::now();
                    if now >= deadline {
                        break;
                    }
                    g = cv
                        .wait_timeout(g, deadline - now)
                        .map(|r| r.0)
                        .unwrap_or_else(|p| p.into_inner().0);
                }
            }
        }
        *g
    }

    /// Stops every jail (their actions' `actionstop` in reverse order),
    /// closes the database and sets the stopping flag. Idempotent.
    pub fn shutdown(&self) {
        if self.shutting_down.swap(true, Ordering::SeqCst) {
            return;
        }
        self.ctx.log(
            log::level::INFO,
            "fail2ban.server",
            "Shutdown in progress...",
        );
        // First the fleet: no row is applied to a jail that is stopping
        // (what waits in the outbox is published at the next start).
        self.stop_fleet();
        self.stop_all_jails();
        *lock(&self.metrics) = None;
        self.purge_stop.store(true, Ordering::SeqCst);
        *self.ctx.db() = None;
        self.ctx
            .log(log::level::INFO, "fail2ban.server", "Exiting Fail2ban");
        self.stopping.store(true, Ordering::SeqCst);
        let (m, cv) = &self.stop_cv;
        *lock(m) = true;
        cv.notify_all();
    }

    /// The running jails' names, sorted.
    pub fn running_jails(&self) -> Vec<String> {
        let mut names = self.jail_names();
        names.sort();
        names
    }

    /// `set metrics ADDR`: (re)starts the Prometheus listener; empty stops
    /// it. Returns the address now served (empty: off).
    pub(crate) fn set_metrics(&self, addr: &str) -> Result<String, String> {
        let mut m = lock(&self.metrics);
        let addr = addr.trim();
        if m.as_ref().is_some_and(|l| l.addr == addr) {
            return Ok(addr.to_owned());
        }
        *m = None;
        if addr.is_empty() {
            return Ok(String::new());
        }
        let l = metrics::Listener::start(addr, self.me.clone())
            .map_err(|e| format!("metrics: cannot listen on {addr}: {e}"))?;
        self.ctx.log(
            log::level::INFO,
            "fail2ban.server",
            format!("Serving Prometheus metrics on http://{addr}/metrics"),
        );
        *m = Some(l);
        Ok(addr.to_owned())
    }

    pub(crate) fn metrics_addr(&self) -> String {
        lock(&self.metrics)
            .as_ref()
            .map(|l| l.addr.clone())
            .unwrap_or_default()
    }

    pub(crate) fn ban_latency(&self) -> &prometheus::HistogramVec {
        &self.ctx.ban_latency
    }

    pub(crate) fn jail_metrics(&self) -> Vec<metrics::JailMetrics> {
        let jails: Vec<Arc<Jail>> = lock(&self.jails).iter().cloned().collect();
        jails.iter().map(|j| j.metrics()).collect()
    }

    /// The database file and its write-ahead log, in bytes (`None`: no
    /// database).
    pub(crate) fn database_bytes(&self) -> Option<u64> {
        let path = lock(&self.settings).dbfile.clone()?;
        if path.eq_ignore_ascii_case("none") || path == ":memory:" {
            return None;
        }
        let size = |p: &str| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        Some(size(&path) + size(&format!("{path}-wal")))
    }

    /// Each running jail with its current ban count, sorted by name.
    pub fn ban_counts(&self) -> Vec<(String, usize)> {
        let mut counts: Vec<(String, usize)> = self
            .jail_metrics()
            .into_iter()
            .map(|m| (m.name, m.banned as usize))
            .collect();
        counts.sort();
        counts
    }

    /// The jails refused at start, with the reason, sorted by name.
    pub fn failed_jails(&self) -> Vec<(String, String)> {
        lock(&self.failed)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub(crate) fn jail_names(&self) -> Vec<String> {
        lock(&self.jails).iter().map(|j| j.name.clone()).collect()
    }

    pub(crate) fn jail(&self, name: &str) -> Result<Arc<Jail>, CommandError> {
        lock(&self.jails)
            .iter()
            .find(|j| j.name == name)
            .cloned()
            .ok_or_else(|| CommandError::UnknownJail(name.to_owned()))
    }

    /// Stops all jails: first signal all, then wait for all, so their
    /// stops run in parallel.
    pub(crate) fn stop_all_jails(&self) {
        let _g = lock(&self.admin);
        self.ctx
            .log(log::level::INFO, "fail2ban.server", "Stopping all jails");
        let jails: Vec<Arc<Jail>> = lock(&self.jails).drain(..).collect();
        for j in &jails {
            j.signal_stop();
        }
        for j in &jails {
            j.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.purge_stop.store(true, Ordering::SeqCst);
        self.stop_fleet();
        let jails: Vec<Arc<Jail>> = lock(&self.jails).drain(..).collect();
        for j in &jails {
            j.signal_stop();
        }
        for j in &jails {
            j.join();
        }
    }
}
