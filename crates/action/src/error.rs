//! Error types of the action runtime.

use thiserror::Error;

/// Everything that can go wrong while building or running an action.
///
/// Failures of the *commands* themselves are not errors of the executor
/// (a command that exits non-zero is a normal outcome, see
/// [`crate::ExecOutcome`]); they become an [`ActionError::Operation`] only when
/// a lifecycle step (ban, start, ...) gives up after its retry/repair logic.
#[derive(Debug, Error)]
pub enum ActionError {
    /// fail2ban loads `action.d/<name>.py` as Python code; gaoler does not
    /// embed Python, so such actions are refused. The jail keeps its other
    /// actions: this error is meant to be reported and skipped.
    #[error("jail '{jail}': action '{action}' is a Python action, which is not supported")]
    PythonAction {
        /// The jail.
        jail: String,
        /// The action's name in the jail.
        action: String,
    },

    /// The `timeout` property could not be evaluated as a time value.
    #[error("jail '{jail}' action '{action}': invalid timeout {value:?}: {reason}")]
    InvalidTimeout {
        /// The jail.
        jail: String,
        /// The action's name in the jail.
        action: String,
        /// The `timeout` value.
        value: String,
        /// Why it was refused.
        reason: String,
    },

    /// Tag substitution found a self reference or did not converge.
    #[error("jail '{jail}' action '{action}': {source}")]
    Substitution {
        /// The jail.
        jail: String,
        /// The action's name in the jail.
        action: String,
        /// What went wrong.
        #[source]
        source: SubstError,
    },

    /// A lifecycle operation failed (after the retry/repair logic), e.g.
    /// "Error banning 192.0.2.1" or "Error starting action sshd/nftables".
    #[error("jail '{jail}' action '{action}': {message}")]
    Operation {
        /// The jail.
        jail: String,
        /// The action's name in the jail.
        action: String,
        /// fail2ban's message for it.
        message: String,
    },
}

/// Errors of the recursive `<tag>` substitution (§1.4 / §4.3 step 1).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SubstError {
    /// A tag refers to itself, or one tag was replaced more than 25 times
    /// inside one value.
    #[error("properties contain self referencing definitions and cannot be resolved, fail tag: {tag}, found: {found}, value: {value}")]
    SelfReference {
        /// The tag being replaced.
        tag: String,
        /// The tag found again in its own replacement.
        found: String,
        /// The value at that point.
        value: String,
    },
    /// Replacing tags in a command did not settle within 26 passes.
    #[error("unexpected too long replacement interpolation, possible self referencing definitions in query: {query}")]
    TooLong {
        /// The command as far as it got.
        query: String,
    },
}

/// Errors of the time-value evaluator (`MyTime.str2seconds`, §1.8).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("cannot evaluate time value {value:?}: {reason}")]
pub struct TimeValueError {
    /// The value as configured.
    pub value: String,
    /// Why it could not be evaluated.
    pub reason: String,
}
