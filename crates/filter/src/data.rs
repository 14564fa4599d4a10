//! Failure data: group name → [`Value`], fail2ban's per-failure dict.
//!
//! Design decisions:
//! - **Small and allocation-light.** A failure carries a handful of
//!   entries (`mlfid`, `user`, `ip4`, `matches`, …) and one is built for
//!   every line a failregex matches, NOFAIL lines included (sshd logs have
//!   many). So the map is a vector kept sorted by key (iteration order is
//!   the key order a `BTreeMap` gives, which the outputs rely on), and keys
//!   and string values are [`Str`] (`compact_str`): names, addresses, users
//!   and syslog prefixes fit its 24 inline bytes, so most entries cost no
//!   heap allocation.
//! - Groups that did not take part in a match (Python `None`) are simply
//!   absent.

use std::collections::BTreeSet;

use gaoler_addr::Addr;

/// Inline-first string for keys and values.
pub type Str = compact_str::CompactString;

/// A failure data value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A text capture.
    Str(Str),
    /// `tuple_X` groups: `(X, tuple_X, ...)`, each possibly absent.
    Tuple(Vec<Option<String>>),
    /// `users`: every user seen on one mlfid connection.
    Set(BTreeSet<Str>),
    /// `matches` / `nofail-matches`: full original lines.
    Lines(Vec<String>),
    /// A count (`failures`).
    Int(i64),
    /// `ip` of a complex failure (fid ≠ ip).
    Addr(Addr),
}

impl Value {
    /// Python truthiness.
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Str(s) => !s.is_empty(),
            Value::Tuple(t) => !t.is_empty(),
            Value::Set(s) => !s.is_empty(),
            Value::Lines(l) => !l.is_empty(),
            Value::Int(i) => *i != 0,
            Value::Addr(_) => true,
        }
    }
    /// The text, for a text value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(Str::from(s))
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Tuple(t) => {
                let v: Vec<&str> = t.iter().map(|x| x.as_deref().unwrap_or("None")).collect();
                write!(f, "({})", v.join(", "))
            }
            Value::Set(s) => {
                let v: Vec<&str> = s.iter().map(Str::as_str).collect();
                write!(f, "{{{}}}", v.join(", "))
            }
            Value::Lines(l) => f.write_str(&l.join("\n")),
            Value::Int(i) => write!(f, "{i}"),
            Value::Addr(a) => write!(f, "{a}"),
        }
    }
}

/// Key equality and order byte by byte: keys are a few bytes long, where a
/// call to `memcmp` costs more than the comparison.
fn key_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

fn key_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

/// The data of one failure, sorted by key (see the module docs).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Data {
    items: Vec<(Str, Value)>,
}

impl Data {
    /// An empty map.
    pub fn new() -> Data {
        Data::default()
    }

    /// Index of `k`, or where it would be inserted. Lookups (most of the
    /// calls, and mostly of absent keys) scan for an equal key, which
    /// compares lengths before bytes: cheaper on a handful of short keys
    /// than the ordered comparisons of a binary search.
    fn position(&self, k: &str) -> Option<usize> {
        self.items.iter().position(|(x, _)| key_eq(x, k))
    }

    /// The value of `k`.
    pub fn get(&self, k: &str) -> Option<&Value> {
        self.position(k).map(|i| &self.items[i].1)
    }

    /// The value of `k`, to change.
    pub fn get_mut(&mut self, k: &str) -> Option<&mut Value> {
        self.position(k).map(|i| &mut self.items[i].1)
    }

    /// Is `k` set?
    pub fn contains_key(&self, k: &str) -> bool {
        self.position(k).is_some()
    }

    /// Set `k`, returning the value it replaces.
    pub fn insert(&mut self, k: impl Into<Str> + AsRef<str>, v: Value) -> Option<Value> {
        let key = k.as_ref();
        match self.position(key) {
            Some(i) => Some(std::mem::replace(&mut self.items[i].1, v)),
            None => {
                let i = self
                    .items
                    .partition_point(|(x, _)| key_cmp(x, key) == std::cmp::Ordering::Less);
                self.items.insert(i, (k.into(), v));
                None
            }
        }
    }

    /// Takes `k` out.
    pub fn remove(&mut self, k: &str) -> Option<Value> {
        self.position(k).map(|i| self.items.remove(i).1)
    }

    /// `base` overridden by `over` (later entries win), as fail2ban builds
    /// a failure's dict from the prefregex's and the failregex's groups.
    pub fn merged(base: &[(Str, Value)], over: impl IntoIterator<Item = (Str, Value)>) -> Data {
        let mut items: Vec<(Str, Value)> = Vec::with_capacity(base.len() + 6);
        items.extend_from_slice(base);
        for (k, v) in over {
            match items.iter_mut().find(|(x, _)| key_eq(x, &k)) {
                Some(slot) => slot.1 = v,
                None => items.push((k, v)),
            }
        }
        // (keys are unique by now)
        items.sort_unstable_by(|a, b| key_cmp(&a.0, &b.0));
        Data { items }
    }

    /// From entries already in key order without repeats.
    pub(crate) fn from_sorted(items: Vec<(Str, Value)>) -> Data {
        debug_assert!(items.windows(2).all(|w| key_cmp(&w[0].0, &w[1].0).is_lt()));
        Data { items }
    }

    /// [`Data::merged`], draining `over`. When both lists are in key order
    /// without repeats (the regexes give their groups so) they are merged
    /// in one pass, without sorting.
    pub fn merged_drain(base: &[(Str, Value)], over: &mut Vec<(Str, Value)>) -> Data {
        let ordered = |v: &[(Str, Value)]| v.windows(2).all(|w| key_cmp(&w[0].0, &w[1].0).is_lt());
        if !(ordered(base) && ordered(over)) {
            return Data::merged(base, over.drain(..));
        }
        // (room for the flags the mlfid bookkeeping adds)
        let mut items = Vec::with_capacity(base.len() + over.len() + 2);
        let mut b = base.iter().peekable();
        for (k, v) in over.drain(..) {
            while let Some((bk, bv)) = b.next_if(|(bk, _)| key_cmp(bk, &k).is_lt()) {
                items.push((bk.clone(), bv.clone()));
            }
            // the same key in `base`: the later value wins
            b.next_if(|(bk, _)| key_eq(bk, &k));
            items.push((k, v));
        }
        items.extend(b.cloned());
        Data { items }
    }

    /// The values of `keys` (given in key order) in one pass over the
    /// entries, which are in key order too: cheaper than a lookup per key
    /// when a caller reads several. The pass stops at the first entry
    /// after the last key.
    pub fn get_sorted<const N: usize>(&self, keys: [&str; N]) -> [Option<&Value>; N] {
        debug_assert!(keys.windows(2).all(|w| key_cmp(w[0], w[1]).is_lt()));
        let mut out = [None; N];
        let Some(last) = keys.last() else {
            return out;
        };
        for (k, v) in &self.items {
            match keys.iter().position(|x| key_eq(x, k)) {
                Some(i) => out[i] = Some(v),
                None if key_cmp(k, last).is_gt() => break,
                None => {}
            }
        }
        out
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// No key set.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&Str, &Value)> {
        self.items.iter().map(|(k, v)| (k, v))
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &Str> {
        self.items.iter().map(|(k, _)| k)
    }
}

impl<'a> IntoIterator for &'a Data {
    type Item = (&'a Str, &'a Value);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Str, Value)>,
        fn(&'a (Str, Value)) -> (&'a Str, &'a Value),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter().map(|(k, v)| (k, v))
    }
}

impl IntoIterator for Data {
    type Item = (Str, Value);
    type IntoIter = std::vec::IntoIter<(Str, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl<K: Into<Str> + AsRef<str>> Extend<(K, Value)> for Data {
    fn extend<I: IntoIterator<Item = (K, Value)>>(&mut self, it: I) {
        for (k, v) in it {
            self.insert(k, v);
        }
    }
}

impl<K: Into<Str> + AsRef<str>> FromIterator<(K, Value)> for Data {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(it: I) -> Data {
        let mut d = Data::new();
        d.extend(it);
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_like_a_btreemap_and_last_insert_wins() {
        let mut d: Data = [("user", Value::from("a")), ("ip4", Value::from("x"))]
            .into_iter()
            .collect();
        d.insert("user", Value::from("b"));
        d.insert("fid", Value::Int(1));
        let keys: Vec<&str> = d.keys().map(Str::as_str).collect();
        assert_eq!(keys, ["fid", "ip4", "user"]);
        assert_eq!(d.get("user"), Some(&Value::from("b")));
        assert_eq!(d.remove("ip4"), Some(Value::from("x")));
        assert!(!d.contains_key("ip4"));
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn get_sorted_reads_several_keys_in_one_pass() {
        let d: Data = [
            ("cidr", Value::from("24")),
            ("ip4", Value::from("x")),
            ("mlfid", Value::from("m")),
            ("user", Value::from("u")),
        ]
        .into_iter()
        .collect();
        let [cidr, dns, ip4, user] = d.get_sorted(["cidr", "dns", "ip4", "user"]);
        assert_eq!(cidr, Some(&Value::from("24")));
        assert_eq!((dns, ip4), (None, Some(&Value::from("x"))));
        assert_eq!(user, Some(&Value::from("u")));
        // keys before, between and after the entries
        let [a, m, z] = d.get_sorted(["a", "mlfid", "zz"]);
        assert_eq!((a, m, z), (None, Some(&Value::from("m")), None));
        assert_eq!(Data::new().get_sorted(["ip4"]), [None]);
    }

    #[test]
    fn merged_lets_the_later_groups_win() {
        let base = [
            (Str::from("user"), Value::from("a")),
            (Str::from("mlfid"), Value::from("m")),
        ];
        let d = Data::merged(
            &base,
            vec![
                (Str::from("user"), Value::from("b")),
                (Str::from("ip4"), Value::from("x")),
                (Str::from("user"), Value::from("c")),
            ],
        );
        let keys: Vec<&str> = d.keys().map(Str::as_str).collect();
        assert_eq!(keys, ["ip4", "mlfid", "user"]);
        assert_eq!(d.get("user"), Some(&Value::from("c")));
    }

    #[test]
    fn merged_drain_equals_merged() {
        let kv = |k: &str, v: &str| (Str::from(k), Value::from(v));
        type Groups = Vec<(Str, Value)>;
        let cases: Vec<(Groups, Groups)> = vec![
            // in order: the one-pass merge
            (
                vec![kv("content", "c"), kv("mlfid", "m"), kv("user", "a")],
                vec![
                    kv("ip4", "x"),
                    kv("mlfid", "n"),
                    kv("user", "b"),
                    kv("zz", "z"),
                ],
            ),
            (vec![], vec![kv("a", "1")]),
            (vec![kv("a", "1")], vec![]),
            // out of order or repeated: the general path
            (
                vec![kv("user", "a"), kv("mlfid", "m")],
                vec![kv("user", "b")],
            ),
            (vec![kv("a", "1")], vec![kv("b", "2"), kv("b", "3")]),
        ];
        for (base, over) in cases {
            let want = Data::merged(&base, over.clone());
            let mut over = over;
            let got = Data::merged_drain(&base, &mut over);
            assert!(over.is_empty());
            assert_eq!(format!("{got:?}"), format!("{want:?}"));
        }
    }
}
