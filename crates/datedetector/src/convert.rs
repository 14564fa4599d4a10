//! Turning the named groups of a date match into a Unix timestamp.
//!
//! This follows fail2ban's strptime variant field by field (see the spec,
//! §2.7 "Conversion"). Python works on *naive* `datetime` values and only at
//! the very end decides whether they are UTC (a zone was known) or local wall
//! clock (`mktime`). The year/day guessing compares those naive values with
//! the naive local "now", even when the date has already been shifted to UTC.
//! That mix is kept on purpose: it decides which year a date lands in.
//!
//! Naive values are represented as seconds since 0001-01-01T00:00:00 in the
//! proleptic Gregorian calendar (an `i64`), which keeps the arithmetic exact
//! and lets us check Python's `datetime` range (years 1..=9999) explicitly.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Why a matched date could not be turned into a timestamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConversionFailure {
    /// The date text is not a valid date (month 13, Feb 30, hour 24, an
    /// unparsable zone, ...). fail2ban logs "findFailure failed to parse
    /// timeText" and falls back to the last known date or now.
    Invalid(String),
    /// An upper-case zone abbreviation that is not in the fixed table.
    /// fail2ban raises an uncaught `KeyError` here, so the whole line fails
    /// ("Failed to process line"); the caller may want to mimic that.
    UnknownZone(String),
}

impl std::fmt::Display for ConversionFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConversionFailure::Invalid(m) => write!(f, "invalid date: {m}"),
            ConversionFailure::UnknownZone(z) => write!(f, "unknown time zone abbreviation {z:?}"),
        }
    }
}

type Conv<T> = Result<T, ConversionFailure>;

fn invalid<T>(msg: impl Into<String>) -> Conv<T> {
    Err(ConversionFailure::Invalid(msg.into()))
}

/// Zone abbreviations and their fixed offsets in minutes east of UTC.
///
/// This is the table fail2ban uses (it has no DST awareness: `CET` is always
/// +60 even in summer). The odd entries (`ChST` in mixed case, military
/// single letters) are kept because they change what parses.
const ZONE_ABBREVIATIONS: &[(i32, &[&str])] = &[
    (-720, &["Y"]),
    (-660, &["X", "NUT", "SST"]),
    (-600, &["W", "CKT", "HAST", "HST", "TAHT", "TKT"]),
    (-540, &["V", "AKST", "GAMT", "GIT", "HADT", "HNY"]),
    (-480, &["U", "AKDT", "CIST", "HAY", "HNP", "PST", "PT"]),
    (-420, &["T", "HAP", "HNR", "MST", "PDT"]),
    (-360, &["S", "CST", "EAST", "GALT", "HAR", "HNC", "MDT"]),
    (
        -300,
        &[
            "R", "CDT", "COT", "EASST", "ECT", "EST", "ET", "HAC", "HNE", "PET",
        ],
    ),
    (
        -240,
        &[
            "Q", "AST", "BOT", "CLT", "COST", "EDT", "FKT", "GYT", "HAE", "HNA", "PYT",
        ],
    ),
    (
        -180,
        &[
            "P", "ADT", "ART", "BRT", "CLST", "FKST", "GFT", "HAA", "PMST", "PYST", "SRT", "UYT",
            "WGT",
        ],
    ),
    (-120, &["O", "BRST", "FNT", "PMDT", "UYST", "WGST"]),
    (-60, &["N", "AZOT", "CVT", "EGT"]),
    (0, &["Z", "EGST", "GMT", "UTC", "WET", "WT"]),
    (60, &["A", "CET", "DFT", "WAT", "WEDT", "WEST"]),
    (120, &["B", "CAT", "CEDT", "CEST", "EET", "SAST", "WAST"]),
    (180, &["C", "EAT", "EEDT", "EEST", "IDT", "MSK"]),
    (
        240,
        &[
            "D", "AMT", "AZT", "GET", "GST", "KUYT", "MSD", "MUT", "RET", "SAMT", "SCT",
        ],
    ),
    (
        300,
        &[
            "E", "AMST", "AQTT", "AZST", "HMT", "MAWT", "MVT", "PKT", "TFT", "TJT", "TMT", "UZT",
            "YEKT",
        ],
    ),
    (
        360,
        &[
            "F", "ALMT", "BIOT", "BTT", "IOT", "KGT", "NOVT", "OMST", "YEKST",
        ],
    ),
    (
        420,
        &[
            "G", "CXT", "DAVT", "HOVT", "ICT", "KRAT", "NOVST", "OMSST", "THA", "WIB",
        ],
    ),
    (
        480,
        &[
            "H", "ACT", "AWST", "BDT", "BNT", "CAST", "HKT", "IRKT", "KRAST", "MYT", "PHT", "SGT",
            "ULAT", "WITA", "WST",
        ],
    ),
    (
        540,
        &[
            "I", "AWDT", "IRKST", "JST", "KST", "PWT", "TLT", "WDT", "WIT", "YAKT",
        ],
    ),
    (600, &["K", "AEST", "ChST", "PGT", "VLAT", "YAKST", "YAPT"]),
    (
        660,
        &[
            "L", "AEDT", "LHDT", "MAGT", "NCT", "PONT", "SBT", "VLAST", "VUT",
        ],
    ),
    (
        720,
        &[
            "M", "ANAST", "ANAT", "FJT", "GILT", "MAGST", "MHT", "NZST", "PETST", "PETT", "TVT",
            "WFT",
        ],
    ),
    (780, &["FJST", "NZDT"]),
    (690, &["NFT"]),
    (630, &["ACDT", "LHST"]),
    (570, &["ACST"]),
    (390, &["CCT", "MMT"]),
    (345, &["NPT"]),
    (330, &["SLT"]),
    (270, &["AFT", "IRDT"]),
    (210, &["IRST"]),
    (-150, &["HAT", "NDT"]),
    (-210, &["HNT", "NST", "NT"]),
    (-270, &["HLV", "VET"]),
    (-570, &["MART", "MIT"]),
];

fn abbreviation_offset(abbr: &str) -> Option<i32> {
    ZONE_ABBREVIATIONS
        .iter()
        .find(|(_, names)| names.contains(&abbr))
        .map(|(off, _)| *off)
}

/// Parse a zone written as `ABBR`, `±hh`, `±hhmm`, `±hh:mm` or an
/// abbreviation followed by an offset (`CET+0100`, which *adds* both, as
/// fail2ban does). Returns minutes east of UTC.
///
/// The accepted shape is `([A-Z](?:[A-Z]{2,4})?)?([+-][01]\d(?::?\d{2})?)?`
/// over the whole string (a single trailing newline is tolerated, like
/// Python's `$`). Anything else is [`ConversionFailure::Invalid`]; a
/// well-formed but unknown abbreviation is [`ConversionFailure::UnknownZone`].
pub fn parse_zone(tz: &str) -> Conv<i32> {
    let body = tz.strip_suffix('\n').unwrap_or(tz);
    let letters = body.bytes().take_while(|b| b.is_ascii_uppercase()).count();
    if !matches!(letters, 0 | 1 | 3..=5) {
        return invalid(format!("unknown or unsupported time zone: {tz:?}"));
    }
    let (abbr, rest) = body.split_at(letters);
    let offset = if rest.is_empty() {
        0
    } else {
        match parse_offset(rest) {
            Some(m) => m,
            None => return invalid(format!("unknown or unsupported time zone: {tz:?}")),
        }
    };
    let base = if abbr.is_empty() {
        0
    } else {
        match abbreviation_offset(abbr) {
            Some(b) => b,
            None => return Err(ConversionFailure::UnknownZone(abbr.to_string())),
        }
    };
    Ok(base + offset)
}

/// `[+-][01]\d(?::?\d{2})?` exactly, to minutes east of UTC.
fn parse_offset(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digit = |i: usize| -> Option<i32> {
        b.get(i)
            .filter(|c| c.is_ascii_digit())
            .map(|c| i32::from(c - b'0'))
    };
    if !matches!(b.get(1), Some(b'0' | b'1')) {
        return None;
    }
    let hh = digit(1)? * 10 + digit(2)?;
    let mm = match b.len() {
        3 => return Some(sign * hh * 60),
        5 => digit(3)? * 10 + digit(4)?,
        6 if b[3] == b':' => digit(4)? * 10 + digit(5)?,
        _ => return None,
    };
    Some(sign * (hh * 60 + mm))
}

/// Replace Unicode decimal digits (`\p{Nd}`, which the templates' `\d`
/// matches, as Python's does) by ASCII ones, so that `int()`/`float()`-like
/// parsing agrees with Python for e.g. Arabic-Indic or full-width digits.
/// Other characters are kept.
pub(crate) fn ascii_digits(v: &str) -> std::borrow::Cow<'_, str> {
    if v.is_ascii() {
        return std::borrow::Cow::Borrowed(v);
    }
    static ND: std::sync::OnceLock<Option<gaoler_matcher::Regex>> = std::sync::OnceLock::new();
    let nd = ND.get_or_init(|| {
        // `\d` is exactly `\p{Nd}` in the matcher's Unicode (UCP) mode.
        gaoler_matcher::Regex::new_pcre2(r"^\d\Z", gaoler_matcher::Options::default()).ok()
    });
    let is_nd = |c: char| {
        let mut b = [0u8; 4];
        nd.as_ref()
            .is_some_and(|re| re.is_match(c.encode_utf8(&mut b)).unwrap_or(false))
    };
    let out = v
        .chars()
        .map(|c| {
            if c.is_ascii() || !is_nd(c) {
                return c;
            }
            // Unicode lays decimal digits out in runs of ten, zero first:
            // the value is the distance to the start of the run, modulo 10.
            let mut start = c as u32;
            while let Some(p) = start.checked_sub(1).and_then(char::from_u32) {
                if !is_nd(p) {
                    break;
                }
                start -= 1;
            }
            char::from(b'0' + ((c as u32 - start) % 10) as u8)
        })
        .collect();
    std::borrow::Cow::Owned(out)
}

/// Parse a decimal field like Python's `int()` (surrounding whitespace
/// allowed, Unicode digits accepted).
fn int(v: &str) -> Conv<i64> {
    let a = ascii_digits(v);
    let t = a.trim_matches(|c: char| c.is_whitespace());
    if t.is_empty() || t.len() > 18 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return invalid(format!("not a number: {v:?}"));
    }
    t.parse::<i64>()
        .or_else(|_| invalid(format!("not a number: {v:?}")))
}

const MONTHS_FULL: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const DAYS_FULL: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

fn name_index(names: &[&str], v: &str, abbreviated: bool) -> Conv<i64> {
    let lower = v.to_lowercase();
    names
        .iter()
        .position(|n| {
            if abbreviated {
                n.get(..3) == Some(lower.as_str())
            } else {
                *n == lower
            }
        })
        .map(|p| p as i64)
        .ok_or_else(|| ConversionFailure::Invalid(format!("unknown name {v:?}")))
}

// ---- proleptic Gregorian helpers (days counted from 0001-01-01 = day 0) ----

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 0001-01-01 (Python's `toordinal() - 1`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    // Shift the year so that it starts in March; leap days fall at the end.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    // 719468 = days from 0000-03-01 to 1970-01-01; 719162 = 0001-01-01 to 1970-01-01.
    era * 146097 + doe - 719468 + 719162
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days - 719162 + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// Naive datetime as seconds since 0001-01-01T00:00:00.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
struct Naive(i64);

const NAIVE_UNIX_EPOCH: i64 = 719162 * 86400;
const NAIVE_MAX: i64 = (days_from_civil_const(10000)) * 86400;

const fn days_from_civil_const(year: i64) -> i64 {
    // Days before January 1st of `year` (year >= 1).
    let y = year - 1;
    y * 365 + y / 4 - y / 100 + y / 400
}

impl Naive {
    fn new(y: i64, m: i64, d: i64, hh: i64, mm: i64, ss: i64) -> Conv<Naive> {
        if !(1..=9999).contains(&y) {
            return invalid(format!("year {y} is out of range"));
        }
        if !(1..=12).contains(&m) {
            return invalid("month must be in 1..12");
        }
        if d < 1 || d > days_in_month(y, m) {
            return invalid("day is out of range for month");
        }
        if !(0..24).contains(&hh) {
            return invalid("hour must be in 0..23");
        }
        if !(0..60).contains(&mm) {
            return invalid("minute must be in 0..59");
        }
        if !(0..60).contains(&ss) {
            return invalid("second must be in 0..59");
        }
        Ok(Naive(
            days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss,
        ))
    }

    fn add_seconds(self, s: i64) -> Conv<Naive> {
        let v = self.0 + s;
        if (0..NAIVE_MAX).contains(&v) {
            Ok(Naive(v))
        } else {
            invalid("date value out of range")
        }
    }

    fn fields(self) -> (i64, i64, i64, i64, i64, i64) {
        let (y, m, d) = civil_from_days(self.0.div_euclid(86400));
        let s = self.0.rem_euclid(86400);
        (y, m, d, s / 3600, s / 60 % 60, s % 60)
    }
}

/// The injected clock, as Python's naive local `datetime.fromtimestamp(now)`
/// (kept with its fraction for the "is it in the future" comparisons).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LocalNow {
    naive: f64,
    year: i64,
    month: i64,
    day: i64,
}

impl LocalNow {
    pub(crate) fn new(now: f64, tz: &TimeZone) -> Option<LocalNow> {
        if !now.is_finite() {
            return None;
        }
        let whole = now.floor();
        let frac = now - whole;
        let ts = Timestamp::from_second(whole as i64).ok()?;
        let dt = tz.to_datetime(ts);
        let (y, m, d) = (
            i64::from(dt.year()),
            i64::from(dt.month()),
            i64::from(dt.day()),
        );
        let n = Naive::new(
            y,
            m,
            d,
            i64::from(dt.hour()),
            i64::from(dt.minute()),
            i64::from(dt.second()),
        )
        .ok()?;
        Some(LocalNow {
            naive: n.0 as f64 + frac,
            year: y,
            month: m,
            day: d,
        })
    }

    pub(crate) fn year(&self) -> i64 {
        self.year
    }
}

/// Day of the year (1-based, may fall outside the year) from a week number
/// and weekday, the way C/Python strptime derive it for `%U`/`%W`.
/// `weekday` is 0 = Monday .. 6 = Sunday.
fn julian_from_week(year: i64, week: i64, weekday: i64, week_starts_monday: bool) -> i64 {
    // Weekday of January 1st, 0 = Monday (0001-01-01 was a Monday).
    let mut first = days_from_civil(year, 1, 1).rem_euclid(7);
    let mut wd = weekday;
    if !week_starts_monday {
        first = (first + 1) % 7;
        wd = (wd + 1) % 7;
    }
    let week0_len = (7 - first) % 7;
    if week == 0 {
        1 + wd - first
    } else {
        1 + week0_len + 7 * (week - 1) + wd
    }
}

/// Whether [`groups_to_time`] reads a group of this name (the others, such
/// as `f`, `_sep` or user groups, carry no part of the timestamp).
pub(crate) fn is_field(name: &str) -> bool {
    matches!(
        name,
        "y" | "Y"
            | "m"
            | "B"
            | "b"
            | "d"
            | "H"
            | "I"
            | "p"
            | "M"
            | "S"
            | "A"
            | "a"
            | "w"
            | "j"
            | "U"
            | "W"
            | "z"
            | "Z"
    )
}

/// What a date match contributes, with `default_tz` = `logtimezone` in
/// minutes east of UTC.
pub(crate) fn groups_to_time(
    groups: &[(&str, &str)],
    default_tz: Option<i32>,
    local: &TimeZone,
    now: Option<&LocalNow>,
) -> Conv<f64> {
    let mut year: Option<i64> = None;
    let mut month: Option<i64> = None;
    let mut day: Option<i64> = None;
    let (mut hour, mut minute, mut second) = (0i64, 0i64, 0i64);
    let mut tzoffset: Option<i32> = None;
    let mut weekday: Option<i64> = None;
    let mut julian: Option<i64> = None;
    let mut week: Option<(i64, bool)> = None;
    let ampm = groups
        .iter()
        .find(|(k, _)| *k == "p")
        .map(|(_, v)| v.to_lowercase())
        .unwrap_or_default();

    // Later groups override earlier ones, as in Python's dict iteration.
    for &(key, val) in groups {
        match key {
            "y" => {
                let y = int(val)?;
                // fail2ban puts two-digit years in this century, even 00..
                year = Some(if y <= 2000 { y + 2000 } else { y });
            }
            "Y" => year = Some(int(val)?),
            "m" => month = Some(int(val)?),
            "B" => month = Some(name_index(&MONTHS_FULL, val, false)? + 1),
            "b" => month = Some(name_index(&MONTHS_FULL, val, true)? + 1),
            "d" => day = Some(int(val)?),
            "H" => hour = int(val)?,
            "I" => {
                hour = int(val)?;
                // No AM/PM counts as AM: 12 AM is midnight, 12 PM is noon.
                match ampm.as_str() {
                    "" | "am" if hour == 12 => hour = 0,
                    "pm" if hour != 12 => hour += 12,
                    _ => {}
                }
            }
            "M" => minute = int(val)?,
            "S" => second = int(val)?,
            "A" => weekday = Some(name_index(&DAYS_FULL, val, false)?),
            "a" => weekday = Some(name_index(&DAYS_FULL, val, true)?),
            "w" => {
                let w = int(val)? - 1;
                weekday = Some(if w < 0 { 6 } else { w });
            }
            "j" => julian = Some(int(val)?),
            "U" => week = Some((int(val)?, false)),
            "W" => week = Some((int(val)?, true)),
            "z" | "Z" => {
                tzoffset = Some(if matches!(val, "Z" | "UTC" | "GMT") {
                    0
                } else {
                    parse_zone(val)?
                });
            }
            // `f` (sub-seconds) is parsed but deliberately dropped; other
            // groups (`_sep`, `G`, `u`, `V`, user names) carry no date part.
            _ => {}
        }
    }

    let mut assume_year = false;
    let year = match year {
        Some(y) => y,
        None => {
            assume_year = true;
            now.ok_or_else(|| ConversionFailure::Invalid("no current time".into()))?
                .year
        }
    };
    let (mut year, mut month, mut day) = (year, month, day);
    if month.is_none() || day.is_none() {
        if julian.is_none() {
            if let (Some((w, monday)), Some(wd)) = (week, weekday) {
                julian = Some(julian_from_week(year, w, wd, monday));
            }
        }
        if let Some(j) = julian {
            if !(1..=9999).contains(&year) {
                return invalid(format!("year {year} is out of range"));
            }
            let days = j - 1 + days_from_civil(year, 1, 1);
            if !(0..NAIVE_MAX / 86400).contains(&days) {
                return invalid("day of year out of range");
            }
            let (y, m, d) = civil_from_days(days);
            year = y;
            month = Some(m);
            day = Some(d);
        }
    }
    let mut assume_today = false;
    if month.is_none() && day.is_none() {
        let n = now.ok_or_else(|| ConversionFailure::Invalid("no current time".into()))?;
        month = Some(n.month);
        day = Some(n.day);
        assume_today = true;
    }
    let (Some(month), Some(day)) = (month, day) else {
        // Python fails with a TypeError here (month without day or the reverse).
        return invalid("incomplete date: month or day missing");
    };
    let mut date = Naive::new(year, month, day, hour, minute, second)?;
    if tzoffset.is_none() {
        tzoffset = default_tz;
    }
    if let Some(off) = tzoffset {
        date = date.add_seconds(-i64::from(off) * 60)?;
    }
    if assume_today {
        if let Some(n) = now {
            if date.0 as f64 > n.naive {
                // A time-only date later than now is from yesterday.
                date = date.add_seconds(-86400)?;
            }
        }
    }
    if assume_year {
        if let Some(n) = now {
            if date.0 as f64 > n.naive + 86400.0 {
                // Last year's date; month and day come back from the line,
                // the (possibly zone-shifted) clock time stays.
                let (_, _, _, hh, mm, ss) = date.fields();
                date = Naive::new(year - 1, month, day, hh, mm, ss)?;
            }
        }
    }
    if tzoffset.is_some() {
        return Ok((date.0 - NAIVE_UNIX_EPOCH) as f64);
    }
    let (y, m, d, hh, mm, ss) = date.fields();
    // Ranges were validated by `Naive`, so these casts cannot truncate.
    let dt = DateTime::new(y as i16, m as i8, d as i8, hh as i8, mm as i8, ss as i8, 0)
        .or_else(|e| invalid(e.to_string()))?;
    // glibc's mktime (tm_isdst = -1) moves a time in a DST gap forward. In a
    // fold it keeps the offset of its previous call (process-wide state);
    // for logs read in order that is mostly the DST offset, i.e. the earlier
    // instant. jiff's `compatible` is exactly "gap: later, fold: earlier".
    let ts = local
        .to_ambiguous_timestamp(dt)
        .compatible()
        .or_else(|e| invalid(e.to_string()))?;
    Ok(ts.as_second() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [0i64, 1, 59, 60, 365, 719162, 730000, 2_000_000, 3_652_058] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(days_from_civil(1970, 1, 1), 719162);
        assert_eq!(days_from_civil(1, 1, 1), 0);
        assert_eq!(NAIVE_MAX / 86400, days_from_civil(10000, 1, 1));
    }

    #[test]
    fn zones() {
        assert_eq!(parse_zone("CET"), Ok(60));
        assert_eq!(parse_zone("PDT"), Ok(-420));
        assert_eq!(parse_zone("NPT"), Ok(345));
        assert_eq!(parse_zone("+0200"), Ok(120));
        assert_eq!(parse_zone("-02:30"), Ok(-150));
        assert_eq!(parse_zone("-05"), Ok(-300));
        assert_eq!(parse_zone("-0030"), Ok(-30));
        assert_eq!(parse_zone("UTC+0200"), Ok(120));
        assert_eq!(parse_zone("CET+0100"), Ok(120));
        assert_eq!(parse_zone("GMT-0100"), Ok(-60));
        assert_eq!(parse_zone(""), Ok(0));
        assert!(matches!(
            parse_zone("IST"),
            Err(ConversionFailure::UnknownZone(_))
        ));
        assert!(matches!(
            parse_zone("AB"),
            Err(ConversionFailure::Invalid(_))
        ));
        assert!(matches!(
            parse_zone("utc"),
            Err(ConversionFailure::Invalid(_))
        ));
        assert!(matches!(
            parse_zone("+2000"),
            Err(ConversionFailure::Invalid(_))
        ));
        assert!(matches!(
            parse_zone("+02000"),
            Err(ConversionFailure::Invalid(_))
        ));
        assert!(matches!(
            parse_zone("Europe/Paris"),
            Err(ConversionFailure::Invalid(_))
        ));
    }

    #[test]
    fn julian_weeks() {
        // 2005-01-01 was a Saturday. %W week 0, Saturday (5) -> Jan 1.
        assert_eq!(julian_from_week(2005, 0, 5, true), 1);
        // %W week 1 Monday -> Jan 3.
        assert_eq!(julian_from_week(2005, 1, 0, true), 3);
        // %U week 1 Sunday (6) -> Jan 2.
        assert_eq!(julian_from_week(2005, 1, 6, false), 2);
    }
}
