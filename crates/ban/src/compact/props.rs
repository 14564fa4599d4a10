//! Property tests of `compact`.

use super::*;
use proptest::prelude::*;

proptest! {
    /// Any line survives encoding against any reference set, and
    /// references are all released when the blobs are.
    #[test]
    fn any_lines_round_trip(lines in proptest::collection::vec("[ -~éü✓]{0,40}", 1..12),
                            maxm in 0usize..4) {
        let mut s = LineStore::default();
        let k = KeyRef::Raw("id");
        let mut blobs = Vec::new();
        for l in &lines {
            let b = s.encode(k, [], &[l.as_str()], 5);
            prop_assert_eq!(s.decode(&k.to_owned_key(), &b).1, vec![l.clone()]);
            blobs.push(b);
        }
        // One ticket with every line appended one by one.
        let mut one = s.encode(k, [], &[] as &[&str], maxm);
        for l in &lines {
            let nb = s.merge(k, &one, [], &[l.as_str()], maxm);
            one = nb;
        }
        let want: Vec<String> = lines[lines.len().saturating_sub(maxm)..].to_vec();
        prop_assert_eq!(s.decode(&k.to_owned_key(), &one).1, want);
        s.release(&one);
        for b in &blobs {
            s.release(b);
        }
        prop_assert!(s.live_refs() <= ACTIVE_REFS);
    }
}
