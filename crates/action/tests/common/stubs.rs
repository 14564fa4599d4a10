//! A world of recording stubs for action tests: each stubbed program writes
//! its argv and stdin to a log directory, answers what the test set, and a
//! marker file shows whether hostile text was ever run.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use gaoler_action::{ActionSpec, CommandAction, Executor};

/// A recording stub: argv (NUL separated) and stdin to `$STUBLOG`, then
/// the canned answer `$STUBLOG/<name>.out` and exit status
/// `$STUBLOG/<name>.rc`, if there are.
const STUB: &str = r#"#!/bin/sh
name=${0##*/}
n=0
while [ -e "$STUBLOG/$name.$n.args" ]; do n=$((n + 1)); done
printf '%s\0' "$@" > "$STUBLOG/$name.$n.args"
cat > "$STUBLOG/$name.$n.stdin"
if [ -f "$STUBLOG/$name.out" ]; then cat "$STUBLOG/$name.out"; fi
exit "$(cat "$STUBLOG/$name.rc" 2>/dev/null || echo 0)"
"#;

/// One recorded call of a stub.
#[derive(Debug, Clone)]
pub struct Call {
    pub args: Vec<String>,
    pub stdin: String,
}

/// A temporary world for one test: stubs, their log, a marker that hostile
/// text would create, and a log file for the jail.
pub struct World {
    dir: tempfile::TempDir,
}

impl World {
    /// A world in which the programs `stubs` are recording stubs.
    pub fn new(stubs: &[&str]) -> Self {
        super::init_log();
        let dir = tempfile::tempdir().expect("tempdir");
        let w = World { dir };
        std::fs::create_dir(w.stubs()).expect("stub dir");
        std::fs::create_dir(w.log()).expect("log dir");
        for name in stubs {
            let p = w.stub(name);
            std::fs::write(&p, STUB).expect("stub");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        std::fs::write(w.jail_log(), "").expect("jail log");
        w
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    /// `file(name)` as a string, for configuration values.
    pub fn p(&self, name: &str) -> String {
        self.file(name).to_str().expect("utf-8").to_string()
    }

    pub fn stubs(&self) -> PathBuf {
        self.path().join("stubs")
    }

    pub fn stub(&self, name: &str) -> PathBuf {
        self.stubs().join(name)
    }

    pub fn log(&self) -> PathBuf {
        self.path().join("log")
    }

    pub fn jail_log(&self) -> PathBuf {
        self.path().join("jail.log")
    }

    /// The file any hostile command would create.
    pub fn marker(&self) -> PathBuf {
        self.path().join("PWNED")
    }

    /// `touch <marker>`, for hostile text.
    pub fn touch(&self) -> String {
        format!("touch {}", self.marker().display())
    }

    /// Sets the canned answer of stub `name`.
    pub fn answer(&self, name: &str, out: &str) {
        std::fs::write(self.log().join(format!("{name}.out")), out).expect("stub answer");
    }

    /// Sets the exit status of stub `name`.
    pub fn status(&self, name: &str, rc: i32) {
        std::fs::write(self.log().join(format!("{name}.rc")), rc.to_string()).expect("stub rc");
    }

    /// An action from `spec` that runs with the stubs (IPv6 allowed).
    pub fn action(&self, spec: &ActionSpec) -> CommandAction {
        let mut a = CommandAction::with_executor(spec, self.executor()).expect("action");
        a.set_ipv6_allowed(true);
        a
    }

    /// Runs actions with the stubs first on PATH.
    pub fn executor(&self) -> Executor {
        self.executor_path(&format!(
            "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            self.stubs().display()
        ))
    }

    /// Runs actions with `path` as PATH.
    pub fn executor_path(&self, path: &str) -> Executor {
        Executor::with_wrapper([
            "env".to_string(),
            format!("PATH={path}"),
            format!("STUBLOG={}", self.log().display()),
            "TZ=UTC".to_string(),
        ])
    }

    /// Every recorded call of stub `name`, in order.
    pub fn calls(&self, name: &str) -> Vec<Call> {
        let mut out = Vec::new();
        for n in 0.. {
            let args = self.log().join(format!("{name}.{n}.args"));
            let Ok(raw) = std::fs::read(&args) else { break };
            let mut args: Vec<String> = String::from_utf8_lossy(&raw)
                .split('\0')
                .map(str::to_string)
                .collect();
            args.pop(); // after the last NUL
            let stdin = std::fs::read(self.log().join(format!("{name}.{n}.stdin")))
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            out.push(Call { args, stdin });
        }
        out
    }

    /// The argv of every recorded call of `name`; the calls are forgotten.
    pub fn take_args(&self, name: &str) -> Vec<Vec<String>> {
        let calls = self.calls(name);
        self.clear();
        calls.into_iter().map(|c| c.args).collect()
    }

    /// Forgets the recorded calls of every stub.
    pub fn clear(&self) {
        for e in std::fs::read_dir(self.log()).expect("log dir").flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".args") || name.ends_with(".stdin") {
                std::fs::remove_file(e.path()).expect("remove log");
            }
        }
    }

    /// No stub has been called since the last `clear`.
    pub fn assert_no_calls(&self) {
        let left: Vec<String> = std::fs::read_dir(self.log())
            .expect("log dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".args"))
            .collect();
        assert!(left.is_empty(), "unexpected calls: {left:?}");
    }

    pub fn assert_no_marker(&self) {
        assert!(
            !self.marker().exists(),
            "hostile text was run: {} exists",
            self.marker().display()
        );
    }

    /// The properties the configuration reader gives the action of jail
    /// `jail` whose `action` line is `action` (gaoler's shipped tree, the
    /// world's jail log), then every `replace` applied to every value.
    pub fn spec(&self, jail: &str, action: &str, replace: &[(&str, &str)]) -> ActionSpec {
        let mut spec = super::jail_action(
            &super::shipped(),
            jail,
            &format!("port = ssh\naction = {action}"),
            Some(&self.jail_log()),
        );
        for (_, value) in &mut spec.properties {
            for (from, to) in replace {
                *value = value.replace(from, to);
            }
        }
        spec
    }
}
