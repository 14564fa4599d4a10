//! `bantime.increment`: longer bans for ids that were banned before, and
//! more weight for their new failures.
//!
//! The ban history comes from the database (`bips` table); the caller looks
//! it up (see `gaoler-store`) and passes it in as a [`BanHistory`]. The
//! random part (`rndtime`) comes from an injected source so results are
//! reproducible in tests.
//!
//! The ban-time function, for a base time `T` and previous ban count `C`:
//! - with `multipliers`: `T * factor * mult[min(C, len-1)]`;
//! - else `max(T, formula(T, C))`, stock formula
//!   `ban.Time * (1<<(ban.Count if ban.Count<20 else 20)) * banFactor`;
//! - then capped at `maxtime`, then `+ random() * rndtime`.

use thiserror::Error;

use crate::expr::{Env, Expr, ExprError, Num};
use crate::ticket::{is_permanent, Ticket};

/// The stock `bantime.formula`.
pub const DEFAULT_FORMULA: &str = "ban.Time * (1<<(ban.Count if ban.Count<20 else 20)) * banFactor";

/// Error in a `bantime.*` option.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum IncrementError {
    #[error("bantime.factor: {0}")]
    /// `bantime.factor` is not a valid expression.
    Factor(ExprError),
    #[error("bantime.formula: {0}")]
    /// `bantime.formula` is not a valid expression.
    Formula(ExprError),
    #[error("bantime.multipliers: {0:?} is not an integer")]
    /// A word of `bantime.multipliers` (held here) is not an integer.
    Multiplier(String),
}

/// What the database knows about an id's earlier bans: one `bips` row, or
/// the sums over all jails for `overalljails`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BanHistory {
    /// `bancount`: how many times the id was banned (summed over the jails
    /// for `overalljails`).
    pub ban_count: u32,
    /// `timeofban`: start of the latest ban (seconds since the epoch).
    pub time_of_ban: f64,
    /// `bantime` of the latest ban in seconds (summed over the jails for
    /// `overalljails`).
    pub ban_time: f64,
}

/// Settings of `bantime.increment` for one jail.
#[derive(Debug, Clone, PartialEq)]
pub struct BanTimeIncrement {
    /// `bantime.increment`.
    pub enabled: bool,
    factor: Num,
    factor_src: String,
    formula: Expr,
    multipliers: Vec<i64>,
    /// `bantime.maxtime` in seconds.
    pub max_time: Option<f64>,
    /// `bantime.rndtime` in seconds.
    pub rnd_time: Option<f64>,
    /// `bantime.overalljails`: search the history in all jails.
    pub overall_jails: bool,
}

impl Default for BanTimeIncrement {
    fn default() -> Self {
        BanTimeIncrement {
            enabled: false,
            factor: Num::Int(1),
            factor_src: "1".into(),
            // The stock formula is known to parse.
            formula: Expr::parse(DEFAULT_FORMULA).unwrap_or_else(|e| unreachable!("{e}")),
            multipliers: Vec::new(),
            max_time: None,
            rnd_time: None,
            overall_jails: false,
        }
    }
}

impl BanTimeIncrement {
    /// `bantime.factor`: a Python expression (e.g. `2.0 / 2.885385`).
    /// Empty restores the default `1`.
    pub fn set_factor(&mut self, src: &str) -> Result<(), IncrementError> {
        let src = if src.trim().is_empty() {
            "1"
        } else {
            src.trim()
        };
        let v = Expr::parse(src)
            .and_then(|e| e.eval(&Env::default()))
            .map_err(IncrementError::Factor)?;
        self.factor = v;
        self.factor_src = src.to_owned();
        Ok(())
    }
    /// The evaluated `bantime.factor` (`banFactor` in the formula).
    pub fn factor(&self) -> Num {
        self.factor
    }
    /// `bantime.factor` as it was given (trimmed; `1` when empty).
    pub fn factor_source(&self) -> &str {
        &self.factor_src
    }

    /// `bantime.formula`. Empty restores the stock formula.
    pub fn set_formula(&mut self, src: &str) -> Result<(), IncrementError> {
        let src = if src.trim().is_empty() {
            DEFAULT_FORMULA
        } else {
            src.trim()
        };
        self.formula = Expr::parse(src).map_err(IncrementError::Formula)?;
        Ok(())
    }
    /// The `bantime.formula` in use, as text (the stock one when unset).
    pub fn formula(&self) -> &str {
        self.formula.source()
    }

    /// `bantime.multipliers`: space-separated integers; empty means "use
    /// the formula". fail2ban splits on single spaces and chokes on double
    /// ones; we accept any whitespace.
    pub fn set_multipliers(&mut self, src: &str) -> Result<(), IncrementError> {
        self.multipliers = src
            .split_whitespace()
            .map(|w| {
                w.parse::<i64>()
                    .map_err(|_| IncrementError::Multiplier(w.to_owned()))
            })
            .collect::<Result<_, _>>()?;
        Ok(())
    }
    /// The `bantime.multipliers` in use; empty means the formula applies.
    pub fn multipliers(&self) -> &[i64] {
        &self.multipliers
    }

    /// The ban-time function `f(time, count)` (module doc). `random` must
    /// return a number in `[0, 1)`; it is only called when `rndtime` is set.
    pub fn calc_ban_time(
        &self,
        ban_time: f64,
        ban_count: u32,
        random: &mut dyn FnMut() -> f64,
    ) -> Result<f64, ExprError> {
        let mut t = if self.multipliers.is_empty() {
            let env = Env {
                time: num_of(ban_time),
                count: Num::Int(ban_count as i64),
                factor: self.factor,
            };
            let v = self.formula.eval(&env)?.as_f64();
            ban_time.max(v)
        } else {
            let idx = (ban_count as usize).min(self.multipliers.len() - 1);
            ban_time * self.factor.as_f64() * self.multipliers[idx] as f64
        };
        if let Some(max) = self.max_time {
            t = t.min(max);
        }
        if let Some(rnd) = self.rnd_time {
            t += random() * rnd;
        }
        Ok(t)
    }

    /// The longest ban a restored ticket may keep (§3.5): `maxtime` with
    /// increment (`None`: no cap), the jail's ban time without (`None` when
    /// that is permanent).
    pub fn max_ban_time(&self, jail_ban_time: f64) -> Option<f64> {
        if self.enabled {
            self.max_time.filter(|m| !is_permanent(*m))
        } else if is_permanent(jail_ban_time) {
            None
        } else {
            Some(jail_ban_time)
        }
    }

    /// The extra retry count for a new failure of an id known from earlier
    /// bans: the failure counts `min(2^(n-1) + 1, maxretry)` in total, so
    /// `... - 1` on top of the one the FailManager already added.
    ///
    /// Returns `None` when nothing is to be added: increment disabled, no
    /// history, or the failure is not newer than the last ban (a line read
    /// again after a restart, already accounted for by the restored ban).
    pub fn extra_retry(
        &self,
        history: Option<&BanHistory>,
        ticket_ban_count: u32,
        failure_time: f64,
        max_retry: u32,
    ) -> Option<u32> {
        if !self.enabled {
            return None;
        }
        let h = history?;
        if failure_time <= h.time_of_ban {
            return None;
        }
        let n = h.ban_count.max(ticket_ban_count).min(20);
        // Python computes this with true division; for n = 0 it gives 1.5,
        // which only matters as "more than 1". Integer halving gives 1
        // there (no extra), and the same value for every n >= 1.
        let total = ((1u32 << n) / 2 + 1).min(max_retry);
        if total <= 1 {
            None
        } else {
            Some(total - 1)
        }
    }

    /// Apply the increment to a new (not restored) ban, before it is
    /// written to the database. `jail_ban_time` is the jail's `bantime`,
    /// `history` the database row(s) for this id.
    ///
    /// Sets `ticket.ban_count` and, when the ban gets longer,
    /// `ticket.ban_time`. Returns what happened, for the
    /// `[J] Increase Ban <ip> (<count> # <dur> -> <end>)` log line and the
    /// delayed `actionprolong`.
    pub fn apply_to_ban(
        &self,
        ticket: &mut Ticket,
        jail_ban_time: f64,
        history: Option<&BanHistory>,
        random: &mut dyn FnMut() -> f64,
    ) -> Result<IncrementOutcome, ExprError> {
        let old = ticket.ban_time_or(jail_ban_time);
        // Only for non-permanent bans whose time was not fixed already
        // (e.g. restored or manually set).
        if !self.enabled || is_permanent(old) || ticket.ban_time.is_some() || ticket.restored {
            return Ok(IncrementOutcome::unchanged(old));
        }
        let Some(h) = history else {
            return Ok(IncrementOutcome::unchanged(old));
        };
        let mut new = old;
        if old > 0.0 {
            if h.ban_count >= ticket.ban_count {
                ticket.ban_count = h.ban_count + 1;
            }
            if h.ban_count > 0 {
                new = self.calc_ban_time(old, h.ban_count, random)?;
            }
            ticket.ban_time = Some(new);
            // A ticket not newer than the last ban is the same ban read
            // again (log re-read after restart): do not store it twice.
            if ticket.time <= h.time_of_ban {
                ticket.restored = true;
            }
        }
        Ok(IncrementOutcome {
            old_ban_time: old,
            new_ban_time: new,
            increased: new != old,
        })
    }
}

/// Result of [`BanTimeIncrement::apply_to_ban`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IncrementOutcome {
    /// Ban time before the increment (seconds, `-1` permanent).
    pub old_ban_time: f64,
    /// Ban time after it (seconds); equal to the old one when unchanged.
    pub new_ban_time: f64,
    /// Log `Increase Ban` and call `actionprolong` within
    /// [`prolong_delay`] seconds.
    pub increased: bool,
}

impl IncrementOutcome {
    fn unchanged(t: f64) -> Self {
        IncrementOutcome {
            old_ban_time: t,
            new_ban_time: t,
            increased: false,
        }
    }
}

/// Delay before `actionprolong` runs after an increase: soon, but never
/// later than 10 s.
pub fn prolong_delay(outcome: &IncrementOutcome) -> f64 {
    (outcome.new_ban_time - outcome.old_ban_time - 5.0).clamp(0.0, 10.0)
}

fn num_of(v: f64) -> Num {
    gaoler_py::repr::as_int(v).map_or(Num::Float(v), Num::Int)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_rnd() -> impl FnMut() -> f64 {
        || panic!("random must not be used without rndtime")
    }

    fn enabled() -> BanTimeIncrement {
        BanTimeIncrement {
            enabled: true,
            ..Default::default()
        }
    }

    #[test]
    fn stock_formula_doubles() {
        let b = enabled();
        let mut r = no_rnd();
        let got: Vec<f64> = (0..6)
            .map(|c| b.calc_ban_time(600.0, c, &mut r).unwrap())
            .collect();
        assert_eq!(got, vec![600.0, 1200.0, 2400.0, 4800.0, 9600.0, 19200.0]);
        assert_eq!(
            b.calc_ban_time(1.0, 50, &mut r).unwrap(),
            (1u64 << 20) as f64
        );
    }

    #[test]
    fn formula_never_below_base() {
        let mut b = enabled();
        b.set_formula("ban.Time / 10").unwrap();
        assert_eq!(b.calc_ban_time(600.0, 3, &mut no_rnd()).unwrap(), 600.0);
    }

    #[test]
    fn factor_expression() {
        let mut b = enabled();
        b.set_factor("2").unwrap();
        assert_eq!(b.calc_ban_time(600.0, 1, &mut no_rnd()).unwrap(), 2400.0);
        b.set_factor("").unwrap();
        assert_eq!(b.factor(), Num::Int(1));
        assert!(b.set_factor("import os").is_err());
    }

    #[test]
    fn multipliers_with_last_repeated() {
        let mut b = enabled();
        b.set_multipliers("1 5 30 60").unwrap();
        let mut r = no_rnd();
        assert_eq!(b.calc_ban_time(60.0, 0, &mut r).unwrap(), 60.0);
        assert_eq!(b.calc_ban_time(60.0, 1, &mut r).unwrap(), 300.0);
        assert_eq!(b.calc_ban_time(60.0, 3, &mut r).unwrap(), 3600.0);
        assert_eq!(b.calc_ban_time(60.0, 99, &mut r).unwrap(), 3600.0);
        // Multipliers are not floored at the base time (unlike the formula).
        b.set_multipliers("0 1").unwrap();
        assert_eq!(b.calc_ban_time(60.0, 0, &mut r).unwrap(), 0.0);
        b.set_factor("2").unwrap();
        assert_eq!(b.calc_ban_time(60.0, 1, &mut r).unwrap(), 120.0);
        assert!(b.set_multipliers("1 x").is_err());
        b.set_multipliers("").unwrap();
        assert_eq!(
            b.calc_ban_time(60.0, 1, &mut r).unwrap(),
            240.0,
            "back to formula"
        );
    }

    #[test]
    fn maxtime_then_rndtime() {
        let mut b = enabled();
        b.max_time = Some(1000.0);
        assert_eq!(b.calc_ban_time(600.0, 5, &mut no_rnd()).unwrap(), 1000.0);
        b.rnd_time = Some(100.0);
        let mut r = || 0.5;
        assert_eq!(b.calc_ban_time(600.0, 5, &mut r).unwrap(), 1050.0);
    }

    #[test]
    fn max_ban_time_for_restore() {
        let mut b = BanTimeIncrement::default();
        assert_eq!(b.max_ban_time(600.0), Some(600.0));
        assert_eq!(b.max_ban_time(-1.0), None);
        b.enabled = true;
        assert_eq!(b.max_ban_time(600.0), None);
        b.max_time = Some(86400.0);
        assert_eq!(b.max_ban_time(600.0), Some(86400.0));
    }

    #[test]
    fn extra_retry_rule() {
        let b = enabled();
        let h = |n| BanHistory {
            ban_count: n,
            time_of_ban: 100.0,
            ban_time: 600.0,
        };
        assert_eq!(b.extra_retry(None, 0, 200.0, 5), None);
        assert_eq!(b.extra_retry(Some(&h(0)), 0, 200.0, 5), None);
        assert_eq!(b.extra_retry(Some(&h(1)), 0, 200.0, 5), Some(1)); // counts 2
        assert_eq!(b.extra_retry(Some(&h(2)), 0, 200.0, 5), Some(2)); // counts 3
        assert_eq!(b.extra_retry(Some(&h(3)), 0, 200.0, 5), Some(4)); // counts 5
        assert_eq!(
            b.extra_retry(Some(&h(4)), 0, 200.0, 5),
            Some(4),
            "capped at maxretry"
        );
        assert_eq!(
            b.extra_retry(Some(&h(40)), 0, 200.0, u32::MAX),
            Some(1 << 19)
        );
        assert_eq!(
            b.extra_retry(Some(&h(1)), 3, 200.0, 9),
            Some(4),
            "ticket count wins"
        );
        assert_eq!(
            b.extra_retry(Some(&h(3)), 0, 100.0, 5),
            None,
            "not after the last ban"
        );
        let off = BanTimeIncrement::default();
        assert_eq!(off.extra_retry(Some(&h(3)), 0, 200.0, 5), None);
    }

    #[test]
    fn apply_to_ban_increases() {
        let b = enabled();
        let mut t = Ticket::new("1.2.3.4", 1000.0);
        t.ban_count = 1; // BanManager counted this ban
        let h = BanHistory {
            ban_count: 2,
            time_of_ban: 500.0,
            ban_time: 1200.0,
        };
        let o = b
            .apply_to_ban(&mut t, 600.0, Some(&h), &mut no_rnd())
            .unwrap();
        assert_eq!(
            o,
            IncrementOutcome {
                old_ban_time: 600.0,
                new_ban_time: 2400.0,
                increased: true
            }
        );
        assert_eq!(t.ban_count, 3);
        assert_eq!(t.ban_time, Some(2400.0));
        assert!(!t.restored);
        assert_eq!(prolong_delay(&o), 10.0);
    }

    #[test]
    fn apply_to_ban_skips() {
        let b = enabled();
        let h = BanHistory {
            ban_count: 2,
            time_of_ban: 500.0,
            ban_time: 1200.0,
        };
        // No history: unchanged.
        let mut t = Ticket::new("a", 1000.0);
        assert!(
            !b.apply_to_ban(&mut t, 600.0, None, &mut no_rnd())
                .unwrap()
                .increased
        );
        assert_eq!(t.ban_time, None);
        // Permanent jail bantime: unchanged.
        let o = b
            .apply_to_ban(&mut t, -1.0, Some(&h), &mut no_rnd())
            .unwrap();
        assert!(!o.increased);
        // Ticket with its own ban time: unchanged.
        let mut t2 = Ticket::new("a", 1000.0);
        t2.ban_time = Some(5.0);
        assert!(
            !b.apply_to_ban(&mut t2, 600.0, Some(&h), &mut no_rnd())
                .unwrap()
                .increased
        );
        // Disabled: unchanged.
        let mut t3 = Ticket::new("a", 1000.0);
        let off = BanTimeIncrement::default();
        assert!(
            !off.apply_to_ban(&mut t3, 600.0, Some(&h), &mut no_rnd())
                .unwrap()
                .increased
        );
        // Not newer than the last ban: computed but marked restored.
        let mut t4 = Ticket::new("a", 500.0);
        b.apply_to_ban(&mut t4, 600.0, Some(&h), &mut no_rnd())
            .unwrap();
        assert!(t4.restored);
        assert_eq!(t4.ban_time, Some(2400.0));
    }

    #[test]
    fn nth_ban_lasts_2_pow_n_minus_1() {
        // End-to-end over the history rows a store would return.
        let b = enabled();
        let mut count_in_db = 0u32;
        for n in 1..=5u32 {
            let mut t = Ticket::new("a", 1000.0 * n as f64);
            t.ban_count = 1;
            let h = (count_in_db > 0).then_some(BanHistory {
                ban_count: count_in_db,
                time_of_ban: 1000.0 * (n - 1) as f64,
                ban_time: 0.0,
            });
            b.apply_to_ban(&mut t, 100.0, h.as_ref(), &mut no_rnd())
                .unwrap();
            assert_eq!(
                t.ban_time_or(100.0),
                100.0 * 2f64.powi(n as i32 - 1),
                "ban #{n}"
            );
            assert_eq!(t.ban_count, n);
            count_in_db = t.ban_count;
        }
    }
}
