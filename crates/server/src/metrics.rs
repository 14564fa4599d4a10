//! Prometheus metrics, opt-in: `metrics = ADDRESS:PORT` in fail2ban.conf's
//! `[Definition]` (gaoler only; empty or absent: off) serves `GET /metrics`
//! over plain HTTP in Prometheus' text format.
//!
//! Design decisions:
//! - **The metric names of the common fail2ban exporter** (`f2b_up`,
//!   `f2b_jail_banned_current`, `f2b_jail_banned_total`,
//!   `f2b_jail_failed_current`, `f2b_jail_failed_total`,
//!   `f2b_jail_config_ban_time`, `f2b_jail_config_find_time`,
//!   `f2b_jail_config_fail_max`), so dashboards built on it keep working
//!   without the exporter, plus gaoler's own under `gaoler_` (lines read,
//!   matched and ignored, counted per batch by the filter threads; how far
//!   each log is behind, as of its last saved position). Its
//!   `f2b_jail_count` is left out: promtool's lint rejects a `_count`
//!   suffix on a gauge; it is `gaoler_bans` here, and
//!   `count(f2b_jail_banned_current)` gives the same.
//! - **Read at scrape time** from the jails' own counters: nothing is
//!   counted twice, and a scrape costs a lock per jail, not a pass over
//!   the bans.
//! - **The `prometheus` crate's text encoder**, the classic format that
//!   `promtool check metrics` and every Prometheus version read (the
//!   OpenMetrics encoder of `prometheus-client` names counters in a way
//!   promtool's lint rejects).
//! - **A tiny HTTP/1.0 responder** on its own thread: one request per
//!   connection, bounded (8 KiB of request, 2 s to send it), anything but
//!   `GET /metrics` a 404. It listens where the admin says; the default is
//!   off, and a loopback address keeps it local.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use prometheus::{Encoder, GaugeVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::Server;

/// What a scrape shows of one jail.
pub(crate) struct JailMetrics {
    pub name: String,
    pub failed: u64,
    pub failed_total: u64,
    pub banned: u64,
    pub banned_total: u64,
    pub max_retry: u64,
    pub find_time: f64,
    pub ban_time: f64,
    pub unevaluated: u64,
    pub action_errors: u64,
    pub lines_read: u64,
    pub lines_matched: u64,
    pub lines_ignored: u64,
    /// (log file, bytes not yet read) as of the last saved position.
    pub behind: Vec<(String, u64)>,
}

/// The ban latency histogram: seconds from the failure that reached
/// maxretry (its line matched) to the ban applied by the actions, per jail.
pub(crate) fn ban_latency() -> prometheus::HistogramVec {
    prometheus::HistogramVec::new(
        prometheus::HistogramOpts::new(
            "gaoler_ban_latency_seconds",
            "From the failure that reached maxretry to its ban applied",
        )
        .buckets(vec![
            0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]),
        &["jail"],
    )
    .expect("valid histogram")
}

/// The metrics text for `jails`, the ban latency and the database size.
pub(crate) fn render(
    jails: &[JailMetrics],
    latency: Option<&prometheus::HistogramVec>,
    db_bytes: Option<u64>,
) -> String {
    let r = Registry::new();
    if let Some(h) = latency {
        r.register(Box::new(h.clone())).expect("unique metric");
    }
    let label = &["jail"];
    let gauge = |name: &str, help: &str| {
        let g = IntGaugeVec::new(Opts::new(name, help), label).expect("valid metric");
        r.register(Box::new(g.clone())).expect("unique metric");
        g
    };
    let fgauge = |name: &str, help: &str| {
        let g = GaugeVec::new(Opts::new(name, help), label).expect("valid metric");
        r.register(Box::new(g.clone())).expect("unique metric");
        g
    };
    let counter = |name: &str, help: &str| {
        let c = IntCounterVec::new(Opts::new(name, help), label).expect("valid metric");
        r.register(Box::new(c.clone())).expect("unique metric");
        c
    };
    let single = |name: &str, help: &str, v: i64| {
        let g = IntGauge::new(name, help).expect("valid metric");
        g.set(v);
        r.register(Box::new(g)).expect("unique metric");
    };
    single("f2b_up", "Whether the server answers (always 1 here)", 1);
    single("gaoler_bans", "Number of running jails", jails.len() as i64);
    let banned = gauge("f2b_jail_banned_current", "Addresses banned now");
    let banned_total = counter("f2b_jail_banned_total", "Bans since the jail started");
    let failed = gauge(
        "f2b_jail_failed_current",
        "Addresses with failures counted now",
    );
    let failed_total = counter("f2b_jail_failed_total", "Failures since the jail started");
    let ban_time = fgauge("f2b_jail_config_ban_time", "The jail's bantime in seconds");
    let find_time = fgauge(
        "f2b_jail_config_find_time",
        "The jail's findtime in seconds",
    );
    let fail_max = gauge("f2b_jail_config_fail_max", "The jail's maxretry");
    let unevaluated = counter(
        "gaoler_lines_unevaluated_total",
        "Lines a regex could not finish its search on",
    );
    let action_errors = counter(
        "gaoler_action_errors_total",
        "Action commands that failed on an address",
    );
    let lines_read = counter("gaoler_lines_read_total", "Log lines read");
    let lines_matched = counter("gaoler_lines_matched_total", "Log lines with a failure");
    let lines_ignored = counter("gaoler_lines_ignored_total", "Log lines an ignoreregex hit");
    let behind = IntGaugeVec::new(
        Opts::new(
            "gaoler_log_behind_bytes",
            "Bytes of a log file not read yet (as of the last saved position)",
        ),
        &["jail", "path"],
    )
    .expect("valid metric");
    r.register(Box::new(behind.clone())).expect("unique metric");
    for j in jails {
        let l = &[j.name.as_str()];
        banned.with_label_values(l).set(j.banned as i64);
        banned_total.with_label_values(l).inc_by(j.banned_total);
        failed.with_label_values(l).set(j.failed as i64);
        failed_total.with_label_values(l).inc_by(j.failed_total);
        ban_time.with_label_values(l).set(j.ban_time);
        find_time.with_label_values(l).set(j.find_time);
        fail_max.with_label_values(l).set(j.max_retry as i64);
        unevaluated.with_label_values(l).inc_by(j.unevaluated);
        action_errors.with_label_values(l).inc_by(j.action_errors);
        lines_read.with_label_values(l).inc_by(j.lines_read);
        lines_matched.with_label_values(l).inc_by(j.lines_matched);
        lines_ignored.with_label_values(l).inc_by(j.lines_ignored);
        for (path, bytes) in &j.behind {
            behind
                .with_label_values(&[j.name.as_str(), path.as_str()])
                .set(*bytes as i64);
        }
    }
    if let Some(bytes) = db_bytes {
        single(
            "gaoler_database_bytes",
            "Size of the SQLite database and its write-ahead log",
            bytes as i64,
        );
    }
    let mut out = Vec::new();
    let _ = prometheus::TextEncoder::new().encode(&r.gather(), &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// A running metrics listener; stops when dropped.
pub(crate) struct Listener {
    pub addr: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    /// Listens on `addr` for scrapes of `server`.
    pub fn start(addr: &str, server: Weak<Server>) -> std::io::Result<Listener> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("gaoler-metrics".into())
            .spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let Some(server) = server.upgrade() else {
                                return;
                            };
                            answer(stream, &server);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(100));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(100)),
                    }
                }
            })?;
        Ok(Listener {
            addr: addr.to_owned(),
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One scrape: `GET /metrics` gets the text, anything else a 404.
fn answer(mut stream: TcpStream, server: &Server) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 8192 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let line = req.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut words = line.split(|&b| b == b' ');
    let (method, path) = (words.next(), words.next());
    let (status, kind, body) = match (method, path) {
        (Some(b"GET"), Some(b"/metrics")) => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            render(
                &server.jail_metrics(),
                Some(server.ban_latency()),
                server.database_bytes(),
            ),
        ),
        _ => ("404 Not Found", "text/plain", "try /metrics\n".to_string()),
    };
    let _ = write!(
        stream,
        "HTTP/1.0 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_has_the_exporters_names() {
        let text = render(
            &[JailMetrics {
                name: "sshd".into(),
                failed: 2,
                failed_total: 9,
                banned: 1,
                banned_total: 3,
                max_retry: 5,
                find_time: 600.0,
                ban_time: 3600.0,
                unevaluated: 0,
                action_errors: 1,
                lines_read: 12,
                lines_matched: 9,
                lines_ignored: 1,
                behind: vec![("/var/log/auth.log".into(), 0)],
            }],
            None,
            Some(4096),
        );
        for line in [
            "f2b_up 1",
            "gaoler_bans 1",
            "f2b_jail_banned_current{jail=\"sshd\"} 1",
            "f2b_jail_banned_total{jail=\"sshd\"} 3",
            "f2b_jail_failed_current{jail=\"sshd\"} 2",
            "f2b_jail_failed_total{jail=\"sshd\"} 9",
            "f2b_jail_config_ban_time{jail=\"sshd\"} 3600",
            "f2b_jail_config_fail_max{jail=\"sshd\"} 5",
            "gaoler_action_errors_total{jail=\"sshd\"} 1",
            "gaoler_database_bytes 4096",
            "gaoler_lines_read_total{jail=\"sshd\"} 12",
            "gaoler_lines_matched_total{jail=\"sshd\"} 9",
            "gaoler_log_behind_bytes{jail=\"sshd\",path=\"/var/log/auth.log\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
    }
}
