//! fail2ban's annotated sample logs, as the sample tests read them: the
//! directive lines (`# failJSON: {...}`) and the times they give, which
//! are local times in upstream's test zone.
//!
//! One reader serves `gaoler test-samples` and the date detector's and
//! filter's own sample tests, so that they cannot disagree about what an
//! annotation says.

/// The zone upstream's sample runner sets (`TZ`): Central European, with
/// EU summer time.
pub const TEST_TZ: &str = "CET-01CEST-02,M3.5.0,M10.5.0";

/// A directive line, `^#+ ?(failJSON|fileOptions|filterOptions|addFILE):(.+)$`:
/// its kind and its text (JSON), or `None` for any other line.
pub fn directive(line: &str) -> Option<(&str, &str)> {
    let rest = line.trim_start_matches('#');
    if rest.len() == line.len() {
        return None;
    }
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    for kind in ["failJSON", "fileOptions", "filterOptions", "addFILE"] {
        if let Some(body) = rest.strip_prefix(kind).and_then(|r| r.strip_prefix(':')) {
            let body = body.trim_end_matches('\r');
            if body.is_empty() {
                return None;
            }
            return Some((kind, body));
        }
    }
    None
}

/// [`TEST_TZ`] as a zone.
pub fn test_tz() -> Option<jiff::tz::TimeZone> {
    jiff::tz::TimeZone::posix(TEST_TZ).ok()
}

/// A failJSON time (`YYYY-mm-ddTHH:MM:SS[.ffffff]`, local in the test zone)
/// → Unix time, like upstream's `mktime` (DST folds take the earlier time).
pub fn local_to_unix(s: &str) -> Option<f64> {
    // strptime("%Y-%m-%dT%H:%M:%S[.%f]"): fields other than the year may
    // have one or two digits (the corpus has `2005-03-7T02:09:33`).
    let (date, time) = s.split_once('T')?;
    let (hms, frac) = match time.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (time, None),
    };
    let num = |x: &str, max_len: usize| -> Option<i64> {
        (!x.is_empty() && x.len() <= max_len && x.bytes().all(|b| b.is_ascii_digit()))
            .then(|| x.parse().ok())
            .flatten()
    };
    let d: Vec<&str> = date.split('-').collect();
    let t: Vec<&str> = hms.split(':').collect();
    if d.len() != 3 || t.len() != 3 {
        return None;
    }
    let dt = jiff::civil::DateTime::new(
        i16::try_from(num(d[0], 4)?).ok()?,
        i8::try_from(num(d[1], 2)?).ok()?,
        i8::try_from(num(d[2], 2)?).ok()?,
        i8::try_from(num(t[0], 2)?).ok()?,
        i8::try_from(num(t[1], 2)?).ok()?,
        i8::try_from(num(t[2], 2)?).ok()?,
        0,
    )
    .ok()?;
    let tz = test_tz()?;
    let ts = tz.to_ambiguous_zoned(dt).compatible().ok()?.timestamp();
    let micros = match frac {
        Some(f) => format!("{f:0<6}")
            .parse::<u32>()
            .ok()
            .filter(|_| f.len() <= 6 && num(f, 6).is_some())?,
        None => 0,
    };
    Some(ts.as_second() as f64 + f64::from(micros) / 1e6)
}

/// Unix time → local ISO text in the test zone (for messages).
pub fn local_iso(t: f64) -> String {
    let Some(tz) = test_tz() else {
        return t.to_string();
    };
    let secs = t.floor();
    let micros = ((t - secs) * 1e6).round() as i64;
    match jiff::Timestamp::from_second(secs as i64) {
        Ok(ts) => {
            let z = ts.to_zoned(tz);
            let base = z.strftime("%Y-%m-%dT%H:%M:%S").to_string();
            if micros > 0 {
                format!("{base}.{micros:06}")
            } else {
                base
            }
        }
        Err(_) => t.to_string(),
    }
}
