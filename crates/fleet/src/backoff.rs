//! Exponential back-off between reconnection attempts.
//!
//! The first retry comes after [`Backoff::INITIAL`], each further one after
//! twice the last, up to a cap (`fleetretry`, 30 s by default; tests use a
//! short one). A success starts again from the beginning. No jitter: the
//! hosts of a fleet lose the database at the same moment, but a few
//! reconnects per host and cap are nothing for PostgreSQL, and fixed
//! delays keep the behaviour easy to reason about.

use std::time::Duration;

/// The delays between attempts.
#[derive(Debug, Clone)]
pub struct Backoff {
    cap: Duration,
    next: Duration,
}

impl Backoff {
    /// The first delay.
    pub const INITIAL: Duration = Duration::from_millis(500);
    /// The default cap.
    pub const DEFAULT_CAP: Duration = Duration::from_secs(30);

    /// Back-off up to `cap` (at least 50 ms).
    pub fn new(cap: Duration) -> Backoff {
        let cap = cap.max(Duration::from_millis(50));
        Backoff {
            cap,
            next: Self::INITIAL.min(cap),
        }
    }

    /// The delay before the next attempt, after a failure.
    pub fn failed(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.cap);
        d
    }

    /// An attempt succeeded: the next failure waits the first delay again.
    pub fn succeeded(&mut self) {
        self.next = Self::INITIAL.min(self.cap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(30));
        let d: Vec<u64> = (0..9).map(|_| b.failed().as_millis() as u64).collect();
        assert_eq!(d, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
        b.succeeded();
        assert_eq!(b.failed(), Duration::from_millis(500));
    }

    #[test]
    fn a_short_cap_bounds_even_the_first_delay() {
        let mut b = Backoff::new(Duration::from_millis(200));
        assert_eq!(b.failed(), Duration::from_millis(200));
        assert_eq!(b.failed(), Duration::from_millis(200));
        let mut b = Backoff::new(Duration::ZERO);
        assert_eq!(b.failed(), Duration::from_millis(50));
    }
}
