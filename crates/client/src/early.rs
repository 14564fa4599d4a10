//! fail2ban.conf's "early" options: the socket, the pidfile and the
//! logging settings, which the client needs before (and often instead of)
//! reading the whole tree — `gaoler client status` only needs the socket.
//!
//! Command-line flags win; missing values come from `[Definition]` of
//! fail2ban.conf/.local (with `fail2ban.d/`), then from fail2ban's code
//! defaults. An unreadable tree is not an error here: the defaults are
//! used and a warning is logged, so `-s SOCK status` works without any
//! configuration at all.

use std::path::Path;

use gaoler_config::reader::EarlyOptions;
use gaoler_config::value::Vars;
use gaoler_config::{ConfigError, ConfigSet};

/// Flags given on the command line.
#[derive(Debug, Clone, Default)]
pub struct EarlyOverrides {
    /// `-s`: the socket path.
    pub socket: Option<String>,
    /// `-p`: the pid file.
    pub pidfile: Option<String>,
    /// `--loglevel`.
    pub loglevel: Option<String>,
    /// `--logtarget`.
    pub logtarget: Option<String>,
    /// `--syslogsocket`.
    pub syslogsocket: Option<String>,
}

impl EarlyOverrides {
    /// From the command-line flags both `client` and `server` take.
    pub fn from_flags(
        socket: Option<&std::path::Path>,
        pidfile: Option<&std::path::Path>,
        loglevel: Option<&str>,
        logtarget: Option<&str>,
        syslogsocket: Option<&str>,
    ) -> EarlyOverrides {
        let path = |p: Option<&std::path::Path>| p.map(|p| p.to_string_lossy().into_owned());
        EarlyOverrides {
            socket: path(socket),
            pidfile: path(pidfile),
            loglevel: loglevel.map(str::to_string),
            logtarget: logtarget.map(str::to_string),
            syslogsocket: syslogsocket.map(str::to_string),
        }
    }
}

const DEFAULTS: [(&str, &str); 5] = [
    ("socket", "/var/run/fail2ban/fail2ban.sock"),
    ("pidfile", "/var/run/fail2ban/fail2ban.pid"),
    ("loglevel", "INFO"),
    ("logtarget", "/var/log/fail2ban.log"),
    ("syslogsocket", "auto"),
];

/// The early options for the tree at `conf`, flags first.
pub fn early_options(conf: &Path, over: &EarlyOverrides) -> EarlyOptions {
    let given = [
        &over.socket,
        &over.pidfile,
        &over.loglevel,
        &over.logtarget,
        &over.syslogsocket,
    ];
    let mut vals: Vec<String> = Vec::with_capacity(5);
    // Only read the files if some value is missing.
    let cfg = if given.iter().any(|g| g.is_none()) {
        match ConfigSet::read(conf, "fail2ban") {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("cannot read {}/fail2ban.conf: {e}", conf.display());
                None
            }
        }
    } else {
        None
    };
    for ((name, default), g) in DEFAULTS.iter().zip(given) {
        let v = match g {
            Some(v) => v.clone(),
            None => cfg
                .as_ref()
                .and_then(|c| match c.get("Definition", name, &Vars::default()) {
                    Ok(v) => Some(v),
                    Err(ConfigError::NoOption { .. } | ConfigError::NoSection { .. }) => None,
                    Err(e) => {
                        tracing::warn!("fail2ban.conf [Definition] {name}: {e}");
                        None
                    }
                })
                .unwrap_or_else(|| default.to_string()),
        };
        vals.push(v);
    }
    let mut it = vals.into_iter();
    let mut next = || it.next().unwrap_or_default();
    EarlyOptions {
        socket: next(),
        pidfile: next(),
        loglevel: next(),
        logtarget: next(),
        syslogsocket: next(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_then_file_then_defaults() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("fail2ban.conf"),
            "[Definition]\nsocket = /x/s.sock\nloglevel = DEBUG\n",
        )
        .unwrap();
        let e = early_options(
            d.path(),
            &EarlyOverrides {
                loglevel: Some("ERROR".into()),
                ..Default::default()
            },
        );
        assert_eq!(e.socket, "/x/s.sock");
        assert_eq!(e.loglevel, "ERROR");
        assert_eq!(e.pidfile, "/var/run/fail2ban/fail2ban.pid");
        let none = early_options(&d.path().join("missing"), &EarlyOverrides::default());
        assert_eq!(none.socket, "/var/run/fail2ban/fail2ban.sock");
    }
}
