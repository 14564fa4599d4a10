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
//!    Under systemd (`NOTIFY_SOCKET`), `READY=1` once the jails run, then
//!    the watchdog and `STATUS=` (see `notify`).
//!    Then every jail is stopped, the socket and the pidfile removed, and
//!    the process exits 0 (255 after a configuration that protects
//!    nothing, see 5).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use gaoler_client::early::{early_options, EarlyOverrides};
use gaoler_command::{Command, JailSet, ServerSetting, Set};
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
    let mut argv = vec![argv0.clone()];
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

    let notifier = crate::notify::Notifier::from_env().map(Arc::new);
    // In the foreground on a terminal the admin is watching: the log goes
    // to the terminal too, after a summary of what runs (or how to enable
    // a jail when none is).
    // SAFETY: isatty has no preconditions.
    let first_run = args.foreground && unsafe { libc::isatty(2) } == 1;
    if first_run {
        server.logger().set_echo_stderr(true);
    }
    let config_failed = Arc::new(AtomicBool::new(false));
    if args.async_ {
        // (the jails come from the client's stream, whenever it comes)
        if let Some(n) = &notifier {
            n.send("READY=1");
        }
    } else {
        let notify = notifier.clone();
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
                let first_run = first_run.then_some(socket.as_path());
                if !configure(&srv, &conf, &copts, first_run) {
                    failed.store(true, Ordering::SeqCst);
                } else if let Some(n) = &notify {
                    let status = crate::notify::status_text(&srv.ban_counts());
                    n.send(&format!("READY=1\nSTATUS={status}"));
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
    if let Some(n) = &notifier {
        watch(n.clone(), server.clone(), config_failed.clone());
    }
    let served = listener.run(handler, stop);
    if let Some(n) = &notifier {
        n.send("STOPPING=1");
    }
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

/// systemd's watchdog and status: at half of `WatchdogSec` (or every 5 s
/// when there is none, for the status alone), `WATCHDOG=1` if the server
/// answers its own `ping`, and the jails' ban counts as `STATUS=` when
/// they changed. Ends with the server.
fn watch(notifier: Arc<crate::notify::Notifier>, server: Arc<Server>, failed: Arc<AtomicBool>) {
    let watchdog = crate::notify::watchdog_interval();
    let every = watchdog.unwrap_or(Duration::from_secs(5));
    let spawned = std::thread::Builder::new()
        .name("gaoler-notify".into())
        .spawn(move || {
            let mut last = String::new();
            loop {
                std::thread::sleep(every);
                if TERMINATE.load(Ordering::SeqCst)
                    || server.is_stopping()
                    || failed.load(Ordering::SeqCst)
                {
                    return;
                }
                let mut msg = Vec::new();
                if watchdog.is_some() && server.handle(&[json!("ping")]).is_ok() {
                    msg.push("WATCHDOG=1".to_string());
                }
                let status = crate::notify::status_text(&server.ban_counts());
                if status != last {
                    msg.push(format!("STATUS={status}"));
                    last = status;
                }
                if !msg.is_empty() {
                    notifier.send(&msg.join("\n"));
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the systemd notification thread: {e}");
    }
}

/// Read the tree and stream it into the server; false if nothing can be
/// protected: the tree cannot be read at all, or jails are enabled but
/// none of them could start (the server then exits non-zero instead of
/// running unprotected). A jail with errors is refused with its file and
/// line and the others start (see [`gaoler_lint::start`]); `status`
/// lists the refused ones.
fn configure(
    server: &Server,
    conf: &Path,
    copts: &ClientOptions,
    first_run: Option<&Path>,
) -> bool {
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
    if let Some(socket) = first_run {
        eprint!("{}", summary(&read, conf, socket));
    }
    // Refused jails are logged by the server from their `config-error`
    // entries; server-level settings it refuses, by the stream.
    let plan = gaoler_lint::start::plan_start(&read);
    let stream: Vec<Value> = plan
        .stream
        .iter()
        .map(|c| Value::Array(c.to_json()))
        .collect();
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

/// What a server started on a terminal prints first: where its files
/// are and what each jail watches, or how to enable a jail.
fn summary(read: &gaoler_config::reader::ConfigRead, conf: &Path, socket: &Path) -> String {
    let setting = |key: ServerSetting| {
        read.stream.iter().find_map(|c| match c {
            Command::Set {
                target:
                    Set::Server {
                        setting,
                        value: Some(v),
                    },
                ..
            } if *setting == key => Some(v.as_str().map_or_else(|| v.to_string(), str::to_string)),
            _ => None,
        })
    };
    let mut out = format!(
        "gaoler {} (fail2ban {} configuration) in {}\n  log: {} (also shown here), database: {}, socket: {}\n",
        env!("CARGO_PKG_VERSION"),
        gaoler_config::reader::FAIL2BAN_VERSION,
        conf.display(),
        setting(ServerSetting::LogTarget).unwrap_or_else(|| read.early.logtarget.clone()),
        setting(ServerSetting::DbFile).unwrap_or_else(|| "None".into()),
        socket.display(),
    );
    let enabled: Vec<_> = read.jails.iter().filter(|j| j.is_enabled()).collect();
    for j in &enabled {
        let opt = |k: &str| j.option(k).map(|v| v.to_py_string()).unwrap_or_default();
        let actions: Vec<&str> = read
            .stream
            .iter()
            .filter_map(|c| match c {
                Command::Set {
                    target:
                        Set::Jail {
                            jail,
                            option: JailSet::AddAction { name, python },
                        },
                    ..
                } if *jail == j.name && python.is_empty() => Some(name.as_str()),
                _ => None,
            })
            .collect();
        let source = if opt("backend").starts_with("systemd") {
            "the systemd journal".to_string()
        } else {
            opt("logpath")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push_str(&format!(
            "  jail {}: filter {}, actions {}, reads {}\n",
            j.name,
            opt("filter"),
            actions.join(", "),
            source
        ));
    }
    if enabled.is_empty() {
        out.push_str(&format!(
            "No jail is enabled, so nothing is protected. To enable one, create\n\
             {}/jail.d/local.local with, for example:\n\n\
             [sshd]\nenabled = true\n\n\
             [freeswitch]\nenabled = true\nlogpath = /var/log/freeswitch/freeswitch.log\n\n\
             then run: gaoler client -c {} reload\n",
            conf.display(),
            conf.display()
        ));
    }
    out
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
