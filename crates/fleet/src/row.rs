//! One published ban or unban, and the checks a row read from the shared
//! table must pass before anything is done with it.
//!
//! The table is shared by every host of the fleet, and whoever can write
//! to it can write anything: a row is untrusted input. [`validate`] turns
//! a [`RawRow`] (every column optional, text columns cut by the query to
//! one byte over their limit) into a [`Received`] row or a [`Refusal`]
//! with a short reason that quotes at most a few escaped characters of the
//! offending value, so a hostile row can neither run anything nor flood
//! the log.

use std::net::IpAddr;

use gaoler_addr::Addr;
use serde::{Deserialize, Serialize};

/// Longest host or jail name, in bytes.
pub const MAX_NAME: usize = 64;
/// Longest address text, in bytes (the longest IPv6 network with prefix
/// is 43 characters).
pub const MAX_ADDR: usize = 64;
/// Most matched-line bytes a row may carry; a longer value is refused.
pub const MAX_MATCHES_BYTES: usize = 64 * 1024;
/// Most matched lines a row may carry.
pub const MAX_MATCH_LINES: usize = 50;
/// What a publisher keeps of a ban's matched lines: the last lines...
pub const PUBLISH_LINES: usize = 10;
/// ...each cut to this many bytes, so an honest row is always far below
/// the receiving limits.
pub const PUBLISH_LINE_BYTES: usize = 1024;
/// How far in the future a time of ban may be (clock skew between hosts).
pub const MAX_FUTURE: f64 = 600.0;
/// The longest non-permanent ban time accepted: ten years.
pub const MAX_BAN_TIME: f64 = 10.0 * 365.0 * 86400.0;
/// Largest ban or failure count accepted.
pub const MAX_COUNT: i64 = 1_000_000;
/// The shortest IPv4 / IPv6 network prefix a row may ban: a fleet row
/// must not be able to shut a host off from a whole region.
pub const MIN_PREFIX: (u8, u8) = (16, 32);

/// A ban or its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A ban.
    Ban,
    /// An unban (manual `unbanip`, or the ban's expiry).
    Unban,
}

impl Kind {
    /// The text stored in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ban => "ban",
            Kind::Unban => "unban",
        }
    }
}

/// What a host publishes (and what waits in its outbox).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BanRow {
    /// The jail that banned.
    pub jail: String,
    /// Ban or unban.
    pub kind: Kind,
    /// The address or network, in canonical text.
    pub ip: String,
    /// When the ban began (epoch seconds).
    pub time_of_ban: f64,
    /// Its length in seconds; negative: permanent.
    pub ban_time: f64,
    /// How many times the address has been banned (bantime.increment).
    pub ban_count: u32,
    /// Failures that led to the ban.
    pub failures: u32,
    /// Matched log lines, bounded by [`BanRow::bound_matches`].
    #[serde(default)]
    pub matches: Vec<String>,
    /// An unban asked for by hand (`unbanip`) rather than an expiry.
    #[serde(default)]
    pub manual: bool,
}

impl BanRow {
    /// Keeps the last [`PUBLISH_LINES`] lines, each cut to
    /// [`PUBLISH_LINE_BYTES`] at a character boundary, newlines taken out
    /// (lines are stored joined by `\n`).
    pub fn bound_matches(lines: &[String]) -> Vec<String> {
        let start = lines.len().saturating_sub(PUBLISH_LINES);
        lines[start..]
            .iter()
            .map(|l| {
                let mut end = l.len().min(PUBLISH_LINE_BYTES);
                while !l.is_char_boundary(end) {
                    end -= 1;
                }
                l[..end].replace(['\n', '\r'], " ")
            })
            .collect()
    }

    /// Whether the ban is still in force at `now` (permanent, or its end
    /// is after `now`). Unbans are always "valid".
    pub fn in_force(&self, now: f64) -> bool {
        self.kind == Kind::Unban || self.ban_time < 0.0 || self.time_of_ban + self.ban_time > now
    }
}

/// A row as read from the table: every column may be missing or odd.
/// Text columns are read cut to one byte over their limit (`left()` in
/// the query), with the full byte length of the matched lines beside.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawRow {
    /// The sequence number.
    pub seq: i64,
    /// The publishing host.
    pub origin: Option<String>,
    /// The jail.
    pub jail: Option<String>,
    /// `ban` or `unban`.
    pub kind: Option<String>,
    /// The address.
    pub ip: Option<String>,
    /// Time of ban.
    pub time_of_ban: Option<f64>,
    /// Ban time.
    pub ban_time: Option<f64>,
    /// Ban count.
    pub ban_count: Option<i64>,
    /// Failures.
    pub failures: Option<i64>,
    /// Matched lines joined by `\n` (cut).
    pub matches: Option<String>,
    /// The matched lines' full length in bytes.
    pub matches_len: Option<i64>,
    /// Manual unban.
    pub manual: Option<bool>,
}

/// A row that passed [`validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// Its sequence number.
    pub seq: i64,
    /// The host that published it.
    pub origin: String,
    /// The row.
    pub row: BanRow,
    /// The address, parsed (an address or network, never raw text).
    pub addr: Addr,
}

/// Why a row was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// Its sequence number.
    pub seq: i64,
    /// The publishing host as far as it could be shown.
    pub origin: String,
    /// A short reason.
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "refused fleet row {} from host {}: {}",
            self.seq, self.origin, self.reason
        )
    }
}

/// A value for a message: at most 32 characters, escaped, and marked when
/// cut.
pub fn shown(v: &str) -> String {
    let mut out: String = v
        .chars()
        .take(32)
        .collect::<String>()
        .escape_debug()
        .to_string();
    if v.chars().nth(32).is_some() {
        out.push_str("...");
    }
    format!("'{out}'")
}

/// A host or jail name: short, letters, digits and `._-@`.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// `fleethost`: a [`valid_name`], or why not.
pub fn check_host(v: &str) -> Result<(), String> {
    match valid_name(v) {
        true => Ok(()),
        false => Err(format!(
            "fleethost {}: at most {MAX_NAME} letters, digits and ._-@",
            shown(v)
        )),
    }
}

/// A jail that publishes to the fleet needs a [`valid_name`]: the other
/// hosts would refuse every row of it.
pub fn check_publisher(jail: &str) -> Result<(), String> {
    match valid_name(jail) {
        true => Ok(()),
        false => Err(format!(
            "jail {} cannot publish to the fleet: its name must be at most {MAX_NAME} \
             letters, digits and ._-@",
            shown(jail)
        )),
    }
}

/// `fleetretry`: at least 0.05 seconds.
pub fn check_retry(secs: f64) -> Result<std::time::Duration, String> {
    if !secs.is_finite() || secs < 0.05 {
        return Err(format!(
            "fleetretry must be at least 0.05 seconds, not {secs}"
        ));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// A command as it may be logged or shown: the `fleetdb` value's
/// password redacted ([`crate::redact`]), also inside nested streams.
pub fn redact_command(cmd: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match cmd {
        J::Array(items) => {
            let is_fleetdb = items.len() >= 3
                && items[0].as_str() == Some("set")
                && items[1].as_str() == Some("fleetdb");
            J::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| match (is_fleetdb && i == 2, v) {
                        (true, J::String(s)) => J::String(crate::redact(s)),
                        _ => redact_command(v),
                    })
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

/// An address a fleet row may ban: an address or a network no wider than
/// [`MIN_PREFIX`], neither unspecified, loopback nor multicast.
fn valid_addr(ip: &str) -> Result<Addr, String> {
    if ip.len() > MAX_ADDR {
        return Err(format!("invalid address {}", shown(ip)));
    }
    let a = Addr::parse(ip);
    let (net, prefix) = match &a {
        Addr::Ip(i) => (*i, None),
        Addr::Net(n, p) => (*n, Some(*p)),
        Addr::Raw(_) => return Err(format!("invalid address {}", shown(ip))),
    };
    if let Some(p) = prefix {
        let min = if net.is_ipv4() {
            MIN_PREFIX.0
        } else {
            MIN_PREFIX.1
        };
        if p < min {
            return Err(format!("network {} is wider than /{min}", shown(ip)));
        }
    }
    let special = match net {
        IpAddr::V4(v) => {
            v.is_unspecified() || v.is_loopback() || v.is_multicast() || v.is_broadcast()
        }
        IpAddr::V6(v) => v.is_unspecified() || v.is_loopback() || v.is_multicast(),
    };
    if special {
        return Err(format!("address {} cannot be banned", shown(ip)));
    }
    Ok(a)
}

fn count(v: Option<i64>, what: &str) -> Result<u32, String> {
    match v {
        None => Ok(0),
        Some(n) if (0..=MAX_COUNT).contains(&n) => Ok(n as u32),
        Some(n) => Err(format!("{what} {n} out of range")),
    }
}

/// Checks a row read from the table (see the module doc). `now` bounds
/// the time of ban (at most [`MAX_FUTURE`] ahead).
pub fn validate(raw: RawRow, now: f64) -> Result<Received, Refusal> {
    let origin_text = raw.origin.clone().unwrap_or_default();
    let origin_ok = valid_name(&origin_text);
    let refuse = |reason: String| Refusal {
        seq: raw.seq,
        origin: if origin_ok {
            origin_text.clone()
        } else {
            shown(&origin_text)
        },
        reason,
    };
    if !origin_ok {
        return Err(refuse(format!("bad host name {}", shown(&origin_text))));
    }
    let jail = raw.jail.clone().unwrap_or_default();
    if !valid_name(&jail) {
        return Err(refuse(format!("bad jail name {}", shown(&jail))));
    }
    let kind = match raw.kind.as_deref() {
        Some("ban") => Kind::Ban,
        Some("unban") => Kind::Unban,
        other => {
            return Err(refuse(format!(
                "kind {} is neither ban nor unban",
                shown(other.unwrap_or(""))
            )))
        }
    };
    let ip = raw.ip.clone().unwrap_or_default();
    let addr = valid_addr(&ip).map_err(&refuse)?;
    let time_of_ban = match raw.time_of_ban {
        Some(t) if t.is_finite() && t > 0.0 && t <= now + MAX_FUTURE => t,
        Some(t) if t.is_finite() && t > now + MAX_FUTURE => {
            return Err(refuse(format!("time of ban {t} is in the future")))
        }
        _ => return Err(refuse("no valid time of ban".into())),
    };
    let ban_time = match raw.ban_time {
        Some(b) if b.is_finite() && b < 0.0 => -1.0,
        Some(b) if b.is_finite() && b > 0.0 && b <= MAX_BAN_TIME => b,
        Some(b) => return Err(refuse(format!("ban time {b} out of range"))),
        None => return Err(refuse("no ban time".into())),
    };
    let ban_count = count(raw.ban_count, "ban count").map_err(&refuse)?;
    let failures = count(raw.failures, "failure count").map_err(&refuse)?;
    let text = raw.matches.unwrap_or_default();
    let len = raw
        .matches_len
        .unwrap_or(text.len() as i64)
        .max(text.len() as i64);
    if len as usize > MAX_MATCHES_BYTES {
        return Err(refuse(format!(
            "matched lines of {len} bytes (at most {MAX_MATCHES_BYTES})"
        )));
    }
    let matches: Vec<String> = if text.is_empty() {
        Vec::new()
    } else {
        text.split('\n').map(str::to_owned).collect()
    };
    if matches.len() > MAX_MATCH_LINES {
        return Err(refuse(format!(
            "{} matched lines (at most {MAX_MATCH_LINES})",
            matches.len()
        )));
    }
    Ok(Received {
        seq: raw.seq,
        origin: origin_text.clone(),
        row: BanRow {
            jail,
            kind,
            ip: addr.to_string(),
            time_of_ban,
            ban_time,
            ban_count,
            failures,
            matches,
            manual: raw.manual.unwrap_or(false),
        },
        addr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_800_000_000.0;

    fn good() -> RawRow {
        RawRow {
            seq: 7,
            origin: Some("host-a".into()),
            jail: Some("freeswitch".into()),
            kind: Some("ban".into()),
            ip: Some("192.0.2.7".into()),
            time_of_ban: Some(NOW - 5.0),
            ban_time: Some(600.0),
            ban_count: Some(1),
            failures: Some(4),
            matches: Some("line one\nline two".into()),
            matches_len: Some(17),
            manual: None,
        }
    }

    #[test]
    fn a_good_row_passes() {
        let r = validate(good(), NOW).expect("valid");
        assert_eq!(r.origin, "host-a");
        assert_eq!(r.row.ip, "192.0.2.7");
        assert_eq!(r.addr, Addr::parse("192.0.2.7"));
        assert_eq!(r.row.matches, vec!["line one", "line two"]);
        assert_eq!(r.row.kind, Kind::Ban);
        assert!(r.row.in_force(NOW));
        assert!(!r.row.in_force(NOW + 600.0));
    }

    #[test]
    fn addresses_are_canonical_and_networks_bounded() {
        let mut r = good();
        r.ip = Some("2001:DB8::7".into());
        assert_eq!(validate(r, NOW).expect("v6").row.ip, "2001:db8::7");
        let mut r = good();
        r.ip = Some("198.51.100.0/24".into());
        assert!(validate(r, NOW).is_ok());
        for wide in ["0.0.0.0/0", "10.0.0.0/8", "2001:db8::/16"] {
            let mut r = good();
            r.ip = Some(wide.into());
            let e = validate(r, NOW).expect_err(wide);
            assert!(e.reason.contains("wider"), "{e}");
        }
        for special in [
            "127.0.0.1",
            "0.0.0.0",
            "::1",
            "224.0.0.1",
            "255.255.255.255",
        ] {
            let mut r = good();
            r.ip = Some(special.into());
            assert!(validate(r, NOW).is_err(), "{special}");
        }
    }

    #[test]
    fn hostile_values_are_refused_with_short_reasons() {
        let cases: Vec<(RawRow, &str)> = vec![
            (
                RawRow {
                    ip: Some("$(touch /tmp/x)".into()),
                    ..good()
                },
                "invalid address",
            ),
            (
                RawRow {
                    ip: Some("not-an-ip".into()),
                    ..good()
                },
                "invalid address",
            ),
            (
                RawRow {
                    ip: Some("192.0.2.300".into()),
                    ..good()
                },
                "invalid address",
            ),
            (RawRow { ip: None, ..good() }, "invalid address"),
            (
                RawRow {
                    jail: Some("$(reboot)".into()),
                    ..good()
                },
                "bad jail name",
            ),
            (
                RawRow {
                    origin: Some("a b".into()),
                    ..good()
                },
                "bad host name",
            ),
            (
                RawRow {
                    origin: None,
                    ..good()
                },
                "bad host name",
            ),
            (
                RawRow {
                    kind: Some("drop table".into()),
                    ..good()
                },
                "neither ban nor unban",
            ),
            (
                RawRow {
                    time_of_ban: Some(f64::NAN),
                    ..good()
                },
                "time of ban",
            ),
            (
                RawRow {
                    time_of_ban: Some(NOW + 86400.0),
                    ..good()
                },
                "future",
            ),
            (
                RawRow {
                    ban_time: Some(f64::INFINITY),
                    ..good()
                },
                "ban time",
            ),
            (
                RawRow {
                    ban_time: Some(0.0),
                    ..good()
                },
                "ban time",
            ),
            (
                RawRow {
                    ban_count: Some(-1),
                    ..good()
                },
                "ban count",
            ),
            (
                RawRow {
                    failures: Some(i64::MAX),
                    ..good()
                },
                "failure count",
            ),
            (
                RawRow {
                    matches: Some("x".repeat(MAX_MATCHES_BYTES + 1)),
                    matches_len: Some(1 << 20),
                    ..good()
                },
                "bytes",
            ),
            (
                RawRow {
                    matches: Some("x\n".repeat(MAX_MATCH_LINES + 1)),
                    matches_len: None,
                    ..good()
                },
                "matched lines",
            ),
        ];
        for (raw, why) in cases {
            let e = validate(raw.clone(), NOW).expect_err(why);
            assert!(e.reason.contains(why), "{why}: {e}");
            assert!(e.to_string().len() < 200, "{e}");
            assert_eq!(e.seq, 7);
        }
        // A huge address is quoted short.
        let e = validate(
            RawRow {
                ip: Some("9".repeat(1 << 20)),
                ..good()
            },
            NOW,
        )
        .unwrap_err();
        assert!(e.to_string().len() < 200);
    }

    #[test]
    fn permanent_bans_read_as_minus_one() {
        let r = validate(
            RawRow {
                ban_time: Some(-5.0),
                ..good()
            },
            NOW,
        )
        .unwrap();
        assert_eq!(r.row.ban_time, -1.0);
        assert!(r.row.in_force(NOW + 1e9));
    }

    #[test]
    fn published_matches_are_bounded() {
        let lines: Vec<String> = (0..30)
            .map(|i| format!("{i} {}\nx", "é".repeat(PUBLISH_LINE_BYTES)))
            .collect();
        let b = BanRow::bound_matches(&lines);
        assert_eq!(b.len(), PUBLISH_LINES);
        assert!(b[0].starts_with("20 "));
        assert!(b
            .iter()
            .all(|l| l.len() <= PUBLISH_LINE_BYTES && !l.contains('\n')));
        // What a publisher sends always passes the receiver's limits.
        let joined = b.join("\n");
        let raw = RawRow {
            matches_len: Some(joined.len() as i64),
            matches: Some(joined),
            ..good()
        };
        assert!(validate(raw, NOW).is_ok());
    }

    #[test]
    fn rows_round_trip_through_json() {
        let r = validate(good(), NOW).unwrap().row;
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<BanRow>(&text).unwrap(), r);
    }
}
