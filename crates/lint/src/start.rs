//! Starting from a configuration: which jails can start, which are
//! refused and why, so that a start never half-succeeds in silence.
//!
//! fail2ban applies its start stream command by command and stops at the
//! first failure: one bad value (`findtime = abc`) leaves that jail
//! listed with default settings and no actions, and every jail after it
//! missing, while `status` looks normal. gaoler instead judges each jail
//! on its own, in two places:
//!
//! - before the stream is sent ([`plan_start`], used by `gaoler server`
//!   and `gaoler client start`): the reader's per-jail errors, plus every
//!   command the server would refuse ([`crate::stream`]). A refused
//!   jail's commands are replaced by fail2ban's `config-error` entry,
//!   whose text names the file and line of the offending option;
//! - while the stream runs (the server's `server-stream`): a command that
//!   still fails refuses only its own jail.
//!
//! Refused jails are remembered by the server (`config-error` entries
//! included) and shown by `status` as `Failed jails`.

use std::collections::BTreeMap;

use gaoler_command::{skipped_message, Command};
use gaoler_config::reader::ConfigRead;

use crate::stream::check_stream_detailed;

/// What a start from a configuration will do.
#[derive(Debug, Clone, Default)]
pub struct StartPlan {
    /// The stream to send: refused jails appear only as `config-error`.
    pub stream: Vec<Command>,
    /// Enabled jails that will start.
    pub starting: Vec<String>,
    /// Enabled jails that are refused, with the reason (file:line first
    /// when known).
    pub refused: Vec<(String, String)>,
    /// Server-level settings the server will refuse (logged at start).
    pub problems: Vec<String>,
}

/// Decide which jails of `read` can start (see the module docs).
pub fn plan_start(read: &ConfigRead) -> StartPlan {
    let mut refused: BTreeMap<String, String> = BTreeMap::new();
    for j in &read.jails {
        if let Some(reason) = j.refusal() {
            refused.insert(j.name.clone(), reason);
        }
    }
    let mut problems = Vec::new();
    let mut late: BTreeMap<String, String> = BTreeMap::new();
    for r in check_stream_detailed(&read.stream) {
        let Some(jail) = r.jail.filter(|_| r.fatal) else {
            if r.fatal {
                problems.push(r.message);
            }
            continue;
        };
        if refused.contains_key(&jail) || late.contains_key(&jail) {
            continue;
        }
        let option = read.stream.get(r.index).and_then(Command::option);
        let at = option
            .and_then(|o| read.jails.iter().find(|j| j.name == jail)?.option_origin(o))
            .map(|o| format!("{o}: "))
            .unwrap_or_default();
        let what = option.map(|o| format!(" {o}")).unwrap_or_default();
        late.insert(jail.clone(), format!("{at}[{jail}]{what}: {}", r.message));
    }
    let mut stream = Vec::with_capacity(read.stream.len());
    for cmd in &read.stream {
        match cmd.jail().and_then(|j| late.get_key_value(j)) {
            None => stream.push(cmd.clone()),
            Some((j, reason)) => {
                if matches!(cmd, Command::Add { .. }) {
                    stream.push(Command::ConfigError(skipped_message(j, reason)));
                }
            }
        }
    }
    refused.extend(late);
    let starting = read
        .jails
        .iter()
        .filter(|j| j.is_enabled() && !refused.contains_key(&j.name))
        .map(|j| j.name.clone())
        .collect();
    StartPlan {
        stream,
        starting,
        refused: refused.into_iter().collect(),
        problems,
    }
}
