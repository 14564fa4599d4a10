//! `gaoler server` (fail2ban-server): the process around
//! [`gaoler_server::Server`].
//!
//! Order of start-up, and why:
//! 1. options: flags, else fail2ban.conf's early options, else defaults;
//!    paths are made absolute because daemonising changes directory;
//! 2. umask 077 (fail2ban's), then bind the control socket — before
//!    daemonising, so "Server already running" reaches the terminal (or the
//!    starting client) instead of /dev/null;
//! 3. `-b` (the default, as with fail2ban-server): fork, setsid, fork,
//!    chdir /, stdio to /dev/null, other descriptors closed except the
//!    socket. This happens while the process is still single-threaded;
//! 4. pidfile, then the runtime ([`gaoler_server::Server::new`], which
//!    opens the log target);
//! 5. without `--async`, the configuration is read here and applied as
//!    `["server-stream", stream]` on a separate thread, so `ping` answers
//!    while jails start (fail2ban does the same with its config thread).
//!    Jails with errors are refused and the others start; when jails are
//!    enabled but none could start, the server stops and exits 255 rather
//!    than run unprotected;
//! 6. serve until `stop`, SIGTERM or SIGINT; SIGUSR1 runs `flushlogs`.
//!    Then every jail is stopped, the socket and the pidfile removed, and
//!    the process exits 0 (255 after a configuration that protects
//!    nothing, see 5).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Parser;
use gaoler_client::early::{early_options, EarlyOverrides};
use gaoler_config::reader::ClientOptions;
use gaoler_config::{read_config, ReadMode};
use gaoler_protocol::{Handler, Listener, Pidfile, RemoteError, Response, ServeOptions};
use gaoler_server::{Server, ServerOptions};
use serde_json::{json, Value};

#[derive(Parser, Debug)]
#[command(
    name = "fail2ban-server",
    disable_version_flag = true,
    about = "Run the gaoler daemon (fail2ban-server compatible)"
)]
struct Args {
    /// Configuration directory (read at start unless --async).
    #[arg(short = 'c', long = "conf", default_value_os_t = gaoler_config::default_basedir_for_this_program())]
    conf: PathBuf,
    /// Socket path.
    #[arg(short = 's', long = "socket")]
    socket: Option<PathBuf>,
    /// Pidfile path.
    #[arg(short = 'p', long = "pidfile")]
    pidfile: Option<PathBuf>,
    /// Process name (accepted for compatibility).
    #[arg(long = "pname")]
    pname: Option<String>,
    #[arg(long = "loglevel")]
    loglevel: Option<String>,
    #[arg(long = "logtarget")]
    logtarget: Option<String>,
    #[arg(long = "syslogsocket")]
    syslogsocket: Option<String>,
    /// Stay in the foreground.
    #[arg(short = 'f')]
    foreground: bool,
    /// Daemonise (the default).
    #[arg(short = 'b')]
    background: bool,
    /// Remove a stale socket (never a live server's).
    #[arg(short = 'x')]
    force: bool,
    /// Do not read the configuration; a client streams it (internal).
    #[arg(long = "async")]
    async_: bool,
    /// Accepted for compatibility.
    #[arg(long = "timeout")]
    timeout: Option<String>,
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    verbose: u8,
    #[arg(short = 'q', action = clap::ArgAction::Count)]
    quiet: u8,
    /// Print the version.
    #[arg(short = 'V', long = "version")]
    version: bool,
    /// Only `start` (or nothing) is accepted.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

static TERMINATE: AtomicBool = AtomicBool::new(false);
static FLUSHLOGS: AtomicBool = AtomicBool::new(false);

extern "C" fn on_terminate(_: libc::c_int) {
    TERMINATE.store(true, Ordering::SeqCst);
}

extern "C" fn on_usr1(_: libc::c_int) {
    FLUSHLOGS.store(true, Ordering::SeqCst);
}

/// Signal handlers only set flags (async-signal-safe); the accept loop
/// polls them.
fn install_signals() {
    let term = on_terminate as extern "C" fn(libc::c_int) as libc::sighandler_t;
    let usr1 = on_usr1 as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handlers only store to atomics.
    unsafe {
        libc::signal(libc::SIGTERM, term);
        libc::signal(libc::SIGINT, term);
        libc::signal(libc::SIGUSR1, usr1);
    }
}

fn fail(msg: &str) -> ExitCode {
    gaoler_client::log::error(msg);
    gaoler_client::log::error("Could not start fail2ban-server");
    ExitCode::from(255)
}

/// The server's command line, for man pages and completions.
pub fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
}

pub fn main(argv0: &OsString, rest: Vec<OsString>) -> ExitCode {
    let mut argv = vec![gaoler_client::cli::program_name(argv0, "server")];
    argv.extend(rest);
    let args: Args = match gaoler_client::cli::parse_args(argv) {
        Ok(a) => a,
        Err(code) => return code,
    };
    gaoler_client::log::set_verbosity(1 + i32::from(args.verbose) - i32::from(args.quiet));
    if args.version {
        println!("gaoler {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    match args.command.as_slice() {
        [] => {}
        [s] if s == "start" => {}
        other => {
            return fail(&format!(
                "unexpected arguments {other:?} (use `gaoler client` for commands)"
            ))
        }
    }
    let over = EarlyOverrides::from_flags(
        args.socket.as_deref(),
        args.pidfile.as_deref(),
        args.loglevel.as_deref(),
        args.logtarget.as_deref(),
        args.syslogsocket.as_deref(),
    );
    let early = early_options(&args.conf, &over);
    let socket = absolute(Path::new(&early.socket));
    let pidfile = absolute(Path::new(&early.pidfile));
    let conf = absolute(&args.conf);
    let logtarget = absolute_logtarget(&early.logtarget);

    // SAFETY: umask has no preconditions.
    unsafe { libc::umask(0o077) };
    let mut sopts = ServeOptions::new(&socket);
    sopts.force = args.force;
    let listener =
        match Listener::from_systemd(sopts.clone()).unwrap_or_else(|| Listener::bind(sopts)) {
            Ok(l) => l,
            Err(e) => return fail(&e.to_string()),
        };
    if !args.foreground {
        if let Err(e) = daemonize(listener.raw_fd()) {
            return fail(&format!("cannot daemonise: {e}"));
        }
    }
    let mut pid = match Pidfile::write(&pidfile) {
        Ok(p) => p,
        Err(e) => return fail(&format!("cannot write pidfile {}: {e}", pidfile.display())),
    };
    let server = match Server::new(ServerOptions {
        socket: socket.clone(),
        pidfile: pidfile.clone(),
        loglevel: Some(early.loglevel.clone()),
        logtarget: Some(logtarget.clone()),
        syslogsocket: Some(early.syslogsocket.clone()),
        ..Default::default()
    }) {
        Ok(s) => s,
        Err(e) => {
            pid.remove();
            return fail(&e.to_string());
        }
    };
    install_signals();

    let config_failed = Arc::new(AtomicBool::new(false));
    if !args.async_ {
        let srv = server.clone();
        let failed = config_failed.clone();
        let copts = ClientOptions {
            loglevel: Some(early.loglevel.clone()),
            logtarget: Some(logtarget.clone()),
            syslogsocket: Some(early.syslogsocket.clone()),
        };
        let spawned = std::thread::Builder::new()
            .name("f2b/config".into())
            .spawn(move || {
                if !configure(&srv, &conf, &copts) {
                    failed.store(true, Ordering::SeqCst);
                }
            });
        if let Err(e) = spawned {
            server.shutdown();
            pid.remove();
            return fail(&format!("cannot start the configuration thread: {e}"));
        }
    }

    let h = server.clone();
    let handler: Handler = Arc::new(move |cmd: &[Value]| match h.handle(cmd) {
        Ok(v) => Response::Ok(v),
        Err(e) => Response::Error(RemoteError::new(e.kind(), e.to_string())),
    });
    let s = server.clone();
    let failed = config_failed.clone();
    let stop = move || {
        if FLUSHLOGS.swap(false, Ordering::SeqCst) {
            let _ = s.handle(&[json!("flushlogs")]);
        }
        TERMINATE.load(Ordering::SeqCst) || s.is_stopping() || failed.load(Ordering::SeqCst)
    };
    let served = listener.run(handler, stop);
    server.shutdown();
    pid.remove();
    if let Err(e) = served {
        gaoler_client::log::error(&e.to_string());
        return ExitCode::from(255);
    }
    if config_failed.load(Ordering::SeqCst) {
        // The log says why; the terminal (foreground) at least learns that.
        return fail("the configuration failed and no jail could be started (see the log)");
    }
    ExitCode::SUCCESS
}

/// Read the tree and stream it into the server; false if nothing can be
/// protected: the tree cannot be read at all, or jails are enabled but
/// none of them could start (the server then exits non-zero instead of
/// running unprotected). A jail with errors is refused with its file and
/// line and the others start (see [`gaoler_server::startup`]); `status`
/// lists the refused ones.
fn configure(server: &Server, conf: &Path, copts: &ClientOptions) -> bool {
    let log = |msg: &str| {
        server.logger().log(
            gaoler_server::log::level::ERROR,
            "fail2ban.configreader",
            msg,
        )
    };
    let read = match read_config(conf, ReadMode::Test, copts) {
        Ok(r) => r,
        Err(e) => {
            log(&format!("Failed during configuration: {e}"));
            return false;
        }
    };
    // Refused jails are logged by the server from their `config-error`
    // entries; server-level settings it refuses, by the stream.
    let plan = gaoler_server::plan_start(&read);
    let stream: Vec<Value> = plan.stream.into_iter().map(Value::Array).collect();
    if let Err(e) = server.handle(&[json!("server-stream"), Value::Array(stream)]) {
        // The jails that could start run, as fail2ban's server does.
        log(&format!("Configuration stream failed: {e}"));
    }
    let failed = server.failed_jails();
    // A `stop` during the start empties the jail list too: not a failure.
    if server.running_jails().is_empty() && !failed.is_empty() && !server.is_shutting_down() {
        let names: Vec<&str> = failed.iter().map(|(j, _)| j.as_str()).collect();
        log(&format!(
            "No jail could be started (failed: {}); exiting",
            names.join(", ")
        ));
        return false;
    }
    true
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// A relative log file becomes absolute; the named targets stay.
fn absolute_logtarget(t: &str) -> String {
    let name = t.split('[').next().unwrap_or(t).trim().to_ascii_uppercase();
    if matches!(
        name.as_str(),
        "STDOUT" | "STDERR" | "SYSLOG" | "SYSOUT" | "SYSTEMD-JOURNAL"
    ) || t.starts_with('/')
        || t.is_empty()
    {
        return t.to_string();
    }
    absolute(Path::new(t)).to_string_lossy().into_owned()
}

/// Classic double-fork daemonisation, keeping `keep` open.
fn daemonize(keep: std::os::fd::RawFd) -> std::io::Result<()> {
    use std::io::Error;
    // Collect descriptors before forking (reading a directory allocates).
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let devnull = std::ffi::CString::new("/dev/null").map_err(Error::other)?;
    let root = std::ffi::CString::new("/").map_err(Error::other)?;
    // SAFETY: the process is single-threaded here; the parents leave with
    // _exit so no destructor (socket removal!) runs in them.
    unsafe {
        match libc::fork() {
            -1 => return Err(Error::last_os_error()),
            0 => {}
            _ => libc::_exit(0),
        }
        if libc::setsid() == -1 {
            return Err(Error::last_os_error());
        }
        match libc::fork() {
            -1 => return Err(Error::last_os_error()),
            0 => {}
            _ => libc::_exit(0),
        }
        if libc::chdir(root.as_ptr()) == -1 {
            return Err(Error::last_os_error());
        }
        let null = libc::open(devnull.as_ptr(), libc::O_RDWR);
        if null == -1 {
            return Err(Error::last_os_error());
        }
        for fd in 0..3 {
            libc::dup2(null, fd);
        }
        for fd in fds {
            if fd > 2 && fd != keep && fd != null {
                libc::close(fd);
            }
        }
        if null > 2 && null != keep {
            libc::close(null);
        }
    }
    Ok(())
}
