//! Action tag substitution with hostile values.
//!
//! The rule `crates/action/src/subst.rs` documents: a dynamic (ticket)
//! value with a shell-special character is never pasted into the script;
//! the tag becomes a reference to a variable bound to a positional
//! argument of `sh -c`, so the shell only *expands* it and never parses it
//! as code. Values without special characters are pasted as they are.
//!
//! Input: `MODE FIELDS` with FIELDS separated by NUL... except that NUL is
//! itself a value a log line can carry, so fields are separated by the
//! byte 0xFF (never valid UTF-8, removed before decoding).
//!
//! MODE (mod 2):
//! - 0, the dynamic step: FIELDS are the values of `<ip>`, `<matches>`,
//!   `<F-USER>` and of twelve more tags, substituted into fixed templates
//!   that put tags in the usual places (double quotes, a here-document, an
//!   unquoted argument, next to word characters, many tags in one
//!   command). Checked statically first — the script carries no special
//!   character that the template does not, apart from the variable
//!   references — and then for real: `/bin/sh` (empty PATH, empty working
//!   directory, builtins only) must print each value exactly where the
//!   template quotes the tag, and the value's fields where it does not;
//! - 1, the static step on fuzzed properties (`substitute_recursive_tags`
//!   and `replace_static`): no panic, no hang, bounded growth.

#![no_main]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use gaoler_action::subst::{replace_dynamic, replace_static, substitute_recursive_tags};
use gaoler_action::{ActionInfo, ShellCommand};
use libfuzzer_sys::fuzz_target;

/// The characters fail2ban's `ESCAPE_CRE` treats as shell-special (spec
/// §4.3), written out here independently of the code under test.
const SPECIAL: &str = "\\#&;`|*?~<>^()[]{}$'\"\n\r";

const EXTRA_TAGS: usize = 12;

static DIR: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_dir() {
    if let Some(d) = DIR.get() {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// An empty working directory for the shell (so an unquoted `*` globs
/// nothing), removed at exit.
fn cwd() -> &'static PathBuf {
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("gaoler-fuzz-subst-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        // SAFETY: registering a plain `extern "C" fn` has no preconditions.
        unsafe { libc::atexit(remove_dir) };
        d
    })
}

/// How the shell must see a tag's value.
#[derive(Clone, Copy)]
enum Seen {
    /// Exactly the value, between this text and that (the template
    /// quotes the tag, maybe glued to other characters).
    Quoted(&'static str, &'static str),
    /// The value's fields (unquoted: split on blanks, and globbed).
    Fields,
}

const EXACT: Seen = Seen::Quoted("", "");

struct Template {
    /// The command, with `{}`-free tags; every tag is printed by one
    /// `printf '%s\n'` argument (or one here-document line).
    text: String,
    /// Tags in print order, and how their value must come out.
    prints: Vec<(&'static str, Seen)>,
}

fn templates() -> &'static Vec<Template> {
    static T: OnceLock<Vec<Template>> = OnceLock::new();
    T.get_or_init(|| {
        let extra: Vec<&'static str> = (0..EXTRA_TAGS)
            .map(|i| &*Box::leak(format!("t{i}").into_boxed_str()))
            .collect();
        let mut many = String::from("printf '%s\\n'");
        for t in &extra {
            many.push_str(&format!(" \"<{t}>\""));
        }
        vec![
            Template {
                text: "printf '%s\\n' \"<ip>\" \"<matches>\" \"<F-USER>\"".into(),
                prints: vec![("ip", EXACT), ("matches", EXACT), ("F-USER", EXACT)],
            },
            Template {
                // how mail actions quote matches: inside a longer string
                text: "printf '%s\\n' \"Lines: <matches>\" \"from <ip>.\"".into(),
                prints: vec![
                    ("matches", Seen::Quoted("Lines: ", "")),
                    ("ip", Seen::Quoted("from ", ".")),
                ],
            },
            Template {
                // (the delimiter starts with a character no raw value has:
                // dash 0.5.12 drops a non-ASCII byte that follows a prefix
                // of the delimiter at the start of a here-document line)
                text:
                    "while IFS= read -r l; do printf '%s\\n' \"$l\"; done <<]EOF\n<matches>\n]EOF"
                        .into(),
                prints: vec![("matches", EXACT)],
            },
            Template {
                text: "printf '%s\\n' \"<F-USER>x\" \"<ip>_1\"".into(),
                prints: vec![
                    ("F-USER", Seen::Quoted("", "x")),
                    ("ip", Seen::Quoted("", "_1")),
                ],
            },
            Template {
                text: many,
                prints: extra.iter().map(|t| (*t, EXACT)).collect(),
            },
            // unquoted, last: globbing may make the output unknown from here
            Template {
                text: "printf '%s\\n' <F-USER>".into(),
                prints: vec![("F-USER", Seen::Fields)],
            },
        ]
    })
}

fn info_for(values: &[String]) -> ActionInfo {
    let v = |i: usize| values.get(i).cloned().unwrap_or_default();
    let mut info = ActionInfo::new();
    info.set("ip", v(0))
        .set("matches", v(1))
        .set_data("user", v(2));
    for i in 0..EXTRA_TAGS {
        info.set(format!("t{i}"), v(3 + i));
    }
    info
}

fn value_of(tag: &str, values: &[String]) -> String {
    let i = match tag {
        "ip" => 0,
        "matches" => 1,
        "F-USER" => 2,
        t => 3 + t[1..].parse::<usize>().expect("tN"),
    };
    // a NUL cannot be passed to a shell: the code documents U+FFFD for it
    values
        .get(i)
        .map(|v| v.replace('\0', "\u{FFFD}"))
        .unwrap_or_default()
}

/// `text` without variable references (`$f2bV_x`, `${f2bV_x}`) and
/// without the prelude line that binds them.
fn strip_var_refs(script: &str, has_prelude: bool) -> String {
    let body = if has_prelude {
        script.split_once('\n').map_or("", |(_, b)| b)
    } else {
        script
    };
    let mut out = String::new();
    let mut rest = body;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (braced, name_part) = match after.strip_prefix('{') {
            Some(a) => (true, a),
            None => (false, after),
        };
        if let Some(n) = name_part.strip_prefix("f2bV_") {
            let len = n
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(n.len());
            let mut skip = 5 + len;
            if braced {
                assert!(
                    n[len..].starts_with('}'),
                    "unterminated ${{…}} in {script:?}"
                );
                skip += 2;
            }
            rest = &after[skip..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn count_special(s: &str) -> Vec<usize> {
    SPECIAL
        .chars()
        .map(|c| s.chars().filter(|&x| x == c).count())
        .collect()
}

fn remove_tags(template: &str) -> String {
    let mut out = String::new();
    let mut pos = 0;
    while let Some((s, e, _)) = gaoler_config::tags::find_tag(template, pos) {
        out.push_str(&template[pos..s]);
        pos = e;
    }
    out.push_str(&template[pos..]);
    out
}

fn run_shell(cmd: &ShellCommand) -> Vec<u8> {
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(&cmd.script)
        .args(&cmd.args)
        .env_clear()
        .env("PATH", "/nonexistent")
        .current_dir(cwd())
        .stdin(Stdio::null())
        .output()
        .expect("sh runs");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "shell failed: {:?} {:?}: {}",
        cmd.script,
        cmd.args,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn dynamic(values: &[String]) {
    let info = info_for(values);
    // One shell for all templates (a process per input is the cost here).
    let text: Vec<&str> = templates().iter().map(|t| t.text.as_str()).collect();
    let text = text.join("\n");
    let cmd = replace_dynamic(&text, &info);
    // Statically: every special character of the script is the template's
    // own, once the variable references are taken out.
    let body = strip_var_refs(&cmd.script, !cmd.args.is_empty());
    assert_eq!(
        count_special(&body),
        count_special(&remove_tags(&text)),
        "a value reached the script text: {:?} {:?}",
        cmd.script,
        cmd.args
    );
    assert!(
        !cmd.script.contains('\0') && cmd.args.iter().all(|a| !a.contains('\0')),
        "a NUL byte cannot be passed to sh: {cmd:?}"
    );
    let mut expected = String::new();
    // Globbing makes the rest depend on the file system: only the output
    // up to there is known.
    let mut exact = true;
    'templates: for t in templates() {
        for (tag, seen) in &t.prints {
            let v = value_of(tag, values);
            match seen {
                Seen::Quoted(before, after) => {
                    expected.push_str(&format!("{before}{v}{after}\n"));
                }
                Seen::Fields => {
                    if v.contains(['*', '?', '[']) {
                        exact = false;
                        break 'templates;
                    }
                    let fields: Vec<&str> = v
                        .split([' ', '\t', '\n'])
                        .filter(|f| !f.is_empty())
                        .collect();
                    if fields.is_empty() {
                        expected.push('\n');
                    }
                    for f in fields {
                        expected.push_str(f);
                        expected.push('\n');
                    }
                }
            }
        }
    }
    let got = run_shell(&cmd);
    let got = String::from_utf8_lossy(&got);
    let ok = if exact {
        got == expected
    } else {
        got.starts_with(&expected)
    };
    assert!(
        ok,
        "shell saw other values: {:?} {:?}\n got: {got:?}\nwant: {expected:?}",
        cmd.script, cmd.args
    );
}

fn static_step(fields: &[String]) {
    // key=value properties; the last field is the query
    let mut props = BTreeMap::new();
    for f in fields.iter().take(fields.len().saturating_sub(1)) {
        if let Some((k, v)) = f.split_once('=') {
            props.insert(k.to_string(), v.to_string());
        }
    }
    let query = fields.last().cloned().unwrap_or_default();
    for cond in ["", "family=inet6"] {
        let Ok(subst) = substitute_recursive_tags(&props, cond, &["matches"]) else {
            continue;
        };
        let _ = replace_static(&query, &subst, cond);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let fields: Vec<String> = rest
        .split(|&b| b == 0xff)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    match mode % 2 {
        0 => dynamic(&fields),
        _ => static_step(&fields),
    }
});
