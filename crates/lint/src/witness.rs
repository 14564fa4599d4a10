//! Witnesses: one short line a pattern matches, built item by item from
//! [`crate::pattern`]'s reading, with the offset where each top-level
//! item's text starts.
//!
//! Running the real prefregex on the line a failregex was written for
//! shows where the prefregex's content begins, hence which items of the
//! failregex it consumed. The line is the shortest the reading suggests
//! (optional parts left out, one repetition of `+`, TEST-NET addresses for
//! address tags, for a class the first common log character it accepts,
//! found by running the class itself). It is only a candidate: callers run
//! the real regex on it before trusting it, and a construct this module
//! cannot spell (back-references, conditionals) gives no witness at all.

use std::collections::HashMap;

use crate::pattern::{GroupKind, Item, Node};

/// A line that `items` match, with the offset where each item's text
/// starts (one more entry at the end: the length).
pub(crate) struct Witness {
    pub text: String,
    pub offsets: Vec<usize>,
}

/// Builds witnesses; caches the character chosen for each class.
#[derive(Default)]
pub(crate) struct WitnessMaker {
    classes: HashMap<String, Option<char>>,
}

/// Characters tried for a class, common log characters first.
const CANDIDATES: &[char] = &[
    'a', 'x', '0', '1', ' ', '_', '-', '.', ':', '/', '@', 'A', 'Z', '=', ',', '\'', '"', '(', ')',
    '[', ']', '#', '%', '!', '~', '+', '*', ';', '<', '>', '?', '&', '\t', '\u{e9}',
];

impl WitnessMaker {
    /// A witness for one alternative of a pattern.
    pub fn make(&mut self, items: &[Item]) -> Option<Witness> {
        let mut text = String::new();
        let mut offsets = Vec::with_capacity(items.len() + 1);
        for it in items {
            offsets.push(text.len());
            self.item(it, &mut text)?;
        }
        offsets.push(text.len());
        Some(Witness { text, offsets })
    }

    fn item(&mut self, it: &Item, out: &mut String) -> Option<()> {
        // (a long fixed count is spelled out; past that, no witness)
        if it.min > 64 {
            return None;
        }
        for _ in 0..it.min {
            self.node(&it.node, out)?;
        }
        Some(())
    }

    fn branches(&mut self, branches: &[Vec<Item>], out: &mut String) -> Option<()> {
        for b in branches {
            let mut s = String::new();
            if b.iter().try_for_each(|it| self.item(it, &mut s)).is_some() {
                out.push_str(&s);
                return Some(());
            }
        }
        None
    }

    fn node(&mut self, node: &Node, out: &mut String) -> Option<()> {
        match node {
            Node::Char(c) => out.push(*c),
            Node::Any => out.push('a'),
            Node::Class(c) => out.push(self.class_char(c)?),
            Node::Start | Node::End | Node::ZeroWidth => {}
            Node::Group {
                kind: GroupKind::Look,
                ..
            } => {}
            Node::Group {
                kind: GroupKind::Conditional,
                ..
            }
            | Node::Opaque => return None,
            Node::Group { branches, .. } | Node::Field { branches, .. } => {
                self.branches(branches, out)?
            }
            Node::Tag(t) => out.push_str(tag_witness(t)?),
        }
        Some(())
    }

    fn class_char(&mut self, class: &str) -> Option<char> {
        if let Some(c) = self.classes.get(class) {
            return *c;
        }
        let re = gaoler_matcher::Regex::new(
            &format!(r"(?s)\A(?:{class})\Z"),
            gaoler_matcher::Options::default(),
        )
        .ok();
        let found = re.and_then(|re| {
            CANDIDATES
                .iter()
                .copied()
                .find(|c| re.is_match(&c.to_string()).unwrap_or(false))
        });
        self.classes.insert(class.to_string(), found);
        found
    }
}

/// Text for a tag in a witness: TEST-NET addresses, short names.
fn tag_witness(tag: &str) -> Option<&'static str> {
    Some(match tag {
        "HOST" | "ADDR" | "IP4" | "SUBNET" | "F-IP4/" | "F-ADDR/" | "F-SUBNET/" => "192.0.2.1",
        "IP6" | "F-IP6/" => "2001:db8::1",
        "DNS" | "F-DNS/" => "host.example",
        "CIDR" | "F-CIDR/" => "24",
        "F-ID/" => "id",
        "F-PORT/" => "22",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn top(src: &str) -> Vec<Item> {
        let mut b = crate::pattern::parse(src).expect("parses");
        assert_eq!(b.len(), 1, "{src}: one alternative");
        b.remove(0)
    }

    #[test]
    fn witness_matches_and_has_offsets() {
        let src = r"^\.\d+ \[WARNING\] sofia_reg\.c:\d+ SIP auth (failure|challenge) for \[.*\] from ip <HOST>$";
        let items = top(src);
        let w = WitnessMaker::default().make(&items).expect("witness");
        assert_eq!(
            w.text,
            ".0 [WARNING] sofia_reg.c:0 SIP auth failure for [] from ip 192.0.2.1"
        );
        assert_eq!(w.offsets.len(), items.len() + 1);
        let s = items
            .iter()
            .position(|i| i.node == Node::Char('S'))
            .expect("S");
        assert_eq!(&w.text[w.offsets[s]..w.offsets[s] + 3], "SIP");
        let neg = top(r"'[^']+' [^\s\d]");
        let w = WitnessMaker::default().make(&neg).expect("witness");
        assert_eq!(w.text, "'a' a");
    }
}
