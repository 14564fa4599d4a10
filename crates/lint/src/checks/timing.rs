//! `timing-*`: `maxretry`, `findtime` and `bantime` values that do not
//! work together.
//!
//! A jail bans an address once `maxretry` of its failures lie within
//! `findtime` seconds (fail2ban compares the count with `>=`, and empties
//! an address's count when it bans it). From that:
//! - `timing-maxretry` (error): `maxretry` below 1 bans at the very first
//!   failure, exactly as 1 does: nobody writes 0 meaning that; it is
//!   usually meant as "never" or "unlimited", which it is not.
//! - `timing-findtime` (error): with `findtime` 0 or less, every line is
//!   older than "now - findtime" and is skipped, so nothing is counted
//!   and the jail never bans.
//! - `timing-rate` (warning): some daemons slow down a client after each
//!   failure. When `maxretry` failures take longer at that pace than
//!   `findtime`, the first ones expire before the last arrives and a
//!   client going at the daemon's pace on one connection is never
//!   banned. The table below keeps, per filter, the shortest time between
//!   two failures of one connection and why; other services are not
//!   judged (a client can open several connections, so this is the slow
//!   attacker's case, the one fail2ban exists for).
//! - `timing-bantime` (info): with `bantime` shorter than `findtime` (and
//!   no `bantime.increment`), an attacker who accepts the bans gets
//!   `maxretry` tries per `bantime`, more than the `maxretry - 1` per
//!   `findtime` allowed to one who stays below the threshold: the ban is
//!   cheaper than the window. (The counter does not carry failures over
//!   the ban: it is emptied when the address is banned, so this is not
//!   about double counting.) Many setups choose this on purpose, so it is
//!   information, not a warning.
//! - `timing-maxtime` (warning): `bantime.maxtime` below `bantime` cuts
//!   every incremented ban to less than a first offender's ban: repeat
//!   offenders go free sooner, the opposite of `bantime.increment`.

use super::Ctx;
use crate::finding::{Finding, Level};
use crate::model::JailView;

/// Per filter: the shortest time between two failures of one client
/// connection, in seconds, and why.
const RATE: &[(&str, f64, &str)] = &[
    // pam_unix sleeps ~2 s after a failed password before sshd may ask
    // again (MaxAuthTries 6 per connection; pam_faildelay can raise it)
    ("sshd", 2.0, "PAM delays each failed password by about 2 s"),
    // dovecot's auth_failure_delay defaults to 2 secs
    ("dovecot", 2.0, "auth_failure_delay is 2 s by default"),
    // postfix's smtpd_error_sleep_time defaults to 1s
    ("postfix", 1.0, "smtpd_error_sleep_time is 1 s by default"),
    // vsftpd's delay_failed_login defaults to 1 (second)
    ("vsftpd", 1.0, "delay_failed_login is 1 s by default"),
];

fn seconds(jail: &JailView<'_>, key: &str) -> Option<f64> {
    let v = jail.setting(key)?;
    gaoler_config::str2seconds(&v)
        .map(gaoler_config::timeval::Num::as_f64)
        .ok()
}

fn is_true(jail: &JailView<'_>, key: &str) -> bool {
    jail.setting(key)
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "on"))
}

/// Runs the check on one jail.
pub(crate) fn check(_ctx: &Ctx<'_>, jail: &JailView<'_>, out: &mut Vec<Finding>) {
    let name = Some(jail.name.as_str());
    let maxretry = jail
        .setting("maxretry")
        .and_then(|v| v.trim().parse::<i64>().ok());
    let findtime = seconds(jail, "findtime");
    let bantime = seconds(jail, "bantime");
    let increment = is_true(jail, "bantime.increment");
    if let Some(m) = maxretry.filter(|m| *m < 1) {
        out.push(
            Finding::new(
                Level::Error,
                "timing-maxretry",
                name,
                format!(
                    "maxretry = {m}: fail2ban bans when an address has at least maxretry \
                     failures, so every address is banned at its first failure, as with \
                     maxretry = 1 (it does not mean \"never\" or \"unlimited\")"
                ),
                "write `maxretry = 1` if one failure should ban; to stop banning, set \
                 `enabled = false`",
            )
            .at(jail.origin("maxretry")),
        );
    }
    if let Some(f) = findtime.filter(|f| *f <= 0.0) {
        out.push(
            Finding::new(
                Level::Error,
                "timing-findtime",
                name,
                format!(
                    "findtime = {f}: fail2ban skips every line older than now - findtime, so \
                     with findtime {f} no failure is ever counted and the jail never bans"
                ),
                "set findtime to the window failures are counted in, e.g. `findtime = 10m`",
            )
            .at(jail.origin("findtime")),
        );
    }
    if let (Some(m), Some(f), Some(filter)) = (maxretry, findtime, jail.filter_name()) {
        if let Some((svc, gap, why)) = RATE.iter().find(|(s, _, _)| *s == filter) {
            let needed = (m - 1).max(0) as f64 * gap;
            if m >= 2 && f > 0.0 && needed > f {
                out.push(
                    Finding::new(
                        Level::Warning,
                        "timing-rate",
                        name,
                        format!(
                            "{svc} lets one connection fail at most every {gap} s ({why}), so \
                             {m} failures take at least {needed} s, longer than findtime = {f} s: \
                             the first failures expire before the last arrives, and a client \
                             going at {svc}'s own pace is never banned"
                        ),
                        format!(
                            "raise findtime above {needed} s (e.g. `findtime = 10m`), or lower \
                             maxretry"
                        ),
                    )
                    .at(jail.origin("findtime")),
                );
            }
        }
    }
    if let (Some(b), Some(f)) = (bantime, findtime) {
        if b > 0.0 && f > 0.0 && b < f && !increment {
            let m = maxretry.unwrap_or(3);
            out.push(
                Finding::new(
                    Level::Info,
                    "timing-bantime",
                    name,
                    format!(
                        "bantime ({b} s) is shorter than findtime ({f} s): an address's count \
                         is emptied when it is banned, so an attacker who accepts the bans gets \
                         {m} tries every {b} s, more than the {} per {f} s allowed to one who \
                         stays below maxretry",
                        m - 1
                    ),
                    "make bantime at least findtime, or turn on `bantime.increment = true` so \
                     that repeat offenders are banned longer each time",
                )
                .at(jail.origin("bantime")),
            );
        }
    }
    if let (Some(b), Some(max)) = (bantime, seconds(jail, "bantime.maxtime")) {
        if b > 0.0 && max > 0.0 && max < b {
            let effect = if increment {
                "every incremented ban is cut to it, so repeat offenders are banned for less \
                 time than first offenders"
            } else {
                "bantime.increment is off, so it does nothing now; turned on, it would cut \
                 repeat offenders' bans below a first offender's"
            };
            out.push(
                Finding::new(
                    Level::Warning,
                    "timing-maxtime",
                    name,
                    format!("bantime.maxtime ({max} s) is lower than bantime ({b} s): {effect}"),
                    format!("raise bantime.maxtime above {b} s (e.g. `bantime.maxtime = 1w`)"),
                )
                .at(jail.origin("bantime.maxtime")),
            );
        }
    }
}
