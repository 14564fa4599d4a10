//! fail2ban's configuration dialect, read the way fail2ban's client reads it.
//!
//! The output is the *command stream* fail2ban's client sends to its server
//! (`["add", jail, backend]`, `["set", jail, "addfailregex", ...]`, …): it is
//! what `fail2ban-client -d` prints, what gaoler's server consumes, and the
//! contract that lets an unmodified fail2ban tree drive gaoler.
//!
//! Layers, bottom up:
//! - [`ini`]: one file → sections of raw values (Python `configparser` rules);
//! - [`parser`]: layered files, `[INCLUDES]`, `KNOWN/` history, lazy
//!   `%(name)s` interpolation;
//! - [`tags`] and [`options`]: `<tag>` substitution and `name[opt=val]` lists;
//! - [`reader`]: the filter, action, jail and fail2ban.conf readers that turn
//!   all of that into the stream;
//! - [`timeval`]: time values (`10m`, `1h 30m`).
//!
//! Errors carry the file and line where the offending value was defined and
//! the jail being read, so an administrator can find the mistake.

pub mod filterparts;
pub mod ini;
pub mod options;
pub mod parser;
pub mod reader;
pub mod shlex;
pub mod tags;
pub mod timeval;
pub mod value;

pub use ini::Origin;
pub use parser::ConfigSet;
pub use reader::{read_config, Command, ConfigTree, ReadMode};
pub use timeval::str2seconds;
pub use value::Value;

/// Everything that can go wrong while reading a configuration tree.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{origin}: {message}")]
    Parse { origin: Origin, message: String },
    #[error("no section {section:?}")]
    NoSection { section: String },
    #[error("no option {option:?} in section {section:?}")]
    NoOption { section: String, option: String },
    #[error("{}in section {section:?}, option {option:?}: {message}", origin.as_ref().map(|o| format!("{o}: ")).unwrap_or_default())]
    Interpolation {
        section: String,
        option: String,
        origin: Option<Origin>,
        message: String,
    },
    #[error("properties contain self referencing definitions and cannot be resolved, fail tag: {tag}, found: {found} in value: {value}")]
    TagRecursion {
        tag: String,
        found: String,
        value: String,
    },
    #[error("invalid option list {text:?}: {message}")]
    Options { text: String, message: String },
    #[error("Found no accessible config files for {name:?} under {basedir}")]
    NotFound { name: String, basedir: String },
    #[error("base configuration directory {0} does not exist")]
    NoBaseDir(String),
    #[error("jail {jail:?}: {message}")]
    Jail { jail: String, message: String },
    #[error("{context}: {source}")]
    Context {
        context: String,
        #[source]
        source: Box<ConfigError>,
    },
}

impl ConfigError {
    pub(crate) fn context(self, context: impl Into<String>) -> ConfigError {
        ConfigError::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }
}

/// The configuration directory used when `-c` is not given: `/etc/fail2ban`
/// when the program runs under a fail2ban name (`fail2ban-client`, …, the
/// drop-in use), `/etc/gaoler` (gaoler's own tree) otherwise.
pub fn default_basedir(argv0: &std::ffi::OsStr) -> std::path::PathBuf {
    let name = std::path::Path::new(argv0)
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    if name.starts_with("fail2ban-") {
        "/etc/fail2ban".into()
    } else {
        "/etc/gaoler".into()
    }
}

/// [`default_basedir`] for the running program.
pub fn default_basedir_for_this_program() -> std::path::PathBuf {
    default_basedir(&std::env::args_os().next().unwrap_or_default())
}
