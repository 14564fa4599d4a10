//! The client side: one connection, any number of requests.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::{encode_request, RemoteError, Response, MAX_RESPONSE};

/// What can go wrong talking to the server. Transport failures are kept
/// apart from the server's own errors because fail2ban's client reports
/// them differently ("Unable to contact server" vs the exception text).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be connected to (no server, or no permission).
    #[error("cannot connect to {path}: {source}")]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The connection failed after it was made.
    #[error("connection to the server failed: {0}")]
    Io(#[from] std::io::Error),
    /// The server's answer could not be understood.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The server answered with an error.
    #[error("{0}")]
    Remote(RemoteError),
}

impl ClientError {
    /// The server's error, if that is what this is.
    pub fn remote(&self) -> Option<&RemoteError> {
        match self {
            ClientError::Remote(r) => Some(r),
            _ => None,
        }
    }
}

/// A connection to the control socket.
#[derive(Debug)]
pub struct Client {
    stream: UnixStream,
    /// Bytes received after the last response line.
    pending: Vec<u8>,
    max_response: usize,
}

impl Client {
    /// Connect to `path`; `timeout` bounds each later read and write (None:
    /// wait forever). Connecting to a Unix socket does not block unless the
    /// server's backlog is full.
    pub fn connect(path: &Path, timeout: Option<Duration>) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path).map_err(|source| ClientError::Connect {
            path: path.to_path_buf(),
            source,
        })?;
        let c = Client {
            stream,
            pending: Vec::new(),
            max_response: MAX_RESPONSE,
        };
        c.set_timeout(timeout)?;
        Ok(c)
    }

    /// Change the read/write timeout (a zero duration means none).
    pub fn set_timeout(&self, timeout: Option<Duration>) -> Result<(), ClientError> {
        let t = timeout.filter(|d| !d.is_zero());
        self.stream.set_read_timeout(t)?;
        self.stream.set_write_timeout(t)?;
        Ok(())
    }

    /// Send one command and wait for its result.
    pub fn send(&mut self, cmd: &[Value]) -> Result<Value, ClientError> {
        match self.request(cmd)? {
            Response::Ok(v) => Ok(v),
            Response::Error(e) => Err(ClientError::Remote(e)),
        }
    }

    /// Send command words given as strings (the command line).
    pub fn send_words<S: AsRef<str>>(&mut self, words: &[S]) -> Result<Value, ClientError> {
        let cmd: Vec<Value> = words.iter().map(|w| Value::from(w.as_ref())).collect();
        self.send(&cmd)
    }

    /// Send one command and return the raw response.
    pub fn request(&mut self, cmd: &[Value]) -> Result<Response, ClientError> {
        let mut line = encode_request(cmd);
        line.push('\n');
        self.stream.write_all(line.as_bytes())?;
        let reply = self.read_line()?;
        Response::from_line(&reply).map_err(ClientError::Protocol)
    }

    /// Write raw bytes (tests and diagnostics: garbage on the socket).
    pub fn write_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.stream.write_all(bytes)?;
        Ok(())
    }

    /// Read one response line.
    pub fn read_response(&mut self) -> Result<Response, ClientError> {
        let reply = self.read_line()?;
        Response::from_line(&reply).map_err(ClientError::Protocol)
    }

    fn read_line(&mut self) -> Result<Vec<u8>, ClientError> {
        let mut chunk = [0u8; 16 * 1024];
        // Bytes of `pending` already known to hold no newline: a large
        // reply (the banned list of a big jail) arrives in thousands of
        // chunks, and searching it from the start after each one took
        // time quadratic in its size (minutes for 64 MiB).
        let mut scanned = 0;
        loop {
            if let Some(pos) = self.pending[scanned..].iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.pending.drain(..=scanned + pos).collect();
                line.pop();
                return Ok(line);
            }
            scanned = self.pending.len();
            if self.pending.len() > self.max_response {
                return Err(ClientError::Protocol("response too long".into()));
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(ClientError::Io(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "connection closed by the server",
                    )))
                }
                Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ClientError::Io(e)),
            }
        }
    }
}
