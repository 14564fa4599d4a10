//! The fleet's threads: the worker, which owns the connection that
//! publishes and reads, and the listener, whose connection only waits for
//! notifications.
//!
//! The worker sleeps on a bounded channel until something happens: a jail
//! queued rows in the outbox ([`Publisher::publish`] rings), a
//! notification came (the listener rings), the host became ready
//! ([`Fleet::wake`]), the poll interval passed (the safety net), or a
//! reconnection is due. Then it publishes the outbox, reads the rows after
//! its position and hands each valid one to the [`Host`] with what the
//! rules say to do ([`crate::rules::plan`]). Any database error drops the
//! connection; the next attempt waits the back-off. Nobody ever waits for
//! the worker: every send on the channel is a `try_send`, and a full
//! channel means a wake-up is pending anyway.
//!
//! The host (the server) is only read from or told things here; it
//! decides how a ban is applied, which keeps this crate free of jails.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::backoff::Backoff;
use crate::conninfo::ConnInfo;
use crate::link::{LinkState, Report};
use crate::local::Local;
use crate::pg::Db;
use crate::row::{validate, BanRow, Kind, Received};
use crate::rules::{plan, JailFleet, Plan};
use crate::OUTBOX_CAP;

use tracing::Level;

/// Rows published or read per database round trip.
const BATCH: usize = 1000;
/// How often the worker deletes rows whose bans ended long ago.
const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// How long a stop waits for each thread before leaving it behind.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the listener waits for a notification before looking at the
/// stop flag.
const LISTEN_SLICE: Duration = Duration::from_millis(500);

/// The fleet's settings.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// The shared database.
    pub conninfo: ConnInfo,
    /// This host's name in the fleet (`fleethost`).
    pub host: String,
    /// The longest wait between reconnection attempts (`fleetretry`).
    pub retry_cap: Duration,
    /// How often rows are read without a notification.
    pub poll: Duration,
    /// Rows whose ban ended more than this many seconds ago are deleted
    /// from the shared table.
    pub purge_age: f64,
}

impl FleetOptions {
    /// The default poll interval.
    pub const POLL: Duration = Duration::from_secs(5);
}

/// What the fleet needs from the daemon.
pub trait Host: Send + Sync {
    /// Now, in epoch seconds (the daemon's clock).
    fn now(&self) -> f64;
    /// Whether rows may be applied now: not while the jails are being
    /// (re)configured, when a row for a jail not yet added would be lost.
    fn ready(&self) -> bool;
    /// The fleet settings of the running jails.
    fn jails(&self) -> Vec<JailFleet>;
    /// Carries out one decision for a row (ban, unban, count a failure).
    fn act(&self, plan: &Plan, row: &Received);
    /// Other hosts' bans read in one batch (any jail), for the history of
    /// `fleetcount = fleet`.
    fn record(&self, bans: &[Received]);
    /// The hourly purge: the host forgets what it keeps of the fleet's
    /// history for bans that ended long ago.
    fn purge(&self, now: f64);
    /// Where the fleet's messages go: a `tracing` event by default. The
    /// daemon writes them to its own log instead, so that each server of
    /// a process that has several (the tests) gets its own messages.
    fn log(&self, level: Level, message: &str) {
        match level {
            Level::ERROR => tracing::error!("{message}"),
            Level::WARN => tracing::warn!("{message}"),
            Level::INFO => tracing::info!("{message}"),
            Level::DEBUG => tracing::debug!("{message}"),
            Level::TRACE => tracing::trace!("{message}"),
        }
    }
}

enum Event {
    /// Rows in the outbox, or the host became ready.
    Wake,
    /// A notification: rows to read.
    Notified,
    /// Stop.
    Stop,
}

/// The jails' handle: queues rows for publishing. Cheap to clone; never
/// blocks on the database.
#[derive(Clone)]
pub struct Publisher {
    host: Arc<str>,
    local: Arc<dyn Local>,
    /// (for its messages)
    daemon: Arc<dyn Host>,
    tx: SyncSender<Event>,
    /// When the last "outbox full" warning was written, and the rows
    /// dropped since.
    dropped: Arc<Mutex<(Option<Instant>, usize)>>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("host", &self.host)
            .finish()
    }
}

impl Publisher {
    /// This host's fleet name.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Queues `rows` in the outbox and wakes the worker.
    pub fn publish(&self, rows: Vec<BanRow>) {
        if rows.is_empty() {
            return;
        }
        match self.local.push(&rows, OUTBOX_CAP) {
            Ok(0) => {}
            Ok(n) => self.warn_dropped(n),
            Err(e) => self.daemon.log(
                Level::ERROR,
                &format!(
                    "Fleet: cannot queue {} rows for publishing: {e}",
                    rows.len()
                ),
            ),
        }
        ring(&self.tx, Event::Wake);
    }

    /// One WARNING a minute at most while the outbox overflows.
    fn warn_dropped(&self, n: usize) {
        let mut d = self.dropped.lock().unwrap_or_else(|p| p.into_inner());
        d.1 += n;
        let due = d.0.is_none_or(|t| t.elapsed() >= Duration::from_secs(60));
        if due {
            self.daemon.log(
                Level::WARN,
                &format!(
                    "Fleet: the outbox is full ({OUTBOX_CAP} rows waiting for the fleet database): dropped the {} oldest",
                    d.1
                ),
            );
            *d = (Some(Instant::now()), 0);
        }
    }
}

fn ring(tx: &SyncSender<Event>, e: Event) {
    match tx.try_send(e) {
        Ok(()) | Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {}
    }
}

/// The running fleet: its two threads and the publisher. Stopped on drop.
pub struct Fleet {
    publisher: Publisher,
    host: Arc<dyn Host>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    shown: String,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("db", &self.shown)
            .field("host", &self.publisher.host)
            .finish()
    }
}

impl Fleet {
    /// Starts the worker and the listener. The first connection is made by
    /// the worker: a database that is down at start delays nothing.
    pub fn start(
        opts: FleetOptions,
        local: Arc<dyn Local>,
        host: Arc<dyn Host>,
    ) -> std::io::Result<Fleet> {
        let (tx, rx) = sync_channel(64);
        let stop = Arc::new(AtomicBool::new(false));
        let shown = opts.conninfo.shown().to_owned();
        let publisher = Publisher {
            host: Arc::from(opts.host.as_str()),
            local: Arc::clone(&local),
            daemon: Arc::clone(&host),
            tx: tx.clone(),
            dropped: Arc::new(Mutex::new((None, 0))),
        };
        let mut threads = Vec::new();
        let worker = Worker {
            opts: opts.clone(),
            local,
            host: Arc::clone(&host),
            rx,
            stop: Arc::clone(&stop),
        };
        threads.push(
            std::thread::Builder::new()
                .name("f2b/fleet".into())
                .spawn(move || worker.run())?,
        );
        let (info, cap, stop2, tx2) = (opts.conninfo, opts.retry_cap, Arc::clone(&stop), tx);
        let host2 = Arc::clone(&host);
        match std::thread::Builder::new()
            .name("f2b/fleet-listen".into())
            .spawn(move || listen_loop(&info, &tx2, &stop2, cap, &*host2))
        {
            Ok(h) => threads.push(h),
            Err(e) => {
                // The poll still reads the rows, only later.
                host.log(
                    Level::ERROR,
                    &format!("Fleet: cannot start the listener thread: {e}"),
                );
            }
        }
        Ok(Fleet {
            publisher,
            host,
            stop,
            threads,
            shown,
        })
    }

    /// The jails' handle.
    pub fn publisher(&self) -> Publisher {
        self.publisher.clone()
    }

    /// Wakes the worker (the host became ready: rows may be applied).
    pub fn wake(&self) {
        ring(&self.publisher.tx, Event::Notified);
    }

    /// Stops both threads; a thread stuck in a database call longer than
    /// 10 s is left behind (its connection dies with it).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        ring(&self.publisher.tx, Event::Stop);
        for h in self.threads.drain(..) {
            // (the last owner of the host may be the worker itself, when
            // the server goes away under it: it ends on its own)
            if h.thread().id() == std::thread::current().id() {
                continue;
            }
            let deadline = Instant::now() + JOIN_TIMEOUT;
            while !h.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if h.is_finished() {
                let _ = h.join();
            } else {
                self.host.log(
                    Level::WARN,
                    "Fleet: a fleet thread did not stop in time; leaving it behind",
                );
            }
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Worker {
    opts: FleetOptions,
    local: Arc<dyn Local>,
    host: Arc<dyn Host>,
    rx: Receiver<Event>,
    stop: Arc<AtomicBool>,
}

/// A connection with the id of the database it reaches.
struct Conn {
    db: Db,
    id: String,
}

impl Worker {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn report(&self, r: Option<Report>) {
        let shown = self.opts.conninfo.shown();
        let (level, msg) = match r {
            Some(Report::Connected) => (
                Level::INFO,
                format!("Fleet: connected to {shown} as host '{}'", self.opts.host),
            ),
            Some(Report::Back) => (
                Level::INFO,
                format!(
                    "Fleet: the fleet database is back ({shown}); publishing what waited and reading what was missed"
                ),
            ),
            Some(Report::Lost(e)) => (
                Level::WARN,
                format!(
                    "Fleet: the fleet database is unreachable ({e}); local bans go on and are published when it is back"
                ),
            ),
            None => return,
        };
        self.host.log(level, &msg);
    }

    fn run(self) {
        let mut link = LinkState::new();
        let mut backoff = Backoff::new(self.opts.retry_cap);
        let mut conn: Option<Conn> = None;
        let mut retry_at = Instant::now();
        let mut next_poll = Instant::now() + self.opts.poll;
        let mut next_purge = Instant::now() + Duration::from_secs(60);
        let mut read_due = true;
        // Go round without waiting: at start, and while a full batch says
        // more rows wait.
        let mut immediate = true;
        loop {
            if self.stopping() {
                return;
            }
            if !immediate {
                let wake_at = if conn.is_some() {
                    next_poll
                } else {
                    retry_at.min(next_poll)
                };
                let timeout = wake_at.saturating_duration_since(Instant::now());
                match self.rx.recv_timeout(timeout) {
                    Ok(Event::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                    Ok(Event::Notified) => read_due = true,
                    Ok(Event::Wake) | Err(RecvTimeoutError::Timeout) => {}
                }
                // Whatever else is pending is covered by this round.
                while let Ok(e) = self.rx.try_recv() {
                    match e {
                        Event::Stop => return,
                        Event::Notified => read_due = true,
                        Event::Wake => {}
                    }
                }
            }
            immediate = false;
            if self.stopping() {
                return;
            }
            if Instant::now() >= next_poll {
                read_due = true;
                next_poll = Instant::now() + self.opts.poll;
            }
            if conn.is_none() {
                if Instant::now() < retry_at {
                    continue;
                }
                match self.connect() {
                    Ok(c) => {
                        backoff.succeeded();
                        self.report(link.connected());
                        conn = Some(c);
                        read_due = true;
                    }
                    Err(e) => {
                        self.report(link.failed(&e.to_string()));
                        retry_at = Instant::now() + backoff.failed();
                        continue;
                    }
                }
            }
            let Some(c) = conn.as_mut() else { continue };
            let mut result = self.flush(c);
            if result.is_ok() && read_due && self.host.ready() {
                result = self.read(c).map(|more| {
                    // A full batch: more rows wait; read on at once.
                    read_due = more;
                    immediate = more;
                });
            }
            if result.is_ok() && Instant::now() >= next_purge {
                next_purge = Instant::now() + PURGE_EVERY;
                let now = self.host.now();
                self.host.purge(now);
                let before = now - self.opts.purge_age;
                result = c.db.purge(before).map(|n| {
                    if n > 0 {
                        self.host.log(
                            Level::DEBUG,
                            &format!("Fleet: purged {n} rows of bans that ended long ago"),
                        );
                    }
                });
            }
            if let Err(e) = result {
                conn = None;
                self.report(link.failed(&e.to_string()));
                retry_at = Instant::now() + backoff.failed();
            }
        }
    }

    fn connect(&self) -> Result<Conn, crate::FleetError> {
        let (mut db, id) = Db::open(&self.opts.conninfo)?;
        // A position past the table's end belongs to a table that was
        // emptied and made again: start from its beginning.
        let pos = self.local.position(&id).map_err(crate::FleetError::Local)?;
        if pos > 0 && db.last_seq()? < pos {
            self.host.log(
                Level::WARN,
                &format!(
                    "Fleet: the fleet database's rows end before the position read up to ({pos}); reading it from the start"
                ),
            );
            self.local
                .set_position(&id, 0)
                .map_err(crate::FleetError::Local)?;
        }
        Ok(Conn { db, id })
    }

    /// Publishes the outbox, a batch at a time; a row leaves the outbox
    /// only once PostgreSQL has committed it.
    fn flush(&self, c: &mut Conn) -> Result<(), crate::FleetError> {
        loop {
            let rows = self.local.peek(BATCH).map_err(crate::FleetError::Local)?;
            let Some(last_id) = rows.last().map(|(id, _)| *id) else {
                return Ok(());
            };
            let batch: Vec<BanRow> = rows.into_iter().map(|(_, r)| r).collect();
            c.db.publish(&self.opts.host, &batch)?;
            self.local
                .remove_through(last_id)
                .map_err(crate::FleetError::Local)?;
            if batch.len() < BATCH {
                return Ok(());
            }
        }
    }

    /// Reads one batch after the position and acts on it; `Ok(true)` when
    /// the batch was full (more may follow).
    fn read(&self, c: &mut Conn) -> Result<bool, crate::FleetError> {
        let pos = self
            .local
            .position(&c.id)
            .map_err(crate::FleetError::Local)?;
        let raws = c.db.read_after(pos, BATCH as i64)?;
        let Some(last) = raws.last().map(|r| r.seq) else {
            return Ok(false);
        };
        let full = raws.len() == BATCH;
        let now = self.host.now();
        let jails = self.host.jails();
        let mut bans = Vec::new();
        for raw in raws {
            match validate(raw, now) {
                Ok(rec) => {
                    for p in plan(&rec, &self.opts.host, &jails, now) {
                        self.host.act(&p, &rec);
                    }
                    if rec.origin != self.opts.host && rec.row.kind == Kind::Ban {
                        bans.push(rec);
                    }
                }
                // Refused for good: the position moves past it.
                Err(refusal) => self.host.log(Level::WARN, &format!("Fleet: {refusal}")),
            }
        }
        if !bans.is_empty() {
            self.host.record(&bans);
        }
        self.local
            .set_position(&c.id, last)
            .map_err(crate::FleetError::Local)?;
        Ok(full)
    }
}

/// The listener: its own connection, `LISTEN`, and a wake-up for the
/// worker at every notification. It reconnects on its own, quietly (the
/// worker reports the database's state), and rings once after each
/// connection so that what was missed meanwhile is read.
fn listen_loop(
    info: &ConnInfo,
    tx: &SyncSender<Event>,
    stop: &AtomicBool,
    cap: Duration,
    host: &dyn Host,
) {
    let mut backoff = Backoff::new(cap);
    while !stop.load(Ordering::SeqCst) {
        match Db::connect(info).and_then(|mut d| d.listen().map(|_| d)) {
            Ok(mut d) => {
                backoff.succeeded();
                ring(tx, Event::Notified);
                while !stop.load(Ordering::SeqCst) {
                    match d.wait(LISTEN_SLICE) {
                        Ok(true) => ring(tx, Event::Notified),
                        Ok(false) => {}
                        Err(e) => {
                            host.log(Level::DEBUG, &format!("Fleet listener: {e}"));
                            break;
                        }
                    }
                }
            }
            Err(e) => host.log(Level::DEBUG, &format!("Fleet listener: {e}")),
        }
        let wait = backoff.failed();
        let until = Instant::now() + wait;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
