//! fail2ban's address model (`IPAddr`): a failure ID is either a single IP,
//! a subnet, or a "raw" string (a DNS name or an arbitrary failure ID).
//!
//! Design decisions:
//! - Parsing never fails: anything that is not a valid address (or has an
//!   invalid prefix/mask) becomes [`Addr::Raw`], exactly as fail2ban keeps the
//!   raw text of an address it could not convert. Callers decide whether a raw
//!   value is acceptable; [`Addr::parse_ban_target`] is the decision for a
//!   manual ban (stricter than fail2ban, which bans any string).
//! - IPv4 and IPv6 parsing use `std::net`, whose grammar matches glibc's
//!   `inet_pton` for the forms that matter (no octal/short IPv4 forms,
//!   embedded dotted quad in IPv6).
//! - `::ffff:a.b.c.d` is folded into IPv4 only when no explicit prefix is
//!   given, as fail2ban does (an explicit prefix on a mapped address keeps it
//!   IPv6).
//! - A prefix equal to the family maximum yields [`Addr::Ip`], so there is one
//!   representation per value and derived `Eq`/`Hash` agree with the text form.
//! - A prefix of 0 is kept as `Net(_, 0)` but, like fail2ban's `ntoa`, is
//!   displayed without the `/0` suffix (fail2ban treats plen 0 as "unset" when
//!   printing; the string form is what ends up in the database and actions).
//! - No dependencies: the jail and action crates use this everywhere.

#![deny(missing_docs)]

pub mod host;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Address family of an [`Addr`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4 (fail2ban's `inet4`).
    Inet4,
    /// IPv6 (fail2ban's `inet6`).
    Inet6,
}

impl Family {
    /// fail2ban's `familyStr`: `inet4` / `inet6`.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Inet4 => "inet4",
            Family::Inet6 => "inet6",
        }
    }

    /// Maximum prefix length of the family.
    pub fn max_prefix(self) -> u8 {
        match self {
            Family::Inet4 => 32,
            Family::Inet6 => 128,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure ID / ban target.
///
/// Ordering: IPv4 before IPv6 before raw strings; within a family by address,
/// then prefix length.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Addr {
    /// A single address (IPv4-mapped IPv6 already folded to IPv4).
    Ip(IpAddr),
    /// A subnet: network address with host bits cleared, prefix length below
    /// the family maximum.
    Net(IpAddr, u8),
    /// Not an address: a host name or an arbitrary failure ID, kept verbatim.
    Raw(String),
}

fn family_of(ip: &IpAddr) -> Family {
    match ip {
        IpAddr::V4(_) => Family::Inet4,
        IpAddr::V6(_) => Family::Inet6,
    }
}

/// Clear host bits of `ip` beyond `plen` (plen must be <= family max).
fn mask(ip: IpAddr, plen: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = if plen == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(plen))
            };
            IpAddr::V4(Ipv4Addr::from(bits & m))
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = if plen == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(plen))
            };
            IpAddr::V6(Ipv6Addr::from(bits & m))
        }
    }
}

/// The prefix length a contiguous netmask represents, if it is one.
fn mask_to_prefix(ip: IpAddr) -> Option<u8> {
    let (ones, zeros, total) = match ip {
        IpAddr::V4(a) => {
            let b = u32::from(a);
            (b.leading_ones(), b.trailing_zeros(), 32)
        }
        IpAddr::V6(a) => {
            let b = u128::from(a);
            (b.leading_ones(), b.trailing_zeros(), 128)
        }
    };
    // Contiguous: the ones and the zeros cover every bit (all-zero mask has
    // ones=0, zeros=total).
    if ones + zeros == total || (ones == total) {
        u8::try_from(ones).ok()
    } else {
        None
    }
}

fn fold_mapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(a),
        },
        v4 => v4,
    }
}

/// A dotted quad as `Ipv4Addr`'s parser reads it (four decimal parts of at
/// most 255, no leading zeros), or `None` for anything else. A failure is
/// parsed for every line a filter matches, and `str::parse` spends several
/// times more on this common case. Being exactly the printed form, it also
/// tells whether a text is an address's own text.
pub fn parse_quad(s: &str) -> Option<Ipv4Addr> {
    let b = s.as_bytes();
    if b.len() > 15 {
        return None;
    }
    let mut parts = [0u8; 4];
    let mut i = 0;
    for (n, part) in parts.iter_mut().enumerate() {
        if n > 0 {
            if b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let start = i;
        let mut v: u32 = 0;
        while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
            // Saturating: a long digit run (`5000000000`) is refused
            // below by its length, and must not overflow on the way.
            v = v.saturating_mul(10).saturating_add(u32::from(d - b'0'));
            i += 1;
        }
        let len = i - start;
        if len == 0 || len > 3 || v > 255 || (len > 1 && b[start] == b'0') {
            return None;
        }
        *part = v as u8;
    }
    (i == b.len()).then(|| Ipv4Addr::from(parts))
}

fn parse_ip(s: &str, family: Option<Family>) -> Option<IpAddr> {
    if let (Some(Family::Inet4) | None, Some(ip)) = (family, parse_quad(s)) {
        return Some(IpAddr::V4(ip));
    }
    match family {
        Some(Family::Inet4) => s.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
        Some(Family::Inet6) => s.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        None => s.parse::<IpAddr>().ok(),
    }
}

impl Addr {
    /// Parse like `IPAddr(s)`: strips surrounding `[...]`, folds
    /// `::ffff:a.b.c.d` to IPv4, reads `a/n` and `a/mask` as subnets (host bits
    /// masked; a full-length prefix gives a single IP). Anything else is
    /// [`Addr::Raw`].
    pub fn parse(s: &str) -> Addr {
        let inner = if s.len() > 2 && s.starts_with('[') && s.ends_with(']') {
            &s[1..s.len() - 1]
        } else {
            s
        };
        let Some((ip, pfx)) = inner.split_once('/') else {
            return match parse_ip(inner, None) {
                Some(ip) => Addr::Ip(fold_mapped(ip)),
                None => Addr::Raw(s.to_string()),
            };
        };
        let plen = if pfx.contains('.') || pfx.contains(':') {
            match parse_ip(pfx, None).and_then(mask_to_prefix) {
                Some(p) => p,
                None => return Addr::Raw(s.to_string()),
            }
        } else {
            match pfx.parse::<u8>() {
                Ok(p) if !pfx.starts_with('+') => p,
                _ => return Addr::Raw(s.to_string()),
            }
        };
        Self::with_prefix_inner(ip, plen).unwrap_or_else(|| Addr::Raw(s.to_string()))
    }

    /// Like `IPAddr(s, cidr)` with an explicit prefix (e.g. a captured `cidr`
    /// group): either family, host bits masked; no bracket stripping and no
    /// IPv4-mapped folding. Invalid input (or a prefix above the family
    /// maximum) gives [`Addr::Raw`].
    pub fn with_prefix(s: &str, plen: u8) -> Addr {
        Self::with_prefix_inner(s, plen).unwrap_or_else(|| Addr::Raw(s.to_string()))
    }

    fn with_prefix_inner(s: &str, plen: u8) -> Option<Addr> {
        let ip = parse_ip(s, None)?;
        let max = family_of(&ip).max_prefix();
        if plen > max {
            return None;
        }
        Some(Self::from_net(ip, plen))
    }

    /// Build from an address and prefix (host bits are masked; full-length
    /// prefix gives [`Addr::Ip`]). `plen` is clamped to the family maximum.
    pub fn from_net(ip: IpAddr, plen: u8) -> Addr {
        let max = family_of(&ip).max_prefix();
        if plen >= max {
            Addr::Ip(ip)
        } else {
            Addr::Net(mask(ip, plen), plen)
        }
    }

    /// Like `IPAddr(s, FAM_IPv4/FAM_IPv6)`: only the given family is tried,
    /// no brackets or prefix are accepted. IPv6 input that is IPv4-mapped is
    /// folded to IPv4. Invalid input gives [`Addr::Raw`].
    pub fn parse_family(s: &str, family: Family) -> Addr {
        match parse_ip(s, Some(family)) {
            Some(ip) => Addr::Ip(fold_mapped(ip)),
            None => Addr::Raw(s.to_string()),
        }
    }

    /// A raw (non-address) value, kept verbatim.
    pub fn raw(s: impl Into<String>) -> Addr {
        Addr::Raw(s.into())
    }

    /// The family of an address or network; `None` for a raw id.
    pub fn family(&self) -> Option<Family> {
        match self {
            Addr::Ip(ip) | Addr::Net(ip, _) => Some(family_of(ip)),
            Addr::Raw(_) => None,
        }
    }

    /// A single address or a subnet (not raw).
    pub fn is_valid(&self) -> bool {
        !matches!(self, Addr::Raw(_))
    }

    /// A single address (fail2ban's `isSingle`).
    pub fn is_ip(&self) -> bool {
        matches!(self, Addr::Ip(_))
    }

    /// Prefix length: family maximum for a single IP, `None` for raw values.
    pub fn prefix_len(&self) -> Option<u8> {
        match self {
            Addr::Ip(ip) => Some(family_of(ip).max_prefix()),
            Addr::Net(_, p) => Some(*p),
            Addr::Raw(_) => None,
        }
    }

    /// The address part (network address for a subnet).
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Addr::Ip(ip) | Addr::Net(ip, _) => Some(*ip),
            Addr::Raw(_) => None,
        }
    }

    /// Subnet membership (`IPAddr.contains`): `self` as a network contains
    /// `other` if they are equal or `other`'s address lies in the network.
    /// Raw values only "contain" an identical raw value (no DNS here).
    pub fn contains(&self, other: &Addr) -> bool {
        if self == other {
            return true;
        }
        match (self, other) {
            (Addr::Net(net, plen), Addr::Ip(ip) | Addr::Net(ip, _)) => {
                family_of(net) == family_of(ip) && mask(*ip, *plen) == *net
            }
            _ => false,
        }
    }
}

/// Why a string is refused as a ban target ([`Addr::parse_ban_target`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvalidTarget {
    /// The empty string.
    Empty,
    /// Longer than [`MAX_RAW_ID_LEN`] bytes.
    TooLong(usize),
    /// Whitespace or a control character (at char index).
    Space(usize),
    /// A character no address, host name or failure ID has.
    Character(char),
    /// Shaped like an IPv4/IPv6 address or subnet, but not a valid one.
    BadAddress,
}

/// The longest raw ID accepted as a ban target, in bytes: a DNS name has
/// at most 253 characters.
pub const MAX_RAW_ID_LEN: usize = 255;

/// Punctuation a raw ID may contain besides letters and digits: what host
/// names (fail2ban's `<HOST>` takes `[\w\-.^_]*\w` as a name), e-mail or
/// user@host IDs and URL-encoded tokens use. Shell and quoting
/// metacharacters are not among them.
const RAW_ID_PUNCT: &str = "._-:@/+=,%^";

impl fmt::Display for InvalidTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidTarget::Empty => f.write_str("it is empty"),
            InvalidTarget::TooLong(n) => {
                write!(f, "it is {n} bytes long (at most {MAX_RAW_ID_LEN})")
            }
            InvalidTarget::Space(_) => f.write_str("it contains whitespace or a control character"),
            InvalidTarget::Character(c) => {
                write!(f, "it contains {:?}", c)
            }
            InvalidTarget::BadAddress => {
                f.write_str("it is not a valid IPv4/IPv6 address or subnet")
            }
        }
    }
}

/// Shaped like an address (digits and dots, or hex digits and colons,
/// before an optional `/prefix`): a mistyped address, not a name.
fn looks_like_address(s: &str) -> bool {
    let s = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    let head = s.split('/').next().unwrap_or("");
    let v4 = head.contains('.') && head.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let v6 = head.contains(':')
        && head
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
    v4 || v6
}

impl Addr {
    /// A manual ban target (`banip`): an address or subnet as
    /// [`Addr::parse`] reads it, or a raw ID a filter could have produced
    /// (a host name, a failure ID). fail2ban bans any string at all; a
    /// ban of `"; rm -rf /"`, of an empty string or of a mistyped address
    /// is refused here instead of being listed as banned.
    pub fn parse_ban_target(s: &str) -> Result<Addr, InvalidTarget> {
        Self::parse_ban_target_inner(s)
    }

    /// [`Addr::parse_ban_target`] with the message `banip` answers
    /// (the value cut to 64 characters and escaped).
    pub fn check_ban_target(s: &str) -> Result<Addr, String> {
        Self::parse_ban_target_inner(s).map_err(|e| {
            let shown: String = s.chars().take(64).collect();
            let more = if shown.len() < s.len() { "..." } else { "" };
            format!(
                "Invalid IP address, subnet or ID '{}{more}': {e}",
                shown.escape_debug()
            )
        })
    }

    fn parse_ban_target_inner(s: &str) -> Result<Addr, InvalidTarget> {
        let a = Addr::parse(s);
        if a.is_valid() {
            return Ok(a);
        }
        if s.is_empty() {
            return Err(InvalidTarget::Empty);
        }
        if s.len() > MAX_RAW_ID_LEN {
            return Err(InvalidTarget::TooLong(s.len()));
        }
        for (i, c) in s.chars().enumerate() {
            if c.is_whitespace() || c.is_control() {
                return Err(InvalidTarget::Space(i));
            }
            if !c.is_alphanumeric() && !RAW_ID_PUNCT.contains(c) {
                return Err(InvalidTarget::Character(c));
            }
        }
        if looks_like_address(s) {
            return Err(InvalidTarget::BadAddress);
        }
        Ok(a)
    }
}

impl Addr {
    /// Appends the text [`Display`](fmt::Display) gives, faster for IPv4
    /// (std's formatter goes through padding support for every octet; the
    /// server writes one address per failure at INFO).
    pub fn push_to(&self, out: &mut String) {
        match self {
            Addr::Ip(IpAddr::V4(a)) | Addr::Net(IpAddr::V4(a), 0) => {
                for (i, o) in a.octets().into_iter().enumerate() {
                    if i > 0 {
                        out.push('.');
                    }
                    if o >= 100 {
                        out.push(char::from(b'0' + o / 100));
                    }
                    if o >= 10 {
                        out.push(char::from(b'0' + o / 10 % 10));
                    }
                    out.push(char::from(b'0' + o % 10));
                }
            }
            other => {
                use fmt::Write as _;
                let _ = write!(out, "{other}");
            }
        }
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Ip(ip) => write!(f, "{ip}"),
            // plen 0 prints without suffix, as fail2ban's ntoa does.
            Addr::Net(ip, 0) => write!(f, "{ip}"),
            Addr::Net(ip, p) => write!(f, "{ip}/{p}"),
            Addr::Raw(s) => f.write_str(s),
        }
    }
}

impl FromStr for Addr {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Addr, Self::Err> {
        Ok(Addr::parse(s))
    }
}

impl From<IpAddr> for Addr {
    fn from(ip: IpAddr) -> Addr {
        Addr::Ip(fold_mapped(ip))
    }
}

impl Addr {
    fn sort_key(&self) -> (u8, u128, u8) {
        match self {
            Addr::Ip(IpAddr::V4(a)) => (0, u128::from(u32::from(*a)), 32),
            Addr::Net(IpAddr::V4(a), p) => (0, u128::from(u32::from(*a)), *p),
            Addr::Ip(IpAddr::V6(a)) => (1, u128::from(*a), 128),
            Addr::Net(IpAddr::V6(a), p) => (1, u128::from(*a), *p),
            Addr::Raw(_) => (2, 0, 0),
        }
    }
}

impl PartialOrd for Addr {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Addr {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self, other) {
            (Addr::Raw(a), Addr::Raw(b)) => a.cmp(b),
            _ => self.sort_key().cmp(&other.sort_key()),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// The dotted-quad fast path accepts exactly what `Ipv4Addr`'s
        /// parser accepts, with the same value.
        #[test]
        fn quad_is_std_parse(s in "[0-9.]{0,16}|[0-9]{1,4}(\\.[0-9]{1,4}){3}[0-9a.:]?") {
            if let Some(ip) = super::parse_quad(&s) {
                prop_assert_eq!(Ok(ip), s.parse::<std::net::Ipv4Addr>());
            } else {
                prop_assert!(s.parse::<std::net::Ipv4Addr>().is_err(), "{}", s);
            }
        }
    }

    proptest! {
        /// `push_to` writes what `Display` writes.
        #[test]
        fn push_to_is_display(o in any::<[u8; 4]>(), v6 in any::<u128>(), p in 0u8..=32, kind in 0..5u8) {
            use super::Addr;
            use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
            let v4 = IpAddr::V4(Ipv4Addr::from(o));
            let a = match kind {
                0 => Addr::Ip(v4),
                1 => Addr::Net(v4, p),
                2 => Addr::Ip(IpAddr::V6(Ipv6Addr::from(v6))),
                3 => Addr::Net(v4, 0),
                _ => Addr::Raw(format!("id{v6}")),
            };
            let mut s = String::from("x");
            a.push_to(&mut s);
            prop_assert_eq!(s, format!("x{a}"));
        }
    }

    #[test]
    fn quad_edges() {
        for (s, ok) in [
            ("0.0.0.0", true),
            ("255.255.255.255", true),
            ("256.1.1.1", false),
            ("01.1.1.1", false),
            ("1.1.1", false),
            ("1.1.1.1.", false),
            ("1..1.1", false),
            ("1.1.1.1 ", false),
            ("1111.1.1.1", false),
            ("5000000000", false),
            ("99999999999999.1", false),
        ] {
            assert_eq!(super::parse_quad(s).is_some(), ok, "{s}");
            assert_eq!(s.parse::<std::net::Ipv4Addr>().is_ok(), ok, "{s}");
        }
    }

    use super::*;

    fn p(s: &str) -> Addr {
        Addr::parse(s)
    }

    #[test]
    fn single_addresses() {
        assert_eq!(p("192.0.2.1"), Addr::Ip("192.0.2.1".parse().unwrap()));
        assert_eq!(p("192.0.2.1").family(), Some(Family::Inet4));
        assert!(p("192.0.2.1").is_ip());
        assert_eq!(p("2001:DB8::1").to_string(), "2001:db8::1");
        assert_eq!(p("2001:db8::1").family(), Some(Family::Inet6));
        assert_eq!(p("[2001:db8::1]").to_string(), "2001:db8::1");
        assert_eq!(
            p("2001:0db8:0000:0000:0000:0000:0000:0001").to_string(),
            "2001:db8::1"
        );
    }

    #[test]
    fn mapped_v4_is_folded() {
        assert_eq!(p("::ffff:192.0.2.7"), p("192.0.2.7"));
        assert_eq!(p("[::ffff:192.0.2.7]").family(), Some(Family::Inet4));
        assert_eq!(
            Addr::parse_family("::ffff:10.0.0.1", Family::Inet6).to_string(),
            "10.0.0.1"
        );
        // explicit prefix keeps IPv6, as fail2ban does
        assert_eq!(
            Addr::with_prefix("::ffff:10.0.0.1", 128).family(),
            Some(Family::Inet6)
        );
    }

    #[test]
    fn raw_values() {
        for s in [
            "example.com",
            "",
            "1.2.3",
            "256.1.1.1",
            "01.2.3.4",
            "[]",
            "1.2.3.4/33",
            "1.2.3.4/x",
        ] {
            let a = p(s);
            assert_eq!(a, Addr::Raw(s.to_string()), "{s}");
            assert_eq!(a.family(), None);
            assert!(!a.is_ip());
            assert_eq!(a.to_string(), s);
        }
        assert_eq!(
            Addr::parse_family("2001:db8::1", Family::Inet4),
            Addr::raw("2001:db8::1")
        );
        assert_eq!(
            Addr::parse_family("[::1]", Family::Inet6),
            Addr::raw("[::1]")
        );
    }

    #[test]
    fn subnets() {
        let n = p("192.0.2.77/24");
        assert_eq!(n, Addr::Net("192.0.2.0".parse().unwrap(), 24));
        assert_eq!(n.to_string(), "192.0.2.0/24");
        assert!(!n.is_ip());
        assert_eq!(p("192.0.2.77/255.255.255.0"), n);
        assert_eq!(p("192.0.2.77/32"), p("192.0.2.77"));
        assert_eq!(p("2001:db8::1/64").to_string(), "2001:db8::/64");
        assert_eq!(
            p("2001:db8::1/ffff:ffff:ffff:ffff::").to_string(),
            "2001:db8::/64"
        );
        assert_eq!(p("[2001:db8::1/128]"), p("2001:db8::1"));
        assert_eq!(p("10.1.2.3/0").to_string(), "0.0.0.0");
        assert_eq!(p("10.1.2.3/0").prefix_len(), Some(0));
        // non-contiguous mask is not a prefix
        assert_eq!(p("10.0.0.0/255.0.255.0"), Addr::raw("10.0.0.0/255.0.255.0"));
        assert_eq!(Addr::with_prefix("10.1.2.3", 8).to_string(), "10.0.0.0/8");
        assert_eq!(Addr::with_prefix("10.1.2.3", 40), Addr::raw("10.1.2.3"));
    }

    #[test]
    fn containment() {
        let net = p("192.0.2.0/24");
        assert!(net.contains(&p("192.0.2.200")));
        assert!(!net.contains(&p("192.0.3.1")));
        assert!(net.contains(&p("192.0.2.128/25")));
        assert!(!p("192.0.2.128/25").contains(&net));
        assert!(net.contains(&net));
        assert!(p("1.2.3.4").contains(&p("1.2.3.4")));
        assert!(!p("1.2.3.4").contains(&p("1.2.3.5")));
        assert!(!p("::/0").contains(&p("1.2.3.4")));
        assert!(p("::/0").contains(&p("2001:db8::5")));
        assert!(p("0.0.0.0/0").contains(&p("8.8.8.8")));
        assert!(p("host").contains(&p("host")));
        assert!(!p("host").contains(&p("1.2.3.4")));
        assert!(p("2001:db8::/32").contains(&p("[2001:db8:1::1]")));
    }

    #[test]
    fn ordering_and_fromstr() {
        let mut v: Vec<Addr> = ["zz", "2001:db8::1", "10.0.0.2", "10.0.0.1", "aa"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        v.sort();
        let s: Vec<String> = v.iter().map(|a| a.to_string()).collect();
        assert_eq!(s, ["10.0.0.1", "10.0.0.2", "2001:db8::1", "aa", "zz"]);
    }

    #[test]
    fn ban_targets() {
        for ok in [
            "192.0.2.1",
            "2001:db8::1",
            "[2001:db8::1]",
            "192.0.2.0/24",
            "2001:db8::/32",
            "::ffff:192.0.2.7",
            "host.example.org",
            "mail-1.example",
            "user@example.org",
            "session_Id-42",
            "Jörg",
            "a^b",
        ] {
            assert!(Addr::parse_ban_target(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            Addr::parse_ban_target("192.0.2.0/24").map(|a| a.to_string()),
            Ok("192.0.2.0/24".to_string())
        );
        let bad = |s: &str| Addr::parse_ban_target(s).unwrap_err();
        assert_eq!(bad(""), InvalidTarget::Empty);
        assert_eq!(bad("a b"), InvalidTarget::Space(1));
        assert_eq!(bad(" 192.0.2.1"), InvalidTarget::Space(0));
        assert_eq!(bad("x\n"), InvalidTarget::Space(1));
        assert_eq!(bad("x\u{7f}"), InvalidTarget::Space(1));
        for s in [
            "a;b", "$(id)", "`id`", "a|b", "a&b", "a>b", "'a'", "\"a\"", "a\\b", "*", "a{b}", "[x]",
        ] {
            assert!(matches!(bad(s), InvalidTarget::Character(_)), "{s}");
        }
        assert_eq!(bad(&"a".repeat(256)), InvalidTarget::TooLong(256));
        assert!(Addr::parse_ban_target(&"a".repeat(255)).is_ok());
        for s in [
            "192.0.2.300",
            "1.2.3",
            "1.2.3.4/33",
            "2001:db8::12345",
            "2001:db8:::1",
            "1.2.3.4/x",
        ] {
            assert!(Addr::parse_ban_target(s).is_err(), "{s}");
        }
        assert!(bad("x;y").to_string().contains("';'"), "{}", bad("x;y"));
    }

    #[test]
    fn display_roundtrip() {
        for s in [
            "1.2.3.4",
            "10.0.0.0/8",
            "2001:db8::/48",
            "::1",
            "name.example",
        ] {
            assert_eq!(p(s).to_string(), s);
            assert_eq!(p(&p(s).to_string()), p(s));
        }
    }
}
