//! Date detection seam. Normally `gaoler_datedetector::DateDetector`; tests
//! and special callers may plug in their own [`DateFinder`].

pub use gaoler_datedetector::{DateDetector, DateHit};

use crate::FilterError;

/// Finds the date in a line (see `gaoler_datedetector::DateDetector::find`).
pub trait DateFinder: Send {
    /// The date in `line`, if any (`now` for dates without a year).
    fn find(&mut self, line: &str, now: f64) -> Option<DateHit>;
    /// The stock detector, when this is one (for template statistics and
    /// time zone changes).
    fn as_detector(&self) -> Option<&DateDetector> {
        None
    }
    /// [`DateFinder::as_detector`], to change.
    fn as_detector_mut(&mut self) -> Option<&mut DateDetector> {
        None
    }
}

impl DateFinder for DateDetector {
    fn find(&mut self, line: &str, now: f64) -> Option<DateHit> {
        DateDetector::find(self, line, now)
    }
    fn as_detector(&self) -> Option<&DateDetector> {
        Some(self)
    }
    fn as_detector_mut(&mut self) -> Option<&mut DateDetector> {
        Some(self)
    }
}

/// The stock detector for a `datepattern` / `logtimezone`.
pub fn default_finder(
    datepattern: Option<&str>,
    logtimezone: Option<&str>,
) -> Result<Box<dyn DateFinder>, FilterError> {
    let mut d = DateDetector::new(datepattern).map_err(|e| FilterError::Date(e.to_string()))?;
    d.set_timezone(logtimezone)
        .map_err(|e| FilterError::Date(e.to_string()))?;
    Ok(Box::new(d))
}
