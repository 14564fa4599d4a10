//! `gaoler client` (fail2ban-client): configuration test and dump, and
//! (with the server) the control commands.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use gaoler_config::reader::{ClientOptions, ConfigRead};
use gaoler_config::{read_config, ReadMode};

#[derive(Parser, Debug)]
#[command(
    name = "fail2ban-client",
    disable_version_flag = true,
    about = "Control gaoler (fail2ban-client compatible)"
)]
struct Args {
    /// Configuration directory.
    #[arg(short = 'c', long = "conf", default_value = "/etc/fail2ban")]
    conf: PathBuf,
    /// Socket path.
    #[arg(short = 's', long = "socket")]
    socket: Option<PathBuf>,
    /// Pidfile path.
    #[arg(short = 'p', long = "pidfile")]
    pidfile: Option<PathBuf>,
    #[arg(long = "loglevel")]
    loglevel: Option<String>,
    #[arg(long = "logtarget")]
    logtarget: Option<String>,
    #[arg(long = "syslogsocket")]
    syslogsocket: Option<String>,
    /// Dump the configuration stream, one JSON array per line.
    #[arg(short = 'd')]
    dump: bool,
    /// Dump the configuration stream, pretty-printed.
    #[arg(long = "dp", alias = "dump-pretty")]
    dump_pretty: bool,
    /// Test the configuration.
    #[arg(short = 't', long = "test")]
    test: bool,
    /// Convert a time abbreviation to seconds.
    #[arg(long = "str2sec")]
    str2sec: Option<String>,
    /// Print the version.
    #[arg(short = 'V', long = "version")]
    version: bool,
    /// Increase verbosity.
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    verbose: u8,
    /// Decrease verbosity.
    #[arg(short = 'q', action = clap::ArgAction::Count)]
    quiet: u8,
    /// Command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

pub fn main(argv0: &OsString, rest: Vec<OsString>) -> ExitCode {
    let mut argv = vec![argv0.clone()];
    argv.extend(rest);
    let args = match Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(255)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    if args.version {
        println!("gaoler {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if let Some(v) = &args.str2sec {
        return match gaoler_config::str2seconds(v) {
            Ok(n) => {
                println!("{n}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                println!("ERROR: {e}");
                ExitCode::from(255)
            }
        };
    }
    let client = ClientOptions {
        loglevel: args.loglevel.clone(),
        logtarget: args.logtarget.clone(),
        syslogsocket: args.syslogsocket.clone(),
    };
    if args.dump || args.dump_pretty {
        let read = match read_config(&args.conf, ReadMode::Dump, &client) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("ERROR: Failed during configuration: {e}");
                println!("ERROR: The configuration stream failed because of the invalid syntax.");
                return ExitCode::from(255);
            }
        };
        dump(&read, args.dump_pretty);
        if !args.test {
            return ExitCode::SUCCESS;
        }
    }
    if args.test {
        return test_config(&args, &client);
    }
    if args.command.is_empty() {
        eprintln!("gaoler client: no command given (try -h)");
        return ExitCode::from(255);
    }
    eprintln!(
        "ERROR: the server control commands are not available yet ({})",
        args.command.join(" ")
    );
    ExitCode::from(255)
}

fn dump(read: &ConfigRead, pretty: bool) {
    for c in &read.stream {
        let line = if pretty {
            serde_json::to_string_pretty(c)
        } else {
            python_style_json(c)
        };
        match line {
            Ok(l) => println!("{l}"),
            Err(e) => eprintln!("ERROR: {e}"),
        }
    }
}

/// JSON with Python's `json.dumps` separators (`", "` and `": "`), which is
/// the form the reference dumps are compared in.
fn python_style_json(v: &[serde_json::Value]) -> serde_json::Result<String> {
    struct PyFormatter;
    impl serde_json::ser::Formatter for PyFormatter {
        fn begin_array_value<W: ?Sized + std::io::Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            if first {
                Ok(())
            } else {
                w.write_all(b", ")
            }
        }
        fn begin_object_key<W: ?Sized + std::io::Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            if first {
                Ok(())
            } else {
                w.write_all(b", ")
            }
        }
        fn begin_object_value<W: ?Sized + std::io::Write>(
            &mut self,
            w: &mut W,
        ) -> std::io::Result<()> {
            w.write_all(b": ")
        }
        // Python's `ensure_ascii`: everything outside ASCII as `\uXXXX`.
        fn write_string_fragment<W: ?Sized + std::io::Write>(
            &mut self,
            w: &mut W,
            fragment: &str,
        ) -> std::io::Result<()> {
            for c in fragment.chars() {
                if c.is_ascii() {
                    w.write_all(&[c as u8])?;
                } else {
                    let mut buf = [0u16; 2];
                    for u in c.encode_utf16(&mut buf) {
                        write!(w, "\\u{u:04x}")?;
                    }
                }
            }
            Ok(())
        }
    }
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PyFormatter);
    serde::Serialize::serialize(&v, &mut ser)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn test_config(args: &Args, client: &ClientOptions) -> ExitCode {
    match read_config(&args.conf, ReadMode::Test, client) {
        Ok(read) => {
            let problems = read.problems();
            if problems.is_empty() {
                println!("OK: configuration test is successful");
                ExitCode::SUCCESS
            } else {
                for p in problems {
                    eprintln!("ERROR: {p}");
                }
                println!("ERROR: test configuration failed");
                ExitCode::from(255)
            }
        }
        Err(e) => {
            eprintln!("ERROR: Failed during configuration: {e}");
            println!("ERROR: test configuration failed");
            ExitCode::from(255)
        }
    }
}
