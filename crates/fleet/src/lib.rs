//! gaoler-fleet: hosts that share one PostgreSQL database ban together.
//!
//! An attacker banned on one server of a farm moves on to the next and
//! starts again from zero. With `fleetdb` set, every ban a publishing jail
//! decides is written to a shared table, and every other host applies it
//! through its own jail's actions, so the firewall layout stays the local
//! one.
//!
//! # Configuration (fail2ban's dialect; a stock fail2ban ignores it)
//!
//! ```text
//! # fail2ban.local (or fail2ban.d/*.local) on every host, [Definition]:
//! fleetdb    = postgresql://gaoler:secret@db.example/gaoler?sslmode=verify-full
//! fleethost  = sip-a       # this host's name in the fleet (default: the host name)
//! fleetretry = 30s         # longest wait between reconnection attempts
//! # a jail section:
//! fleet      = both        # publish | apply | both | off (default)
//! fleetjails = freeswitch freeswitch-cdr   # whose bans it applies (default: itself)
//! fleetcount = fleet       # local (default) | fleet: the fleet's bans count for
//!                          # bantime.increment, and as failures in recidive
//! ```
//!
//! They reach the server as `set fleethost|fleetretry|fleetdb V` (in that
//! order, after the database settings) and `set JAIL fleet|fleetjails|
//! fleetcount V`, only when set: the stream of a stock tree is unchanged.
//! [`conninfo`] says how the connection string is read, [`rules`] what
//! each jail does with a row.
//!
//! # Design decisions (and why)
//!
//! - **The synchronous `postgres` crate on one fleet thread.** The daemon
//!   is a threaded program (two plain threads per jail, no async runtime);
//!   `postgres` gives blocking calls on a private single-threaded runtime,
//!   so the fleet is one more thread ([`worker`]) plus a listener thread
//!   for `LISTEN` (a blocking wait for notifications cannot also wait for
//!   the jails' new bans). Jail threads never talk to PostgreSQL: a ban is
//!   written to the local *outbox* (the SQLite database the jail writes its
//!   bans to anyway, see [`Local`]) and a doorbell is rung on a bounded
//!   channel that never blocks ([`Publisher`]). A slow or dead database
//!   therefore never delays a local ban.
//! - **The outbox is the queue.** Rows wait in the local database until
//!   PostgreSQL has committed them, so a database outage, a restart or a
//!   crash loses nothing; the outbox is bounded ([`OUTBOX_CAP`] rows, the
//!   oldest dropped with a WARNING) so that a long outage cannot fill the
//!   disk.
//! - **Rows, a sequence and a stored position.** Each published ban or
//!   unban is one row with a `BIGSERIAL` sequence number, inserted in the
//!   same transaction as a `pg_notify` carrying the last sequence number.
//!   Publishers take a transaction-level advisory lock before inserting, so
//!   rows commit in sequence order and a reader that has seen row N has
//!   seen every row before N: a position (the last sequence read, kept in
//!   the local database per fleet database) is then enough to catch up
//!   after any absence, and a notification only says "read now". A poll
//!   every few seconds is the safety net for lost notifications.
//! - **Rows are data, checked before anything is done with them**
//!   ([`row::validate`]): the address must parse as an address or a
//!   network (a [`gaoler_addr::Addr`], not a raw string), names are short
//!   and plain, times and counts are finite and in range, matched lines
//!   are bounded (read with `left()` so a huge value is not even
//!   transferred whole). A refused row is logged at WARNING with a short,
//!   escaped reason and skipped for good. Values reach actions only through
//!   the jails' usual tag escaping.
//! - **No echo.** A host skips its own rows; a ban applied from the fleet
//!   carries its origin (host and jail) in the ticket's data, is stored
//!   locally (it survives a restart) and is never published again. Only a
//!   host's own bans and unbans are published.
//! - **Unbans lift only fleet bans of the same origin** ([`rules::lifts`]).
//!   A host that saw the attack itself keeps its own ban; an unban on host
//!   A lifts, on the other hosts, the bans that came from A.
//! - **Faults are quiet and bounded.** One WARNING when the connection is
//!   lost, one INFO when it is back ([`link::LinkState`]); reconnects back
//!   off exponentially up to a configurable cap ([`backoff::Backoff`]).
//! - **Credentials never reach a log line.** Every connection string shown
//!   in a message goes through [`conninfo::redact`]; the parsed form keeps
//!   the password only inside the driver's configuration.
//!
//! The pure parts (validation, the apply rules, back-off, link state,
//! redaction) are tested without a database; the end-to-end test of the
//! binary (`crates/gaoler/tests/e2e_fleet.rs`) runs three daemons against
//! a real PostgreSQL server.

#![deny(missing_docs)]

pub mod backoff;
pub mod conninfo;
pub mod link;
pub mod local;
pub mod pg;
pub mod row;
pub mod rules;
pub mod worker;

pub use conninfo::{redact, ConnInfo};
pub use local::{Local, MemoryLocal};
pub use row::{BanRow, Kind, Received, Refusal};
pub use rules::{Count, JailFleet, Mode, Plan};
pub use worker::{Fleet, FleetOptions, Host, Publisher};

/// The most rows the outbox keeps while PostgreSQL is unreachable; beyond
/// it the oldest are dropped with a WARNING.
pub const OUTBOX_CAP: usize = 100_000;

/// Errors of the fleet: each names what was being done.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The connection string cannot be used (the message never contains
    /// the password).
    #[error("fleetdb {shown}: {reason}")]
    ConnInfo {
        /// The connection string, redacted.
        shown: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A PostgreSQL operation failed.
    #[error("fleet database {shown}: {op}: {source}")]
    Db {
        /// The connection string, redacted.
        shown: String,
        /// What was being done ("connect", "publish", ...).
        op: &'static str,
        /// The driver's error.
        #[source]
        source: postgres::Error,
    },
    /// TLS could not be set up.
    #[error("fleet database {shown}: TLS: {reason}")]
    Tls {
        /// The connection string, redacted.
        shown: String,
        /// Why.
        reason: String,
    },
    /// The local outbox or position could not be read or written.
    #[error("fleet local state: {0}")]
    Local(String),
}
