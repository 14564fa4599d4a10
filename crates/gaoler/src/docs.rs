//! `gaoler generate-docs DIR`: man pages and shell completions, made from
//! the same clap definitions the tools parse their arguments with, so they
//! cannot drift from what the tools accept. Packaging runs it; each tool
//! gets a page and completions under its own name and under fail2ban's
//! (`fail2ban-client`, `fail2ban-server`, `fail2ban-regex`), which are the
//! names the links install.

use std::path::Path;

use clap::Command;
use clap_complete::Shell;

/// A tool: gaoler's subcommand, its page name, fail2ban's name if any,
/// its command line.
type Tool = (&'static str, &'static str, Option<&'static str>, Command);

fn tools() -> Vec<Tool> {
    vec![
        (
            "client",
            "gaoler-client",
            Some("fail2ban-client"),
            gaoler_client::cli::command(),
        ),
        (
            "server",
            "gaoler-server",
            Some("fail2ban-server"),
            crate::server::command(),
        ),
        (
            "regex",
            "gaoler-regex",
            Some("fail2ban-regex"),
            gaoler_tools::regex_cmd::command(),
        ),
        (
            "explain",
            "gaoler-explain",
            None,
            gaoler_tools::explain::command(),
        ),
        ("lint", "gaoler-lint", None, gaoler_lint::cli::command()),
        (
            "test-samples",
            "gaoler-test-samples",
            None,
            gaoler_tools::samples::command(),
        ),
    ]
}

/// `gaoler` with its tools as subcommands.
fn gaoler() -> Command {
    let mut top = Command::new("gaoler")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Bans addresses that attack your services: fail2ban, rebuilt")
        .long_about(
            "gaoler watches log files and the systemd journal, finds attack patterns with \
             per-service filters, counts failures per address and bans repeat offenders in \
             the firewall for a configured time. It reads an unmodified fail2ban \
             configuration tree; run through a link named fail2ban-client, fail2ban-server \
             or fail2ban-regex it behaves as that tool.",
        )
        .subcommand_required(true);
    for (sub, _, _, cmd) in tools() {
        top = top.subcommand(cmd.name(sub));
    }
    top
}

/// Writes `DIR/man/*.1` and `DIR/completions/{bash,zsh,fish}/*`.
pub fn generate(dir: &Path) -> std::io::Result<()> {
    let man = dir.join("man");
    let completions = dir.join("completions");
    std::fs::create_dir_all(&man)?;
    let mut pages: Vec<(&str, Command)> = vec![("gaoler", gaoler())];
    for (_, page, f2b, cmd) in tools() {
        pages.push((page, cmd.clone().name(page)));
        if let Some(name) = f2b {
            pages.push((name, cmd.name(name)));
        }
    }
    for (name, cmd) in &pages {
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
        std::fs::write(man.join(format!("{name}.1")), out)?;
    }
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let d = completions.join(shell.to_string());
        std::fs::create_dir_all(&d)?;
        let names = pages
            .iter()
            .filter(|(n, _)| *n == "gaoler" || n.starts_with("fail2ban-"));
        for (name, cmd) in names {
            let file = match shell {
                Shell::Zsh => format!("_{name}"),
                Shell::Fish => format!("{name}.fish"),
                _ => name.to_string(),
            };
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cmd.clone(), *name, &mut out);
            std::fs::write(d.join(file), out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_gets_pages_and_completions() {
        let dir = tempfile::tempdir().expect("tempdir");
        generate(dir.path()).expect("generate");
        for page in [
            "gaoler",
            "gaoler-client",
            "gaoler-server",
            "gaoler-regex",
            "gaoler-test-samples",
            "gaoler-explain",
            "gaoler-lint",
            "fail2ban-client",
            "fail2ban-server",
            "fail2ban-regex",
        ] {
            let text = std::fs::read_to_string(dir.path().join(format!("man/{page}.1")))
                .unwrap_or_else(|e| panic!("{page}.1: {e}"));
            assert!(text.contains(".TH"), "{page}: not a man page");
        }
        let client = std::fs::read_to_string(dir.path().join("man/fail2ban-client.1")).unwrap();
        assert!(
            client.contains("\\-\\-conf") || client.contains("conf"),
            "{client}"
        );
        let top = std::fs::read_to_string(dir.path().join("man/gaoler.1")).unwrap();
        for sub in ["client", "server", "regex", "test\\-samples"] {
            assert!(top.contains(sub), "gaoler.1 lacks {sub}");
        }
        for f in [
            "completions/bash/gaoler",
            "completions/bash/fail2ban-client",
            "completions/zsh/_fail2ban-regex",
            "completions/fish/gaoler.fish",
        ] {
            let text =
                std::fs::read_to_string(dir.path().join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert!(!text.is_empty(), "{f} is empty");
        }
        let bash = std::fs::read_to_string(dir.path().join("completions/bash/gaoler")).unwrap();
        assert!(
            bash.contains("test-samples"),
            "bash completion lacks subcommands"
        );
    }
}
