//! systemd's notification protocol (`sd_notify`), for `Type=notify` units:
//! `READY=1` once the configuration's jails run, `STATUS=` with the jails
//! and their ban counts, `WATCHDOG=1` at half of `WatchdogSec` while the
//! server answers its own `ping`, `STOPPING=1` at shutdown.
//!
//! The protocol is one datagram per message to the Unix socket named by
//! `NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace); a few
//! lines of std do it, without linking libsystemd. Without `NOTIFY_SOCKET`
//! (not started by systemd, or `Type=simple`) nothing is sent.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Where systemd listens for this service's notifications.
pub struct Notifier {
    socket: UnixDatagram,
    addr: SocketAddr,
}

impl Notifier {
    /// The notifier `NOTIFY_SOCKET` asks for, if any.
    pub fn from_env() -> Option<Notifier> {
        let path = std::env::var_os("NOTIFY_SOCKET")?;
        let path = path.to_string_lossy();
        let addr = match path.strip_prefix('@') {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                SocketAddr::from_abstract_name(name.as_bytes()).ok()?
            }
            None => SocketAddr::from_pathname(path.as_ref()).ok()?,
        };
        let socket = UnixDatagram::unbound().ok()?;
        Some(Notifier { socket, addr })
    }

    /// Sends one notification (`KEY=value` lines); a lost one is only
    /// logged: systemd may be gone at shutdown.
    pub fn send(&self, state: &str) {
        if let Err(e) = self.socket.send_to_addr(state.as_bytes(), &self.addr) {
            tracing::debug!("sd_notify {state:?}: {e}");
        }
    }
}

/// Half of the watchdog interval systemd asks for (`WATCHDOG_USEC`, for
/// this process if `WATCHDOG_PID` names one), if it asks.
pub fn watchdog_interval() -> Option<Duration> {
    if let Some(pid) = std::env::var_os("WATCHDOG_PID") {
        if pid.to_string_lossy().trim() != std::process::id().to_string() {
            return None;
        }
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// `STATUS=` text: the jails and their bans.
pub fn status_text(counts: &[(String, usize)]) -> String {
    if counts.is_empty() {
        return "no jail enabled".into();
    }
    let total: usize = counts.iter().map(|(_, n)| n).sum();
    let jails: Vec<String> = counts.iter().map(|(j, n)| format!("{j} {n}")).collect();
    format!(
        "{} jail{}, {total} banned ({})",
        counts.len(),
        if counts.len() == 1 { "" } else { "s" },
        jails.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_jails_and_bans() {
        assert_eq!(status_text(&[]), "no jail enabled");
        assert_eq!(
            status_text(&[("freeswitch".into(), 2), ("sshd".into(), 1)]),
            "2 jails, 3 banned (freeswitch 2, sshd 1)"
        );
    }
}
