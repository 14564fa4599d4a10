//! Running one shell command the way fail2ban's `Utils.executeCmd` does.
//!
//! * `/bin/sh -c SCRIPT ARG0 ARG1 ...` so that escaped ticket values arrive
//!   as `$0`, `$1`, ... (see [`crate::subst`]);
//! * the child calls `setsid()` before exec, so it leads its own process
//!   group and a timeout can kill the whole tree with `killpg` without
//!   touching us;
//! * stdout and stderr are captured (reader threads, so a chatty command
//!   cannot block on a full pipe) and logged at ERROR on failure;
//! * a timeout sends SIGTERM to the group, waits 0.2 s, then SIGKILLs the
//!   group (fail2ban always follows up with SIGKILL to reap stragglers);
//! * one global lock serialises all executions across jails, as fail2ban's
//!   `_cmd_lock` does: firewall tools are not all safe to run concurrently.
//!
//! An optional *wrapper* is prepended to the argv (e.g. `ip netns exec NS`),
//! used by tests to run actions inside a private network namespace.

use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use crate::subst::ShellCommand;

/// Serialises every command execution in the process.
static CMD_LOCK: Mutex<()> = Mutex::new(());

/// Identifies one execution in the log (fail2ban logs `id(realCmd)` in hex).
static EXEC_ID: AtomicU64 = AtomicU64::new(1);

/// How long to wait after SIGTERM before SIGKILL.
const TERM_GRACE: Duration = Duration::from_millis(200);

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// Exited with this status code.
    Code(i32),
    /// Killed by this signal (not by our timeout).
    Signal(i32),
    /// Ran past the timeout and was killed.
    TimedOut,
    /// Could not be started at all.
    SpawnFailed,
}

/// Result of one execution.
#[derive(Debug, Clone)]
pub struct ExecOutcome {
    /// How the command ended.
    pub exit: ExitKind,
    /// What it wrote on stdout.
    pub stdout: Vec<u8>,
    /// What it wrote on stderr.
    pub stderr: Vec<u8>,
}

impl ExecOutcome {
    /// Exit code 0 is the only success.
    pub fn success(&self) -> bool {
        self.exit == ExitKind::Code(0)
    }
}

/// Runs shell commands; cheap to clone.
#[derive(Debug, Clone)]
pub struct Executor {
    wrapper: Vec<String>,
    shell: String,
}

impl Default for Executor {
    fn default() -> Self {
        Self {
            wrapper: Vec::new(),
            shell: "/bin/sh".to_string(),
        }
    }
}

impl Executor {
    /// Runs commands directly with `/bin/sh -c`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs commands as `WRAPPER... /bin/sh -c ...`, e.g.
    /// `["ip", "netns", "exec", "ns1"]`.
    pub fn with_wrapper<I, S>(wrapper: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            wrapper: wrapper.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// The wrapper argv prefix (empty if none).
    pub fn wrapper(&self) -> &[String] {
        &self.wrapper
    }

    /// Executes `cmd` with a timeout, under the global lock, and logs a
    /// failure (command, exit status, output) at ERROR via `tracing`. An
    /// empty script succeeds without running anything.
    pub fn execute(&self, cmd: &ShellCommand, timeout: Duration) -> ExecOutcome {
        self.execute_logged(cmd, None, timeout, false)
    }

    /// Like [`Executor::execute`], with `input` written to the command's
    /// stdin (a batch file for `nft -f -`).
    pub fn execute_input(
        &self,
        cmd: &ShellCommand,
        input: &[u8],
        timeout: Duration,
    ) -> ExecOutcome {
        self.execute_logged(cmd, Some(input), timeout, false)
    }

    /// Like [`Executor::execute`], but a failure is logged at DEBUG only:
    /// for probes whose failure is an expected answer (e.g. removing a ban
    /// that may not be there), not an error.
    pub fn execute_quiet(&self, cmd: &ShellCommand, timeout: Duration) -> ExecOutcome {
        self.execute_logged(cmd, None, timeout, true)
    }

    fn execute_logged(
        &self,
        cmd: &ShellCommand,
        input: Option<&[u8]>,
        timeout: Duration,
        quiet: bool,
    ) -> ExecOutcome {
        if cmd.is_empty() {
            tracing::debug!("Nothing to do");
            return ExecOutcome {
                exit: ExitKind::Code(0),
                stdout: Vec::new(),
                stderr: Vec::new(),
            };
        }
        let id = EXEC_ID.fetch_add(1, Ordering::Relaxed);
        tracing::trace!("{id:x} -- exec: {:?} {:?}", cmd.script, cmd.args);
        let _guard = CMD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let outcome = self.run(cmd, input, timeout);
        match outcome.exit {
            ExitKind::Code(0) => {
                tracing::debug!("{id:x} -- returned successfully 0");
            }
            exit if quiet => {
                tracing::debug!("{id:x} -- exec: {:?} {:?}", cmd.script, cmd.args);
                tracing::debug!("{id:x} -- failed ({exit:?}), as a probe may");
                for line in String::from_utf8_lossy(&outcome.stderr).lines() {
                    tracing::debug!("{id:x} -- stderr: {line:?}");
                }
            }
            exit => {
                tracing::error!("{id:x} -- exec: {:?} {:?}", cmd.script, cmd.args);
                match exit {
                    ExitKind::TimedOut => tracing::error!(
                        "{id:x} -- timed out after {} seconds.",
                        timeout.as_secs_f64()
                    ),
                    ExitKind::Signal(s) => {
                        tracing::error!("{id:x} -- killed with {}", signal_name(s))
                    }
                    ExitKind::SpawnFailed => {}
                    ExitKind::Code(c) => {
                        tracing::error!("{id:x} -- returned {c}");
                        if c == 127 {
                            tracing::info!(
                                "HINT on 127: \"Command not found\".  Make sure that all commands in {:?} are in the PATH of the gaoler server process.",
                                cmd.script
                            );
                        }
                    }
                }
                for line in String::from_utf8_lossy(&outcome.stdout).lines() {
                    tracing::error!("{id:x} -- stdout: {line:?}");
                }
                for line in String::from_utf8_lossy(&outcome.stderr).lines() {
                    tracing::error!("{id:x} -- stderr: {line:?}");
                }
            }
        }
        outcome
    }

    fn run(&self, cmd: &ShellCommand, input: Option<&[u8]>, timeout: Duration) -> ExecOutcome {
        let mut argv: Vec<&str> = self.wrapper.iter().map(String::as_str).collect();
        argv.push(&self.shell);
        let mut command = Command::new(argv[0]);
        command
            .args(&argv[1..])
            .arg("-c")
            .arg(&cmd.script)
            .args(&cmd.args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: setsid is async-signal-safe and the closure touches no
        // memory shared with the parent.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = match command.spawn() {
            Ok(c) => c,
            Err(e) => {
                let msg = format!("{:?} -- failed with {e}", cmd.script);
                tracing::error!("{msg}");
                return ExecOutcome {
                    exit: ExitKind::SpawnFailed,
                    stdout: Vec::new(),
                    stderr: msg.into_bytes(),
                };
            }
        };
        if let (Some(mut stdin), Some(input)) = (child.stdin.take(), input) {
            // A writer thread, so a command that stops reading cannot
            // block us past the timeout; the pipe closes when it is done.
            let input = input.to_vec();
            std::thread::spawn(move || {
                let _ = stdin.write_all(&input);
            });
        }
        let out_rx = child.stdout.take().map(spawn_reader);
        let err_rx = child.stderr.take().map(spawn_reader);
        // After setsid the child's pid is its process group id.
        let pgid = child.id() as libc::pid_t;

        let deadline = Instant::now() + timeout;
        let mut sleep = Duration::from_micros(100);
        let mut status = None;
        while Instant::now() < deadline {
            match child.try_wait() {
                Ok(Some(s)) => {
                    status = Some(s);
                    break;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!("waiting for command failed: {e}");
                    break;
                }
            }
            std::thread::sleep(sleep.min(deadline.saturating_duration_since(Instant::now())));
            sleep = (sleep * 2).min(Duration::from_millis(20));
        }
        let exit = match status {
            Some(s) => match (s.code(), s.signal()) {
                (Some(c), _) => ExitKind::Code(c),
                (None, Some(sig)) => ExitKind::Signal(sig),
                (None, None) => ExitKind::Code(-1),
            },
            None => {
                kill_group(pgid, libc::SIGTERM);
                let grace_end = Instant::now() + TERM_GRACE;
                while Instant::now() < grace_end {
                    if let Ok(Some(_)) = child.try_wait() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                // Always follow up with SIGKILL: other members of the group
                // may have ignored SIGTERM even if the shell is gone.
                kill_group(pgid, libc::SIGKILL);
                let _ = child.wait();
                ExitKind::TimedOut
            }
        };
        // A grandchild that escaped the group could keep the pipes open;
        // don't hang on it.
        let collect = |rx: Option<mpsc::Receiver<Vec<u8>>>| {
            rx.and_then(|rx| rx.recv_timeout(Duration::from_secs(1)).ok())
                .unwrap_or_default()
        };
        ExecOutcome {
            exit,
            stdout: collect(out_rx),
            stderr: collect(err_rx),
        }
    }
}

fn spawn_reader<R: Read + Send + 'static>(mut r: R) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

fn kill_group(pgid: libc::pid_t, sig: libc::c_int) {
    if pgid <= 1 {
        return; // never signal init or "all processes"
    }
    // SAFETY: plain syscall; pgid is the (positive) id of the group our
    // child leads, so this cannot hit our own group.
    unsafe {
        libc::killpg(pgid, sig);
    }
}

fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => return format!("signal {sig}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_failure_and_output() {
        let ex = Executor::new();
        let t = Duration::from_secs(10);
        let o = ex.execute(&ShellCommand::plain("echo out; echo err >&2"), t);
        assert!(o.success());
        assert_eq!(o.stdout, b"out\n");
        assert_eq!(o.stderr, b"err\n");
        let o = ex.execute(&ShellCommand::plain("exit 3"), t);
        assert_eq!(o.exit, ExitKind::Code(3));
        let o = ex.execute(&ShellCommand::plain("no-such-command-gaoler"), t);
        assert_eq!(o.exit, ExitKind::Code(127));
        assert!(ex.execute(&ShellCommand::plain(""), t).success());
    }

    #[test]
    fn positional_arguments() {
        let ex = Executor::new();
        let cmd = ShellCommand {
            script: "a=$0 b=$1 \nprintf '%s|%s' \"$a\" \"$b\"".into(),
            args: vec!["x y".into(), "$(id)".into()],
        };
        let o = ex.execute(&cmd, Duration::from_secs(10));
        assert_eq!(String::from_utf8_lossy(&o.stdout), "x y|$(id)");
    }

    #[test]
    fn runs_in_new_session() {
        let o = Executor::new().execute(
            &ShellCommand::plain("ps -o sid= -p $$; echo $$"),
            Duration::from_secs(10),
        );
        let out = String::from_utf8_lossy(&o.stdout);
        let v: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(v.len(), 2, "{out}");
        assert_eq!(v[0], v[1], "shell must be session leader");
    }

    #[test]
    fn timeout_kills_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidf = dir.path().join("pid");
        let script = format!("sleep 100 & echo $! > {}; wait", pidf.display());
        let start = Instant::now();
        let o = Executor::new().execute(&ShellCommand::plain(script), Duration::from_millis(300));
        assert_eq!(o.exit, ExitKind::TimedOut);
        assert!(start.elapsed() < Duration::from_secs(5));
        let pid: i32 = std::fs::read_to_string(&pidf)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        // The background sleep was in the group and must be gone (or a zombie
        // already reaped by init).
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false);
        assert!(!alive, "sleep {pid} survived the timeout");
    }

    #[test]
    fn wrapper_is_prepended() {
        let ex = Executor::with_wrapper(["env", "GAOLER_W=1"]);
        let o = ex.execute(
            &ShellCommand::plain("echo $GAOLER_W"),
            Duration::from_secs(10),
        );
        assert_eq!(o.stdout, b"1\n");
    }
}
