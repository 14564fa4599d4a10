//! A failure's ID: which groups make it (`<F-ID>`, `<ADDR>`, `<IP4>`,
//! `<IP6>`, `<DNS>`, `<CIDR>`), in fail2ban's order, and host names turned
//! into addresses by `usedns`.

use super::*;

pub(crate) const FAILURE_ID_PRESENTS: [&str; 5] = ["fid", "ip4", "ip6", "dns", "mlfid"];

/// The groups a failregex's own ID comes from, in the order the first one
/// present is taken (`Hit::id_fallback`).
pub(crate) const ID_GROUPS: [&str; 4] = ["fid", "ip4", "ip6", "dns"];

/// The keys a failure's ID is made of, in key order (see `failure_ids`).
pub(crate) const ID_KEYS: [&str; 5] = ["cidr", "dns", "fid", "ip4", "ip6"];

#[derive(Clone, Copy, Debug)]
pub(crate) enum IdKind {
    /// Parse like `IPAddr(s)` (or raw in raw-host mode).
    Default,
    Family(Family),
    Prefix(u8),
    BadPrefix,
}

pub(crate) fn cidr_kind(cidr: Option<&str>, fam: Family) -> IdKind {
    match cidr {
        Some(c) if !c.is_empty() => match c.parse::<u8>() {
            Ok(p) => IdKind::Prefix(p),
            Err(_) => IdKind::BadPrefix,
        },
        _ => IdKind::Family(fam),
    }
}

/// What `findFailure` makes of a failure's ID groups.
pub(crate) enum FailureIds {
    /// No ID yet: the failure waits for one (`mlfpending`).
    Pending,
    /// The IDs (one, unless a DNS name resolves to several addresses), and
    /// the address to record as `ip` when the failure-id differs from it.
    Found(smallvec::SmallVec<[Option<Addr>; 1]>, Option<Addr>),
    /// No ID group at all and no mlfid: upstream's "No group found".
    NoGroup,
}

/// The ID of a failure from its [`ID_KEYS`] values; without
/// any of them and without an mlfid, `fallback` gives the value of the
/// failregex's first ID group.
pub(crate) fn failure_ids(
    [cidr, dns, fid, ip4, ip6]: [Option<&str>; 5],
    fallback: impl FnOnce() -> Option<String>,
    has_mlfid: bool,
    raw_mode: bool,
    usedns: UseDns,
) -> FailureIds {
    let mut kind = IdKind::Default;
    let mut raw = raw_mode;
    let fallen;
    let ip: &str = if let Some(v) = ip4 {
        kind = cidr_kind(cidr, Family::Inet4);
        raw = true;
        v
    } else if let Some(v) = ip6 {
        kind = cidr_kind(cidr, Family::Inet6);
        raw = true;
        v
    } else if let Some(v) = dns {
        v
    } else {
        raw = true;
        match fid {
            Some(f) => f,
            None if has_mlfid => return FailureIds::Pending,
            None => match fallback() {
                Some(v) => {
                    fallen = v;
                    &fallen
                }
                None => return FailureIds::NoGroup,
            },
        }
    };
    if !raw {
        return FailureIds::Found(text_to_ip(ip, usedns).into_iter().map(Some).collect(), None);
    }
    let make = |s: &str, kind: IdKind| -> Addr {
        match kind {
            IdKind::Family(f) => Addr::parse_family(s, f),
            IdKind::Prefix(p) => Addr::with_prefix(s, p),
            IdKind::BadPrefix => Addr::raw(s),
            IdKind::Default if raw_mode => Addr::raw(s),
            IdKind::Default => Addr::parse(s),
        }
    };
    match fid {
        Some(f) if f != ip => FailureIds::Found(
            smallvec::smallvec![Some(make(f, IdKind::Default))],
            Some(make(ip, kind)),
        ),
        _ => FailureIds::Found(smallvec::smallvec![Some(make(ip, kind))], None),
    }
}

/// One failure per ID, the last one taking `data` (the others a copy).
pub(crate) fn push_failures(
    idx: usize,
    fids: smallvec::SmallVec<[Option<Addr>; 1]>,
    time: Option<f64>,
    mut data: Data,
    fail_list: &mut Vec<Failure>,
) {
    let n = fids.len();
    for (i, id) in fids.into_iter().enumerate() {
        let data = if i + 1 == n {
            std::mem::take(&mut data)
        } else {
            data.clone()
        };
        fail_list.push(Failure {
            regex_index: idx,
            id,
            time,
            data,
        });
    }
}

/// `DNSUtils.textToIp`: a literal IP is used as is; otherwise, with `yes`
/// or `warn`, the name is resolved (all addresses).
pub(crate) fn text_to_ip(text: &str, usedns: UseDns) -> Vec<Addr> {
    let lit = Addr::parse(text);
    if lit.is_ip() && !text.contains('/') {
        return vec![lit];
    }
    if matches!(usedns, UseDns::Yes | UseDns::Warn) {
        use std::net::ToSocketAddrs;
        let mut out: Vec<Addr> = match (text, 0u16).to_socket_addrs() {
            Ok(it) => it.map(|sa| Addr::from(sa.ip())).collect(),
            Err(_) => Vec::new(),
        };
        out.sort();
        out.dedup();
        if !out.is_empty() && usedns == UseDns::Warn {
            tracing::warn!("Determined IP using DNS Lookup: {text} = {out:?}");
        }
        return out;
    }
    Vec::new()
}
