//! [`FilterOptions`]: a jail's filter as its command stream leaves it.

use gaoler_command::{CommandError, JailSet};

use crate::{FilterSpec, UseDns};

/// The options of a jail's filter as the command stream sets them (`set J
/// prefregex|addfailregex|addignoreregex|delfailregex|delignoreregex|
/// maxlines|datepattern|logtimezone|usedns`): the last value wins, the
/// regex lists grow. The server, `gaoler explain` and `gaoler lint` read
/// a jail's filter through this one type, and [`FilterOptions::spec`]
/// makes the [`FilterSpec`] a [`Filter`](crate::Filter) is built from.
///
/// Values are kept as the command gives them: checking that a regex
/// compiles, and pinning its `<HOST>` by the `usedns` of the moment
/// ([`crate::pin_host`]), are the server's, before it applies a command.
#[derive(Clone, Debug, PartialEq)]
pub struct FilterOptions {
    /// `prefregex` (none when empty).
    pub prefregex: Option<String>,
    /// The failregexes, in order.
    pub failregex: Vec<String>,
    /// The ignoreregexes, in order.
    pub ignoreregex: Vec<String>,
    /// `maxlines` (at least 1).
    pub maxlines: usize,
    /// `datepattern` (none when empty: the default detectors).
    pub datepattern: Option<String>,
    /// `logtimezone` (none when empty).
    pub logtimezone: Option<String>,
    /// `usedns`.
    pub usedns: UseDns,
}

impl Default for FilterOptions {
    /// fail2ban's filter before any command.
    fn default() -> Self {
        FilterOptions {
            prefregex: None,
            failregex: Vec::new(),
            ignoreregex: Vec::new(),
            maxlines: 1,
            datepattern: None,
            logtimezone: None,
            usedns: UseDns::Warn,
        }
    }
}

fn non_empty(v: &str) -> Option<String> {
    (!v.is_empty()).then(|| v.to_owned())
}

impl FilterOptions {
    /// Applies `option` as the server does when it is one of the
    /// filter's (`Ok(true)`); `Ok(false)` for every other option. Errors
    /// are the server's: an index that is not an int, or not in the list.
    /// An unknown `usedns` value is `no`, as in fail2ban (which warns).
    pub fn apply(&mut self, option: &JailSet) -> Result<bool, CommandError> {
        match option {
            JailSet::PrefRegex(v) => self.prefregex = non_empty(v),
            JailSet::AddFailRegex(list) => self.failregex.extend(list.iter().cloned()),
            JailSet::AddIgnoreRegex(list) => self.ignoreregex.extend(list.iter().cloned()),
            JailSet::DelFailRegex(v) => remove_at(&mut self.failregex, v)?,
            JailSet::DelIgnoreRegex(v) => remove_at(&mut self.ignoreregex, v)?,
            JailSet::MaxLines(v) => {
                let n = gaoler_py::int::json_int(v).map_err(CommandError::Invalid)?;
                self.maxlines = n.max(1) as usize;
            }
            JailSet::DatePattern(v) => self.datepattern = non_empty(v),
            JailSet::LogTimeZone(v) => self.logtimezone = non_empty(v),
            JailSet::UseDns(v) => self.usedns = v.parse().unwrap_or(UseDns::No),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The spec for a [`Filter`](crate::Filter) (fail2ban's other
    /// defaults: dates searched lazily, no findtime check).
    pub fn spec(&self) -> FilterSpec {
        FilterSpec {
            prefregex: self.prefregex.clone(),
            failregex: self.failregex.clone(),
            ignoreregex: self.ignoreregex.clone(),
            maxlines: self.maxlines.max(1),
            datepattern: self.datepattern.clone(),
            logtimezone: self.logtimezone.clone(),
            usedns: self.usedns,
            ..FilterSpec::default()
        }
    }
}

/// `del*regex INDEX`.
fn remove_at(list: &mut Vec<String>, index: &serde_json::Value) -> Result<(), CommandError> {
    let i = gaoler_py::int::json_int(index).map_err(CommandError::Invalid)?;
    match usize::try_from(i).ok().filter(|i| *i < list.len()) {
        Some(i) => {
            list.remove(i);
            Ok(())
        }
        None => Err(CommandError::Failed(format!(
            "Cannot remove regular expression. Index {i} is not valid"
        ))),
    }
}
