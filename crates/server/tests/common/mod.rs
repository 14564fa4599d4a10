//! Shared helpers: a temp environment with a log file, a server log, an
//! action file written by a dummy action, and a database.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gaoler_server::{Server, ServerOptions};
use serde_json::{json, Value as Json};

pub struct Env {
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
    pub srvlog: PathBuf,
    pub actfile: PathBuf,
    pub db: PathBuf,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("auth.log");
        std::fs::write(&log, "").expect("log file");
        Env {
            srvlog: dir.path().join("gaoler.log"),
            actfile: dir.path().join("actions.txt"),
            db: dir.path().join("db.sqlite3"),
            log,
            dir,
        }
    }

    pub fn server(&self) -> Arc<Server> {
        Server::new(ServerOptions {
            loglevel: Some("DEBUG".into()),
            logtarget: Some(self.srvlog.to_string_lossy().into_owned()),
            ..ServerOptions::default()
        })
        .expect("server")
    }

    /// The dummy action's properties.
    pub fn dummy_props(&self) -> Json {
        let f = self.actfile.display();
        json!([
            ["actionstart", format!("echo start >> {f}")],
            ["actionstop", format!("echo stop >> {f}")],
            ["actionban", format!("echo ban <ip> <bantime> >> {f}")],
            ["actionunban", format!("echo unban <ip> >> {f}")],
        ])
    }

    /// A jail `test` reading `auth.log`, with the dummy action.
    pub fn stream(&self, jail: &str, extra: &[Json]) -> Vec<Json> {
        let mut s = vec![
            json!(["set", "dbfile", self.db.to_string_lossy()]),
            json!(["add", jail, "auto"]),
            json!(["set", jail, "addfailregex", "Failed login from <HOST>$"]),
            json!(["set", jail, "maxretry", 3]),
            json!(["set", jail, "findtime", "10m"]),
            json!(["set", jail, "bantime", "10m"]),
            json!([
                "set",
                jail,
                "addlogpath",
                self.log.to_string_lossy(),
                "head"
            ]),
            json!(["set", jail, "addaction", "dummy"]),
            json!(["multi-set", jail, "action", "dummy", self.dummy_props()]),
        ];
        s.extend(extra.iter().cloned());
        s.push(json!(["start", jail]));
        s
    }

    pub fn fail(&self, ip: &str) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let line = format!(
            "{} host sshd[1]: Failed login from {ip}\n",
            gaoler_server::log::time2str(now)
        );
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log)
            .expect("open log");
        f.write_all(line.as_bytes()).expect("write log");
    }

    pub fn actions(&self) -> String {
        std::fs::read_to_string(&self.actfile).unwrap_or_default()
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(&self.srvlog).unwrap_or_default()
    }
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn run(srv: &Server, cmd: Json) -> Json {
    let Json::Array(c) = cmd.clone() else {
        panic!("not a command: {cmd}")
    };
    srv.handle(&c)
        .unwrap_or_else(|e| panic!("{cmd} failed: {e} ({})", e.kind()))
}

pub fn stream(srv: &Server, s: Vec<Json>) {
    run(srv, json!(["server-stream", s]));
}

/// Waits for the jail's filter thread to have opened its files, so lines
/// written next are new lines rather than a backlog.
pub fn settle() {
    std::thread::sleep(Duration::from_millis(300));
}
