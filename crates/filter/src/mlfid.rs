//! The multi-line failure ID cache (`<F-MLFID>`): fail2ban's
//! `Filter._mergeFailure`, with its flag bits (1 = nofail, 2 = forget,
//! 4 = previous nofail/gained, 8 = gained), at most 100 entries for 5
//! minutes of the `now` passed in.

use super::*;

/// The mlfid cache: at most 100 entries, 5 minutes TTL, FIFO eviction.
/// Keys come from log lines, but with at most 100 entries a fast
/// non-keyed hash cannot be flooded into more than a short scan.
pub(crate) struct MlfidCache {
    pub(crate) map: HashMap<Str, (Data, f64), rustc_hash::FxBuildHasher>,
    pub(crate) order: VecDeque<Str>,
}

pub(crate) const MLFID_MAX: usize = 100;
pub(crate) const MLFID_TTL: f64 = 300.0;

impl MlfidCache {
    pub(crate) fn new() -> Self {
        MlfidCache {
            map: HashMap::default(),
            order: VecDeque::new(),
        }
    }
    /// Move the live entry's data out (the slot stays, holding an empty
    /// map, until [`MlfidCache::update`] puts data back or it is unset).
    pub(crate) fn take(&mut self, k: &str, now: f64) -> Option<Data> {
        match self.map.get_mut(k) {
            Some((d, exp)) if *exp > now => Some(std::mem::take(d)),
            Some(_) => {
                self.unset(k);
                None
            }
            None => None,
        }
    }
    /// Replace the data of an existing entry, keeping its expiry.
    pub(crate) fn update(&mut self, k: &str, d: Data) {
        if let Some(slot) = self.map.get_mut(k) {
            slot.0 = d;
        }
    }
    pub(crate) fn set(&mut self, k: &str, d: Data, now: f64) {
        if !self.map.contains_key(k) && self.map.len() >= MLFID_MAX {
            while let Some(ck) = self.order.pop_front() {
                let Some((_, exp)) = self.map.remove(&ck) else {
                    continue;
                };
                if exp > now && self.map.len() < MLFID_MAX {
                    break;
                }
            }
        }
        if !self.map.contains_key(k) {
            self.order.push_back(Str::from(k));
        }
        self.map.insert(Str::from(k), (d, now + MLFID_TTL));
    }
    pub(crate) fn unset(&mut self, k: &str) {
        if self.map.remove(k).is_some() {
            self.order.retain(|x| x != k);
        }
    }
}

impl Filter {
    /// `_mergeFailure` and the rest of `findFailure` for most hit lines of
    /// sshd-like logs, read straight from a planned hit's spans: a NOFAIL
    /// (or gained) hit that forgets its mlfid when the cache holds nothing
    /// for it. The merge then only drops the forget flag and turns a gained
    /// flag into `nofail`; nothing is cached, and unless every regex is
    /// checked the line is done. The data is built only for a failure
    /// that is kept, and without [`FilterSpec::failure_data`] it is only the
    /// `nofail` flag (as for a failure whose data the cache keeps). `None`:
    /// anything else (no mlfid, a cache entry, even an expired one, or an
    /// `mlfpending` group), left to the general path.
    pub(crate) fn forgotten(
        &self,
        idx: usize,
        spans: &[Option<(u32, u32)>],
        line: &str,
        matched: Option<&[String]>,
        date: Option<f64>,
        fail_list: &mut Vec<Failure>,
    ) -> Option<Flow> {
        let plan = self.plans.get(idx)?.as_ref()?;
        let k = &plan.known;
        let get = |i: Option<usize>| {
            let (s, e) = spans.get(i?).copied().flatten()?;
            line.get(s as usize..e as usize)
        };
        let truthy = |i: Option<usize>| get(i).filter(|v| !v.is_empty());
        let mlfid = get(k.mlfid)?;
        let (nofail, gained) = (truthy(k.nofail), truthy(k.mlfgained));
        if truthy(k.mlfforget).is_none()
            || get(k.mlfpending).is_some()
            || (nofail.is_none() && gained.is_none())
            || self.mlfid.map.contains_key(mlfid)
        {
            return None;
        }
        if !self.spec.check_all_regex {
            return Some(Flow::Done);
        }
        // (with an mlfid there is no fallback to look for)
        let ids = failure_ids(
            k.ids.map(get),
            || None,
            true,
            self.raw_ids(),
            self.spec.usedns,
        );
        let (fids, ip, pending) = match ids {
            FailureIds::Found(ids, ip) => (ids, ip, false),
            FailureIds::Pending | FailureIds::NoGroup => (smallvec::smallvec![None], None, true),
        };
        let data = if self.spec.failure_data {
            let mut d = plan.data(spans, line, k.mlfforget);
            let mut nf = 1 | 2;
            if let Some(g) = gained {
                nf |= 8;
                if nofail.is_none() {
                    d.insert("nofail", Value::from(g));
                }
            }
            if let Some(m) = matched {
                keep_matches(&mut d, nf, m);
            }
            if pending {
                d.insert("mlfpending", Value::Int(1));
            }
            if let Some(ip) = ip {
                d.insert("ip", Value::Addr(ip));
            }
            d
        } else {
            let flag = nofail.or(gained).unwrap_or_default();
            Data::from_sorted(vec![(Str::from("nofail"), Value::from(flag))])
        };
        push_failures(idx, fids, date, data, fail_list);
        Some(Flow::Next)
    }

    /// Put the merged data of an mlfid back into the cache (see `cached_as`).
    pub(crate) fn store_mlfid(&mut self, key: Option<Str>, fail: Data, now: f64) {
        let Some(k) = key else { return };
        if self.mlfid.map.contains_key(&k) {
            self.mlfid.update(&k, fail);
        } else {
            self.mlfid.set(&k, fail, now);
        }
    }

    /// `Filter._mergeFailure`. Returns the merged data and whether it is the
    /// cached entry itself (so later changes must be written back).
    pub(crate) fn merge_failure(
        &mut self,
        mlfid: &str,
        mut fail: Data,
        matched: Option<&[String]>,
        now: f64,
    ) -> (Data, bool) {
        let cached = self.mlfid.take(mlfid, now);
        let mut users: Option<usize> = None;
        let mut nf: u8 = 0;
        if let Some(g) = fail.get("mlfgained").cloned().filter(Value::is_truthy) {
            nf |= 8 | 1;
            if !fail.get("nofail").is_some_and(Value::is_truthy) {
                fail.insert("nofail", g);
            }
        } else if fail.get("nofail").is_some_and(Value::is_truthy) {
            nf |= 1;
        }
        if fail.remove("mlfforget").is_some_and(|v| v.is_truthy()) {
            nf |= 2;
        }
        let user: Option<Str> = fail.get("user").and_then(Value::as_str).map(Str::from);
        let mut aliased = false;
        if let Some(mut groups) = cached {
            users = update_users(&mut groups, user.as_deref());
            if groups.remove("nofail").is_some_and(|v| v.is_truthy()) {
                nf |= 4;
            }
            if groups.remove("mlfgained").is_some_and(|v| v.is_truthy()) {
                nf |= 4;
            }
            if nf & 8 != 0 {
                groups.remove("mlfpending");
            }
            let pending = groups.get("mlfpending").is_some_and(Value::is_truthy);
            if nf & 4 == 0 && !pending {
                groups.remove("matches");
            }
            groups.extend(fail);
            fail = groups;
            if nf & 2 != 0 {
                self.mlfid.unset(mlfid);
            } else {
                aliased = true;
            }
        } else if nf & 2 == 0 {
            users = update_users(&mut fail, user.as_deref());
            aliased = true;
        }
        let pending = fail.remove("mlfpending").is_some_and(|v| v.is_truthy());
        if pending || users.is_some_and(|n| n > 1) {
            fail.remove("nofail");
            fail.remove("mlfgained");
            nf &= !(8 | 1);
        }
        if let Some(matched) = matched {
            keep_matches(&mut fail, nf, matched);
        }
        (fail, aliased)
    }
}
