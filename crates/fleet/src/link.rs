//! The connection's state as the log tells it: one WARNING when the
//! database becomes unreachable (or is unreachable at start), one INFO
//! when it is back, nothing for the retries in between. A daemon that
//! cannot reach its database for a day must not write a line per retry.

/// What to log after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// The connection is lost (or could not be made at start).
    Lost(String),
    /// The connection is back after a loss.
    Back,
    /// The first connection (no loss before it).
    Connected,
}

/// Connected or not, and whether a loss was already reported.
#[derive(Debug, Clone, Default)]
pub struct LinkState {
    up: bool,
    reported_down: bool,
    ever_up: bool,
}

impl LinkState {
    /// A new state: not connected, nothing reported.
    pub fn new() -> LinkState {
        LinkState::default()
    }

    /// Whether the last attempt succeeded.
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// An attempt or an operation failed with `error`: the report, the
    /// first time only.
    pub fn failed(&mut self, error: &str) -> Option<Report> {
        self.up = false;
        if self.reported_down {
            return None;
        }
        self.reported_down = true;
        Some(Report::Lost(error.to_owned()))
    }

    /// A connection was made.
    pub fn connected(&mut self) -> Option<Report> {
        if self.up {
            return None;
        }
        self.up = true;
        let first = !self.ever_up && !self.reported_down;
        self.ever_up = true;
        let was_down = std::mem::take(&mut self.reported_down);
        if first {
            Some(Report::Connected)
        } else if was_down {
            Some(Report::Back)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warning_per_outage_and_one_info_when_back() {
        let mut l = LinkState::new();
        assert_eq!(l.connected(), Some(Report::Connected));
        assert_eq!(l.failed("gone"), Some(Report::Lost("gone".into())));
        for _ in 0..10 {
            assert_eq!(l.failed("still gone"), None);
        }
        assert!(!l.is_up());
        assert_eq!(l.connected(), Some(Report::Back));
        assert!(l.is_up());
        assert_eq!(l.connected(), None);
        assert_eq!(l.failed("again"), Some(Report::Lost("again".into())));
    }

    #[test]
    fn unreachable_at_start_is_reported_once_then_back() {
        let mut l = LinkState::new();
        assert!(matches!(l.failed("refused"), Some(Report::Lost(_))));
        assert_eq!(l.failed("refused"), None);
        assert_eq!(l.connected(), Some(Report::Back));
    }
}
