//! The ignore check run on every failure before it is counted.
//!
//! Order, as in fail2ban: the ignore cache, then `ignoreself`, then
//! `ignoreip` (exact addresses first, then subnets, names and `file:` sets
//! in the order they were added), then `ignorecommand`. The result says
//! which rule matched so the caller can log `[J] Ignore <ip> by <reason>`.
//!
//! Everything outside the process is injected: the host's own addresses
//! are supplied by the caller, names are resolved through a
//! [`Resolver`], the command runs through an [`IgnoreCommand`], and `file:`
//! lists are read through a [`FileSystem`]. Name resolutions are cached
//! here for 5 minutes, keyed by name, with the `now` of the check.
//!
//! `ignoreip` entries that are not addresses are host names: they match
//! an id that is literally the same text (for non-IP failure ids such as
//! user names) or any address the name resolves to. Both count as `dns`,
//! as fail2ban reports for non-address entries.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use gaoler_addr::Addr;

use crate::fileset::{FileIpSet, FileSystem, RealFs};
use crate::resolver::Resolver;
use crate::ticket::Ticket;

/// How long a name resolution is reused.
pub const DNS_CACHE_TIME: f64 = 300.0;
/// Most names kept in the resolution cache.
pub const DNS_CACHE_MAX: usize = 1000;

/// Why a failure was ignored (the text after `by` in the log line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreReason {
    /// `ignoreself`: one of the host's own addresses (logged `ignoreself rule`).
    SelfRule,
    /// An `ignoreip` address or subnet (logged `ip`).
    Ip,
    /// An `ignoreip` host name, by equal text or a resolved address (logged
    /// `dns`).
    Dns,
    /// `ignorecommand` exited with 0 (logged `command`).
    Command,
    /// A `file:` list; holds the path.
    File(String),
}

impl fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IgnoreReason::SelfRule => f.write_str("ignoreself rule"),
            IgnoreReason::Ip => f.write_str("ip"),
            IgnoreReason::Dns => f.write_str("dns"),
            IgnoreReason::Command => f.write_str("command"),
            IgnoreReason::File(p) => write!(f, "file:{p}"),
        }
    }
}

/// Runs `ignorecommand` for an id. The implementation substitutes the tags
/// (from the ticket when there is one) and runs the command through `sh`:
/// exit 0 means ignore, anything else (1, other codes, failure to run)
/// means do not ignore.
pub trait IgnoreCommand {
    /// Whether `ignorecommand` says to ignore `id`; `ticket` is the failure
    /// whose tags the command may use, if there is one.
    fn is_ignored(&self, id: &str, ticket: Option<&Ticket>) -> bool;
}

impl<F: Fn(&str, Option<&Ticket>) -> bool> IgnoreCommand for F {
    fn is_ignored(&self, id: &str, ticket: Option<&Ticket>) -> bool {
        self(id, ticket)
    }
}

/// `ignorecache` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct IgnoreCacheConfig {
    /// Key template, e.g. `<ip>` or `<F-USER>@<ip>`.
    pub key: String,
    /// `max-count` (default 100).
    pub max_count: usize,
    /// `max-time` in seconds (default 300).
    pub max_time: f64,
}

impl IgnoreCacheConfig {
    /// `ignorecache` with key template `key` and fail2ban's defaults
    /// (`max-count` 100, `max-time` 300 s).
    pub fn new(key: impl Into<String>) -> Self {
        IgnoreCacheConfig {
            key: key.into(),
            max_count: 100,
            max_time: 300.0,
        }
    }

    /// The `ignorecache` option (`key="<ip>", max-count=100, max-time=5m`);
    /// `None` when empty. `seconds` reads a time value (fail2ban's
    /// `str2seconds`, which lives with the configuration reader).
    pub fn parse(
        v: &str,
        seconds: impl Fn(&str) -> Result<f64, String>,
    ) -> Result<Option<IgnoreCacheConfig>, String> {
        if v.trim().is_empty() {
            return Ok(None);
        }
        let mut cfg: Option<IgnoreCacheConfig> = None;
        let mut max_count = None;
        let mut max_time = None;
        for part in v.split(',') {
            let Some((k, val)) = part.split_once('=') else {
                continue;
            };
            let val = val.trim().trim_matches(|c| c == '"' || c == '\'');
            match k.trim() {
                "key" => cfg = Some(IgnoreCacheConfig::new(val)),
                "max-count" => {
                    max_count = Some(
                        val.parse::<usize>()
                            .map_err(|_| format!("invalid max-count {val:?}"))?,
                    )
                }
                "max-time" => max_time = Some(seconds(val)?),
                _ => {}
            }
        }
        let mut cfg = cfg.ok_or_else(|| "ignorecache needs a key".to_owned())?;
        if let Some(c) = max_count {
            cfg.max_count = c;
        }
        if let Some(t) = max_time {
            cfg.max_time = t;
        }
        Ok(Some(cfg))
    }
}

/// A small FIFO cache with expiry, like fail2ban's: when full, the oldest
/// entries are dropped (all expired ones at the front plus one live one).
#[derive(Debug, Clone)]
struct TimedCache<V> {
    max_count: usize,
    max_time: f64,
    order: VecDeque<String>,
    map: HashMap<String, (V, f64)>,
}

impl<V: Clone> TimedCache<V> {
    fn new(max_count: usize, max_time: f64) -> Self {
        TimedCache {
            max_count,
            max_time,
            order: VecDeque::new(),
            map: HashMap::new(),
        }
    }
    fn get(&mut self, k: &str, now: f64) -> Option<V> {
        match self.map.get(k) {
            Some((v, exp)) if *exp > now => Some(v.clone()),
            Some(_) => {
                self.map.remove(k);
                self.order.retain(|x| x != k);
                None
            }
            None => None,
        }
    }
    fn set(&mut self, k: String, v: V, now: f64) {
        if self.map.contains_key(&k) {
            self.order.retain(|x| *x != k);
        } else if self.map.len() >= self.max_count {
            while let Some(old) = self.order.pop_front() {
                let live = self.map.remove(&old).is_some_and(|(_, exp)| exp > now);
                if live && self.map.len() < self.max_count {
                    break;
                }
            }
        }
        self.order.push_back(k.clone());
        self.map.insert(k, (v, now + self.max_time));
    }
    fn len(&self) -> usize {
        self.map.len()
    }
}

#[derive(Debug, Clone)]
enum ListEntry {
    Net(Addr),
    Name(String),
    File(FileIpSet),
}

impl ListEntry {
    /// The same entry written again (a file by its path).
    fn same(&self, other: &ListEntry) -> bool {
        match (self, other) {
            (ListEntry::Net(a), ListEntry::Net(b)) => a == b,
            (ListEntry::Name(a), ListEntry::Name(b)) => a == b,
            (ListEntry::File(a), ListEntry::File(b)) => {
                a.path().as_os_str() == b.path().as_os_str()
            }
            _ => false,
        }
    }
}

/// The ignore settings of one jail and their caches.
#[derive(Clone)]
pub struct IgnoreList {
    ignore_self: bool,
    /// Sorted: a host has few addresses, and this is asked for every
    /// failure.
    self_ips: Vec<IpAddr>,
    /// Seeded fast hash: asked for every failure, keys from the config.
    singles: HashSet<Addr, foldhash::fast::RandomState>,
    list: Vec<ListEntry>,
    cache_cfg: Option<IgnoreCacheConfig>,
    cache: Option<TimedCache<Option<IgnoreReason>>>,
    dns: TimedCache<Vec<IpAddr>>,
    fs: Arc<dyn FileSystem>,
}

impl fmt::Debug for IgnoreList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IgnoreList")
            .field("ignore_self", &self.ignore_self)
            .field("entries", &self.entries())
            .field("cache", &self.cache_cfg)
            .finish()
    }
}

impl Default for IgnoreList {
    fn default() -> Self {
        IgnoreList {
            // fail2ban's default is ignoreself = true.
            ignore_self: true,
            self_ips: Vec::new(),
            singles: HashSet::default(),
            list: Vec::new(),
            cache_cfg: None,
            cache: None,
            dns: TimedCache::new(DNS_CACHE_MAX, DNS_CACHE_TIME),
            fs: Arc::new(RealFs),
        }
    }
}

impl IgnoreList {
    /// fail2ban's defaults: `ignoreself` on, no `ignoreip` entries, no
    /// `ignorecache`, `file:` lists read from the real filesystem.
    pub fn new() -> Self {
        Self::default()
    }

    /// Use another filesystem for `file:` entries (tests).
    pub fn with_fs(mut self, fs: Arc<dyn FileSystem>) -> Self {
        self.fs = fs;
        self
    }

    /// `ignoreself`: whether failures from the host's own addresses are ignored.
    pub fn ignore_self(&self) -> bool {
        self.ignore_self
    }
    /// Turn `ignoreself` on or off.
    pub fn set_ignore_self(&mut self, v: bool) {
        self.ignore_self = v;
    }
    /// The host's own addresses (interfaces, and the resolutions of
    /// `localhost`, the host name and the FQDN), gathered by the caller.
    pub fn set_self_ips(&mut self, ips: impl IntoIterator<Item = IpAddr>) {
        self.self_ips = ips
            .into_iter()
            .map(|ip| match Addr::from(ip) {
                Addr::Ip(ip) => ip,
                _ => ip,
            })
            .collect();
        self.self_ips.sort_unstable();
        self.self_ips.dedup();
    }

    /// `ignorecache`; `None` disables it. Changing it clears the cache.
    pub fn set_cache(&mut self, cfg: Option<IgnoreCacheConfig>) {
        self.cache = cfg
            .as_ref()
            .map(|c| TimedCache::new(c.max_count.max(1), c.max_time));
        self.cache_cfg = cfg;
    }
    /// The `ignorecache` settings; `None` when the cache is off.
    pub fn cache_config(&self) -> Option<&IgnoreCacheConfig> {
        self.cache_cfg.as_ref()
    }

    /// Add one `ignoreip` entry. Returns false for an empty entry or an
    /// exact duplicate.
    pub fn add(&mut self, entry: &str) -> bool {
        let entry = entry.trim();
        if entry.is_empty() {
            return false;
        }
        self.clear_cache();
        let new = match entry.strip_prefix("file:") {
            Some(path) => ListEntry::File(FileIpSet::new(path)),
            None => match Addr::parse(entry) {
                a @ Addr::Ip(_) => return self.singles.insert(a),
                a @ Addr::Net(..) => ListEntry::Net(a),
                Addr::Raw(name) => ListEntry::Name(name),
            },
        };
        if self.list.iter().any(|e| e.same(&new)) {
            return false;
        }
        self.list.push(new);
        true
    }

    /// Add every entry of an `ignoreip` value (separated by blanks or
    /// commas).
    pub fn add_all(&mut self, value: &str) {
        for e in value.split(|c: char| c.is_whitespace() || c == ',') {
            self.add(e);
        }
    }

    /// Remove one entry (`delignoreip`). Returns whether it was present.
    pub fn remove(&mut self, entry: &str) -> bool {
        let entry = entry.trim();
        self.clear_cache();
        if let Some(path) = entry.strip_prefix("file:") {
            let before = self.list.len();
            self.list
                .retain(|e| !matches!(e, ListEntry::File(f) if f.path().as_os_str() == path));
            return self.list.len() != before;
        }
        let a = Addr::parse(entry);
        if self.singles.remove(&a) {
            return true;
        }
        let before = self.list.len();
        self.list.retain(|e| match (e, &a) {
            (ListEntry::Net(n), _) => *n != a,
            (ListEntry::Name(n), Addr::Raw(r)) => n != r,
            _ => true,
        });
        self.list.len() != before
    }

    /// Remove every entry.
    pub fn clear(&mut self) {
        self.singles.clear();
        self.list.clear();
        self.clear_cache();
    }

    fn clear_cache(&mut self) {
        if let Some(c) = &self.cache_cfg {
            self.cache = Some(TimedCache::new(c.max_count.max(1), c.max_time));
        }
    }

    /// The entries, for `get J ignoreip`: subnets, names and files in the
    /// order added, then the single addresses (sorted, for a stable output).
    pub fn entries(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .list
            .iter()
            .map(|e| match e {
                ListEntry::Net(n) => n.to_string(),
                ListEntry::Name(n) => n.clone(),
                ListEntry::File(f) => format!("file:{}", f.path().display()),
            })
            .collect();
        let mut singles: Vec<String> = self.singles.iter().map(Addr::to_string).collect();
        singles.sort();
        out.extend(singles);
        out
    }

    /// Number of entries in the ignore cache (for tests and status).
    pub fn cache_len(&self) -> usize {
        self.cache.as_ref().map_or(0, TimedCache::len)
    }

    /// The ignore check. `ticket` gives the data for the cache key and the
    /// command tags (`None` for a bare id, e.g. a restored ban). Returns
    /// the reason when the failure is to be ignored.
    pub fn check(
        &mut self,
        id: &str,
        ticket: Option<&Ticket>,
        now: f64,
        resolver: &dyn Resolver,
        command: Option<&dyn IgnoreCommand>,
    ) -> Option<IgnoreReason> {
        let key = self
            .cache_cfg
            .as_ref()
            .map(|c| render_key(&c.key, id, ticket));
        if let (Some(k), Some(cache)) = (&key, self.cache.as_mut()) {
            if let Some(v) = cache.get(k, now) {
                return v;
            }
        }
        let result = self.check_uncached(id, ticket, now, resolver, command);
        if let (Some(k), Some(cache)) = (key, self.cache.as_mut()) {
            cache.set(k, result.clone(), now);
        }
        result
    }

    fn check_uncached(
        &mut self,
        id: &str,
        ticket: Option<&Ticket>,
        now: f64,
        resolver: &dyn Resolver,
        command: Option<&dyn IgnoreCommand>,
    ) -> Option<IgnoreReason> {
        self.check_parsed(&Addr::parse(id), id, ticket, now, resolver, command)
    }

    /// Whether [`IgnoreList::check`] would read the ticket (the
    /// `ignorecache` key template may name its data fields).
    pub fn uses_ticket(&self) -> bool {
        self.cache_cfg.is_some()
    }

    /// [`IgnoreList::check`] of a failure id as the filter found it, without
    /// an ignore command or cache (the caller uses `check` when either is
    /// configured, see [`IgnoreList::uses_ticket`]): the same decision as
    /// `check(&addr.to_string(), None, ...)` without formatting and
    /// re-parsing the id, which matters at a million failures a second.
    pub fn check_addr(
        &mut self,
        addr: &Addr,
        now: f64,
        resolver: &dyn Resolver,
    ) -> Option<IgnoreReason> {
        if self.cache_cfg.is_some() {
            return self.check(&addr.to_string(), None, now, resolver, None);
        }
        match addr {
            // Text that reads as an address is checked as one, and a /0
            // subnet prints as its address: both as `check` would see them.
            Addr::Raw(s) => self.check_parsed(&Addr::parse(s), s, None, now, resolver, None),
            Addr::Net(_, 0) => {
                let text = addr.to_string();
                self.check_parsed(&Addr::parse(&text), &text, None, now, resolver, None)
            }
            a => self.check_parsed(a, "", None, now, resolver, None),
        }
    }

    fn check_parsed(
        &mut self,
        addr: &Addr,
        id: &str,
        ticket: Option<&Ticket>,
        now: f64,
        resolver: &dyn Resolver,
        command: Option<&dyn IgnoreCommand>,
    ) -> Option<IgnoreReason> {
        let ip = match addr {
            Addr::Ip(ip) => Some(*ip),
            _ => None,
        };
        if self.ignore_self && ip.is_some_and(|ip| self.self_ips.binary_search(&ip).is_ok()) {
            return Some(IgnoreReason::SelfRule);
        }
        if !self.singles.is_empty() && self.singles.contains(addr) {
            return Some(IgnoreReason::Ip);
        }
        for i in 0..self.list.len() {
            let hit = match &mut self.list[i] {
                ListEntry::Net(n) => n.contains(addr).then_some(IgnoreReason::Ip),
                ListEntry::Name(name) => {
                    let literal = matches!(addr, Addr::Raw(r) if r == name);
                    let name = name.clone();
                    (literal
                        || ip.is_some_and(|ip| self.resolve(&name, now, resolver).contains(&ip)))
                    .then_some(IgnoreReason::Dns)
                }
                ListEntry::File(set) => {
                    set.refresh(now, self.fs.as_ref());
                    set.contains(addr)
                        .then(|| IgnoreReason::File(set.path().display().to_string()))
                }
            };
            if hit.is_some() {
                return hit;
            }
        }
        if let Some(cmd) = command {
            if cmd.is_ignored(id, ticket) {
                return Some(IgnoreReason::Command);
            }
        }
        None
    }

    fn resolve(&mut self, name: &str, now: f64, resolver: &dyn Resolver) -> Vec<IpAddr> {
        let key = name.to_ascii_lowercase();
        if let Some(v) = self.dns.get(&key, now) {
            return v;
        }
        let ips: Vec<IpAddr> = resolver
            .resolve(name)
            .into_iter()
            .map(|ip| match Addr::from(ip) {
                Addr::Ip(ip) => ip,
                _ => ip,
            })
            .collect();
        self.dns.set(key, ips.clone(), now);
        ips
    }
}

/// Substitute the cache key template: `<ip>` and `<fid>` are the id,
/// `<F-NAME>` is the ticket's data field `name` (lower case, as the filter
/// stores `F-NAME` groups), any other `<tag>` a data field of that name;
/// unknown tags are kept as written.
pub fn render_key(template: &str, id: &str, ticket: Option<&Ticket>) -> String {
    gaoler_py::tags::substitute(template, |tag| match tag {
        "ip" | "fid" => Some(id.to_owned()),
        _ => ticket.and_then(|t| {
            let key = match tag.strip_prefix("F-") {
                Some(n) => n.to_ascii_lowercase(),
                None => tag.to_owned(),
            };
            t.data.get(&key).map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolver::{NoResolver, StaticResolver};
    use std::cell::Cell;

    fn chk(l: &mut IgnoreList, id: &str) -> Option<String> {
        l.check(id, None, 0.0, &NoResolver, None)
            .map(|r| r.to_string())
    }

    #[test]
    fn exact_ips_v4_v6() {
        let mut l = IgnoreList::new();
        l.add_all("192.0.2.1, 2001:db8::1 ::ffff:198.51.100.1");
        assert_eq!(chk(&mut l, "192.0.2.1").as_deref(), Some("ip"));
        assert_eq!(chk(&mut l, "2001:db8:0::1").as_deref(), Some("ip"));
        assert_eq!(
            chk(&mut l, "198.51.100.1").as_deref(),
            Some("ip"),
            "mapped folded"
        );
        assert_eq!(chk(&mut l, "192.0.2.2"), None);
    }

    #[test]
    fn cidr_and_netmask() {
        let mut l = IgnoreList::new();
        l.add("127.0.0.1/8");
        l.add("10.1.0.0/255.255.0.0");
        l.add("2001:db8::/32");
        assert_eq!(chk(&mut l, "127.5.6.7").as_deref(), Some("ip"));
        assert_eq!(chk(&mut l, "10.1.9.9").as_deref(), Some("ip"));
        assert_eq!(chk(&mut l, "10.2.0.1"), None);
        assert_eq!(chk(&mut l, "2001:db8:ffff::1").as_deref(), Some("ip"));
        assert_eq!(chk(&mut l, "2001:db9::1"), None);
        assert_eq!(chk(&mut l, "bob"), None);
    }

    #[test]
    fn no_ranges() {
        let mut l = IgnoreList::new();
        l.add("192.0.2.1-192.0.2.9");
        // Kept as a (name) entry that never resolves: matches nothing.
        assert_eq!(chk(&mut l, "192.0.2.5"), None);
    }

    #[test]
    fn dns_names_and_raw_ids() {
        let mut l = IgnoreList::new();
        l.add("trusted.example");
        l.add("bob");
        let r = StaticResolver::default().with("trusted.example", &["203.0.113.7", "2001:db8::7"]);
        let c =
            |l: &mut IgnoreList, id: &str| l.check(id, None, 0.0, &r, None).map(|x| x.to_string());
        assert_eq!(c(&mut l, "203.0.113.7").as_deref(), Some("dns"));
        assert_eq!(c(&mut l, "2001:db8::7").as_deref(), Some("dns"));
        assert_eq!(c(&mut l, "203.0.113.8"), None);
        assert_eq!(c(&mut l, "bob").as_deref(), Some("dns"));
        assert_eq!(c(&mut l, "alice"), None);
    }

    #[test]
    fn dns_is_cached_five_minutes() {
        let calls = Cell::new(0);
        let ip = Cell::new("203.0.113.7");
        let r = |_: &str| {
            calls.set(calls.get() + 1);
            vec![ip.get().parse().unwrap()]
        };
        let mut l = IgnoreList::new();
        l.add("h.example");
        assert!(l.check("203.0.113.7", None, 0.0, &r, None).is_some());
        ip.set("203.0.113.9");
        assert!(
            l.check("203.0.113.7", None, 299.0, &r, None).is_some(),
            "cached"
        );
        assert_eq!(calls.get(), 1);
        assert!(
            l.check("203.0.113.7", None, 300.0, &r, None).is_none(),
            "expired"
        );
        assert_eq!(calls.get(), 2);
    }

    #[test]
    fn ignoreself_uses_supplied_ips() {
        let mut l = IgnoreList::new();
        l.set_self_ips(["192.0.2.10".parse().unwrap(), "::1".parse().unwrap()]);
        assert_eq!(
            chk(&mut l, "192.0.2.10").as_deref(),
            Some("ignoreself rule")
        );
        assert_eq!(chk(&mut l, "::1").as_deref(), Some("ignoreself rule"));
        l.set_ignore_self(false);
        assert_eq!(chk(&mut l, "192.0.2.10"), None);
    }

    #[test]
    fn check_addr_decides_as_check_on_the_text() {
        let mut l = IgnoreList::new();
        l.set_self_ips([
            "192.0.2.10".parse().unwrap(),
            "2001:db8::1".parse().unwrap(),
        ]);
        for e in [
            "192.0.2.1",
            "198.51.100.0/24",
            "2001:db8:1::/48",
            "h.example",
            "alice",
        ] {
            l.add(e);
        }
        let r = StaticResolver::default();
        let ids = [
            Addr::parse("192.0.2.10"),
            Addr::parse("2001:db8::1"),
            Addr::parse("192.0.2.1"),
            Addr::raw("192.0.2.1"),
            Addr::parse("198.51.100.77"),
            Addr::parse("198.51.100.0/25"),
            Addr::parse("2001:db8:1::5"),
            Addr::parse("203.0.113.5"),
            Addr::raw("h.example"),
            Addr::raw("alice"),
            Addr::raw("bob"),
            Addr::parse("0.0.0.0/0"),
        ];
        let mut hits = 0;
        for a in &ids {
            let want = l.check(&a.to_string(), None, 0.0, &r, None);
            hits += usize::from(want.is_some());
            assert_eq!(l.check_addr(a, 0.0, &r), want, "{a:?}");
        }
        assert_eq!(hits, 9, "the cases above cover hits and misses");
    }

    #[test]
    fn self_rule_wins_over_ip() {
        let mut l = IgnoreList::new();
        l.add("192.0.2.10");
        l.set_self_ips(["192.0.2.10".parse().unwrap()]);
        assert_eq!(
            chk(&mut l, "192.0.2.10").as_deref(),
            Some("ignoreself rule")
        );
    }

    #[test]
    fn command_hook_is_last() {
        let mut l = IgnoreList::new();
        l.add("192.0.2.1");
        let calls = Cell::new(0);
        let cmd = |id: &str, _t: Option<&Ticket>| {
            calls.set(calls.get() + 1);
            id.ends_with(".99")
        };
        assert_eq!(
            l.check("192.0.2.1", None, 0.0, &NoResolver, Some(&cmd)),
            Some(IgnoreReason::Ip)
        );
        assert_eq!(calls.get(), 0, "not run when an earlier rule matched");
        assert_eq!(
            l.check("192.0.2.99", None, 0.0, &NoResolver, Some(&cmd)),
            Some(IgnoreReason::Command)
        );
        assert_eq!(
            l.check("192.0.2.98", None, 0.0, &NoResolver, Some(&cmd)),
            None
        );
        assert_eq!(calls.get(), 2);
    }

    #[test]
    fn cache_by_key_with_expiry() {
        let mut l = IgnoreList::new();
        l.set_cache(Some(IgnoreCacheConfig {
            key: "<ip>".into(),
            max_count: 100,
            max_time: 10.0,
        }));
        let calls = Cell::new(0);
        let answer = Cell::new(true);
        let cmd = |_: &str, _: Option<&Ticket>| {
            calls.set(calls.get() + 1);
            answer.get()
        };
        assert!(l
            .check("192.0.2.1", None, 0.0, &NoResolver, Some(&cmd))
            .is_some());
        answer.set(false);
        assert!(
            l.check("192.0.2.1", None, 9.0, &NoResolver, Some(&cmd))
                .is_some(),
            "cached"
        );
        assert_eq!(calls.get(), 1);
        assert!(
            l.check("192.0.2.1", None, 10.0, &NoResolver, Some(&cmd))
                .is_none(),
            "expired"
        );
        // Negative results are cached too.
        answer.set(true);
        assert!(l
            .check("192.0.2.1", None, 11.0, &NoResolver, Some(&cmd))
            .is_none());
        assert_eq!(calls.get(), 2);
    }

    #[test]
    fn cache_key_template_uses_ticket_data() {
        let mut l = IgnoreList::new();
        l.set_cache(Some(IgnoreCacheConfig::new("<F-USER>")));
        let mut d = serde_json::Map::new();
        d.insert("user".into(), "bob".into());
        let t = Ticket::new("192.0.2.1", 0.0).with_data(d);
        let calls = Cell::new(0);
        let cmd = |_: &str, _: Option<&Ticket>| {
            calls.set(calls.get() + 1);
            true
        };
        assert!(l
            .check("192.0.2.1", Some(&t), 0.0, &NoResolver, Some(&cmd))
            .is_some());
        // Another IP, same user: cache hit by key.
        assert!(l
            .check("192.0.2.2", Some(&t), 1.0, &NoResolver, Some(&cmd))
            .is_some());
        assert_eq!(calls.get(), 1);
        assert_eq!(
            render_key("<F-USER>@<ip> <x>", "1.2.3.4", Some(&t)),
            "bob@1.2.3.4 <x>"
        );
        assert_eq!(render_key("<ip", "1.2.3.4", None), "<ip");
    }

    #[test]
    fn cache_max_count_evicts_oldest() {
        let mut c: TimedCache<u32> = TimedCache::new(2, 100.0);
        c.set("a".into(), 1, 0.0);
        c.set("b".into(), 2, 0.0);
        c.set("c".into(), 3, 0.0);
        assert_eq!(c.get("a", 1.0), None);
        assert_eq!(c.get("b", 1.0), Some(2));
        assert_eq!(c.get("c", 1.0), Some(3));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn file_entries_with_reason() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("white.list");
        std::fs::write(&p, "# trusted\n192.0.2.0/24 198.51.100.3\n").unwrap();
        let mut l = IgnoreList::new();
        let entry = format!("file:{}", p.display());
        assert!(l.add(&entry));
        assert!(!l.add(&entry), "duplicate");
        assert_eq!(chk(&mut l, "192.0.2.200"), Some(entry.clone()));
        assert_eq!(chk(&mut l, "198.51.100.3"), Some(entry.clone()));
        assert_eq!(chk(&mut l, "198.51.100.4"), None);
        assert!(l.entries().contains(&entry));
        assert!(l.remove(&entry));
        assert_eq!(chk(&mut l, "198.51.100.3"), None);
    }

    #[test]
    fn add_remove_entries() {
        let mut l = IgnoreList::new();
        assert!(l.add("192.0.2.1"));
        assert!(!l.add("192.0.2.1"));
        assert!(!l.add(""));
        assert!(l.add("10.0.0.0/8"));
        assert!(!l.add("10.0.0.0/255.0.0.0"), "same subnet");
        assert!(l.add("host.example"));
        assert_eq!(l.entries(), vec!["10.0.0.0/8", "host.example", "192.0.2.1"]);
        assert!(l.remove("10.0.0.0/8"));
        assert!(l.remove("host.example"));
        assert!(l.remove("192.0.2.1"));
        assert!(!l.remove("192.0.2.1"));
        assert!(l.entries().is_empty());
    }

    #[test]
    fn reason_texts() {
        assert_eq!(IgnoreReason::SelfRule.to_string(), "ignoreself rule");
        assert_eq!(IgnoreReason::File("/x".into()).to_string(), "file:/x");
    }
}
