//! Property tests: arbitrary lines and datepatterns never panic, and a found
//! date span always lies on character boundaries inside the line.

use gaoler_datedetector::DateDetector;
use proptest::prelude::*;

/// Lines built from date-like fragments, so that templates get close to
/// matching (and conversion runs) far more often than with random bytes.
fn datey_line() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("Jan ".to_string()),
        Just("feb ".to_string()),
        Just("Mon ".to_string()),
        Just("PDT ".to_string()),
        Just("IST ".to_string()),
        Just("+0200 ".to_string()),
        Just("2005-".to_string()),
        Just("1124013600".to_string()),
        Just("@4000000043a6c3e53b9aca00".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("audit(".to_string()),
        Just(":".to_string()),
        Just("/".to_string()),
        Just(" ".to_string()),
        Just("\0".to_string()),
        Just("é".to_string()),
        Just("AM ".to_string()),
        "[0-9]{1,4}",
        "[ -~]{0,6}",
        any::<char>().prop_map(|c| c.to_string()),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

fn datepattern() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("%Y".to_string()),
        Just("%ExY".to_string()),
        Just("%m".to_string()),
        Just("%d".to_string()),
        Just("%H".to_string()),
        Just("%k".to_string()),
        Just("%I".to_string()),
        Just("%p".to_string()),
        Just("%j".to_string()),
        Just("%U".to_string()),
        Just("%w".to_string()),
        Just("%b".to_string()),
        Just("%z".to_string()),
        Just("%Z".to_string()),
        Just("%Exz".to_string()),
        Just("{DATE}".to_string()),
        Just("{EPOCH}".to_string()),
        Just("{^LN-BEG}".to_string()),
        Just("{UNB}".to_string()),
        Just("**".to_string()),
        Just("^".to_string()),
        Just("$".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just("\n".to_string()),
        Just("%".to_string()),
        "[ -~]{0,3}",
    ];
    prop::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

fn check(dd: &mut DateDetector, line: &str, now: f64) {
    if let Some(h) = dd.find(line, now) {
        assert!(h.start <= h.end && h.end <= line.len());
        assert!(line.is_char_boundary(h.start) && line.is_char_boundary(h.end));
        assert!(h.template < dd.templates().len());
        if let Some(t) = h.time {
            assert!(t.is_finite());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn default_detector_never_panics(lines in prop::collection::vec(datey_line(), 1..6),
                                     now in prop_oneof![Just(1124013600.0), -1e12f64..1e12, Just(f64::NAN)]) {
        let mut dd = DateDetector::new(None).unwrap();
        dd.set_local_timezone("CET-01CEST-02,M3.5.0,M10.5.0").unwrap();
        for line in &lines {
            check(&mut dd, line, now);
        }
    }

    #[test]
    fn arbitrary_strings_never_panic(line in any::<String>()) {
        let mut dd = DateDetector::new(None).unwrap();
        check(&mut dd, &line, 1124013600.0);
    }

    #[test]
    fn arbitrary_datepatterns_never_panic(p in datepattern(), lines in prop::collection::vec(datey_line(), 1..4),
                                          tz in "[A-Z]{0,5}[+-]?[0-9:]{0,6}") {
        if let Ok(mut dd) = DateDetector::new(Some(&p)) {
            let _ = dd.set_timezone(Some(&tz));
            for line in &lines {
                check(&mut dd, line, 1124013600.0);
            }
        }
    }
}
