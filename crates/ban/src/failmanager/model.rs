//! Tests of `failmanager` (model).

//! The compact manager against the plain ticket map it replaced.
use super::*;
use proptest::prelude::*;
use std::collections::HashMap;

/// The former FailManager: tickets in a map keyed by id text.
struct Plain {
    list: HashMap<String, Ticket>,
    max_time: f64,
    max_matches: usize,
}

impl Plain {
    fn add(&mut self, mut t: Ticket, count: u32) -> u32 {
        let attempt = t.failures.max(1);
        match self.list.get_mut(&t.id) {
            Some(d) => {
                if t.time > d.time {
                    if d.first_time < t.time - self.max_time {
                        let el = t.time - d.first_time;
                        d.retry = py_round(d.retry as f64 / el * self.max_time) as u32;
                        d.first_time = t.time - self.max_time;
                    }
                    d.time = t.time;
                }
                d.retry += count;
                d.failures += attempt;
                d.matches.append(&mut t.matches);
                let n = d.matches.len().saturating_sub(self.max_matches);
                d.matches.drain(..n);
                for (k, v) in t.data {
                    d.data.entry(k).or_insert(v);
                }
                d.retry
            }
            None => {
                t.first_time = t.time;
                t.retry = count.max(1);
                t.failures = attempt;
                let n = t.matches.len().saturating_sub(self.max_matches);
                t.matches.drain(..n);
                let r = t.retry;
                self.list.insert(t.id.clone(), t);
                r
            }
        }
    }
}

proptest! {
    #[test]
    fn same_counting_as_the_ticket_map(
        events in proptest::collection::vec(
            (0u8..5, 0u32..500, 1u32..3, 0usize..3, 0u8..3), 1..80),
        find_time in 1u32..200,
        max_matches in 0usize..4,
        max_retry in 2u32..6,
    ) {
        let mut fm = FailManager::new(max_retry, find_time as f64, max_matches);
        let mut plain = Plain { list: HashMap::new(), max_time: find_time as f64, max_matches };
        for (n, (who, t, count, nm, field)) in events.into_iter().enumerate() {
            let id = if who == 4 { "alice".to_string() } else { format!("192.0.2.{who}") };
            let lines: Vec<String> = (0..nm)
                .map(|j| format!("Jan 1 00:00:{:02} host sshd[{n}]: fail {j} from {id}", t % 60))
                .collect();
            let mut data = serde_json::Map::new();
            match field {
                0 => {}
                1 => { data.insert("ip4".into(), id.clone().into()); }
                _ => { data.insert("user".into(), format!("u{n}").into()); }
            }
            let ticket = Ticket::new(id.clone(), t as f64)
                .with_matches(lines)
                .with_data(data);
            let a = fm.add_failure(ticket.clone(), count);
            let b = plain.add(ticket, count);
            prop_assert_eq!(a, b);
            if a >= max_retry {
                let x = fm.to_ban(Some(id.as_str())).expect("qualifies");
                let y = plain.list.remove(&id).expect("qualifies");
                prop_assert_eq!(x, y);
            }
        }
        prop_assert_eq!(fm.size(), plain.list.len());
        for (id, t) in &plain.list {
            prop_assert_eq!(&fm.get(id.as_str()).expect("counted"), t);
        }
    }
}
