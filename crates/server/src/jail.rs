//! One jail at run time: fail2ban's `Jail`, its `Filter` thread and its
//! `Actions` thread.
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
use gaoler_filter::{Filter, FilterSpec, TupleLine, UseDns};
use gaoler_jail::{
    already_banned_level, is_permanent, AddBan, AlreadyBannedLevel, BanManager, BanTimeIncrement,
    FailManager, FieldValue, IgnoreList, Resolver, RestoreRule, Ticket, BAN_PER_ROUND,
    BATCH_PER_ROUND, UNBAN_PER_CHECK,
};
use gaoler_source::{
    FileSource, JournalOptions, JournalSource, JournalStart, Position, SourceOptions, StartAt,
};
use gaoler_store::Store;
use serde_json::{json, Map, Value as Json};

use crate::fleet::{self, origin_of};
use crate::log::{level, time2str, Logger};
use crate::Clock;

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

/// Filter-side settings, as the transmitter sets them.
#[derive(Debug, Clone)]
pub(crate) struct FilterConf {
    pub prefregex: Option<String>,
    pub failregex: Vec<String>,
    pub ignoreregex: Vec<String>,
    pub maxlines: usize,
    pub datepattern: Option<String>,
    pub logtimezone: Option<String>,
    pub usedns: String,
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
            prefregex: None,
            failregex: Vec::new(),
            ignoreregex: Vec::new(),
            maxlines: 1,
            datepattern: None,
            logtimezone: None,
            usedns: "warn".into(),
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
            prefregex: self.prefregex.clone(),
            failregex: self.failregex.clone(),
            ignoreregex: self.ignoreregex.clone(),
            maxlines: self.maxlines.max(1),
            datepattern: self.datepattern.clone(),
            logtimezone: self.logtimezone.clone(),
            usedns: self.usedns.parse().unwrap_or(UseDns::Warn),
            check_find_time: Some(self.findtime),
            ..FilterSpec::default()
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
    pub(crate) conf: Mutex<FilterConf>,
    pub(crate) fail: Mutex<FailState>,
    pub(crate) bans: Mutex<BanState>,
    wake: Condvar,
    pub(crate) actions: Mutex<Vec<ActionEntry>>,
    pub(crate) inc: Mutex<BanTimeIncrement>,
    /// `bantime.*` values as set, for `get J bantime.X`.
    pub(crate) ban_extra: Mutex<Map<String, Json>>,
    active: AtomicBool,
    started: AtomicBool,
    pub(crate) idle: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
    pub(crate) reload: Mutex<Option<ReloadState>>,
    /// Files the filter thread tracks (for `status`).
    files: Mutex<Vec<String>>,
    /// Python actions that were refused (their later settings are ignored).
    pub(crate) refused: Mutex<BTreeSet<String>>,
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
struct LineCounts {
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
    evictions: Option<gaoler_jail::EvictionReport>,
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
    ) -> Option<gaoler_jail::IgnoreReason> {
        let cmd = lock(&self.conf).ignorecommand.clone();
        let mut f = lock(&self.fail);
        let runner = |i: &str, t: Option<&Ticket>| run_ignore_command(&cmd, i, t);
        let command: Option<&dyn gaoler_jail::IgnoreCommand> = if cmd.trim().is_empty() {
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

    fn log_ignored(&self, id: &Addr, r: &gaoler_jail::IgnoreReason) {
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

    fn ban_history(&self, id: &str) -> Option<gaoler_jail::BanHistory> {
        self.ctx
            .db()
            .as_ref()
            .and_then(|db| self.history_in(db, id, false))
    }

    /// An id's ban history in the database: this host's (the jail's, or
    /// all jails' with `overall`), merged with the other hosts' with
    /// `fleetcount = fleet` (read from the local copy the fleet thread
    /// keeps, never from PostgreSQL: this runs on the jail's threads).
    fn history_in(&self, db: &Store, id: &str, overall: bool) -> Option<gaoler_jail::BanHistory> {
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
    fn decide<I: gaoler_jail::FailId + ?Sized>(
        &self,
        f: &mut FailState,
        id: &I,
        retry: u32,
        time: f64,
        inc: Option<&BanTimeIncrement>,
        history: Option<gaoler_jail::BanHistory>,
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

    fn warn_evictions(&self, r: &gaoler_jail::EvictionReport) {
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

    fn filter_loop(self: Arc<Self>) {
        if self.is_journal() {
            self.journal_loop();
        } else {
            self.file_loop();
        }
    }

    fn build_filter(&self, conf: &FilterConf) -> Option<Filter> {
        match Filter::new(conf.spec()) {
            Ok(f) => Some(f),
            Err(e) => {
                self.log(
                    level::ERROR,
                    "fail2ban.filter",
                    format!("[{}] Unable to compile filter: {e}", self.name),
                );
                None
            }
        }
    }

    fn stored_positions(&self) -> Vec<Position> {
        let db = self.ctx.db();
        let Some(db) = db.as_ref() else {
            return Vec::new();
        };
        let paths = db.log_paths(Some(&self.name)).unwrap_or_default();
        paths
            .into_iter()
            .filter_map(|p| {
                let pos = db.log_position(&self.name, &p).ok().flatten()?;
                Some(Position {
                    path: PathBuf::from(&p),
                    first_line_hash: pos.hash.unwrap_or_default(),
                    pos: pos.pos.max(0.0) as u64,
                })
            })
            .collect()
    }

    /// Write the positions that moved since the last save (`saved`): an idle
    /// jail writes nothing.
    fn save_positions(&self, src: &FileSource, saved: &mut Vec<gaoler_source::Position>) {
        let mut now = src.positions();
        *lock(&self.read_positions) = now.iter().map(|p| (p.path.clone(), p.pos)).collect();
        let db = self.ctx.db();
        let Some(db) = db.as_ref() else { return };
        let mut failed = Vec::new();
        for p in now.iter().filter(|p| !saved.contains(p)) {
            let path = p.path.to_string_lossy();
            if let Err(e) = db.update_log(&self.name, &path, p.pos, Some(&p.first_line_hash)) {
                failed.push(p.clone());
                self.log(
                    level::ERROR,
                    "fail2ban.filter",
                    format!("[{}] cannot save position of {path}: {e}", self.name),
                );
            }
        }
        // What failed is tried again next time.
        now.retain(|p| !failed.contains(p));
        *saved = now;
    }

    fn sync_paths(
        &self,
        src: &mut FileSource,
        applied: &mut Vec<String>,
        want: &[(String, StartAt)],
    ) {
        for old in applied.clone() {
            if !want.iter().any(|(p, _)| *p == old) {
                src.remove_path(&old);
                applied.retain(|p| *p != old);
                self.log(
                    level::INFO,
                    "fail2ban.filter",
                    format!("Removed logfile: '{old}'"),
                );
            }
        }
        let stored = self.stored_positions();
        for (p, start) in want {
            if applied.contains(p) {
                continue;
            }
            match src.add_path(p, *start, &stored) {
                Ok(added) => {
                    let positions = src.positions();
                    for a in added {
                        let (pos, hash) = positions
                            .iter()
                            .find(|x| x.path == a)
                            .map(|x| (x.pos, x.first_line_hash.clone()))
                            .unwrap_or((0, String::new()));
                        self.log(
                            level::INFO,
                            "fail2ban.filter",
                            format!(
                                "Added logfile: '{}' (pos = {pos}, hash = {hash})",
                                a.display()
                            ),
                        );
                    }
                    if let Some(db) = self.ctx.db().as_ref() {
                        for x in src.positions().iter().filter(|x| Path::new(p) == x.path) {
                            let _ = db.add_log(
                                &self.name,
                                &x.path.to_string_lossy(),
                                x.pos,
                                Some(&x.first_line_hash),
                            );
                        }
                    }
                }
                Err(e) => self.log(
                    level::ERROR,
                    "fail2ban.filter",
                    format!("[{}] cannot watch {p}: {e}", self.name),
                ),
            }
            applied.push(p.clone());
        }
        *lock(&self.files) = src
            .paths()
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
    }

    fn file_loop(&self) {
        let backend =
            gaoler_source::Backend::parse(&self.backend).unwrap_or(gaoler_source::Backend::Polling);
        let conf = lock(&self.conf).clone();
        let mut src = match FileSource::new(SourceOptions {
            backend,
            encoding: conf.encoding.clone(),
            ..SourceOptions::default()
        }) {
            Ok(s) => s,
            Err(e) => {
                self.log(
                    level::ERROR,
                    "fail2ban.filter",
                    format!("[{}] cannot create log source: {e}", self.name),
                );
                return;
            }
        };
        // Head start without a stored position: skip to now - findtime.
        {
            let findtime = conf.findtime;
            let clock = Arc::clone(&self.ctx.clock);
            let mut dd = gaoler_datedetector::DateDetector::new(conf.datepattern.as_deref()).ok();
            src.set_head_seek(Some(Box::new(move |probe| {
                let dd = dd.as_mut()?;
                let now = clock.now();
                gaoler_source::seek_to_time(probe, now - findtime, |line| {
                    dd.find(line, now).and_then(|h| h.time)
                })
                .ok()
            })));
        }
        let mut generation = conf.generation;
        let mut filter = self.build_filter(&conf);
        let mut applied = Vec::new();
        self.sync_paths(&mut src, &mut applied, &conf.logpaths);
        let mut last_save = Instant::now();
        let mut saved = Vec::new();
        let mut encoding = conf.encoding.clone();
        while self.is_alive() {
            // Idle includes a reload in progress: the settings are being
            // replaced, so neither read lines nor re-sync paths until the
            // reload commits (a path removed and re-added mid-reload would
            // lose its position).
            if self.idle.load(Ordering::SeqCst) {
                std::thread::sleep(FILTER_POLL);
                continue;
            }
            {
                let c = lock(&self.conf);
                if c.generation != generation {
                    let c = c.clone();
                    generation = c.generation;
                    filter = self.build_filter(&c);
                    if c.encoding != encoding {
                        encoding = c.encoding.clone();
                        if let Err(e) = src.set_encoding(&encoding) {
                            self.log(level::ERROR, "fail2ban.filter", format!("{e}"));
                        }
                    }
                    self.sync_paths(&mut src, &mut applied, &c.logpaths);
                }
            }
            let lines = match src.poll(FILTER_POLL) {
                Ok(l) => l,
                Err(e) => {
                    self.source_failed(&e);
                    continue;
                }
            };
            if let Some(f) = filter.as_mut() {
                let batch = self.batch();
                // One clock reading per batch: a poll returns what was
                // there to read at once (at most `max_batch` lines, a few
                // ms of work), and reading the clock per line cost 2 % of
                // the ingest of an address spray.
                let now = self.ctx.clock.now();
                let mut counts = LineCounts::default();
                for line in &lines {
                    if !self.is_alive() {
                        break;
                    }
                    f.set_in_operation(!line.catching_up);
                    let out = f.process_line_detailed(&line.text, now);
                    self.note_unevaluated(&out);
                    counts.add(&out);
                    self.handle_failures(out.failures, now, &batch);
                }
                self.count_lines(counts);
                self.ctx.logger.flush_deferred();
            }
            if last_save.elapsed() >= POSITION_INTERVAL {
                self.save_positions(&src, &mut saved);
                last_save = Instant::now();
                self.service_idle();
            }
        }
        self.save_positions(&src, &mut saved);
    }

    fn journal_loop(&self) {
        let conf = lock(&self.conf).clone();
        let findtime = Duration::from_secs_f64(conf.findtime.max(0.0));
        let saved = self
            .ctx
            .db()
            .as_ref()
            .and_then(|db| db.journal_position(&self.name).ok().flatten());
        let mut opts = JournalOptions::new(JournalStart::resume(saved, findtime));
        opts.matches = conf.journalmatches.clone();
        if let Some(j) = &self.ctx.journalctl {
            opts.journalctl = j.clone();
        }
        opts.encoding = conf.encoding.clone();
        opts.not_before = std::time::SystemTime::now().checked_sub(findtime);
        let (_, bopts) = crate::split_options(&self.backend);
        match gaoler_source::journal_args_from_options(&bopts) {
            Ok(a) => opts.extra_args = a,
            Err(e) => self.log(
                level::ERROR,
                "fail2ban.filter",
                format!("[{}] {e}", self.name),
            ),
        }
        let mut src = match JournalSource::spawn(opts) {
            Ok(s) => s,
            Err(e) => {
                self.log(
                    level::ERROR,
                    "fail2ban.filter",
                    format!("[{}] cannot read the journal: {e}", self.name),
                );
                return;
            }
        };
        let mut generation = conf.generation;
        let mut filter = self.build_filter(&conf);
        let mut last_save = Instant::now();
        while self.is_alive() {
            {
                let c = lock(&self.conf);
                if c.generation != generation {
                    generation = c.generation;
                    let c = c.clone();
                    filter = self.build_filter(&c);
                }
            }
            let lines = match src.poll(FILTER_POLL) {
                Ok(l) => l,
                Err(e) => {
                    self.source_failed(&e);
                    continue;
                }
            };
            if self.idle.load(Ordering::SeqCst) {
                continue;
            }
            if let Some(f) = filter.as_mut() {
                let batch = self.batch();
                let mut counts = LineCounts::default();
                for line in lines {
                    let now = self.ctx.clock.now();
                    f.set_in_operation(!line.catching_up);
                    let tuple = TupleLine {
                        prefix: String::new(),
                        date: format!("{} ", line.iso_time),
                        suffix: line.text,
                    };
                    let out = f.process_line_with_date_detailed(tuple, line.time, now);
                    self.note_unevaluated(&out);
                    counts.add(&out);
                    self.handle_failures(out.failures, now, &batch);
                }
                self.count_lines(counts);
                self.ctx.logger.flush_deferred();
            }
            if last_save.elapsed() >= POSITION_INTERVAL {
                self.save_journal_position(&src);
                last_save = Instant::now();
                self.service_idle();
            }
        }
        self.save_journal_position(&src);
        src.stop();
    }

    fn save_journal_position(&self, src: &JournalSource) {
        if let (Some(p), Some(db)) = (src.position(), self.ctx.db().as_ref()) {
            let _ = db.update_journal(&self.name, p.time, &p.iso_time);
        }
    }

    /// Count a line the filter could not evaluate; the jail's first one is
    /// logged with the reason (an attacker can send many).
    fn note_unevaluated(&self, out: &gaoler_filter::LineOutcome) {
        let Some(reason) = &out.unevaluated else {
            return;
        };
        if self.unevaluated.fetch_add(1, Ordering::Relaxed) == 0 {
            self.log(
                level::ERROR,
                "fail2ban.filter",
                format!(
                    "[{}] A line could not be evaluated: {reason}; further ones are only \
                     counted (get {} unevaluated)",
                    self.name, self.name
                ),
            );
        }
    }

    /// Lines no regex could finish its search on, since the jail started.
    /// Adds a batch's line counts to the jail's (one atomic add each per
    /// batch, not per line).
    fn count_lines(&self, c: LineCounts) {
        for (total, n) in self.lines.iter().zip([c.read, c.matched, c.ignored]) {
            if n > 0 {
                total.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn unevaluated(&self) -> u64 {
        self.unevaluated.load(Ordering::Relaxed)
    }

    /// The settings of the next batch of lines.
    fn batch(&self) -> Batch {
        let cmd = lock(&self.conf).ignorecommand.clone();
        Batch {
            ignorecommand: (!cmd.trim().is_empty()).then_some(cmd),
            inc: self.increment(),
        }
    }

    /// The cleanup when no line comes (fail2ban's every-10-polls service):
    /// expired failures go, and their memory with them.
    fn service_idle(&self) {
        let cleaned = lock(&self.fail)
            .fm
            .service(self.ctx.clock.now(), false)
            .unwrap_or(0);
        self.after_cleanup(cleaned);
    }

    fn handle_failures(&self, fails: Vec<gaoler_filter::Failure>, now: f64, batch: &Batch) {
        for f in &fails {
            if !f.is_real() {
                continue;
            }
            let Some(id) = f.id.as_ref() else { continue };
            self.add_filter_failure(f, id, now, batch);
        }
    }

    // ------------------------------------------------------------------
    // actions thread

    fn actions_loop(&self) {
        {
            let mut acts = lock(&self.actions);
            for a in acts.iter_mut() {
                self.start_action(a);
            }
        }
        *lock(&self.actions_ready) = true;
        self.actions_ready_cv.notify_all();
        while self.is_alive() {
            if self.idle.load(Ordering::SeqCst) {
                let g = lock(&self.bans);
                let _ = self.wake.wait_timeout(g, Duration::from_millis(500));
                continue;
            }
            // fail2ban's 10 tickets per round keep unbans coming between
            // slow per-address bans; actions that take a round as one batch
            // get large rounds.
            let per_round = if self.all_actions_batch() {
                BATCH_PER_ROUND
            } else {
                BAN_PER_ROUND
            };
            let tickets: Vec<Ticket> = {
                let mut b = lock(&self.bans);
                let n = b.queue.len().min(per_round);
                b.queue.drain(..n).collect()
            };
            if !tickets.is_empty() {
                self.check_ban(tickets);
            }
            self.check_unban();
            if lock(&self.bans).queue.is_empty() && self.reconcile_now() {
                self.reconcile();
            }
            let g = lock(&self.bans);
            if g.queue.is_empty() && self.is_alive() {
                let now = self.ctx.clock.now();
                let mut next = g.bm.next_unban_time();
                if let Some(at) = *lock(&self.reconcile_at) {
                    next = next.min(at);
                }
                let wait = (next - now).clamp(0.01, ACTIONS_MAX_SLEEP);
                let _ = self.wake.wait_timeout(g, Duration::from_secs_f64(wait));
            }
        }
        self.flush_bans(false, true);
        self.stop_actions();
    }

    /// Whether every action took its last round in batches (then rounds
    /// are large, see `BATCH_PER_ROUND`).
    fn all_actions_batch(&self) -> bool {
        lock(&self.actions).iter().all(|a| a.action.batches())
    }

    /// Plans a reconcile `delay` seconds from now, unless one is planned
    /// sooner.
    fn plan_reconcile(&self, delay: f64) {
        let when = self.ctx.clock.now() + delay;
        let mut at = lock(&self.reconcile_at);
        *at = Some(at.map_or(when, |t| t.min(when)));
    }

    /// Whether the planned reconcile is due; takes it off the plan.
    fn reconcile_now(&self) -> bool {
        let mut at = lock(&self.reconcile_at);
        let due = at.is_some_and(|t| self.ctx.clock.now() >= t);
        if due {
            *at = None;
        }
        due
    }

    /// Compares each action's firewall entries with the jail's bans (see
    /// `CommandAction::reconcile`) and logs what it changed.
    fn reconcile(&self) {
        // Addresses only: a full ticket info is built for a ban the
        // firewall lacks, not for the 100,000 it holds.
        let (ids, count, bantime): (HashMap<IpAddr, String>, usize, f64) = {
            let b = lock(&self.bans);
            let ids =
                b.bm.tickets()
                    .filter_map(|t| Some((t.id.parse().ok()?, t.id.clone())))
                    .collect();
            (ids, b.bm.size(), b.bm.ban_time())
        };
        let addrs: Vec<IpAddr> = ids.keys().copied().collect();
        let info_of = |a: IpAddr| {
            let t = lock(&self.bans).bm.get(ids.get(&a)?)?.clone();
            Some(self.round_info(t, bantime))
        };
        let mut acts = lock(&self.actions);
        for a in acts.iter_mut().filter(|a| !a.action.norestored()) {
            let r = a.action.reconcile(&addrs, &info_of);
            if a.action.take_drift() {
                // (its own batches failed: not again at once)
                self.plan_reconcile(RECONCILE_RETRY);
            }
            let Some(r) = r else {
                continue;
            };
            let l = if r.added + r.removed + r.renewed > 0 {
                level::NOTICE
            } else {
                level::INFO
            };
            let renewed = if r.renewed > 0 {
                format!(", {} kernel timeouts renewed", r.renewed)
            } else {
                String::new()
            };
            self.log(
                l,
                "fail2ban.actions",
                format!(
                    "[{}] Reconcile '{}': {} bans of {} were missing from the firewall and are back, {} entries of addresses not banned removed{renewed}",
                    self.name,
                    a.name,
                    r.added,
                    count,
                    r.removed
                ),
            );
        }
    }

    fn start_action(&self, a: &mut ActionEntry) {
        a.needs_start = false;
        if let Err(e) = a.action.start() {
            self.log(
                level::ERROR,
                "fail2ban.actions",
                format!(
                    "Failed to start jail '{}' action '{}': {e}",
                    self.name, a.name
                ),
            );
        }
    }

    /// Starts the actions added since the jail started.
    fn start_pending_actions(&self, acts: &mut [ActionEntry]) {
        for a in acts.iter_mut().filter(|a| a.needs_start) {
            self.start_action(a);
        }
    }

    fn stop_actions(&self) {
        let mut acts = lock(&self.actions);
        for a in acts.iter_mut().rev() {
            if let Err(e) = a.action.stop() {
                self.log(
                    level::ERROR,
                    "fail2ban.actions",
                    format!(
                        "Failed to stop jail '{}' action '{}': {e}",
                        self.name, a.name
                    ),
                );
            }
        }
    }

    /// The tags of one ticket for the actions (fail2ban's `ActionInfo`).
    fn action_info(&self, t: &Ticket, jail_bantime: f64) -> ActionInfo {
        let mut info = id_info(t);
        info.set_time(t.time)
            .set_failures(t.failures as u64)
            .set_bantime(t.ban_time_or(jail_bantime) as i64)
            .set_bancount(t.ban_count as u64)
            .set_matches(&t.matches)
            .set_restored(t.restored);
        for (k, v) in &t.data {
            info.set_data(k, json_to_string(v));
        }
        let (banned, banned_total) = {
            let b = lock(&self.bans);
            (b.bm.size(), b.bm.ban_total())
        };
        let (found, found_total) = {
            let f = lock(&self.fail);
            (f.fm.size(), f.fm.fail_total())
        };
        info.set("jail.banned", banned.to_string())
            .set("jail.banned_total", banned_total.to_string())
            .set("jail.found", found.to_string())
            .set("jail.found_total", found_total.to_string());
        // History-based tags: read lazily, only if an action uses them; one
        // query per scope gives both its tags.
        for (tags, all) in [
            (["ipmatches", "ipfailures"], true),
            (["ipjailmatches", "ipjailfailures"], false),
        ] {
            let ctx = Arc::clone(&self.ctx);
            let id = t.id.clone();
            let jail = self.name.clone();
            info.set_lazy_group(tags, move || {
                let db = ctx.db();
                let m = db
                    .as_ref()
                    .and_then(|db| {
                        db.bans_merged(&id, if all { None } else { Some(&jail) })
                            .ok()
                    })
                    .flatten();
                match m {
                    Some(m) => vec![Some(m.matches.join("\n")), Some(m.failures.to_string())],
                    None => vec![None, None],
                }
            });
        }
        info
    }

    /// A ticket's info for a round of bans or unbans: its address tags
    /// now, the others (counters, matches, captures, history) built from
    /// the ticket only if an action asks for one. The native firewall path
    /// reads the address alone, and a full info per ticket was a third of
    /// restoring 100,000 bans.
    fn round_info(&self, t: Ticket, jail_bantime: f64) -> ActionInfo {
        let mut info = id_info(&t);
        if self.kernel_timeout.load(Ordering::SeqCst) {
            info.set_firewall_timeout(self.firewall_timeout(&t, jail_bantime));
        }
        let me = self.me.clone();
        info.set_rest(move || match me.upgrade() {
            Some(j) => j.action_info(&t, jail_bantime),
            None => id_info(&t),
        });
        info
    }

    /// The kernel-side timeout of a ticket's firewall entry: the seconds
    /// left of its ban and a margin of a tenth of them (1 s to 60 s), so
    /// that the daemon's own unban comes first while it runs; `None` for a
    /// permanent ban.
    fn firewall_timeout(&self, t: &Ticket, jail_bantime: f64) -> Option<u64> {
        if is_permanent(t.ban_time_or(jail_bantime)) {
            return None;
        }
        let left = (t.end_of_ban(jail_bantime) - self.ctx.clock.now()).max(0.0);
        Some((left + (left / 10.0).clamp(1.0, 60.0)).ceil() as u64)
    }

    /// Waits (while the jail runs) until the actions have been started.
    fn wait_actions_ready(&self) {
        let mut ready = lock(&self.actions_ready);
        while !*ready && self.is_alive() {
            ready = self
                .actions_ready_cv
                .wait_timeout(ready, Duration::from_millis(100))
                .map(|r| r.0)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// Bans tickets (fail2ban's `__checkBan`); returns the number of new
    /// bans.
    pub(crate) fn check_ban(&self, tickets: Vec<Ticket>) -> usize {
        self.wait_actions_ready();
        let mut cnt = 0;
        // The new bans of this call, applied together once all are logged
        // and stored: one round per action (see gaoler-action's `batch`).
        let mut round: Vec<(String, ActionInfo, bool)> = Vec::new();
        let mut to_store: Vec<Ticket> = Vec::new();
        let mut queued: Vec<Instant> = Vec::new();
        // This host's own new bans, for the fleet.
        let publisher = self.fleet_publisher();
        let mut to_publish = Vec::new();
        for ticket in tickets {
            let now = self.ctx.clock.now();
            let id = ticket.id.clone();
            let queued_at = lock(&self.queued_at).remove(&id);
            let restored = ticket.restored;
            let new_time = ticket.time;
            let note = fleet::origin_note(&ticket);
            let from_fleet = !note.is_empty();
            let (outcome, bantime) = {
                let mut b = lock(&self.bans);
                (b.bm.add_ban_ticket(ticket, now), b.bm.ban_time())
            };
            match outcome {
                AddBan::Added => {
                    cnt += 1;
                    // (kept back until the round's actions run: a write
                    // per line was a third of restoring 100,000 bans)
                    self.ctx.logger.log_deferred(
                        level::NOTICE,
                        "fail2ban.actions",
                        &format!(
                            "[{}] {}Ban {id}{note}",
                            self.name,
                            if restored { "Restore " } else { "" }
                        ),
                    );
                    let Some(mut t) = lock(&self.bans).bm.get(&id).cloned() else {
                        continue;
                    };
                    if from_fleet {
                        // Stored to survive a restart, never published
                        // again (no echo), no increment: the ban is the
                        // one the other host decided.
                        if !restored && t.end_of_ban(bantime) >= now {
                            to_store.push(t.clone());
                        }
                    } else if !restored {
                        self.ban_found(&mut t, bantime, now, &mut to_store);
                        if publisher.is_some() && !t.restored && t.end_of_ban(bantime) >= now {
                            to_publish.push(fleet::row_of(
                                &self.name,
                                &t,
                                bantime,
                                gaoler_fleet::Kind::Ban,
                                false,
                            ));
                        }
                        if let Some(bt) = lock(&self.bans).bm.get_mut(&id) {
                            bt.ban_time = t.ban_time;
                            bt.ban_count = t.ban_count;
                            bt.restored = t.restored;
                        }
                    }
                    let restored = t.restored;
                    round.push((id, self.round_info(t, bantime), restored));
                    queued.extend(queued_at);
                }
                AddBan::Expired => self.log(
                    if from_fleet {
                        level::DEBUG
                    } else {
                        level::INFO
                    },
                    "fail2ban.actions",
                    format!("[{}] Ignore {id}, expired bantime{note}", self.name),
                ),
                // The fleet's copy of a ban in force here: nothing to do.
                AddBan::AlreadyBanned { .. } if from_fleet => self.log(
                    level::DEBUG,
                    "fail2ban.actions",
                    format!("[{}] {id} already banned{note}", self.name),
                ),
                AddBan::AlreadyBanned { .. } => {
                    let since = lock(&self.bans)
                        .bm
                        .get(&id)
                        .map_or(0.0, |old| new_time - old.time);
                    let l = match already_banned_level(since) {
                        AlreadyBannedLevel::Debug => level::DEBUG,
                        AlreadyBannedLevel::Notice => level::NOTICE,
                        AlreadyBannedLevel::Warning => level::WARNING,
                    };
                    self.log(
                        l,
                        "fail2ban.actions",
                        format!("[{}] {id} already banned", self.name),
                    );
                    // Long after the ban the address should not get
                    // through: check that the firewall still has it
                    // (at most every 3 s).
                    if since > 3.0 {
                        self.consistency_check(now);
                    }
                }
            }
        }
        if !to_store.is_empty() {
            let bantime = lock(&self.bans).bm.ban_time();
            if let Some(db) = self.ctx.db().as_ref() {
                if let Err(e) = db.add_bans(&self.name, &to_store, bantime) {
                    self.log(
                        level::ERROR,
                        "fail2ban.database",
                        format!("[{}] cannot store {} bans: {e}", self.name, to_store.len()),
                    );
                }
            }
        }
        self.ctx.logger.flush_deferred();
        if let Some(p) = publisher {
            p.publish(to_publish);
        }
        if !round.is_empty() {
            self.ban_round(&round);
            let latency = self
                .ctx
                .ban_latency
                .with_label_values(&[self.name.as_str()]);
            for at in queued {
                latency.observe(at.elapsed().as_secs_f64());
            }
        }
        cnt
    }

    /// fail2ban's ERROR for each ticket of a round an action failed on.
    fn log_action_failures(
        &self,
        verb: &str,
        action: &str,
        infos: &[&ActionInfo],
        results: Vec<Result<(), gaoler_action::ActionError>>,
    ) {
        for (info, r) in infos.iter().zip(results) {
            if let Err(e) = r {
                self.action_errors.fetch_add(1, Ordering::Relaxed);
                self.log(
                    level::ERROR,
                    "fail2ban.actions",
                    format!(
                        "Failed to execute {verb} jail '{}' action '{action}' info '{info:?}': {e}",
                        self.name
                    ),
                );
            }
        }
    }

    /// Runs every action's ban for a round of new bans, then marks them
    /// banned.
    fn ban_round(&self, round: &[(String, ActionInfo, bool)]) {
        {
            let mut acts = lock(&self.actions);
            self.start_pending_actions(&mut acts);
            for a in acts.iter_mut() {
                let infos: Vec<&ActionInfo> = round
                    .iter()
                    .filter(|(_, _, restored)| !(*restored && a.action.norestored()))
                    .map(|(_, info, _)| info)
                    .collect();
                let results = a.action.ban_round(&infos);
                let drift = a.action.take_drift();
                if results.iter().any(Result::is_err) {
                    // The bans stay (in the jail and the database); the
                    // reconcile puts them in once the firewall takes them.
                    self.plan_reconcile(RECONCILE_RETRY);
                } else if drift {
                    // The firewall was repaired on the way (a table or
                    // chain deleted behind our back): the bans it held
                    // before go back in now.
                    self.plan_reconcile(0.0);
                }
                self.log_action_failures("ban", &a.name, &infos, results);
            }
        }
        let mut b = lock(&self.bans);
        for (id, _, _) in round {
            if let Some(bt) = b.bm.get_mut(id) {
                bt.banned = true;
            }
        }
    }

    fn consistency_check(&self, now: f64) {
        {
            let mut last = lock(&self.last_check);
            if now <= *last + 3.0 {
                return;
            }
            *last = now;
        }
        let mut acts = lock(&self.actions);
        for a in acts.iter_mut() {
            if let Err(e) = a.action.consistency_check() {
                self.log(
                    level::ERROR,
                    "fail2ban.actions",
                    format!(
                        "[{}] consistency check of '{}' failed: {e}",
                        self.name, a.name
                    ),
                );
            }
        }
    }

    /// The observer's `banFound`: bantime.increment, then the ticket goes
    /// to `to_store` for the round's database transaction. Works on a copy
    /// of the ticket, written back by the caller.
    fn ban_found(&self, t: &mut Ticket, bantime: f64, now: f64, to_store: &mut Vec<Ticket>) {
        let inc = lock(&self.inc).clone();
        let db = self.ctx.db();
        let Some(db) = db.as_ref() else { return };
        if inc.enabled && !is_permanent(t.ban_time_or(bantime)) {
            let history = self.history_in(db, &t.id, inc.overall_jails);
            let mut rng = || rand_unit();
            match inc.apply_to_ban(t, bantime, history.as_ref(), &mut rng) {
                Ok(o) if o.increased => {
                    let end = t.end_of_ban(bantime);
                    self.log(
                        level::NOTICE,
                        "fail2ban.observer",
                        format!(
                            "[{}] Increase Ban {} ({} # {} -> {})",
                            self.name,
                            t.id,
                            t.ban_count,
                            gaoler_py::time::seconds2str(o.new_ban_time),
                            time2str(end)
                        ),
                    );
                }
                Ok(_) => {}
                Err(e) => self.log(
                    level::ERROR,
                    "fail2ban.observer",
                    format!("[{}] bantime.increment failed: {e}", self.name),
                ),
            }
        }
        if t.restored || t.end_of_ban(bantime) < now {
            return;
        }
        to_store.push(t.clone());
    }

    fn check_unban(&self) {
        let now = self.ctx.clock.now();
        let per_check = if self.all_actions_batch() {
            BATCH_PER_ROUND
        } else {
            UNBAN_PER_CHECK
        };
        let (list, bantime) = {
            let mut b = lock(&self.bans);
            (b.bm.unban_list(now, per_check), b.bm.ban_time())
        };
        self.publish_unbans(&list, bantime, false);
        self.unban_tickets(&list, bantime, None, Some("Unban"));
    }

    /// The publisher, when this jail publishes and the fleet is on.
    fn fleet_publisher(&self) -> Option<gaoler_fleet::Publisher> {
        if !lock(&self.fleet).mode.publishes() {
            return None;
        }
        lock(&self.ctx.fleet).clone()
    }

    /// Publishes the end of this host's own bans among `list` (the fleet's
    /// bans end here without a word: no echo).
    fn publish_unbans(&self, list: &[Ticket], bantime: f64, manual: bool) {
        let Some(p) = self.fleet_publisher() else {
            return;
        };
        let rows = list
            .iter()
            .filter(|t| origin_of(t).is_none())
            .map(|t| fleet::row_of(&self.name, t, bantime, gaoler_fleet::Kind::Unban, manual))
            .collect();
        p.publish(rows);
    }

    /// Runs the actions' unban for one ticket (all actions, or the given
    /// indexes), logging `[J] <verb> <id>` if `verb` is given.
    fn unban_ticket(&self, t: &Ticket, bantime: f64, only: Option<&[usize]>, verb: Option<&str>) {
        self.unban_tickets(std::slice::from_ref(t), bantime, only, verb);
    }

    /// [`Jail::unban_ticket`] for a round of tickets: each is logged, then
    /// each action unbans them all together.
    fn unban_tickets(
        &self,
        list: &[Ticket],
        bantime: f64,
        only: Option<&[usize]>,
        verb: Option<&str>,
    ) {
        if list.is_empty() {
            return;
        }
        if let Some(v) = verb {
            for t in list {
                self.ctx.logger.log_deferred(
                    level::NOTICE,
                    "fail2ban.actions",
                    &format!("[{}] {v} {}", self.name, t.id),
                );
            }
            self.ctx.logger.flush_deferred();
        }
        let infos: Vec<ActionInfo> = list
            .iter()
            .map(|t| self.round_info(t.clone(), bantime))
            .collect();
        let refs: Vec<&ActionInfo> = infos.iter().collect();
        let mut acts = lock(&self.actions);
        for (i, a) in acts.iter_mut().enumerate() {
            if only.is_some_and(|o| !o.contains(&i)) {
                continue;
            }
            let results = a.action.unban_round(&refs);
            if a.action.take_drift() {
                // (as in `ban_round`: what a repair lost goes back in)
                self.plan_reconcile(0.0);
            }
            self.log_action_failures("unban", &a.name, &refs, results);
        }
    }

    /// Flushes all bans (jail stop, `unban --all`): `actionflush` where an
    /// action has one, per-ticket unban for the others. Returns the count.
    pub(crate) fn flush_bans(&self, db: bool, stop: bool) -> usize {
        let (list, bantime) = {
            let mut b = lock(&self.bans);
            (b.bm.flush(), b.bm.ban_time())
        };
        let unban_with = self.flush_actions(None);
        if db {
            if let Some(db) = self.ctx.db().as_ref() {
                let _ = db.del_ban(&self.name, &[]);
            }
        }
        let verb = if stop { "Repeal Ban" } else { "Unban" };
        self.unban_tickets(&list, bantime, Some(&unban_with), Some(verb));
        list.len()
    }

    /// Runs `actionflush` of the selected actions (all if `None`) and
    /// returns the indexes of those that still need per-ticket unbans.
    fn flush_actions(&self, only: Option<&BTreeSet<String>>) -> Vec<usize> {
        let mut unban_with = Vec::new();
        let mut acts = lock(&self.actions);
        for (i, a) in acts.iter_mut().enumerate() {
            if only.is_some_and(|o| !o.contains(&a.name)) {
                continue;
            }
            if a.action.has_flush() {
                self.log(
                    level::NOTICE,
                    "fail2ban.actions",
                    format!("[{}] Flush ticket(s) with {}", self.name, a.name),
                );
                match a.action.flush() {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(e) => self.log(
                        level::ERROR,
                        "fail2ban.actions",
                        format!(
                            "Failed to flush bans in jail '{}' action '{}': {e}",
                            self.name, a.name
                        ),
                    ),
                }
            }
            unban_with.push(i);
        }
        unban_with
    }

    /// `set J banip ip...`: bans at once (no ignore check); returns the
    /// number of new bans.
    pub(crate) fn ban_ips(&self, ips: &[String]) -> usize {
        let now = self.ctx.clock.now();
        let tickets = ips
            .iter()
            .map(|ip| Ticket::manual(Addr::parse(ip).to_string(), now))
            .collect();
        self.check_ban(tickets)
    }

    // ------------------------------------------------------------------
    // fleet (gaoler-fleet; see crate::fleet)

    /// `fleet`, `fleetjails`, `fleetcount` as set.
    pub(crate) fn fleet_settings(&self) -> gaoler_fleet::JailFleet {
        lock(&self.fleet).clone()
    }

    /// Changes the jail's fleet settings.
    pub(crate) fn update_fleet(&self, f: impl FnOnce(&mut gaoler_fleet::JailFleet)) {
        f(&mut lock(&self.fleet));
    }

    /// A ban another host published, applied through this jail's own
    /// actions: queued for the actions thread like any ban, which logs
    /// `[J] Ban <ip> (from fleet host H, jail J2)`, stores it and never
    /// publishes it. An address this jail ignores (`ignoreip`,
    /// `ignoreself`, `ignorecommand`) is refused with a WARNING. An
    /// address banned here already is not banned again (the actions
    /// thread sees it is).
    pub(crate) fn fleet_ban(&self, rec: &gaoler_fleet::Received) {
        if !self.is_alive() {
            return;
        }
        let now = self.ctx.clock.now();
        let id = rec.addr.to_string();
        if let Some(r) = self.ignore_reason(&id, None, now) {
            self.log(
                level::WARNING,
                "fail2ban.fleet",
                format!(
                    "[{}] Refused fleet ban of {id} from host {} (jail {}): ignored by {r}",
                    self.name, rec.origin, rec.row.jail
                ),
            );
            return;
        }
        // The ban count is this host's own (the BanManager adds this ban
        // to it): the other host's count is its history, which
        // `fleetcount = fleet` reads from the fleet's copy.
        let local_count = self
            .ctx
            .db()
            .as_ref()
            .and_then(|db| db.ban_history(&id, Some(&self.name), false).ok().flatten())
            .map_or(0, |h| h.ban_count);
        let mut t = Ticket::new(id, rec.row.time_of_ban).with_matches(rec.row.matches.clone());
        t.ban_time = Some(rec.row.ban_time);
        t.ban_count = local_count;
        t.failures = rec.row.failures;
        t.data
            .insert(fleet::ORIGIN_HOST.into(), Json::String(rec.origin.clone()));
        t.data.insert(
            fleet::ORIGIN_JAIL.into(),
            Json::String(rec.row.jail.clone()),
        );
        self.queue_ticket(t);
    }

    /// An unban another host published: lifts this jail's ban of the
    /// address if that ban came from the fleet, from that host
    /// ([`gaoler_fleet::rules::lifts`]); a ban this host decided itself
    /// stays.
    pub(crate) fn fleet_unban(&self, rec: &gaoler_fleet::Received) {
        let id = rec.addr.to_string();
        let from = rec.origin.as_str();
        let lifted = |t: &Ticket| gaoler_fleet::rules::lifts(origin_of(t).map(|(h, _)| h), from);
        // (a ban of the same origin still queued goes too)
        lock(&self.bans)
            .queue
            .retain(|t| !(t.id == id && lifted(t)));
        let (current, bantime) = {
            let b = lock(&self.bans);
            (b.bm.get(&id).cloned(), b.bm.ban_time())
        };
        let Some(current) = current else { return };
        if !lifted(&current) {
            self.log(
                level::DEBUG,
                "fail2ban.fleet",
                format!(
                    "[{}] {id} stays banned: its ban here did not come from fleet host {from}",
                    self.name
                ),
            );
            return;
        }
        let removed = lock(&self.bans).bm.remove_banned(&id, &SystemResolver);
        if removed.is_empty() {
            return;
        }
        if let Some(db) = self.ctx.db().as_ref() {
            let _ = db.del_ban(&self.name, &[id.as_str()]);
        }
        self.log(
            level::NOTICE,
            "fail2ban.actions",
            format!(
                "[{}] Unban {id} (from fleet host {from}, jail {})",
                self.name, rec.row.jail
            ),
        );
        self.unban_tickets(&removed, bantime, None, None);
    }

    /// Another host's ban counted as one failure here (`fleetcount =
    /// fleet` in a jail that does not apply the fleet's bans: recidive).
    pub(crate) fn fleet_failure(&self, rec: &gaoler_fleet::Received) {
        if !self.is_alive() {
            return;
        }
        let now = self.ctx.clock.now();
        let t = Ticket::new(rec.addr.to_string(), rec.row.time_of_ban.min(now));
        self.add_failure_ticket(t, 1, now);
    }

    /// `set J unbanip` / `unban`: removes the bans (and their database
    /// rows). Addresses that are not banned are an error unless
    /// `if_exists`.
    pub(crate) fn unban_ips(&self, ips: &[String], if_exists: bool) -> Result<usize, Vec<String>> {
        let mut cnt = 0;
        let mut missed = Vec::new();
        let bantime = lock(&self.bans).bm.ban_time();
        for ip in ips {
            let removed = lock(&self.bans).bm.remove_banned(ip, &SystemResolver);
            if let Some(db) = self.ctx.db().as_ref() {
                let mut ids: Vec<&str> = vec![ip.as_str()];
                ids.extend(removed.iter().map(|t| t.id.as_str()));
                let _ = db.del_ban(&self.name, &ids);
            }
            if removed.is_empty() {
                self.log(
                    level::MSG,
                    "fail2ban.actions",
                    format!("{ip} is not banned"),
                );
                if !if_exists {
                    missed.push(ip.clone());
                }
                continue;
            }
            self.publish_unbans(&removed, bantime, true);
            for t in &removed {
                self.unban_ticket(t, bantime, None, Some("Unban"));
                cnt += 1;
            }
        }
        if missed.is_empty() {
            Ok(cnt)
        } else {
            Err(missed)
        }
    }

    // ------------------------------------------------------------------
    // actions management

    /// `set J addaction A`: creates a command action from its name; the
    /// properties follow with `multi-set J action A ...`. A Python action
    /// is refused (logged, and reported to the caller), the jail keeps its
    /// other actions.
    /// `actionengine`: `auto` (batches where the commands allow, see
    /// gaoler-action's `batch`) or `shell` (fail2ban's per-address runs).
    pub(crate) fn set_action_engine(&self, engine: &str) -> Result<(), String> {
        let on = match engine {
            "auto" => true,
            "shell" => false,
            other => return Err(format!("actionengine must be auto or shell, not {other:?}")),
        };
        self.batching.store(on, Ordering::SeqCst);
        for a in lock(&self.actions).iter_mut() {
            a.action.set_batching(on);
        }
        Ok(())
    }

    /// `kerneltimeout`: bans carry kernel-side timeouts (nftables sets
    /// made from now on, ipsets) so that they lapse even if the daemon is
    /// dead. Switched on for a running jail, the bans already in get theirs
    /// at the reconcile this plans.
    pub(crate) fn set_kernel_timeout(&self, on: bool) {
        self.kernel_timeout.store(on, Ordering::SeqCst);
        for a in lock(&self.actions).iter_mut() {
            a.action.set_kernel_timeouts(on);
        }
        self.ban_time_changed();
    }

    pub(crate) fn kernel_timeout(&self) -> bool {
        self.kernel_timeout.load(Ordering::SeqCst)
    }

    /// After `set J bantime`: with kernel-side timeouts, the entries
    /// already in would lapse by the old ban time; a reconcile renews them.
    pub(crate) fn ban_time_changed(&self) {
        if self.kernel_timeout() && self.started.load(Ordering::SeqCst) {
            self.plan_reconcile(0.0);
            self.wake.notify_all();
        }
    }

    pub(crate) fn action_engine(&self) -> &'static str {
        if self.batching.load(Ordering::SeqCst) {
            "auto"
        } else {
            "shell"
        }
    }

    pub(crate) fn add_action(&self, name: &str) -> Result<(), String> {
        if let Some(r) = lock(&self.reload).as_mut() {
            if r.stale_actions.remove(name) {
                // Same action named again by a reload: keep its identity.
                return Ok(());
            }
        }
        let spec = ActionSpec {
            jail: self.name.clone(),
            name: name.to_owned(),
            properties: Vec::new(),
        };
        match CommandAction::new(&spec) {
            Ok(mut a) => {
                let jail = self.name.clone();
                a.set_batching(self.batching.load(Ordering::SeqCst));
                a.set_kernel_timeouts(self.kernel_timeout());
                a.set_info_factory(Arc::new(move || {
                    ActionInfo::new().with("name", jail.clone())
                }));
                let mut acts = lock(&self.actions);
                if acts.iter().any(|e| e.name == name) {
                    return Err(format!("Action {name} already exists"));
                }
                // Once the actions thread has started the actions, a new
                // one has to be started by us, after its properties came.
                let needs_start = *lock(&self.actions_ready) && self.is_alive();
                acts.push(ActionEntry {
                    name: name.to_owned(),
                    action: a,
                    needs_start,
                });
                Ok(())
            }
            Err(e) => {
                self.log(
                    level::ERROR,
                    "fail2ban.actions",
                    format!("Failed to add action to jail '{}': {e}", self.name),
                );
                Err(e.to_string())
            }
        }
    }

    /// `set J delaction A`: flush/unban its bans, stop it, drop it.
    pub(crate) fn del_action(&self, name: &str) -> bool {
        let only: BTreeSet<String> = [name.to_owned()].into();
        self.retire_actions(&only)
    }

    /// Unbans the current tickets with the given actions (flush where
    /// possible), stops and removes them. Bans stay in the BanManager.
    fn retire_actions(&self, names: &BTreeSet<String>) -> bool {
        if names.is_empty() {
            return false;
        }
        if self.is_alive() {
            let unban_with = self.flush_actions(Some(names));
            let (tickets, bantime) = {
                let b = lock(&self.bans);
                (b.bm.tickets().cloned().collect::<Vec<_>>(), b.bm.ban_time())
            };
            for t in &tickets {
                self.unban_ticket(t, bantime, Some(&unban_with), None);
            }
        }
        let mut acts = lock(&self.actions);
        let mut found = false;
        let mut keep = Vec::new();
        for mut a in acts.drain(..) {
            if names.contains(&a.name) {
                found = true;
                if self.is_alive() {
                    if let Err(e) = a.action.stop() {
                        self.log(
                            level::ERROR,
                            "fail2ban.actions",
                            format!(
                                "Failed to stop jail '{}' action '{}': {e}",
                                self.name, a.name
                            ),
                        );
                    }
                }
            } else {
                keep.push(a);
            }
        }
        *acts = keep;
        found
    }

    pub(crate) fn with_action<R>(
        &self,
        name: &str,
        f: impl FnOnce(&mut CommandAction) -> R,
    ) -> Option<R> {
        let mut acts = lock(&self.actions);
        acts.iter_mut()
            .find(|a| a.name == name)
            .map(|a| f(&mut a.action))
    }

    pub(crate) fn action_names(&self) -> Vec<String> {
        lock(&self.actions).iter().map(|a| a.name.clone()).collect()
    }

    // ------------------------------------------------------------------
    // reload

    /// Reload begin: the filter lists are cleared (the stream sets them
    /// again), actions are marked stale until named again.
    pub(crate) fn reload_begin(&self) {
        self.idle.store(true, Ordering::SeqCst);
        {
            let mut c = lock(&self.conf);
            c.failregex.clear();
            c.ignoreregex.clear();
            c.prefregex = None;
            c.logpaths.clear();
            c.journalmatches.clear();
        }
        lock(&self.fail).ignore.clear();
        // (the stream sets them again; an option taken out of the
        // configuration goes back to its default)
        *lock(&self.fleet) = gaoler_fleet::JailFleet {
            name: self.name.clone(),
            ..Default::default()
        };
        let stale = self.action_names().into_iter().collect();
        *lock(&self.reload) = Some(ReloadState {
            stale_actions: stale,
        });
    }

    pub(crate) fn in_reload(&self) -> bool {
        lock(&self.reload).is_some()
    }

    /// Reload commit: stale actions go, kept ones run `actionreload`.
    pub(crate) fn reload_end(&self) {
        let Some(state) = lock(&self.reload).take() else {
            return;
        };
        self.retire_actions(&state.stale_actions);
        if self.is_alive() {
            let mut acts = lock(&self.actions);
            // New actions are started, the kept ones reloaded.
            let fresh: Vec<bool> = acts.iter().map(|a| a.needs_start).collect();
            self.start_pending_actions(&mut acts);
            for (a, fresh) in acts.iter_mut().zip(fresh) {
                if fresh {
                    continue;
                }
                if let Err(e) = a.action.reload() {
                    self.log(
                        level::ERROR,
                        "fail2ban.actions",
                        format!(
                            "Failed to reload jail '{}' action '{}': {e}",
                            self.name, a.name
                        ),
                    );
                }
            }
        }
        self.bump_generation();
        self.plan_reconcile(0.0);
        self.idle.store(false, Ordering::SeqCst);
        self.wake.notify_all();
    }

    // ------------------------------------------------------------------
    // status

    pub(crate) fn file_list(&self) -> Vec<String> {
        let files = lock(&self.files).clone();
        if !files.is_empty() {
            return files;
        }
        lock(&self.conf)
            .logpaths
            .iter()
            .map(|(p, _)| p.clone())
            .collect()
    }

    pub(crate) fn journal_match_strings(&self) -> Vec<String> {
        lock(&self.conf)
            .journalmatches
            .iter()
            .map(|m| m.join(" "))
            .collect()
    }

    /// `status J [flavor]`: `[("Filter", …), ("Actions", …)]`, or for the
    /// `stats` flavor `[backend, [failed cur, tot], [banned cur, tot]]`.
    pub(crate) fn status(&self, flavor: &str) -> Json {
        if flavor == "stats" {
            return self.stats();
        }
        let (cur_failed, tot_failed) = {
            let f = lock(&self.fail);
            (f.fm.size(), f.fm.fail_total())
        };
        let mut filter = vec![
            json!(["Currently failed", cur_failed]),
            json!(["Total failed", tot_failed]),
        ];
        if self.is_journal() {
            filter.push(json!([
                "Journal matches",
                [self.journal_match_strings().join(" + ")]
            ]));
        } else {
            filter.push(json!(["File list", self.file_list()]));
        }
        let (cur, total, list) = {
            let b = lock(&self.bans);
            (b.bm.size(), b.bm.ban_total(), b.bm.ban_list())
        };
        let mut actions = vec![
            json!(["Currently banned", cur]),
            json!(["Total banned", total]),
        ];
        if flavor != "short" {
            actions.push(json!(["Banned IP list", list]));
        }
        json!([["Filter", filter], ["Actions", actions]])
    }

    /// `stats` row: `[backend, [failed cur, tot], [banned cur, tot]]`.
    /// What the metrics show of this jail.
    pub(crate) fn metrics(&self) -> crate::metrics::JailMetrics {
        let (failed, failed_total, max_retry, find_time) = {
            let f = lock(&self.fail);
            (
                f.fm.size(),
                f.fm.fail_total(),
                f.fm.max_retry(),
                f.fm.find_time(),
            )
        };
        let (banned, banned_total, ban_time) = {
            let b = lock(&self.bans);
            (b.bm.size(), b.bm.ban_total(), b.bm.ban_time())
        };
        crate::metrics::JailMetrics {
            name: self.name.clone(),
            failed: failed as u64,
            failed_total,
            banned: banned as u64,
            banned_total,
            max_retry: max_retry.into(),
            find_time,
            ban_time,
            unevaluated: self.unevaluated(),
            action_errors: self.action_errors.load(Ordering::Relaxed),
            lines_read: self.lines[0].load(Ordering::Relaxed),
            lines_matched: self.lines[1].load(Ordering::Relaxed),
            lines_ignored: self.lines[2].load(Ordering::Relaxed),
            behind: lock(&self.read_positions)
                .iter()
                .map(|(path, pos)| {
                    let size = std::fs::metadata(path).map_or(0, |m| m.len());
                    (path.display().to_string(), size.saturating_sub(*pos))
                })
                .collect(),
        }
    }

    pub(crate) fn stats(&self) -> Json {
        let m = self.metrics();
        json!([
            self.backend,
            [m.failed, m.failed_total],
            [m.banned, m.banned_total]
        ])
    }

    pub(crate) fn ban_list(&self) -> Vec<String> {
        lock(&self.bans).bm.ban_list()
    }

    /// `get J banip --with-time` lines.
    pub(crate) fn ban_list_with_time(&self) -> Vec<String> {
        lock(&self.bans)
            .bm
            .ban_list_with_time()
            .into_iter()
            .map(|e| {
                format!(
                    "{} \t{} + {} = {}",
                    e.id,
                    time2str(e.time),
                    e.ban_time as i64,
                    time2str(e.end_of_ban)
                )
            })
            .collect()
    }
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
