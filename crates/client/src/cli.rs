//! The client command line and its command flows.
//!
//! Options come before the command, as with fail2ban's getopt parsing;
//! everything from the first non-option word on is the command, passed to
//! the server as strings (the server converts values, as fail2ban's does).
//!
//! Flows that need more than one request live here: `start` (fail2ban's
//! `__startServer`), `restart`, `reload` (re-read the configuration and
//! send it). Everything else is one request, printed by the
//! [`Beautifier`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use gaoler_command::Command as Cmd;
use gaoler_config::reader::{ClientOptions, ConfigRead, EarlyOptions};
use gaoler_config::{read_config, ReadMode};
use gaoler_protocol::{Client, ClientError};
use serde_json::{json, Map, Value};

use crate::beautifier::Beautifier;
use crate::dump::dump;
use crate::early::{early_options, EarlyOverrides};
use crate::log;
use gaoler_py::repr::{py_str, repr};

/// Default wait for the server (`--timeout`), in seconds.
const MAX_WAITTIME: f64 = 30.0;

/// Ping timeout when checking whether a server is running.
const PING_TIMEOUT: Duration = Duration::from_millis(500);

/// `gaoler client`'s (fail2ban-client's) command line.
#[derive(Parser, Debug)]
#[command(
    long_about = None,
    name = "fail2ban-client",
    disable_version_flag = true,
    about = "Control gaoler (fail2ban-client compatible)"
)]
pub struct Args {
    /// Configuration directory.
    #[arg(short = 'c', long = "conf", default_value_os_t = gaoler_config::default_basedir_for_this_program())]
    pub conf: PathBuf,
    /// Socket path.
    #[arg(short = 's', long = "socket")]
    pub socket: Option<PathBuf>,
    /// Pidfile path.
    #[arg(short = 'p', long = "pidfile")]
    pub pidfile: Option<PathBuf>,
    /// Process name (accepted for compatibility).
    #[arg(long = "pname")]
    pub pname: Option<String>,
    /// Log level for the server (overrides fail2ban.conf).
    #[arg(long = "loglevel")]
    pub loglevel: Option<String>,
    /// Log target for the server: a file, STDOUT, STDERR, SYSLOG or SYSTEMD-JOURNAL.
    #[arg(long = "logtarget")]
    pub logtarget: Option<String>,
    /// Syslog socket for the server ("auto" or a path).
    #[arg(long = "syslogsocket")]
    pub syslogsocket: Option<String>,
    /// Dump the configuration stream, one JSON array per line.
    #[arg(short = 'd')]
    pub dump: bool,
    /// Dump the configuration stream, pretty-printed.
    #[arg(long = "dp", alias = "dump-pretty")]
    pub dump_pretty: bool,
    /// Test the configuration.
    #[arg(short = 't', long = "test")]
    pub test: bool,
    /// Interactive mode (not supported).
    #[arg(short = 'i')]
    pub interactive: bool,
    /// Increase verbosity.
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Decrease verbosity.
    #[arg(short = 'q', action = clap::ArgAction::Count)]
    pub quiet: u8,
    /// Force: remove a stale socket when starting the server.
    #[arg(short = 'x')]
    pub force: bool,
    /// Start the server in the background (the default).
    #[arg(short = 'b')]
    pub background: bool,
    /// Start the server in the foreground.
    #[arg(short = 'f')]
    pub foreground: bool,
    /// Start the server without reading the configuration (internal).
    #[arg(long = "async")]
    pub async_: bool,
    /// How long to wait for the server (a time value, default 30 s).
    #[arg(long = "timeout")]
    pub timeout: Option<String>,
    /// Convert a time abbreviation to seconds.
    #[arg(long = "str2sec")]
    pub str2sec: Option<String>,
    /// Print `status` and `banned` results (and any other result) as one
    /// JSON document instead of fail2ban's text.
    #[arg(long = "json")]
    pub json: bool,
    /// Print the version.
    #[arg(short = 'V', long = "version")]
    pub version: bool,
    /// Command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Parse a command line the way fail2ban's tools exit on it: usage errors
/// are printed and give 255, `--help` prints and gives 0.
pub fn parse_args<T: Parser>(argv: Vec<OsString>) -> Result<T, ExitCode> {
    T::try_parse_from(argv).map_err(|e| {
        let _ = e.print();
        if e.use_stderr() {
            ExitCode::from(255)
        } else {
            ExitCode::SUCCESS
        }
    })
}

/// The client's command line, for man pages and completions.
pub fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
}

/// Entry point: `argv0` is the program name, `rest` the arguments after
/// the (implied or explicit) `client` subcommand.
pub fn main(argv0: &OsString, rest: Vec<OsString>) -> ExitCode {
    let mut argv = vec![argv0.clone()];
    argv.extend(rest);
    let args: Args = match parse_args(argv) {
        Ok(a) => a,
        Err(code) => return code,
    };
    if run(args) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(255)
    }
}

/// Everything a command flow needs.
struct Ctx {
    args: Args,
    early: EarlyOptions,
    client_opts: ClientOptions,
    timeout: Duration,
    beautifier: Beautifier,
}

fn run(args: Args) -> bool {
    log::set_verbosity(1 + i32::from(args.verbose) - i32::from(args.quiet));
    if args.version {
        println!("gaoler {}", env!("CARGO_PKG_VERSION"));
        return true;
    }
    if let Some(v) = &args.str2sec {
        return match gaoler_config::str2seconds(v) {
            Ok(n) => {
                println!("{n}");
                true
            }
            Err(e) => {
                println!("ERROR: {e}");
                false
            }
        };
    }
    let timeout = match &args.timeout {
        None => Duration::from_secs_f64(MAX_WAITTIME),
        Some(t) => match gaoler_config::str2seconds(t)
            .ok()
            .and_then(|n| n.to_string().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
        {
            Some(s) => Duration::from_secs_f64(s),
            None => {
                println!("ERROR: invalid --timeout {t:?}");
                return false;
            }
        },
    };
    let client_opts = ClientOptions {
        loglevel: args.loglevel.clone(),
        logtarget: args.logtarget.clone(),
        syslogsocket: args.syslogsocket.clone(),
    };
    if args.dump || args.dump_pretty {
        let read = match read_config(&args.conf, ReadMode::Dump, &client_opts) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("ERROR: Failed during configuration: {e}");
                println!("ERROR: The configuration stream failed because of the invalid syntax.");
                return false;
            }
        };
        dump(&read, args.dump_pretty);
        if !args.test {
            return true;
        }
    }
    if args.test {
        let ok = test_config(&args.conf, &client_opts);
        if !ok || args.command.is_empty() {
            return ok;
        }
    }
    if args.command.is_empty() && !args.interactive {
        eprintln!("gaoler client: no command given (try -h)");
        return false;
    }
    let over = EarlyOverrides::from_flags(
        args.socket.as_deref(),
        args.pidfile.as_deref(),
        args.loglevel.as_deref(),
        args.logtarget.as_deref(),
        args.syslogsocket.as_deref(),
    );
    let early = early_options(&args.conf, &over);
    let ctx = Ctx {
        early,
        client_opts,
        timeout,
        beautifier: Beautifier::default(),
        args,
    };
    let cmd = ctx.args.command.clone();
    if ctx.args.interactive {
        return interactive(&ctx);
    }
    process_command(&ctx, cmd)
}

/// `-i`, fail2ban's interactive mode: the command line's command first (if
/// any; its failure ends it), then a `fail2ban> ` prompt for commands,
/// one per line, split as a shell would; `exit` or `quit` ends it, `help`
/// shows the usage, the end of input ends it as an error (as fail2ban's).
fn interactive(ctx: &Ctx) -> bool {
    use std::io::{BufRead, Write};
    if !ctx.args.command.is_empty() && !process_command(ctx, ctx.args.command.clone()) {
        return false;
    }
    println!(
        "Fail2Ban v{} reads log file that contains password failure report\n\
         and bans the corresponding IP addresses using firewall rules.\n",
        gaoler_config::reader::FAIL2BAN_VERSION
    );
    let stdin = std::io::stdin();
    let mut line = String::new();
    loop {
        print!("fail2ban> ");
        let _ = std::io::stdout().flush();
        line.clear();
        if !matches!(stdin.lock().read_line(&mut line), Ok(n) if n > 0) {
            println!();
            log::error("EOF when reading a line");
            return false;
        }
        match line.trim_end_matches(['\n', '\r']) {
            "exit" | "quit" => return true,
            "help" => {
                use clap::CommandFactory;
                println!("{}", Args::command().render_help());
            }
            "" => {}
            cmd => match gaoler_config::shlex::split(cmd) {
                Ok(words) if !words.is_empty() => {
                    process_command(ctx, words);
                }
                Ok(_) => {}
                Err(e) => log::error(&e.to_string()),
            },
        }
    }
}

/// Everything wrong with a configuration: what the reader found, plus what
/// the server would refuse when the stream is applied (invalid regexes,
/// Python actions, ...), checked on a throw-away server that starts nothing.
fn config_problems(read: &ConfigRead) -> Vec<String> {
    let mut problems = read.problems();
    if problems.is_empty() {
        problems = gaoler_lint::stream::check_stream(&read.stream);
    }
    problems
}

fn test_config(conf: &Path, client: &ClientOptions) -> bool {
    match read_config(conf, ReadMode::Test, client) {
        Ok(read) => {
            let problems = config_problems(&read);
            if problems.is_empty() {
                println!("OK: configuration test is successful");
                lint_warnings(conf, &read);
                true
            } else {
                for p in problems {
                    eprintln!("ERROR: {p}");
                }
                println!("ERROR: test configuration failed");
                false
            }
        }
        Err(e) => {
            eprintln!("ERROR: Failed during configuration: {e}");
            println!("ERROR: test configuration failed");
            false
        }
    }
}

/// After a passing test, what `gaoler lint` finds (jails that start but
/// cannot ban, or ban the wrong address), each as a `WARNING:` line on
/// stderr: the test's verdict and exit status stay fail2ban's. Logs are
/// read for their first lines only, so `-t` stays quick.
fn lint_warnings(conf: &Path, read: &ConfigRead) {
    let opts = gaoler_lint::Options {
        log_lines: 200,
        ..gaoler_lint::Options::default()
    };
    for f in gaoler_lint::lint_read(conf, read, &opts, &gaoler_lint::RealHost) {
        eprintln!("WARNING: {}", f.to_short());
    }
}

fn process_command(ctx: &Ctx, mut cmd: Vec<String>) -> bool {
    match cmd.first().map(String::as_str) {
        Some("start") if cmd.len() == 1 => start_server(ctx),
        Some("restart") if cmd.len() > 1 => {
            // `restart J` is `reload --restart J`.
            cmd.splice(0..1, ["reload".to_string(), "--restart".to_string()]);
            process_command(ctx, cmd)
        }
        Some("restart") => {
            process_command(ctx, vec!["stop".into()]);
            if !wait_on_server(ctx, false) {
                log::error("Could not stop server");
                return false;
            }
            start_server(ctx)
        }
        Some("reload") => reload(ctx, cmd),
        Some("ping") if cmd.len() > 1 => {
            let t = cmd[1]
                .parse::<f64>()
                .ok()
                .filter(|t| t.is_finite() && *t > 0.0)
                .map(Duration::from_secs_f64);
            let words = to_values(&cmd);
            send_commands(ctx, &[words], true, t)
        }
        _ => {
            let words = to_values(&cmd);
            send_commands(ctx, &[words], true, None)
        }
    }
}

fn to_values(words: &[String]) -> Vec<Value> {
    words.iter().map(|w| Value::from(w.as_str())).collect()
}

fn socket(ctx: &Ctx) -> PathBuf {
    PathBuf::from(&ctx.early.socket)
}

/// Send `cmds` over one connection, printing results (all of them when
/// `show`, else only `echo` and `server-status`, as fail2ban does).
/// Returns false if any command failed.
fn send_commands(ctx: &Ctx, cmds: &[Vec<Value>], show: bool, timeout: Option<Duration>) -> bool {
    let path = socket(ctx);
    let mut client = match Client::connect(&path, timeout) {
        Ok(c) => c,
        Err(e) => {
            socket_error(&path, &e);
            return false;
        }
    };
    let mut ok = true;
    for c in cmds {
        let word = c.first().and_then(Value::as_str).unwrap_or("");
        let print = show || matches!(word, "echo" | "server-status");
        match client.send(c) {
            Ok(v) => {
                if print {
                    if ctx.args.json {
                        println!("{}", json_output(c, &v));
                    } else {
                        println!("{}", ctx.beautifier.beautify(c, &v));
                    }
                }
            }
            Err(ClientError::Remote(e)) => {
                log::error(&format!(
                    "NOK: ({},)",
                    repr(&Value::from(e.message.as_str()))
                ));
                if show {
                    if ctx.args.json {
                        println!(
                            "{}",
                            json!({"error": {"kind": e.kind, "message": e.message}})
                        );
                    } else {
                        println!("{}", ctx.beautifier.beautify_error(c, &e));
                    }
                }
                ok = false;
            }
            Err(e) => {
                if show {
                    socket_error(&path, &e);
                }
                return false;
            }
        }
    }
    ok
}

/// fail2ban's diagnosis of a failed connection.
fn socket_error(path: &Path, err: &ClientError) {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        log::error(&format!("{err}"));
        return;
    };
    // SAFETY: a valid NUL-terminated path.
    let exists = unsafe { libc::access(c.as_ptr(), libc::F_OK) } == 0;
    // SAFETY: as above.
    let writable = unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0;
    if !exists {
        log::error(&format!(
            "Failed to access socket path: {}. Is fail2ban running?",
            path.display()
        ));
    } else if !writable {
        log::error(&format!(
            "Permission denied to socket: {}, (you must be root)",
            path.display()
        ));
    } else {
        log::error(&format!("[{err}] Unable to contact server. Is it running?"));
    }
}

/// Is a server answering on the socket?
fn ping(ctx: &Ctx, timeout: Duration) -> bool {
    match Client::connect(&socket(ctx), Some(timeout)) {
        Ok(mut c) => c.send(&[json!("ping")]).is_ok(),
        Err(_) => false,
    }
}

/// Wait until the server answers (`alive`) or is gone (`!alive`), up to
/// `--timeout`.
fn wait_on_server(ctx: &Ctx, alive: bool) -> bool {
    wait_for(ctx.timeout, || {
        (socket(ctx).exists() && ping(ctx, PING_TIMEOUT)) == alive
    })
}

/// Poll `cond` with a growing interval (fast at first) until `maxtime`.
fn wait_for(maxtime: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    let mut sleep = Duration::from_millis(6);
    loop {
        if cond() {
            return true;
        }
        let waited = start.elapsed();
        if waited >= maxtime {
            return false;
        }
        let cap = if waited > Duration::from_millis(200) {
            Duration::from_millis(500)
        } else {
            Duration::from_millis(100)
        };
        sleep = (sleep * 2).min(cap);
        std::thread::sleep(sleep.min(maxtime.saturating_sub(waited)));
    }
}

/// Read the whole tree for a reload; problems are fatal (a reload with a
/// broken jail would otherwise silently drop it).
fn read_stream(ctx: &Ctx) -> Option<ConfigRead> {
    match read_config(&ctx.args.conf, ReadMode::Test, &ctx.client_opts) {
        Ok(read) => {
            let problems = config_problems(&read);
            if problems.is_empty() {
                Some(read)
            } else {
                for p in problems {
                    log::error(&p);
                }
                log::error("ERROR: configuration has errors, not (re)loading it");
                None
            }
        }
        Err(e) => {
            log::error(&format!("Failed during configuration: {e}"));
            None
        }
    }
}

/// The part of `stream` a single-jail reload sends: server-level settings
/// and the jail's own commands (fail2ban reads only that jail then).
pub fn jail_stream(stream: &[Cmd], jail: &str) -> Vec<Cmd> {
    use gaoler_command::{ServerSetting as S, Set};
    let skipped = format!("Jail '{jail}' skipped");
    stream
        .iter()
        .filter(|c| match c {
            Cmd::Set {
                target: Set::Server { setting, value },
                ..
            } => {
                value.is_some()
                    && matches!(
                        setting,
                        S::LogLevel
                            | S::LogTarget
                            | S::SyslogSocket
                            | S::AllowIpv6
                            | S::DbFile
                            | S::DbMaxMatches
                            | S::DbPurgeAge
                            | S::Thread
                    )
            }
            Cmd::ConfigError(m) => m.starts_with(&skipped),
            c => c.jail() == Some(jail),
        })
        .cloned()
        .collect()
}

fn start_server(ctx: &Ctx) -> bool {
    if ping(ctx, PING_TIMEOUT) {
        log::error("Server already running");
        return false;
    }
    if ctx.args.foreground {
        return exec_foreground_server(ctx);
    }
    let Some(plan) = start_plan(ctx) else {
        return false;
    };
    let sock = socket(ctx);
    if !ctx.args.force && sock.exists() {
        log::error("Fail2ban seems to be in unexpected state (not running but the socket exists)");
        return false;
    }
    let mut child = match server_command(ctx, &["--async", "-b"]).spawn() {
        Ok(c) => c,
        Err(e) => {
            log::error(&format!("Exception while starting server background: {e}"));
            return false;
        }
    };
    let mut failed_early = false;
    let up = wait_for(ctx.timeout, || {
        // The server daemonises: its first process exits 0 at once. A
        // non-zero exit means it could not start, so stop waiting.
        if let Ok(Some(st)) = child.try_wait() {
            if !st.success() {
                failed_early = true;
                return true;
            }
        }
        sock.exists() && ping(ctx, PING_TIMEOUT)
    });
    // Reap the first process if it is done (no zombie while we stream).
    let _ = child.try_wait();
    if failed_early || !up {
        log::error(&format!(
            "Could not start server. Maybe an old socket file is still present. Try to remove {}. \
             If you used fail2ban-client to start the server, adding the -x option will do it",
            sock.display()
        ));
        return false;
    }
    let stream: Vec<Value> = plan
        .stream
        .iter()
        .map(|c| Value::Array(c.to_json()))
        .collect();
    let streamed = send_commands(
        ctx,
        &[vec![json!("server-stream"), Value::Array(stream)]],
        false,
        None,
    );
    // The server has the last word: a jail can still be refused while
    // the stream runs.
    if let Some((running, failed)) = server_jails(ctx) {
        for (jail, reason) in &failed {
            if !plan.refused.iter().any(|(j, _)| j == jail) {
                log::error(&format!("Jail '{jail}' failed to start: {reason}"));
            }
        }
        if running == 0 && !failed.is_empty() {
            log::error("No jail could be started; stopping the server");
            send_commands(ctx, &[vec![json!("stop")]], false, None);
            return false;
        }
    }
    streamed && send_commands(ctx, &[vec![json!("server-status")]], false, None)
}

/// Read the tree for a server start and decide which jails can start.
/// A jail with errors is reported (file and line) and left out, and the
/// others start; the start is refused when no enabled jail is left, or
/// when a server-level setting is wrong.
fn start_plan(ctx: &Ctx) -> Option<gaoler_lint::start::StartPlan> {
    let read = match read_config(&ctx.args.conf, ReadMode::Test, &ctx.client_opts) {
        Ok(read) => read,
        Err(e) => {
            log::error(&format!("Failed during configuration: {e}"));
            return None;
        }
    };
    let plan = gaoler_lint::start::plan_start(&read);
    for (jail, reason) in &plan.refused {
        log::error(&format!("Jail '{jail}' not started: {reason}"));
    }
    for p in &plan.problems {
        log::error(p);
    }
    if !plan.problems.is_empty() {
        log::error("configuration has errors, not starting the server");
        return None;
    }
    if plan.starting.is_empty() && !plan.refused.is_empty() {
        log::error("no jail could be started, not starting the server");
        return None;
    }
    Some(plan)
}

/// The number of running jails and the failed ones, from `status`.
fn server_jails(ctx: &Ctx) -> Option<(u64, Vec<(String, String)>)> {
    let mut client = Client::connect(&socket(ctx), None).ok()?;
    let st = client.send(&[json!("status")]).ok()?;
    let mut running = 0;
    let mut failed = Vec::new();
    for item in st.as_array()? {
        match item.as_array().map(Vec::as_slice) {
            Some([k, v]) if k == "Number of jail" => running = v.as_u64()?,
            Some([k, Value::Array(list)]) if k == "Failed jails" => {
                for p in list {
                    if let Some([j, r]) = p.as_array().map(Vec::as_slice) {
                        failed.push((py_str(j), py_str(r)));
                    }
                }
            }
            _ => {}
        }
    }
    Some((running, failed))
}

/// `gaoler server …` with the client's settings and `extra` flags.
fn server_command(ctx: &Ctx, extra: &[&str]) -> Command {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("gaoler"));
    let mut c = Command::new(exe);
    // argv[0] "gaoler" so a binary installed under a tool's name still
    // takes "server" as the subcommand.
    std::os::unix::process::CommandExt::arg0(&mut c, "gaoler");
    c.arg("server").args(extra);
    c.arg("-s").arg(&ctx.early.socket);
    c.arg("-p").arg(&ctx.early.pidfile);
    if ctx.args.force {
        c.arg("-x");
    }
    c.arg("--loglevel").arg(&ctx.early.loglevel);
    c.arg("--logtarget").arg(&ctx.early.logtarget);
    c.arg("--syslogsocket").arg(&ctx.early.syslogsocket);
    c.stdin(Stdio::null()).stdout(Stdio::null());
    c
}

/// `-f start`: become the server, which reads the configuration itself.
fn exec_foreground_server(ctx: &Ctx) -> bool {
    use std::os::unix::process::CommandExt;
    let mut c = server_command(ctx, &["-f"]);
    c.arg("-c").arg(&ctx.args.conf);
    c.stdout(Stdio::inherit());
    let err = c.exec();
    log::error(&format!(
        "Exception while starting server foreground: {err}"
    ));
    false
}

fn reload(ctx: &Ctx, mut cmd: Vec<String>) -> bool {
    let mut opts: Vec<Value> = Vec::new();
    while cmd.len() >= 2 {
        if matches!(cmd[1].as_str(), "--restart" | "--unban" | "--if-exists") {
            opts.push(Value::from(cmd.remove(1)));
        } else {
            if cmd.len() > 2 {
                log::error(&format!(
                    "Unexpected argument(s) for reload: {}",
                    repr(&Value::Array(to_values(&cmd[1..])))
                ));
                return false;
            }
            break;
        }
    }
    if !ping(ctx, ctx.timeout) {
        log::error("Could not find server");
        return false;
    }
    let Some(read) = read_stream(ctx) else {
        return false;
    };
    let (jail, stream) = if cmd.len() == 1 || cmd[1] == "--all" {
        ("--all".to_string(), read.stream)
    } else {
        (cmd[1].clone(), jail_stream(&read.stream, &cmd[1]))
    };
    let stream: Vec<Value> = stream.iter().map(|c| Value::Array(c.to_json())).collect();
    let req = vec![
        json!("reload"),
        Value::from(jail),
        Value::Array(opts),
        Value::Array(stream),
    ];
    send_commands(ctx, &[req], true, None)
}

/// `--json` output: `status` and `banned` reshaped into objects, anything
/// else as returned.
pub fn json_output(cmd: &[Value], v: &Value) -> String {
    let word = |i: usize| cmd.get(i).and_then(Value::as_str);
    let shaped = match word(0) {
        Some("status") if cmd.len() == 1 => pairs_to_object(v),
        Some("status") if word(1) == Some("--all") => match v.as_array() {
            Some(items) if !items.is_empty() => {
                let (rest, last) = items.split_at(items.len() - 1);
                let mut general = pairs_to_object(&Value::Array(rest.to_vec()));
                let jails = last.first().and_then(crate::beautifier::jails_dict);
                if let (Value::Object(g), Some(jails)) = (&mut general, jails) {
                    let j: Map<String, Value> = jails
                        .iter()
                        .map(|(k, st)| (k.clone(), pairs_to_object(st)))
                        .collect();
                    g.insert("Jails".into(), Value::Object(j));
                }
                general
            }
            _ => v.clone(),
        },
        Some("status") => pairs_to_object(v),
        Some("banned") if cmd.len() == 1 => match v.as_array() {
            // [{jail: [ips]}, …] → {jail: [ips], …}
            Some(list) => {
                let mut m = Map::new();
                for d in list {
                    if let Some(o) = d.as_object() {
                        for (k, x) in o {
                            m.insert(k.clone(), x.clone());
                        }
                    }
                }
                Value::Object(m)
            }
            None => v.clone(),
        },
        Some("banned") => match v.as_array() {
            // one list of jails per ip → {ip: [jails], …}
            Some(list) if list.len() == cmd.len() - 1 => Value::Object(
                cmd[1..]
                    .iter()
                    .zip(list)
                    .map(|(ip, jails)| (py_str(ip), jails.clone()))
                    .collect(),
            ),
            _ => v.clone(),
        },
        _ => v.clone(),
    };
    serde_json::to_string(&shaped).unwrap_or_else(|_| "null".into())
}

/// A list of `[name, value]` pairs (nested) as an object; "Jail list"
/// (`"a, b"`) becomes an array.
fn pairs_to_object(v: &Value) -> Value {
    let Some(items) = v.as_array() else {
        return v.clone();
    };
    let is_pair = |x: &Value| {
        x.as_array()
            .is_some_and(|p| p.len() == 2 && p[0].is_string())
    };
    if items.is_empty() || !items.iter().all(is_pair) {
        return v.clone();
    }
    let mut m = Map::new();
    for p in items {
        let Some([k, x]) = p.as_array().map(Vec::as_slice) else {
            continue;
        };
        let key = py_str(k);
        let val = if key == "Jail list" {
            match x.as_str() {
                Some("") => json!([]),
                Some(s) => Value::Array(s.split(", ").map(Value::from).collect()),
                None => x.clone(),
            }
        } else if x
            .as_array()
            .is_some_and(|a| !a.is_empty() && a.iter().all(is_pair))
        {
            pairs_to_object(x)
        } else {
            x.clone()
        };
        m.insert(key, val);
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_status_shapes() {
        let st = json!([["Number of jail", 2], ["Jail list", "a, b"]]);
        assert_eq!(
            json_output(&[json!("status")], &st),
            r#"{"Number of jail":2,"Jail list":["a","b"]}"#
        );
        let js = json!([
            ["Filter", [["Currently failed", 1], ["File list", ["/x"]]]],
            ["Actions", [["Banned IP list", ["192.0.2.7"]]]]
        ]);
        assert_eq!(
            json_output(&[json!("status"), json!("sshd")], &js),
            r#"{"Filter":{"Currently failed":1,"File list":["/x"]},"Actions":{"Banned IP list":["192.0.2.7"]}}"#
        );
        let all = json!([["Number of jail", 1], ["Jail list", "sshd"], {"sshd": js}]);
        let out: Value =
            serde_json::from_str(&json_output(&[json!("status"), json!("--all")], &all)).unwrap();
        assert_eq!(
            out["Jails"]["sshd"]["Filter"]["Currently failed"],
            json!(1),
            "{out}"
        );
        assert_eq!(
            json_output(
                &[json!("status")],
                &json!([["Number of jail", 0], ["Jail list", ""]])
            ),
            r#"{"Number of jail":0,"Jail list":[]}"#
        );
    }

    #[test]
    fn json_banned_shapes() {
        let b = json!([{"sshd": ["192.0.2.7"]}, {"recidive": []}]);
        assert_eq!(
            json_output(&[json!("banned")], &b),
            r#"{"sshd":["192.0.2.7"],"recidive":[]}"#
        );
        assert_eq!(
            json_output(
                &[json!("banned"), json!("192.0.2.7"), json!("192.0.2.1")],
                &json!([["sshd"], []])
            ),
            r#"{"192.0.2.7":["sshd"],"192.0.2.1":[]}"#
        );
    }

    #[test]
    fn single_jail_reload_stream() {
        let s: Vec<Cmd> = [
            json!(["set", "loglevel", "INFO"]),
            json!(["set", "fleetdb", "host=/x"]),
            json!(["add", "a", "auto"]),
            json!(["set", "a", "maxretry", 3]),
            json!(["add", "b", "auto"]),
            json!(["set", "b", "maxretry", 3]),
            json!([
                "config-error",
                "Jail 'a' skipped, because of wrong configuration: x"
            ]),
            json!(["start", "a"]),
            json!(["start", "b"]),
        ]
        .iter()
        .map(|w| Cmd::parse(w.as_array().unwrap()).unwrap())
        .collect();
        let a: Vec<Value> = jail_stream(&s, "a")
            .iter()
            .map(|c| Value::Array(c.to_json()))
            .collect();
        assert_eq!(
            a,
            [
                json!(["set", "loglevel", "INFO"]),
                json!(["add", "a", "auto"]),
                json!(["set", "a", "maxretry", 3]),
                json!([
                    "config-error",
                    "Jail 'a' skipped, because of wrong configuration: x"
                ]),
                json!(["start", "a"]),
            ]
        );
    }
}
