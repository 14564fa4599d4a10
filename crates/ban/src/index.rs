//! The FailManager's id → slot table: open addressing with linear probing
//! over one `u64` per bucket, `(32 hash bits << 32) | (slot + 1)`, 0 for
//! an empty bucket.
//!
//! Why not `hashbrown`: under an address spray nearly every failure is a
//! new id in a table far larger than the caches, and a lookup there costs
//! its cache misses. hashbrown reads a control byte group and then, in
//! another line, the bucket; here the hash bits and the slot sit in the
//! bucket itself, so a new id costs one miss (and the insert writes the
//! line just read), and a known id one miss plus its entry. The bucket is
//! chosen from the hash bits by multiplication ("fastrange"), which keeps
//! the buckets in hash order: growing walks the old table in order and
//! writes the new one nearly in order. Removal shifts the following run
//! back (no tombstones), so lookups never slow down with churn.
//!
//! The hash bits come from a randomly seeded hash of the id (the
//! FailManager's), so an attacker cannot aim addresses at one run.

/// Grow beyond this load (in sixteenths): 13/16 ≈ 0.81.
const MAX_LOAD_16THS: usize = 13;
const MIN_BUCKETS: usize = 16;

#[derive(Clone, Debug, Default)]
pub(crate) struct Index {
    buckets: Vec<u64>,
    len: usize,
}

fn pack(h: u32, slot: u32) -> u64 {
    (u64::from(h) << 32) | (u64::from(slot) + 1)
}

fn hash_of(b: u64) -> u32 {
    (b >> 32) as u32
}

fn slot_of(b: u64) -> u32 {
    (b as u32).wrapping_sub(1)
}

impl Index {
    pub fn with_capacity(n: usize) -> Self {
        let mut x = Index::default();
        if n > 0 {
            x.buckets = vec![0; buckets_for(n)];
        }
        x
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Buckets allocated.
    pub fn capacity(&self) -> usize {
        self.buckets.len()
    }

    fn home(&self, h: u32) -> usize {
        ((u64::from(h) * self.buckets.len() as u64) >> 32) as usize
    }

    fn next(&self, i: usize) -> usize {
        if i + 1 == self.buckets.len() {
            0
        } else {
            i + 1
        }
    }

    /// The slot with hash bits `h` for which `eq` holds.
    pub fn find(&self, h: u32, eq: impl FnMut(u32) -> bool) -> Option<u32> {
        self.position(h, eq).map(|p| slot_of(self.buckets[p]))
    }

    fn position(&self, h: u32, mut eq: impl FnMut(u32) -> bool) -> Option<usize> {
        if self.buckets.is_empty() {
            return None;
        }
        let mut i = self.home(h);
        loop {
            let b = self.buckets[i];
            if b == 0 {
                return None;
            }
            if hash_of(b) == h && eq(slot_of(b)) {
                return Some(i);
            }
            i = self.next(i);
        }
    }

    /// Finds the slot with hash bits `h` for which `eq` holds, or, when
    /// there is none, inserts `new()` in the same pass. Returns the slot
    /// and whether it was inserted.
    pub fn find_or_insert(
        &mut self,
        h: u32,
        mut eq: impl FnMut(u32) -> bool,
        new: impl FnOnce() -> u32,
    ) -> (u32, bool) {
        if (self.len + 1) * 16 > self.buckets.len() * MAX_LOAD_16THS {
            self.grow();
        }
        let mut i = self.home(h);
        loop {
            let b = self.buckets[i];
            if b == 0 {
                let slot = new();
                self.buckets[i] = pack(h, slot);
                self.len += 1;
                return (slot, true);
            }
            if hash_of(b) == h && eq(slot_of(b)) {
                return (slot_of(b), false);
            }
            i = self.next(i);
        }
    }

    /// Inserts a slot known to be absent.
    pub fn insert_new(&mut self, h: u32, slot: u32) {
        self.find_or_insert(h, |_| false, || slot);
    }

    /// Removes the bucket holding `slot` (hash bits `h`).
    pub fn remove(&mut self, h: u32, slot: u32) -> bool {
        let Some(mut hole) = self.position(h, |s| s == slot) else {
            return false;
        };
        self.len -= 1;
        // Shift back the rest of the run: an entry may move into the hole
        // when its home is not after the hole (cyclically, within the run).
        let mut i = self.next(hole);
        loop {
            let b = self.buckets[i];
            if b == 0 {
                break;
            }
            let home = self.home(hash_of(b));
            let movable = if hole <= i {
                home <= hole || home > i
            } else {
                home <= hole && home > i
            };
            if movable {
                self.buckets[hole] = b;
                hole = i;
            }
            i = self.next(i);
        }
        self.buckets[hole] = 0;
        true
    }

    /// Changes the slot recorded for `old` (hash bits `h`) to `new`.
    pub fn relocate(&mut self, h: u32, old: u32, new: u32) -> bool {
        match self.position(h, |s| s == old) {
            Some(p) => {
                self.buckets[p] = pack(h, new);
                true
            }
            None => false,
        }
    }

    fn grow(&mut self) {
        let n = (self.buckets.len() * 2).max(MIN_BUCKETS);
        self.rebuild(n);
    }

    /// Gives back buckets when the load fell below a quarter.
    pub fn shrink(&mut self) {
        let want = buckets_for(self.len);
        if want * 2 < self.buckets.len() {
            self.rebuild(want);
        }
    }

    fn rebuild(&mut self, n: usize) {
        let old = std::mem::replace(
            &mut self.buckets,
            if n == 0 { Vec::new() } else { vec![0; n] },
        );
        if n == 0 {
            return;
        }
        for b in old.into_iter().filter(|&b| b != 0) {
            let mut i = self.home(hash_of(b));
            while self.buckets[i] != 0 {
                i = self.next(i);
            }
            self.buckets[i] = b;
        }
    }
}

/// Buckets for `n` entries at most at about two thirds of the maximum load.
fn buckets_for(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    (n * 16 / MAX_LOAD_16THS * 4 / 3 + 1)
        .next_power_of_two()
        .max(MIN_BUCKETS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    proptest! {
        /// Against a map, with colliding hash bits (few distinct values)
        /// and runs that wrap around the end of the table.
        #[test]
        fn behaves_as_a_map(ops in proptest::collection::vec((0u8..3, 0u32..40, 0u32..6), 1..400)) {
            let mut x = Index::default();
            let mut m: HashMap<u32, u32> = HashMap::new(); // slot -> hash
            // Hash bits near the top too, so homes fall at the table's end.
            let hb = |k: u32| if k & 1 == 0 { k } else { u32::MAX - k };
            let mut next_slot = 0u32;
            for (op, _k, h) in ops {
                let h = hb(h);
                match op {
                    0 => {
                        let s = next_slot;
                        next_slot += 1;
                        x.insert_new(h, s);
                        m.insert(s, h);
                    }
                    1 => {
                        if let Some((&s, &h)) = m.iter().next() {
                            prop_assert!(x.remove(h, s));
                            m.remove(&s);
                        }
                    }
                    _ => {
                        if let Some((&s, &h)) = m.iter().next() {
                            let n = next_slot;
                            next_slot += 1;
                            prop_assert!(x.relocate(h, s, n));
                            m.remove(&s);
                            m.insert(n, h);
                        }
                    }
                }
                prop_assert_eq!(x.len(), m.len());
                for (&s, &h) in &m {
                    prop_assert_eq!(x.find(h, |c| c == s), Some(s));
                }
                prop_assert_eq!(x.find(h, |c| c == u32::MAX - 1), None);
            }
            x.shrink();
            for (&s, &h) in &m {
                prop_assert_eq!(x.find(h, |c| c == s), Some(s));
            }
        }
    }

    #[test]
    fn find_or_insert_finds_first() {
        let mut x = Index::default();
        assert_eq!(x.find_or_insert(7, |_| false, || 1), (1, true));
        assert_eq!(x.find_or_insert(7, |s| s == 1, || 2), (1, false));
        assert_eq!(x.find_or_insert(7, |s| s == 9, || 3), (3, true));
        assert_eq!(x.len(), 2);
        assert_eq!(x.find(7, |s| s == 3), Some(3));
        assert!(x.remove(7, 1));
        assert_eq!(x.find(7, |s| s == 3), Some(3));
        assert_eq!(x.find(7, |s| s == 1), None);
    }

    #[test]
    fn grows_and_shrinks() {
        let mut x = Index::default();
        for s in 0..10_000u32 {
            x.insert_new(s.wrapping_mul(2_654_435_761), s);
        }
        assert!(x.capacity() * MAX_LOAD_16THS >= x.len() * 16);
        for s in 0..9_990u32 {
            assert!(x.remove(s.wrapping_mul(2_654_435_761), s));
        }
        let before = x.capacity();
        x.shrink();
        assert!(x.capacity() < before / 100, "{} buckets", x.capacity());
        for s in 9_990..10_000u32 {
            assert_eq!(x.find(s.wrapping_mul(2_654_435_761), |c| c == s), Some(s));
        }
    }
}
