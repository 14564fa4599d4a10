//! The `fleetdb` connection string: its redacted form for messages, and
//! its parsed form for the driver.
//!
//! Both libpq forms are accepted: a URL
//! (`postgresql://gaoler:secret@db.example/gaoler?sslmode=require`) and
//! `key=value` pairs (`host=/run/postgresql dbname=gaoler user=gaoler`).
//! The driver (`tokio-postgres`) knows only `sslmode` `disable`, `prefer`
//! and `require`, and refuses any key it does not know, so the TLS keys
//! are taken out here and given libpq's meaning:
//!
//! | `sslmode` | TLS | certificate checked | host name checked |
//! |---|---|---|---|
//! | `disable` | never | - | - |
//! | `prefer` (default) | if the server offers it | no | no |
//! | `require` | always | no | no |
//! | `verify-ca` | always | yes | no |
//! | `verify-full` | always | yes | yes |
//!
//! `sslrootcert=FILE` adds a PEM certificate to the system's roots. Unix
//! sockets never use TLS (PostgreSQL does not offer it there).
//!
//! [`redact`] never fails: whatever the text is, a password in it (the
//! URL's `user:password@`, a `password=` pair or query parameter) is
//! replaced by `***`. It is what every message shows.

use std::str::FromStr;
use std::time::Duration;

use crate::FleetError;

/// What replaces a password in messages.
const HIDDEN: &str = "***";

/// Whether `s` is a URL rather than `key=value` pairs.
fn is_url(s: &str) -> bool {
    s.starts_with("postgresql://") || s.starts_with("postgres://")
}

/// The connection string with any password replaced by `***`.
pub fn redact(conninfo: &str) -> String {
    let s = conninfo.trim();
    if is_url(s) {
        redact_url(s)
    } else {
        match parse_pairs(s) {
            Ok(pairs) => join_pairs(
                pairs
                    .into_iter()
                    .map(|(k, v)| {
                        let v = if is_password_key(&k) {
                            HIDDEN.to_owned()
                        } else {
                            v
                        };
                        (k, v)
                    })
                    .collect(),
            ),
            // Unparsable text may still hold a password: show only the
            // keys it seems to have.
            Err(_) => {
                let keys: Vec<&str> = s
                    .split_whitespace()
                    .filter_map(|w| w.split_once('=').map(|(k, _)| k))
                    .filter(|k| {
                        !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    })
                    .collect();
                format!(
                    "<unreadable connection string with keys: {}>",
                    keys.join(" ")
                )
            }
        }
    }
}

fn is_password_key(k: &str) -> bool {
    k.eq_ignore_ascii_case("password")
}

fn redact_url(s: &str) -> String {
    let (scheme, rest) = s.split_once("://").unwrap_or(("", s));
    // The authority ends at the first '/' or '?'.
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:{HIDDEN}@{hosts}"),
            None => format!("{userinfo}@{hosts}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let q: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if is_password_key(k) => format!("{k}={HIDDEN}"),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{path}?{}", q.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// libpq's `key = value` list: values unquoted (backslash escapes) or in
/// single quotes (`\'` and `\\` escapes).
fn parse_pairs(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(format!("expected '=' after {key:?}"));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(format!("unterminated quoted value of {key:?}")),
                    Some('\'') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => return Err(format!("unterminated quoted value of {key:?}")),
                    },
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        value.push(n);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        if key.is_empty() {
            return Err("a value without a key".into());
        }
        out.push((key, value));
    }
}

/// Pairs back into libpq's form, quoting where needed.
fn join_pairs(pairs: Vec<(String, String)>) -> String {
    pairs
        .into_iter()
        .map(|(k, v)| {
            if !v.is_empty()
                && !v
                    .chars()
                    .any(|c| c.is_whitespace() || c == '\'' || c == '\\')
            {
                format!("{k}={v}")
            } else {
                format!("{k}='{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// libpq's TLS modes (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// No TLS.
    Disable,
    /// TLS if offered, no certificate check.
    Prefer,
    /// TLS, no certificate check.
    Require,
    /// TLS, the certificate must chain to a trusted root.
    VerifyCa,
    /// TLS, trusted certificate for the host name connected to.
    VerifyFull,
}

impl FromStr for TlsMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "disable" => TlsMode::Disable,
            "allow" | "prefer" => TlsMode::Prefer,
            "require" => TlsMode::Require,
            "verify-ca" => TlsMode::VerifyCa,
            "verify-full" => TlsMode::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode {other:?} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                ))
            }
        })
    }
}

/// A parsed connection string.
#[derive(Clone)]
pub struct ConnInfo {
    config: postgres::Config,
    shown: String,
    tls: TlsMode,
    root_cert: Option<String>,
}

impl std::fmt::Debug for ConnInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // (never the password: only the redacted text)
        f.debug_struct("ConnInfo")
            .field("shown", &self.shown)
            .field("tls", &self.tls)
            .finish()
    }
}

/// How long a connection attempt may take unless the string says.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl ConnInfo {
    /// Parses `conninfo` (either form). Errors show it redacted.
    pub fn parse(conninfo: &str) -> Result<ConnInfo, FleetError> {
        let s = conninfo.trim();
        let shown = redact(s);
        let bad = |reason: String| FleetError::ConnInfo {
            shown: shown.clone(),
            reason,
        };
        if s.is_empty() {
            return Err(bad("empty connection string".into()));
        }
        let mut tls = TlsMode::Prefer;
        let mut root_cert = None;
        let mut take = |k: &str, v: &str| -> Result<bool, String> {
            match k {
                "sslmode" => {
                    tls = v.parse()?;
                    Ok(true)
                }
                "sslrootcert" => {
                    root_cert = Some(v.to_owned());
                    Ok(true)
                }
                _ => Ok(false),
            }
        };
        // The TLS keys out, sslmode back in the driver's terms.
        let driver_text = if is_url(s) {
            let (head, query) = s.split_once('?').unwrap_or((s, ""));
            let mut kept = Vec::new();
            for kv in query.split('&').filter(|kv| !kv.is_empty()) {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                if !take(k, v).map_err(&bad)? {
                    kept.push(kv.to_owned());
                }
            }
            if kept.is_empty() {
                head.to_owned()
            } else {
                format!("{head}?{}", kept.join("&"))
            }
        } else {
            let pairs = parse_pairs(s).map_err(&bad)?;
            let mut kept = Vec::new();
            for (k, v) in pairs {
                if !take(&k, &v).map_err(&bad)? {
                    kept.push((k, v));
                }
            }
            join_pairs(kept)
        };
        let mut config = postgres::Config::from_str(&driver_text)
            .map_err(|e| bad(format!("cannot read it: {e}")))?;
        config.ssl_mode(match tls {
            TlsMode::Disable => postgres::config::SslMode::Disable,
            TlsMode::Prefer => postgres::config::SslMode::Prefer,
            _ => postgres::config::SslMode::Require,
        });
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("gaoler");
        }
        // A server that vanishes without a FIN (a cut network) is noticed
        // by keepalives rather than by a query hanging for hours.
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(10));
        config.keepalives_interval(Duration::from_secs(5));
        config.keepalives_retries(3);
        config.tcp_user_timeout(Duration::from_secs(20));
        if config.get_hosts().is_empty() {
            return Err(bad("no host (give host=... or a URL with a host)".into()));
        }
        Ok(ConnInfo {
            config,
            shown,
            tls,
            root_cert,
        })
    }

    /// The redacted text, for messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The TLS mode asked for.
    pub fn tls_mode(&self) -> TlsMode {
        self.tls
    }

    /// Connects (TLS as the string asks).
    pub fn connect(&self) -> Result<postgres::Client, FleetError> {
        let db_err = |source| FleetError::Db {
            shown: self.shown.clone(),
            op: "connect",
            source,
        };
        if self.tls == TlsMode::Disable {
            return self.config.connect(postgres::NoTls).map_err(db_err);
        }
        let connector = self.tls_connector()?;
        self.config
            .connect(postgres_native_tls::MakeTlsConnector::new(connector))
            .map_err(db_err)
    }

    fn tls_connector(&self) -> Result<native_tls::TlsConnector, FleetError> {
        let tls_err = |reason: String| FleetError::Tls {
            shown: self.shown.clone(),
            reason,
        };
        let mut b = native_tls::TlsConnector::builder();
        match self.tls {
            TlsMode::Disable | TlsMode::Prefer | TlsMode::Require => {
                // libpq's meaning: encryption without authentication.
                b.danger_accept_invalid_certs(true);
                b.danger_accept_invalid_hostnames(true);
            }
            TlsMode::VerifyCa => {
                b.danger_accept_invalid_hostnames(true);
            }
            TlsMode::VerifyFull => {}
        }
        if let Some(path) = &self.root_cert {
            let pem =
                std::fs::read(path).map_err(|e| tls_err(format!("sslrootcert {path}: {e}")))?;
            let cert = native_tls::Certificate::from_pem(&pem)
                .map_err(|e| tls_err(format!("sslrootcert {path}: {e}")))?;
            b.add_root_certificate(cert);
        }
        b.build().map_err(|e| tls_err(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_password_is_hidden() {
        assert_eq!(
            redact("postgresql://gaoler:s3cret@db.example/gaoler?sslmode=require"),
            "postgresql://gaoler:***@db.example/gaoler?sslmode=require"
        );
        assert_eq!(
            redact("postgres://u:p%40ss@h1:5432,h2/db?password=x&application_name=a"),
            "postgres://u:***@h1:5432,h2/db?password=***&application_name=a"
        );
        // No password: unchanged.
        assert_eq!(
            redact("postgresql://gaoler@db.example/gaoler"),
            "postgresql://gaoler@db.example/gaoler"
        );
    }

    #[test]
    fn pair_password_is_hidden() {
        assert_eq!(
            redact("host=/run/postgresql dbname=gaoler password=s3cret"),
            "host=/run/postgresql dbname=gaoler password=***"
        );
        let r = redact("host=db password='a b\\' c' user=x");
        assert_eq!(r, "host=db password=*** user=x");
        assert!(!r.contains("a b"));
    }

    #[test]
    fn unreadable_text_shows_no_values() {
        let r = redact("host=db password='unterminated secret");
        assert!(!r.contains("secret"), "{r}");
        assert!(r.contains("host") && r.contains("password"), "{r}");
    }

    #[test]
    fn parse_takes_tls_keys_out() {
        let c = ConnInfo::parse("host=/tmp dbname=x sslmode=verify-full sslrootcert=/nonexistent")
            .expect("parses");
        assert_eq!(c.tls_mode(), TlsMode::VerifyFull);
        let c = ConnInfo::parse("postgresql://gaoler:pw@db.example/gaoler?sslmode=require")
            .expect("parses");
        assert_eq!(c.tls_mode(), TlsMode::Require);
        assert_eq!(
            c.shown(),
            "postgresql://gaoler:***@db.example/gaoler?sslmode=require"
        );
        assert!(!format!("{c:?}").contains("pw@"));
        let c = ConnInfo::parse("host=/run/postgresql dbname=gaoler").expect("parses");
        assert_eq!(c.tls_mode(), TlsMode::Prefer);
    }

    #[test]
    fn parse_errors_never_show_the_password() {
        for bad in [
            "host=db password=hunter2 sslmode=bogus",
            "host=db password=hunter2 nosuchkey=1",
            "postgresql://u:hunter2@db/x?sslmode=bogus",
            "dbname=x password=hunter2",
        ] {
            let e = ConnInfo::parse(bad).expect_err(bad).to_string();
            assert!(!e.contains("hunter2"), "{e}");
            assert!(e.contains("***"), "{e}");
        }
        assert!(ConnInfo::parse("  ").is_err());
    }
}
