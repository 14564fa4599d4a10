//! `gaoler client` — fail2ban-client's behaviour on top of gaoler's control
//! socket ([`gaoler_protocol`]).
//!
//! - [`beautifier`]: the exact texts fail2ban-client prints for each
//!   command's result (status trees, `get` lists, the `stats` table, error
//!   texts), and `gaoler_py::repr` for the Python-syntax fallback;
//! - [`cli`]: the command line and the command flows — configuration test
//!   and dump (`-t`, `-d`), `start` (read and check the configuration,
//!   spawn `gaoler server --async -b`, wait for it, stream the
//!   configuration), `reload`, `restart`, `stop`, and every other command
//!   passed to the server as is;
//! - [`early`]: the fail2ban.conf values the client and server need before
//!   anything else (socket, pidfile, logging), command-line flags first;
//! - [`log`]: error lines on stderr in fail2ban's format.
//!
//! Exit codes are fail2ban's: 0 on success, 255 on any failure.

#![deny(missing_docs)]

pub mod beautifier;
pub mod cli;
pub mod dump;
pub mod early;
pub mod log;

pub use beautifier::Beautifier;
pub use cli::main;
pub use early::{early_options, EarlyOverrides};
