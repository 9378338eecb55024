//! Async I/O (abi/SPEC.md, section 5.2): [`submit`] sends a [`Request`] to
//! a target the pipeline file declares under the operator's
//! `async.targets`, and the operator's `on_result` handler receives its
//! [`AsyncResult`] in a later call, with the context the request carried.
//! No call waits for a request.
//!
//! ```
//! use wasmstream_guest::testing::{self, Runner};
//! use wasmstream_guest::{submit, AsyncResult, Emitter, OwnedRecord, Record, RecordRef, Request, Result};
//!
//! fn lookup(r: &mut Record, _: &mut Emitter) -> Result {
//!     let path = format!("/users/{}", String::from_utf8_lossy(r.key()));
//!     submit(&Request::http("users", "GET", &path).context(r.value()))?;
//!     Ok(())
//! }
//!
//! fn joined(res: &AsyncResult, out: &mut Emitter) -> Result {
//!     if res.status == AsyncResult::OK {
//!         out.emit(&RecordRef { value: res.body, ..RecordRef::default() });
//!     }
//!     Ok(())
//! }
//!
//! testing::reset();
//! let mut op = Runner::flat_map(lookup).on_result(joined);
//! assert!(op.run(&[OwnedRecord::new("click").with_key("7")]).unwrap().is_empty());
//! assert_eq!(testing::submitted().len(), 1);
//! let done = testing::OwnedResult::ok(0, b"click", 200, br#"{"name":"ada"}"#);
//! let out = op.run_with_results(&[], &[done]).unwrap();
//! assert_eq!(out[0].value(), br#"{"name":"ada"}"#);
//! ```

use std::cell::Cell;
use std::fmt;

use crate::codec::{put_array_header, put_bin, put_int, put_map_header, put_str};
use crate::error::{Error, Result};

/// Identifies a submitted request; its [`AsyncResult`] carries it.
/// Tickets are unique among an instance's requests until the pipeline
/// restarts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticket(pub u64);

impl fmt::Display for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// One request's result, as the host delivers it. It borrows the input
/// batch: valid only during the call that delivers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsyncResult<'a> {
    /// The ticket [`submit`] returned for the request.
    pub ticket: Ticket,
    /// [`AsyncResult::OK`] when the request completed (`code` and `body`
    /// hold the answer), or [`AsyncResult::ERROR`] or
    /// [`AsyncResult::TIMEOUT`] with `error` saying why.
    pub status: i32,
    /// The request's context, as submitted (`None`: it had none).
    pub context: Option<&'a [u8]>,
    /// HTTP: the response status; Redis: the number of elements of an
    /// array reply, 0 otherwise; SQL: the number of rows.
    pub code: i64,
    /// HTTP: the response body; Redis: the reply (a string as its bytes,
    /// an integer in decimal, `None` for a nil reply, an array as msgpack:
    /// see [`redis_items`]); SQL: the rows as a JSON array of objects.
    pub body: Option<&'a [u8]>,
    /// What went wrong, with a status other than `OK`.
    pub error: Option<&'a str>,
}

impl AsyncResult<'_> {
    /// The request completed.
    pub const OK: i32 = 0;
    /// The request failed: `error` says why.
    pub const ERROR: i32 = -1;
    /// The request timed out after the retries `async.retry` allows.
    pub const TIMEOUT: i32 = -7;

    /// Whether the request completed (`status == AsyncResult::OK`).
    pub fn is_ok(&self) -> bool {
        self.status == AsyncResult::OK
    }

    /// The context, empty when there was none.
    pub fn context(&self) -> &[u8] {
        self.context.unwrap_or(&[])
    }

    /// The body, empty when there was none.
    pub fn body(&self) -> &[u8] {
        self.body.unwrap_or(&[])
    }
}

/// One parameter of a SQL query ([`Request::sql`], [`Request::arg`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Arg<'a> {
    /// SQL NULL.
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Text.
    Str(&'a str),
    /// Bytes.
    Bin(&'a [u8]),
}

impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl From<i32> for Arg<'_> {
    fn from(v: i32) -> Self {
        Arg::Int(v.into())
    }
}

impl From<u32> for Arg<'_> {
    fn from(v: u32) -> Self {
        Arg::Int(v.into())
    }
}

impl From<f64> for Arg<'_> {
    fn from(v: f64) -> Self {
        Arg::Float(v)
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Str(v)
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Str(v)
    }
}

impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(v: &'a [u8]) -> Self {
        Arg::Bin(v)
    }
}

impl<'a, T: Into<Arg<'a>>> From<Option<T>> for Arg<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Arg::Nil, Into::into)
    }
}

/// One async request: its target, the context handed back with its result,
/// and the fields of the target's kind. It borrows what it is built from.
///
/// ```
/// use wasmstream_guest::{Arg, Request};
///
/// let ctx = b"the record";
/// let get = Request::http("users", "GET", "/users/7").header("accept", "application/json").context(ctx);
/// let hget = Request::redis("cache", &["HGET", "user:7", "name"]);
/// let row = Request::sql("db", "user_by_id", &[Arg::Int(7)]).context(ctx);
/// # let _ = (get, hget, row);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Request<'a> {
    target: &'a str,
    context: Option<&'a [u8]>,
    method: &'a str,
    path: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    body: Option<&'a [u8]>,
    command: Vec<Arg<'a>>, // Str or Bin
    query: &'a str,
    args: Option<Vec<Arg<'a>>>,
}

impl<'a> Request<'a> {
    /// A request to `target` with no kind's fields yet.
    pub fn new(target: &'a str) -> Request<'a> {
        Request { target, ..Request::default() }
    }

    /// A request to HTTP target `target`: `method` (`GET` when empty) and
    /// `path`, with its query, appended to the target's `url`.
    pub fn http(target: &'a str, method: &'a str, path: &'a str) -> Request<'a> {
        Request { target, method, path, ..Request::default() }
    }

    /// A request running one command, such as `["HGET", "user:7", "name"]`,
    /// on Redis target `target`. [`Request::command_arg`] adds arguments
    /// that are bytes.
    pub fn redis(target: &'a str, command: &[&'a str]) -> Request<'a> {
        Request { target, command: command.iter().map(|&c| Arg::Str(c)).collect(), ..Request::default() }
    }

    /// A request running the query named `query` of SQL target `target`
    /// with `args` as its parameters; [`Request::arg`] adds more.
    pub fn sql(target: &'a str, query: &'a str, args: &[Arg<'a>]) -> Request<'a> {
        Request { target, query, args: Some(args.to_vec()), ..Request::default() }
    }

    /// Sets the bytes the host keeps with the request and hands back with
    /// its result: what the operator needs to finish the record, usually
    /// the record's value. At most `async.max_context` (64 KiB by default).
    pub fn context(mut self, ctx: &'a [u8]) -> Request<'a> {
        self.context = Some(ctx);
        self
    }

    /// Sets the HTTP method.
    pub fn method(mut self, method: &'a str) -> Request<'a> {
        self.method = method;
        self
    }

    /// Sets the HTTP path, with its query.
    pub fn path(mut self, path: &'a str) -> Request<'a> {
        self.path = path;
        self
    }

    /// Adds an HTTP header to those the target declares; a second one of
    /// the same name replaces the first.
    pub fn header(mut self, name: &'a str, value: &'a str) -> Request<'a> {
        match self.headers.iter_mut().find(|(n, _)| *n == name) {
            Some(h) => h.1 = value,
            None => self.headers.push((name, value)),
        }
        self
    }

    /// Sets the HTTP request body.
    pub fn body(mut self, body: &'a [u8]) -> Request<'a> {
        self.body = Some(body);
        self
    }

    /// Appends an argument of bytes to the Redis command.
    pub fn command_arg(mut self, arg: &'a [u8]) -> Request<'a> {
        self.command.push(Arg::Bin(arg));
        self
    }

    /// Sets the name of the SQL query.
    pub fn query(mut self, query: &'a str) -> Request<'a> {
        self.query = query;
        self.args.get_or_insert_with(Vec::new);
        self
    }

    /// Appends a parameter to the SQL query.
    pub fn arg(mut self, arg: impl Into<Arg<'a>>) -> Request<'a> {
        self.args.get_or_insert_with(Vec::new).push(arg.into());
        self
    }

    /// The request's encoding, as [`submit`] hands it to the host.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::new();
        self.encode_into(&mut b);
        b
    }

    /// Appends the request's encoding to `b`: a msgpack map with str keys,
    /// in sorted order, holding the fields that are set.
    pub fn encode_into(&self, b: &mut Vec<u8>) {
        let n = 1
            + self.args.is_some() as u32
            + self.body.is_some() as u32
            + !self.command.is_empty() as u32
            + self.context.is_some() as u32
            + !self.headers.is_empty() as u32
            + !self.method.is_empty() as u32
            + !self.path.is_empty() as u32
            + !self.query.is_empty() as u32;
        put_map_header(b, n);
        if let Some(args) = &self.args {
            put_str(b, b"args");
            put_array_header(b, args.len() as u32);
            for a in args {
                put_arg(b, a);
            }
        }
        if let Some(body) = self.body {
            put_str(b, b"body");
            put_bin(b, Some(body));
        }
        if !self.command.is_empty() {
            put_str(b, b"command");
            put_array_header(b, self.command.len() as u32);
            for a in &self.command {
                put_arg(b, a);
            }
        }
        if let Some(ctx) = self.context {
            put_str(b, b"context");
            put_bin(b, Some(ctx));
        }
        if !self.headers.is_empty() {
            put_str(b, b"headers");
            put_map_header(b, self.headers.len() as u32);
            let mut hs: Vec<&(&str, &str)> = self.headers.iter().collect();
            hs.sort_unstable_by_key(|h| h.0);
            for (k, v) in hs {
                put_str(b, k.as_bytes());
                put_str(b, v.as_bytes());
            }
        }
        if !self.method.is_empty() {
            put_str(b, b"method");
            put_str(b, self.method.as_bytes());
        }
        if !self.path.is_empty() {
            put_str(b, b"path");
            put_str(b, self.path.as_bytes());
        }
        if !self.query.is_empty() {
            put_str(b, b"query");
            put_str(b, self.query.as_bytes());
        }
        put_str(b, b"target");
        put_str(b, self.target.as_bytes());
    }
}

fn put_arg(b: &mut Vec<u8>, a: &Arg) {
    match *a {
        Arg::Nil => b.push(0xc0),
        Arg::Bool(v) => b.push(if v { 0xc3 } else { 0xc2 }),
        Arg::Int(v) => put_int(b, v),
        Arg::Float(v) => {
            b.push(0xcb);
            b.extend_from_slice(&v.to_bits().to_be_bytes());
        }
        Arg::Str(s) => put_str(b, s.as_bytes()),
        Arg::Bin(v) => put_bin(b, Some(v)),
    }
}

/// The error [`submit`] returns for a request it did not send: the host
/// refused it (an undeclared target, a request its declaration does not
/// allow, too large, capacity full), or the operator has no `on_result`
/// handler. It converts into the SDK's [`Error`] with `?`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmitError {
    status: i32,
    msg: String,
}

impl SubmitError {
    /// `async_submit`'s status for a malformed or refused request.
    pub const ERROR: i32 = -1;
    /// `async_submit`'s status for a request over `async.max_request`
    /// (or a context over `async.max_context`).
    pub const TOO_LARGE: i32 = -3;
    /// `async_submit`'s status when the instance has `async.capacity`
    /// requests in flight.
    pub const CAPACITY: i32 = -6;

    /// The status `async_submit` returned (0 when the SDK refused the
    /// request without asking the host).
    pub fn status(&self) -> i32 {
        self.status
    }

    /// Whether the instance already has `async.capacity` requests in
    /// flight. The host gives an instance at most as many records per call
    /// as it has room for, so an operator that submits at most one request
    /// per record never sees it.
    pub fn is_capacity(&self) -> bool {
        self.status == SubmitError::CAPACITY
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.msg
    }

    fn refused(status: i32) -> SubmitError {
        let msg = match status {
            SubmitError::TOO_LARGE => {
                "wasmstream: async request refused: too large (async.max_request or async.max_context)".to_string()
            }
            SubmitError::CAPACITY => {
                "wasmstream: async request refused: capacity full (async.capacity requests in flight)".to_string()
            }
            _ => format!(
                "wasmstream: async request refused (status {}): an undeclared target, or a request its declaration does not allow",
                status
            ),
        };
        SubmitError { status, msg }
    }
}

impl fmt::Display for SubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for SubmitError {}

thread_local! {
    // Whether the running operator has an on_result handler; a module
    // instance is single-threaded, so this is one static there.
    static RESULTS_HANDLED: Cell<bool> = const { Cell::new(false) };
    // The reused encoding buffer.
    static REQ_BUF: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

pub(crate) fn set_results_handled(on: bool) {
    RESULTS_HANDLED.with(|r| r.set(on))
}

/// Sends `req` to the host and returns its ticket; its result arrives in a
/// later call, to the operator's `on_result` handler. A refusal is a
/// [`SubmitError`] with the reason. Requests submitted by a call that then
/// fails are dropped: the retried call submits them again.
///
/// The operator must register an `on_result` handler
/// (`operator!(flat_map = f, on_result = g)`): without one, `submit`
/// refuses every request, since its results would be lost.
pub fn submit(req: &Request) -> std::result::Result<Ticket, SubmitError> {
    if !RESULTS_HANDLED.with(|r| r.get()) {
        return Err(SubmitError {
            status: 0,
            msg: "wasmstream: submit without an on_result handler: register one (operator!(..., on_result = f)) to receive the results".into(),
        });
    }
    let mut buf = REQ_BUF.with(|b| b.take());
    buf.clear();
    req.encode_into(&mut buf);
    let t = crate::host::async_submit(&buf);
    REQ_BUF.with(|b| b.set(buf));
    if t < 0 {
        return Err(SubmitError::refused(t as i32));
    }
    Ok(Ticket(t as u64))
}

/// Splits the body of a Redis array reply (`MGET`, `HMGET`, `LRANGE`...),
/// a msgpack array of bin or nil, into its elements; `None` is a nil
/// element. The elements borrow the body.
pub fn redis_items(body: &[u8]) -> Result<Vec<Option<&[u8]>>> {
    let bad = |why: &str| Error::new(format!("wasmstream: not an array reply: {}", why));
    let c = *body.first().ok_or_else(|| bad("empty body"))?;
    let (n, mut at) = match c {
        0x90..=0x9f => ((c & 0x0f) as usize, 1),
        0xdc if body.len() >= 3 => (u16::from_be_bytes([body[1], body[2]]) as usize, 3),
        0xdd if body.len() >= 5 => (u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize, 5),
        _ => return Err(bad("not a msgpack array")),
    };
    if n > body.len() - at {
        return Err(bad("truncated"));
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let c = *body.get(at).ok_or_else(|| bad("truncated"))?;
        let (len, hdr) = match c {
            0xc0 => {
                out.push(None);
                at += 1;
                continue;
            }
            0xa0..=0xbf => ((c & 0x1f) as usize, 1),
            0xc4 | 0xd9 if body.len() - at >= 2 => (body[at + 1] as usize, 2),
            0xc5 | 0xda if body.len() - at >= 3 => (u16::from_be_bytes([body[at + 1], body[at + 2]]) as usize, 3),
            0xc6 | 0xdb if body.len() - at >= 5 => {
                (u32::from_be_bytes([body[at + 1], body[at + 2], body[at + 3], body[at + 4]]) as usize, 5)
            }
            _ => {
                return Err(Error::new(format!(
                    "wasmstream: array reply element {} is not bytes or nil (msgpack byte 0x{:02x})",
                    i, c
                )))
            }
        };
        let s = at + hdr;
        if len > body.len() - s {
            return Err(bad("truncated"));
        }
        out.push(Some(&body[s..s + len]));
        at = s + len;
    }
    if at != body.len() {
        return Err(bad("bytes after the array"));
    }
    Ok(out)
}
