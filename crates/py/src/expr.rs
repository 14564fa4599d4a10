//! A small, safe evaluator for the Python expressions users write in
//! `bantime.formula` and `bantime.factor`, and that time values such as
//! `1h*2` become (`MyTime.str2seconds` rewrites units into factors and
//! `eval()`s the result): one evaluator, so a number means the same
//! everywhere.
//!
//! fail2ban `eval()`s these strings as Python. We cannot and do not want to
//! run arbitrary code, so this module implements the arithmetic subset that
//! such formulas use: integers and floats with Python semantics (true
//! division `/`, floor division `//`, modulo with the sign of the divisor,
//! `**`, shifts and bit operators on integers, chained comparisons,
//! `and`/`or`/`not`, `x if c else y`), the names `ban.Time`, `ban.Count`
//! and `banFactor`, the `math` module's numeric functions and constants,
//! and the builtins `float`, `int`, `min`, `max`, `abs`, `round`, `pow`.
//! Anything else is a parse error at configuration time, which is better
//! than a failure at the first ban.
//!
//! Python integers are unbounded; here integers are `i64` and an operation
//! that overflows continues in floating point, which only changes results
//! far beyond any useful ban time.

use std::fmt;

use thiserror::Error;

/// Error while parsing or evaluating an expression.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ExprError {
    /// The text is not an expression of the subset.
    #[error("invalid expression {expr:?} at offset {pos}: {msg}")]
    Parse {
        /// The expression.
        expr: String,
        /// Byte offset of the problem.
        pos: usize,
        /// What is wrong there.
        msg: String,
    },
    /// Evaluation failed (division by zero, a math domain error, ...).
    #[error("error evaluating {expr:?}: {msg}")]
    Eval {
        /// The expression.
        expr: String,
        /// Why.
        msg: String,
    },
}

/// A number with Python's int/float distinction (bool is an int).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    /// A Python `int` (kept in `i64`; see the module doc).
    Int(i64),
    /// A Python `float`.
    Float(f64),
}

impl Num {
    /// The value as a float.
    pub fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
    /// Python's `int()`: floats are truncated.
    pub fn as_i64(self) -> i64 {
        match self {
            Num::Int(i) => i,
            Num::Float(f) => f.trunc() as i64,
        }
    }
    fn truthy(self) -> bool {
        match self {
            Num::Int(i) => i != 0,
            Num::Float(f) => f != 0.0,
        }
    }
    fn from_bool(b: bool) -> Num {
        Num::Int(b as i64)
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::Int(i) => write!(f, "{i}"),
            Num::Float(x) => f.write_str(&crate::repr::float_repr(*x)),
        }
    }
}

/// Values of the names a formula may use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Env {
    /// `ban.Time`: the base ban time.
    pub time: Num,
    /// `ban.Count`: how many times the id was banned before.
    pub count: Num,
    /// `banFactor`: the evaluated `bantime.factor`.
    pub factor: Num,
}

impl Default for Env {
    fn default() -> Self {
        Env {
            time: Num::Int(0),
            count: Num::Int(0),
            factor: Num::Int(1),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
    Pow,
    Shl,
    Shr,
    BitAnd,
    BitOr,
    BitXor,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Var {
    Time,
    Count,
    Factor,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Func {
    Exp,
    Log,
    Log2,
    Log10,
    Log1p,
    Sqrt,
    Pow,
    Ceil,
    Floor,
    Trunc,
    Fabs,
    Float,
    Int,
    Min,
    Max,
    Abs,
    Round,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Num(Num),
    Var(Var),
    Neg(Box<Node>),
    Pos(Box<Node>),
    Invert(Box<Node>),
    Not(Box<Node>),
    Bin(BinOp, Box<Node>, Box<Node>),
    /// `a < b <= c`: Python's chained comparison.
    Cmp(Box<Node>, Vec<(CmpOp, Node)>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    IfElse {
        then: Box<Node>,
        cond: Box<Node>,
        other: Box<Node>,
    },
    Call(Func, Vec<Node>),
}

/// A parsed expression, ready to be evaluated many times.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    src: String,
    root: Node,
}

impl Expr {
    /// Parse `src`. Unknown names and functions are rejected here.
    pub fn parse(src: &str) -> Result<Expr, ExprError> {
        Expr::parse_with(src, true)
    }

    /// Parse `src` as plain arithmetic: the formula names (`ban.Time`,
    /// `ban.Count`, `banFactor`) are unknown names too.
    pub fn parse_arithmetic(src: &str) -> Result<Expr, ExprError> {
        Expr::parse_with(src, false)
    }

    fn parse_with(src: &str, names: bool) -> Result<Expr, ExprError> {
        let toks = lex(src)?;
        if toks.len() > MAX_TOKENS {
            // Also bounds the depth of left-nested operator chains, so
            // that evaluation cannot exhaust the stack.
            return Err(ExprError::Parse {
                expr: src.to_owned(),
                pos: 0,
                msg: format!("expression longer than {MAX_TOKENS} tokens"),
            });
        }
        let mut p = Parser {
            src,
            toks,
            pos: 0,
            names,
            depth: 0,
        };
        let root = p.ternary()?;
        if let Some(t) = p.toks.get(p.pos) {
            return Err(p.err_at(t.pos, "unexpected trailing input"));
        }
        Ok(Expr {
            src: src.to_owned(),
            root,
        })
    }

    /// The source text.
    pub fn source(&self) -> &str {
        &self.src
    }

    /// Evaluate with the given names.
    pub fn eval(&self, env: &Env) -> Result<Num, ExprError> {
        eval(&self.root, env).map_err(|msg| ExprError::Eval {
            expr: self.src.clone(),
            msg,
        })
    }
}

/// Python's `round()` on floats: round half to even. fail2ban stores
/// `int(round(time))` in the database and rescales retry counts with it,
/// so we must round the same way to get the same numbers.
pub fn py_round(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 {
        // Exactly halfway: pick the even neighbour.
        let down = x.floor();
        if down % 2.0 == 0.0 {
            down
        } else {
            down + 1.0
        }
    } else {
        r
    }
}

/// `int(round(x))` as fail2ban stores `timeofban`; saturates at the i64
/// range instead of failing.
pub fn py_round_i64(x: f64) -> i64 {
    let r = py_round(x);
    if r.is_nan() {
        0
    } else {
        r as i64
    }
}

// ---------------------------------------------------------------- lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(Num),
    Name(String),
    Op(&'static str),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: usize,
}

const OPS: [&str; 24] = [
    "**", "//", "<<", ">>", "<=", ">=", "==", "!=", "+", "-", "*", "/", "%", "(", ")", ",", "<",
    ">", "&", "|", "^", "~", ".", "[",
];

fn lex(src: &str) -> Result<Vec<Token>, ExprError> {
    let b = src.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let perr = |pos: usize, msg: &str| ExprError::Parse {
        expr: src.to_owned(),
        pos,
        msg: msg.to_owned(),
    };
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() || c == b'\\' {
            // A backslash continues a line in Python; treat as blank.
            i += 1;
            continue;
        }
        let start = i;
        if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let (num, len) = lex_number(&src[i..]).ok_or_else(|| perr(i, "bad number"))?;
            out.push(Token {
                tok: Tok::Num(num),
                pos: start,
            });
            i += len;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Name(src[start..i].to_owned()),
                pos: start,
            });
            continue;
        }
        match OPS.iter().find(|op| src[i..].starts_with(**op)) {
            Some(op) if *op != "[" => {
                out.push(Token {
                    tok: Tok::Op(op),
                    pos: start,
                });
                i += op.len();
            }
            _ => return Err(perr(i, "unexpected character")),
        }
    }
    Ok(out)
}

/// Parse a Python numeric literal at the start of `s`: decimal, hex, octal
/// or binary integers (with `_` separators) and floats with exponents.
fn lex_number(s: &str) -> Option<(Num, usize)> {
    let b = s.as_bytes();
    if b.len() > 2 && b[0] == b'0' && matches!(b[1], b'x' | b'X' | b'o' | b'O' | b'b' | b'B') {
        let radix = match b[1] {
            b'x' | b'X' => 16,
            b'o' | b'O' => 8,
            _ => 2,
        };
        let mut end = 2;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
            end += 1;
        }
        let digits: String = s[2..end].chars().filter(|c| *c != '_').collect();
        return i64::from_str_radix(&digits, radix)
            .ok()
            .map(|v| (Num::Int(v), end));
    }
    let mut end = 0;
    let mut is_float = false;
    while end < b.len() && (b[end].is_ascii_digit() || b[end] == b'_') {
        end += 1;
    }
    if end < b.len() && b[end] == b'.' {
        is_float = true;
        end += 1;
        while end < b.len() && (b[end].is_ascii_digit() || b[end] == b'_') {
            end += 1;
        }
    }
    if end < b.len() && (b[end] == b'e' || b[end] == b'E') {
        let mut e = end + 1;
        if e < b.len() && (b[e] == b'+' || b[e] == b'-') {
            e += 1;
        }
        if e < b.len() && b[e].is_ascii_digit() {
            while e < b.len() && b[e].is_ascii_digit() {
                e += 1;
            }
            is_float = true;
            end = e;
        }
    }
    let text: String = s[..end].chars().filter(|c| *c != '_').collect();
    // Python 3 refuses decimal integers with leading zeros (`010`)
    if !is_float && text.len() > 1 && text.starts_with('0') && text.bytes().any(|c| c != b'0') {
        return None;
    }
    if is_float {
        text.parse::<f64>().ok().map(|f| (Num::Float(f), end))
    } else {
        match text.parse::<i64>() {
            Ok(v) => Some((Num::Int(v), end)),
            // Larger than i64: continue as a float (see module doc).
            Err(_) => text.parse::<f64>().ok().map(|f| (Num::Float(f), end)),
        }
    }
}

// ---------------------------------------------------------------- parser

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    pos: usize,
    /// `ban.Time`, `ban.Count` and `banFactor` are known (formulas), or
    /// not (plain arithmetic, e.g. time values).
    names: bool,
    /// Nesting depth, bounded so that a pathological formula is an error
    /// instead of a stack overflow (in parsing and in evaluation).
    depth: usize,
}

/// Deepest nesting of parentheses / unary operators accepted.
const MAX_DEPTH: usize = 64;
/// Longest expression accepted, in tokens.
const MAX_TOKENS: usize = 512;

impl Parser<'_> {
    fn err_at(&self, pos: usize, msg: &str) -> ExprError {
        ExprError::Parse {
            expr: self.src.to_owned(),
            pos,
            msg: msg.to_owned(),
        }
    }
    fn here(&self) -> usize {
        self.toks.get(self.pos).map_or(self.src.len(), |t| t.pos)
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }
    fn eat_op(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Op(o)) if *o == op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn eat_kw(&mut self, kw: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Name(n)) if n == kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect_op(&mut self, op: &str) -> Result<(), ExprError> {
        if self.eat_op(op) {
            Ok(())
        } else {
            Err(self.err_at(self.here(), &format!("expected {op:?}")))
        }
    }

    fn ternary(&mut self) -> Result<Node, ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err_at(self.here(), "expression nested too deeply"));
        }
        let r = self.ternary_inner();
        self.depth -= 1;
        r
    }
    fn ternary_inner(&mut self) -> Result<Node, ExprError> {
        let then = self.or_expr()?;
        if self.eat_kw("if") {
            let cond = self.or_expr()?;
            if !self.eat_kw("else") {
                return Err(self.err_at(self.here(), "expected 'else'"));
            }
            let other = self.ternary()?;
            return Ok(Node::IfElse {
                then: Box::new(then),
                cond: Box::new(cond),
                other: Box::new(other),
            });
        }
        Ok(then)
    }
    fn or_expr(&mut self) -> Result<Node, ExprError> {
        let mut l = self.and_expr()?;
        while self.eat_kw("or") {
            let r = self.and_expr()?;
            l = Node::Or(Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn and_expr(&mut self) -> Result<Node, ExprError> {
        let mut l = self.not_expr()?;
        while self.eat_kw("and") {
            let r = self.not_expr()?;
            l = Node::And(Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn not_expr(&mut self) -> Result<Node, ExprError> {
        if self.eat_kw("not") {
            return Ok(Node::Not(Box::new(self.not_expr()?)));
        }
        self.comparison()
    }
    fn comparison(&mut self) -> Result<Node, ExprError> {
        let first = self.bitor()?;
        let mut rest = Vec::new();
        loop {
            let op = match self.peek() {
                Some(Tok::Op("<")) => CmpOp::Lt,
                Some(Tok::Op("<=")) => CmpOp::Le,
                Some(Tok::Op(">")) => CmpOp::Gt,
                Some(Tok::Op(">=")) => CmpOp::Ge,
                Some(Tok::Op("==")) => CmpOp::Eq,
                Some(Tok::Op("!=")) => CmpOp::Ne,
                _ => break,
            };
            self.pos += 1;
            rest.push((op, self.bitor()?));
        }
        Ok(if rest.is_empty() {
            first
        } else {
            Node::Cmp(Box::new(first), rest)
        })
    }
    fn binary_level(
        &mut self,
        ops: &[(&str, BinOp)],
        next: fn(&mut Self) -> Result<Node, ExprError>,
    ) -> Result<Node, ExprError> {
        let mut l = next(self)?;
        'outer: loop {
            for (s, op) in ops {
                if self.eat_op(s) {
                    let r = next(self)?;
                    l = Node::Bin(*op, Box::new(l), Box::new(r));
                    continue 'outer;
                }
            }
            return Ok(l);
        }
    }
    fn bitor(&mut self) -> Result<Node, ExprError> {
        self.binary_level(&[("|", BinOp::BitOr)], Self::bitxor)
    }
    fn bitxor(&mut self) -> Result<Node, ExprError> {
        self.binary_level(&[("^", BinOp::BitXor)], Self::bitand)
    }
    fn bitand(&mut self) -> Result<Node, ExprError> {
        self.binary_level(&[("&", BinOp::BitAnd)], Self::shift)
    }
    fn shift(&mut self) -> Result<Node, ExprError> {
        self.binary_level(&[("<<", BinOp::Shl), (">>", BinOp::Shr)], Self::arith)
    }
    fn arith(&mut self) -> Result<Node, ExprError> {
        self.binary_level(&[("+", BinOp::Add), ("-", BinOp::Sub)], Self::term)
    }
    fn term(&mut self) -> Result<Node, ExprError> {
        self.binary_level(
            &[
                ("*", BinOp::Mul),
                ("//", BinOp::FloorDiv),
                ("/", BinOp::Div),
                ("%", BinOp::Mod),
            ],
            Self::factor,
        )
    }
    fn factor(&mut self) -> Result<Node, ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err_at(self.here(), "expression nested too deeply"));
        }
        let r = self.factor_inner();
        self.depth -= 1;
        r
    }
    fn factor_inner(&mut self) -> Result<Node, ExprError> {
        if self.eat_op("-") {
            return Ok(Node::Neg(Box::new(self.factor()?)));
        }
        if self.eat_op("+") {
            return Ok(Node::Pos(Box::new(self.factor()?)));
        }
        if self.eat_op("~") {
            return Ok(Node::Invert(Box::new(self.factor()?)));
        }
        self.power()
    }
    fn power(&mut self) -> Result<Node, ExprError> {
        let base = self.primary()?;
        if self.eat_op("**") {
            // Right operand is a unary expression: 2**-1, and ** is
            // right-associative through factor -> power.
            let exp = self.factor()?;
            return Ok(Node::Bin(BinOp::Pow, Box::new(base), Box::new(exp)));
        }
        Ok(base)
    }
    fn primary(&mut self) -> Result<Node, ExprError> {
        let pos = self.here();
        match self.peek().cloned() {
            Some(Tok::Num(n)) => {
                self.pos += 1;
                Ok(Node::Num(n))
            }
            Some(Tok::Op("(")) => {
                self.pos += 1;
                let e = self.ternary()?;
                self.expect_op(")")?;
                Ok(e)
            }
            Some(Tok::Name(first)) => {
                self.pos += 1;
                let mut name = first;
                while self.eat_op(".") {
                    match self.peek().cloned() {
                        Some(Tok::Name(n)) => {
                            self.pos += 1;
                            name.push('.');
                            name.push_str(&n);
                        }
                        _ => return Err(self.err_at(self.here(), "expected a name after '.'")),
                    }
                }
                if self.eat_op("(") {
                    let func = func_by_name(&name)
                        .ok_or_else(|| self.err_at(pos, &format!("unknown function {name:?}")))?;
                    let mut args = Vec::new();
                    if !self.eat_op(")") {
                        loop {
                            args.push(self.ternary()?);
                            if self.eat_op(")") {
                                break;
                            }
                            self.expect_op(",")?;
                            // Allow a trailing comma, as Python does.
                            if self.eat_op(")") {
                                break;
                            }
                        }
                    }
                    check_arity(func, args.len())
                        .map_err(|m| self.err_at(pos, &format!("{name}(): {m}")))?;
                    return Ok(Node::Call(func, args));
                }
                match name.as_str() {
                    "ban.Time" if self.names => Ok(Node::Var(Var::Time)),
                    "ban.Count" if self.names => Ok(Node::Var(Var::Count)),
                    "banFactor" if self.names => Ok(Node::Var(Var::Factor)),
                    "True" => Ok(Node::Num(Num::Int(1))),
                    "False" => Ok(Node::Num(Num::Int(0))),
                    "math.pi" => Ok(Node::Num(Num::Float(std::f64::consts::PI))),
                    "math.e" => Ok(Node::Num(Num::Float(std::f64::consts::E))),
                    "math.tau" => Ok(Node::Num(Num::Float(std::f64::consts::TAU))),
                    "math.inf" => Ok(Node::Num(Num::Float(f64::INFINITY))),
                    _ => Err(self.err_at(pos, &format!("unknown name {name:?}"))),
                }
            }
            Some(Tok::Op(o)) => Err(self.err_at(pos, &format!("unexpected {o:?}"))),
            None => Err(self.err_at(pos, "unexpected end of expression")),
        }
    }
}

fn func_by_name(name: &str) -> Option<Func> {
    Some(match name {
        "math.exp" => Func::Exp,
        "math.log" => Func::Log,
        "math.log2" => Func::Log2,
        "math.log10" => Func::Log10,
        "math.log1p" => Func::Log1p,
        "math.sqrt" => Func::Sqrt,
        "math.pow" => Func::Pow,
        "math.ceil" => Func::Ceil,
        "math.floor" => Func::Floor,
        "math.trunc" => Func::Trunc,
        "math.fabs" => Func::Fabs,
        "float" => Func::Float,
        "int" => Func::Int,
        "min" => Func::Min,
        "max" => Func::Max,
        "abs" => Func::Abs,
        "round" => Func::Round,
        "pow" => Func::Pow,
        _ => return None,
    })
}

fn check_arity(f: Func, n: usize) -> Result<(), String> {
    let (lo, hi) = match f {
        Func::Log | Func::Round => (1, 2),
        Func::Pow => (2, 2),
        Func::Min | Func::Max => (2, usize::MAX),
        _ => (1, 1),
    };
    if n < lo || n > hi {
        Err(format!("wrong number of arguments ({n})"))
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------- evaluation

fn eval(n: &Node, env: &Env) -> Result<Num, String> {
    Ok(match n {
        Node::Num(v) => *v,
        Node::Var(Var::Time) => env.time,
        Node::Var(Var::Count) => env.count,
        Node::Var(Var::Factor) => env.factor,
        Node::Neg(a) => match eval(a, env)? {
            Num::Int(i) => i.checked_neg().map_or(Num::Float(-(i as f64)), Num::Int),
            Num::Float(f) => Num::Float(-f),
        },
        Node::Pos(a) => eval(a, env)?,
        Node::Invert(a) => Num::Int(!want_int(eval(a, env)?, "~")?),
        Node::Not(a) => Num::from_bool(!eval(a, env)?.truthy()),
        Node::And(a, b) => {
            let l = eval(a, env)?;
            if l.truthy() {
                eval(b, env)?
            } else {
                l
            }
        }
        Node::Or(a, b) => {
            let l = eval(a, env)?;
            if l.truthy() {
                l
            } else {
                eval(b, env)?
            }
        }
        Node::IfElse { then, cond, other } => {
            if eval(cond, env)?.truthy() {
                eval(then, env)?
            } else {
                eval(other, env)?
            }
        }
        Node::Cmp(first, rest) => {
            let mut l = eval(first, env)?;
            for (op, rn) in rest {
                let r = eval(rn, env)?;
                if !compare(*op, l, r) {
                    return Ok(Num::from_bool(false));
                }
                l = r;
            }
            Num::from_bool(true)
        }
        Node::Bin(op, a, b) => binop(*op, eval(a, env)?, eval(b, env)?)?,
        Node::Call(f, args) => {
            let vals = args
                .iter()
                .map(|a| eval(a, env))
                .collect::<Result<Vec<_>, _>>()?;
            call(*f, &vals)?
        }
    })
}

fn want_int(v: Num, op: &str) -> Result<i64, String> {
    match v {
        Num::Int(i) => Ok(i),
        Num::Float(_) => Err(format!("unsupported operand type float for {op}")),
    }
}

fn compare(op: CmpOp, l: Num, r: Num) -> bool {
    let ord = match (l, r) {
        (Num::Int(a), Num::Int(b)) => Some(a.cmp(&b)),
        _ => l.as_f64().partial_cmp(&r.as_f64()),
    };
    let Some(o) = ord else {
        // NaN: only != is true.
        return op == CmpOp::Ne;
    };
    use std::cmp::Ordering::*;
    match op {
        CmpOp::Lt => o == Less,
        CmpOp::Le => o != Greater,
        CmpOp::Gt => o == Greater,
        CmpOp::Ge => o != Less,
        CmpOp::Eq => o == Equal,
        CmpOp::Ne => o != Equal,
    }
}

fn binop(op: BinOp, l: Num, r: Num) -> Result<Num, String> {
    use Num::{Float as F, Int as I};
    let zero = || Err("division by zero".to_owned());
    Ok(match op {
        BinOp::Add => match (l, r) {
            (I(a), I(b)) => a.checked_add(b).map_or(F(a as f64 + b as f64), I),
            _ => F(l.as_f64() + r.as_f64()),
        },
        BinOp::Sub => match (l, r) {
            (I(a), I(b)) => a.checked_sub(b).map_or(F(a as f64 - b as f64), I),
            _ => F(l.as_f64() - r.as_f64()),
        },
        BinOp::Mul => match (l, r) {
            (I(a), I(b)) => a.checked_mul(b).map_or(F(a as f64 * b as f64), I),
            _ => F(l.as_f64() * r.as_f64()),
        },
        BinOp::Div => {
            if r.as_f64() == 0.0 {
                return zero();
            }
            F(l.as_f64() / r.as_f64())
        }
        BinOp::FloorDiv => match (l, r) {
            (I(_), I(0)) => return zero(),
            (I(a), I(b)) => match a.checked_div_euclid(b) {
                // Python floors toward negative infinity.
                Some(_) => I(floor_div_i64(a, b)),
                None => F((a as f64 / b as f64).floor()),
            },
            _ => {
                if r.as_f64() == 0.0 {
                    return zero();
                }
                F((l.as_f64() / r.as_f64()).floor())
            }
        },
        BinOp::Mod => match (l, r) {
            (I(_), I(0)) => return zero(),
            (I(a), I(b)) => I(a.wrapping_sub(floor_div_i64(a, b).wrapping_mul(b))),
            _ => {
                let (a, b) = (l.as_f64(), r.as_f64());
                if b == 0.0 {
                    return zero();
                }
                let m = a % b;
                F(if m != 0.0 && (m < 0.0) != (b < 0.0) {
                    m + b
                } else {
                    m
                })
            }
        },
        BinOp::Pow => match (l, r) {
            (I(a), I(b)) if b >= 0 => u32::try_from(b)
                .ok()
                .and_then(|e| a.checked_pow(e))
                .map_or(F((a as f64).powf(b as f64)), I),
            _ => {
                let (a, b) = (l.as_f64(), r.as_f64());
                if a == 0.0 && b < 0.0 {
                    return Err("0.0 cannot be raised to a negative power".into());
                }
                F(a.powf(b))
            }
        },
        BinOp::Shl | BinOp::Shr => {
            let a = want_int(l, "<< / >>")?;
            let b = want_int(r, "<< / >>")?;
            if b < 0 {
                return Err("negative shift count".into());
            }
            if op == BinOp::Shr {
                I(if b >= 64 {
                    if a < 0 {
                        -1
                    } else {
                        0
                    }
                } else {
                    a >> b
                })
            } else if b < 63 && (a.unsigned_abs() >> (63 - b)) == 0 {
                I(a << b)
            } else {
                // Past i64: Python would keep an exact big integer.
                F(a as f64 * 2f64.powi(b.min(i32::MAX as i64) as i32))
            }
        }
        BinOp::BitAnd => I(want_int(l, "&")? & want_int(r, "&")?),
        BinOp::BitOr => I(want_int(l, "|")? | want_int(r, "|")?),
        BinOp::BitXor => I(want_int(l, "^")? ^ want_int(r, "^")?),
    })
}

fn floor_div_i64(a: i64, b: i64) -> i64 {
    let q = a.wrapping_div(b);
    if (a % b != 0) && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    }
}

fn float_to_int(f: f64) -> Result<Num, String> {
    if !f.is_finite() {
        return Err(format!("cannot convert float {f} to integer"));
    }
    if f.abs() < 9.2e18 {
        Ok(Num::Int(f as i64))
    } else {
        Ok(Num::Float(f.trunc()))
    }
}

fn math_domain(ok: bool, v: f64) -> Result<Num, String> {
    if ok {
        Ok(Num::Float(v))
    } else {
        Err("math domain error".into())
    }
}

fn call(f: Func, a: &[Num]) -> Result<Num, String> {
    let x = a.first().map_or(0.0, |v| v.as_f64());
    Ok(match f {
        Func::Exp => {
            let v = x.exp();
            if v.is_infinite() && x.is_finite() {
                return Err("math range error".into());
            }
            Num::Float(v)
        }
        Func::Log => {
            if let Some(base) = a.get(1) {
                let b = base.as_f64();
                if x <= 0.0 || b <= 0.0 || b == 1.0 {
                    return Err("math domain error".into());
                }
                Num::Float(x.ln() / b.ln())
            } else {
                math_domain(x > 0.0, x.ln())?
            }
        }
        Func::Log2 => math_domain(x > 0.0, x.log2())?,
        Func::Log10 => math_domain(x > 0.0, x.log10())?,
        Func::Log1p => math_domain(x > -1.0, x.ln_1p())?,
        Func::Sqrt => math_domain(x >= 0.0, x.sqrt())?,
        Func::Pow => {
            // math.pow is always float; builtin pow(int, int) is int, but
            // the distinction does not change a ban time.
            binop(BinOp::Pow, Num::Float(x), a[1])?
        }
        Func::Ceil => match a[0] {
            Num::Int(i) => Num::Int(i),
            Num::Float(f) => float_to_int(f.ceil())?,
        },
        Func::Floor => match a[0] {
            Num::Int(i) => Num::Int(i),
            Num::Float(f) => float_to_int(f.floor())?,
        },
        Func::Trunc | Func::Int => match a[0] {
            Num::Int(i) => Num::Int(i),
            Num::Float(f) => float_to_int(f.trunc())?,
        },
        Func::Fabs => Num::Float(x.abs()),
        Func::Float => Num::Float(x),
        Func::Abs => match a[0] {
            Num::Int(i) => i
                .checked_abs()
                .map_or(Num::Float((i as f64).abs()), Num::Int),
            Num::Float(f) => Num::Float(f.abs()),
        },
        Func::Min | Func::Max => {
            let mut best = a[0];
            for v in &a[1..] {
                let better = if f == Func::Min {
                    compare(CmpOp::Lt, *v, best)
                } else {
                    compare(CmpOp::Gt, *v, best)
                };
                if better {
                    best = *v;
                }
            }
            best
        }
        Func::Round => match (a[0], a.get(1)) {
            (Num::Int(i), _) => Num::Int(i),
            (Num::Float(f), None) => float_to_int(py_round(f))?,
            (Num::Float(f), Some(nd)) => {
                let nd = want_int(*nd, "round")?.clamp(-308, 308) as i32;
                let m = 10f64.powi(nd);
                Num::Float(py_round(f * m) / m)
            }
        },
    })
}

#[cfg(test)]
mod tests;
