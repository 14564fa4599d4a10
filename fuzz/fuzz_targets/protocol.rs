//! The control protocol: newline-delimited JSON requests and responses,
//! and fail2ban's pickled ones.
//!
//! Input: `MODE BYTES`. MODE (mod 3) selects:
//! - 0, the decoders alone: [`decode_request`] and [`Response::from_line`]
//!   on BYTES; what decodes re-encodes (on one line) to the same value;
//!   the pickle decoder never panics, and what it decodes encodes;
//! - 1, the server's framing: BYTES are written to a live [`Listener`]
//!   (an echo handler, requests limited to 256 bytes) and the connection
//!   half-closed. BYTES starting with `[`, `{` or a blank are JSON: the
//!   replies must be one per non-blank line (CR LF accepted, a last line
//!   without newline answered), in order, each the echo or the decoder's
//!   protocol error, and an over-long line ends the connection with one
//!   error. Anything else is fail2ban's protocol: one framed reply per
//!   request up to `<F2B_END_COMMAND>` (the echo pickled, or the
//!   decoder's `ERROR:` string), none for an unterminated rest, the close
//!   command or an over-long request ending the connection;
//! - 2, the client's side: a fake server answers a request with BYTES; the
//!   [`Client`] returns the first line decoded (or an error), never panics
//!   or hangs.

#![no_main]

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use gaoler_protocol::{
    decode_request, encode_request, pickle, Client, ClientError, Listener, Response,
    ServeOptions,
};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const MAX_REQUEST: usize = 256;

static DIR: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_dir() {
    if let Some(d) = DIR.get() {
        let _ = std::fs::remove_dir_all(d);
    }
}

fn dir() -> &'static PathBuf {
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("gaoler-fuzz-proto-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        // SAFETY: registering a plain `extern "C" fn` has no preconditions.
        unsafe { libc::atexit(remove_dir) };
        d
    })
}

/// The echo server's socket (started once, served by a background thread).
fn server() -> &'static PathBuf {
    static S: OnceLock<PathBuf> = OnceLock::new();
    S.get_or_init(|| {
        let path = dir().join("server.sock");
        let mut opts = ServeOptions::new(&path);
        opts.max_request = MAX_REQUEST;
        let listener = Listener::bind(opts).expect("bind");
        let handler = Arc::new(|cmd: &[Value]| Response::Ok(Value::Array(cmd.to_vec())));
        std::thread::spawn(move || listener.run(handler, || false));
        path
    })
}

/// The reply the fake server sends to the next request.
static REPLY: Mutex<Vec<u8>> = Mutex::new(Vec::new());

fn fake_server() -> &'static PathBuf {
    static S: OnceLock<PathBuf> = OnceLock::new();
    S.get_or_init(|| {
        let path = dir().join("fake.sock");
        let listener = UnixListener::bind(&path).expect("bind fake");
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                // read the request line, then answer with the fuzz bytes
                let mut byte = [0u8; 1];
                while let Ok(1) = s.read(&mut byte) {
                    if byte[0] == b'\n' {
                        break;
                    }
                }
                let reply = REPLY.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let _ = s.write_all(&reply);
            }
        });
        path
    })
}

fn decoders(bytes: &[u8]) {
    if let Ok(cmd) = pickle::decode(bytes) {
        let _ = pickle::encode_ok(&Value::Array(cmd.clone()), &pickle::shape_of(&cmd));
    }
    if let Ok(cmd) = decode_request(bytes) {
        let line = encode_request(&cmd);
        assert!(!line.contains('\n'), "request encoding spans lines");
        assert_eq!(
            decode_request(line.as_bytes()),
            Ok(cmd),
            "request round trip"
        );
    }
    if let Ok(resp) = Response::from_line(bytes) {
        let line = resp.to_line();
        assert!(!line.contains('\n'), "response encoding spans lines");
        assert_eq!(
            Response::from_line(line.as_bytes()),
            Ok(resp),
            "response round trip"
        );
    }
}

/// What the server must answer to `bytes` sent on one connection.
fn expected_replies(bytes: &[u8]) -> Vec<Response> {
    let reply = |line: &[u8]| match decode_request(line) {
        Ok(cmd) => Response::Ok(Value::Array(cmd)),
        Err(msg) => Response::protocol_error(msg),
    };
    let too_long = Response::protocol_error(format!("request longer than {MAX_REQUEST} bytes"));
    let blank = |l: &[u8]| l.iter().all(u8::is_ascii_whitespace);
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
        let mut line = &rest[..pos];
        rest = &rest[pos + 1..];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        if line.len() > MAX_REQUEST {
            out.push(too_long);
            return out;
        }
        if !blank(line) {
            out.push(reply(line));
        }
    }
    if rest.len() > MAX_REQUEST {
        out.push(too_long);
    } else if !blank(rest) {
        out.push(reply(rest));
    }
    out
}

/// What the server must answer, byte for byte, to `bytes` in fail2ban's
/// protocol.
fn expected_pickle_replies(bytes: &[u8]) -> Vec<u8> {
    let end = pickle::END;
    let mut out = Vec::new();
    let mut rest = bytes;
    let too_long = || {
        let mut r =
            pickle::encode_decode_error(&format!("request longer than {MAX_REQUEST} bytes"));
        r.extend_from_slice(end);
        r
    };
    while let Some(pos) = rest.windows(end.len()).position(|w| w == end) {
        let req = &rest[..pos];
        rest = &rest[pos + end.len()..];
        if req.len() > MAX_REQUEST {
            out.extend(too_long());
            return out;
        }
        if req == pickle::CLOSE {
            return out;
        }
        out.extend(match pickle::decode(req) {
            Ok(cmd) => pickle::encode_ok(&Value::Array(cmd.clone()), &pickle::shape_of(&cmd)),
            Err(msg) => pickle::encode_decode_error(&msg),
        });
        out.extend_from_slice(end);
    }
    if rest.len() > MAX_REQUEST + end.len() {
        out.extend(too_long());
    }
    out
}

fn server_framing(bytes: &[u8]) {
    let mut s = UnixStream::connect(server()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(bytes).expect("write");
    s.shutdown(Shutdown::Write).expect("shutdown");
    let mut got = Vec::new();
    s.read_to_end(&mut got).expect("replies");
    let json = bytes
        .first()
        .is_none_or(|&b| b == b'[' || b == b'{' || b.is_ascii_whitespace());
    if !json {
        assert_eq!(got, expected_pickle_replies(bytes));
        return;
    }
    assert_eq!(
        got.last().copied().unwrap_or(b'\n'),
        b'\n',
        "unterminated reply"
    );
    let replies: Vec<Response> = got
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| Response::from_line(l).expect("server reply decodes"))
        .collect();
    assert_eq!(replies, expected_replies(bytes));
}

fn client_side(bytes: &[u8]) {
    *REPLY.lock().unwrap_or_else(|e| e.into_inner()) = bytes.to_vec();
    let mut c = Client::connect(fake_server(), Some(Duration::from_secs(20))).expect("connect");
    let got = c.request(&[Value::from("ping")]);
    match bytes.iter().position(|&b| b == b'\n') {
        Some(pos) => match Response::from_line(&bytes[..pos]) {
            Ok(want) => assert_eq!(got.expect("a valid reply line"), want),
            Err(_) => assert!(matches!(got, Err(ClientError::Protocol(_))), "{got:?}"),
        },
        None => assert!(matches!(got, Err(ClientError::Io(_))), "{got:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => decoders(bytes),
        1 => server_framing(bytes),
        _ => client_side(bytes),
    }
});
