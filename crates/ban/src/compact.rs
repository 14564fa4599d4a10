//! Compact storage for the tickets a [`FailManager`](crate::FailManager)
//! counts: failure keys, and a ticket's data fields and matched lines packed
//! into one small byte blob.
//!
//! Why: an address spray makes the FailManager hold one ticket per distinct
//! failing address, each with (usually) one matched line and an `ip4` data
//! field. As a `Ticket` (id `String`, `Vec<String>` of lines, a JSON map)
//! that costs about 1 KB per address, the same as fail2ban. Here it costs
//! a fixed entry plus a blob of some 15–30 bytes:
//!
//! - **Keys** ([`FailKey`]): an IPv4 or IPv6 address is stored packed; a
//!   subnet or a raw id (a host name, an `F-ID`, a user) keeps its text.
//!   The key follows fail2ban's `IPAddr` equality, not the text: a raw id
//!   `192.0.2.1` (from `<F-ID>` or `usedns = raw`) and the address
//!   192.0.2.1 are two tickets, as they are in fail2ban; a plain string
//!   given through the string API is parsed first, as fail2ban compares a
//!   `str` with an `IPAddr`.
//! - **Matched lines** are encoded against a reference line that the
//!   [`LineStore`] keeps once and shares (`LineStore::encode_line`): log
//!   lines of one failregex differ from each other in a few tokens (time
//!   stamp, address, port, pid, user), so a line becomes a list of
//!   "copy n bytes of the reference, skip m, insert these bytes" groups,
//!   resynchronised at the next delimiter after each difference. A line
//!   that does not encode compactly against any of the few most recently
//!   used references becomes a reference itself, so dissimilar lines cost
//!   what they cost before (the text once) and can never be expanded.
//!   References are counted and freed with their last user.
//! - **Data fields**: keys are interned per manager (a filter's group names
//!   are few; past [`MAX_KEYS`] they are stored inline), a string value
//!   equal to the failure id (`ip4`, `ip6`, `fid`) is a one-byte marker,
//!   other strings are stored as text and other JSON values as JSON text.
//!
//! Blob layout (numbers are LEB128 varints):
//! `nfields { key value }* nmatches { ref groups }*`, where key is `0 len
//! bytes` (inline) or `1 + index`, value is `0` (the id), `1 len bytes` (a
//! string) or `2 len bytes` (JSON), and a match is its reference index then
//! groups `copy skip (litlen << 1 | last) lit`. Everything a blob refers to
//! lives in the same manager's [`LineStore`]; blobs are never shared
//! between managers.

use std::hash::{BuildHasher, Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use gaoler_addr::{parse_quad, Addr};
use serde_json::{Map, Value};

/// Interned data keys per manager; more are stored inline.
pub const MAX_KEYS: usize = 255;
/// References tried for each new line (most recently used first).
const ACTIVE_REFS: usize = 4;

/// A failure id as the FailManager keys it (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailKey {
    /// An IPv4 address, packed (octets in network order).
    V4([u8; 4]),
    /// An IPv6 address, packed (octets in network order).
    V6([u8; 16]),
    /// A subnet id (rare: `<F-ID>` with a prefix, `cidr` groups).
    Net(Box<(IpAddr, u8)>),
    /// A host name or an arbitrary failure id, verbatim.
    Raw(Box<str>),
}

/// A borrowed [`FailKey`], for lookups without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRef<'a> {
    /// An IPv4 address ([`FailKey::V4`]).
    V4([u8; 4]),
    /// An IPv6 address ([`FailKey::V6`]).
    V6([u8; 16]),
    /// A subnet: network address and prefix length ([`FailKey::Net`]).
    Net(IpAddr, u8),
    /// A host name or other raw id ([`FailKey::Raw`]).
    Raw(&'a str),
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        match self {
            KeyRef::V4(a) => h.write_u32(u32::from_ne_bytes(*a)),
            KeyRef::V6(a) => {
                h.write_u8(6);
                h.write_u128(u128::from_ne_bytes(*a));
            }
            KeyRef::Net(ip, p) => {
                h.write_u8(1);
                ip.hash(h);
                h.write_u8(*p);
            }
            KeyRef::Raw(s) => {
                h.write_u8(2);
                h.write(s.as_bytes());
            }
        }
    }
}

impl KeyRef<'_> {
    /// Copy into a [`FailKey`], to store an id counted for the first time.
    pub fn to_owned_key(self) -> FailKey {
        match self {
            KeyRef::V4(a) => FailKey::V4(a),
            KeyRef::V6(a) => FailKey::V6(a),
            KeyRef::Net(ip, p) => FailKey::Net(Box::new((ip, p))),
            KeyRef::Raw(s) => FailKey::Raw(s.into()),
        }
    }

    /// The key's hash under `s` (the manager's randomly seeded hasher), which
    /// places it in the slot table.
    pub fn hash_with(&self, s: &impl BuildHasher) -> u64 {
        s.hash_one(self)
    }
}

impl FailKey {
    /// Borrow as a [`KeyRef`], the form lookups and hashing take.
    pub fn as_ref(&self) -> KeyRef<'_> {
        match self {
            FailKey::V4(a) => KeyRef::V4(*a),
            FailKey::V6(a) => KeyRef::V6(*a),
            FailKey::Net(n) => KeyRef::Net(n.0, n.1),
            FailKey::Raw(s) => KeyRef::Raw(s),
        }
    }

    /// The id as an [`Addr`] (its text form is the ticket's id).
    pub fn to_addr(&self) -> Addr {
        match self {
            FailKey::V4(a) => Addr::Ip(IpAddr::V4(Ipv4Addr::from(*a))),
            FailKey::V6(a) => Addr::Ip(IpAddr::V6(Ipv6Addr::from(*a))),
            FailKey::Net(n) => Addr::Net(n.0, n.1),
            FailKey::Raw(s) => Addr::Raw(s.to_string()),
        }
    }
}

impl std::fmt::Display for FailKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailKey::V4(a) => Ipv4Addr::from(*a).fmt(f),
            FailKey::V6(a) => Ipv6Addr::from(*a).fmt(f),
            FailKey::Raw(s) => f.write_str(s),
            net => net.to_addr().fmt(f),
        }
    }
}

/// Anything the FailManager accepts as an id: an [`Addr`] as the filter
/// found it, or a string, which is parsed (`"192.0.2.1"` is the address;
/// `"alice"` a raw id).
pub trait FailId {
    /// The key the FailManager counts this id under.
    fn fail_key(&self) -> KeyRef<'_>;
}

impl FailId for Addr {
    fn fail_key(&self) -> KeyRef<'_> {
        match self {
            Addr::Ip(IpAddr::V4(a)) => KeyRef::V4(a.octets()),
            Addr::Ip(IpAddr::V6(a)) => KeyRef::V6(a.octets()),
            Addr::Net(ip, p) => KeyRef::Net(*ip, *p),
            Addr::Raw(s) => KeyRef::Raw(s),
        }
    }
}

impl FailId for str {
    fn fail_key(&self) -> KeyRef<'_> {
        match Addr::parse(self) {
            Addr::Ip(IpAddr::V4(a)) => KeyRef::V4(a.octets()),
            Addr::Ip(IpAddr::V6(a)) => KeyRef::V6(a.octets()),
            Addr::Net(ip, p) => KeyRef::Net(ip, p),
            // Raw text is kept verbatim by the parser.
            Addr::Raw(_) => KeyRef::Raw(self),
        }
    }
}

impl FailId for String {
    fn fail_key(&self) -> KeyRef<'_> {
        self.as_str().fail_key()
    }
}

impl FailId for FailKey {
    fn fail_key(&self) -> KeyRef<'_> {
        self.as_ref()
    }
}

/// One data field of a new failure.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue<'a> {
    /// Text. A value equal to the failure id (`ip4`, `ip6`, `fid`) is stored
    /// as a one-byte marker.
    Str(&'a str),
    /// Any JSON value: a string is stored as text like [`FieldValue::Str`],
    /// others as JSON text; `null` drops the field.
    Json(Value),
}

// ----------------------------------------------------------------------
// varints and a bounds-checked reader

fn put_var(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_var(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Reads a blob. Blobs are written only by this module, so a short or
/// malformed one is a bug; the reader then yields zeros / empty slices
/// rather than panicking.
pub(crate) struct Reader<'a> {
    b: &'a [u8],
    pub pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Reader { b, pos: 0 }
    }
    fn var(&mut self) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        while let Some(&byte) = self.b.get(self.pos) {
            self.pos += 1;
            if shift < 64 {
                v |= u64::from(byte & 0x7f) << shift;
            }
            if byte < 0x80 {
                break;
            }
            shift += 7;
        }
        v
    }
    fn usize(&mut self) -> usize {
        usize::try_from(self.var()).unwrap_or(usize::MAX)
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        let end = self.pos.saturating_add(n).min(self.b.len());
        let s = &self.b[self.pos.min(end)..end];
        self.pos = end;
        s
    }
    fn bytes(&mut self) -> &'a [u8] {
        let n = self.usize();
        self.take(n)
    }
    fn byte(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }
}

// ----------------------------------------------------------------------
// the line store

struct RefLine {
    text: Box<[u8]>,
    /// Matches encoded against this line, plus one while it is active.
    count: u32,
}

/// Reference lines and interned data keys of one manager.
#[derive(Default)]
pub struct LineStore {
    refs: Vec<Option<RefLine>>,
    free: Vec<u32>,
    /// Most recently used references first; each holds one count.
    active: Vec<u32>,
    keys: Vec<Box<str>>,
    scratch: Vec<u8>,
    id_text: String,
}

impl std::fmt::Debug for LineStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineStore")
            .field("refs", &self.live_refs())
            .field("keys", &self.keys)
            .finish()
    }
}

impl Clone for LineStore {
    fn clone(&self) -> Self {
        LineStore {
            refs: self
                .refs
                .iter()
                .map(|r| {
                    r.as_ref().map(|r| RefLine {
                        text: r.text.clone(),
                        count: r.count,
                    })
                })
                .collect(),
            free: self.free.clone(),
            active: self.active.clone(),
            keys: self.keys.clone(),
            scratch: Vec::new(),
            id_text: String::new(),
        }
    }
}

/// Bytes that end a token: a difference between a line and its reference
/// is resynchronised at the next one of these.
const fn delimiters() -> [bool; 256] {
    let mut t = [false; 256];
    let d = b" \t.,:;[](){}<>=@/'\"-_|#";
    let mut i = 0;
    while i < d.len() {
        t[d[i] as usize] = true;
        i += 1;
    }
    t
}
static DELIM: [bool; 256] = delimiters();

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let x = u64::from_le_bytes(a[i..i + 8].try_into().unwrap_or([0; 8]));
        let y = u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
        let d = x ^ y;
        if d != 0 {
            return i + (d.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

fn put_group(out: &mut Vec<u8>, copy: usize, skip: usize, lit: &[u8], last: bool) {
    put_var(out, copy as u64);
    put_var(out, skip as u64);
    put_var(out, ((lit.len() as u64) << 1) | u64::from(last));
    out.extend_from_slice(lit);
}

/// Encodes `line` against `r` into `out`; false (with `out` partly
/// written) once more than `budget` bytes were needed.
fn diff(r: &[u8], line: &[u8], out: &mut Vec<u8>, budget: usize) -> bool {
    let start = out.len();
    let (mut i, mut j) = (0usize, 0usize);
    loop {
        let c = common_prefix(&line[i..], &r[j..]);
        i += c;
        j += c;
        if i == line.len() {
            put_group(out, c, 0, &[], true);
            break;
        }
        if j == r.len() {
            put_group(out, c, 0, &line[i..], true);
            break;
        }
        // The difference runs to the next delimiter of the line; the
        // reference resumes at its next occurrence of that delimiter.
        let a = line[i + 1..]
            .iter()
            .position(|&b| DELIM[b as usize])
            .map_or(line.len(), |p| i + 1 + p);
        if a == line.len() {
            put_group(out, c, 0, &line[i..], true);
            break;
        }
        let b = r[j..]
            .iter()
            .position(|&x| x == line[a])
            .map_or(r.len(), |p| j + p);
        put_group(out, c, b - j, &line[i..a], false);
        i = a;
        j = b;
        if out.len() - start > budget {
            return false;
        }
    }
    out.len() - start <= budget
}

/// Rebuilds a line from its groups (the reader is positioned after the
/// reference index).
fn undiff(r: &[u8], rd: &mut Reader<'_>, out: &mut Vec<u8>) {
    let mut j = 0usize;
    loop {
        let copy = rd.usize();
        let skip = rd.usize();
        let tag = rd.var();
        let end = j.saturating_add(copy).min(r.len());
        out.extend_from_slice(&r[j.min(end)..end]);
        j = end.saturating_add(skip);
        let lit = rd.take(usize::try_from(tag >> 1).unwrap_or(usize::MAX));
        out.extend_from_slice(lit);
        if tag & 1 == 1 || rd.pos >= rd.b.len() {
            break;
        }
    }
}

/// Skips a match's groups (reader after the reference index).
fn skip_groups(rd: &mut Reader<'_>) {
    loop {
        rd.var();
        rd.var();
        let tag = rd.var();
        rd.take(usize::try_from(tag >> 1).unwrap_or(usize::MAX));
        if tag & 1 == 1 || rd.pos >= rd.b.len() {
            break;
        }
    }
}

/// Where a blob's parts lie.
struct Layout {
    /// Byte range of each data field (key and value).
    fields: Vec<(usize, usize)>,
    /// Start of the match count.
    matches_at: usize,
    /// Byte range and reference of each match.
    matches: Vec<(usize, usize, u32)>,
}

impl LineStore {
    /// Reference lines currently held: the shared part of the matched lines'
    /// storage.
    pub fn live_refs(&self) -> usize {
        self.refs.iter().filter(|r| r.is_some()).count()
    }

    fn add_ref(&mut self, line: &[u8]) -> u32 {
        let r = RefLine {
            text: line.into(),
            count: 0,
        };
        match self.free.pop() {
            Some(i) => {
                self.refs[i as usize] = Some(r);
                i
            }
            None => {
                self.refs.push(Some(r));
                (self.refs.len() - 1) as u32
            }
        }
    }

    fn retain_ref(&mut self, i: u32) {
        if let Some(Some(r)) = self.refs.get_mut(i as usize) {
            r.count += 1;
        }
    }

    fn release_ref(&mut self, i: u32) {
        if let Some(slot) = self.refs.get_mut(i as usize) {
            if let Some(r) = slot {
                r.count = r.count.saturating_sub(1);
                if r.count == 0 {
                    *slot = None;
                    self.free.push(i);
                }
            }
        }
    }

    fn ref_text(&self, i: u32) -> &[u8] {
        match self.refs.get(i as usize) {
            Some(Some(r)) => &r.text,
            _ => &[],
        }
    }

    /// Appends one encoded line (reference index and groups) to `out`.
    fn encode_line(&mut self, line: &[u8], out: &mut Vec<u8>) {
        let budget = 16 + line.len() / 4;
        for pos in 0..self.active.len() {
            let r = self.active[pos];
            let Some(Some(x)) = self.refs.get(r as usize) else {
                continue;
            };
            let start = out.len();
            put_var(out, u64::from(r));
            if diff(&x.text, line, out, budget) {
                self.retain_ref(r);
                self.active[..=pos].rotate_right(1);
                return;
            }
            out.truncate(start);
        }
        // No reference is close: this line becomes one.
        let r = self.add_ref(line);
        self.retain_ref(r); // held by the active list
        self.active.insert(0, r);
        if self.active.len() > ACTIVE_REFS {
            if let Some(old) = self.active.pop() {
                self.release_ref(old);
            }
        }
        put_var(out, u64::from(r));
        put_group(out, line.len(), 0, &[], true);
        self.retain_ref(r);
    }

    fn key_index(&mut self, key: &str) -> Option<usize> {
        if let Some(i) = self.keys.iter().position(|k| &**k == key) {
            return Some(i);
        }
        if self.keys.len() < MAX_KEYS {
            self.keys.push(key.into());
            return Some(self.keys.len() - 1);
        }
        None
    }

    fn read_key<'a>(&'a self, rd: &mut Reader<'a>) -> &'a str {
        match rd.usize() {
            0 => std::str::from_utf8(rd.bytes()).unwrap_or(""),
            k => self.keys.get(k - 1).map_or("", |k| &**k),
        }
    }

    fn skip_value(rd: &mut Reader<'_>) {
        if rd.byte() != 0 {
            rd.bytes();
        }
    }

    fn set_id_text(&mut self, id: KeyRef<'_>) {
        use std::fmt::Write;
        self.id_text.clear();
        let _ = write!(self.id_text, "{}", id.to_owned_key());
    }

    /// Whether a string field holds the id's own text (`ip4`, `fid`, ...),
    /// stored as a one-byte marker. IPv4 ids and raw ids are compared
    /// without formatting the id.
    fn is_id_text(&mut self, id: KeyRef<'_>, id_text_set: &mut bool, s: &str) -> bool {
        match id {
            KeyRef::V4(a) => parse_quad(s).map(|q| q.octets()) == Some(a),
            KeyRef::Raw(r) => r == s,
            other => {
                if !*id_text_set {
                    self.set_id_text(other);
                    *id_text_set = true;
                }
                self.id_text == s
            }
        }
    }

    /// Writes one field; `ki` is the key's interned index, if any.
    fn put_field(
        &mut self,
        out: &mut Vec<u8>,
        ki: Option<usize>,
        key: &str,
        v: &FieldValue<'_>,
        id: KeyRef<'_>,
        id_text_set: &mut bool,
    ) {
        match ki {
            Some(i) => put_var(out, i as u64 + 1),
            None => {
                put_var(out, 0);
                put_bytes(out, key.as_bytes());
            }
        }
        let text = match v {
            FieldValue::Str(s) => Some(*s),
            FieldValue::Json(Value::String(s)) => Some(s.as_str()),
            FieldValue::Json(_) => None,
        };
        match (text, v) {
            (Some(s), _) if self.is_id_text(id, id_text_set, s) => out.push(0),
            (Some(s), _) => {
                out.push(1);
                put_bytes(out, s.as_bytes());
            }
            (None, FieldValue::Json(j)) => {
                out.push(2);
                put_bytes(out, j.to_string().as_bytes());
            }
            (None, FieldValue::Str(_)) => out.push(0), // unreachable: Str has text
        }
    }

    /// Appends the fields of `data` whose keys are not `known` (interned
    /// indices below 64 as bits; others are looked up by the caller or in
    /// `known_names`, the ones this call wrote) to `out`; returns how many.
    /// A key given twice keeps its first value.
    fn put_new_fields<'a>(
        &mut self,
        out: &mut Vec<u8>,
        id: KeyRef<'_>,
        data: impl IntoIterator<Item = (&'a str, FieldValue<'a>)>,
        mut known: u64,
        known_names: &mut Vec<&'a str>,
    ) -> usize {
        let mut n = 0;
        let mut id_text_set = false;
        for (k, v) in data {
            if matches!(v, FieldValue::Json(Value::Null)) {
                continue;
            }
            let ki = self.key_index(k);
            match ki {
                Some(i) if i < 64 => {
                    if known & (1 << i) != 0 {
                        continue;
                    }
                    known |= 1 << i;
                }
                _ => {
                    if known_names.contains(&k) {
                        continue;
                    }
                    known_names.push(k);
                }
            }
            self.put_field(out, ki, k, &v, id, &mut id_text_set);
            n += 1;
        }
        n
    }

    fn layout(&self, blob: &[u8]) -> Layout {
        let mut rd = Reader::new(blob);
        let nf = rd.usize();
        let mut fields = Vec::with_capacity(nf.min(64));
        for _ in 0..nf {
            let s = rd.pos;
            self.read_key(&mut rd);
            Self::skip_value(&mut rd);
            fields.push((s, rd.pos));
            if rd.pos >= blob.len() {
                break;
            }
        }
        let matches_at = rd.pos;
        let nm = rd.usize();
        let mut matches = Vec::with_capacity(nm.min(64));
        for _ in 0..nm {
            if rd.pos >= blob.len() {
                break;
            }
            let s = rd.pos;
            let r = u32::try_from(rd.var()).unwrap_or(u32::MAX);
            skip_groups(&mut rd);
            matches.push((s, rd.pos, r));
        }
        Layout {
            fields,
            matches_at,
            matches,
        }
    }

    /// A new ticket's blob: its data fields and the last `max_matches` of
    /// its lines.
    pub fn encode<'a>(
        &mut self,
        id: KeyRef<'_>,
        data: impl IntoIterator<Item = (&'a str, FieldValue<'a>)>,
        matches: &[impl AsRef<str>],
        max_matches: usize,
    ) -> Box<[u8]> {
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        // The field count is patched in once known (one byte below 128).
        out.push(0);
        let n = self.put_new_fields(&mut out, id, data, 0, &mut Vec::new());
        patch_count(&mut out, 0, n);
        let keep = &matches[matches.len().saturating_sub(max_matches)..];
        put_var(&mut out, keep.len() as u64);
        for m in keep {
            self.encode_line(m.as_ref().as_bytes(), &mut out);
        }
        let blob: Box<[u8]> = out.as_slice().into();
        self.scratch = out;
        blob
    }

    /// The blob after one more failure: fields the ticket lacks are added
    /// (the first failure's values stay), the new lines appended and the
    /// oldest dropped beyond `max_matches` (0 drops them all).
    pub fn merge<'a>(
        &mut self,
        id: KeyRef<'_>,
        blob: &[u8],
        data: impl IntoIterator<Item = (&'a str, FieldValue<'a>)>,
        matches: &[impl AsRef<str>],
        max_matches: usize,
    ) -> Box<[u8]> {
        let lay = self.layout(blob);
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        // Fields: the old ones as they are, then the new keys.
        let mut known = 0u64;
        let mut inline_keys = false;
        for &(s, _) in &lay.fields {
            let mut rd = Reader::new(blob);
            rd.pos = s;
            match rd.usize() {
                0 => inline_keys = true,
                k if k - 1 < 64 => known |= 1 << (k - 1),
                _ => inline_keys = true,
            }
        }
        out.push(0);
        for &(s, e) in &lay.fields {
            out.extend_from_slice(&blob[s..e]);
        }
        // Keys not interned below 64 are looked up in the old fields.
        let lookup = |k: &str| {
            inline_keys
                && lay.fields.iter().any(|&(s, _)| {
                    let mut rd = Reader::new(blob);
                    rd.pos = s;
                    self.read_key(&mut rd) == k
                })
        };
        let mut names = Vec::new();
        let added = if inline_keys {
            // `lookup` reads the store: settle it before writing.
            let data: Vec<(&'a str, FieldValue<'a>)> =
                data.into_iter().filter(|(k, _)| !lookup(k)).collect();
            self.put_new_fields(&mut out, id, data, known, &mut names)
        } else {
            self.put_new_fields(&mut out, id, data, known, &mut names)
        };
        patch_count(&mut out, 0, lay.fields.len() + added);
        // Matches: keep the newest max_matches of old + new.
        let total = lay.matches.len() + matches.len();
        let drop = total.saturating_sub(max_matches);
        let drop_old = drop.min(lay.matches.len());
        let drop_new = drop - drop_old;
        put_var(&mut out, (total - drop) as u64);
        for (i, &(s, e, r)) in lay.matches.iter().enumerate() {
            if i < drop_old {
                self.release_ref(r);
            } else {
                out.extend_from_slice(&blob[s..e]);
            }
        }
        for m in &matches[drop_new.min(matches.len())..] {
            self.encode_line(m.as_ref().as_bytes(), &mut out);
        }
        let blob: Box<[u8]> = out.as_slice().into();
        self.scratch = out;
        blob
    }

    /// Drops every match of a blob (`maxmatches` 0), keeping the fields.
    pub fn without_matches(&mut self, blob: &[u8]) -> Box<[u8]> {
        let lay = self.layout(blob);
        if lay.matches.is_empty() {
            return blob.into();
        }
        for &(_, _, r) in &lay.matches {
            self.release_ref(r);
        }
        let mut out = blob[..lay.matches_at].to_vec();
        put_var(&mut out, 0);
        out.into()
    }

    /// Releases the references of a blob that is dropped.
    pub fn release(&mut self, blob: &[u8]) {
        if blob.is_empty() {
            return;
        }
        let lay = self.layout(blob);
        for &(_, _, r) in &lay.matches {
            self.release_ref(r);
        }
    }

    /// The data fields and matched lines of a blob.
    pub fn decode(&self, id: &FailKey, blob: &[u8]) -> (Map<String, Value>, Vec<String>) {
        let mut data = Map::new();
        let mut lines = Vec::new();
        if blob.is_empty() {
            return (data, lines);
        }
        let mut rd = Reader::new(blob);
        let nf = rd.usize();
        for _ in 0..nf {
            if rd.pos >= blob.len() {
                break;
            }
            let k = self.read_key(&mut rd).to_owned();
            let v = match rd.byte() {
                0 => Value::String(id.to_string()),
                1 => Value::String(String::from_utf8_lossy(rd.bytes()).into_owned()),
                _ => serde_json::from_slice(rd.bytes()).unwrap_or(Value::Null),
            };
            data.insert(k, v);
        }
        let nm = rd.usize();
        let mut buf = Vec::new();
        for _ in 0..nm {
            if rd.pos >= blob.len() {
                break;
            }
            let r = u32::try_from(rd.var()).unwrap_or(u32::MAX);
            buf.clear();
            undiff(self.ref_text(r), &mut rd, &mut buf);
            lines.push(match String::from_utf8(std::mem::take(&mut buf)) {
                Ok(s) => s,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            });
        }
        (data, lines)
    }

    /// Number of matches in a blob.
    pub fn match_count(&self, blob: &[u8]) -> usize {
        if blob.is_empty() {
            0
        } else {
            self.layout(blob).matches.len()
        }
    }

    /// Frees what no blob uses any more (after a large cleanup): drops the
    /// free slots at the end of the table and gives back spare capacity.
    pub fn trim(&mut self) {
        while matches!(self.refs.last(), Some(None)) {
            self.refs.pop();
        }
        let n = self.refs.len() as u32;
        self.free.retain(|&i| i < n);
        self.refs.shrink_to_fit();
        self.free.shrink_to_fit();
        self.scratch = Vec::new();
    }

    /// Bytes held by reference lines (for tests and statistics).
    pub fn ref_bytes(&self) -> usize {
        self.refs
            .iter()
            .flatten()
            .map(|r| r.text.len())
            .sum::<usize>()
    }
}

/// Writes `n` into the one byte reserved at `at` (a varint, which takes
/// more bytes from 128 on: then the rest moves).
fn patch_count(out: &mut Vec<u8>, at: usize, n: usize) {
    if n < 0x80 {
        out[at] = n as u8;
    } else {
        let mut v = Vec::new();
        put_var(&mut v, n as u64);
        out.splice(at..at + 1, v);
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod props;
