//! The ticket information handed to an action (fail2ban's `ActionInfo`).
//!
//! fail2ban passes a lazy mapping: values such as reverse DNS (`ip-host`) or
//! the matches merged from the database (`ipmatches`) are only computed when a
//! command actually uses the tag. [`ActionInfo`] keeps that property: each tag
//! holds either a ready string or a closure that is evaluated at most once.
//!
//! This crate deliberately does not depend on the jail crate: the jail builds
//! an `ActionInfo` from its ticket and fills in what it knows. The tags
//! fail2ban defines (§4.3): `ip`, `family`, `ip-rev`, `ip-host`, `fid`
//! (set by [`ActionInfo::for_id`]); `failures`, `time`, `bantime`,
//! `bancount`, `matches`, `restored`, `ipmatches`, `ipjailmatches`,
//! `ipfailures`, `ipjailfailures`, `raw-ticket`, `jail.name`, `jail.banned`,
//! `jail.banned_total`, `jail.found`, `jail.found_total` (set by the jail,
//! the database-backed ones best as lazy values); filter captures via
//! [`ActionInfo::set_data`] for `<F-NAME>`. Missing tags stay literal in the
//! command (as in fail2ban), missing `<F-*>` tags become empty.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

/// Tags computed together, once, when one of them is asked for (one
/// database query gives a ticket's matches and failures), also across
/// clones of the info.
struct LazyGroup {
    compute: Box<dyn Fn() -> Vec<Option<String>> + Send + Sync>,
    cell: OnceLock<Vec<Option<String>>>,
}

impl LazyGroup {
    fn get(&self, idx: usize) -> Option<String> {
        self.cell
            .get_or_init(|| (self.compute)())
            .get(idx)
            .cloned()
            .flatten()
    }
}

#[derive(Clone)]
enum Slot {
    Ready(String),
    /// `ip-rev`, computed when asked for (most actions never are).
    Ptr(IpAddr),
    /// One tag of a [`LazyGroup`].
    Part(Arc<LazyGroup>, usize),
}

/// The tags of an info built when one of them is first asked for (see
/// [`ActionInfo::set_rest`]), once, also across clones of the info.
struct Rest {
    make: Box<dyn Fn() -> ActionInfo + Send + Sync>,
    cell: OnceLock<ActionInfo>,
}

impl Rest {
    fn info(&self) -> &ActionInfo {
        self.cell.get_or_init(|| (self.make)())
    }
}

/// Tag values of one ticket (or of the dummy ticket used for start/stop).
#[derive(Clone, Default)]
pub struct ActionInfo {
    // (static names need no allocation: a round builds 100,000 of these)
    tags: BTreeMap<Cow<'static, str>, Slot>,
    /// Ticket data captured by the filter, keyed by fail2ban's option name
    /// (lower case, `id` → `fid`, `port` → `fport`); used for `<F-NAME>`.
    data: BTreeMap<String, String>,
    /// What is not in `tags` or `data` is looked up here, if set.
    rest: Option<Arc<Rest>>,
    /// How long the firewall may keep this ticket's entry on its own, in
    /// seconds (kernel-side timeouts, see [`ActionInfo::set_firewall_timeout`]).
    firewall_timeout: Option<u64>,
}

impl fmt::Debug for ActionInfo {
    /// The tags (lazy ones not computed yet as `<lazy>`), those of the
    /// deferred rest merged in, and the captures as `F-*`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (tags, data) = self.shown();
        f.debug_map().entries(&tags).entry(&"F-*", &data).finish()
    }
}

impl ActionInfo {
    /// An empty info: every tag is missing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Info for a ticket whose ID is `id` (usually an IP address): sets
    /// `ip`, `fid`, `family` (`inet4`/`inet6`, empty for non-IP IDs) and the
    /// lazily computed `ip-rev` and `ip-host`.
    pub fn for_id(id: &str) -> Self {
        let mut info = Self::new();
        info.set("ip", id).set("fid", id);
        let addr: Option<IpAddr> = id.parse().ok();
        let family = match addr {
            Some(IpAddr::V4(_)) => "inet4",
            Some(IpAddr::V6(_)) => "inet6",
            None => "",
        };
        info.set("family", family);
        match addr {
            Some(a) => info.tags.insert(Cow::Borrowed("ip-rev"), Slot::Ptr(a)),
            None => info
                .tags
                .insert(Cow::Borrowed("ip-rev"), Slot::Ready(String::new())),
        };
        info.set_lazy("ip-host", move || addr.and_then(reverse_dns));
        info
    }

    /// Sets a tag to a ready value.
    pub fn set(
        &mut self,
        tag: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
    ) -> &mut Self {
        self.tags.insert(tag.into(), Slot::Ready(value.into()));
        self
    }

    /// Builder form of [`ActionInfo::set`].
    pub fn with(mut self, tag: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Self {
        self.set(tag, value);
        self
    }

    /// Sets a tag whose value is computed on first use (at most once, also
    /// across clones). `None` means "no value": the tag stays literal.
    pub fn set_lazy<F>(&mut self, tag: impl Into<Cow<'static, str>>, compute: F) -> &mut Self
    where
        F: Fn() -> Option<String> + Send + Sync + 'static,
    {
        self.set_lazy_group([tag], move || vec![compute()])
    }

    /// Tags computed together by one call of `compute` (which returns
    /// their values in the order of `tags`), the first time one of them is
    /// asked for.
    pub fn set_lazy_group<F, T>(
        &mut self,
        tags: impl IntoIterator<Item = T>,
        compute: F,
    ) -> &mut Self
    where
        F: Fn() -> Vec<Option<String>> + Send + Sync + 'static,
        T: Into<Cow<'static, str>>,
    {
        let group = Arc::new(LazyGroup {
            compute: Box::new(compute),
            cell: OnceLock::new(),
        });
        for (i, tag) in tags.into_iter().enumerate() {
            self.tags
                .insert(tag.into(), Slot::Part(Arc::clone(&group), i));
        }
        self
    }

    /// The tags and data not set on this info are taken from the info
    /// `make` builds, the first time one of them is asked for. fail2ban's
    /// info is lazy this way; here it keeps a round of 100,000 restored
    /// bans from building 100,000 full infos when the native firewall path
    /// reads only each ticket's address (and counters such as
    /// `jail.banned` are read when used, as in fail2ban).
    pub fn set_rest<F>(&mut self, make: F) -> &mut Self
    where
        F: Fn() -> ActionInfo + Send + Sync + 'static,
    {
        self.rest = Some(Arc::new(Rest {
            make: Box::new(make),
            cell: OnceLock::new(),
        }));
        self
    }

    /// Asks for a kernel-side timeout on this ticket's firewall entry:
    /// where an action's bans go to an nftables set or an ipset in
    /// batches, the entry is added with this timeout (seconds), so that
    /// it lapses even if the daemon is not there to unban it. The jail sets
    /// it (with `kerneltimeout = true`) from the ban's end; `None` adds the
    /// entry without one (permanent bans, or the option off).
    pub fn set_firewall_timeout(&mut self, secs: Option<u64>) -> &mut Self {
        self.firewall_timeout = secs;
        self
    }

    /// See [`ActionInfo::set_firewall_timeout`].
    pub fn firewall_timeout(&self) -> Option<u64> {
        self.firewall_timeout
    }

    /// Sets `time` from float seconds, formatted like Python's `repr(float)`.
    pub fn set_time(&mut self, secs: f64) -> &mut Self {
        self.set("time", gaoler_py::repr::float_repr(secs))
    }

    /// Sets `failures` (the ticket's failure count).
    pub fn set_failures(&mut self, n: u64) -> &mut Self {
        self.set("failures", n.to_string())
    }

    /// Sets `bantime` (seconds; fail2ban passes an int).
    pub fn set_bantime(&mut self, secs: i64) -> &mut Self {
        self.set("bantime", secs.to_string())
    }

    /// Sets `bancount`.
    pub fn set_bancount(&mut self, n: u64) -> &mut Self {
        self.set("bancount", n.to_string())
    }

    /// Sets `matches` from the ticket's lines (joined with `\n`).
    pub fn set_matches<S: AsRef<str>>(&mut self, lines: &[S]) -> &mut Self {
        let joined: Vec<&str> = lines.iter().map(AsRef::as_ref).collect();
        self.set("matches", joined.join("\n"))
    }

    /// Sets `restored` (`1` for tickets restored from the database).
    pub fn set_restored(&mut self, restored: bool) -> &mut Self {
        self.set("restored", if restored { "1" } else { "0" })
    }

    /// Removes a tag.
    pub fn remove(&mut self, tag: &str) -> &mut Self {
        self.tags.remove(tag);
        self
    }

    /// Sets filter-captured ticket data for `<F-NAME>` tags. `name` is
    /// normalised the way fail2ban maps capture names (lower case,
    /// `id` → `fid`, `port` → `fport`).
    pub fn set_data(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.data
            .insert(gaoler_py::tags::map_tag_to_opt(name), value.into());
        self
    }

    /// The value of a tag, computing it if lazy.
    pub fn get(&self, tag: &str) -> Option<String> {
        let Some(slot) = self.tags.get(tag) else {
            return self.rest.as_ref()?.info().get(tag);
        };
        match slot {
            Slot::Ready(s) => Some(s.clone()),
            Slot::Ptr(a) => Some(ptr_name(*a)),
            Slot::Part(g, i) => g.get(*i),
        }
    }

    /// Whether a tag is present (without computing a lazy value; the
    /// deferred rest is built, though, to know its tags).
    pub fn contains(&self, tag: &str) -> bool {
        self.tags.contains_key(tag) || self.rest.as_ref().is_some_and(|r| r.info().contains(tag))
    }

    /// Filter-captured ticket data by normalised option name.
    pub fn data(&self, name: &str) -> Option<&str> {
        match self.data.get(name) {
            Some(v) => Some(v),
            None => self.rest.as_ref()?.info().data(name),
        }
    }

    /// What `Debug` shows: tag values as far as known, captures.
    fn shown(&self) -> (BTreeMap<&str, String>, BTreeMap<&str, &str>) {
        let (mut tags, mut data) = match &self.rest {
            Some(r) => r.info().shown(),
            None => Default::default(),
        };
        for (k, v) in &self.tags {
            let shown = match v {
                Slot::Ready(s) => Some(s.clone()),
                Slot::Ptr(a) => Some(ptr_name(*a)),
                Slot::Part(g, i) => match g.cell.get() {
                    Some(v) => v.get(*i).cloned().flatten(),
                    None => Some("<lazy>".to_string()),
                },
            };
            // (a lazy tag that came to nothing is missing)
            match shown {
                Some(v) => tags.insert(k, v),
                None => tags.remove(k.as_ref()),
            };
        }
        data.extend(self.data.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        (tags, data)
    }

    /// The ticket's family (`inet4`, `inet6`, or empty).
    pub fn family(&self) -> String {
        self.get("family").unwrap_or_default()
    }
}

/// `IPAddr.getPTR('')`: the reversed address with a trailing dot, e.g.
/// `4.3.2.1.` or 32 reversed nibbles for IPv6.
pub fn ptr_name(addr: IpAddr) -> String {
    let parts: Vec<String> = match addr {
        IpAddr::V4(a) => a.octets().iter().rev().map(|o| o.to_string()).collect(),
        IpAddr::V6(a) => a
            .octets()
            .iter()
            .flat_map(|b| [b >> 4, b & 0xf])
            .rev()
            .map(|n| format!("{n:x}"))
            .collect(),
    };
    format!("{}.", parts.join("."))
}

/// Reverse DNS of an address (`getnameinfo` with `NI_NAMEREQD`).
fn reverse_dns(addr: IpAddr) -> Option<String> {
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: the sockaddr structs are fully initialised (zeroed, then the
    // family/address/port set) and their exact sizes are passed; `host` is a
    // writable buffer whose length is passed.
    let rc = unsafe {
        match addr {
            IpAddr::V4(a) => {
                let mut sa: libc::sockaddr_in = std::mem::zeroed();
                sa.sin_family = libc::AF_INET as libc::sa_family_t;
                sa.sin_addr.s_addr = u32::from_ne_bytes(a.octets());
                libc::getnameinfo(
                    &sa as *const _ as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                    host.as_mut_ptr(),
                    host.len() as libc::socklen_t,
                    std::ptr::null_mut(),
                    0,
                    libc::NI_NAMEREQD,
                )
            }
            IpAddr::V6(a) => {
                let mut sa: libc::sockaddr_in6 = std::mem::zeroed();
                sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sa.sin6_addr.s6_addr = a.octets();
                libc::getnameinfo(
                    &sa as *const _ as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                    host.as_mut_ptr(),
                    host.len() as libc::socklen_t,
                    std::ptr::null_mut(),
                    0,
                    libc::NI_NAMEREQD,
                )
            }
        }
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: on success getnameinfo wrote a NUL-terminated string into host.
    let s = unsafe { std::ffi::CStr::from_ptr(host.as_ptr()) };
    Some(s.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn for_id_sets_family_and_ptr() {
        let i = ActionInfo::for_id("192.0.2.7");
        assert_eq!(i.family(), "inet4");
        assert_eq!(i.get("ip-rev").unwrap(), "7.2.0.192.");
        let i = ActionInfo::for_id("2001:db8::1");
        assert_eq!(i.family(), "inet6");
        let rev = i.get("ip-rev").unwrap();
        assert!(rev.starts_with("1.0.0.0."), "{rev}");
        assert!(rev.ends_with("8.b.d.0.1.0.0.2."), "{rev}");
        assert_eq!(ActionInfo::for_id("user@x").family(), "");
    }

    #[test]
    fn lazy_values_are_computed_once() {
        let n = Arc::new(AtomicUsize::new(0));
        let n2 = n.clone();
        let mut i = ActionInfo::new();
        i.set_lazy("x", move || {
            n2.fetch_add(1, Ordering::SeqCst);
            Some("v".into())
        });
        assert_eq!(n.load(Ordering::SeqCst), 0);
        assert_eq!(i.get("x").as_deref(), Some("v"));
        assert_eq!(i.clone().get("x").as_deref(), Some("v"));
        assert_eq!(n.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn data_names_are_mapped() {
        let mut i = ActionInfo::new();
        i.set_data("ID", "a")
            .set_data("PORT", "22")
            .set_data("User", "bob");
        assert_eq!(i.data("fid"), Some("a"));
        assert_eq!(i.data("fport"), Some("22"));
        assert_eq!(i.data("user"), Some("bob"));
    }

    #[test]
    fn typed_setters() {
        let mut i = ActionInfo::new();
        i.set_failures(3)
            .set_bantime(600)
            .set_bancount(2)
            .set_matches(&["a", "b"])
            .set_restored(true);
        assert_eq!(i.get("failures").as_deref(), Some("3"));
        assert_eq!(i.get("bantime").as_deref(), Some("600"));
        assert_eq!(i.get("bancount").as_deref(), Some("2"));
        assert_eq!(i.get("matches").as_deref(), Some("a\nb"));
        assert_eq!(i.get("restored").as_deref(), Some("1"));
    }
}

#[cfg(test)]
mod rest_tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn the_rest_is_built_once_when_a_tag_outside_it_is_asked_for() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let mut info = ActionInfo::for_id("192.0.2.1");
        info.set_rest(move || {
            c.fetch_add(1, Ordering::SeqCst);
            let mut full = ActionInfo::for_id("192.0.2.99");
            full.set_failures(5).set_data("user", "bob");
            full
        });
        assert_eq!(info.get("ip").as_deref(), Some("192.0.2.1"));
        assert_eq!(info.family(), "inet4");
        assert_eq!(calls.load(Ordering::SeqCst), 0, "own tags need no rest");
        let copy = info.clone();
        assert_eq!(info.get("failures").as_deref(), Some("5"));
        assert_eq!(copy.data("user"), Some("bob"));
        assert!(copy.contains("failures"));
        assert!(!copy.contains("nosuchtag"));
        assert_eq!(info.get("nosuchtag"), None);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(format!("{info:?}").contains("failures"));
    }
}

#[cfg(test)]
mod group_tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_lazy_group_is_computed_once_for_all_its_tags() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let mut info = ActionInfo::for_id("192.0.2.1");
        info.set_lazy_group(["a", "b", "c"], move || {
            c.fetch_add(1, Ordering::SeqCst);
            vec![Some("x".into()), None]
        });
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert_eq!(info.get("b"), None);
        assert_eq!(info.get("a").as_deref(), Some("x"));
        assert_eq!(info.get("c"), None, "a value the group did not give");
        assert!(info.contains("c"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
