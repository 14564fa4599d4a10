//! The server side: bind the control socket, serve connections, clean up.
//!
//! Design decisions:
//! - **A thread per connection, bounded.** Requests are rare and cheap
//!   (the client opens one connection per command), so plain threads are
//!   simpler than an event loop; the bound ([`ServeOptions::max_connections`])
//!   keeps a misbehaving local client from exhausting threads.
//! - **A stuck client never locks out the admin.** A connection that holds
//!   its slot without a complete request (idle, or stalled in the middle
//!   of a line) is closed after [`ServeOptions::idle_timeout`] (default
//!   [`IDLE_TIMEOUT`], counted from the connection or its last answer, so
//!   trickling bytes does not extend it). And when all slots are taken, a
//!   new connection takes the slot of the one that has been idle longest,
//!   which is closed: only when every slot is running a command does a new
//!   connection get the "too many connections" reply.
//! - **Polling for stop.** The accept loop and the connection threads wake
//!   up at least every [`POLL`] to check the stop condition, so a `stop`
//!   command or a signal ends the server promptly without any cross-thread
//!   wake-up machinery.
//! - **Taking over a socket path.** An existing socket that answers a ping
//!   belongs to a live server: we refuse ("Server already running"), even
//!   with `force`, since two servers would fight over the firewall. One
//!   that refuses connections is stale and is removed. One that accepts but
//!   does not answer (a hung server, or one that speaks only Python
//!   fail2ban's pickle) is only removed with `force`, as is a path that is
//!   not a socket at all.
//! - **Two protocols, one path.** A connection's first byte chooses:
//!   gaoler's JSON lines or fail2ban's pickle frames (see `crate::pickle`);
//!   both go to the same handler, with the same limits, eviction and
//!   timeouts.
//! - **Removal on exit** only if the path is still the socket we created
//!   (same device and inode), so a forced successor's socket survives.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{pickle, Client, ClientError, Response, MAX_CONNECTIONS, MAX_REQUEST};

/// How often blocked accept and read calls wake up to check for stop.
const POLL: Duration = Duration::from_millis(100);

/// How long a connection may take to answer the ping that decides whether
/// an existing socket belongs to a live server.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a reply may wait for the peer to read it.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait, at shutdown, for connections still being served.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// Default [`ServeOptions::idle_timeout`]: long enough for any client
/// between the commands of one connection (gaoler's client sends them
/// back to back), short enough that held connections do not pile up.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The request handler: command words in, response out.
pub type Handler = Arc<dyn Fn(&[Value]) -> Response + Send + Sync>;

/// Where and how to listen.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The socket's path.
    pub socket: PathBuf,
    /// Remove an existing socket path that is not a live gaoler server
    /// (fail2ban's `-x`).
    pub force: bool,
    /// How many connections are served at once; a new one beyond that
    /// replaces the one idle longest.
    pub max_connections: usize,
    /// The largest request, in bytes.
    pub max_request: usize,
    /// A connection without a complete request for this long (since it
    /// was opened or last answered) is closed.
    pub idle_timeout: Duration,
}

impl ServeOptions {
    /// The defaults for a socket at `socket`.
    pub fn new(socket: impl Into<PathBuf>) -> ServeOptions {
        ServeOptions {
            socket: socket.into(),
            force: false,
            max_connections: MAX_CONNECTIONS,
            max_request: MAX_REQUEST,
            idle_timeout: IDLE_TIMEOUT,
        }
    }
}

/// Why the server could not listen.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A live server answers on the socket.
    #[error("Server already running ({0} answers)")]
    AlreadyRunning(PathBuf),
    /// The socket path exists but nothing answers (without `force`).
    #[error("Fail2ban seems to be already running: {path} exists ({why}); use -x to remove it")]
    Exists {
        /// The socket path.
        path: PathBuf,
        /// What was found there.
        why: String,
    },
    /// The socket's directory could not be made.
    #[error("cannot create socket directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// A stale socket could not be removed.
    #[error("cannot remove old socket {path}: {source}")]
    Remove {
        /// The socket path.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The socket could not be bound.
    #[error("Unable to bind socket {path}: {source}")]
    Bind {
        /// The socket path.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// Another error on the socket (permissions, listen).
    #[error("socket {path}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
}

/// A bound control socket, not yet serving. Binding early lets the caller
/// report "already running" before daemonising or starting jails.
#[derive(Debug)]
pub struct Listener {
    listener: UnixListener,
    opts: ServeOptions,
    /// (device, inode) of the socket file we created; `None` for a socket
    /// systemd passed, which is systemd's to remove.
    ident: Option<(u64, u64)>,
}

impl Listener {
    /// Bind the socket described by `opts` (see the module doc for how an
    /// existing path is treated).
    pub fn bind(opts: ServeOptions) -> Result<Listener, ServeError> {
        let path = opts.socket.clone();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_dir_0755(dir).map_err(|source| ServeError::Dir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        clear_path(&path, opts.force)?;
        // The umask is process-wide; narrowing it around bind() closes the
        // window in which the fresh socket would otherwise be connectable
        // by anyone. The chmod afterwards makes the mode independent of it.
        // SAFETY: umask has no memory-safety preconditions.
        let old = unsafe { libc::umask(0o077) };
        let bound = UnixListener::bind(&path);
        // SAFETY: as above.
        unsafe { libc::umask(old) };
        let listener = bound.map_err(|source| ServeError::Bind {
            path: path.clone(),
            source,
        })?;
        let io = |source| ServeError::Io {
            path: path.clone(),
            source,
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        let meta = std::fs::symlink_metadata(&path).map_err(io)?;
        listener.set_nonblocking(true).map_err(io)?;
        Ok(Listener {
            listener,
            ident: Some((meta.dev(), meta.ino())),
            opts,
        })
    }

    /// The control socket systemd passed (socket activation), if it
    /// passed one to this process: `LISTEN_PID` is ours and `LISTEN_FDS`
    /// counts the descriptors from 3; with `LISTEN_FDNAMES`, the one named
    /// `fail2ban` (as fail2ban's unit names it), else the only one. `None`
    /// when started without, an error when what was passed is not a
    /// listening Unix stream socket.
    pub fn from_systemd(opts: ServeOptions) -> Option<Result<Listener, ServeError>> {
        const FIRST: i32 = 3;
        let pid: u32 = std::env::var("LISTEN_PID").ok()?.trim().parse().ok()?;
        if pid != std::process::id() {
            return None;
        }
        let count: i32 = std::env::var("LISTEN_FDS").ok()?.trim().parse().ok()?;
        let names = std::env::var("LISTEN_FDNAMES").unwrap_or_default();
        let names: Vec<&str> = names.split(':').collect();
        let fd = match names.iter().position(|n| *n == "fail2ban") {
            Some(i) if (i as i32) < count => FIRST + i as i32,
            _ if count == 1 => FIRST,
            _ => {
                tracing::warn!(
                    "systemd passed {count} sockets, none named \"fail2ban\"; binding {}",
                    opts.socket.display()
                );
                return None;
            }
        };
        let bad = |why: &str| ServeError::Io {
            path: opts.socket.clone(),
            source: std::io::Error::other(format!("systemd's descriptor {fd}: {why}")),
        };
        let mut accepting: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut alen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: getsockopt/getsockname write at most the lengths given
        // into the buffers given; a bad descriptor is an error return.
        let ok = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_ACCEPTCONN,
                &mut accepting as *mut _ as *mut libc::c_void,
                &mut len,
            ) == 0
                && libc::getsockname(fd, &mut addr as *mut _ as *mut libc::sockaddr, &mut alen) == 0
        };
        if !ok || accepting == 0 || addr.ss_family as libc::c_int != libc::AF_UNIX {
            return Some(Err(bad("not a listening Unix socket")));
        }
        // SAFETY: the descriptor is a listening socket (checked above) that
        // systemd handed to this process alone; we own it from here on.
        let listener = unsafe { <UnixListener as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        // (the actions' commands must not inherit it)
        // SAFETY: fcntl on a valid descriptor.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        if let Err(e) = listener.set_nonblocking(true) {
            return Some(Err(bad(&e.to_string())));
        }
        tracing::info!("serving the control socket systemd passed (descriptor {fd})");
        Some(Ok(Listener {
            listener,
            opts,
            ident: None,
        }))
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.opts.socket
    }

    /// The listening descriptor (to keep it open across daemonisation).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.listener.as_raw_fd()
    }

    /// Serve until `stop()` returns true, then stop accepting, remove the
    /// socket and give running requests a moment to finish.
    pub fn run(self, handler: Handler, stop: impl Fn() -> bool) -> Result<(), ServeError> {
        let shutting_down = Arc::new(AtomicBool::new(false));
        let active = Arc::new(AtomicUsize::new(0));
        let mut conns = Connections::default();
        while !stop() {
            if !wait_readable(self.listener.as_raw_fd(), POLL) {
                continue;
            }
            match self.listener.accept() {
                Ok((stream, _)) => {
                    let Some(conn) = conns.admit(&stream, self.opts.max_connections) else {
                        tracing::warn!(
                            "too many control connections, all running a command; refusing one"
                        );
                        refuse(stream);
                        continue;
                    };
                    let slot = Slot::take(&active);
                    let handler = handler.clone();
                    let down = shutting_down.clone();
                    let limits = Limits {
                        max_request: self.opts.max_request,
                        idle_timeout: self.opts.idle_timeout,
                    };
                    let spawned = std::thread::Builder::new()
                        .name("gaoler-conn".into())
                        .spawn(move || {
                            let _slot = slot;
                            serve_connection(stream, &*handler, &down, &conn, limits);
                        });
                    if let Err(e) = spawned {
                        tracing::error!("cannot start a connection thread: {e}");
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::error!("accept on {}: {e}", self.opts.socket.display());
                    std::thread::sleep(POLL);
                }
            }
        }
        shutting_down.store(true, Ordering::SeqCst);
        // Dropping the listener removes the socket before we wait, so a
        // successor can bind while the last replies are written.
        drop(self);
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        while active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let path = &self.opts.socket;
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if Some((meta.dev(), meta.ino())) == self.ident {
                if let Err(e) = std::fs::remove_file(path) {
                    tracing::warn!("cannot remove socket {}: {e}", path.display());
                }
            }
        }
    }
}

/// Bind, serve until `stop()`, clean up: [`Listener::bind`] + [`Listener::run`].
pub fn serve(
    opts: ServeOptions,
    handler: Handler,
    stop: impl Fn() -> bool,
) -> Result<(), ServeError> {
    Listener::bind(opts)?.run(handler, stop)
}

/// Create `dir` (and missing parents) with mode 0755. The mode is set
/// explicitly because the server runs under umask 077, which would
/// otherwise make the directory 0700 and hide even a world-readable file
/// in it; an existing directory is left as it is.
pub(crate) fn create_dir_0755(dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_dir_0755(parent)?;
    }
    match std::fs::DirBuilder::new().mode(0o755).create(dir) {
        Ok(()) => std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)),
        // Created concurrently by someone else: fine.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Make `path` free for bind(), or explain why it is not.
fn clear_path(path: &Path, force: bool) -> Result<(), ServeError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(ServeError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let remove = |why: &str| {
        tracing::warn!("removing {} ({why})", path.display());
        std::fs::remove_file(path).map_err(|source| ServeError::Remove {
            path: path.to_path_buf(),
            source,
        })
    };
    if !meta.file_type().is_socket() {
        if force {
            return remove("not a socket, forced");
        }
        return Err(ServeError::Exists {
            path: path.to_path_buf(),
            why: "not a socket".into(),
        });
    }
    match Client::connect(path, Some(PROBE_TIMEOUT)) {
        Err(_) => remove("stale socket: nothing listens"),
        Ok(mut c) => match c.send(&[Value::from("ping")]) {
            // Any well-formed reply, even an error, is a live gaoler.
            Ok(_) | Err(ClientError::Remote(_)) => {
                Err(ServeError::AlreadyRunning(path.to_path_buf()))
            }
            Err(e) if force => remove(&format!("no answer to ping ({e}), forced")),
            Err(e) => Err(ServeError::Exists {
                path: path.to_path_buf(),
                why: format!("a listener does not answer: {e}"),
            }),
        },
    }
}

/// Wait until `fd` is readable or `timeout` passes.
fn wait_readable(fd: std::os::fd::RawFd, timeout: Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: one valid pollfd, count 1.
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    n > 0
}

/// A counted connection thread (for the drain at shutdown), released on
/// drop.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(active: &Arc<AtomicUsize>) -> Slot {
        active.fetch_add(1, Ordering::SeqCst);
        Slot(active.clone())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What the accept loop knows of one served connection.
struct Conn {
    /// A second handle on the socket, to close it from the accept loop.
    stream: UnixStream,
    /// Since when the connection waits for a complete request.
    idle_since: std::sync::Mutex<Instant>,
    /// [`IDLE`], [`BUSY`] or [`EVICTED`]; changed by compare-and-swap
    /// only, so a request that is starting and an eviction cannot both
    /// win.
    state: AtomicU8,
}

/// Waiting for a request: may be evicted.
const IDLE: u8 = 0;
/// Handling or answering a request: may not.
const BUSY: u8 = 1;
/// Closed by the accept loop to make room: handles nothing more.
const EVICTED: u8 = 2;

impl Conn {
    fn idle_since(&self) -> Instant {
        *self.idle_since.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts handling a request; false if the connection was evicted.
    fn begin_request(&self) -> bool {
        self.state
            .compare_exchange(IDLE, BUSY, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    fn end_request(&self) {
        *self.idle_since.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        let _ = self
            .state
            .compare_exchange(BUSY, IDLE, Ordering::SeqCst, Ordering::SeqCst);
    }

    fn evicted(&self) -> bool {
        self.state.load(Ordering::SeqCst) == EVICTED
    }

    /// Closes the connection if it is idle; false if it is busy.
    fn evict(&self) -> bool {
        if self
            .state
            .compare_exchange(IDLE, EVICTED, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return false;
        }
        // Its thread sees end-of-file at once and exits.
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        true
    }
}

/// The connections being served (weakly: a connection thread owns its
/// [`Conn`] and drops it when it ends).
#[derive(Default)]
struct Connections(Vec<std::sync::Weak<Conn>>);

impl Connections {
    /// Registers a new connection, first closing the connection idle
    /// longest if `max` are already served. `None` when all are busy.
    fn admit(&mut self, stream: &UnixStream, max: usize) -> Option<Arc<Conn>> {
        let mut live: Vec<Arc<Conn>> = self
            .0
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .filter(|c| !c.evicted())
            .collect();
        if live.len() >= max.max(1) {
            live.sort_by_key(|c| c.idle_since());
            let victim = live.iter().position(|c| c.evict())?;
            let gone = live.remove(victim);
            tracing::warn!(
                "too many control connections; closing the one idle for {:.1} s",
                gone.idle_since().elapsed().as_secs_f64()
            );
        }
        let conn = Arc::new(Conn {
            stream: stream.try_clone().ok()?,
            idle_since: std::sync::Mutex::new(Instant::now()),
            state: AtomicU8::new(IDLE),
        });
        self.0 = live.iter().map(Arc::downgrade).collect();
        self.0.push(Arc::downgrade(&conn));
        Some(conn)
    }
}

/// The per-connection limits of [`ServeOptions`].
#[derive(Clone, Copy)]
struct Limits {
    max_request: usize,
    idle_timeout: Duration,
}

fn refuse(mut stream: UnixStream) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(POLL));
    let line = Response::protocol_error("too many connections").to_line();
    let _ = stream.write_all(format!("{line}\n").as_bytes());
}

/// Serve one connection: read requests, answer each, until EOF, an I/O
/// error, an over-long request or shutdown. The first byte tells the
/// protocol: a JSON line starts with `[` (or blanks), anything else is
/// fail2ban's pickle, framed by [`pickle::END`].
fn serve_connection(
    mut stream: UnixStream,
    handler: &(dyn Fn(&[Value]) -> Response + Send + Sync),
    shutting_down: &AtomicBool,
    conn: &Conn,
    limits: Limits,
) {
    let max_request = limits.max_request;
    // Linux does not pass O_NONBLOCK on to accepted sockets, but be sure:
    // the read timeout below is what paces this loop.
    // The write timeout drops a peer that sends requests but never reads
    // the answers, instead of blocking this thread (and its slot) forever.
    if stream.set_nonblocking(false).is_err()
        || stream.set_read_timeout(Some(POLL)).is_err()
        || stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
    {
        return;
    }
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let mut eof = false;
    let mut wire: Option<Wire> = None;
    loop {
        if wire.is_none() {
            wire = pending.first().map(|&b| {
                if b == b'[' || b == b'{' || b.is_ascii_whitespace() {
                    Wire::Json
                } else {
                    Wire::Pickle
                }
            });
        }
        let step = match wire {
            Some(Wire::Json) => json_step(&mut pending, eof, max_request),
            Some(Wire::Pickle) => pickle_step(&mut pending, eof, max_request),
            None => Step::More,
        };
        match step {
            Step::Request(req) => {
                if !conn.begin_request() {
                    return;
                }
                let reply = match wire {
                    Some(Wire::Pickle) => pickle_reply(&req, handler),
                    _ => json_reply(&req, handler),
                };
                if stream.write_all(&reply).is_err() {
                    return;
                }
                conn.end_request();
                continue;
            }
            Step::Fail(reply) => {
                let _ = stream.write_all(&reply);
                return;
            }
            Step::Close => return,
            Step::More if eof => return,
            Step::More => {}
        }
        if shutting_down.load(Ordering::SeqCst) || conn.evicted() {
            return;
        }
        if conn.idle_since().elapsed() >= limits.idle_timeout {
            tracing::debug!(
                "closing a control connection idle for {} s",
                limits.idle_timeout.as_secs_f64()
            );
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) => eof = true,
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(_) => return,
        }
    }
}

/// The protocol of a connection.
#[derive(Clone, Copy)]
enum Wire {
    /// gaoler's: a JSON array per line.
    Json,
    /// fail2ban's: a pickle per [`pickle::END`].
    Pickle,
}

/// What the bytes read so far make.
enum Step {
    /// A complete request (without its framing).
    Request(Vec<u8>),
    /// Nothing complete yet.
    More,
    /// This reply, then close: the framing cannot be trusted any more.
    Fail(Vec<u8>),
    /// The peer asked to close.
    Close,
}

fn json_step(pending: &mut Vec<u8>, eof: bool, max_request: usize) -> Step {
    while let Some(pos) = pending.iter().position(|&b| b == b'\n') {
        let mut line: Vec<u8> = pending.drain(..=pos).collect();
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.len() > max_request {
            return Step::Fail(json_line(&too_long(max_request)));
        }
        if !line.iter().all(u8::is_ascii_whitespace) {
            return Step::Request(line);
        }
    }
    if pending.len() > max_request {
        return Step::Fail(json_line(&too_long(max_request)));
    }
    // A last request without its newline is still answered.
    if eof && !pending.iter().all(u8::is_ascii_whitespace) {
        return Step::Request(std::mem::take(pending));
    }
    Step::More
}

fn pickle_step(pending: &mut Vec<u8>, eof: bool, max_request: usize) -> Step {
    let end = pickle::END;
    if let Some(pos) = pending.windows(end.len()).position(|w| w == end) {
        let req: Vec<u8> = pending.drain(..pos + end.len()).take(pos).collect();
        if req.len() > max_request {
            return Step::Fail(pickle_framed(pickle::encode_decode_error(&format!(
                "request longer than {max_request} bytes"
            ))));
        }
        if req == pickle::CLOSE {
            return Step::Close;
        }
        return Step::Request(req);
    }
    if pending.len() > max_request + end.len() {
        return Step::Fail(pickle_framed(pickle::encode_decode_error(&format!(
            "request longer than {max_request} bytes"
        ))));
    }
    // (a request without its terminator is not one: fail2ban waits for
    // it, and a closed connection ends the wait)
    let _ = eof;
    Step::More
}

fn json_reply(line: &[u8], handler: &(dyn Fn(&[Value]) -> Response + Send + Sync)) -> Vec<u8> {
    let resp = match crate::decode_request(line) {
        Err(msg) => Response::protocol_error(msg),
        Ok(cmd) => run_handler(&cmd, handler),
    };
    json_line(&resp)
}

fn pickle_reply(req: &[u8], handler: &(dyn Fn(&[Value]) -> Response + Send + Sync)) -> Vec<u8> {
    pickle_framed(match pickle::decode(req) {
        Err(msg) => {
            tracing::warn!("a fail2ban-protocol request refused: {msg}");
            pickle::encode_decode_error(&msg)
        }
        Ok(cmd) => match run_handler(&cmd, handler) {
            Response::Ok(v) => pickle::encode_ok(&v, &pickle::shape_of(&cmd)),
            Response::Error(e) => pickle::encode_error(&e.kind, &e.message),
        },
    })
}

fn pickle_framed(mut reply: Vec<u8>) -> Vec<u8> {
    reply.extend_from_slice(pickle::END);
    reply
}

fn json_line(resp: &Response) -> Vec<u8> {
    let mut line = resp.to_line().into_bytes();
    line.push(b'\n');
    line
}

fn too_long(max: usize) -> Response {
    Response::protocol_error(format!("request longer than {max} bytes"))
}

fn run_handler(cmd: &[Value], handler: &(dyn Fn(&[Value]) -> Response + Send + Sync)) -> Response {
    // A bug in one command must not take the connection thread (or, with
    // panic=abort, the server) down with it.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(cmd))) {
        Ok(r) => r,
        Err(_) => {
            tracing::error!("command {cmd:?} panicked");
            Response::Error(crate::RemoteError::new(
                "Exception",
                "internal error while executing the command",
            ))
        }
    }
}
