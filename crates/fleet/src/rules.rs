//! Which jail does what with a row of the fleet: the per-jail options
//! (`fleet`, `fleetjails`, `fleetcount`) and the decisions made from them.
//!
//! - A host never acts on its own rows (no echo; they are already in
//!   force here).
//! - A jail with `fleet = apply` or `both` applies the bans and unbans of
//!   the jails it names in `fleetjails` (default: its own name), whatever
//!   host published them.
//! - A ban is applied only while in force (time of ban + ban time after
//!   now, or permanent): a host back from an absence does not ban for
//!   bans that ended meanwhile.
//! - An unban lifts a local ban only if that ban came from the fleet, from
//!   the host that now unbans ([`lifts`]): a host keeps the bans it decided
//!   from its own logs.
//! - A jail with `fleetcount = fleet` that does not apply the fleet's bans
//!   (`fleet = off` or `publish`; `recidive` is the case in point) counts
//!   every ban another host published in another jail as one failure of
//!   the address, as it counts the ban lines of its own host's log.

use std::str::FromStr;

use crate::row::{Kind, Received};

/// A jail's `fleet` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Neither publishes nor applies (the default).
    #[default]
    Off,
    /// Publishes its bans.
    Publish,
    /// Applies the fleet's bans.
    Apply,
    /// Both.
    Both,
}

impl Mode {
    /// Whether the jail's own bans are published.
    pub fn publishes(self) -> bool {
        matches!(self, Mode::Publish | Mode::Both)
    }
    /// Whether the jail applies other hosts' bans.
    pub fn applies(self) -> bool {
        matches!(self, Mode::Apply | Mode::Both)
    }
    /// The option's text.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Publish => "publish",
            Mode::Apply => "apply",
            Mode::Both => "both",
        }
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" | "" | "false" | "no" => Ok(Mode::Off),
            "publish" => Ok(Mode::Publish),
            "apply" => Ok(Mode::Apply),
            "both" => Ok(Mode::Both),
            other => Err(format!(
                "fleet must be publish, apply, both or off, not {other:?}"
            )),
        }
    }
}

/// A jail's `fleetcount` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Count {
    /// Only this host's bans count for `bantime.increment` (the default).
    #[default]
    Local,
    /// Bans anywhere in the fleet count.
    Fleet,
}

impl Count {
    /// The option's text.
    pub fn as_str(self) -> &'static str {
        match self {
            Count::Local => "local",
            Count::Fleet => "fleet",
        }
    }
}

impl FromStr for Count {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "local" | "" => Ok(Count::Local),
            "fleet" => Ok(Count::Fleet),
            other => Err(format!("fleetcount must be local or fleet, not {other:?}")),
        }
    }
}

/// One local jail's fleet settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JailFleet {
    /// The jail's name.
    pub name: String,
    /// `fleet`.
    pub mode: Mode,
    /// `fleetjails`: the fleet jails whose bans it applies (empty: its
    /// own name).
    pub jails: Vec<String>,
    /// `fleetcount`.
    pub count: Count,
}

impl JailFleet {
    /// Whether bans of fleet jail `jail` concern this jail (as applier).
    pub fn follows(&self, jail: &str) -> bool {
        if self.jails.is_empty() {
            self.name == jail
        } else {
            self.jails.iter().any(|j| j == jail)
        }
    }

    /// The fleet jails whose history counts for this jail's
    /// `bantime.increment` (`fleetjails`, or its own name).
    pub fn history_jails(&self) -> Vec<String> {
        if self.jails.is_empty() {
            vec![self.name.clone()]
        } else {
            self.jails.clone()
        }
    }
}

/// What one local jail does with one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Ban the address through the jail's actions.
    Ban(String),
    /// Lift the jail's fleet ban of the address, if it came from the
    /// row's host.
    Unban(String),
    /// Count the ban as one failure of the address (see the module doc).
    CountFailure(String),
}

/// What the local jails do with `row` (see the module doc). `host` is
/// this host's fleet name.
pub fn plan(row: &Received, host: &str, jails: &[JailFleet], now: f64) -> Vec<Plan> {
    if row.origin == host {
        return Vec::new();
    }
    let mut out = Vec::new();
    for j in jails {
        if j.mode.applies() && j.follows(&row.row.jail) {
            match row.row.kind {
                Kind::Ban if row.row.in_force(now) => out.push(Plan::Ban(j.name.clone())),
                Kind::Ban => {}
                Kind::Unban => out.push(Plan::Unban(j.name.clone())),
            }
        } else if !j.mode.applies()
            && j.count == Count::Fleet
            && row.row.kind == Kind::Ban
            && row.row.jail != j.name
        {
            out.push(Plan::CountFailure(j.name.clone()));
        }
    }
    out
}

/// Whether an unban published by `row_origin` lifts a local ban whose
/// fleet origin is `ban_origin` (`None`: the host's own ban).
pub fn lifts(ban_origin: Option<&str>, row_origin: &str) -> bool {
    ban_origin == Some(row_origin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::BanRow;
    use gaoler_addr::Addr;

    const NOW: f64 = 1_800_000_000.0;

    fn row(origin: &str, jail: &str, kind: Kind, time: f64) -> Received {
        Received {
            seq: 1,
            origin: origin.into(),
            row: BanRow {
                jail: jail.into(),
                kind,
                ip: "192.0.2.7".into(),
                time_of_ban: time,
                ban_time: 600.0,
                ban_count: 1,
                failures: 3,
                matches: vec![],
                manual: false,
            },
            addr: Addr::parse("192.0.2.7"),
        }
    }

    fn jail(name: &str, mode: Mode, jails: &[&str], count: Count) -> JailFleet {
        JailFleet {
            name: name.into(),
            mode,
            jails: jails.iter().map(|s| s.to_string()).collect(),
            count,
        }
    }

    #[test]
    fn own_rows_are_never_applied() {
        let js = [jail("freeswitch", Mode::Both, &[], Count::Fleet)];
        assert!(plan(&row("a", "freeswitch", Kind::Ban, NOW), "a", &js, NOW).is_empty());
        assert_eq!(
            plan(&row("b", "freeswitch", Kind::Ban, NOW), "a", &js, NOW),
            vec![Plan::Ban("freeswitch".into())]
        );
    }

    #[test]
    fn modes_and_fleetjails_decide_who_applies() {
        let js = [
            jail(
                "freeswitch",
                Mode::Apply,
                &["freeswitch", "freeswitch-cdr"],
                Count::Local,
            ),
            jail("sshd", Mode::Both, &[], Count::Local),
            jail("asterisk", Mode::Publish, &[], Count::Local),
            jail("nginx", Mode::Off, &[], Count::Local),
        ];
        let p = |j: &str| plan(&row("b", j, Kind::Ban, NOW), "a", &js, NOW);
        assert_eq!(p("freeswitch-cdr"), vec![Plan::Ban("freeswitch".into())]);
        assert_eq!(p("sshd"), vec![Plan::Ban("sshd".into())]);
        assert!(p("asterisk").is_empty(), "publish-only jails do not apply");
        assert!(p("nginx").is_empty());
        assert!(p("other").is_empty());
        assert_eq!(
            plan(&row("b", "sshd", Kind::Unban, NOW), "a", &js, NOW),
            vec![Plan::Unban("sshd".into())]
        );
    }

    #[test]
    fn bans_that_ended_are_not_applied() {
        let js = [jail("sshd", Mode::Both, &[], Count::Local)];
        assert!(plan(&row("b", "sshd", Kind::Ban, NOW - 601.0), "a", &js, NOW).is_empty());
        assert_eq!(
            plan(&row("b", "sshd", Kind::Ban, NOW - 599.0), "a", &js, NOW).len(),
            1
        );
        let mut perm = row("b", "sshd", Kind::Ban, NOW - 1e6);
        perm.row.ban_time = -1.0;
        assert_eq!(plan(&perm, "a", &js, NOW).len(), 1);
    }

    #[test]
    fn fleetcount_makes_recidive_count_other_hosts_bans() {
        let js = [
            jail("recidive", Mode::Off, &[], Count::Fleet),
            jail("sshd", Mode::Both, &[], Count::Fleet),
        ];
        assert_eq!(
            plan(&row("b", "sshd", Kind::Ban, NOW), "a", &js, NOW),
            vec![
                Plan::CountFailure("recidive".into()),
                Plan::Ban("sshd".into())
            ]
        );
        // Not its own bans, not unbans, not with fleetcount = local.
        assert_eq!(
            plan(&row("b", "recidive", Kind::Ban, NOW), "a", &js, NOW),
            vec![]
        );
        assert_eq!(
            plan(&row("b", "sshd", Kind::Unban, NOW), "a", &js, NOW),
            vec![Plan::Unban("sshd".into())]
        );
        let local = [jail("recidive", Mode::Off, &[], Count::Local)];
        assert!(plan(&row("b", "sshd", Kind::Ban, NOW), "a", &local, NOW).is_empty());
    }

    #[test]
    fn unbans_lift_only_fleet_bans_of_the_same_host() {
        assert!(lifts(Some("b"), "b"));
        assert!(!lifts(Some("c"), "b"));
        assert!(!lifts(None, "b"), "a host's own ban stays");
    }

    #[test]
    fn options_parse() {
        assert_eq!("Both".parse::<Mode>(), Ok(Mode::Both));
        assert_eq!("off".parse::<Mode>(), Ok(Mode::Off));
        assert!("sometimes".parse::<Mode>().is_err());
        assert_eq!("fleet".parse::<Count>(), Ok(Count::Fleet));
        assert!("global".parse::<Count>().is_err());
        assert!(Mode::Both.publishes() && Mode::Both.applies());
        assert!(Mode::Publish.publishes() && !Mode::Publish.applies());
        assert!(!Mode::Apply.publishes() && Mode::Apply.applies());
    }
}
