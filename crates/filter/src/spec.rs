//! What a filter is asked and what it answers: [`FilterSpec`], [`Failure`],
//! [`LineOutcome`], [`UseDns`] and [`FilterError`].

use super::*;

/// Errors building a filter. Each carries the offending regex text.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// An empty failregex or ignoreregex (fail2ban refuses it too).
    #[error("Cannot add empty regex")]
    EmptyRegex,
    /// A regex that does not compile.
    #[error("Unable to compile regular expression '{regex}': {message}")]
    Compile {
        /// The regex, as given.
        regex: String,
        /// The engine's message.
        message: String,
    },
    /// A failregex without `<HOST>` or another group that names the failure.
    #[error("No failure-id group in '{regex}'")]
    NoFailureId {
        /// The regex, as given.
        regex: String,
    },
    /// The regex engine failed on a line.
    #[error("regex match failed for '{regex}': {message}")]
    Match {
        /// The regex, as given.
        regex: String,
        /// The engine's message.
        message: String,
    },
    /// The regex could not finish its search within the matcher's limits
    /// (see `gaoler_matcher::Exhausted`): the line was not evaluated.
    #[error("line not evaluated, regex '{regex}': {reason}")]
    Exhausted {
        /// The regex, as given.
        regex: String,
        /// Which limit it hit.
        reason: String,
    },
    /// An invalid `datepattern`.
    #[error("date detector: {0}")]
    Date(String),
}

impl FilterError {
    /// A matcher error of `regex`, keeping "ran out of resources" apart.
    pub(crate) fn from_match(regex: &str, e: gaoler_matcher::Error) -> FilterError {
        match e {
            gaoler_matcher::Error::Exhausted(x) => FilterError::Exhausted {
                regex: regex.to_string(),
                reason: x.to_string(),
            },
            e => FilterError::Match {
                regex: regex.to_string(),
                message: e.to_string(),
            },
        }
    }
}

/// A line's error as [`LineOutcome::unevaluated`]: an unfinished search is
/// the caller's to count; any other error is a bug, logged here.
pub(crate) fn unevaluated(e: FilterError) -> Option<String> {
    match e {
        FilterError::Exhausted { .. } => Some(e.to_string()),
        e => {
            tracing::error!("Failed to process line: {e}");
            None
        }
    }
}

/// `usedns` jail option.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UseDns {
    /// Resolve host names to addresses.
    Yes,
    /// Resolve them, and warn that a name was used.
    #[default]
    Warn,
    /// Drop failures that name a host instead of an address.
    No,
    /// Keep what the regex captured as the ID, unresolved.
    Raw,
}

impl UseDns {
    /// The value's name, as `get J usedns` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            UseDns::Yes => "yes",
            UseDns::Warn => "warn",
            UseDns::No => "no",
            UseDns::Raw => "raw",
        }
    }
}

impl std::str::FromStr for UseDns {
    type Err = String;
    fn from_str(s: &str) -> Result<UseDns, String> {
        match s.to_ascii_lowercase().as_str() {
            "yes" | "true" | "on" | "1" => Ok(UseDns::Yes),
            "warn" => Ok(UseDns::Warn),
            "no" | "false" | "off" | "0" => Ok(UseDns::No),
            "raw" => Ok(UseDns::Raw),
            other => Err(format!("invalid usedns value {other:?}")),
        }
    }
}

/// fail2ban expands `<HOST>` when a regex is added, by the jail's `usedns`
/// at that moment (`no`: addresses only): a later `set J usedns` changes
/// the regexes added after it, not those before. The server and the
/// start-up check pin the tag to the form it had when added.
pub fn pin_host(regex: &str, usedns: UseDns) -> String {
    if usedns == UseDns::No {
        regex.replace("<HOST>", "<ADDR>")
    } else {
        regex.replace("<HOST>", "(?:<ADDR>|<DNS>)")
    }
}

/// Compiles one regex (a failregex with the jail's `prefregex`, which can
/// supply the failure id, or an ignoreregex), so that a bad one is
/// refused when it is set, as fail2ban does, rather than when the jail
/// starts.
pub fn check_regex(prefregex: Option<&str>, regex: &str, fail: bool) -> Result<(), FilterError> {
    let spec = if fail {
        FilterSpec {
            prefregex: prefregex.map(str::to_owned),
            failregex: vec![regex.to_owned()],
            ..Default::default()
        }
    } else {
        FilterSpec {
            ignoreregex: vec![regex.to_owned()],
            ..Default::default()
        }
    };
    crate::Filter::new(spec).map(|_| ())
}

/// One candidate failure (`[regexIndex, ID, time, data]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// The failregex that matched (its index in [`FilterSpec::failregex`]).
    pub regex_index: usize,
    /// `None` for a pending mlfid failure (no ID known yet).
    pub id: Option<Addr>,
    /// `None` only when no date could be found or assumed (never in server
    /// mode with `check_find_time`).
    pub time: Option<f64>,
    /// Its `F-*` groups and other captures, and the matched lines.
    pub data: Data,
}

impl Failure {
    /// "Not a failure by itself" (`<F-NOFAIL>`, `<F-MLFGAINED>`).
    pub fn is_nofail(&self) -> bool {
        self.data.get("nofail").is_some_and(Value::is_truthy)
    }
    /// A multi-line failure whose ID is not known yet.
    pub fn is_pending(&self) -> bool {
        self.id.is_none()
    }
    /// Counts for the jail / samples: has an ID and is not nofail.
    pub fn is_real(&self) -> bool {
        !self.is_pending() && !self.is_nofail()
    }
    /// The log lines that made the failure.
    pub fn matches(&self) -> &[String] {
        match self.data.get("matches") {
            Some(Value::Lines(l)) => l,
            _ => &[],
        }
    }
    /// A text field of its data (`user`, `ip`, …).
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.data.get(key).and_then(Value::as_str)
    }
}

/// Everything that configures a filter.
#[derive(Clone, Debug)]
pub struct FilterSpec {
    /// `prefregex`: applied first; failregexes see its `<F-CONTENT>`.
    pub prefregex: Option<String>,
    /// `failregex`, one entry per regex.
    pub failregex: Vec<String>,
    /// `ignoreregex`, one entry per regex.
    pub ignoreregex: Vec<String>,
    /// Lines in the multi-line buffer (0 is treated as 1).
    pub maxlines: usize,
    /// `None` or `{DEFAULT}`: default templates.
    pub datepattern: Option<String>,
    /// `logtimezone`: the zone of dates without one.
    pub logtimezone: Option<String>,
    /// `usedns`.
    pub usedns: UseDns,
    /// DNS names become raw IDs (fail2ban-regex `--raw`, sample tests).
    pub return_raw_host: bool,
    /// Report every matching failregex (fail2ban-regex, tests) rather than
    /// stopping at the first (server).
    pub check_all_regex: bool,
    /// Server-mode time sanity: `Some(findtime)` enables `checkFindTime`.
    pub check_find_time: Option<f64>,
    /// Disable the literal prefilter (parse every line's date).
    pub eager_dates: bool,
    /// In first-match mode, drop failures whose ID is still unknown (mlfid
    /// pending) instead of returning them (upstream `ignorePending`).
    pub ignore_pending: bool,
    /// Report for every line whether the prefregex matches it
    /// ([`LineOutcome::prefregex`], fail2ban-regex's statistics).
    pub count_prefregex: bool,
    /// Failures carry their data and matched lines. Off, no matched lines
    /// are kept, and a failure whose data the mlfid cache keeps carries only
    /// its `nofail` flag (enough to count it), which saves copying the
    /// data: for callers that only count.
    pub failure_data: bool,
}

impl Default for FilterSpec {
    fn default() -> Self {
        FilterSpec {
            prefregex: None,
            failregex: Vec::new(),
            ignoreregex: Vec::new(),
            maxlines: 1,
            datepattern: None,
            logtimezone: None,
            usedns: UseDns::Warn,
            return_raw_host: false,
            check_all_regex: false,
            check_find_time: None,
            eager_dates: false,
            ignore_pending: true,
            count_prefregex: false,
            failure_data: true,
        }
    }
}

/// Detailed outcome of one line (for fail2ban-regex style reporting).
#[derive(Clone, Debug, Default)]
pub struct LineOutcome {
    /// The failures found (empty when an ignoreregex hit).
    pub failures: Vec<Failure>,
    /// Indices of ignoreregexes that hit. With the prefilter active, lines
    /// that cannot match any failregex never reach the ignoreregexes, so no
    /// hit is recorded for them (use `eager_dates` for full statistics).
    pub ignored_by: Vec<usize>,
    /// The date found on this line, if one was searched and found.
    pub date: Option<DateHit>,
    /// The line never got past the literal prefilter.
    pub prefiltered: bool,
    /// Whether the prefregex matches the line without its date (with
    /// [`FilterSpec::count_prefregex`], single-line buffers, lines past
    /// the literal prefilter).
    pub prefregex: Option<bool>,
    /// A regex could not finish its search on this line within the
    /// matcher's limits (`gaoler_matcher::Exhausted`): why. The line was
    /// evaluated by the regexes that could, or not at all when the
    /// prefregex or an ignoreregex was the one. Callers count such lines
    /// and report them (they are lines an attacker may craft to hide).
    pub unevaluated: Option<String>,
}
