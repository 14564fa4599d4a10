//! fail2ban's wire format, spoken safely: pickled plain data only.
//!
//! fail2ban's client (and every tool that talks to its socket: exporters,
//! panels, scripts) pickles its request, an argument list, and unpickles
//! the reply, `(0, result)` or `(1, exception)`. Unpickling arbitrary input
//! can name and call any Python function; served by root, that is a root
//! shell for anyone who can reach the socket. So:
//!
//! - **The decoder is a whitelist.** It runs pickle's stack machine for the
//!   opcodes that build plain data — str, bytes, int, float, bool, None,
//!   list, tuple, dict, set, frozenset, with the memo — in every protocol
//!   (0 to 5) as far as those need it, and refuses every other opcode with
//!   an error before acting on it: GLOBAL, STACK_GLOBAL, REDUCE, BUILD,
//!   INST, OBJ, NEWOBJ, NEWOBJ_EX, EXT1/2/4, PERSID, BINPERSID, the
//!   out-of-band buffers, and the text STRING/UNICODE forms (Python string
//!   literals, which the client never sends). Nothing here can run code,
//!   being Rust, but refusing also means a request never means more than
//!   its data.
//! - **Not `serde-pickle`.** It resolves a list of globals itself
//!   (`builtins.set`, `frozenset`, `bytearray`, `list`, `int`,
//!   `copy_reg._reconstructor`, ...) and applies REDUCE to them, with no
//!   switch to refuse GLOBAL and REDUCE outright; refusing them in a first
//!   pass would need the opcode table a decoder is. The subset below is
//!   small enough to read in one sitting.
//! - **Bounded.** The input is bounded by the listener; the decoded value
//!   is bounded here too: the memo lets a few bytes refer to a large list
//!   again and again, so [`MAX_NODES`] values and [`MAX_DEPTH`] levels at
//!   most come out (a list that contains itself is refused as too deep).
//! - **The encoder** writes protocol 2, which every Python 3 reads: the
//!   data types results have, tuples where fail2ban's results have them
//!   (see [`Shape`]), and exceptions as fail2ban raises them (a GLOBAL
//!   naming the class and a REDUCE with its message, which is how Python
//!   pickles an exception), so that its client prints "Sorry but the jail
//!   'x' does not exist".

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::{Map, Number, Value};

/// Ends every request and reply.
pub const END: &[u8] = b"<F2B_END_COMMAND>";

/// A request made of this (then [`END`]) closes the connection.
pub const CLOSE: &[u8] = b"<F2B_CLOSE_COMMAND>";

/// Most values one request may decode to.
pub const MAX_NODES: usize = 1 << 20;

/// Deepest nesting one request may decode to.
pub const MAX_DEPTH: usize = 64;

/// A value on the unpickler's stack. Containers are shared (the memo
/// hands out the same list again, which later opcodes may still fill).
#[derive(Clone)]
enum Obj {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Rc<RefCell<Vec<Obj>>>),
    Tuple(Rc<Vec<Obj>>),
    Dict(Rc<RefCell<Vec<(Obj, Obj)>>>),
    Set(Rc<RefCell<Vec<Obj>>>),
    Mark,
}

/// Decodes one pickled request into the command words (a list or tuple of
/// plain data). Errors say what was refused.
pub fn decode(data: &[u8]) -> Result<Vec<Value>, String> {
    let obj = Unpickler {
        data,
        pos: 0,
        stack: Vec::new(),
        memo: Vec::new(),
    }
    .run()?;
    let mut budget = MAX_NODES;
    match to_json(&obj, 0, &mut budget)? {
        Value::Array(a) => Ok(a),
        _ => Err("a request must be a list".into()),
    }
}

struct Unpickler<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Obj>,
    memo: Vec<Option<Obj>>,
}

impl Unpickler<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or("truncated pickle")?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<usize, String> {
        Ok(self.take(1)?[0] as usize)
    }

    fn u32(&mut self) -> Result<usize, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    fn u64(&mut self) -> Result<usize, String> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        usize::try_from(u64::from_le_bytes(a)).map_err(|_| "length too large".to_string())
    }

    /// A text opcode's argument: up to the newline.
    fn line(&mut self) -> Result<&str, String> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("truncated pickle")?;
        let s = std::str::from_utf8(&rest[..n]).map_err(|_| "invalid text argument")?;
        self.pos += n + 1;
        Ok(s)
    }

    fn string(&mut self, n: usize) -> Result<Obj, String> {
        let b = self.take(n)?;
        std::str::from_utf8(b)
            .map(|s| Obj::Str(s.to_owned()))
            .map_err(|_| "invalid UTF-8 in a string".into())
    }

    fn bytes(&mut self, n: usize) -> Result<Obj, String> {
        Ok(Obj::Bytes(self.take(n)?.to_vec()))
    }

    fn pop(&mut self) -> Result<Obj, String> {
        match self.stack.pop() {
            Some(Obj::Mark) | None => Err("stack underflow".into()),
            Some(o) => Ok(o),
        }
    }

    fn top(&mut self) -> Result<&Obj, String> {
        match self.stack.last() {
            Some(Obj::Mark) | None => Err("stack underflow".into()),
            Some(o) => Ok(o),
        }
    }

    /// The items above the topmost mark, mark removed.
    fn pop_mark(&mut self) -> Result<Vec<Obj>, String> {
        let at = self
            .stack
            .iter()
            .rposition(|o| matches!(o, Obj::Mark))
            .ok_or("no mark on the stack")?;
        let items = self.stack.split_off(at + 1);
        self.stack.pop();
        Ok(items)
    }

    /// A memo opcode's index: one byte (`q`, `h`), four (`r`, `j`), or a
    /// text line (`p`, `g`).
    fn memo_index(&mut self, op: u8) -> Result<usize, String> {
        match op {
            b'q' | b'h' => self.u8(),
            b'r' | b'j' => self.u32(),
            _ => self
                .line()?
                .parse()
                .map_err(|_| "invalid memo index".to_string()),
        }
    }

    fn put(&mut self, idx: usize) -> Result<(), String> {
        // (indexes are dense in what picklers write; a sparse one is not
        // worth a large allocation)
        if idx > self.memo.len() + 1024 || idx > MAX_NODES {
            return Err("memo index out of range".into());
        }
        let o = self.top()?.clone();
        if self.memo.len() <= idx {
            self.memo.resize(idx + 1, None);
        }
        self.memo[idx] = Some(o);
        Ok(())
    }

    fn get(&mut self, idx: usize) -> Result<(), String> {
        let o = self
            .memo
            .get(idx)
            .cloned()
            .flatten()
            .ok_or("memo entry missing")?;
        self.push(o)
    }

    fn push(&mut self, o: Obj) -> Result<(), String> {
        if self.stack.len() >= MAX_NODES {
            return Err("stack too deep".into());
        }
        self.stack.push(o);
        Ok(())
    }

    fn append(&mut self, items: Vec<Obj>) -> Result<(), String> {
        match self.top()? {
            Obj::List(l) => {
                l.borrow_mut().extend(items);
                Ok(())
            }
            _ => Err("append to something not a list".into()),
        }
    }

    fn set_items(&mut self, items: Vec<Obj>) -> Result<(), String> {
        if !items.len().is_multiple_of(2) {
            return Err("odd number of dict items".into());
        }
        let Obj::Dict(d) = self.top()? else {
            return Err("setitem on something not a dict".into());
        };
        let d = Rc::clone(d);
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            d.borrow_mut().push((k, v));
        }
        Ok(())
    }

    fn run(mut self) -> Result<Obj, String> {
        loop {
            let op = self.u8()? as u8;
            match op {
                // framing and stack
                0x80 => {
                    if self.u8()? > 5 {
                        return Err("unsupported pickle protocol".into());
                    }
                }
                0x95 => {
                    self.u64()?;
                }
                b'.' => {
                    let o = self.pop()?;
                    return if self.stack.is_empty() {
                        Ok(o)
                    } else {
                        Err("stack not empty at STOP".into())
                    };
                }
                b'(' => self.push(Obj::Mark)?,
                b'0' => {
                    self.stack.pop().ok_or("stack underflow")?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let o = self.top()?.clone();
                    self.push(o)?;
                }
                // memo
                0x94 => {
                    let n = self.memo.len();
                    self.put(n)?;
                }
                b'q' | b'r' | b'p' => {
                    let i = self.memo_index(op)?;
                    self.put(i)?;
                }
                b'h' | b'j' | b'g' => {
                    let i = self.memo_index(op)?;
                    self.get(i)?;
                }
                // scalars
                b'N' => self.push(Obj::None)?,
                0x88 => self.push(Obj::Bool(true))?,
                0x89 => self.push(Obj::Bool(false))?,
                b'J' => {
                    let b = self.take(4)?;
                    let v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    self.push(Obj::Int(v.into()))?;
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Obj::Int(v as i64))?;
                }
                b'M' => {
                    let b = self.take(2)?;
                    let v = u16::from_le_bytes([b[0], b[1]]);
                    self.push(Obj::Int(v.into()))?;
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a { self.u8()? } else { self.u32()? };
                    let o = long(self.take(n)?)?;
                    self.push(o)?;
                }
                b'I' => {
                    let o = match self.line()? {
                        "01" => Obj::Bool(true),
                        "00" => Obj::Bool(false),
                        s => Obj::Int(s.trim().parse().map_err(|_| "invalid INT")?),
                    };
                    self.push(o)?;
                }
                b'L' => {
                    let s = self.line()?.trim_end_matches('L');
                    let v = s.parse().map_err(|_| "LONG out of range")?;
                    self.push(Obj::Int(v))?;
                }
                b'G' => {
                    let b = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    self.push(Obj::Float(f64::from_be_bytes(a)))?;
                }
                b'F' => {
                    let v = self.line()?.trim().parse().map_err(|_| "invalid FLOAT")?;
                    self.push(Obj::Float(v))?;
                }
                // strings and bytes (`U` and `T`: Python 2's str, text for
                // fail2ban's purposes)
                0x8c | b'U' | b'X' | b'T' | 0x8d | b'C' | b'B' | 0x8e | 0x96 => {
                    let n = match op {
                        0x8c | b'U' | b'C' => self.u8()?,
                        b'X' | b'T' | b'B' => self.u32()?,
                        _ => self.u64()?,
                    };
                    let o = if matches!(op, b'C' | b'B' | 0x8e | 0x96) {
                        self.bytes(n)?
                    } else {
                        self.string(n)?
                    };
                    self.push(o)?;
                }
                // containers
                b']' => self.push(Obj::List(Rc::default()))?,
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Obj::List(Rc::new(RefCell::new(items))))?;
                }
                b'a' => {
                    let o = self.pop()?;
                    self.append(vec![o])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.append(items)?;
                }
                b')' => self.push(Obj::Tuple(Rc::default()))?,
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Obj::Tuple(Rc::new(items)))?;
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err("stack underflow".into());
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    if items.iter().any(|o| matches!(o, Obj::Mark)) {
                        return Err("stack underflow".into());
                    }
                    self.push(Obj::Tuple(Rc::new(items)))?;
                }
                b'}' => self.push(Obj::Dict(Rc::default()))?,
                b'd' => {
                    let items = self.pop_mark()?;
                    self.push(Obj::Dict(Rc::default()))?;
                    self.set_items(items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                }
                0x8f => self.push(Obj::Set(Rc::default()))?,
                0x90 => {
                    let items = self.pop_mark()?;
                    match self.top()? {
                        Obj::Set(s) => s.borrow_mut().extend(items),
                        _ => return Err("additems on something not a set".into()),
                    }
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push(Obj::Set(Rc::new(RefCell::new(items))))?;
                }
                other => return Err(refused(other)),
            }
        }
    }
}

/// Why an opcode outside the subset is refused.
fn refused(op: u8) -> String {
    let name = match op {
        b'c' => "GLOBAL",
        0x93 => "STACK_GLOBAL",
        b'R' => "REDUCE",
        b'b' => "BUILD",
        b'i' => "INST",
        b'o' => "OBJ",
        0x81 => "NEWOBJ",
        0x92 => "NEWOBJ_EX",
        0x82..=0x84 => "EXT",
        b'P' | b'Q' => "PERSID",
        0x97 | 0x98 => "out-of-band buffer",
        b'S' | b'V' => "text string",
        _ => return format!("unknown pickle opcode 0x{op:02x}"),
    };
    format!("pickle opcode {name} refused: requests are plain data")
}

/// A little-endian two's complement integer of up to 8 bytes.
fn long(b: &[u8]) -> Result<Obj, String> {
    if b.len() > 8 {
        return Err("integer out of range".into());
    }
    if b.is_empty() {
        return Ok(Obj::Int(0));
    }
    let fill = if b[b.len() - 1] & 0x80 != 0 { 0xff } else { 0 };
    let mut a = [fill; 8];
    a[..b.len()].copy_from_slice(b);
    Ok(Obj::Int(i64::from_le_bytes(a)))
}

fn to_json(o: &Obj, depth: usize, budget: &mut usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err("request nested too deep".into());
    }
    *budget = budget
        .checked_sub(1)
        .ok_or("request decodes to too many values")?;
    let seq = |items: &[Obj], budget: &mut usize| -> Result<Value, String> {
        items
            .iter()
            .map(|i| to_json(i, depth + 1, budget))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array)
    };
    Ok(match o {
        Obj::None => Value::Null,
        Obj::Bool(b) => Value::Bool(*b),
        Obj::Int(i) => Value::from(*i),
        Obj::Float(f) => Number::from_f64(*f)
            .map(Value::Number)
            .ok_or("a float that is not finite")?,
        Obj::Str(s) => Value::String(s.clone()),
        Obj::Bytes(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        Obj::List(l) | Obj::Set(l) => seq(&l.borrow(), budget)?,
        Obj::Tuple(t) => seq(t, budget)?,
        Obj::Dict(d) => {
            let mut m = Map::new();
            for (k, v) in d.borrow().iter() {
                let key = match to_json(k, depth + 1, budget)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                m.insert(key, to_json(v, depth + 1, budget)?);
            }
            Value::Object(m)
        }
        Obj::Mark => return Err("a mark left in the result".into()),
    })
}

/// Where a result has Python tuples (the rest are lists): the path of
/// fail2ban's client compares and prints them as tuples.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// Lists all the way down (arrays), as JSON has them.
    Plain,
    /// A tuple whose items have these shapes (missing ones: plain).
    Tuple(Vec<Shape>),
    /// A list (or dict values) whose every item has this shape.
    Each(Box<Shape>),
}

impl Shape {
    fn item(&self, i: usize) -> &Shape {
        match self {
            Shape::Plain => &Shape::Plain,
            Shape::Tuple(items) => items.get(i).unwrap_or(&Shape::Plain),
            Shape::Each(s) => s,
        }
    }
}

/// Where fail2ban's result for `cmd` has tuples. Only the results its
/// client compares or prints as Python values need them; everything else
/// prints the same as a list.
pub fn shape_of(cmd: &[Value]) -> Shape {
    let word = |i: usize| cmd.get(i).and_then(Value::as_str).unwrap_or("");
    let pairs = || Shape::Each(Box::new(Shape::Tuple(Vec::new())));
    match (word(0), word(2)) {
        // [("Number of jail", n), ("Jail list", "a, b")]
        ("status", _) if cmd.len() == 1 => pairs(),
        // [("Filter", [(k, v), ...]), ("Actions", [(k, v), ...])]
        ("status", _) => Shape::Each(Box::new(Shape::Tuple(vec![Shape::Plain, pairs()]))),
        // (pattern, name)
        ("get" | "set", "datepattern") => Shape::Tuple(Vec::new()),
        _ => Shape::Plain,
    }
}

/// Writes `(0, result)`, tuples where `shape` says.
pub fn encode_ok(result: &Value, shape: &Shape) -> Vec<u8> {
    let mut w = Writer::new();
    w.out.extend_from_slice(&[b'K', 0]);
    w.value(result, shape, 0);
    w.finish_pair()
}

/// Writes `(1, exception)`: the exception class fail2ban would raise for
/// `kind` (its class name), with `message` as its argument.
pub fn encode_error(kind: &str, message: &str) -> Vec<u8> {
    let mut w = Writer::new();
    w.out.extend_from_slice(&[b'K', 1]);
    let (module, class) = exception_class(kind);
    w.out.push(b'c');
    w.out.extend_from_slice(module.as_bytes());
    w.out.push(b'\n');
    w.out.extend_from_slice(class.as_bytes());
    w.out.push(b'\n');
    w.str(message);
    w.out.extend_from_slice(&[0x85, b'R']);
    w.finish_pair()
}

/// The reply to a request that could not be decoded: a plain string, as
/// fail2ban's server sends it.
pub fn encode_decode_error(message: &str) -> Vec<u8> {
    let mut w = Writer::new();
    w.str(&format!("ERROR: {message}"));
    w.out.push(b'.');
    w.out
}

/// The Python class for an error kind. Only names from this list are
/// ever written into a GLOBAL: a kind from anywhere else becomes
/// `Exception`.
fn exception_class(kind: &str) -> (&'static str, &'static str) {
    const BUILTIN: &[&str] = &[
        "Exception",
        "ValueError",
        "KeyError",
        "TypeError",
        "IndexError",
        "AttributeError",
        "RuntimeError",
        "OSError",
    ];
    const FAIL2BAN: &[&str] = &["UnknownJailException", "DuplicateJailException"];
    if let Some(c) = FAIL2BAN.iter().find(|c| **c == kind) {
        return ("fail2ban.exceptions", c);
    }
    let c = BUILTIN.iter().find(|c| **c == kind).unwrap_or(&"Exception");
    ("builtins", c)
}

struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn new() -> Writer {
        Writer { out: vec![0x80, 2] }
    }

    fn finish_pair(mut self) -> Vec<u8> {
        self.out.extend_from_slice(&[0x86, b'.']);
        self.out
    }

    fn str(&mut self, s: &str) {
        self.out.push(b'X');
        self.out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.out.extend_from_slice(s.as_bytes());
    }

    fn value(&mut self, v: &Value, shape: &Shape, depth: usize) {
        // (results are the server's own; the bound only guards recursion)
        if depth > 256 {
            self.out.push(b'N');
            return;
        }
        match v {
            Value::Null => self.out.push(b'N'),
            Value::Bool(true) => self.out.push(0x88),
            Value::Bool(false) => self.out.push(0x89),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    self.out.push(0x8a);
                    self.out.push(8);
                    self.out.extend_from_slice(&i.to_le_bytes());
                } else if let Some(u) = n.as_u64() {
                    self.out.push(0x8a);
                    self.out.push(9);
                    self.out.extend_from_slice(&u.to_le_bytes());
                    self.out.push(0);
                } else {
                    self.out.push(b'G');
                    self.out
                        .extend_from_slice(&n.as_f64().unwrap_or(0.0).to_be_bytes());
                }
            }
            Value::String(s) => self.str(s),
            Value::Array(items) => {
                let tuple = matches!(shape, Shape::Tuple(_));
                self.out.push(b'(');
                for (i, x) in items.iter().enumerate() {
                    self.value(x, shape.item(i), depth + 1);
                }
                self.out.push(if tuple { b't' } else { b'l' });
            }
            Value::Object(m) => {
                self.out.push(b'(');
                for (k, x) in m {
                    self.str(k);
                    self.value(x, shape.item(0), depth + 1);
                }
                self.out.push(b'd');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // (written by Python 3.11's pickle.dumps, protocols 2 and 5)
    #[test]
    fn what_python_writes_is_read() {
        assert_eq!(
            decode(&hex("8005950d000000000000005d948c0673746174757394612e")).unwrap(),
            vec![json!("status")]
        );
        assert_eq!(
            decode(&hex("80059526000000000000005d94288c03736574948c0473736864948c0562616e6970948c093139322e302e322e3194652e")).unwrap(),
            vec![json!("set"), json!("sshd"), json!("banip"), json!("192.0.2.1")]
        );
        assert_eq!(
            decode(&hex(
                "80025d710028580400000070696e677101473ff8000000000000652e"
            ))
            .unwrap(),
            vec![json!("ping"), json!(1.5)]
        );
        assert_eq!(
            decode(&hex("80059538000000000000005d94288c0178947d948c0161945d94284b018a060000000000014afdffffff65734b014b0286948f94284b014b02904e884302627994652e")).unwrap(),
            vec![
                json!("x"),
                json!({"a": [1, 1099511627776_i64, -3]}),
                json!([1, 2]),
                json!([1, 2]),
                Value::Null,
                json!(true),
                json!("by")
            ]
        );
    }

    #[test]
    fn code_is_refused() {
        // protocol 2's set: __builtin__.set via GLOBAL and REDUCE
        let err = decode(&hex(
            "80025d7100635f5f6275696c74696e5f5f0a7365740a71065d71074b0161857108527109612e",
        ))
        .unwrap_err();
        assert!(err.contains("GLOBAL"), "{err}");
        // os.system('id') as pickle.dumps of a __reduce__ writes it
        let mut evil = b"\x80\x02cposix\nsystem\nX\x02\x00\x00\x00id\x85R.".to_vec();
        assert!(decode(&evil).unwrap_err().contains("GLOBAL"));
        evil = b"\x80\x04\x8c\x05posix\x8c\x06system\x93.".to_vec();
        assert!(decode(&evil).unwrap_err().contains("STACK_GLOBAL"));
        for op in [
            b'R', b'b', b'i', b'o', 0x81, 0x92, 0x82, b'P', b'Q', b'S', b'V',
        ] {
            let e = decode(&[0x80, 2, b']', op, b'.']).unwrap_err();
            assert!(e.contains("refused"), "{op:#x}: {e}");
        }
    }

    #[test]
    fn broken_input_is_an_error() {
        for bad in [
            &b""[..],
            b"\x80",
            b"\x80\x02]",
            b"\x80\x02X\xff\xff\xff\x7fabc",
            b"\x80\x02a.",
            b"\x80\x02K\x01.",
            b"\x80\x02]h\x05.",
            b"\x80\x02]]].",
            b"\x80\x09].",
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_memo_cannot_blow_up_the_result() {
        // l0 = [0]; l(n+1) = [ln, ln]: 2^40 values from a few hundred bytes
        let mut p = vec![0x80, 2, b']', b'K', 0, b'a', 0x94];
        for i in 0..40u32 {
            p.extend_from_slice(b"](j");
            p.extend_from_slice(&i.to_le_bytes());
            p.push(b'j');
            p.extend_from_slice(&i.to_le_bytes());
            p.extend_from_slice(&[b'e', 0x94]);
        }
        p.push(b'.');
        let stack_left = decode(&p).unwrap_err();
        assert!(
            stack_left.contains("too many")
                || stack_left.contains("too deep")
                || stack_left.contains("stack"),
            "{stack_left}"
        );
        // a list that contains itself
        let selfref = b"\x80\x02]\x94h\x00a.";
        assert!(decode(selfref).unwrap_err().contains("too deep"));
    }

    /// Python's `repr` of what `pickle.loads` makes of `data`.
    fn python_reads(data: &[u8]) -> String {
        use std::io::Write;
        let mut child = std::process::Command::new("python3")
            .args([
                "-c",
                "import pickle, sys\nprint(repr(pickle.loads(sys.stdin.buffer.read())))",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python3 (needed to check what Python reads)");
        child.stdin.take().unwrap().write_all(data).unwrap();
        let out = child.wait_with_output().unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )
    }

    #[test]
    fn replies_are_what_python_reads() {
        let status = Shape::Each(Box::new(Shape::Tuple(vec![])));
        assert_eq!(
            python_reads(&encode_ok(
                &json!([["Number of jail", 1], ["Jail list", "sshd"]]),
                &status
            )),
            "(0, [('Number of jail', 1), ('Jail list', 'sshd')])"
        );
        assert_eq!(
            python_reads(&encode_ok(
                &json!({"a": [1.5, -7, null, true, "é\n"], "b": 18446744073709551615_u64}),
                &Shape::Plain
            )),
            "(0, {'a': [1.5, -7, None, True, 'é\\n'], 'b': 18446744073709551615})"
        );
        assert_eq!(
            python_reads(&encode_error("ValueError", "bad")),
            "(1, ValueError('bad'))"
        );
        assert_eq!(
            python_reads(&encode_error("os.system", "x")),
            "(1, Exception('x'))"
        );
        assert_eq!(python_reads(&encode_decode_error("no")), "'ERROR: no'");
    }
}
