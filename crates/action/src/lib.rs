//! gaoler-action: the runtime of fail2ban's command actions.
//!
//! The configuration reader delivers each action of a jail as an
//! [`ActionSpec`] (name plus raw `[key, value]` pairs, exactly what
//! fail2ban's client sends in `["multi-set", J, "action", name, ...]`).
//! [`CommandAction`] turns that into a running action with fail2ban's
//! lifecycle (start/stop per address family, on-demand start, ban with
//! check/repair/retry, flush, reload, ban epochs).
//!
//! Design decisions:
//! * **Substitution** ([`subst`]) is split into a trusted, recursive, cached
//!   *static* step over the action's properties and an untrusted,
//!   single-pass *dynamic* step over the ticket ([`ActionInfo`]). Dynamic
//!   values containing shell-special characters never become part of the
//!   script text: they are passed to `sh -c` as positional arguments and
//!   bound to `f2bV_*` variables, exactly like fail2ban, so log content can
//!   never run code.
//! * **Execution** ([`Executor`]) is synchronous and globally serialised (as
//!   in fail2ban); commands run in their own session so a timeout can kill
//!   the whole process group. The executor can carry an argv wrapper, which
//!   the tests use to run real firewall actions inside private network
//!   namespaces.
//! * **Rounds** ([`batch`]): the jail hands an action every ticket pending
//!   when it wakes; commands recognised as plain nftables, iptables or
//!   ipset changes go to the firewall as one transaction per tool, the
//!   rest run one by one as in fail2ban, and [`CommandAction::reconcile`]
//!   compares what the firewall holds with the jail's bans.
//! * **No dependency on the jail crate**: [`ActionInfo`] is defined here and
//!   filled in by the jail; values can be lazy.
//! * **Python actions** (`*.py`) are refused with
//!   [`ActionError::PythonAction`], naming jail and action, so that the jail
//!   can keep its other actions.
//!
//! Deliberate differences from fail2ban 1.0.2:
//! * for family-independent actions the started/"has items" state is kept
//!   under the family `""` even for IP tickets; fail2ban keys it by the
//!   ticket's family, which makes its stop+start repair (no `actionrepair`)
//!   a silent no-op (see `CommandAction::state_family`);
//! * a lazy ticket value that cannot be computed (e.g. no reverse DNS for
//!   `<ip-host>`) is substituted as an empty string, not Python's `None`;
//! * the `banEpoch` attribute is not offered as a `<banEpoch>` tag;
//! * in actions whose bans stack (the iptables ones; the
//!   `actionunban_repeat` property) a ban replaces what an earlier run left
//!   and an unban removes every copy (see [`command`]'s docs), so a crash
//!   no longer leaves doubled rules that outlive their bans.

#![deny(missing_docs)]

pub mod batch;
pub mod command;
pub mod error;
pub mod exec;
pub mod info;
pub mod subst;
pub mod timevalue;

pub use command::{
    is_stacking_unban, ActionSpec, CommandAction, InfoFactory, Reconciled, COMMAND_KEYS,
    DEFAULT_TIMEOUT, MAX_COPIES,
};
pub use error::{ActionError, SubstError, TimeValueError};
pub use exec::{ExecOutcome, Executor, ExitKind};
pub use info::ActionInfo;
pub use subst::ShellCommand;
pub use timevalue::str2seconds;
