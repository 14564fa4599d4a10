//! fail2ban's configuration dialect, read the way fail2ban's client reads it.
//!
//! The output is the *command stream* fail2ban's client sends to its server
//! (`["add", jail, backend]`, `["set", jail, "addfailregex", ...]`, …): it is
//! what `fail2ban-client -d` prints, what gaoler's server consumes, and the
//! contract that lets an unmodified fail2ban tree drive gaoler. The readers
//! build each command's words as fail2ban's do; [`reader::read_config`]
//! hands them out as typed `gaoler_command::Command`s, whose words are the
//! same (the golden dump of every stock jail reads back word for word).
//!
//! Layers, bottom up:
//! - [`ini`]: one file → sections of raw values (Python `configparser` rules);
//! - [`parser`]: layered files, `[INCLUDES]`, `KNOWN/` history, lazy
//!   `%(name)s` interpolation;
//! - [`tags`] and [`options`]: `<tag>` substitution and `name[opt=val]` lists;
//! - [`reader`]: the filter and action readers (`reader::definition`), the jail
//!   reader (`reader::jail`) and the fail2ban.conf reader that turn
//!   all of that into the stream;
//! - [`timeval`]: time values (`10m`, `1h 30m`).
//!
//! Errors carry the file and line where the offending value was defined and
//! the jail being read, so an administrator can find the mistake.

#![deny(missing_docs)]

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
    /// A file that cannot be parsed or read as an INI file (syntax error,
    /// duplicate section or option, not UTF-8, not a regular file, too
    /// large, an `[INCLUDES]` problem).
    #[error("{origin}: {message}")]
    Parse {
        /// The file and line (line 0: the file as a whole).
        origin: Origin,
        /// What is wrong.
        message: String,
    },
    /// A section that was asked for does not exist (Python's
    /// `NoSectionError`).
    #[error("no section {section:?}")]
    NoSection {
        /// The missing section.
        section: String,
    },
    /// An option is set neither in the section nor in `[DEFAULT]` (Python's
    /// `NoOptionError`).
    #[error("no option {option:?} in section {section:?}")]
    NoOption {
        /// The section searched.
        section: String,
        /// The missing option (lower-cased).
        option: String,
    },
    /// A `%(name)s` reference cannot be resolved: bad syntax, a missing
    /// option, nesting deeper than 10 levels, or a value grown too large.
    #[error("{}in section {section:?}, option {option:?}: {message}", origin.as_ref().map(|o| format!("{o}: ")).unwrap_or_default())]
    Interpolation {
        /// The section of the option being read.
        section: String,
        /// The option being read.
        option: String,
        /// Where that option was defined, when known.
        origin: Option<Origin>,
        /// What went wrong.
        message: String,
    },
    /// `<tag>` substitution loops (a tag refers back to itself, or is
    /// replaced too often) or grows the value too large; the message is
    /// fail2ban's.
    #[error("properties contain self referencing definitions and cannot be resolved, fail tag: {tag}, found: {found} in value: {value}")]
    TagRecursion {
        /// The tag whose value was being substituted.
        tag: String,
        /// The tag found in it that cannot be replaced again.
        found: String,
        /// The value at that point (or a note that it grew too large).
        value: String,
    },
    /// A `name[opt=val, ...]` option list that does not parse.
    #[error("invalid option list {text:?}: {message}")]
    Options {
        /// The text that was being split.
        text: String,
        /// What is wrong with it.
        message: String,
    },
    /// None of a logical name's layered files (`.conf`, `.d/*.conf`,
    /// `.local`, `.d/*.local`) exists.
    #[error("Found no accessible config files for {name:?} under {basedir}")]
    NotFound {
        /// The logical name, e.g. `filter.d/sshd`.
        name: String,
        /// The configuration directory searched.
        basedir: String,
    },
    /// The configuration directory (`-c`) does not exist; holds its path.
    #[error("base configuration directory {0} does not exist")]
    NoBaseDir(String),
    /// A jail (or `fail2ban.conf`) cannot be used as configured, e.g. a
    /// missing log file or an invalid log level.
    #[error("jail {jail:?}: {message}")]
    Jail {
        /// The jail's name (`fail2ban.conf` for the general settings).
        jail: String,
        /// What is wrong.
        message: String,
    },
    /// Another error with what was being read when it happened (a jail,
    /// an action definition, an including file).
    #[error("{context}: {source}")]
    Context {
        /// What was being read, e.g. `jail "sshd"`.
        context: String,
        /// The underlying error.
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
