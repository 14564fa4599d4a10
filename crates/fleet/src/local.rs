//! The local side of the fleet's state: the outbox of rows not yet in the
//! shared table, and the position read up to in it.
//!
//! The daemon keeps both in its SQLite database (gaoler-store's fleet
//! tables), so that queued rows and the position survive a restart;
//! [`MemoryLocal`] is for a daemon without a database (`dbfile = :none:`)
//! and for tests: it forgets everything at exit.
//!
//! The position is kept per fleet database (its id, made when the shared
//! schema is created): pointed at another database, a host starts from the
//! beginning of that one rather than skipping its first rows.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::row::BanRow;

/// Where the outbox and the position live.
pub trait Local: Send + Sync {
    /// Appends rows to the outbox; beyond `cap` rows the oldest are
    /// dropped. Returns how many were dropped.
    fn push(&self, rows: &[BanRow], cap: usize) -> Result<usize, String>;
    /// The oldest `max` rows of the outbox with their ids (increasing).
    fn peek(&self, max: usize) -> Result<Vec<(i64, BanRow)>, String>;
    /// Removes the outbox rows up to and including id `id`.
    fn remove_through(&self, id: i64) -> Result<(), String>;
    /// Rows in the outbox.
    fn outbox_len(&self) -> Result<usize, String>;
    /// The last sequence number read from fleet database `db_id` (0:
    /// none yet).
    fn position(&self, db_id: &str) -> Result<i64, String>;
    /// Stores the position in fleet database `db_id`.
    fn set_position(&self, db_id: &str, seq: i64) -> Result<(), String>;
}

/// [`Local`] in memory.
#[derive(Debug, Default)]
pub struct MemoryLocal {
    inner: Mutex<MemoryInner>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    next_id: i64,
    outbox: VecDeque<(i64, BanRow)>,
    position: Option<(String, i64)>,
}

impl MemoryLocal {
    /// An empty outbox at position 0.
    pub fn new() -> MemoryLocal {
        MemoryLocal::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Local for MemoryLocal {
    fn push(&self, rows: &[BanRow], cap: usize) -> Result<usize, String> {
        let mut m = self.lock();
        for r in rows {
            m.next_id += 1;
            let id = m.next_id;
            m.outbox.push_back((id, r.clone()));
        }
        let over = m.outbox.len().saturating_sub(cap);
        m.outbox.drain(..over);
        Ok(over)
    }

    fn peek(&self, max: usize) -> Result<Vec<(i64, BanRow)>, String> {
        Ok(self.lock().outbox.iter().take(max).cloned().collect())
    }

    fn remove_through(&self, id: i64) -> Result<(), String> {
        let mut m = self.lock();
        while m.outbox.front().is_some_and(|(i, _)| *i <= id) {
            m.outbox.pop_front();
        }
        Ok(())
    }

    fn outbox_len(&self) -> Result<usize, String> {
        Ok(self.lock().outbox.len())
    }

    fn position(&self, db_id: &str) -> Result<i64, String> {
        Ok(match &self.lock().position {
            Some((id, seq)) if id == db_id => *seq,
            _ => 0,
        })
    }

    fn set_position(&self, db_id: &str, seq: i64) -> Result<(), String> {
        self.lock().position = Some((db_id.to_owned(), seq));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::Kind;

    fn row(ip: &str) -> BanRow {
        BanRow {
            jail: "sshd".into(),
            kind: Kind::Ban,
            ip: ip.into(),
            time_of_ban: 1.0,
            ban_time: 600.0,
            ban_count: 1,
            failures: 1,
            matches: vec![],
            manual: false,
        }
    }

    #[test]
    fn the_outbox_is_bounded_and_drops_the_oldest() {
        let l = MemoryLocal::new();
        assert_eq!(l.push(&[row("192.0.2.1"), row("192.0.2.2")], 3).unwrap(), 0);
        assert_eq!(l.push(&[row("192.0.2.3"), row("192.0.2.4")], 3).unwrap(), 1);
        let rows = l.peek(10).unwrap();
        let ips: Vec<&str> = rows.iter().map(|(_, r)| r.ip.as_str()).collect();
        assert_eq!(ips, ["192.0.2.2", "192.0.2.3", "192.0.2.4"]);
        l.remove_through(rows[1].0).unwrap();
        assert_eq!(l.outbox_len().unwrap(), 1);
    }

    #[test]
    fn positions_belong_to_one_database() {
        let l = MemoryLocal::new();
        assert_eq!(l.position("db1").unwrap(), 0);
        l.set_position("db1", 42).unwrap();
        assert_eq!(l.position("db1").unwrap(), 42);
        assert_eq!(
            l.position("db2").unwrap(),
            0,
            "another database starts at 0"
        );
    }
}
