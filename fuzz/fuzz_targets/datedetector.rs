//! The date detector on arbitrary lines, with the default templates or a
//! fuzzed `datepattern`.
//!
//! Input: `FLAGS [PATTERN \0] LINES`. FLAGS bit 0: a `datepattern` comes
//! first, up to the first NUL (one entry per line, as in a filter file);
//! bit 1: `logtimezone = UTC+0200`; bits 2-3 pick `now`. LINES are split
//! on `\n` and fed in order to one detector, so the template-order
//! heuristics (last winner first, bubbling up) take part.
//!
//! Checked, per line:
//! - no panic, and a date span is a non-empty-or-empty range on character
//!   boundaries inside the line, with a finite time;
//! - the hand-written recognisers (`fast.rs`) change nothing: a clone with
//!   [`DateDetector::disable_fast_paths`] finds the same hit, time and
//!   conversion failure on every line.

#![no_main]

use std::sync::OnceLock;

use gaoler_datedetector::DateDetector;
use libfuzzer_sys::fuzz_target;

const TZ: &str = "CET-01CEST-02,M3.5.0,M10.5.0";
const NOWS: [f64; 4] = [1_124_013_600.0, 1_767_225_599.5, 0.0, 4_102_444_800.0];

fn prepare(mut d: DateDetector, logtz: bool) -> DateDetector {
    d.set_local_timezone(TZ).expect("POSIX TZ");
    d.set_reference_year(Some(2026));
    if logtz {
        d.set_timezone(Some("UTC+0200")).expect("logtimezone");
    }
    d
}

/// The default detector, compiled once (31 PCRE2 templates).
fn default_detector() -> &'static DateDetector {
    static D: OnceLock<DateDetector> = OnceLock::new();
    D.get_or_init(|| prepare(DateDetector::new(None).expect("defaults"), false))
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Ok(rest) = std::str::from_utf8(rest) else {
        return;
    };
    let logtz = flags & 2 != 0;
    let now = NOWS[usize::from(flags >> 2) & 3];
    let (mut fast, lines) = if flags & 1 != 0 {
        let (pattern, lines) = rest.split_once('\0').unwrap_or((rest, ""));
        match DateDetector::new(Some(pattern)) {
            Ok(d) => (prepare(d, logtz), lines),
            // a bad pattern is a configuration error, reported with its text
            Err(e) => {
                assert!(!e.to_string().is_empty());
                return;
            }
        }
    } else {
        let mut d = default_detector().clone();
        if logtz {
            d.set_timezone(Some("UTC+0200")).expect("logtimezone");
        }
        (d, rest)
    };
    let mut slow = fast.clone();
    slow.disable_fast_paths();
    for line in lines.split('\n').take(64) {
        let a = fast.find(line, now);
        let b = slow.find(line, now);
        if let Some(h) = &a {
            assert!(h.start <= h.end && h.end <= line.len(), "{h:?} in {line:?}");
            assert!(
                line.is_char_boundary(h.start) && line.is_char_boundary(h.end),
                "{h:?} in {line:?}"
            );
            if let Some(t) = h.time {
                assert!(t.is_finite(), "{h:?} in {line:?}");
            }
        }
        assert_eq!(a, b, "fast path differs on {line:?}");
        assert_eq!(
            fast.last_failure().map(|f| f.to_string()),
            slow.last_failure().map(|f| f.to_string()),
            "conversion failure differs on {line:?}"
        );
    }
});
