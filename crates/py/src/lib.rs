//! Python semantics that fail2ban's users see in its output, in one place.
//!
//! fail2ban is written in Python, and much of what it prints is Python's
//! own rendering of a value: `repr()` of a string in `fail2ban-regex -o
//! row`, of a float in an action's `<time>`, of a result list in
//! `fail2ban-client`'s fallback output, of a command in the server's "has
//! failed" log line. Every crate that prints such a value takes it from
//! here, so that one rendering (tested against Python's on edge values)
//! is used everywhere. The same goes for the Python expressions users write:
//! numbers and arithmetic (`bantime.formula`, `bantime.factor`, time
//! values such as `1h*2`) in [`expr`], one evaluator for all of them, and the
//! conditions of sample logs in [`cond`]. fail2ban's mapping of capture-group names to ticket
//! keys (`mapTag2Opt`), which filters and actions must agree on, is here
//! for the same reason.

#![deny(missing_docs)]

pub mod cond;
pub mod expr;
pub mod int;
pub mod repr;
pub mod tags;
pub mod time;
