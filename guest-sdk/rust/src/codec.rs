//! The frame codec (abi/SPEC.md, "Frames"), written by hand: records are
//! decoded in place, without copying, and output is encoded straight into
//! one reused buffer. The common canonical encodings take short inline
//! paths; every other valid encoding takes a slower path; anything else is
//! an error worded, with its byte offset, exactly as the host's reader
//! words it.

use std::marker::PhantomData;
use std::slice;

use crate::asyncio::{AsyncResult, Ticket};
use crate::error::Error;
use crate::record::{addr, Header, Headers, Origin, Record, NIL};

/// The most records one frame may carry.
pub const MAX_RECORDS: u32 = 1 << 24;

const MAX_DEPTH: u32 = 32;

/// The frame header a canonical writer starts with: fixarray 1, then an
/// array32 whose count is patched at the end.
const FRAME_HEADER: [u8; 6] = [0x91, 0xdd, 0, 0, 0, 0];

#[cold]
#[inline(never)]
pub(crate) fn malformed(off: usize, reason: String) -> Error {
    Error::new(format!("decoding input batch: malformed frame at byte {}: {}", off, reason))
}

/// Decodes the records of one frame in place. The frame is addressed
/// through a raw pointer because the records handed out hold `&'a mut`
/// slices of it: the reader itself only reads the bytes between them.
pub(crate) struct Reader<'a> {
    base: *mut u8,
    len: usize,
    off: usize,
    left: u32,
    count: u32,
    total: u32, // elements of the frame array: records, then reserved ones
    elem: u32,  // the next element finish skips: 1 until the results are read
    results_left: u32,
    result_index: u32,
    err: Option<Error>,
    _frame: PhantomData<&'a mut [u8]>,
}

impl<'a> Reader<'a> {
    /// Starts reading the `len` bytes at `base`, which must stay valid and
    /// untouched by anything but the records this reader hands out for
    /// `'a`.
    pub unsafe fn new(base: *mut u8, len: usize) -> Result<Reader<'a>, Error> {
        let mut r = Reader {
            base,
            len,
            off: 0,
            left: 0,
            count: 0,
            total: 0,
            elem: 1,
            results_left: 0,
            result_index: 0,
            err: None,
            _frame: PhantomData,
        };
        let total = r.array_header()?;
        if total < 1 {
            return Err(malformed(0, "frame is an empty array; want [records, ...]".into()));
        }
        let count = r.array_header()?;
        if count > MAX_RECORDS {
            return Err(malformed(1, format!("frame declares {} records; the limit is {}", count, MAX_RECORDS)));
        }
        // Every record takes at least 5 bytes.
        if count as u64 * 5 > (len - r.off) as u64 {
            return Err(malformed(
                1,
                format!("frame declares {} records but has only {} bytes left", count, len - r.off),
            ));
        }
        r.total = total;
        r.count = count;
        r.left = count;
        Ok(r)
    }

    /// The number of records in the frame.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The number of records not read yet.
    pub fn remaining(&self) -> u32 {
        self.left
    }

    /// Whether the frame starts exactly as a canonical writer starts one.
    pub fn plain_header(&self) -> bool {
        self.len >= 6 && self.at(0) == 0x91 && self.at(1) == 0xdd
    }

    #[inline(always)]
    fn at(&self, i: usize) -> u8 {
        debug_assert!(i < self.len);
        unsafe { *self.base.add(i) }
    }

    #[inline(always)]
    fn be(&self, i: usize, n: usize) -> u64 {
        let mut v = 0u64;
        for k in 0..n {
            v = v << 8 | self.at(i + k) as u64;
        }
        v
    }

    #[inline(always)]
    unsafe fn slice_mut(&self, s: usize, n: usize) -> &'a mut [u8] {
        slice::from_raw_parts_mut(self.base.add(s), n)
    }

    #[inline(always)]
    unsafe fn slice(&self, s: usize, n: usize) -> &'a [u8] {
        slice::from_raw_parts(self.base.add(s), n)
    }

    fn need(&self, n: usize) -> Result<(), Error> {
        if self.len - self.off < n {
            return Err(malformed(self.off, format!("need {} bytes, {} left", n, self.len - self.off)));
        }
        Ok(())
    }

    /// Decodes the next record, or returns `None` after the last. An error
    /// ends the frame: later calls return `None` and [`Reader::close`]
    /// returns the error again.
    #[inline(always)]
    pub fn next(&mut self) -> Result<Option<Record<'a>>, Error> {
        if self.left == 0 {
            return Ok(None);
        }
        match self.record() {
            Ok(r) => {
                self.left -= 1;
                Ok(Some(r))
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    #[cold]
    fn fail(&mut self, e: Error) -> Error {
        self.left = 0;
        self.err = Some(e.clone());
        e
    }

    #[inline(always)]
    fn record(&mut self) -> Result<Record<'a>, Error> {
        let start = self.off;
        // canon stays true while every field is encoded as a canonical
        // writer would encode it: then the record's bytes can be copied.
        let mut canon = true;
        let n = if start < self.len && self.at(start) == 0x94 {
            self.off = start + 1;
            4
        } else {
            let n = self.array_header()?;
            if n < 4 {
                return Err(malformed(
                    start,
                    format!("record has {} fields; want at least 4 (key, value, timestamp, headers)", n),
                ));
            }
            canon = false;
            n
        };
        let key = self.bin("key", &mut canon)?;
        let value = self.bin("value", &mut canon)?;
        let timestamp = self.int("timestamp", &mut canon)?;
        let headers = self.headers(&mut canon)?;
        let (output, raw_output) = if n >= 5 { self.output_and_rest(n)? } else { ("", NIL) };
        let end = self.off;
        // Safety: key, value, headers and output are disjoint parts of the
        // frame, and each record's parts are handed out once.
        let key = key.map(|(s, l)| unsafe { self.slice_mut(s, l) });
        let value = value.map(|(s, l)| unsafe { self.slice_mut(s, l) });
        let orig = Origin {
            start: start as u32,
            end: if canon { end as u32 } else { 0 },
            key: addr(&key),
            value: addr(&value),
            headers: headers.addr(),
            timestamp,
            raw_output,
        };
        Ok(Record { key, value, timestamp, headers, output, orig })
    }

    /// Reads nil, bin or str: the common nil and bin 8 inline.
    #[inline(always)]
    fn bin(&mut self, field: &'static str, canon: &mut bool) -> Result<Option<(usize, usize)>, Error> {
        let off = self.off;
        if off + 1 < self.len {
            let c = self.at(off);
            if c == 0xc4 {
                let n = self.at(off + 1) as usize;
                if n <= self.len - off - 2 {
                    self.off = off + 2 + n;
                    return Ok(Some((off + 2, n)));
                }
            } else if c == 0xc0 {
                self.off = off + 1;
                return Ok(None);
            }
        }
        self.bin_slow(field, false, canon)
    }

    /// Reads nil, bin or str, any width. `want_str` says which of bin and
    /// str a canonical writer writes here (values: bin; names: str).
    #[cold]
    #[inline(never)]
    fn bin_slow(
        &mut self,
        field: &'static str,
        want_str: bool,
        canon: &mut bool,
    ) -> Result<Option<(usize, usize)>, Error> {
        self.need(1)?;
        let off = self.off;
        let c = self.at(off);
        let (n, hdr) = match c {
            0xc0 => {
                self.off += 1;
                if want_str {
                    *canon = false; // an empty name is written as ""
                }
                return Ok(None);
            }
            0xa0..=0xbf => ((c & 0x1f) as usize, 1),
            0xc4 | 0xd9 => {
                self.need(2)?;
                (self.at(off + 1) as usize, 2)
            }
            0xc5 | 0xda => {
                self.need(3)?;
                (self.be(off + 1, 2) as usize, 3)
            }
            0xc6 | 0xdb => {
                self.need(5)?;
                (self.be(off + 1, 4) as usize, 5)
            }
            _ => {
                return Err(malformed(off, format!("{}: want bin, str or nil, found {}", field, type_name(c))));
            }
        };
        if self.len - off - hdr < n {
            return Err(malformed(off, format!("{}: {}-byte value runs past the end of the frame", field, n)));
        }
        let is_str = matches!(c, 0xa0..=0xbf | 0xd9..=0xdb);
        if is_str != want_str || smallest_len_header(n, is_str) != hdr {
            *canon = false;
        }
        self.off = off + hdr + n;
        Ok(Some((off + hdr, n)))
    }

    /// Reads an integer: a positive fixint and the uint 64 of a millisecond
    /// timestamp inline.
    #[inline(always)]
    fn int(&mut self, field: &'static str, canon: &mut bool) -> Result<i64, Error> {
        let off = self.off;
        if off < self.len {
            let c = self.at(off);
            if c <= 0x7f {
                self.off = off + 1;
                return Ok(c as i64);
            }
            if c == 0xcf && self.len - off >= 9 {
                let v = self.be(off + 1, 8);
                if v > u32::MAX as u64 && v <= i64::MAX as u64 {
                    self.off = off + 9;
                    return Ok(v as i64);
                }
            }
        }
        self.int_slow(field, canon)
    }

    #[cold]
    #[inline(never)]
    fn int_slow(&mut self, field: &'static str, canon: &mut bool) -> Result<i64, Error> {
        self.need(1)?;
        let off = self.off;
        let c = self.at(off);
        let size = match c {
            0x00..=0x7f | 0xe0..=0xff => 0,
            0xcc | 0xd0 => 1,
            0xcd | 0xd1 => 2,
            0xce | 0xd2 => 4,
            0xcf | 0xd3 => 8,
            _ => return Err(malformed(off, format!("{}: want an integer, found {}", field, type_name(c)))),
        };
        self.need(1 + size)?;
        let u = self.be(off + 1, size);
        let v = match c {
            0x00..=0x7f => c as i64,
            0xe0..=0xff => c as i8 as i64,
            0xcc | 0xcd | 0xce => u as i64,
            0xcf => {
                if u > i64::MAX as u64 {
                    return Err(malformed(off, format!("{}: {} overflows int64", field, u)));
                }
                u as i64
            }
            0xd0 => u as u8 as i8 as i64,
            0xd1 => u as u16 as i16 as i64,
            0xd2 => u as u32 as i32 as i64,
            _ => u as i64, // 0xd3
        };
        self.off = off + 1 + size;
        let mut want = Vec::with_capacity(9);
        put_int(&mut want, v);
        if want.len() != 1 + size || want[0] != c {
            *canon = false;
        }
        Ok(v)
    }

    #[inline(always)]
    fn headers(&mut self, canon: &mut bool) -> Result<Headers<'a>, Error> {
        if self.off < self.len && self.at(self.off) == 0xc0 {
            self.off += 1;
            return Ok(Headers::NONE);
        }
        self.header_array(canon)
    }

    fn header_array(&mut self, canon: &mut bool) -> Result<Headers<'a>, Error> {
        let at = self.off;
        let n = self.array_header()?;
        let skip = self.off - at;
        // No headers are written as nil, never as an empty array.
        let mut hc = match skip {
            1 => n > 0,
            3 => n > 15,
            _ => n > 0xffff,
        };
        if n % 2 != 0 {
            return Err(malformed(at, format!("headers: array of {} items; want name/value pairs", n)));
        }
        if n as usize > self.len - self.off {
            return Err(malformed(at, format!("headers: {} items but only {} bytes left", n, self.len - self.off)));
        }
        for _ in 0..n / 2 {
            let o = self.off;
            let c = if o < self.len { self.at(o) } else { 0 };
            if c & 0xe0 == 0xa0 && ((c & 0x1f) as usize) < self.len - o {
                self.off = o + 1 + (c & 0x1f) as usize;
            } else {
                self.bin_slow("header name", true, &mut hc)?;
            }
            self.bin("header value", &mut hc)?;
        }
        *canon &= hc;
        Ok(Headers::encoded(unsafe { self.slice(at, self.off - at) }, skip, n / 2, hc))
    }

    /// Reads a record's output field and skips the fields after it. An
    /// output name that is not UTF-8 (the host never sends one) is returned
    /// as raw bytes instead, for the writer to keep.
    #[cold]
    fn output_and_rest(&mut self, n: u32) -> Result<(&'a str, (*const u8, u32)), Error> {
        let mut c = true;
        let out = match self.bin_slow("output", true, &mut c)? {
            Some((s, l)) if l > 0 => {
                let b = unsafe { self.slice(s, l) };
                match std::str::from_utf8(b) {
                    Ok(o) => (o, NIL),
                    Err(_) => ("", (b.as_ptr(), l as u32)),
                }
            }
            _ => ("", NIL),
        };
        for _ in 5..n {
            self.skip(0)?;
        }
        Ok(out)
    }

    fn array_header(&mut self) -> Result<u32, Error> {
        self.need(1)?;
        let c = self.at(self.off);
        match c {
            0x90..=0x9f => {
                self.off += 1;
                Ok((c & 0x0f) as u32)
            }
            0xdc => {
                self.need(3)?;
                let n = self.be(self.off + 1, 2) as u32;
                self.off += 3;
                Ok(n)
            }
            0xdd => {
                self.need(5)?;
                let n = self.be(self.off + 1, 4) as u32;
                self.off += 5;
                Ok(n)
            }
            _ => Err(malformed(self.off, format!("want an array, found {}", type_name(c)))),
        }
    }

    /// Passes over one msgpack value of any type. Sizes are counted in
    /// u64, as the host's reader counts them, so that a 32-bit size cannot
    /// wrap.
    fn skip(&mut self, depth: u32) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Err(malformed(self.off, "values nested too deeply".into()));
        }
        self.need(1)?;
        let off = self.off;
        let c = self.at(off);
        let (mut hdr, mut size, mut items) = (1usize, 0u64, 0u64);
        match c {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => {}
            0xa0..=0xbf => size = (c & 0x1f) as u64,
            0x90..=0x9f => items = (c & 0x0f) as u64,
            0x80..=0x8f => items = 2 * (c & 0x0f) as u64,
            0xcc | 0xd0 => size = 1,
            0xcd | 0xd1 => size = 2,
            0xce | 0xd2 | 0xca => size = 4,
            0xcf | 0xd3 | 0xcb => size = 8,
            0xd4 => size = 2,
            0xd5 => size = 3,
            0xd6 => size = 5,
            0xd7 => size = 9,
            0xd8 => size = 17,
            0xc4 | 0xd9 | 0xc7 => {
                self.need(2)?;
                size = self.at(off + 1) as u64 + (c == 0xc7) as u64;
                hdr = 2;
            }
            0xc5 | 0xda | 0xc8 | 0xdc | 0xde | 0xc6 | 0xdb | 0xc9 | 0xdd | 0xdf => {
                let w = if matches!(c, 0xc5 | 0xda | 0xc8 | 0xdc | 0xde) { 2 } else { 4 };
                self.need(1 + w)?;
                let n = self.be(off + 1, w);
                hdr = 1 + w;
                match c {
                    0xdc | 0xdd => items = n,
                    0xde | 0xdf => items = 2 * n,
                    0xc8 | 0xc9 => size = n + 1,
                    _ => size = n,
                }
            }
            _ => return Err(malformed(off, format!("invalid msgpack type byte 0x{:02x}", c))),
        }
        let left = (self.len - off - hdr) as u64;
        if left < size {
            return Err(malformed(off, "value runs past the end of the frame".into()));
        }
        if items > left {
            return Err(malformed(off, format!("container of {} items but only {} bytes left", items, left)));
        }
        self.off = off + hdr + size as usize;
        for _ in 0..items {
            self.skip(depth + 1)?;
        }
        Ok(())
    }

    /// Reads the records not read yet, so that a malformed frame fails the
    /// call whatever the handler read.
    pub fn end_records(&mut self) -> Result<(), Error> {
        while self.next()?.is_some() {}
        if let Some(e) = &self.err {
            return Err(e.clone());
        }
        Ok(())
    }

    /// Whether the frame has an element 1 (async results) not read yet.
    pub fn has_results(&self) -> bool {
        self.total >= 2 && self.elem == 1
    }

    /// Starts reading the async results (element 1, abi/SPEC.md section
    /// 5.2) once the records are read: an array of fixarray-6 results.
    pub fn begin_results(&mut self) -> Result<u32, Error> {
        debug_assert!(self.left == 0 && self.has_results());
        let n = self.array_header().map_err(results_error)?;
        // Every result takes at least 7 bytes.
        if n as u64 * 7 > (self.len - self.off) as u64 {
            return Err(results_error(malformed(
                self.off,
                format!("frame declares {} async results but has only {} bytes left", n, self.len - self.off),
            )));
        }
        self.elem = 2;
        self.results_left = n;
        self.result_index = 0;
        Ok(n)
    }

    /// Decodes the next async result, or returns `None` after the last.
    pub fn next_result(&mut self) -> Result<Option<AsyncResult<'a>>, Error> {
        if self.results_left == 0 {
            return Ok(None);
        }
        match self.result() {
            Ok(r) => {
                self.results_left -= 1;
                self.result_index += 1;
                Ok(Some(r))
            }
            Err(e) => {
                self.results_left = 0;
                Err(results_error(e))
            }
        }
    }

    fn result(&mut self) -> Result<AsyncResult<'a>, Error> {
        let f = self.array_header()?;
        if f < 6 {
            return Err(malformed(self.off, format!("async result {} has {} fields; want 6", self.result_index, f)));
        }
        let mut c = true;
        let ticket = self.int("ticket", &mut c)?;
        let status = self.int("status", &mut c)?;
        let context = self.bin_slow("context", false, &mut c)?;
        let code = self.int("code", &mut c)?;
        let body = self.bin_slow("body", false, &mut c)?;
        let error = self.bin_slow("error", true, &mut c)?;
        for _ in 6..f {
            self.skip(0)?;
        }
        // Safety: the fields are disjoint parts of the frame after the
        // records, each handed out once.
        let context = context.map(|(s, l)| unsafe { self.slice(s, l) });
        let body = body.map(|(s, l)| unsafe { self.slice(s, l) });
        let error = error.map(|(s, l)| unsafe { utf8_in_place(self.slice_mut(s, l)) });
        Ok(AsyncResult { ticket: Ticket(ticket as u64), status: status as i32, context, code, body, error })
    }

    /// Checks the end of the frame: the reserved elements not read are
    /// skipped and no bytes may follow. It reads the records not read yet
    /// first, so that a malformed frame fails the call whatever the handler
    /// read.
    pub fn finish(&mut self) -> Result<(), Error> {
        self.end_records()?;
        for _ in self.elem..self.total {
            self.skip(0)?;
        }
        self.elem = self.total;
        if self.off != self.len {
            return Err(malformed(self.off, format!("{} trailing bytes after the frame", self.len - self.off)));
        }
        Ok(())
    }
}

/// Rewords an error met reading the async results as the Go SDK words it.
#[cold]
fn results_error(e: Error) -> Error {
    match e.message().strip_prefix("decoding input batch: ") {
        Some(rest) => Error::new(format!("decoding async results: {}", rest)),
        None => e,
    }
}

/// Makes `b` valid UTF-8 in place, each byte of an invalid sequence
/// replaced by `?` (the host sends UTF-8 error messages), and returns it.
fn utf8_in_place(b: &mut [u8]) -> &str {
    let mut at = 0;
    while let Err(e) = std::str::from_utf8(&b[at..]) {
        let bad = at + e.valid_up_to();
        let n = e.error_len().unwrap_or(b.len() - bad);
        for c in &mut b[bad..bad + n] {
            *c = b'?';
        }
        at = bad + n;
    }
    // Safety: checked just above.
    unsafe { std::str::from_utf8_unchecked(b) }
}

/// The header length of the smallest str or bin encoding of n bytes.
fn smallest_len_header(n: usize, is_str: bool) -> usize {
    match n {
        0..=31 if is_str => 1,
        0..=0xff => 2,
        0x100..=0xffff => 3,
        _ => 5,
    }
}

fn type_name(c: u8) -> &'static str {
    match c {
        0x00..=0x7f | 0xe0..=0xff | 0xcc..=0xd3 => "an integer",
        0x80..=0x8f | 0xde | 0xdf => "a map",
        0x90..=0x9f | 0xdc | 0xdd => "an array",
        0xa0..=0xbf | 0xd9..=0xdb => "a string",
        0xc0 => "nil",
        0xc2 | 0xc3 => "a boolean",
        0xc4..=0xc6 => "bin",
        0xca | 0xcb => "a float",
        0xc1 => "the unused byte 0xc1",
        _ => "an extension",
    }
}

/// Reads nil, bin or str at `b[off..]`, which the reader has validated.
pub(crate) fn read_valid_bin(b: &[u8], off: usize) -> (Option<&[u8]>, usize) {
    let c = b[off];
    let (n, hdr) = match c {
        0xc0 => return (None, off + 1),
        0xa0..=0xbf => ((c & 0x1f) as usize, 1),
        0xc4 | 0xd9 => (b[off + 1] as usize, 2),
        0xc5 | 0xda => (u16::from_be_bytes([b[off + 1], b[off + 2]]) as usize, 3),
        _ => (u32::from_be_bytes([b[off + 1], b[off + 2], b[off + 3], b[off + 4]]) as usize, 5),
    };
    let s = off + hdr;
    (Some(&b[s..s + n]), s + n)
}

/// Appends the canonical frame, record by record, to one reused buffer.
///
/// Records copied unchanged from the input are not copied at once: the
/// writer remembers the run of input bytes they make up and copies a run in
/// one piece when something else is written. An output that is exactly the
/// input frame (every record kept, in order, changed at most in place) is
/// not copied at all: the input frame is the output.
#[doc(hidden)]
pub struct Writer {
    buf: Vec<u8>,
    n: u32,
    input: *const u8,
    pend_start: usize,
    pend_end: usize,
}

impl Writer {
    pub const fn new() -> Writer {
        Writer { buf: Vec::new(), n: 0, input: std::ptr::null(), pend_start: 0, pend_end: 0 }
    }

    /// Starts a frame for the output of the input frame at `input`.
    pub fn reset(&mut self, input: *const u8) {
        self.buf.clear();
        self.buf.extend_from_slice(&FRAME_HEADER);
        self.n = 0;
        self.input = input;
        self.pend_start = 0;
        self.pend_end = 0;
    }

    /// The number of records written since reset.
    pub fn len(&self) -> u32 {
        self.n
    }

    /// Writes the record encoded at `input[start..end]`.
    #[inline(always)]
    pub fn raw(&mut self, start: usize, end: usize) {
        if start == self.pend_end {
            self.pend_end = end;
        } else {
            self.flush();
            self.pend_start = start;
            self.pend_end = end;
        }
        self.n += 1;
    }

    #[inline(never)]
    fn flush(&mut self) {
        if self.pend_end > self.pend_start {
            // Safety: the range is a record the reader decoded from input,
            // which is valid until the call returns.
            let run = unsafe { slice::from_raw_parts(self.input.add(self.pend_start), self.pend_end - self.pend_start) };
            self.buf.extend_from_slice(run);
        }
        self.pend_start = 0;
        self.pend_end = 0;
    }

    /// Encodes a record.
    pub fn record<'h, I>(
        &mut self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: i64,
        canonical_headers: Option<&[u8]>,
        headers: I,
        output: &[u8],
    ) where
        I: ExactSizeIterator<Item = Header<'h>>,
    {
        self.flush();
        let b = &mut self.buf;
        b.reserve(32 + key.map_or(0, |k| k.len()) + value.map_or(0, |v| v.len()) + output.len());
        b.push(if output.is_empty() { 0x94 } else { 0x95 });
        put_bin(b, key);
        put_bin(b, value);
        put_int(b, timestamp);
        if let Some(raw) = canonical_headers {
            b.extend_from_slice(raw);
        } else if headers.len() == 0 {
            b.push(0xc0);
        } else {
            put_array_header(b, 2 * headers.len() as u32);
            for h in headers {
                put_str(b, h.name);
                put_bin(b, h.value);
            }
        }
        if !output.is_empty() {
            put_str(b, output);
        }
        self.n += 1;
    }

    /// Finishes the frame for an input frame of `input_len` bytes holding
    /// `input_count` records, and returns where the output frame is.
    pub fn finish(&mut self, input_len: usize, input_plain: bool, input_count: u32) -> (*const u8, usize) {
        if input_plain
            && self.buf.len() == FRAME_HEADER.len()
            && self.pend_start == FRAME_HEADER.len()
            && self.pend_end == input_len
            && self.n == input_count
        {
            return (self.input, input_len);
        }
        self.flush();
        self.buf[2..6].copy_from_slice(&self.n.to_be_bytes());
        (self.buf.as_ptr(), self.buf.len())
    }

    /// Finishes the frame into an owned copy (native tests).
    pub fn finish_owned(&mut self, input_len: usize, input_plain: bool, input_count: u32) -> Vec<u8> {
        let (p, n) = self.finish(input_len, input_plain, input_count);
        unsafe { slice::from_raw_parts(p, n) }.to_vec()
    }
}

#[inline(always)]
pub(crate) fn put_bin(b: &mut Vec<u8>, v: Option<&[u8]>) {
    match v {
        None => b.push(0xc0),
        Some(v) => {
            let n = v.len();
            if n <= 0xff {
                b.extend_from_slice(&[0xc4, n as u8]);
            } else if n <= 0xffff {
                b.push(0xc5);
                b.extend_from_slice(&(n as u16).to_be_bytes());
            } else {
                b.push(0xc6);
                b.extend_from_slice(&(n as u32).to_be_bytes());
            }
            b.extend_from_slice(v);
        }
    }
}

#[inline(always)]
pub(crate) fn put_str(b: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    if n <= 31 {
        b.push(0xa0 | n as u8);
    } else if n <= 0xff {
        b.extend_from_slice(&[0xd9, n as u8]);
    } else if n <= 0xffff {
        b.push(0xda);
        b.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        b.push(0xdb);
        b.extend_from_slice(&(n as u32).to_be_bytes());
    }
    b.extend_from_slice(s);
}

/// Appends the smallest msgpack encoding of v.
#[inline]
pub(crate) fn put_int(b: &mut Vec<u8>, v: i64) {
    if (-32..=0x7f).contains(&v) {
        b.push(v as u8);
    } else if v > u32::MAX as i64 {
        b.push(0xcf);
        b.extend_from_slice(&(v as u64).to_be_bytes());
    } else if v >= 0 {
        if v <= 0xff {
            b.extend_from_slice(&[0xcc, v as u8]);
        } else if v <= 0xffff {
            b.push(0xcd);
            b.extend_from_slice(&(v as u16).to_be_bytes());
        } else {
            b.push(0xce);
            b.extend_from_slice(&(v as u32).to_be_bytes());
        }
    } else if v >= i8::MIN as i64 {
        b.extend_from_slice(&[0xd0, v as u8]);
    } else if v >= i16::MIN as i64 {
        b.push(0xd1);
        b.extend_from_slice(&(v as i16).to_be_bytes());
    } else if v >= i32::MIN as i64 {
        b.push(0xd2);
        b.extend_from_slice(&(v as i32).to_be_bytes());
    } else {
        b.push(0xd3);
        b.extend_from_slice(&v.to_be_bytes());
    }
}

pub(crate) fn put_array_header(b: &mut Vec<u8>, n: u32) {
    if n <= 15 {
        b.push(0x90 | n as u8);
    } else if n <= 0xffff {
        b.push(0xdc);
        b.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        b.push(0xdd);
        b.extend_from_slice(&n.to_be_bytes());
    }
}

pub(crate) fn put_map_header(b: &mut Vec<u8>, n: u32) {
    if n <= 15 {
        b.push(0x80 | n as u8);
    } else if n <= 0xffff {
        b.push(0xde);
        b.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        b.push(0xdf);
        b.extend_from_slice(&n.to_be_bytes());
    }
}
