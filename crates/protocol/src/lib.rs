//! gaoler's control socket: how `gaoler client` talks to `gaoler server`.
//!
//! # Wire formats
//!
//! One socket serves two protocols, told apart by the first byte a
//! connection sends: `[`, `{` or a blank starts gaoler's JSON, described
//! here; anything else is fail2ban's pickle protocol, for Debian's
//! `fail2ban-client` and the tools that talk to fail2ban's socket
//! themselves, decoded as plain data only (see [`pickle`]). gaoler's own
//! client speaks JSON:
//!
//! - **Transport:** a Unix stream socket, created with mode `0600` (root
//!   only) in a directory created `0755` if it is missing.
//! - **Request:** one JSON array — the command words and values, exactly
//!   what fail2ban's client would pickle, e.g. `["set","sshd","banip","192.0.2.7"]`
//!   or `["server-stream",[["add","sshd","auto"],…]]` — followed by `\n`.
//!   serde_json never emits a raw newline inside a document, so a line is a
//!   request. A line may be at most [`MAX_REQUEST`] bytes (1 MiB; the whole
//!   stock configuration with all 99 jails enabled streams as ~0.4 MiB).
//! - **Response:** one JSON object per request, on one line:
//!   `{"ok": <result>}` or
//!   `{"error": {"kind": "UnknownJailException", "message": "sshd"}}`.
//!   Results keep the shapes of fail2ban's Python results (tuples and lists
//!   become arrays, dicts objects), so the client can print them as
//!   fail2ban does. `kind` is fail2ban's exception class name.
//! - **Connections** carry any number of requests, answered in order; either
//!   side closes when done (there is no close command).
//! - **Bad input** — invalid UTF-8, invalid JSON, anything but an array —
//!   gets an error of kind [`PROTOCOL_ERROR`] and the connection stays
//!   usable; an over-long line gets the same error and the connection is
//!   closed, because the rest of that line cannot be trusted to be framed.
//!   Nothing a peer sends can panic the server: even a panicking handler is
//!   turned into an error reply.
//!
//! # Pieces
//!
//! - [`Listener`] / [`serve`]: bind (refusing to take over a live server,
//!   cleaning a stale socket), accept with a bounded number of connection
//!   threads (idle connections time out, and give way to new ones), stop
//!   on request, remove the socket on exit;
//! - [`pickle`]: fail2ban's framing and its plain-data pickle subset;
//! - [`Client`]: connect, send, receive;
//! - [`Pidfile`]: write and remove the server's pidfile.

#![deny(missing_docs)]

mod client;
mod listener;
pub mod pickle;
mod pidfile;

pub use client::{Client, ClientError};
pub use listener::{serve, Handler, Listener, ServeError, ServeOptions, IDLE_TIMEOUT};
pub use pidfile::{read_pid, Pidfile};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest request line the server accepts, newline excluded.
pub const MAX_REQUEST: usize = 1 << 20;

/// Longest response line the client accepts: results such as the banned
/// list of a large jail can be much bigger than any request.
pub const MAX_RESPONSE: usize = 256 << 20;

/// Default number of connections served at once (beyond it a new one
/// takes the slot of the one idle longest; see [`Listener`]).
pub const MAX_CONNECTIONS: usize = 64;

/// Error kind for requests that are not well-formed protocol lines.
pub const PROTOCOL_ERROR: &str = "ProtocolError";

/// An error reported by the server: fail2ban's exception class name and
/// the exception's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct RemoteError {
    /// The exception's class name (`UnknownJailException`, `ValueError`, ...).
    pub kind: String,
    /// The exception's text.
    pub message: String,
}

impl RemoteError {
    /// An error of class `kind` with text `message`.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> RemoteError {
        RemoteError {
            kind: kind.into(),
            message: message.into(),
        }
    }
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// The command's result.
    Ok(Value),
    /// The exception the command raised.
    Error(RemoteError),
}

impl Response {
    /// A [`PROTOCOL_ERROR`] response.
    pub fn protocol_error(message: impl Into<String>) -> Response {
        Response::Error(RemoteError::new(PROTOCOL_ERROR, message))
    }

    /// The response as one line, without the trailing newline.
    pub fn to_line(&self) -> String {
        let v = match self {
            Response::Ok(v) => serde_json::json!({ "ok": v }),
            Response::Error(e) => {
                serde_json::json!({ "error": { "kind": e.kind, "message": e.message } })
            }
        };
        // Serialising a `Value` cannot fail (all keys are strings).
        serde_json::to_string(&v).unwrap_or_else(|_| {
            r#"{"error":{"kind":"ProtocolError","message":"unserialisable result"}}"#.into()
        })
    }

    /// Parse one response line.
    pub fn from_line(line: &[u8]) -> Result<Response, String> {
        let v: Value =
            serde_json::from_slice(line).map_err(|e| format!("invalid response: {e}"))?;
        let Value::Object(mut m) = v else {
            return Err("invalid response: not an object".into());
        };
        if let Some(ok) = m.remove("ok") {
            return Ok(Response::Ok(ok));
        }
        if let Some(err) = m.remove("error") {
            return serde_json::from_value::<RemoteError>(err)
                .map(Response::Error)
                .map_err(|e| format!("invalid error response: {e}"));
        }
        Err("invalid response: neither \"ok\" nor \"error\"".into())
    }

    /// The result, or the server's error.
    pub fn into_result(self) -> Result<Value, RemoteError> {
        match self {
            Response::Ok(v) => Ok(v),
            Response::Error(e) => Err(e),
        }
    }
}

impl From<Result<Value, RemoteError>> for Response {
    fn from(r: Result<Value, RemoteError>) -> Response {
        match r {
            Ok(v) => Response::Ok(v),
            Err(e) => Response::Error(e),
        }
    }
}

/// Encode a request line (without the trailing newline).
pub fn encode_request(cmd: &[Value]) -> String {
    // A slice of `Value`s always serialises.
    serde_json::to_string(cmd).unwrap_or_else(|_| "[]".into())
}

/// Decode a request line (without its newline) into the command words.
pub fn decode_request(line: &[u8]) -> Result<Vec<Value>, String> {
    let text = std::str::from_utf8(line).map_err(|e| format!("request is not UTF-8: {e}"))?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(a)) => Ok(a),
        Ok(_) => Err("request must be a JSON array".into()),
        Err(e) => Err(format!("request is not valid JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn response_lines_round_trip() {
        for r in [
            Response::Ok(json!([["Number of jail", 1], ["Jail list", "sshd"]])),
            Response::Ok(Value::Null),
            Response::Ok(json!("multi\nline")),
            Response::Error(RemoteError::new("UnknownJailException", "x")),
        ] {
            let line = r.to_line();
            assert!(!line.contains('\n'));
            assert_eq!(Response::from_line(line.as_bytes()).unwrap(), r);
        }
    }

    // Found by fuzz/fuzz_targets/protocol.rs: serde_json's default float
    // parser may land one unit in the last place off, so a number that
    // went through the socket (a ban time, a float option) came back as
    // another one and printed differently.
    #[test]
    fn numbers_survive_the_round_trip() {
        let mut floats = vec![2.2222222222222226e44, 0.30000000000000004, 1124013599.123];
        // and a spread of bit patterns
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let f = f64::from_bits(x);
            if f.is_finite() {
                floats.push(f);
            }
        }
        for f in floats {
            let line = Response::Ok(json!([f])).to_line();
            let back = Response::from_line(line.as_bytes()).unwrap();
            assert_eq!(back, Response::Ok(json!([f])), "{line}");
            let req = encode_request(&[json!(f)]);
            assert_eq!(
                decode_request(req.as_bytes()).unwrap(),
                vec![json!(f)],
                "{req}"
            );
        }
    }

    #[test]
    fn bad_requests_are_errors() {
        assert!(decode_request(b"\xff\xfe").is_err());
        assert!(decode_request(b"{\"a\":1}").is_err());
        assert!(decode_request(b"[1,").is_err());
        assert_eq!(decode_request(br#"["ping"]"#).unwrap(), vec![json!("ping")]);
    }

    #[test]
    fn bad_responses_are_errors() {
        assert!(Response::from_line(b"[]").is_err());
        assert!(Response::from_line(b"{}").is_err());
        assert!(Response::from_line(br#"{"error":1}"#).is_err());
    }
}
