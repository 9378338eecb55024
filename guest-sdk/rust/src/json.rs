//! Read and write JSON record values without allocating per record.
//!
//! [`get`] finds a value by path and returns a [`Value`] that borrows the
//! document; strings are decoded only when asked for, into a buffer the
//! caller passes. [`Writer`], [`set`], [`delete`] and [`append_string`]
//! build or patch a document into a caller buffer.
//!
//! ```
//! use wasmstream_guest::json;
//!
//! let doc = br#"{"user":{"name":"Z\u00fcrich","id":7}}"#;
//! let mut buf = Vec::new();
//! let name = json::get(doc, "user.name")?;
//! assert_eq!(name.text(&mut buf)?, "Zürich".as_bytes());
//! assert_eq!(json::get(doc, "user.id")?.int()?, 7);
//!
//! let mut out = Vec::new();
//! json::set(&mut out, doc, "user.ok", b"true")?;
//! assert_eq!(out, br#"{"user":{"name":"Z\u00fcrich","id":7,"ok":true}}"#);
//! # Ok::<(), json::Error>(())
//! ```
//!
//! [`get_all`] finds several paths in the same single pass.
//!
//! A path is a list of segments joined by `.`: an object key, or an array
//! index in decimal (`items.0.id`); the empty path is the document itself.
//! Keys are compared with their escapes decoded; the first of duplicate keys
//! wins. A key containing `.` cannot be named by a path.
//!
//! Every function that reads a document validates all of it against RFC 8259
//! in one pass (strict grammar, UTF-8 in strings, no leading zeros, nothing
//! after the value) and fails with [`Error::Syntax`], [`Error::Utf8`] or
//! [`Error::Depth`] (nesting deeper than [`MAX_DEPTH`]) instead of reading
//! on. The reader is one loop with an explicit, bounded stack, so no document
//! can exhaust the guest's stack. A lone
//! UTF-16 surrogate in a `\u` escape is valid and decodes to U+FFFD.
//!
//! The shared vectors in `guest-sdk/testdata/json` test this module and the
//! other SDKs' JSON code alike.

use std::fmt;

/// The deepest nesting of arrays and objects a document may have.
pub const MAX_DEPTH: usize = 128;

/// Why a JSON call failed. The offsets are where in the document reading
/// stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The document is not valid JSON.
    Syntax(usize),
    /// A string holds bytes that are not UTF-8.
    Utf8(usize),
    /// Arrays and objects nest deeper than [`MAX_DEPTH`].
    Depth(usize),
    /// The document is valid but has no value at the path.
    NotFound,
    /// The value is of another type.
    Type,
    /// The number does not fit.
    Range,
    /// A [`Writer`] was used out of order.
    Writer,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Syntax(at) => write!(f, "invalid JSON at byte {}", at),
            Error::Utf8(at) => write!(f, "invalid UTF-8 in a JSON string at byte {}", at),
            Error::Depth(at) => write!(f, "JSON nested deeper than {} at byte {}", MAX_DEPTH, at),
            Error::NotFound => f.write_str("no JSON value at path"),
            Error::Type => f.write_str("JSON value of another type"),
            Error::Range => f.write_str("JSON number out of range"),
            Error::Writer => f.write_str("JSON writer used out of order"),
        }
    }
}

impl std::error::Error for Error {}

/// The type of a JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl Kind {
    /// The kind's name: `null`, `bool`, `number`, `string`, `array` or
    /// `object`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool => "bool",
            Kind::Number => "number",
            Kind::String => "string",
            Kind::Array => "array",
            Kind::Object => "object",
        }
    }
}

/// One JSON value of a document, borrowing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Value<'a> {
    kind: Kind,
    raw: &'a [u8],
}

/// Checks that `doc` is one valid JSON document.
pub fn valid(doc: &[u8]) -> Result<(), Error> {
    find(doc, "", false).map(|_| ())
}

/// Returns the value at `path` in `doc`, after validating all of `doc`.
pub fn get<'a>(doc: &'a [u8], path: &str) -> Result<Value<'a>, Error> {
    let sp = find(doc, path, true)?;
    Ok(Value { kind: sp.kind, raw: &doc[sp.start..sp.end] })
}

impl<'a> Value<'a> {
    /// The value's kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The value's JSON text, quotes included for a string.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The value at `path` inside this one.
    pub fn get(&self, path: &str) -> Result<Value<'a>, Error> {
        get(self.raw, path)
    }

    /// Whether the value is `null`.
    pub fn is_null(&self) -> bool {
        self.kind == Kind::Null
    }

    /// A `true` or `false`, or [`Error::Type`].
    pub fn bool(&self) -> Result<bool, Error> {
        if self.kind != Kind::Bool {
            return Err(Error::Type);
        }
        Ok(self.raw[0] == b't')
    }

    /// A number written as an integer (no fraction or exponent):
    /// [`Error::Type`] for anything else, [`Error::Range`] outside `i64`.
    /// `-0` is 0.
    pub fn int(&self) -> Result<i64, Error> {
        if self.kind != Kind::Number || self.raw.iter().any(|&c| c == b'.' || c == b'e' || c == b'E') {
            return Err(Error::Type);
        }
        let (neg, digits) = match self.raw.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, self.raw),
        };
        let mut n: u64 = 0;
        for &c in digits {
            n = n.checked_mul(10).and_then(|n| n.checked_add(u64::from(c - b'0'))).ok_or(Error::Range)?;
        }
        if neg {
            if n > 1 << 63 {
                return Err(Error::Range);
            }
            Ok((n as i64).wrapping_neg())
        } else if n > i64::MAX as u64 {
            Err(Error::Range)
        } else {
            Ok(n as i64)
        }
    }

    /// A number as the nearest `f64`: [`Error::Type`] for anything else,
    /// [`Error::Range`] when it is too large (a number too small is zero).
    pub fn float(&self) -> Result<f64, Error> {
        if self.kind != Kind::Number {
            return Err(Error::Type);
        }
        // A validated number is ASCII.
        let s = std::str::from_utf8(self.raw).map_err(|_| Error::Type)?;
        let f: f64 = s.parse().map_err(|_| Error::Range)?;
        if f.is_infinite() {
            return Err(Error::Range);
        }
        Ok(f)
    }

    /// A string's contents with escapes decoded: the bytes between its
    /// quotes, borrowed from the document, when it has no escapes; otherwise
    /// the decoded text written to `buf` (cleared first). [`Error::Type`]
    /// for a value that is not a string.
    pub fn text<'s>(&self, buf: &'s mut Vec<u8>) -> Result<&'s [u8], Error>
    where
        'a: 's,
    {
        if self.kind != Kind::String {
            return Err(Error::Type);
        }
        let inner = &self.raw[1..self.raw.len() - 1];
        if !inner.contains(&b'\\') {
            return Ok(inner);
        }
        buf.clear();
        unescape(buf, inner);
        Ok(&buf[..])
    }

    /// [`Value::text`] as a `&str`: a validated string is UTF-8.
    pub fn as_str<'s>(&self, buf: &'s mut Vec<u8>) -> Result<&'s str, Error>
    where
        'a: 's,
    {
        let b = self.text(buf)?;
        std::str::from_utf8(b).map_err(|_| Error::Type)
    }

    /// Whether the value is a string whose decoded contents are `s`,
    /// decoded nowhere.
    pub fn text_eq(&self, s: &str) -> bool {
        self.kind == Kind::String && text_eq(&self.raw[1..self.raw.len() - 1], s.as_bytes())
    }
}

#[derive(Clone, Copy)]
struct Span {
    kind: Kind,
    start: usize,
    end: usize,
}

/// One path followed through a document: `matched` says the value about to
/// be read is on the path, `at` is where the rest of the path begins, and
/// the container at depth `mdepth` is the one whose members are compared
/// with `seg`. Once a member matched, that container compares no more (only
/// the first of duplicate keys is followed), and once a matched container
/// closes without the value, nothing else can match.
#[derive(Clone, Copy)]
struct Cursor<'p> {
    path: &'p [u8],
    matched: bool,
    at: usize,
    mdepth: usize, // 0: none
    seg: &'p [u8],
    next: usize,
    elem: usize,
    want: Option<usize>,
    here_at: usize, // the depth at which the found container closes; 0: none
    res: Option<Span>,
}

impl<'p> Cursor<'p> {
    fn new(path: &'p str) -> Cursor<'p> {
        let path = path.as_bytes();
        Cursor {
            path,
            matched: true,
            at: if path.is_empty() { 1 } else { 0 },
            mdepth: 0,
            seg: &path[..0],
            next: 0,
            elem: 0,
            want: None,
            here_at: 0,
            res: None,
        }
    }

    fn found(&self) -> bool {
        self.res.is_some() && self.here_at == 0
    }
}

fn find(doc: &[u8], path: &str, want: bool) -> Result<Span, Error> {
    if !want {
        scan(doc, &mut [])?;
        return Ok(Span { kind: Kind::Null, start: 0, end: 0 });
    }
    let mut cs = [Cursor::new(path)];
    scan(doc, &mut cs)?;
    match cs[0].res {
        Some(sp) if cs[0].found() => Ok(sp),
        _ => Err(Error::NotFound),
    }
}

/// The most paths one [`get_all`] call looks up.
pub const MAX_PATHS: usize = 8;

/// Looks up every path of `paths` in `doc` in one pass, as [`get`] does for
/// one, after validating all of `doc`: `out[i]` is the value at `paths[i]`,
/// or `None`. At most [`MAX_PATHS`] paths; `out` must be at least as long as
/// `paths` ([`Error::Type`] otherwise). It allocates nothing.
pub fn get_all<'a>(doc: &'a [u8], paths: &[&str], out: &mut [Option<Value<'a>>]) -> Result<(), Error> {
    if paths.len() > MAX_PATHS || out.len() < paths.len() {
        return Err(Error::Type);
    }
    let mut arr = [Cursor::new(""); MAX_PATHS];
    for (c, p) in arr.iter_mut().zip(paths) {
        *c = Cursor::new(p);
    }
    let cs = &mut arr[..paths.len()];
    scan(doc, cs)?;
    for (o, c) in out.iter_mut().zip(cs.iter()) {
        *o = match c.res {
            Some(sp) if c.found() => Some(Value { kind: sp.kind, raw: &doc[sp.start..sp.end] }),
            _ => None,
        };
    }
    Ok(())
}

fn is_space(c: u8) -> bool {
    c == b' ' || c == b'\t' || c == b'\n' || c == b'\r'
}

fn skip_ws(d: &[u8], mut i: usize) -> usize {
    while i < d.len() && is_space(d[i]) {
        i += 1;
    }
    i
}

fn segment(path: &[u8], at: usize) -> (&[u8], usize) {
    if at > path.len() {
        return (&path[..0], at);
    }
    match path[at..].iter().position(|&c| c == b'.') {
        Some(i) => (&path[at..at + i], at + i + 1),
        None => (&path[at..], path.len() + 1),
    }
}

fn is_digit(d: &[u8], i: usize) -> bool {
    i < d.len() && d[i].is_ascii_digit()
}

enum St {
    Value,
    After,
    Key,
}

/// Validates `d`, moving every cursor along it: one loop with an explicit
/// stack, so no document can exhaust the guest's stack.
fn scan(d: &[u8], cs: &mut [Cursor]) -> Result<(), Error> {
    let mut i = 0;
    let mut depth = 0;
    let mut stack = [0u8; MAX_DEPTH];
    let mut st = St::Value;
    loop {
        match st {
            St::Value => {
                i = skip_ws(d, i);
                if i >= d.len() {
                    return Err(Error::Syntax(i));
                }
                let start = i;
                let c = d[i];
                let kind = match c {
                    b'{' | b'[' => {
                        if depth == MAX_DEPTH {
                            return Err(Error::Depth(i));
                        }
                        stack[depth] = c;
                        depth += 1;
                        i += 1;
                        for cu in cs.iter_mut() {
                            if !cu.matched || cu.res.is_some() {
                                continue;
                            }
                            cu.matched = false;
                            if cu.at > cu.path.len() {
                                let kind = if c == b'{' { Kind::Object } else { Kind::Array };
                                cu.res = Some(Span { kind, start, end: 0 });
                                cu.here_at = depth;
                                continue;
                            }
                            cu.mdepth = depth;
                            let (seg, next) = segment(cu.path, cu.at);
                            cu.seg = seg;
                            cu.next = next;
                            cu.elem = 0;
                            cu.want = if c == b'[' { index(seg) } else { None };
                        }
                        i = skip_ws(d, i);
                        if i < d.len() && d[i] == c + 2 {
                            // '{' + 2 is '}', '[' + 2 is ']'
                            st = St::After;
                            continue;
                        }
                        if c == b'{' {
                            st = St::Key;
                            continue;
                        }
                        for cu in cs.iter_mut() {
                            if cu.mdepth == depth && cu.want == Some(0) {
                                cu.matched = true;
                                cu.at = cu.next;
                                cu.mdepth = 0;
                            }
                        }
                        continue;
                    }
                    b'"' => {
                        i = scan_string(d, i)?;
                        Kind::String
                    }
                    b't' | b'f' | b'n' => {
                        let (lit, kind): (&[u8], Kind) = match c {
                            b't' => (b"true", Kind::Bool),
                            b'f' => (b"false", Kind::Bool),
                            _ => (b"null", Kind::Null),
                        };
                        if !d[i..].starts_with(lit) {
                            return Err(Error::Syntax(i));
                        }
                        i += lit.len();
                        kind
                    }
                    b'-' | b'0'..=b'9' => {
                        if c == b'-' {
                            i += 1;
                        }
                        if i < d.len() && d[i] == b'0' {
                            i += 1;
                        } else if is_digit(d, i) {
                            while is_digit(d, i) {
                                i += 1;
                            }
                        } else {
                            return Err(Error::Syntax(i));
                        }
                        if i < d.len() && d[i] == b'.' {
                            i += 1;
                            if !is_digit(d, i) {
                                return Err(Error::Syntax(i));
                            }
                            while is_digit(d, i) {
                                i += 1;
                            }
                        }
                        if i < d.len() && (d[i] == b'e' || d[i] == b'E') {
                            i += 1;
                            if i < d.len() && (d[i] == b'+' || d[i] == b'-') {
                                i += 1;
                            }
                            if !is_digit(d, i) {
                                return Err(Error::Syntax(i));
                            }
                            while is_digit(d, i) {
                                i += 1;
                            }
                        }
                        Kind::Number
                    }
                    _ => return Err(Error::Syntax(i)),
                };
                for cu in cs.iter_mut() {
                    if cu.matched && cu.res.is_none() && cu.at > cu.path.len() {
                        cu.res = Some(Span { kind, start, end: i });
                    }
                    cu.matched = false;
                }
                st = St::After;
            }
            St::After => {
                i = skip_ws(d, i);
                if depth == 0 {
                    if i != d.len() {
                        return Err(Error::Syntax(i));
                    }
                    return Ok(());
                }
                if i >= d.len() {
                    return Err(Error::Syntax(i));
                }
                let top = stack[depth - 1];
                if d[i] == b',' {
                    i += 1;
                    if top == b'{' {
                        st = St::Key;
                        continue;
                    }
                    for cu in cs.iter_mut() {
                        if cu.mdepth == depth {
                            cu.elem += 1;
                            if cu.want == Some(cu.elem) {
                                cu.matched = true;
                                cu.at = cu.next;
                                cu.mdepth = 0;
                            }
                        }
                    }
                    st = St::Value;
                } else if d[i] == top + 2 {
                    i += 1;
                    for cu in cs.iter_mut() {
                        if cu.here_at == depth {
                            if let Some(sp) = cu.res.as_mut() {
                                sp.end = i;
                            }
                            cu.here_at = 0;
                        }
                        if cu.mdepth == depth {
                            cu.mdepth = 0;
                        }
                    }
                    depth -= 1;
                } else {
                    return Err(Error::Syntax(i));
                }
            }
            St::Key => {
                i = skip_ws(d, i);
                if i >= d.len() || d[i] != b'"' {
                    return Err(Error::Syntax(i));
                }
                let kstart = i + 1;
                i = scan_string(d, i)?;
                for cu in cs.iter_mut() {
                    if cu.mdepth == depth && text_eq(&d[kstart..i - 1], cu.seg) {
                        cu.matched = true;
                        cu.at = cu.next;
                        cu.mdepth = 0;
                    }
                }
                i = skip_ws(d, i);
                if i >= d.len() || d[i] != b':' {
                    return Err(Error::Syntax(i));
                }
                i += 1;
                st = St::Value;
            }
        }
    }
}

/// Reads the string whose opening quote is `d[i]`, validating escapes and
/// UTF-8; returns the offset after its closing quote.
fn scan_string(d: &[u8], mut i: usize) -> Result<usize, Error> {
    i += 1;
    while i < d.len() {
        let c = d[i];
        if c == b'"' {
            return Ok(i + 1);
        } else if c == b'\\' {
            match d.get(i + 1) {
                Some(b'"') | Some(b'\\') | Some(b'/') | Some(b'b') | Some(b'f') | Some(b'n') | Some(b'r')
                | Some(b't') => i += 2,
                Some(b'u') => {
                    if d.len() - i < 6 || !d[i + 2..i + 6].iter().all(u8::is_ascii_hexdigit) {
                        return Err(Error::Syntax(i));
                    }
                    i += 6;
                }
                Some(_) => return Err(Error::Syntax(i)),
                None => return Err(Error::Syntax(d.len())),
            }
        } else if c < 0x20 {
            return Err(Error::Syntax(i));
        } else if c < 0x80 {
            i += 1;
        } else {
            match utf8_len(&d[i..]) {
                0 => return Err(Error::Utf8(i)),
                n => i += n,
            }
        }
    }
    Err(Error::Syntax(i))
}

/// The array index a path segment names, if it names one.
fn index(seg: &[u8]) -> Option<usize> {
    if seg.is_empty() || seg.len() > 9 || (seg[0] == b'0' && seg.len() > 1) {
        return None;
    }
    let mut n = 0;
    for &c in seg {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + usize::from(c - b'0');
    }
    Some(n)
}

/// The length of the valid UTF-8 sequence `b` starts with (`b[0] >= 0x80`),
/// or 0: no overlong forms, surrogates or code points past U+10FFFF.
fn utf8_len(b: &[u8]) -> usize {
    let (n, lo, hi) = match b[0] {
        0xC2..=0xDF => (2, 0x80, 0xBF),
        0xE0 => (3, 0xA0, 0xBF),
        0xE1..=0xEC | 0xEE | 0xEF => (3, 0x80, 0xBF),
        0xED => (3, 0x80, 0x9F),
        0xF0 => (4, 0x90, 0xBF),
        0xF1..=0xF3 => (4, 0x80, 0xBF),
        0xF4 => (4, 0x80, 0x8F),
        _ => return 0,
    };
    if b.len() < n || b[1] < lo || b[1] > hi || b[2..n].iter().any(|&c| !(0x80..=0xBF).contains(&c)) {
        return 0;
    }
    n
}

fn hex4(b: &[u8]) -> u32 {
    b[..4].iter().fold(0, |r, &c| (r << 4) | (c as char).to_digit(16).unwrap_or(0))
}

/// Decodes the escape at `inp[0]` (a backslash) of a validated string into
/// `out`; returns the bytes written and the bytes of `inp` used.
fn escape(inp: &[u8], out: &mut [u8; 4]) -> (usize, usize) {
    let c = match inp[1] {
        b'b' => 0x08,
        b'f' => 0x0C,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'u' => {
            let mut r = hex4(&inp[2..]);
            let mut used = 6;
            if (0xD800..=0xDBFF).contains(&r) {
                let lo = if inp.len() >= 12 && inp[6] == b'\\' && inp[7] == b'u' { hex4(&inp[8..]) } else { 0 };
                if (0xDC00..=0xDFFF).contains(&lo) {
                    r = 0x10000 + ((r - 0xD800) << 10) + (lo - 0xDC00);
                    used = 12;
                } else {
                    r = 0xFFFD;
                }
            } else if (0xDC00..=0xDFFF).contains(&r) {
                r = 0xFFFD;
            }
            let ch = char::from_u32(r).unwrap_or('\u{FFFD}');
            return (ch.encode_utf8(out).len(), used);
        }
        c => c, // " \ /
    };
    out[0] = c;
    (1, 2)
}

fn unescape(dst: &mut Vec<u8>, mut inp: &[u8]) {
    let mut tmp = [0u8; 4];
    while !inp.is_empty() {
        match inp.iter().position(|&c| c == b'\\') {
            None => {
                dst.extend_from_slice(inp);
                return;
            }
            Some(i) => {
                dst.extend_from_slice(&inp[..i]);
                let (n, used) = escape(&inp[i..], &mut tmp);
                dst.extend_from_slice(&tmp[..n]);
                inp = &inp[i + used..];
            }
        }
    }
}

/// Whether the validated string contents `inp` decode to `s`.
fn text_eq(mut inp: &[u8], mut s: &[u8]) -> bool {
    let mut tmp = [0u8; 4];
    while let Some(&c) = inp.first() {
        if c != b'\\' {
            match s.split_first() {
                Some((&d, rest)) if d == c => s = rest,
                _ => return false,
            }
            inp = &inp[1..];
            continue;
        }
        let (n, used) = escape(inp, &mut tmp);
        if !s.starts_with(&tmp[..n]) {
            return false;
        }
        s = &s[n..];
        inp = &inp[used..];
    }
    s.is_empty()
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` to `dst` as a JSON string: quoted, with `"`, `\` and control
/// characters escaped (`\n`, `\r`, `\t`, `\b`, `\f` or `\u00XX`) and every
/// other byte as it is.
pub fn append_string(dst: &mut Vec<u8>, s: &[u8]) {
    dst.push(b'"');
    let mut start = 0;
    for (i, &c) in s.iter().enumerate() {
        if c >= 0x20 && c != b'"' && c != b'\\' {
            continue;
        }
        dst.extend_from_slice(&s[start..i]);
        match c {
            b'"' | b'\\' => dst.extend_from_slice(&[b'\\', c]),
            b'\n' => dst.extend_from_slice(b"\\n"),
            b'\r' => dst.extend_from_slice(b"\\r"),
            b'\t' => dst.extend_from_slice(b"\\t"),
            0x08 => dst.extend_from_slice(b"\\b"),
            0x0C => dst.extend_from_slice(b"\\f"),
            _ => dst.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(c >> 4)], HEX[usize::from(c & 15)]]),
        }
        start = i + 1;
    }
    dst.extend_from_slice(&s[start..]);
    dst.push(b'"');
}

/// Appends `n` to `dst` as a JSON number.
pub fn append_int(dst: &mut Vec<u8>, n: i64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    let mut u = n.unsigned_abs();
    loop {
        i -= 1;
        tmp[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if n < 0 {
        dst.push(b'-');
    }
    dst.extend_from_slice(&tmp[i..]);
}

/// Appends `f` to `dst` as the shortest JSON number that reads back as `f`
/// (in exponent form below 1e-6 and from 1e21 on); NaN and the infinities,
/// which JSON cannot hold, are written as `null`.
pub fn append_float(dst: &mut Vec<u8>, f: f64) {
    use std::io::Write;
    if !f.is_finite() {
        dst.extend_from_slice(b"null");
        return;
    }
    let a = f.abs();
    // Writing to a Vec cannot fail.
    let _ = if a != 0.0 && !(1e-6..1e21).contains(&a) { write!(dst, "{:e}", f) } else { write!(dst, "{}", f) };
}

/// Builds one JSON document into a buffer it owns and reuses, placing commas
/// and colons. A misuse is recorded and returned by [`Writer::finish`]; the
/// calls after it do nothing.
///
/// ```
/// let mut w = wasmstream_guest::json::Writer::new();
/// w.begin_object();
/// w.key("id");
/// w.int(7);
/// w.key("tags");
/// w.begin_array();
/// w.text("a");
/// w.end_array();
/// w.end_object();
/// assert_eq!(w.finish().unwrap(), br#"{"id":7,"tags":["a"]}"#);
/// ```
pub struct Writer {
    buf: Vec<u8>,
    depth: usize,
    open: [u8; MAX_DEPTH],
    count: [u32; MAX_DEPTH + 1],
    key: bool,
    err: bool,
}

impl Default for Writer {
    fn default() -> Self {
        Writer::new()
    }
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Writer {
        Writer { buf: Vec::new(), depth: 0, open: [0; MAX_DEPTH], count: [0; MAX_DEPTH + 1], key: false, err: false }
    }

    /// Starts a new document, keeping the buffer's capacity.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.depth = 0;
        self.count[0] = 0;
        self.key = false;
        self.err = false;
    }

    /// The document, or [`Error::Writer`] after a misuse or while a
    /// container is open.
    pub fn finish(&mut self) -> Result<&[u8], Error> {
        if self.err || self.depth != 0 || self.key {
            self.err = true;
            return Err(Error::Writer);
        }
        Ok(&self.buf)
    }

    fn pre(&mut self) -> bool {
        if self.err {
            return false;
        }
        if self.depth > 0 && self.open[self.depth - 1] == b'{' {
            if !self.key {
                self.err = true;
                return false;
            }
            self.key = false;
        } else if self.depth == 0 && self.count[0] > 0 {
            self.err = true;
            return false;
        } else if self.count[self.depth] > 0 {
            self.buf.push(b',');
        }
        self.count[self.depth] += 1;
        true
    }

    /// Writes an object key; a value must follow.
    pub fn key(&mut self, k: &str) {
        if self.err {
            return;
        }
        if self.depth == 0 || self.open[self.depth - 1] != b'{' || self.key {
            self.err = true;
            return;
        }
        if self.count[self.depth] > 0 {
            self.buf.push(b',');
        }
        append_string(&mut self.buf, k.as_bytes());
        self.buf.push(b':');
        self.key = true;
    }

    fn begin(&mut self, c: u8) {
        if self.depth == MAX_DEPTH {
            self.err = true;
            return;
        }
        if self.pre() {
            self.buf.push(c);
            self.open[self.depth] = c;
            self.depth += 1;
            self.count[self.depth] = 0;
        }
    }

    fn end(&mut self, open: u8, c: u8) {
        if self.err {
            return;
        }
        if self.depth == 0 || self.open[self.depth - 1] != open || self.key {
            self.err = true;
            return;
        }
        self.buf.push(c);
        self.depth -= 1;
    }

    /// Opens an object.
    pub fn begin_object(&mut self) {
        self.begin(b'{')
    }

    /// Closes the object opened last.
    pub fn end_object(&mut self) {
        self.end(b'{', b'}')
    }

    /// Opens an array.
    pub fn begin_array(&mut self) {
        self.begin(b'[')
    }

    /// Closes the array opened last.
    pub fn end_array(&mut self) {
        self.end(b'[', b']')
    }

    /// Writes a string value, escaped as [`append_string`] does.
    pub fn text(&mut self, s: &str) {
        self.text_bytes(s.as_bytes())
    }

    /// Writes a string value from bytes.
    pub fn text_bytes(&mut self, s: &[u8]) {
        if self.pre() {
            append_string(&mut self.buf, s)
        }
    }

    /// Writes an integer.
    pub fn int(&mut self, n: i64) {
        if self.pre() {
            append_int(&mut self.buf, n)
        }
    }

    /// Writes a number as [`append_float`] does.
    pub fn float(&mut self, f: f64) {
        if self.pre() {
            append_float(&mut self.buf, f)
        }
    }

    /// Writes `true` or `false`.
    pub fn bool(&mut self, b: bool) {
        if self.pre() {
            self.buf.extend_from_slice(if b { b"true" } else { b"false" })
        }
    }

    /// Writes `null`.
    pub fn null(&mut self) {
        if self.pre() {
            self.buf.extend_from_slice(b"null")
        }
    }

    /// Writes `raw`, which must be one valid JSON value (such as
    /// [`Value::raw`]), unchecked.
    pub fn raw(&mut self, raw: &[u8]) {
        if self.pre() {
            self.buf.extend_from_slice(raw)
        }
    }
}

/// Appends to `dst` the document `doc` with the value at `path` replaced by
/// `value`, which must be one valid JSON value (it is checked). When only
/// the last segment of `path` is missing and what it names is an object,
/// `"key":value` is appended to that object before its closing brace.
/// Everything else is copied byte for byte. [`Error::NotFound`] when `path`
/// has neither a value nor a parent object, [`Error::Depth`] when the result
/// would nest deeper than [`MAX_DEPTH`].
pub fn set(dst: &mut Vec<u8>, doc: &[u8], path: &str, value: &[u8]) -> Result<(), Error> {
    valid(value)?;
    let start = dst.len();
    set_unchecked(dst, doc, path, value).map_err(|e| {
        dst.truncate(start);
        e
    })?;
    // A container value may nest the result deeper than MAX_DEPTH.
    if let Some(b'{') | Some(b'[') = value.iter().copied().find(|&c| !is_space(c)) {
        if let Err(e) = valid(&dst[start..]) {
            dst.truncate(start);
            return Err(e);
        }
    }
    Ok(())
}

fn set_unchecked(dst: &mut Vec<u8>, doc: &[u8], path: &str, value: &[u8]) -> Result<(), Error> {
    match find(doc, path, true) {
        Ok(sp) => {
            dst.extend_from_slice(&doc[..sp.start]);
            dst.extend_from_slice(value);
            dst.extend_from_slice(&doc[sp.end..]);
            return Ok(());
        }
        Err(Error::NotFound) if !path.is_empty() => {}
        Err(e) => return Err(e),
    }
    let (parent, key) = match path.rfind('.') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    };
    let sp = find(doc, parent, true)?;
    if sp.kind != Kind::Object {
        return Err(Error::NotFound);
    }
    let closing = sp.end - 1;
    dst.extend_from_slice(&doc[..closing]);
    if doc[sp.start + 1..closing].iter().any(|&c| !is_space(c)) {
        dst.push(b',');
    }
    append_string(dst, key.as_bytes());
    dst.push(b':');
    dst.extend_from_slice(value);
    dst.extend_from_slice(&doc[closing..]);
    Ok(())
}

/// Appends to `dst` the document `doc` without the object member or array
/// element at `path` (and the comma that separated it), copying everything
/// else byte for byte. [`Error::NotFound`] when `path` has no value or is
/// empty.
pub fn delete(dst: &mut Vec<u8>, doc: &[u8], path: &str) -> Result<(), Error> {
    if path.is_empty() {
        valid(doc)?;
        return Err(Error::NotFound);
    }
    let sp = find(doc, path, true)?;
    let (mut start, mut end) = (sp.start, sp.end);
    let mut i = start - 1;
    while is_space(doc[i]) {
        i -= 1;
    }
    if doc[i] == b':' {
        i -= 1;
        while is_space(doc[i]) {
            i -= 1;
        }
        i -= 1; // inside the key, before its closing quote
        while !(doc[i] == b'"' && !escaped(doc, i)) {
            i -= 1;
        }
        start = i;
        i -= 1;
        while is_space(doc[i]) {
            i -= 1;
        }
    }
    let mut j = end;
    while j < doc.len() && is_space(doc[j]) {
        j += 1;
    }
    if doc[j] == b',' {
        end = j + 1;
        while end < doc.len() && is_space(doc[end]) {
            end += 1;
        }
    } else if doc[i] == b',' {
        start = i;
        while is_space(doc[start - 1]) {
            start -= 1;
        }
    }
    dst.extend_from_slice(&doc[..start]);
    dst.extend_from_slice(&doc[end..]);
    Ok(())
}

/// Whether `doc[i]` follows an odd number of backslashes.
fn escaped(doc: &[u8], i: usize) -> bool {
    doc[..i].iter().rev().take_while(|&&c| c == b'\\').count() % 2 == 1
}
