//! One jail at run time: fail2ban's `Jail`, its `Filter` thread and its
//! `Actions` thread.
//!
//! Layout: this file holds the [`Jail`], its start and stop, and the
//! failure path the filter thread runs (ignore check, counting, the hand-over
//! of a ban); `filter_thread` reads the logs, `actions_thread` bans and
//! unbans, `control` is what the transmitter asks of a jail.
//!
//! Design decisions:
//! - **Two plain threads per jail**, as in fail2ban. The filter thread owns
//!   the log source and the compiled [`Filter`]; the actions thread owns
//!   nothing but the loop. Everything the transmitter must see or change
//!   lives in [`Jail`] behind small mutexes, each guarding one concern:
//!   `conf` (filter settings), `fail` (FailManager + ignore list), `bans`
//!   (BanManager + the queue of tickets to ban), `actions` (the
//!   CommandActions), `inc` (bantime.increment). No code path holds two of
//!   them at once (the database lock is only ever taken innermost), so
//!   there is no lock order to get wrong, and a slow action never blocks
//!   `status`.
//! - **A ban reaches the actions at once**: queuing a ticket notifies the
//!   actions thread's condition variable; the thread otherwise sleeps until
//!   the next end of ban, at most 2 s (fail2ban's wake-up).
//! - **Settings changed at run time** (`set J addfailregex`, `addlogpath`,
//!   ...) bump `conf.generation`; the filter thread rebuilds its Filter and
//!   re-syncs its paths when it sees a new generation, so the transmitter
//!   never touches the thread's private state.
//! - **Time** comes from the injected [`Clock`]; only waiting uses real
//!   time.
//! - **Manual bans** (`set J banip`) run the ban in the caller's thread,
//!   like fail2ban, so the reply carries the number of new bans.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gaoler_action::{ActionInfo, ActionSpec, CommandAction};
use gaoler_addr::Addr;
use gaoler_ban::{
    already_banned_level, is_permanent, AddBan, AlreadyBannedLevel, BanManager, BanTimeIncrement,
    FailManager, FieldValue, IgnoreList, Resolver, RestoreRule, Ticket, BAN_PER_ROUND,
    BATCH_PER_ROUND, UNBAN_PER_CHECK,
};
use gaoler_filter::{Filter, FilterOptions, FilterSpec, TupleLine};
use gaoler_source::{
    FileSource, JournalOptions, JournalSource, JournalStart, Position, SourceOptions, StartAt,
};
use gaoler_store::Store;
use serde_json::{json, Map, Value as Json};

use crate::fleet::{self, origin_of};
use crate::log::{level, time2str, Logger};
use crate::Clock;

mod actions_thread;
mod control;
mod filter_thread;
mod options;

/// Positions are written to the database at least this often.
const POSITION_INTERVAL: Duration = Duration::from_secs(10);
/// The filter thread's longest blocking wait, which bounds stop latency.
const FILTER_POLL: Duration = Duration::from_millis(250);
/// How long a stop waits for a jail's filter thread (see [`Jail::join`]).
const FILTER_JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// The actions thread's longest sleep (fail2ban's 2 s unban check).
const ACTIONS_MAX_SLEEP: f64 = 2.0;
/// Seconds after a failed ban until the reconcile that applies it again.
const RECONCILE_RETRY: f64 = 60.0;
/// Seconds after a jail's start until its first reconcile (which waits
/// for the restored bans anyway).
const START_RECONCILE_DELAY: f64 = 2.0;

/// What every jail shares with the server.
pub(crate) struct Ctx {
    pub logger: Arc<Logger>,
    pub clock: Arc<dyn Clock>,
    pub db: Mutex<Option<Store>>,
    pub journalctl: Option<PathBuf>,
    /// Seconds from the failure that reached maxretry to its ban being
    /// applied, per jail (the metrics' histogram).
    pub ban_latency: prometheus::HistogramVec,
    /// Where publishing jails hand their bans and unbans to the fleet
    /// (`None`: no `fleetdb`).
    pub fleet: Mutex<Option<gaoler_fleet::Publisher>>,
}

impl Ctx {
    pub fn log(&self, l: i32, name: &str, msg: impl AsRef<str>) {
        self.logger.log(l, name, msg.as_ref());
    }
    pub fn db(&self) -> MutexGuard<'_, Option<Store>> {
        lock(&self.db)
    }
    pub fn has_db(&self) -> bool {
        self.db().is_some()
    }
}

/// Locks, recovering from a poisoned mutex: a panicking action thread must
/// not take the whole server down with it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Name resolution through the system resolver (`getaddrinfo`).
pub(crate) struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, name: &str) -> Vec<IpAddr> {
        match (name, 0u16).to_socket_addrs() {
            Ok(it) => {
                let mut v: Vec<IpAddr> = it.map(|sa| sa.ip()).collect();
                v.dedup();
                v
            }
            Err(_) => Vec::new(),
        }
    }
}

/// Filter-side settings, as the transmitter sets them: the filter's own
/// options, and what the jail reads and how.
#[derive(Debug, Clone)]
pub(crate) struct FilterConf {
    pub filter: FilterOptions,
    pub findtime: f64,
    pub logpaths: Vec<(String, StartAt)>,
    pub journalmatches: Vec<Vec<String>>,
    pub encoding: String,
    pub ignorecommand: String,
    pub generation: u64,
}

impl Default for FilterConf {
    fn default() -> Self {
        FilterConf {
            filter: FilterOptions::default(),
            findtime: 600.0,
            logpaths: Vec::new(),
            journalmatches: Vec::new(),
            encoding: "auto".into(),
            ignorecommand: String::new(),
            generation: 0,
        }
    }
}

impl FilterConf {
    pub fn spec(&self) -> FilterSpec {
        FilterSpec {
            check_find_time: Some(self.findtime),
            ..self.filter.spec()
        }
    }
}

pub(crate) struct FailState {
    pub fm: FailManager,
    pub ignore: IgnoreList,
}

pub(crate) struct BanState {
    pub bm: BanManager,
    pub queue: VecDeque<Ticket>,
}

pub(crate) struct ActionEntry {
    pub name: String,
    pub action: CommandAction,
    /// Added while the jail runs: its properties arrive in later commands,
    /// so it is started before its first use (or when a reload commits).
    pub needs_start: bool,
}

/// Reload bookkeeping (`reload` begin → stream → end).
#[derive(Default)]
pub(crate) struct ReloadState {
    /// Actions not (yet) named again by the new stream.
    pub stale_actions: BTreeSet<String>,
}

/// One jail.
pub struct Jail {
    /// This jail, for the deferred part of a round's ticket infos (see
    /// `Jail::round_info`).
    me: Weak<Jail>,
    pub(crate) name: String,
    pub(crate) backend: String,
    pub(crate) ctx: Arc<Ctx>,
    conf: Mutex<FilterConf>,
    fail: Mutex<FailState>,
    bans: Mutex<BanState>,
    wake: Condvar,
    actions: Mutex<Vec<ActionEntry>>,
    inc: Mutex<BanTimeIncrement>,
    /// `bantime.*` values as set, for `get J bantime.X`.
    ban_extra: Mutex<Map<String, Json>>,
    active: AtomicBool,
    started: AtomicBool,
    idle: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
    reload: Mutex<Option<ReloadState>>,
    /// Files the filter thread tracks (for `status`).
    files: Mutex<Vec<String>>,
    /// Python actions that were refused (their later settings are ignored).
    refused: Mutex<BTreeSet<String>>,
    /// Set once the actions thread has run the actions' `start`; bans
    /// from other threads (`set J banip`) wait for it, because an
    /// `actionstart` after a ban would reset the action's state and lose
    /// the ban's unban.
    actions_ready: Mutex<bool>,
    actions_ready_cv: Condvar,
    /// Time of the last action consistency check.
    last_check: Mutex<f64>,
    /// Lines a regex could not finish its search on (`get J unevaluated`);
    /// the first one is logged with the reason.
    unevaluated: AtomicU64,
    /// Action commands that failed on a ticket (for the metrics).
    action_errors: AtomicU64,
    /// Lines read, lines with a failure, lines an ignoreregex hit (for
    /// the metrics).
    lines: [AtomicU64; 3],
    /// When the filter handed each queued ticket over for a ban, for the
    /// ban latency (taken off when the actions thread takes the ticket).
    queued_at: Mutex<HashMap<String, Instant>>,
    /// Each log file's read position as last saved (every
    /// `POSITION_INTERVAL`), for the metrics' lag.
    read_positions: Mutex<Vec<(PathBuf, u64)>>,
    /// `actionengine = shell` (false): every action runs fail2ban's
    /// per-address commands, no batches.
    batching: AtomicBool,
    /// `kerneltimeout = true`: bans carry kernel-side timeouts where the
    /// actions can give them (see `Jail::firewall_timeout`).
    kernel_timeout: AtomicBool,
    /// The time of the next reconcile, if one is planned: 2 s after start,
    /// at a reload, a minute after an action failed on a ban. The actions
    /// thread runs it once the queued bans are applied.
    reconcile_at: Mutex<Option<f64>>,
    /// `fleet`, `fleetjails`, `fleetcount` (gaoler-fleet).
    fleet: Mutex<gaoler_fleet::JailFleet>,
}

fn json_to_string(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        Json::Array(a) => a.iter().map(json_to_string).collect::<Vec<_>>().join("\n"),
        other => other.to_string(),
    }
}

fn filter_value_to_json(v: &gaoler_filter::Value) -> Json {
    use gaoler_filter::Value as V;
    match v {
        V::Str(s) => Json::String(s.to_string()),
        V::Tuple(t) => Json::Array(
            t.iter()
                .map(|x| x.clone().map(Json::String).unwrap_or(Json::Null))
                .collect(),
        ),
        V::Set(s) => Json::Array(s.iter().map(|x| Json::String(x.to_string())).collect()),
        V::Lines(l) => Json::Array(l.iter().cloned().map(Json::String).collect()),
        V::Int(i) => json!(i),
        V::Addr(a) => Json::String(a.to_string()),
    }
}

/// A failure data field for the FailManager: strings as they are, other
/// values as JSON.
fn field_value(v: &gaoler_filter::Value) -> FieldValue<'_> {
    match v {
        gaoler_filter::Value::Str(s) => FieldValue::Str(s.as_str()),
        other => FieldValue::Json(filter_value_to_json(other)),
    }
}

/// A filter failure's data fields for the FailManager (`matches` are the
/// lines, passed apart).
fn failure_data(f: &gaoler_filter::Failure) -> impl Iterator<Item = (&str, FieldValue<'_>)> {
    f.data
        .iter()
        .filter(|(k, _)| k.as_str() != "matches")
        .map(|(k, v)| (k.as_str(), field_value(v)))
}

/// Settings read once per batch of lines rather than for every failure.
pub(crate) struct Batch {
    /// The jail's `ignorecommand`, if any.
    ignorecommand: Option<String>,
    /// `bantime.increment`, when on.
    inc: Option<BanTimeIncrement>,
}

/// A batch's lines: read, with a failure, hit by an ignoreregex.
#[derive(Default)]
pub(crate) struct LineCounts {
    read: u64,
    matched: u64,
    ignored: u64,
}

impl LineCounts {
    fn add(&mut self, out: &gaoler_filter::LineOutcome) {
        self.read += 1;
        self.matched += u64::from(!out.failures.is_empty());
        self.ignored += u64::from(!out.ignored_by.is_empty());
    }
}

/// The tags a ticket's ID gives (`ip`, `fid`, `family`, ...); `ip` is the
/// captured address where the filter's ID is something else.
fn id_info(t: &Ticket) -> ActionInfo {
    let mut info = ActionInfo::for_id(&t.id);
    if let Some(Json::String(ip)) = t.data.get("ip") {
        info.set("ip", ip.clone());
    }
    info
}

/// The ticket of a filter failure, for the ignore command and cache (their
/// tags read the data fields).
fn failure_ticket(f: &gaoler_filter::Failure, id: &Addr, time: f64) -> Ticket {
    let mut data = Map::new();
    for (k, v) in &f.data {
        if k != "matches" {
            data.insert(k.to_string(), filter_value_to_json(v));
        }
    }
    Ticket::new(id.to_string(), time)
        .with_matches(f.matches().to_vec())
        .with_data(data)
}

/// What [`Jail::decide`] leaves to do outside the fail lock.
struct AddOutcome {
    /// Boxed: the outcome is moved for every failure, a ticket rarely.
    ticket: Option<Box<Ticket>>,
    cleaned: usize,
    evictions: Option<gaoler_ban::EvictionReport>,
}

/// A cleanup that drops at least this many tickets asks the allocator to
/// return free memory to the system.
const RELEASE_AFTER: usize = 10_000;

/// The process's allocator hook that returns free memory to the system
/// (set by the binary: `mi_collect` for mimalloc). Freed pages of a large
/// cleanup would otherwise stay with the filter thread's heap until that
/// thread allocates again, which an idle jail may not do for hours.
static RELEASE_MEMORY: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Installs the hook that the jails call to give freed memory back to the
/// system after a big cleanup (once per process).
pub fn set_release_memory_hook(f: fn()) {
    let _ = RELEASE_MEMORY.set(f);
}

fn release_memory() {
    if let Some(f) = RELEASE_MEMORY.get() {
        f();
    }
}

/// `sh -c` quoting for one value substituted into `ignorecommand`.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn run_ignore_command(template: &str, id: &str, ticket: Option<&Ticket>) -> bool {
    let mut cmd = template.replace("<ip>", &shell_quote(id));
    cmd = cmd.replace("<fid>", &shell_quote(id));
    if let Some(t) = ticket {
        for (k, v) in &t.data {
            let tag = format!("<F-{}>", k.to_ascii_uppercase());
            cmd = cmd.replace(&tag, &shell_quote(&json_to_string(v)));
        }
    }
    std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&cmd)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.code() == Some(0))
        .unwrap_or(false)
}

/// An id as a `Found` line writes it (an address without going through
/// `Display` for every octet).
trait FoundId {
    fn push_to(&self, out: &mut String);
}

impl FoundId for Addr {
    fn push_to(&self, out: &mut String) {
        Addr::push_to(self, out);
    }
}

impl FoundId for String {
    fn push_to(&self, out: &mut String) {
        out.push_str(self);
    }
}

impl Jail {
    /// Change the filter configuration; the filter thread rebuilds its
    /// filter when it sees the new generation.
    /// A source could not be read: log it and back off one poll interval.
    fn source_failed(&self, e: &dyn std::fmt::Display) {
        self.log(
            level::ERROR,
            "fail2ban.filter",
            format!("[{}] {e}", self.name),
        );
        std::thread::sleep(FILTER_POLL);
    }

    pub(crate) fn update_conf(&self, f: impl FnOnce(&mut FilterConf)) {
        let mut c = lock(&self.conf);
        f(&mut c);
        c.generation += 1;
    }

    pub(crate) fn new(name: &str, backend: &str, ctx: Arc<Ctx>) -> Arc<Jail> {
        let mut ignore = IgnoreList::new();
        ignore.set_self_ips(gaoler_addr::host::own_addresses());
        Arc::new_cyclic(|me| Jail {
            me: me.clone(),
            name: name.to_owned(),
            backend: backend.to_owned(),
            ctx,
            conf: Mutex::new(FilterConf::default()),
            fail: Mutex::new(FailState {
                fm: FailManager::new(3, 600.0, 0),
                ignore,
            }),
            bans: Mutex::new(BanState {
                bm: BanManager::new(600.0),
                queue: VecDeque::new(),
            }),
            wake: Condvar::new(),
            actions: Mutex::new(Vec::new()),
            inc: Mutex::new(BanTimeIncrement::default()),
            ban_extra: Mutex::new(Map::new()),
            active: AtomicBool::new(false),
            started: AtomicBool::new(false),
            idle: AtomicBool::new(false),
            batching: AtomicBool::new(true),
            kernel_timeout: AtomicBool::new(false),
            reconcile_at: Mutex::new(None),
            threads: Mutex::new(Vec::new()),
            reload: Mutex::new(None),
            files: Mutex::new(Vec::new()),
            refused: Mutex::new(BTreeSet::new()),
            actions_ready: Mutex::new(false),
            actions_ready_cv: Condvar::new(),
            last_check: Mutex::new(0.0),
            unevaluated: AtomicU64::new(0),
            action_errors: AtomicU64::new(0),
            lines: Default::default(),
            queued_at: Mutex::new(HashMap::new()),
            read_positions: Mutex::new(Vec::new()),
            fleet: Mutex::new(gaoler_fleet::JailFleet {
                name: name.to_owned(),
                ..Default::default()
            }),
        })
    }

    /// The jail's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Its backend as configured (`auto`, `polling`, `systemd[...]`, ...).
    pub fn backend(&self) -> &str {
        &self.backend
    }
    /// Whether it reads the systemd journal rather than files.
    pub fn is_journal(&self) -> bool {
        self.backend.split('[').next().unwrap_or("").trim() == "systemd"
    }
    /// Whether its threads are running (started and not stopped).
    pub fn is_alive(&self) -> bool {
        self.active.load(Ordering::SeqCst)
    }

    fn log(&self, l: i32, logger: &str, msg: impl AsRef<str>) {
        self.ctx.log(l, logger, msg);
    }

    pub(crate) fn bump_generation(&self) {
        lock(&self.conf).generation += 1;
    }

    // ------------------------------------------------------------------
    // lifecycle

    /// Starts the filter and actions threads, then queues the bans restored
    /// from the database (fail2ban's `Jail.start`).
    pub(crate) fn start(self: &Arc<Self>) {
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        self.active.store(true, Ordering::SeqCst);
        let mut threads = lock(&self.threads);
        type Body = fn(Arc<Jail>);
        let loops: [(&str, &str, Body); 2] = [
            ("f", "filter", |j| j.filter_loop()),
            ("a", "actions", |j| j.actions_loop()),
        ];
        for (tag, what, body) in loops {
            let j = Arc::clone(self);
            match std::thread::Builder::new()
                .name(format!("f2b/{tag}.{}", self.name))
                .spawn(move || body(j))
            {
                Ok(h) => threads.push(h),
                Err(e) => self.log(
                    level::ERROR,
                    "fail2ban.jail",
                    format!("Cannot start {what} thread of jail '{}': {e}", self.name),
                ),
            }
        }
        drop(threads);
        self.restore_current_bans();
        // (a moment after the restored bans are in: listing a large set
        // competes with the restore's own firewall transaction)
        self.plan_reconcile(START_RECONCILE_DELAY);
        self.log(
            level::INFO,
            "fail2ban.jail",
            format!("Jail '{}' started", self.name),
        );
    }

    /// Signals both threads to stop (first half of a stop).
    pub(crate) fn signal_stop(&self) {
        self.active.store(false, Ordering::SeqCst);
        let _g = lock(&self.bans);
        self.wake.notify_all();
    }

    /// Waits for the threads (second half of a stop). The actions thread
    /// is always waited for (its commands have their own timeouts, and the
    /// firewall must be cleaned up); the filter thread only for
    /// [`FILTER_JOIN_TIMEOUT`]: a log source stuck in a system call (a
    /// hung network file system, a device) must not make `stop` hang, so
    /// such a thread is left behind with an ERROR.
    pub(crate) fn join(&self) {
        let threads: Vec<JoinHandle<()>> = lock(&self.threads).drain(..).collect();
        let had = !threads.is_empty();
        for h in threads {
            let is_filter = h.thread().name().is_some_and(|n| n.starts_with("f2b/f."));
            if is_filter {
                if !join_within(h, FILTER_JOIN_TIMEOUT) {
                    self.log(
                        level::ERROR,
                        "fail2ban.jail",
                        format!(
                            "Jail '{}': its filter thread did not stop within {} s (blocked reading a log source); leaving it behind",
                            self.name,
                            FILTER_JOIN_TIMEOUT.as_secs()
                        ),
                    );
                }
            } else {
                let _ = h.join();
            }
        }
        if had || self.started.load(Ordering::SeqCst) {
            self.log(
                level::INFO,
                "fail2ban.jail",
                format!("Jail '{}' stopped", self.name),
            );
        }
    }

    fn restore_current_bans(&self) {
        let now = self.ctx.clock.now();
        let bantime = lock(&self.bans).bm.ban_time();
        let inc = lock(&self.inc).clone();
        let maxmatches = lock(&self.fail).fm.max_matches();
        let rows = {
            let db = self.ctx.db();
            let Some(db) = db.as_ref() else { return };
            match db.current_bans(
                &self.name,
                &RestoreRule::new(bantime, &inc),
                maxmatches,
                now,
            ) {
                Ok(r) => r,
                Err(e) => {
                    self.log(
                        level::ERROR,
                        "fail2ban.jail",
                        format!("Jail '{}': cannot restore bans: {e}", self.name),
                    );
                    return;
                }
            }
        };
        let mut tickets = Vec::new();
        for t in rows {
            if self.is_ignored(&t.id, None, now) {
                continue;
            }
            tickets.push(t);
        }
        if !tickets.is_empty() {
            let mut b = lock(&self.bans);
            b.queue.extend(tickets);
            self.wake.notify_all();
        }
    }

    // ------------------------------------------------------------------
    // ignore check and failures

    /// The ignore check's reason, if `id` is to be ignored (nothing
    /// logged).
    fn ignore_reason(
        &self,
        id: &str,
        ticket: Option<&Ticket>,
        now: f64,
    ) -> Option<gaoler_ban::IgnoreReason> {
        let cmd = lock(&self.conf).ignorecommand.clone();
        let mut f = lock(&self.fail);
        let runner = |i: &str, t: Option<&Ticket>| run_ignore_command(&cmd, i, t);
        let command: Option<&dyn gaoler_ban::IgnoreCommand> = if cmd.trim().is_empty() {
            None
        } else {
            Some(&runner)
        };
        f.ignore.check(id, ticket, now, &SystemResolver, command)
    }

    /// The ignore check; logs `[J] Ignore <id> by <reason>` on a hit.
    pub(crate) fn is_ignored(&self, id: &str, ticket: Option<&Ticket>, now: f64) -> bool {
        match self.ignore_reason(id, ticket, now) {
            Some(r) => {
                self.log(
                    level::INFO,
                    "fail2ban.filter",
                    format!("[{}] Ignore {id} by {r}", self.name),
                );
                true
            }
            None => false,
        }
    }

    /// One failure given as a ticket (`set J attempt`): fail2ban's
    /// `processLineAndAdd` for an id that is text.
    fn add_failure_ticket(&self, mut ticket: Ticket, count: u32, now: f64) {
        // A failure in the future is one that happens now.
        if ticket.time > now {
            ticket.time = now;
        }
        let id = ticket.id.clone();
        let time = ticket.time;
        if self.is_ignored(&id, Some(&ticket), now) {
            return;
        }
        self.log_found(&id, time, false);
        let inc = self.increment();
        let history = inc.as_ref().and_then(|_| self.ban_history(&id));
        let to_ban = {
            let mut f = lock(&self.fail);
            let retry = f.fm.add_failure(ticket, count);
            self.decide(&mut f, id.as_str(), retry, time, inc.as_ref(), history, now)
        };
        self.after_add(to_ban);
    }

    /// One failure found by the filter (fail2ban's `processLineAndAdd`),
    /// on the ingest path: nothing is formatted, cloned or allocated for
    /// the id unless a log line, the ignore command or cache, or
    /// `bantime.increment` needs it, and the FailManager takes the lines
    /// and data fields as the filter left them.
    fn add_filter_failure(&self, f: &gaoler_filter::Failure, id: &Addr, now: f64, batch: &Batch) {
        // A failure in the future is one that happens now.
        let time = f.time.unwrap_or(now).min(now);
        if batch.ignorecommand.is_none() && batch.inc.is_none() {
            // The common case: the ignore check needs no ticket and no
            // history is looked up, so the check and the count share one
            // lock; the log lines follow, before any ban is queued.
            let mut st = lock(&self.fail);
            if !st.ignore.uses_ticket() {
                let reason = st.ignore.check_addr(id, now, &SystemResolver);
                let out = match reason {
                    Some(_) => None,
                    None => {
                        let retry = st.fm.add(id, time, 1, 1, f.matches(), failure_data(f));
                        Some(self.decide(&mut st, id, retry, time, None, None, now))
                    }
                };
                drop(st);
                if let Some(r) = reason {
                    self.log_ignored(id, &r);
                }
                if let Some(out) = out {
                    self.log_found(id, time, true);
                    self.after_add(out);
                }
                return;
            }
        }
        let ignored = match &batch.ignorecommand {
            None if !lock(&self.fail).ignore.uses_ticket() => {
                let reason = lock(&self.fail).ignore.check_addr(id, now, &SystemResolver);
                if let Some(r) = &reason {
                    self.log_ignored(id, r);
                }
                reason.is_some()
            }
            _ => {
                let ticket = failure_ticket(f, id, time);
                self.is_ignored(&ticket.id, Some(&ticket), now)
            }
        };
        if ignored {
            return;
        }
        self.log_found(id, time, true);
        let inc = batch.inc.as_ref();
        let history = inc.and_then(|_| self.ban_history(&id.to_string()));
        let out = {
            let mut st = lock(&self.fail);
            let retry = st.fm.add(id, time, 1, 1, f.matches(), failure_data(f));
            self.decide(&mut st, id, retry, time, inc, history, now)
        };
        self.after_add(out);
    }

    fn log_ignored(&self, id: &Addr, r: &gaoler_ban::IgnoreReason) {
        self.log(
            level::INFO,
            "fail2ban.filter",
            format!("[{}] Ignore {id} by {r}", self.name),
        );
    }

    /// `[J] Found <id> - <time>`; `deferred` on the filter thread, which
    /// writes the lines it kept back after each batch of lines (see
    /// [`Logger::log_deferred`]).
    fn log_found(&self, id: &dyn FoundId, time: f64, deferred: bool) {
        let logger = &self.ctx.logger;
        if logger.enabled(level::INFO) {
            let mut msg = String::with_capacity(64);
            msg.push('[');
            msg.push_str(&self.name);
            msg.push_str("] Found ");
            id.push_to(&mut msg);
            msg.push_str(" - ");
            crate::log::push_time2str(&mut msg, time);
            if deferred {
                logger.log_deferred(level::INFO, "fail2ban.filter", &msg);
            } else {
                logger.log(level::INFO, "fail2ban.filter", &msg);
            }
        }
    }

    /// `bantime.increment`, when it is on.
    fn increment(&self) -> Option<BanTimeIncrement> {
        let inc = lock(&self.inc);
        inc.enabled.then(|| inc.clone())
    }

    fn ban_history(&self, id: &str) -> Option<gaoler_ban::BanHistory> {
        self.ctx
            .db()
            .as_ref()
            .and_then(|db| self.history_in(db, id, false))
    }

    /// An id's ban history in the database: this host's (the jail's, or
    /// all jails' with `overall`), merged with the other hosts' with
    /// `fleetcount = fleet` (read from the local copy the fleet thread
    /// keeps, never from PostgreSQL: this runs on the jail's threads).
    fn history_in(&self, db: &Store, id: &str, overall: bool) -> Option<gaoler_ban::BanHistory> {
        let local = db.ban_history(id, Some(&self.name), overall).ok().flatten();
        let f = lock(&self.fleet).clone();
        if f.count != gaoler_fleet::Count::Fleet {
            return local;
        }
        let jails = f.history_jails();
        let fleet = db
            .fleet_history(id, if overall { None } else { Some(&jails) })
            .ok()
            .flatten();
        fleet::merge_history(local, fleet)
    }

    /// After a failure was counted (fail lock held): the extra count of a
    /// known bad id, the hand-over of an id that reached maxretry, the
    /// periodic cleanup. Returns the ticket to ban, how many tickets the
    /// cleanup dropped, and the cap's eviction report if one is due.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn decide<I: gaoler_ban::FailId + ?Sized>(
        &self,
        f: &mut FailState,
        id: &I,
        retry: u32,
        time: f64,
        inc: Option<&BanTimeIncrement>,
        history: Option<gaoler_ban::BanHistory>,
        now: f64,
    ) -> AddOutcome {
        let mut ban = retry >= f.fm.max_retry();
        if let Some(inc) = inc {
            if let Some(k) = f.fm.apply_history(id, time, history.as_ref(), inc) {
                ban |= k.ban;
            }
        }
        AddOutcome {
            ticket: if ban {
                f.fm.to_ban(Some(id)).map(Box::new)
            } else {
                None
            },
            cleaned: f.fm.service(now, false).unwrap_or(0),
            evictions: f.fm.eviction_report(now),
        }
    }

    /// Side effects of [`Jail::decide`], outside the fail lock.
    fn after_add(&self, out: AddOutcome) {
        if let Some(t) = out.ticket {
            lock(&self.queued_at).insert(t.id.clone(), Instant::now());
            self.queue_ticket(*t);
        }
        self.after_cleanup(out.cleaned);
        if let Some(r) = out.evictions {
            self.warn_evictions(&r);
        }
    }

    /// A large cleanup freed memory: have the allocator give it back.
    fn after_cleanup(&self, cleaned: usize) {
        if cleaned >= RELEASE_AFTER {
            release_memory();
        }
    }

    fn warn_evictions(&self, r: &gaoler_ban::EvictionReport) {
        self.log(
            level::WARNING,
            "fail2ban.filter",
            format!(
                "[{}] Too many addresses to track (maxtracked = {}): forgot the {} closest \
                 to expiry since the last warning, {} in total, {} tracked; raise \
                 maxtracked or lower findtime if this is no attack",
                self.name, r.max_tracked, r.evicted, r.total, r.tracked
            ),
        );
    }

    /// Hands a ticket to the actions thread and wakes it.
    pub(crate) fn queue_ticket(&self, t: Ticket) {
        let mut b = lock(&self.bans);
        b.queue.push_back(t);
        self.wake.notify_all();
    }

    /// `set J attempt ip [msg...]`: one failure now, counting
    /// `len(msgs) or 1` attempts. Returns the jail's failure count for
    /// the id afterwards (0 when it was handed over for a ban).
    pub(crate) fn add_attempt(&self, ip: &str, msgs: &[String]) -> u32 {
        let now = self.ctx.clock.now();
        let id = Addr::parse(ip).to_string();
        let mut t = Ticket::new(id.clone(), now).with_matches(msgs.to_vec());
        let count = (msgs.len() as u32).max(1);
        t.failures = count;
        self.add_failure_ticket(t, count, now);
        lock(&self.fail).fm.retry(id.as_str()).unwrap_or(0)
    }

    // ------------------------------------------------------------------
    // filter thread
}

/// A number in [0, 1) for `bantime.rndtime` (no cryptographic need: it
/// only blurs unban times).
fn rand_unit() -> f64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Joins `h` if it ends within `timeout`; otherwise leaves it running
/// (detached) and returns false.
fn join_within(h: JoinHandle<()>, timeout: Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while !h.is_finished() {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = h.join();
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_within_gives_up_on_a_stuck_thread() {
        let quick = std::thread::spawn(|| {});
        assert!(join_within(quick, Duration::from_secs(5)));
        // A thread stuck for good (as in a blocking open of a FIFO).
        let (_keep, rx) = std::sync::mpsc::channel::<()>();
        let stuck = std::thread::spawn(move || {
            let _ = rx.recv();
        });
        let start = std::time::Instant::now();
        assert!(!join_within(stuck, Duration::from_millis(200)));
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn rand_is_in_range() {
        for _ in 0..100 {
            let r = rand_unit();
            assert!((0.0..1.0).contains(&r));
        }
    }
}
