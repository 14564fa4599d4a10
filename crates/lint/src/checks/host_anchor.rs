//! `host-unanchored`: failregexes that let text an attacker writes into
//! the log choose the address that gets banned.
//!
//! Log lines carry text the client chose: a user name, a SIP Call-ID, a
//! URL. If that text can contain what the failregex looks for, the client
//! frames someone else: a user name `x from 192.0.2.66` in
//! `Failed password for x from 192.0.2.66 from 203.0.113.5 port 4242`
//! bans 192.0.2.66 when the failregex is `Failed password for .*? from
//! <HOST>` (the lazy `.*?` stops at the first ` from `), or when a greedy
//! `.*` is followed by nothing that pins the real address to the end of
//! the line.
//!
//! The judgement, per top-level alternative of the failregex and per
//! address tag (`<HOST>`, `<ADDR>`, `<IP4>`, `<IP6>`, `<DNS>`,
//! `<SUBNET>`, `<F-ID/>`, ... and `<F-ID>`-style field groups):
//! - the *tail* after the tag is safe when it ends with `$` and holds no
//!   unbounded "any character" run (`.*`, `.+?`, `[\s\S]*`, also inside a
//!   repeated group): the match must then end where the line ends, so the
//!   address is the last one on the line, and client text can only come
//!   before it;
//! - otherwise, the pattern is exposed when an unbounded "any" run comes
//!   before the tag (it can stretch over client text, up to a forged
//!   address), or when the pattern is not anchored at `^` (client text
//!   anywhere can hold a whole forged match).
//!
//! Bounded classes (`\S+`, `[^@]+`, `\d+`) are not counted: they cannot
//! span the blanks and words a forged `from ADDR` needs, which is exactly
//! the fix. This is a warning, never an error: many logs never hold
//! client text before the address, and the check cannot know which field
//! a daemon lets clients fill.

use super::{failregex_places, Ctx};
use crate::finding::{Finding, Level};
use crate::model::JailView;
use crate::pattern::{self, is_unbounded_any, starts_anchored, Item, Node, ID_TAGS};

/// Why one alternative is exposed, if it is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Exposure {
    /// An unbounded `.*` before the address, nothing pinning the end.
    AnyBefore { tag: String, wildcard: String },
    /// No `^`, nothing pinning the end.
    Unanchored { tag: String },
}

fn id_tag(item: &Item) -> Option<String> {
    match &item.node {
        Node::Tag(t) if ID_TAGS.contains(&t.as_str()) => Some(format!("<{t}>")),
        Node::Field { name, .. }
            if matches!(name.as_str(), "ID" | "IP4" | "IP6" | "ADDR" | "DNS") =>
        {
            Some(format!("<F-{name}>"))
        }
        _ => None,
    }
}

/// Whether every way through `items` ends with `$` (a trailing group
/// counts when each of its alternatives does).
fn ends_with_end(items: &[Item]) -> bool {
    let Some(last) = items
        .iter()
        .rev()
        .find(|i| !matches!(i.node, Node::ZeroWidth))
    else {
        return false;
    };
    if last.min == 0 {
        return false;
    }
    match &last.node {
        Node::End => true,
        Node::Group { kind, branches } if *kind != pattern::GroupKind::Look => {
            branches.iter().all(|b| ends_with_end(b))
        }
        Node::Field { branches, .. } => branches.iter().all(|b| ends_with_end(b)),
        _ => false,
    }
}

/// The exposure of a failregex (`None`: safe, or not understood).
pub(crate) fn exposure(src: &str) -> Option<Exposure> {
    let branches = pattern::parse(src)?;
    for items in &branches {
        let flat = pattern::flatten(items);
        for (k, fl) in flat.iter().enumerate() {
            let Some(tag) = id_tag(fl.item) else { continue };
            // atoms after the tag: those that start past its end
            let tail: Vec<&pattern::Flat<'_>> = flat[k + 1..]
                .iter()
                .filter(|t| t.item.start >= fl.item.end)
                .collect();
            let tail_any = tail
                .iter()
                .any(|t| is_unbounded_any(t.item, t.outer_unbounded));
            if ends_with_end(items) && !tail_any {
                continue;
            }
            let before = flat[..k].iter().find(|b| {
                b.item.end <= fl.item.start && is_unbounded_any(b.item, b.outer_unbounded)
            });
            if let Some(b) = before {
                let (s, e) = b.span();
                return Some(Exposure::AnyBefore {
                    tag,
                    wildcard: src[s..e].to_string(),
                });
            }
            if !starts_anchored(items) {
                return Some(Exposure::Unanchored { tag });
            }
        }
    }
    None
}

/// Runs the check on one jail.
pub(crate) fn check(ctx: &Ctx<'_>, jail: &JailView<'_>, out: &mut Vec<Finding>) {
    let places = failregex_places(ctx, jail);
    for (i, r) in jail.filter.failregex.iter().enumerate() {
        let Some(e) = exposure(r) else { continue };
        let shown = super::quote(r);
        let (message, fix) = match &e {
            Exposure::AnyBefore { tag, wildcard } => (
                format!(
                    "in failregex `{shown}`, `{wildcard}` before {tag} can stretch over text a client writes into the \
                     log, and nothing after {tag} pins the match to the end of the line: a \
                     client whose user name (or other field) reads `x from 192.0.2.66` gets \
                     192.0.2.66 banned instead of itself"
                ),
                format!(
                    "replace `{wildcard}` with a bounded class that cannot span a forged \
                     address (`\\S+`, `[^@]+`, `[^\\]]*`), and end the failregex with `$` after \
                     what follows {tag} (e.g. `(?: port \\d+)?(?: ssh\\d*)?$`); keep it anchored \
                     with `^`"
                ),
            ),
            Exposure::Unanchored { tag } => (
                format!(
                    "failregex `{shown}` is not anchored with `^` and nothing after {tag} pins it to \
                     the end of the line: client-controlled text anywhere on the line (a \
                     user name, a Call-ID, a URL) can carry a whole forged match and get any \
                     address banned"
                ),
                format!(
                    "anchor it: start with `^` (the line's fixed prefix, e.g. \
                     `^%(__prefix_line)s`, or the first field of a CSV row) and end with `$` \
                     after what follows {tag}"
                ),
            ),
        };
        out.push(
            Finding::new(
                Level::Warning,
                "host-unanchored",
                Some(&jail.name),
                message,
                fix,
            )
            .at(places.get(i).cloned().flatten().as_ref()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposed_patterns() {
        assert!(matches!(
            exposure(r"Failed password for .* from <HOST>"),
            Some(Exposure::AnyBefore { .. })
        ));
        assert!(matches!(
            exposure(r"^Failed password for .*? from <HOST>(?: port \d+)?"),
            Some(Exposure::AnyBefore { wildcard, .. }) if wildcard == ".*?"
        ));
        assert!(matches!(
            exposure(r"^user <F-USER>.+</F-USER> from <HOST>(?:: .*)?$"),
            Some(Exposure::AnyBefore { .. })
        ));
        assert_eq!(
            exposure(r#"\"FAIL2BAN_HOST=<HOST>\""#),
            Some(Exposure::Unanchored {
                tag: "<HOST>".into()
            })
        );
    }

    #[test]
    fn safe_patterns() {
        for p in [
            r"^Failed password for \S+ from <HOST>",
            r"^Failed password for .* from <HOST>(?: port \d+)?$",
            r"Failed password for \S+ from <HOST> port \d+$",
            r#"^"FAIL2BAN_HOST=<HOST>"(?:,|\s*$)"#,
            r"^SIP auth failure \((REGISTER|INVITE)\) for \[[^\]]*\] from ip <HOST>$",
            r"^no address here (.*)",
            r#"^a (?: [\w.]+=(?:"(?:[^"\\]|\\.)*"|[^\s"]*))*? ip=<ADDR>(?: x=(?:"(?:[^"\\]|\\.)*"))*$"#,
        ] {
            assert_eq!(exposure(p), None, "{p}");
        }
        // an unbounded tail alone is harmless when nothing before is
        assert_eq!(
            exposure(r"^Login failed for \S+ from <HOST>(?:\. [A-Z](?:(?! from ).)* on line \d+)?"),
            None
        );
        assert!(matches!(
            exposure(r"^x (?:(?!from).)* from <HOST>"),
            Some(Exposure::AnyBefore { wildcard, .. }) if wildcard == "(?:(?!from).)*"
        ));
        for p in [r"from <HOST>(?:x|$)", r"^a .* from <HOST>(?:$)?"] {
            assert!(exposure(p).is_some(), "{p}");
        }
        for p in [r"from <HOST>(?:x$|$)", r"^a .* from <HOST>\s*(?:$)"] {
            assert_eq!(exposure(p), None, "{p}");
        }
    }
}
