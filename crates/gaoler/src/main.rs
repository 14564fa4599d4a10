//! The `gaoler` binary: `gaoler server`, `gaoler client`, `gaoler regex`, ….
//!
//! Invoked through a link named `fail2ban-server`, `fail2ban-client` or
//! `fail2ban-regex` it behaves as that subcommand, so existing systemd units
//! and scripts keep working when the binary is swapped.

mod docs;
mod notify;
mod server;

/// mimalloc rather than glibc's allocator: `gaoler regex` hands failure
/// data built on worker threads to the main thread, and glibc's arenas
/// then contend on every cross-thread free; mimalloc frees those into the
/// owning thread's heap without a lock (sshd benchmark: 0.95 s → 0.67 s).
/// Built without transparent huge pages (`no_thp`): with them the daemon's
/// idle memory doubled (13 → 27 MB) and the kernel zeroed 2 MB pages for
/// small heaps.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    /// mimalloc's `mi_collect` (linked through the `mimalloc` crate, whose
    /// bindings only declare it with the `extended` feature).
    fn mi_collect(force: bool);
}

/// Gives free memory back to the system: the server calls it after a
/// cleanup dropped many failure tickets (an address spray that expired),
/// which mimalloc would otherwise keep for the filter thread's heap.
fn release_memory() {
    // SAFETY: mi_collect takes no pointers; it only walks the allocator's
    // own state (the calling thread's heap and the shared arenas).
    unsafe { mi_collect(true) }
}

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "usage: gaoler <client|server|regex|explain|test-samples> [OPTIONS] ...\n\n\
    client   control the server, test or dump a configuration (fail2ban-client)\n\
    server   run the daemon (fail2ban-server)\n\
    regex    test filters against log lines (fail2ban-regex)\n\
    explain  replay a log through a jail: what it would have banned, and why\n\
    lint     find jails that start but cannot ban (or ban the wrong address)\n\
    test-samples  run annotated sample logs against their filters\n\
    generate-docs DIR  write man pages and shell completions into DIR\n";

/// Map the program name to an implied subcommand.
fn implied_subcommand(argv0: &OsString) -> Option<&'static str> {
    let name = Path::new(argv0).file_name()?.to_string_lossy().to_string();
    match name.as_str() {
        "fail2ban-client" => Some("client"),
        "fail2ban-server" => Some("server"),
        "fail2ban-regex" => Some("regex"),
        _ => None,
    }
}

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let argv0 = args.first().cloned().unwrap_or_default();
    let rest: Vec<OsString> = args.drain(1..).collect();
    let (sub, rest) = match implied_subcommand(&argv0) {
        Some(s) => (s.to_string(), rest),
        None => match rest.split_first() {
            Some((first, tail)) => (first.to_string_lossy().to_string(), tail.to_vec()),
            None => {
                eprint!("{USAGE}");
                return ExitCode::from(2);
            }
        },
    };
    // The server logs through its own logger (gaoler_server installs a
    // tracing bridge into it); every other tool logs to stderr.
    if sub != "server" {
        init_tracing();
        // A tool whose output is piped into `head` or `grep -q` ends
        // quietly when the reader goes, as Unix tools do, instead of
        // panicking on the failed write (Rust ignores SIGPIPE). The
        // server keeps ignoring it: a client that hangs up must not end it.
        // SAFETY: setting a signal's disposition to the default has no
        // preconditions.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    // (what each tool calls itself in its help and errors)
    let argv0 = program_name(&argv0, &sub);
    match sub.as_str() {
        "client" => gaoler_client::main(&argv0, rest),
        "server" => {
            gaoler_server::jail::set_release_memory_hook(release_memory);
            server::main(&argv0, rest)
        }
        "regex" => gaoler_tools::regex_main(&argv0, rest),
        "explain" => gaoler_tools::explain_main(&argv0, rest),
        "lint" => gaoler_lint::lint_main(&argv0, rest),
        "test-samples" => gaoler_tools::test_samples_main(&argv0, rest),
        "generate-docs" => match rest.first() {
            Some(dir) => match docs::generate(Path::new(dir)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("gaoler generate-docs: {e}");
                    ExitCode::from(1)
                }
            },
            None => {
                eprintln!("usage: gaoler generate-docs DIR");
                ExitCode::from(2)
            }
        },
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        "-V" | "--version" | "version" => {
            println!("gaoler {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("gaoler: unknown subcommand {other:?}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// The name a tool calls itself: `fail2ban-client` (and the others) when
/// run through a link of that name, else `gaoler SUB` (`gaoler client`).
fn program_name(argv0: &OsString, sub: &str) -> OsString {
    let name = Path::new(argv0)
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "gaoler".into());
    if name.starts_with("fail2ban-") {
        name.into()
    } else {
        format!("{name} {sub}").into()
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GAOLER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
}
