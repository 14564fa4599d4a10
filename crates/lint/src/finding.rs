//! What a check reports, and the two ways it is printed.
//!
//! A finding names the place to edit (file and line, when the
//! configuration reader kept them), says what goes wrong in terms of what
//! fail2ban then does (not "regex X is odd" but "this jail never bans"),
//! and carries a concrete fix. The text form is the compiler's
//! (`FILE:LINE: error[id]: ...`), so editors and CI annotators can jump to
//! it; the JSON form is one document, so scripts read it without parsing
//! prose.

use std::path::PathBuf;

use serde::Serialize;

/// How bad a finding is. Only errors change `gaoler lint`'s exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// The jail cannot work as written: it never bans, or fails to start.
    Error,
    /// The jail works, but not as its author most likely expects.
    Warning,
    /// A trade-off worth knowing about; nothing is broken.
    Info,
}

impl Level {
    /// `error`, `warning` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Info => "info",
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found in a configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How bad it is.
    pub level: Level,
    /// Stable identifier of the check (`prefregex-consumed`, ...).
    pub check: &'static str,
    /// The jail concerned, if the finding is about one.
    pub jail: Option<String>,
    /// The file to edit.
    pub file: Option<PathBuf>,
    /// The line in `file` (1-based).
    pub line: Option<usize>,
    /// What is wrong and what fail2ban does because of it.
    pub message: String,
    /// What to change.
    pub fix: String,
}

impl Finding {
    /// A finding without a place; see [`Finding::at`].
    pub fn new(
        level: Level,
        check: &'static str,
        jail: Option<&str>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            level,
            check,
            jail: jail.map(str::to_string),
            file: None,
            line: None,
            message: message.into(),
            fix: fix.into(),
        }
    }

    /// The same finding placed at `origin` (file and line).
    pub fn at(mut self, origin: Option<&gaoler_config::Origin>) -> Finding {
        if let Some(o) = origin {
            self.file = Some(o.file.clone());
            self.line = (o.line > 0).then_some(o.line);
        }
        self
    }

    /// `FILE:LINE: ` (the parts known), or nothing.
    pub fn place(&self) -> String {
        match (&self.file, self.line) {
            (Some(f), Some(l)) => format!("{}:{l}: ", f.display()),
            (Some(f), None) => format!("{}: ", f.display()),
            _ => String::new(),
        }
    }

    /// `[jail] ` or nothing.
    fn jail_tag(&self) -> String {
        self.jail
            .as_deref()
            .map(|j| format!("[{j}] "))
            .unwrap_or_default()
    }

    /// The compiler-style text: `FILE:LINE: error[id]: [jail] message`,
    /// then an indented `fix:` line.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}{}[{}]: {}{}",
            self.place(),
            self.level,
            self.check,
            self.jail_tag(),
            self.message
        );
        if !self.fix.is_empty() {
            s.push_str("\n    fix: ");
            s.push_str(&self.fix);
        }
        s
    }

    /// The one-line form `gaoler client -t` prints after a passing test:
    /// `FILE:LINE: [jail] message` (with `WARNING: ` put in front there).
    pub fn to_short(&self) -> String {
        format!("{}{}{}", self.place(), self.jail_tag(), self.message)
    }
}

/// Errors and warnings among `findings`.
pub fn counts(findings: &[Finding]) -> (usize, usize) {
    let errors = findings.iter().filter(|f| f.level == Level::Error).count();
    let warnings = findings
        .iter()
        .filter(|f| f.level == Level::Warning)
        .count();
    (errors, warnings)
}

/// The `--json` document: `{"findings": [...], "errors": N, "warnings": M}`.
pub fn to_json(findings: &[Finding]) -> serde_json::Value {
    let (errors, warnings) = counts(findings);
    serde_json::json!({
        "findings": findings,
        "errors": errors,
        "warnings": warnings,
    })
}

/// Sort for output: by file, line, then level and check, so that the
/// report reads top to bottom through each file.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (&a.file, a.line, a.level, a.check, &a.jail, &a.message)
            .cmp(&(&b.file, b.line, b.level, b.check, &b.jail, &b.message))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_omits_unknown_parts() {
        let f = Finding::new(Level::Error, "x-y", Some("sshd"), "broken", "mend it");
        assert_eq!(f.to_text(), "error[x-y]: [sshd] broken\n    fix: mend it");
        let g =
            Finding::new(Level::Warning, "x-y", None, "odd", "").at(Some(&gaoler_config::Origin {
                file: "/e/jail.local".into(),
                line: 3,
            }));
        assert_eq!(g.to_text(), "/e/jail.local:3: warning[x-y]: odd");
        assert_eq!(g.to_short(), "/e/jail.local:3: odd");
    }

    #[test]
    fn json_counts_levels() {
        let v = to_json(&[
            Finding::new(Level::Error, "a", None, "m", "f"),
            Finding::new(Level::Info, "b", Some("j"), "m", "f"),
        ]);
        assert_eq!(v["errors"], 1);
        assert_eq!(v["warnings"], 0);
        assert_eq!(v["findings"][0]["level"], "error");
        assert_eq!(v["findings"][1]["jail"], "j");
        assert!(v["findings"][0]["line"].is_null());
    }
}
