//! A structural reading of fail2ban's regexes (Python syntax plus
//! fail2ban's `<TAGS>`), enough for the checks to reason about them.
//!
//! The matcher crate compiles and runs regexes; it does not say *where*
//! in a pattern a `<HOST>` sits, what comes before it, or which part of a
//! failregex a prefregex would already have eaten. This module parses a
//! pattern into items (one per atom, with its quantifier and its byte span
//! in the source) so that:
//! - a failregex can be cut at an item boundary and the rest given back
//!   *as the user wrote it* (tags, `\'` escapes and all), which is what a
//!   fix must quote;
//! - the path from the start of a pattern to its address tag can be
//!   walked (`.*` before `<HOST>`, a `$` after it);
//! - a *witness* can be made from the items (see [`crate::witness`]).
//!
//! Anything this reader does not understand (back-references,
//! conditionals, `<SKIPLINES>`) makes it answer `None`: the checks then
//! say nothing rather than guess. Witnesses are always checked by running
//! the real regex on them before they are used.

/// One atom of a pattern with its repetition.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Item {
    pub node: Node,
    pub min: u32,
    /// `None`: unbounded (`*`, `+`, `{n,}`).
    pub max: Option<u32>,
    /// Byte span in the source, quantifier included.
    pub start: usize,
    pub end: usize,
}

/// What an [`Item`] matches.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    /// One character, literally (plain or escaped).
    Char(char),
    /// `.`
    Any,
    /// `[...]`, `\d`, `\S`, ...: the source text.
    Class(String),
    /// `^`, `\A`
    Start,
    /// `$`, `\Z`
    End,
    /// `\b`, `\B`, inline flags, comments.
    ZeroWidth,
    /// `(...)`: capturing or not, look-around, with its alternatives.
    Group {
        kind: GroupKind,
        branches: Vec<Vec<Item>>,
    },
    /// A self-contained tag: `HOST`, `ADDR`, `F-ID/`, ... (without `<>`).
    Tag(String),
    /// `<F-NAME>...</F-NAME>`, a named group made by a tag pair.
    Field {
        name: String,
        branches: Vec<Vec<Item>>,
    },
    /// Back-references and other constructs not reasoned about.
    Opaque,
}

/// The kinds of `(...)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GroupKind {
    Capture,
    NonCapture,
    Look,
    Conditional,
}

/// Tags that stand for a failure id (an address or a name).
pub(crate) const ID_TAGS: &[&str] = &[
    "HOST",
    "ADDR",
    "IP4",
    "IP6",
    "DNS",
    "SUBNET",
    "F-ID/",
    "F-IP4/",
    "F-IP6/",
    "F-ADDR/",
    "F-DNS/",
    "F-SUBNET/",
];

/// Self-contained tags the filter replaces.
const KNOWN_TAGS: &[&str] = &[
    "HOST",
    "ADDR",
    "IP4",
    "IP6",
    "DNS",
    "SUBNET",
    "CIDR",
    "SKIPLINES",
    "F-ID/",
    "F-IP4/",
    "F-IP6/",
    "F-ADDR/",
    "F-DNS/",
    "F-SUBNET/",
    "F-CIDR/",
    "F-PORT/",
];

/// Parse a pattern into its top-level alternatives.
pub(crate) fn parse(src: &str) -> Option<Vec<Vec<Item>>> {
    let mut p = Parser { src, pos: 0 };
    let branches = p.seq(&Until::End)?;
    Some(branches)
}

enum Until {
    End,
    Paren,
    Field(String),
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    /// Alternatives up to the terminator (consumed).
    fn seq(&mut self, until: &Until) -> Option<Vec<Vec<Item>>> {
        let mut branches = vec![Vec::new()];
        loop {
            let Some(c) = self.peek() else {
                return matches!(until, Until::End).then_some(branches);
            };
            match c {
                ')' => {
                    if !matches!(until, Until::Paren) {
                        return None;
                    }
                    self.pos += 1;
                    return Some(branches);
                }
                '|' => {
                    self.pos += 1;
                    branches.push(Vec::new());
                    continue;
                }
                '<' => {
                    if let Until::Field(name) = until {
                        let close = format!("</F-{name}>");
                        if self.rest().starts_with(&close) {
                            self.pos += close.len();
                            return Some(branches);
                        }
                    }
                }
                _ => {}
            }
            let start = self.pos;
            let node = self.atom()?;
            let (min, max) = self.quantifier(&node)?;
            let item = Item {
                node,
                min,
                max,
                start,
                end: self.pos,
            };
            branches.last_mut()?.push(item);
        }
    }

    fn atom(&mut self) -> Option<Node> {
        let c = self.bump()?;
        Some(match c {
            '\\' => self.escape()?,
            '[' => self.class()?,
            '(' => self.group()?,
            '.' => Node::Any,
            '^' => Node::Start,
            '$' => Node::End,
            '<' => self.tag().unwrap_or(Node::Char('<')),
            '*' | '+' | '?' => return None,
            c => Node::Char(c),
        })
    }

    fn escape(&mut self) -> Option<Node> {
        let c = self.bump()?;
        let hex = |p: &mut Self, n: usize| -> Option<Node> {
            let digits = p.rest().get(..n)?;
            let v = u32::from_str_radix(digits, 16).ok()?;
            p.pos += n;
            char::from_u32(v).map(Node::Char)
        };
        Some(match c {
            'd' | 'D' | 'w' | 'W' | 's' | 'S' => Node::Class(format!("\\{c}")),
            'b' | 'B' => Node::ZeroWidth,
            'A' => Node::Start,
            'Z' => Node::End,
            'n' => Node::Char('\n'),
            't' => Node::Char('\t'),
            'r' => Node::Char('\r'),
            'f' => Node::Char('\u{c}'),
            'v' => Node::Char('\u{b}'),
            'a' => Node::Char('\u{7}'),
            '0' => Node::Char('\0'),
            'x' => hex(self, 2)?,
            'u' => hex(self, 4)?,
            'U' => hex(self, 8)?,
            '1'..='9' | 'N' | 'g' => Node::Opaque,
            c => Node::Char(c),
        })
    }

    fn class(&mut self) -> Option<Node> {
        let start = self.pos - 1;
        if self.peek() == Some('^') {
            self.pos += 1;
        }
        if self.peek() == Some(']') {
            self.pos += 1;
        }
        loop {
            match self.bump()? {
                '\\' => {
                    self.bump()?;
                }
                ']' => break,
                _ => {}
            }
        }
        Some(Node::Class(self.src[start..self.pos].to_string()))
    }

    fn skip_past_paren(&mut self) -> Option<()> {
        loop {
            match self.bump()? {
                '\\' => {
                    self.bump()?;
                }
                ')' => return Some(()),
                _ => {}
            }
        }
    }

    fn group(&mut self) -> Option<Node> {
        let rest = self.rest();
        let group = |p: &mut Self, kind: GroupKind, skip: usize| -> Option<Node> {
            p.pos += skip;
            let branches = p.seq(&Until::Paren)?;
            Some(Node::Group { kind, branches })
        };
        if !rest.starts_with('?') {
            return group(self, GroupKind::Capture, 0);
        }
        if rest.starts_with("?:") || rest.starts_with("?>") {
            return group(self, GroupKind::NonCapture, 2);
        }
        if rest.starts_with("?P<") {
            let close = rest.find('>')?;
            return group(self, GroupKind::Capture, close + 1);
        }
        if rest.starts_with("?P=") {
            self.skip_past_paren()?;
            return Some(Node::Opaque);
        }
        if rest.starts_with("?=") || rest.starts_with("?!") {
            return group(self, GroupKind::Look, 2);
        }
        if rest.starts_with("?<=") || rest.starts_with("?<!") {
            return group(self, GroupKind::Look, 3);
        }
        if rest.starts_with("?#") {
            self.skip_past_paren()?;
            return Some(Node::ZeroWidth);
        }
        if rest.starts_with("?(") {
            self.pos += 2;
            self.skip_past_paren()?;
            return group(self, GroupKind::Conditional, 0);
        }
        // inline flags: `(?i)` (whole pattern) or `(?i:...)` (scoped)
        let flags_len = rest[1..]
            .find(|c: char| !matches!(c, 'a' | 'i' | 'L' | 'm' | 's' | 'u' | 'x' | '-'))
            .map(|n| n + 1)?;
        match rest[flags_len..].chars().next()? {
            ')' => {
                self.pos += flags_len + 1;
                Some(Node::ZeroWidth)
            }
            ':' => group(self, GroupKind::NonCapture, flags_len + 1),
            _ => None,
        }
    }

    /// After `<`: a tag the filter replaces, or `None` (a literal `<`).
    fn tag(&mut self) -> Option<Node> {
        let rest = self.rest();
        let close = rest.find('>')?;
        let name = &rest[..close];
        if KNOWN_TAGS.contains(&name) {
            self.pos += close + 1;
            return Some(Node::Tag(name.to_string()));
        }
        let field = name.strip_prefix("F-")?;
        if field.is_empty()
            || !field
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-')
        {
            return None;
        }
        if !self.src[self.pos + close..].contains(&format!("</F-{field}>")) {
            return None;
        }
        self.pos += close + 1;
        let field = field.to_string();
        let branches = self.seq(&Until::Field(field.clone()))?;
        Some(Node::Field {
            name: field,
            branches,
        })
    }

    fn quantifier(&mut self, node: &Node) -> Option<(u32, Option<u32>)> {
        let (min, max) = match self.peek() {
            Some('*') => {
                self.pos += 1;
                (0, None)
            }
            Some('+') => {
                self.pos += 1;
                (1, None)
            }
            Some('?') => {
                self.pos += 1;
                (0, Some(1))
            }
            Some('{') => match braces(self.rest()) {
                Some((min, max, len)) => {
                    self.pos += len;
                    (min, max)
                }
                None => return Some((1, Some(1))),
            },
            _ => return Some((1, Some(1))),
        };
        if matches!(
            node,
            Node::Start
                | Node::End
                | Node::ZeroWidth
                | Node::Group {
                    kind: GroupKind::Look,
                    ..
                }
        ) && max != Some(1)
        {
            // (Python refuses most of these; nothing to reason about)
            return None;
        }
        // lazy or possessive
        if matches!(self.peek(), Some('?' | '+')) {
            self.pos += 1;
        }
        Some((min, max))
    }
}

/// `{m}`, `{m,}`, `{m,n}`, `{,n}` at the start of `s`: (min, max, length).
fn braces(s: &str) -> Option<(u32, Option<u32>, usize)> {
    let end = s.find('}')?;
    let body = &s[1..end];
    let num = |t: &str| -> Option<Option<u32>> {
        if t.is_empty() {
            Some(None)
        } else if t.bytes().all(|b| b.is_ascii_digit()) {
            t.parse().ok().map(Some)
        } else {
            None
        }
    };
    let (min, max) = match body.split_once(',') {
        Some((a, b)) => (num(a)?.unwrap_or(0), num(b)?),
        None => {
            let n = num(body)??;
            (n, Some(n))
        }
    };
    Some((min, max, end + 1))
}

/// Whether the item matches any run of characters, unbounded: `.*`,
/// `.+?`, `[\s\S]*`, `[^\n]+`, or a `.` that a repeated group lets
/// repeat on its own (`(?:(?!x).)*`; not `(?:[^"\\]|\\.)*`, where the `.`
/// only follows a backslash).
pub(crate) fn is_unbounded_any(item: &Item, outer_unbounded: bool) -> bool {
    let unbounded = outer_unbounded || item.max.is_none();
    let any = match &item.node {
        Node::Any => true,
        Node::Class(c) => is_any_class(c),
        _ => false,
    };
    unbounded && any
}

fn is_any_class(c: &str) -> bool {
    matches!(
        c,
        r"[\s\S]" | r"[\S\s]" | r"[\w\W]" | r"[\W\w]" | r"[\d\D]" | r"[\D\d]" | r"[^\n]"
    )
}

/// An atom in source order, with whether an enclosing quantifier lets
/// it repeat on its own without bound, and that quantified group's span.
pub(crate) struct Flat<'a> {
    pub item: &'a Item,
    pub outer_unbounded: bool,
    pub outer: Option<(usize, usize)>,
}

impl Flat<'_> {
    /// The source span that matches without bound: the item, or the
    /// repeated group around it.
    pub fn span(&self) -> (usize, usize) {
        match (self.item.max, self.outer) {
            (Some(_), Some(o)) if self.outer_unbounded => o,
            _ => (self.item.start, self.item.end),
        }
    }
}

/// Whether a group's alternative is one character match with nothing
/// else required (so that repeating the group repeats it alone).
fn lone_atom(branch: &[Item]) -> bool {
    let required: Vec<&Item> = branch
        .iter()
        .filter(|i| {
            i.min > 0
                && !matches!(
                    i.node,
                    Node::ZeroWidth
                        | Node::Start
                        | Node::End
                        | Node::Group {
                            kind: GroupKind::Look,
                            ..
                        }
                )
        })
        .collect();
    required.len() == 1
        && matches!(required[0].node, Node::Any | Node::Class(_))
        && required[0].max == Some(1)
}

/// Every atom of `items` in source order, groups entered (their own item
/// first, then their contents).
pub(crate) fn flatten(items: &[Item]) -> Vec<Flat<'_>> {
    fn walk<'a>(
        items: &'a [Item],
        outer: Option<(usize, usize)>,
        lone: bool,
        out: &mut Vec<Flat<'a>>,
    ) {
        for it in items {
            out.push(Flat {
                item: it,
                outer_unbounded: lone && outer.is_some(),
                outer,
            });
            match &it.node {
                Node::Group { branches, .. } | Node::Field { branches, .. } => {
                    let here = match (outer, it.max) {
                        (Some(o), _) => Some(o),
                        (None, None) => Some((it.start, it.end)),
                        (None, Some(_)) => None,
                    };
                    for b in branches {
                        let lone_here = here.is_some() && (lone || outer.is_none()) && lone_atom(b);
                        walk(b, here, lone_here, out);
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(items, None, false, &mut out);
    out
}

/// Index of the first item that is not zero-width (flags, `\b`).
pub(crate) fn first_real(items: &[Item]) -> Option<usize> {
    items
        .iter()
        .position(|i| !matches!(i.node, Node::ZeroWidth))
}

/// Whether the alternative starts at `^` (after inline flags).
pub(crate) fn starts_anchored(items: &[Item]) -> bool {
    first_real(items).is_some_and(|i| matches!(items[i].node, Node::Start) && items[i].min == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn top(src: &str) -> Vec<Item> {
        let mut b = parse(src).expect("parses");
        assert_eq!(b.len(), 1, "{src}: one alternative");
        b.remove(0)
    }

    #[test]
    fn items_keep_their_source_spans() {
        let src = r"^\.\d+ \[WARNING\] (a|b)+? <HOST>$";
        let items = top(src);
        let texts: Vec<&str> = items.iter().map(|i| &src[i.start..i.end]).collect();
        assert_eq!(texts[..4], ["^", r"\.", r"\d+", " "]);
        assert!(texts.contains(&"(a|b)+?"));
        assert!(texts.contains(&"<HOST>"));
        assert_eq!(texts.last(), Some(&"$"));
        assert!(starts_anchored(&items));
    }

    #[test]
    fn field_tags_are_groups_and_unknown_tags_literal() {
        let items = top(r"user <F-USER>\S+|x</F-USER> <foo>");
        assert!(items.iter().any(
            |i| matches!(&i.node, Node::Field { name, branches } if name == "USER" && branches.len() == 2)
        ));
        assert!(items.iter().any(|i| i.node == Node::Char('<')));
    }

    #[test]
    fn top_level_alternatives_and_bad_patterns() {
        assert_eq!(parse("a|b(c|d)").expect("parses").len(), 2);
        assert!(parse("a(b").is_none());
        assert!(parse("*a").is_none());
        assert!(parse(r"(a)\1").is_some());
    }

    #[test]
    fn unbounded_any_is_found_through_groups() {
        let src = r"^(?:x.)* (?P<u>[\s\S]+?) \S+ .{2} (?:(?!y).)* (?:[^\\]|\\.)*";
        let items = top(src);
        let anys: Vec<&str> = flatten(&items)
            .iter()
            .filter(|f| is_unbounded_any(f.item, f.outer_unbounded))
            .map(|f| {
                let (s, e) = f.span();
                &src[s..e]
            })
            .collect();
        assert_eq!(anys, [r"[\s\S]+?", "(?:(?!y).)*"]);
    }
}
