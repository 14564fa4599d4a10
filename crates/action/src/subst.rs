//! `<tag>` substitution at run time (§4.3).
//!
//! Two very different steps, kept apart on purpose:
//!
//! * the **static** step works on the action's own properties (trusted
//!   configuration): it is recursive (`<a<b>>` resolves innermost first),
//!   prefers conditional values (`key?family=inet6`), knows the built-ins
//!   `<br>`, `<sp>`, `<fq-hostname>`, `<sh-hostname>` and is cached;
//! * the **dynamic** step inserts ticket values, which may come from log
//!   lines and are therefore hostile. It is a single, non-recursive pass, and
//!   any value with a shell-special character is never pasted into the
//!   script: the tag becomes `${f2bV_<name>}` and the value is handed to
//!   `sh -c` as a positional argument (see [`ShellCommand`]). The shell only
//!   ever *expands* such a variable, it never parses its content as code.
//!   Where the action quotes the tag (`"<matches>"`, a here-document) the
//!   shell sees the value exactly; unquoted it is split into fields and
//!   globbed, as any expansion (the action's choice, as in fail2ban).
//!   Two deliberate differences from fail2ban's text, both found by
//!   fuzzing (`fuzz/fuzz_targets/action_subst.rs`): the reference is
//!   braced, so word characters after the tag cannot extend the variable's
//!   name, and positional parameters past 9 are braced (`${10}`), which a
//!   shell would otherwise read as `$1` followed by `0`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::error::SubstError;
use crate::info::ActionInfo;
use gaoler_py::tags::map_tag_to_opt;

/// fail2ban's `MAX_TAG_REPLACE_COUNT`.
const MAX_TAG_REPLACE_COUNT: usize = 25;

/// Tags whose values are out of the configuration's control: never
/// recursively substituted in the static step, and backslash-escaped when a
/// property of that name is pasted.
pub const ESCAPED_TAGS: &[&str] = &["matches", "ipmatches", "ipjailmatches"];

/// A script for `/bin/sh -c` plus the values of its `$0`, `$1`, ... .
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShellCommand {
    /// The script, including the `f2bV_x=$0 ... \n` prelude if any values
    /// are passed as arguments.
    pub script: String,
    /// Positional arguments (`$0`, `$1`, ...) for the script.
    pub args: Vec<String>,
}

impl ShellCommand {
    /// A script without arguments.
    pub fn plain(script: impl Into<String>) -> Self {
        Self {
            script: script.into(),
            args: Vec::new(),
        }
    }

    /// Whether there is nothing to run (fail2ban treats that as success).
    pub fn is_empty(&self) -> bool {
        self.script.is_empty()
    }
}

/// Finds the next `<name>` (regex `<([^ <>]+)>`) at or after byte `from`:
/// (start, end, name). The configuration reader's tag scanner.
pub(crate) use gaoler_config::tags::find_tag;

/// Replaces every tag in one left-to-right pass (like `re.sub`): replaced
/// text is not rescanned. `f` returns `None` to keep the tag literally.
fn sub_tags<F>(s: &str, mut f: F) -> String
where
    F: FnMut(&str) -> Option<String>,
{
    let mut out = String::with_capacity(s.len());
    let mut pos = 0;
    while let Some((start, end, name)) = find_tag(s, pos) {
        out.push_str(&s[pos..start]);
        match f(name) {
            Some(v) => out.push_str(&v),
            None => out.push_str(&s[start..end]),
        }
        pos = end;
    }
    out.push_str(&s[pos..]);
    out
}

/// Value of the built-in tags: `<br>`, `<sp>`, `<fq-hostname>`,
/// `<sh-hostname>`.
pub fn builtin_tag(tag: &str) -> Option<String> {
    match tag {
        "br" => Some("\n".into()),
        "sp" => Some(" ".into()),
        "fq-hostname" => Some(hostnames().1.clone()),
        "sh-hostname" => Some(hostnames().0.clone()),
        _ => None,
    }
}

/// (short, fully qualified) host name, resolved once per process.
fn hostnames() -> &'static (String, String) {
    static NAMES: OnceLock<(String, String)> = OnceLock::new();
    NAMES.get_or_init(|| {
        let short = gethostname();
        let fq = canonical_name(&short).unwrap_or_else(|| short.clone());
        (short, fq)
    })
}

fn gethostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buf is writable and its length is passed; gethostname writes at
    // most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Like Python's `socket.getfqdn()`: the canonical name of the host name.
fn canonical_name(host: &str) -> Option<String> {
    let c_host = std::ffi::CString::new(host).ok()?;
    // SAFETY: hints is zero-initialised as getaddrinfo requires; the result
    // list is freed with freeaddrinfo exactly once, after the canonical name
    // has been copied out.
    unsafe {
        let mut hints: libc::addrinfo = std::mem::zeroed();
        hints.ai_flags = libc::AI_CANONNAME;
        let mut res: *mut libc::addrinfo = std::ptr::null_mut();
        if libc::getaddrinfo(c_host.as_ptr(), std::ptr::null(), &hints, &mut res) != 0 {
            return None;
        }
        let mut name = None;
        if !res.is_null() && !(*res).ai_canonname.is_null() {
            name = Some(
                std::ffi::CStr::from_ptr((*res).ai_canonname)
                    .to_string_lossy()
                    .into_owned(),
            );
        }
        libc::freeaddrinfo(res);
        name
    }
}

/// fail2ban's `escapeTag`: backslash before shell-special characters,
/// newline/CR as `\n`/`\r`. Used for `matches`-like *properties* in the
/// static step.
pub fn escape_tag(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if is_shell_special(c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// The characters of fail2ban's `ESCAPE_CRE`.
fn is_shell_special(c: char) -> bool {
    matches!(
        c,
        '\\' | '#'
            | '&'
            | ';'
            | '`'
            | '|'
            | '*'
            | '?'
            | '~'
            | '<'
            | '>'
            | '^'
            | '('
            | ')'
            | '['
            | ']'
            | '{'
            | '}'
            | '$'
            | '\''
            | '"'
            | '\n'
            | '\r'
    )
}

/// `substituteRecursiveTags`: resolves tags inside the property values,
/// preferring `tag?<conditional>`. Tags in `ignore` are neither resolved nor
/// used. Unknown tags stay. The algorithm is the configuration reader's
/// (the same function fail2ban uses at config time and at run time).
pub fn substitute_recursive_tags(
    input: &BTreeMap<String, String>,
    conditional: &str,
    ignore: &[&str],
) -> Result<BTreeMap<String, String>, SubstError> {
    let tags: indexmap::IndexMap<String, String> =
        input.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let ignore: std::collections::HashSet<String> = ignore.iter().map(|s| s.to_string()).collect();
    match gaoler_config::tags::substitute_recursive_tags(&tags, conditional, &ignore, |_| Ok(None))
    {
        Ok(out) => Ok(out.into_iter().collect()),
        Err(gaoler_config::ConfigError::TagRecursion { tag, found, value }) => {
            Err(SubstError::SelfReference { tag, found, value })
        }
        Err(e) => Err(SubstError::SelfReference {
            tag: String::new(),
            found: String::new(),
            value: e.to_string(),
        }),
    }
}

/// The static step's final replacement (`replaceTag` with a property map):
/// repeatedly replaces tags in `query` from the already recursively
/// substituted `props`, conditional first, then plain, then built-ins; up to
/// 26 passes.
pub fn replace_static(
    query: &str,
    props: &BTreeMap<String, String>,
    conditional: &str,
) -> Result<String, SubstError> {
    if !query.contains('<') {
        return Ok(query.to_string());
    }
    let mut query = query.to_string();
    let mut count = MAX_TAG_REPLACE_COUNT + 1;
    loop {
        let value = sub_tags(&query, |tag| {
            let mut v = None;
            if !conditional.is_empty() {
                v = props.get(&format!("{tag}?{conditional}"));
            }
            let v = v.or_else(|| props.get(tag));
            match v {
                None => builtin_tag(tag),
                Some(v) if ESCAPED_TAGS.contains(&tag) => Some(escape_tag(v)),
                Some(v) => Some(v.clone()),
            }
        });
        if value == query || !value.contains('<') {
            return Ok(value);
        }
        query = value;
        count -= 1;
        if count == 0 {
            return Err(SubstError::TooLong { query });
        }
    }
}

/// Variable name for an escaped tag: `f2bV_` + the tag with every non-word
/// character replaced by `_`.
fn var_name(tag: &str) -> String {
    let mut s = String::from("f2bV_");
    s.extend(tag.chars().map(|c| {
        if c.is_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    s
}

/// Collects values passed as positional parameters, in first-use order;
/// re-use of a name keeps its position and takes the latest value, like the
/// Python dict fail2ban uses.
#[derive(Default)]
struct Vars(Vec<(String, String)>);

impl Vars {
    fn escape(&mut self, tag: &str, value: String) -> String {
        // A NUL cannot travel in a command line or an argument: the whole
        // command would fail to start (fail2ban's Python raises "embedded
        // null byte" the same way), so one NUL in a log line would silence
        // every action that uses `<matches>`. It becomes U+FFFD, the mark
        // for a character that cannot be represented.
        let value = if value.contains('\0') {
            value.replace('\0', "\u{FFFD}")
        } else {
            value
        };
        if !value.chars().any(is_shell_special) {
            // Spaces are not special for fail2ban: such a value is pasted raw.
            return value;
        }
        let name = var_name(tag);
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.clone(), value)),
        }
        // fail2ban writes `$name`, which a shell reads together with any
        // word characters that follow it in the command (`<F-USER>_x`, or
        // `<matches><F-ID>` with an ID pasted raw, would expand an unset
        // variable and lose the value); braces end the name where the tag
        // ended.
        format!("${{{name}}}")
    }
}

/// The reference to positional parameter `i`: `$0`…`$9`, then `${10}`,
/// because a shell reads `$10` as `$1` followed by `0`.
fn positional(i: usize) -> String {
    if i < 10 {
        format!("${i}")
    } else {
        format!("${{{i}}}")
    }
}

/// The dynamic step (`replaceDynamicTags`): one non-recursive pass over
/// `cmd` with the ticket's values, then `<F-NAME>` from the ticket data
/// (missing → empty). Dangerous values become shell variables bound to
/// positional arguments.
pub fn replace_dynamic(cmd: &str, info: &ActionInfo) -> ShellCommand {
    let mut vars = Vars::default();
    let mut script = sub_tags(cmd, |tag| {
        if info.contains(tag) {
            // A present but uncomputable lazy value (e.g. no reverse DNS)
            // gives an empty string rather than a literal tag.
            let v = info.get(tag).unwrap_or_default();
            Some(vars.escape(tag, v))
        } else {
            builtin_tag(tag)
        }
    });
    if script.contains('<') {
        script = replace_f_tags(&script, |name| {
            let key = map_tag_to_opt(name);
            match info.data(&key) {
                Some(v) => vars.escape(&format!("F_{key}"), v.to_string()),
                None => String::new(),
            }
        });
    }
    if vars.0.is_empty() {
        return ShellCommand::plain(script);
    }
    // `f2bV_a=$0 f2bV_b=$1 \n<command>`, values as `sh -c` arguments.
    let mut prelude = String::new();
    let mut args = Vec::with_capacity(vars.0.len());
    for (i, (name, value)) in vars.0.into_iter().enumerate() {
        prelude.push_str(&format!("{name}={} ", positional(i)));
        args.push(value);
    }
    prelude.push('\n');
    prelude.push_str(&script);
    ShellCommand {
        script: prelude,
        args,
    }
}

/// Replaces every `<F-NAME>` (regex `<F-([A-Z0-9_\-]+)>`).
fn replace_f_tags<F>(s: &str, mut f: F) -> String
where
    F: FnMut(&str) -> String,
{
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(idx) = rest.find("<F-") {
        out.push_str(&rest[..idx]);
        let after = &rest[idx + 3..];
        let name_len = after
            .bytes()
            .take_while(|b| {
                b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-'
            })
            .count();
        if name_len > 0 && after.as_bytes().get(name_len) == Some(&b'>') {
            out.push_str(&f(&after[..name_len]));
            rest = &after[name_len + 1..];
        } else {
            out.push_str("<F-");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn find_tag_like_the_regex() {
        assert_eq!(find_tag("a <b> c", 0).map(|t| t.2), Some("b"));
        assert_eq!(find_tag("<a<b>>", 0).map(|t| t.2), Some("b"));
        assert_eq!(find_tag("< a> <>", 0), None);
        assert_eq!(find_tag("x << y", 0), None);
        assert_eq!(find_tag("<F-USER>", 0).map(|t| t.2), Some("F-USER"));
    }

    #[test]
    fn recursive_and_nested() {
        let p = map(&[
            ("a", "A"),
            ("b", "<a>-B"),
            ("mode", "x"),
            ("val_x", "X<b>"),
            ("cmd", "run <val_<mode>> <unknown>"),
        ]);
        let s = substitute_recursive_tags(&p, "", &[]).unwrap();
        assert_eq!(s["b"], "A-B");
        assert_eq!(s["cmd"], "run XA-B <unknown>");
        assert_eq!(
            replace_static("<cmd>", &s, "").unwrap(),
            "run XA-B <unknown>"
        );
    }

    #[test]
    fn conditional_preferred() {
        let p = map(&[
            ("set", "addr-set-<name>"),
            ("set?family=inet6", "addr6-set-<name>"),
            ("name", "sshd"),
            ("cmd", "add <set>"),
        ]);
        for (cond, want) in [
            ("family=inet4", "add addr-set-sshd"),
            ("family=inet6", "add addr6-set-sshd"),
            ("", "add addr-set-sshd"),
        ] {
            let s = substitute_recursive_tags(&p, cond, &[]).unwrap();
            assert_eq!(replace_static("<cmd>", &s, cond).unwrap(), want, "{cond}");
        }
    }

    #[test]
    fn self_reference_is_an_error() {
        let p = map(&[("a", "<b>"), ("b", "<a>")]);
        assert!(matches!(
            substitute_recursive_tags(&p, "", &[]),
            Err(SubstError::SelfReference { .. })
        ));
        let p = map(&[("a", "x<a>")]);
        assert!(substitute_recursive_tags(&p, "", &[]).is_err());
    }

    #[test]
    fn builtins_and_escaped_properties() {
        let p = map(&[("matches", "a;b"), ("cmd", "x<sp>y<br>z <matches>")]);
        let s = substitute_recursive_tags(&p, "", ESCAPED_TAGS).unwrap();
        assert_eq!(replace_static("<cmd>", &s, "").unwrap(), "x y\nz a\\;b");
        assert!(!replace_static("<sh-hostname>", &s, "").unwrap().is_empty());
        assert!(!replace_static("<fq-hostname>", &s, "")
            .unwrap()
            .contains('<'));
    }

    #[test]
    fn dynamic_safe_values_are_inlined() {
        let info = ActionInfo::for_id("192.0.2.1").with("failures", "3");
        let c = replace_dynamic("ban <ip> after <failures> <other>", &info);
        assert_eq!(c, ShellCommand::plain("ban 192.0.2.1 after 3 <other>"));
    }

    #[test]
    fn dynamic_dangerous_values_become_variables() {
        let mut info = ActionInfo::for_id("192.0.2.1");
        info.set("matches", "a `id` $(x)").set_data("user", "r;m");
        let c = replace_dynamic("echo <ip> <matches> <F-USER> <F-MISSING> <matches>", &info);
        assert_eq!(
            c.script,
            "f2bV_matches=$0 f2bV_F_user=$1 \necho 192.0.2.1 ${f2bV_matches} ${f2bV_F_user}  ${f2bV_matches}"
        );
        assert_eq!(c.args, vec!["a `id` $(x)".to_string(), "r;m".to_string()]);
    }

    #[test]
    fn dynamic_is_not_recursive() {
        let info = ActionInfo::new().with("a", "<b>").with("b", "B");
        let c = replace_dynamic("<a>", &info);
        // "<b>" is special (contains < >), so it is passed as a value and
        // never substituted.
        assert_eq!(c.args, vec!["<b>".to_string()]);
        assert_eq!(c.script, "f2bV_a=$0 \n${f2bV_a}");
    }

    /// What `/bin/sh` prints for `cmd` (builtins only: empty PATH).
    fn sh_output(cmd: &ShellCommand) -> String {
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&cmd.script)
            .args(&cmd.args)
            .env_clear()
            .env("PATH", "/nonexistent")
            .output()
            .expect("run /bin/sh");
        assert!(out.status.success(), "{cmd:?}: {out:?}");
        String::from_utf8(out.stdout).expect("UTF-8 output")
    }

    // Found by fuzz/fuzz_targets/action_subst.rs: `$f2bV_ip_1` expanded
    // the unset `f2bV_ip_1` and the value was lost.
    #[test]
    fn dynamic_variable_ends_where_the_tag_ends() {
        let mut info = ActionInfo::new().with("ip", "1'").with("matches", "a;b");
        info.set_data("id", "x&y");
        let c = replace_dynamic(
            r#"printf '%s\n' "<ip>_1" "<matches><ip>" "<F-ID>z" "<matches>""#,
            &info,
        );
        assert_eq!(sh_output(&c), "1'_1\na;b1'\nx&yz\na;b\n");
        // a raw value glued after a reference
        let info = ActionInfo::new()
            .with("matches", "a;b")
            .with("ip", "192.0.2.1");
        let c = replace_dynamic(r#"printf '%s\n' "<matches><ip>""#, &info);
        assert_eq!(sh_output(&c), "a;b192.0.2.1\n");
    }

    // Found by fuzz/fuzz_targets/action_subst.rs: with eleven escaped
    // values the prelude bound `$10`, which a shell reads as `$1` and `0`.
    #[test]
    fn dynamic_more_than_ten_escaped_values() {
        let mut info = ActionInfo::new();
        let mut cmd = String::from("printf '%s\\n'");
        let mut want = String::new();
        for i in 0..12 {
            info.set(format!("t{i}"), format!("v{i};"));
            cmd.push_str(&format!(" \"<t{i}>\""));
            want.push_str(&format!("v{i};\n"));
        }
        let c = replace_dynamic(&cmd, &info);
        assert_eq!(c.args.len(), 12);
        assert!(c.script.contains("f2bV_t10=${10} "), "{}", c.script);
        assert_eq!(sh_output(&c), want);
    }

    // Found by fuzz/fuzz_targets/action_subst.rs: a NUL in a value (a log
    // line can carry one into <matches> or an F- tag) made the command
    // impossible to start.
    #[test]
    fn dynamic_nul_bytes_do_not_stop_the_command() {
        let mut info = ActionInfo::new()
            .with("ip", "a\0b")
            .with("matches", "x\0;y");
        info.set_data("user", "\0");
        let c = replace_dynamic(r#"printf '%s\n' "<ip>" "<matches>" "<F-USER>""#, &info);
        assert!(!c.script.contains('\0') && c.args.iter().all(|a| !a.contains('\0')));
        assert_eq!(sh_output(&c), "a\u{FFFD}b\nx\u{FFFD};y\n\u{FFFD}\n");
    }

    #[test]
    fn escape_tag_matches_fail2ban() {
        assert_eq!(escape_tag("a b\n$x"), "a b\\n\\$x");
        assert_eq!(escape_tag("plain"), "plain");
    }
}
