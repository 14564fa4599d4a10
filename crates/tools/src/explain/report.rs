//! The explain report: built from what [`Collector`] gathered, printed as
//! text, JSON ([`Report`] is the JSON document) or HTML (see `html`).
//!
//! Design decisions:
//! - **Everything in JSON, the top in text.** `--json` lists every
//!   address and every ban, for scripts; the text and HTML reports show
//!   the busiest ones (`--top`).
//! - **Bursts are relative.** A minute is busy when it has at least
//!   `maxretry` failures and three times the median of the minutes that
//!   have any; a burst is a run of busy minutes. A steady background of
//!   failures is then no burst, and a quiet log's single attack is.

use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;

use anyhow::Result;
use gaoler_addr::Addr;
use serde::Serialize;

use super::collect::{Collector, Lines};
use super::plan::JailPlan;
use super::replay::Place;

/// The jail's settings, as the report shows them.
#[derive(Debug, Serialize)]
pub struct Settings {
    /// `filter`.
    pub filter: String,
    /// `maxretry`.
    pub maxretry: u32,
    /// `findtime`, seconds.
    pub findtime: f64,
    /// `bantime`, seconds.
    pub bantime: f64,
    /// `bantime.increment`.
    pub bantime_increment: bool,
    /// `ignoreip`.
    pub ignoreip: Vec<String>,
    /// `ignoreself`.
    pub ignoreself: bool,
}

/// One log read.
#[derive(Debug, Serialize)]
pub struct LogReport {
    /// Its path.
    pub path: String,
    /// Its lines.
    pub lines: Lines,
}

/// One regex and its hits.
#[derive(Debug, Serialize)]
pub struct RegexHits {
    /// 1-based, as fail2ban-regex numbers them.
    pub number: usize,
    /// The regex (as the filter gives it, `<HOST>` not expanded).
    pub regex: String,
    /// Lines it matched.
    pub hits: u64,
}

/// A ban in the report.
#[derive(Debug, Serialize, Clone)]
pub struct BanReport {
    /// The address.
    pub address: String,
    /// When (seconds since the epoch).
    pub time: f64,
    /// Ban time in seconds (negative: permanent).
    pub bantime: f64,
    /// End of the ban, if not permanent.
    pub end: Option<f64>,
    /// The address's ban count with this ban.
    pub ban_count: u32,
    /// Failures counted for it.
    pub failures: u32,
    /// The log of the failure that triggered it.
    pub log: String,
    /// Its line number.
    pub line: usize,
    /// Made longer by `bantime.increment`.
    pub increased: bool,
}

/// One address.
#[derive(Debug, Serialize)]
pub struct AddressReport {
    /// The address (or id).
    pub address: String,
    /// Failures found.
    pub failures: u32,
    /// First failure.
    pub first_seen: f64,
    /// Last failure.
    pub last_seen: f64,
    /// Why `ignoreip`/`ignoreself` spared it (`ip`, `ignoreself rule`, …).
    pub spared_by: Option<String>,
    /// Its bans.
    pub bans: Vec<BanReport>,
    /// Times it reached `maxretry` again while still banned.
    pub already_banned: u32,
}

/// A /24 (IPv4) or /64 (IPv6) network.
#[derive(Debug, Serialize)]
pub struct NetworkReport {
    /// `192.0.2.0/24`.
    pub network: String,
    /// Failures from it.
    pub failures: u64,
    /// Distinct addresses.
    pub addresses: u64,
    /// Bans of its addresses.
    pub bans: u64,
}

/// A run of busy minutes.
#[derive(Debug, Serialize)]
pub struct Burst {
    /// Start of its first minute.
    pub start: f64,
    /// End of its last minute.
    pub end: f64,
    /// Failures in it.
    pub failures: u64,
    /// Its busiest minute's failures.
    pub peak_per_minute: u32,
    /// New bans in it.
    pub bans: u64,
}

/// One bucket of the timeline.
#[derive(Debug, Serialize, Clone, Copy)]
pub struct Bucket {
    /// Its start.
    pub start: f64,
    /// Failures in it.
    pub failures: u64,
    /// New bans in it.
    pub bans: u64,
}

/// Lines that look like failures but matched no failregex.
#[derive(Debug, Serialize)]
pub struct Hints {
    /// How many.
    pub count: u64,
    /// Some of them.
    pub samples: Vec<HintLine>,
}

/// A hint line.
#[derive(Debug, Serialize)]
pub struct HintLine {
    /// Its log.
    pub log: String,
    /// Its line number.
    pub line: usize,
    /// The line.
    pub text: String,
}

/// Totals.
#[derive(Debug, Serialize)]
pub struct Totals {
    /// Lines over all logs.
    pub lines: Lines,
    /// Failures found (with an address and a date).
    pub failures: u64,
    /// Distinct addresses with failures.
    pub addresses: u64,
    /// Addresses banned at least once.
    pub banned_addresses: u64,
    /// Bans.
    pub bans: u64,
    /// Unbans before the end of the log.
    pub unbans: u64,
    /// Bans still in force at the end of the log.
    pub active_bans: u64,
    /// Addresses `ignoreip`/`ignoreself` spared.
    pub spared_addresses: u64,
    /// Failures without any date (not replayed).
    pub undated_failures: u64,
}

/// The whole report (`--json`).
#[derive(Debug, Serialize)]
pub struct Report {
    /// The jail.
    pub jail: String,
    /// Its settings.
    pub settings: Settings,
    /// The logs read.
    pub logs: Vec<LogReport>,
    /// Time of the first and last dated line.
    pub span: Option<(f64, f64)>,
    /// Totals.
    pub totals: Totals,
    /// Hits per failregex.
    pub failregex: Vec<RegexHits>,
    /// Hits per ignoreregex.
    pub ignoreregex: Vec<RegexHits>,
    /// Every address, most failures first.
    pub addresses: Vec<AddressReport>,
    /// Networks, most failures first.
    pub networks: Vec<NetworkReport>,
    /// Bursts, in time order.
    pub bursts: Vec<Burst>,
    /// Failures and bans over time.
    pub timeline: Vec<Bucket>,
    /// Width of a timeline bucket, seconds.
    pub bucket_seconds: f64,
    /// Lines that look like failures but matched no failregex.
    pub hints: Hints,
}

/// The /24 or /64 an address belongs to.
fn network_of(a: &Addr) -> Option<String> {
    match a {
        Addr::Ip(IpAddr::V4(v4)) => {
            let o = v4.octets();
            Some(format!("{}.{}.{}.0/24", o[0], o[1], o[2]))
        }
        Addr::Ip(IpAddr::V6(v6)) => {
            let s = v6.segments();
            let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            Some(format!("{net}/64"))
        }
        _ => None,
    }
}

/// A bucket width that gives at most `n` buckets over `span` seconds.
fn bucket_width(span: f64, n: f64) -> f64 {
    const STEPS: &[f64] = &[
        1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 43200.0,
        86400.0, 604800.0,
    ];
    STEPS
        .iter()
        .copied()
        .find(|w| span / w <= n)
        .unwrap_or_else(|| (span / n / 86400.0).ceil() * 86400.0)
}

impl Report {
    /// Builds the report.
    pub fn build(plan: &JailPlan, logs: &[String], c: &Collector) -> Report {
        let log_name = |p: Place| logs.get(p.file).cloned().unwrap_or_default();
        let ban_report = |i: u32| -> Option<BanReport> {
            let b = c.bans.get(i as usize)?;
            Some(BanReport {
                address: b.id.clone(),
                time: b.time,
                bantime: b.ban_time,
                end: b.end(),
                ban_count: b.ban_count,
                failures: b.failures,
                log: log_name(b.place),
                line: b.place.line,
                increased: b.increased,
            })
        };
        let mut addresses: Vec<AddressReport> = c
            .addrs
            .iter()
            .map(|(a, r)| AddressReport {
                address: a.to_string(),
                failures: r.failures,
                first_seen: r.first,
                last_seen: r.last,
                spared_by: r.spared_by.clone(),
                bans: r.bans.iter().filter_map(|&i| ban_report(i)).collect(),
                already_banned: r.already_banned,
            })
            .collect();
        addresses.sort_by(|a, b| {
            b.failures
                .cmp(&a.failures)
                .then(b.bans.len().cmp(&a.bans.len()))
                .then_with(|| a.address.cmp(&b.address))
        });
        let mut nets: HashMap<String, NetworkReport> = HashMap::new();
        for (a, r) in &c.addrs {
            let Some(n) = network_of(a) else { continue };
            let e = nets.entry(n.clone()).or_insert(NetworkReport {
                network: n,
                failures: 0,
                addresses: 0,
                bans: 0,
            });
            e.failures += u64::from(r.failures);
            e.addresses += 1;
            e.bans += r.bans.len() as u64;
        }
        let mut networks: Vec<NetworkReport> = nets.into_values().collect();
        networks.sort_by(|a, b| {
            b.failures
                .cmp(&a.failures)
                .then_with(|| a.network.cmp(&b.network))
        });
        let (timeline, bucket_seconds) = timeline(c);
        let mut lines = Lines::default();
        for l in &c.lines {
            lines.read += l.read;
            lines.matched += l.matched;
            lines.ignored += l.ignored;
            lines.missed += l.missed;
            lines.unevaluated += l.unevaluated;
        }
        let failures: u64 = c.addrs.values().map(|r| u64::from(r.failures)).sum();
        Report {
            jail: plan.name.clone(),
            settings: Settings {
                filter: plan.filter.clone(),
                maxretry: plan.maxretry,
                findtime: plan.findtime,
                bantime: plan.bantime,
                bantime_increment: plan.increment.enabled,
                ignoreip: plan.ignoreip.clone(),
                ignoreself: plan.ignoreself,
            },
            logs: logs
                .iter()
                .zip(&c.lines)
                .map(|(p, l)| LogReport {
                    path: p.clone(),
                    lines: *l,
                })
                .collect(),
            span: c.span,
            totals: Totals {
                lines,
                failures,
                addresses: c.addrs.len() as u64,
                banned_addresses: c.addrs.values().filter(|r| !r.bans.is_empty()).count() as u64,
                bans: c.bans.len() as u64,
                unbans: c.unbans,
                active_bans: c.active_bans() as u64,
                spared_addresses: c.addrs.values().filter(|r| r.spared_by.is_some()).count() as u64,
                undated_failures: c.undated,
            },
            failregex: hits(&plan.filter_options.failregex, &c.fail_hits),
            ignoreregex: hits(&plan.filter_options.ignoreregex, &c.ignore_hits),
            addresses,
            networks,
            bursts: bursts(c, plan.maxretry),
            timeline,
            bucket_seconds,
            hints: Hints {
                count: c.hints,
                samples: c
                    .hint_samples
                    .iter()
                    .map(|(p, t)| HintLine {
                        log: log_name(*p),
                        line: p.line,
                        text: t.clone(),
                    })
                    .collect(),
            },
        }
    }
}

fn hits(regexes: &[String], hits: &[u64]) -> Vec<RegexHits> {
    regexes
        .iter()
        .zip(hits)
        .enumerate()
        .map(|(i, (r, h))| RegexHits {
            number: i + 1,
            regex: r.clone(),
            hits: *h,
        })
        .collect()
}

/// Failures and bans per bucket, at most 120 buckets over the log's span.
fn timeline(c: &Collector) -> (Vec<Bucket>, f64) {
    let Some((lo, hi)) = c.minutes.keys().fold(None, |acc: Option<(i64, i64)>, &m| {
        Some(acc.map_or((m, m), |(a, b)| (a.min(m), b.max(m))))
    }) else {
        return (Vec::new(), 60.0);
    };
    let span = ((hi - lo + 1) * 60) as f64;
    let width = bucket_width(span, 120.0).max(60.0);
    let start = ((lo * 60) as f64 / width).floor() * width;
    let n = (((hi + 1) * 60) as f64 - start) / width;
    let n = (n.ceil() as usize).max(1);
    let mut out: Vec<Bucket> = (0..n)
        .map(|i| Bucket {
            start: start + i as f64 * width,
            failures: 0,
            bans: 0,
        })
        .collect();
    for (&m, &(f, b)) in &c.minutes {
        let i = (((m * 60) as f64 - start) / width) as usize;
        if let Some(bk) = out.get_mut(i.min(n - 1)) {
            bk.failures += u64::from(f);
            bk.bans += u64::from(b);
        }
    }
    (out, width)
}

fn bursts(c: &Collector, maxretry: u32) -> Vec<Burst> {
    let mut counts: Vec<u32> = c.minutes.values().map(|v| v.0).filter(|&f| f > 0).collect();
    if counts.is_empty() {
        return Vec::new();
    }
    counts.sort_unstable();
    let median = counts[counts.len() / 2];
    let busy = (median.saturating_mul(3)).max(maxretry.max(1));
    let mut minutes: Vec<(i64, (u32, u32))> = c
        .minutes
        .iter()
        .filter(|(_, v)| v.0 >= busy)
        .map(|(k, v)| (*k, *v))
        .collect();
    minutes.sort_unstable_by_key(|m| m.0);
    let mut out: Vec<Burst> = Vec::new();
    let mut last: Option<i64> = None;
    for (m, (f, b)) in minutes {
        match out.last_mut() {
            Some(cur) if last == Some(m - 1) => {
                cur.end = ((m + 1) * 60) as f64;
                cur.failures += u64::from(f);
                cur.bans += u64::from(b);
                cur.peak_per_minute = cur.peak_per_minute.max(f);
            }
            _ => out.push(Burst {
                start: (m * 60) as f64,
                end: ((m + 1) * 60) as f64,
                failures: u64::from(f),
                peak_per_minute: f,
                bans: u64::from(b),
            }),
        }
        last = Some(m);
    }
    out
}

/// `2026-01-01 00:00:00` in local time (as the daemon's log lines).
pub fn when(t: f64) -> String {
    match jiff::Timestamp::from_second(t.floor() as i64) {
        Ok(ts) => ts
            .to_zoned(jiff::tz::TimeZone::system())
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string(),
        Err(_) => t.to_string(),
    }
}

/// `10m`, `1h 30m` (as the daemon's log lines write it), `permanent`.
pub fn duration(s: f64) -> String {
    if s < 0.0 {
        return "permanent".into();
    }
    gaoler_py::time::seconds2str(s)
}

/// The end of a long regex: expanded failregexes share a long common
/// prefix (`__prefix_line`), their own part is at the end.
fn tail(s: &str, n: usize) -> String {
    let count = s.chars().count();
    if count <= n {
        s.to_string()
    } else {
        let mut t = String::from("...");
        t.extend(s.chars().skip(count - n.saturating_sub(3)));
        t
    }
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(3)).collect();
        t.push_str("...");
        t
    }
}

impl Report {
    /// The text report, with the `top` busiest addresses and networks.
    pub fn write_text(&self, top: usize, out: &mut dyn Write) -> Result<()> {
        let s = &self.settings;
        writeln!(
            out,
            "Jail {}: filter {}, maxretry {}, findtime {}, bantime {}{}",
            self.jail,
            s.filter,
            s.maxretry,
            duration(s.findtime),
            duration(s.bantime),
            if s.bantime_increment {
                " (bantime.increment on)"
            } else {
                ""
            }
        )?;
        writeln!(
            out,
            "  ignoreip: {}; ignoreself: {}",
            if s.ignoreip.is_empty() {
                "(none)".to_string()
            } else {
                s.ignoreip.join(" ")
            },
            s.ignoreself
        )?;
        for l in &self.logs {
            writeln!(
                out,
                "Log {}: {} lines, {} matched, {} ignored, {} missed",
                l.path, l.lines.read, l.lines.matched, l.lines.ignored, l.lines.missed
            )?;
        }
        if let Some((a, b)) = self.span {
            writeln!(out, "  from {} to {}", when(a), when(b))?;
        }
        let t = &self.totals;
        writeln!(out)?;
        writeln!(
            out,
            "Would ban {} addresses ({} bans, {} lifted before the end of the log, {} still banned) \
             of {} with {} failures; {} spared by ignoreip/ignoreself.",
            t.banned_addresses,
            t.bans,
            t.unbans,
            t.active_bans,
            t.addresses,
            t.failures,
            t.spared_addresses
        )?;
        if t.lines.unevaluated > 0 {
            writeln!(
                out,
                "{} lines could not be evaluated (a regex hit its search limit).",
                t.lines.unevaluated
            )?;
        }
        if t.undated_failures > 0 {
            writeln!(
                out,
                "{} failures carry no date and were not counted.",
                t.undated_failures
            )?;
        }
        for (title, list) in [
            ("\nFailregex hits:", &self.failregex),
            ("Ignoreregex hits:", &self.ignoreregex),
        ] {
            if list.is_empty() && title.starts_with("Ignore") {
                continue;
            }
            writeln!(out, "{title}")?;
            for r in list {
                let regex = tail(&r.regex, 100);
                writeln!(out, "  #{:<3} {:>9}  {regex}", r.number, r.hits)?;
            }
        }
        if !self.addresses.is_empty() {
            writeln!(out, "\nTop addresses:")?;
            writeln!(
                out,
                "  {:<39} {:>8} {:>5}  {:<19}  {:<19}  note",
                "address", "failures", "bans", "first seen", "last seen"
            )?;
            for a in self.addresses.iter().take(top) {
                let note = match (&a.spared_by, a.bans.first()) {
                    (Some(r), _) => format!("spared by {r}"),
                    (None, Some(b)) => format!(
                        "first ban {} for {} (line {})",
                        when(b.time),
                        duration(b.bantime),
                        b.line
                    ),
                    (None, None) => String::new(),
                };
                writeln!(
                    out,
                    "  {:<39} {:>8} {:>5}  {:<19}  {:<19}  {note}",
                    a.address,
                    a.failures,
                    a.bans.len(),
                    when(a.first_seen),
                    when(a.last_seen)
                )?;
            }
        }
        if !self.networks.is_empty() {
            writeln!(out, "\nBusiest networks:")?;
            for n in self.networks.iter().take(top) {
                writeln!(
                    out,
                    "  {:<43} {:>8} failures {:>6} addresses {:>6} bans",
                    n.network, n.failures, n.addresses, n.bans
                )?;
            }
        }
        if self.bursts.is_empty() {
            writeln!(out, "\nNo bursts: failures arrive at a steady rate.")?;
        } else {
            writeln!(out, "\nBursts:")?;
            for b in self.bursts.iter().take(top) {
                writeln!(
                    out,
                    "  {} - {}  {:>8} failures, peak {}/min, {} bans",
                    when(b.start),
                    when(b.end),
                    b.failures,
                    b.peak_per_minute,
                    b.bans
                )?;
            }
        }
        if self.hints.count > 0 {
            writeln!(
                out,
                "\n{} lines look like failures (an address and a failure word) but matched no failregex, e.g.:",
                self.hints.count
            )?;
            for h in &self.hints.samples {
                writeln!(out, "  {}:{}: {}", h.log, h.line, short(&h.text, 160))?;
            }
        }
        Ok(())
    }
}
