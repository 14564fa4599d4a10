//! [`FilterOptions`]: a jail's filter as its command stream leaves it.

use gaoler_command::{CommandError, JailSet};

use crate::{check_regex, pin_host, FilterSpec, UseDns};

/// The options of a jail's filter as the command stream sets them (`set J
/// prefregex|addfailregex|addignoreregex|delfailregex|delignoreregex|
/// maxlines|datepattern|logtimezone|usedns`): the last value wins, the
/// regex lists grow. The server, `gaoler explain` and `gaoler lint` read
/// a jail's filter through this one type, and [`FilterOptions::spec`]
/// makes the [`FilterSpec`] a [`Filter`](crate::Filter) is built from.
///
/// [`FilterOptions::set`] applies a command as the server does (`<HOST>`
/// pinned, regexes checked); [`FilterOptions::apply`] keeps values as the
/// command gives them, for a reader that looks at the regexes as written.
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

    /// Applies `option` as `set` does on the server: `<HOST>` in a regex
    /// is pinned by the `usedns` of the moment ([`pin_host`]), and a regex
    /// or date pattern that does not compile is refused (a `ValueError`,
    /// as fail2ban refuses it when it is set, not when the jail starts).
    /// The rest is [`FilterOptions::apply`].
    pub fn set(&mut self, option: &JailSet) -> Result<bool, CommandError> {
        let invalid = |e: &dyn std::fmt::Display| CommandError::Invalid(e.to_string());
        let pin = |list: &[String], fail: bool| -> Result<Vec<String>, CommandError> {
            let pinned: Vec<String> = list.iter().map(|r| pin_host(r, self.usedns)).collect();
            for r in &pinned {
                check_regex(self.prefregex.as_deref(), r, fail).map_err(|e| invalid(&e))?;
            }
            Ok(pinned)
        };
        let pinned = match option {
            JailSet::PrefRegex(v) if !v.is_empty() => {
                let r = pin_host(v, self.usedns);
                check_regex(None, &r, false).map_err(|e| invalid(&e))?;
                JailSet::PrefRegex(r)
            }
            JailSet::AddFailRegex(list) => JailSet::AddFailRegex(pin(list, true)?),
            JailSet::AddIgnoreRegex(list) => JailSet::AddIgnoreRegex(pin(list, false)?),
            JailSet::DatePattern(v) if !v.is_empty() => {
                gaoler_datedetector::DateDetector::new(Some(v)).map_err(|e| invalid(&e))?;
                return self.apply(option);
            }
            _ => return self.apply(option),
        };
        self.apply(&pinned)
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
