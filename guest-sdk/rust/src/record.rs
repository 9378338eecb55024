use std::fmt;
use std::ptr;

use crate::codec;

/// One record header. Names may repeat and order is kept. A `None` value is
/// msgpack nil, distinct from an empty value.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header<'a> {
    /// The header's name: UTF-8 by convention, as bytes.
    pub name: &'a [u8],
    /// The header's value; `None` is nil.
    pub value: Option<&'a [u8]>,
}

impl<'a> Header<'a> {
    /// A header with a string name: `Header::new("level", Some(b"INFO"))`.
    pub fn new(name: &'a str, value: Option<&'a [u8]>) -> Header<'a> {
        Header { name: name.as_bytes(), value }
    }

    /// The name as a `&str`, or `None` if it is not UTF-8.
    pub fn name_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.name).ok()
    }
}

impl fmt::Debug for Header<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: ", Bytes(self.name))?;
        match self.value {
            None => f.write_str("nil"),
            Some(v) => write!(f, "{:?}", Bytes(v)),
        }
    }
}

/// A record's headers: either a zero-copy view of the headers as the input
/// batch encodes them, or a slice of [`Header`]s (`Headers::from(&list[..])`).
/// Cheap to copy.
#[derive(Clone, Copy)]
pub struct Headers<'a> {
    repr: Repr<'a>,
}

#[derive(Clone, Copy)]
enum Repr<'a> {
    None,
    List(&'a [Header<'a>]),
    // The msgpack array as the frame encodes it: `skip` bytes of array
    // header, then `count` name/value pairs, already validated.
    Encoded { bytes: &'a [u8], skip: u8, count: u32, canonical: bool },
}

impl<'a> Headers<'a> {
    /// No headers.
    pub const NONE: Headers<'static> = Headers { repr: Repr::None };

    pub(crate) fn encoded(bytes: &'a [u8], skip: usize, count: u32, canonical: bool) -> Headers<'a> {
        Headers { repr: Repr::Encoded { bytes, skip: skip as u8, count, canonical } }
    }

    /// The number of headers.
    pub fn len(&self) -> usize {
        match self.repr {
            Repr::None => 0,
            Repr::List(l) => l.len(),
            Repr::Encoded { count, .. } => count as usize,
        }
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The headers in order.
    pub fn iter(&self) -> HeadersIter<'a> {
        match self.repr {
            Repr::None => HeadersIter { repr: IterRepr::List([].iter()) },
            Repr::List(l) => HeadersIter { repr: IterRepr::List(l.iter()) },
            Repr::Encoded { bytes, skip, count, .. } => {
                HeadersIter { repr: IterRepr::Encoded { bytes, off: skip as usize, left: count } }
            }
        }
    }

    /// The first header named `name`, if any.
    pub fn get(&self, name: &str) -> Option<Header<'a>> {
        self.iter().find(|h| h.name == name.as_bytes())
    }

    /// The headers' canonical encoding, ready to copy, when they have one
    /// in the input frame.
    pub(crate) fn canonical_bytes(&self) -> Option<&'a [u8]> {
        match self.repr {
            Repr::Encoded { bytes, canonical: true, .. } => Some(bytes),
            _ => None,
        }
    }

    /// The address identifying these headers, compared to tell whether a
    /// handler replaced a record's headers.
    pub(crate) fn addr(&self) -> *const u8 {
        match self.repr {
            Repr::None => ptr::null(),
            Repr::List(l) => l.as_ptr() as *const u8,
            Repr::Encoded { bytes, .. } => bytes.as_ptr(),
        }
    }
}

impl Default for Headers<'_> {
    fn default() -> Self {
        Headers { repr: Repr::None }
    }
}

impl<'a> From<&'a [Header<'a>]> for Headers<'a> {
    fn from(l: &'a [Header<'a>]) -> Headers<'a> {
        Headers { repr: Repr::List(l) }
    }
}

impl<'a, const N: usize> From<&'a [Header<'a>; N]> for Headers<'a> {
    fn from(l: &'a [Header<'a>; N]) -> Headers<'a> {
        Headers { repr: Repr::List(&l[..]) }
    }
}

impl<'a> From<&'a Vec<Header<'a>>> for Headers<'a> {
    fn from(l: &'a Vec<Header<'a>>) -> Headers<'a> {
        Headers { repr: Repr::List(&l[..]) }
    }
}

impl<'a> IntoIterator for Headers<'a> {
    type Item = Header<'a>;
    type IntoIter = HeadersIter<'a>;
    fn into_iter(self) -> HeadersIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &Headers<'a> {
    type Item = Header<'a>;
    type IntoIter = HeadersIter<'a>;
    fn into_iter(self) -> HeadersIter<'a> {
        self.iter()
    }
}

impl PartialEq for Headers<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl fmt::Debug for Headers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Iterator over [`Headers`].
#[derive(Clone)]
pub struct HeadersIter<'a> {
    repr: IterRepr<'a>,
}

#[derive(Clone)]
enum IterRepr<'a> {
    List(std::slice::Iter<'a, Header<'a>>),
    Encoded { bytes: &'a [u8], off: usize, left: u32 },
}

impl<'a> Iterator for HeadersIter<'a> {
    type Item = Header<'a>;

    fn next(&mut self) -> Option<Header<'a>> {
        match &mut self.repr {
            IterRepr::List(it) => it.next().copied(),
            IterRepr::Encoded { bytes, off, left } => {
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                let (name, next) = codec::read_valid_bin(bytes, *off);
                let (value, next) = codec::read_valid_bin(bytes, next);
                *off = next;
                Some(Header { name: name.unwrap_or(&[]), value })
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.repr {
            IterRepr::List(it) => it.len(),
            IterRepr::Encoded { left, .. } => *left as usize,
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for HeadersIter<'_> {}

/// An input record, decoded without copying: `key`, `value` and the header
/// bytes point into the batch the host wrote into the module.
///
/// A handler may modify the key and value bytes in place (which copies
/// nothing), re-slice them, set them to other bytes that live as long as the
/// batch, change the timestamp or headers, or set `output` to route the
/// record. Records are only valid during the handler call; use
/// [`Record::to_owned`] to keep one.
///
/// A record emitted with nothing changed but the contents of its bytes is
/// copied to the output whole, without re-encoding.
pub struct Record<'a> {
    /// The routing key; `None` is nil (no key).
    pub key: Option<&'a mut [u8]>,
    /// The payload; `None` is nil.
    pub value: Option<&'a mut [u8]>,
    /// Event time, milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The record's headers.
    pub headers: Headers<'a>,
    /// The named output the record goes to; `""` is the default output.
    /// (An input record whose output name is not UTF-8, which no host
    /// sends, shows `""` here and keeps its name while `output` is `""`.)
    pub output: &'a str,
    pub(crate) orig: Origin,
}

/// Where a decoded record came from, to tell whether a handler changed more
/// than the contents of its bytes.
#[derive(Clone, Copy)]
pub(crate) struct Origin {
    pub start: u32,
    pub end: u32, // 0: no canonical encoding to copy
    pub key: (*const u8, u32),
    pub value: (*const u8, u32),
    pub headers: *const u8,
    pub timestamp: i64,
    pub raw_output: (*const u8, u32), // an output name that is not UTF-8
}

pub(crate) const NIL: (*const u8, u32) = (ptr::null(), u32::MAX);

#[inline(always)]
pub(crate) fn addr(b: &Option<&mut [u8]>) -> (*const u8, u32) {
    match b {
        None => NIL,
        Some(s) => (s.as_ptr(), s.len() as u32),
    }
}

impl<'a> Record<'a> {
    /// The key's bytes; empty when the key is nil.
    pub fn key(&self) -> &[u8] {
        self.key.as_deref().unwrap_or(&[])
    }

    /// The value's bytes; empty when the value is nil.
    pub fn value(&self) -> &[u8] {
        self.value.as_deref().unwrap_or(&[])
    }

    /// The key's bytes, to modify in place; empty when the key is nil.
    pub fn key_mut(&mut self) -> &mut [u8] {
        self.key.as_deref_mut().unwrap_or(&mut [])
    }

    /// The value's bytes, to modify in place; empty when the value is nil.
    pub fn value_mut(&mut self) -> &mut [u8] {
        self.value.as_deref_mut().unwrap_or(&mut [])
    }

    /// A read-only view of the record, to build a changed copy to emit:
    /// `RecordRef { value: Some(&buf), ..r.view() }`.
    pub fn view(&self) -> RecordRef<'_> {
        RecordRef {
            key: self.key.as_deref(),
            value: self.value.as_deref(),
            timestamp: self.timestamp,
            headers: self.headers,
            output: self.output,
        }
    }

    /// A copy of the record that owns its bytes.
    pub fn to_owned(&self) -> OwnedRecord {
        self.view().to_owned()
    }

    /// The output name to write when the record is emitted to `output`
    /// (`None`: its own).
    #[inline(always)]
    pub(crate) fn output_bytes<'s>(&'s self, output: Option<&'s str>) -> &'s [u8] {
        match output {
            Some(o) => o.as_bytes(),
            None if self.output.is_empty() && !self.orig.raw_output.0.is_null() => unsafe {
                std::slice::from_raw_parts(self.orig.raw_output.0, self.orig.raw_output.1 as usize)
            },
            None => self.output.as_bytes(),
        }
    }

    /// The range of the input frame holding this record's encoding, when
    /// that is exactly what the writer would write for it now.
    #[inline(always)]
    pub(crate) fn raw_range(&self) -> Option<(usize, usize)> {
        let o = &self.orig;
        if o.end != 0
            && self.timestamp == o.timestamp
            && self.output.is_empty()
            && addr(&self.key) == o.key
            && addr(&self.value) == o.value
            && self.headers.addr() == o.headers
        {
            Some((o.start as usize, o.end as usize))
        } else {
            None
        }
    }
}

impl fmt::Debug for Record<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.view().fmt(f)
    }
}

/// A read-only record to emit: built from parts (`..Default::default()`
/// fills the rest), or from an input record with [`Record::view`]. Its bytes
/// may live anywhere; the emitter copies them at once.
#[derive(Clone, Copy, Default, PartialEq)]
pub struct RecordRef<'b> {
    /// The routing key; `None` is nil.
    pub key: Option<&'b [u8]>,
    /// The payload; `None` is nil.
    pub value: Option<&'b [u8]>,
    /// Event time, milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The record's headers.
    pub headers: Headers<'b>,
    /// The named output; `""` is the default output.
    pub output: &'b str,
}

impl RecordRef<'_> {
    /// A copy that owns its bytes.
    pub fn to_owned(&self) -> OwnedRecord {
        OwnedRecord {
            key: self.key.map(|k| k.to_vec()),
            value: self.value.map(|v| v.to_vec()),
            timestamp: self.timestamp,
            headers: self
                .headers
                .iter()
                .map(|h| OwnedHeader { name: h.name.to_vec(), value: h.value.map(|v| v.to_vec()) })
                .collect(),
            output: self.output.to_string(),
        }
    }
}

impl fmt::Debug for RecordRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Record");
        d.field("key", &self.key.map(Bytes)).field("value", &self.value.map(Bytes));
        d.field("timestamp", &self.timestamp).field("headers", &self.headers);
        if !self.output.is_empty() {
            d.field("output", &self.output);
        }
        d.finish()
    }
}

/// A record that owns its bytes: for native tests ([`crate::testing`]) and
/// for records a handler keeps across calls.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct OwnedRecord {
    /// The routing key; `None` is nil.
    pub key: Option<Vec<u8>>,
    /// The payload; `None` is nil.
    pub value: Option<Vec<u8>>,
    /// Event time, milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The headers, in order.
    pub headers: Vec<OwnedHeader>,
    /// The named output; `""` is the default output.
    pub output: String,
}

/// A header of an [`OwnedRecord`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OwnedHeader {
    /// The header's name.
    pub name: Vec<u8>,
    /// The header's value; `None` is nil.
    pub value: Option<Vec<u8>>,
}

impl OwnedRecord {
    /// A record with this value, no key, timestamp 0 and no headers.
    pub fn new(value: impl AsRef<[u8]>) -> OwnedRecord {
        OwnedRecord { value: Some(value.as_ref().to_vec()), ..OwnedRecord::default() }
    }

    /// Sets the key.
    pub fn with_key(mut self, key: impl AsRef<[u8]>) -> OwnedRecord {
        self.key = Some(key.as_ref().to_vec());
        self
    }

    /// Sets the timestamp.
    pub fn with_timestamp(mut self, ts: i64) -> OwnedRecord {
        self.timestamp = ts;
        self
    }

    /// Appends a header; `None` is a nil value.
    pub fn with_header(mut self, name: &str, value: Option<&[u8]>) -> OwnedRecord {
        self.headers.push(OwnedHeader { name: name.as_bytes().to_vec(), value: value.map(|v| v.to_vec()) });
        self
    }

    /// Sets the output.
    pub fn with_output(mut self, output: &str) -> OwnedRecord {
        self.output = output.to_string();
        self
    }

    /// The value's bytes; empty when the value is nil.
    pub fn value(&self) -> &[u8] {
        self.value.as_deref().unwrap_or(&[])
    }

    /// The key's bytes; empty when the key is nil.
    pub fn key(&self) -> &[u8] {
        self.key.as_deref().unwrap_or(&[])
    }

    pub(crate) fn header_iter(&self) -> impl ExactSizeIterator<Item = Header<'_>> + '_ {
        self.headers.iter().map(|h| Header { name: &h.name, value: h.value.as_deref() })
    }
}

impl fmt::Debug for OwnedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hs: Vec<Header<'_>> = self.header_iter().collect();
        RecordRef {
            key: self.key.as_deref(),
            value: self.value.as_deref(),
            timestamp: self.timestamp,
            headers: Headers::from(&hs[..]),
            output: &self.output,
        }
        .fmt(f)
    }
}

/// Shows bytes as a string when they are UTF-8, else as escaped bytes.
struct Bytes<'a>(&'a [u8]);

impl fmt::Debug for Bytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() > 64 {
            return write!(f, "{:?}… ({} bytes)", Bytes(&self.0[..64]), self.0.len());
        }
        match std::str::from_utf8(self.0) {
            Ok(s) => write!(f, "{:?}", s),
            Err(_) => write!(f, "b\"{}\"", self.0.escape_ascii()),
        }
    }
}
