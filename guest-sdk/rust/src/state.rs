//! Keyed and operator state, owned by the host (abi/SPEC.md, section 5.1):
//! it survives instance replacement, hot swaps and crashes, and what a call
//! writes is applied only if the call succeeds.
//!
//! ```
//! use wasmstream_guest::{testing::Runner, OwnedRecord, Record, Result, State};
//!
//! fn count(r: &mut Record) -> Result {
//!     State::of(r).add("count", 1)?; // a counter of the record's key
//!     let mut st = State::of(r);
//!     if let Some(last) = st.get("last")? {
//!         // `last` borrows st's buffer: valid until st's next read
//!         assert!(last.len() <= 1);
//!     }
//!     st.put("last", r.value())
//! }
//!
//! let mut op = Runner::map(count);
//! op.run(&[OwnedRecord::new("a").with_key("k"), OwnedRecord::new("b").with_key("k")]).unwrap();
//! assert_eq!(State::key(b"k").counter("count").unwrap(), 2);
//! ```

use std::cell::Cell;
use std::fmt;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::record::Record;

/// State scopes (abi/SPEC.md).
pub(crate) const SCOPE_KEY: i32 = 0;
pub(crate) const SCOPE_OPERATOR: i32 = 1;

/// Status codes of the state imports.
pub(crate) const ST_OK: i32 = 0;
pub(crate) const ST_NOT_FOUND: i32 = -2;
pub(crate) const ST_TOO_LARGE: i32 = -3;
pub(crate) const ST_NOT_COUNTER: i32 = -4;

/// The size of the value buffer before its first growth.
const FIRST_BUF: usize = 256;

/// One key's state ([`State::of`], [`State::key`]) or the operator's
/// ([`State::operator`]).
///
/// A `State` is a cheap handle: the key is borrowed, and the buffer that
/// [`State::get`] reads into is taken from a per-instance spare on first use
/// and given back when the handle is dropped, so reading allocates nothing
/// once the buffer has grown to the largest value read.
pub struct State<'k> {
    scope: i32,
    key: &'k [u8],
    bufs: Bufs,
}

/// The buffers a `State` reads values and builds map entry names in.
#[derive(Default)]
struct Bufs {
    val: Vec<u8>,
    name: Vec<u8>,
}

thread_local! {
    // A module instance is single-threaded: this is one static there.
    static SPARE: Cell<Bufs> = const { Cell::new(Bufs { val: Vec::new(), name: Vec::new() }) };
}

impl Drop for State<'_> {
    fn drop(&mut self) {
        if self.bufs.val.capacity() == 0 && self.bufs.name.capacity() == 0 {
            return;
        }
        let mine = std::mem::take(&mut self.bufs);
        // Keep the larger buffer when two handles were alive at once. A
        // thread being torn down has no spare to give back to.
        let _ = SPARE.try_with(|s| {
            let old = s.take();
            s.set(if old.val.capacity() > mine.val.capacity() { old } else { mine });
        });
    }
}

impl<'k> State<'k> {
    /// The state of the record's key. Records are routed to instances by
    /// their key, so one key's state is only ever touched by one instance at
    /// a time.
    pub fn of<'r>(r: &'r Record<'_>) -> State<'r> {
        State::key(r.key())
    }

    /// The state of any key (a record's key is usual: touching another
    /// key's state races with the instance that key is routed to).
    pub fn key(key: &'k [u8]) -> State<'k> {
        State { scope: SCOPE_KEY, key, bufs: Bufs::default() }
    }

    /// The operator's state, shared by all its instances.
    pub fn operator() -> State<'static> {
        State { scope: SCOPE_OPERATOR, key: &[], bufs: Bufs::default() }
    }

    fn bufs(&mut self) -> &mut Bufs {
        if self.bufs.val.capacity() == 0 {
            self.bufs = SPARE.with(|s| s.take());
            if self.bufs.val.capacity() == 0 {
                self.bufs.val.reserve(FIRST_BUF);
            }
        }
        &mut self.bufs
    }

    /// The value of `name`, or `None` when there is none (or it expired).
    /// The bytes are the handle's buffer: valid until its next read, and
    /// the borrow checker says so. Copy them (or use [`State::get_into`])
    /// to keep them.
    pub fn get(&mut self, name: &str) -> Result<Option<&[u8]>> {
        let (scope, key) = (self.scope, self.key);
        let buf = &mut self.bufs().val;
        Ok(if read(scope, key, name.as_bytes(), buf)? { Some(&buf[..]) } else { None })
    }

    /// Reads the value of `name` into `out`, replacing its contents: `true`
    /// when there was one. For values that must outlive the next read.
    pub fn get_into(&self, name: &str, out: &mut Vec<u8>) -> Result<bool> {
        read(self.scope, self.key, name.as_bytes(), out)
    }

    /// Sets `name` to `val` until it is deleted.
    pub fn put(&self, name: &str, val: &[u8]) -> Result {
        put(self.scope, self.key, name.as_bytes(), val, 0)
    }

    /// Sets `name` to `val` for `ttl` of processing time, after which it
    /// reads as absent. A `ttl` under a millisecond counts as one; zero
    /// keeps the value until it is deleted, as [`State::put`] does.
    pub fn put_ttl(&self, name: &str, val: &[u8], ttl: Duration) -> Result {
        put(self.scope, self.key, name.as_bytes(), val, ttl_ms(ttl))
    }

    /// Deletes `name`; deleting nothing is not an error.
    pub fn delete(&self, name: &str) -> Result {
        delete(self.scope, self.key, name.as_bytes())
    }

    /// Adds `delta` to the counter `name` (an 8-byte little-endian `i64`,
    /// absent counting as 0; it keeps its expiry) and returns the new value.
    /// An error of kind [`ErrorKind::NotCounter`] when `name` holds
    /// something else.
    pub fn add(&self, name: &str, delta: i64) -> Result<i64> {
        add(self.scope, self.key, name.as_bytes(), delta)
    }

    /// Adds `delta` to the float counter `name` (an 8-byte little-endian
    /// IEEE 754 `f64`, absent counting as 0; it keeps its expiry) and
    /// returns the new value: money, sums behind averages. Float and int
    /// counters are apart: `add_f64` on an int counter, or [`State::add`]
    /// on a float counter, is an error of kind [`ErrorKind::NotCounter`].
    /// A NaN or infinite `delta`, or a sum that overflows, is an error and
    /// adds nothing.
    pub fn add_f64(&self, name: &str, delta: f64) -> Result<f64> {
        add_f64(self.scope, self.key, name.as_bytes(), delta)
    }

    /// The float counter `name`, 0 when absent. It only reads.
    pub fn counter_f64(&self, name: &str) -> Result<f64> {
        counter(self.scope, self.key, name.as_bytes()).map(|n| f64::from_bits(n as u64))
    }

    /// The counter `name`, 0 when absent. It only reads: nothing is written.
    pub fn counter(&self, name: &str) -> Result<i64> {
        counter(self.scope, self.key, name.as_bytes())
    }

    /// Appends `elem` to the list `name` without reading the list.
    pub fn append(&self, name: &str, elem: &[u8]) -> Result {
        let n = name.as_bytes();
        status("append", n, imp::append(self.scope, self.key, n, elem))
    }

    /// The elements of the list `name`, in the order they were appended
    /// (empty when absent). They borrow the handle's buffer.
    pub fn list(&mut self, name: &str) -> Result<List<'_>> {
        let (scope, key) = (self.scope, self.key);
        let buf = &mut self.bufs().val;
        if !read(scope, key, name.as_bytes(), buf)? {
            return Ok(List { rest: &[], len: 0 });
        }
        List::parse(buf, name.as_bytes())
    }

    /// The map `name`: each entry is a state value of its own (named
    /// `name` + `"\0"` + the map key), so reading or writing one entry never
    /// touches the others.
    pub fn map<'s>(&'s mut self, name: &'s str) -> StateMap<'s, 'k> {
        StateMap { st: self, name }
    }
}

impl fmt::Debug for State<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scope == SCOPE_OPERATOR {
            f.write_str("State::operator()")
        } else {
            write!(f, "State::key({})", quote(self.key))
        }
    }
}

/// A map in state, from [`State::map`]: byte-string keys to values.
pub struct StateMap<'s, 'k> {
    st: &'s mut State<'k>,
    name: &'s str,
}

impl StateMap<'_, '_> {
    /// Builds the entry name for `k` in the handle's name buffer.
    fn entry(&mut self, k: &[u8]) -> (i32, &[u8], &[u8], &mut Vec<u8>) {
        let (scope, key, name) = (self.st.scope, self.st.key, self.name);
        let Bufs { val, name: buf } = self.st.bufs();
        buf.clear();
        buf.extend_from_slice(name.as_bytes());
        buf.push(0);
        buf.extend_from_slice(k);
        (scope, key, &buf[..], val)
    }

    /// The value at `k`, or `None`; valid until the handle's next read.
    pub fn get(&mut self, k: impl AsRef<[u8]>) -> Result<Option<&[u8]>> {
        let (scope, key, name, val) = self.entry(k.as_ref());
        Ok(if read(scope, key, name, val)? { Some(&val[..]) } else { None })
    }

    /// Reads the value at `k` into `out`, replacing its contents.
    pub fn get_into(&mut self, k: impl AsRef<[u8]>, out: &mut Vec<u8>) -> Result<bool> {
        let (scope, key, name, _) = self.entry(k.as_ref());
        read(scope, key, name, out)
    }

    /// Sets the value at `k`.
    pub fn put(&mut self, k: impl AsRef<[u8]>, v: &[u8]) -> Result {
        let (scope, key, name, _) = self.entry(k.as_ref());
        put(scope, key, name, v, 0)
    }

    /// Sets the value at `k` for `ttl` (see [`State::put_ttl`]).
    pub fn put_ttl(&mut self, k: impl AsRef<[u8]>, v: &[u8], ttl: Duration) -> Result {
        let (scope, key, name, _) = self.entry(k.as_ref());
        put(scope, key, name, v, ttl_ms(ttl))
    }

    /// Deletes the entry at `k`.
    pub fn delete(&mut self, k: impl AsRef<[u8]>) -> Result {
        let (scope, key, name, _) = self.entry(k.as_ref());
        delete(scope, key, name)
    }

    /// Adds `delta` to the counter at `k` and returns the new value.
    pub fn add(&mut self, k: impl AsRef<[u8]>, delta: i64) -> Result<i64> {
        let (scope, key, name, _) = self.entry(k.as_ref());
        add(scope, key, name, delta)
    }

    /// Adds `delta` to the float counter at `k` and returns the new value.
    pub fn add_f64(&mut self, k: impl AsRef<[u8]>, delta: f64) -> Result<f64> {
        let (scope, key, name, _) = self.entry(k.as_ref());
        add_f64(scope, key, name, delta)
    }

    /// The counter at `k`, 0 when absent.
    pub fn counter(&mut self, k: impl AsRef<[u8]>) -> Result<i64> {
        let (scope, key, name, _) = self.entry(k.as_ref());
        counter(scope, key, name)
    }
}

/// The elements of a list, from [`State::list`]: an iterator of byte
/// slices, checked when the list was read.
#[derive(Clone)]
pub struct List<'a> {
    rest: &'a [u8],
    len: usize,
}

impl<'a> List<'a> {
    /// Checks a list value (consecutive msgpack bin items) and counts it.
    fn parse(v: &'a [u8], name: &[u8]) -> Result<List<'a>> {
        let mut len = 0;
        let mut p = v;
        while !p.is_empty() {
            match bin_item(p) {
                Some((_, rest)) => p = rest,
                None => {
                    return Err(Error::new(format!("wasmstream: state {} is not a list", quote(name))));
                }
            }
            len += 1;
        }
        Ok(List { rest: v, len })
    }
}

/// Splits the first msgpack bin item off `v`: its payload and the rest.
fn bin_item(v: &[u8]) -> Option<(&[u8], &[u8])> {
    let (n, h) = match *v {
        [0xc4, a, ..] => (a as usize, 2),
        [0xc5, a, b, ..] => ((a as usize) << 8 | b as usize, 3),
        [0xc6, a, b, c, d, ..] => (u32::from_be_bytes([a, b, c, d]) as usize, 5),
        _ => return None,
    };
    if v.len() - h < n {
        return None;
    }
    Some((&v[h..h + n], &v[h + n..]))
}

impl<'a> Iterator for List<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        // parse checked every item.
        let (item, rest) = bin_item(self.rest)?;
        self.rest = rest;
        self.len -= 1;
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len, Some(self.len))
    }
}

impl ExactSizeIterator for List<'_> {}

impl fmt::Debug for List<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone().map(Quoted)).finish()
    }
}

struct Quoted<'a>(&'a [u8]);

impl fmt::Debug for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&quote(self.0))
    }
}

// The calls, status codes to errors.

fn ttl_ms(ttl: Duration) -> i64 {
    if ttl.is_zero() {
        return 0;
    }
    // Round up: a TTL under a millisecond must not become "forever".
    let ms = (ttl.as_nanos() + 999_999) / 1_000_000;
    ms.min(i64::MAX as u128) as i64
}

/// Reads a value into `buf` (its contents replaced): the host copies it when
/// it fits in the capacity, and otherwise reports the length, so the buffer
/// grows once and the call is made again.
fn read(scope: i32, key: &[u8], name: &[u8], buf: &mut Vec<u8>) -> Result<bool> {
    buf.clear();
    loop {
        let n = imp::get(scope, key, name, buf.as_mut_ptr(), buf.capacity());
        if n < 0 {
            return match n as i32 {
                ST_NOT_FOUND => Ok(false),
                st => Err(status_error("get", name, st)),
            };
        }
        let n = n as usize;
        if n <= buf.capacity() {
            // Safety: the host wrote n bytes at the start of the buffer.
            unsafe { buf.set_len(n) };
            return Ok(true);
        }
        buf.reserve(n); // len is 0: the capacity becomes at least n
    }
}

fn put(scope: i32, key: &[u8], name: &[u8], val: &[u8], ttl_ms: i64) -> Result {
    status("put", name, imp::put(scope, key, name, val, ttl_ms))
}

fn delete(scope: i32, key: &[u8], name: &[u8]) -> Result {
    status("delete", name, imp::delete(scope, key, name))
}

fn add(scope: i32, key: &[u8], name: &[u8], delta: i64) -> Result<i64> {
    let mut out = 0i64;
    status("add", name, imp::add(scope, key, name, delta, &mut out))?;
    Ok(out)
}

fn add_f64(scope: i32, key: &[u8], name: &[u8], delta: f64) -> Result<f64> {
    if !delta.is_finite() {
        return Err(Error::new(format!(
            "wasmstream: state float counter would not be finite: add {} to {}",
            delta,
            quote(name)
        )));
    }
    let mut out = 0f64;
    status("add", name, imp::add_f64(scope, key, name, delta, &mut out))?;
    Ok(out)
}

fn counter(scope: i32, key: &[u8], name: &[u8]) -> Result<i64> {
    let mut b = [0u8; 8];
    match imp::get(scope, key, name, b.as_mut_ptr(), 8) {
        8 => Ok(i64::from_le_bytes(b)),
        n if n == ST_NOT_FOUND as i64 => Ok(0),
        n if n < 0 => Err(status_error("get", name, n as i32)),
        n => Err(Error::with_kind(
            ErrorKind::NotCounter,
            format!("wasmstream: state value is not a counter: counter {} holds {} bytes", quote(name), n),
        )),
    }
}

#[inline]
fn status(op: &str, name: &[u8], st: i32) -> Result {
    if st == ST_OK {
        Ok(())
    } else {
        Err(status_error(op, name, st))
    }
}

/// The error for a failed state call, worded as the Go SDK words it.
#[cold]
fn status_error(op: &str, name: &[u8], st: i32) -> Error {
    match st {
        ST_TOO_LARGE => {
            Error::with_kind(ErrorKind::TooLarge, format!("wasmstream: state value too large: {} {}", op, quote(name)))
        }
        ST_NOT_COUNTER => Error::with_kind(
            ErrorKind::NotCounter,
            format!("wasmstream: state value is not a counter: {} {}", op, quote(name)),
        ),
        _ => Error::new(format!("wasmstream: state {} {} failed (status {})", op, quote(name), st)),
    }
}

/// Quotes bytes as Go's %q does: printable text as it is, the rest escaped.
pub(crate) fn quote(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() + 2);
    s.push('"');
    let mut rest = b;
    loop {
        let (ok, bad) = match std::str::from_utf8(rest) {
            Ok(t) => (t, None),
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                // Safety: from_utf8 checked valid.
                (unsafe { std::str::from_utf8_unchecked(valid) }, Some(after))
            }
        };
        for c in ok.chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                '\x07' => s.push_str("\\a"),
                '\x08' => s.push_str("\\b"),
                '\x0c' => s.push_str("\\f"),
                '\n' => s.push_str("\\n"),
                '\r' => s.push_str("\\r"),
                '\t' => s.push_str("\\t"),
                '\x0b' => s.push_str("\\v"),
                c if (c as u32) < 0x20 || c == '\x7f' => s.push_str(&format!("\\x{:02x}", c as u32)),
                c => s.push(c),
            }
        }
        match bad {
            None => break,
            Some(after) => {
                s.push_str(&format!("\\x{:02x}", after[0]));
                rest = &after[1..];
            }
        }
    }
    s.push('"');
    s
}

#[cfg(target_arch = "wasm32")]
mod imp {
    #[link(wasm_import_module = "wasmstream")]
    extern "C" {
        fn state_get(
            scope: i32,
            key: *const u8,
            key_len: usize,
            name: *const u8,
            name_len: usize,
            buf: *mut u8,
            cap: usize,
        ) -> i64;
        fn state_put(
            scope: i32,
            key: *const u8,
            key_len: usize,
            name: *const u8,
            name_len: usize,
            val: *const u8,
            val_len: usize,
            ttl_ms: i64,
        ) -> i32;
        fn state_delete(scope: i32, key: *const u8, key_len: usize, name: *const u8, name_len: usize) -> i32;
        fn state_add(
            scope: i32,
            key: *const u8,
            key_len: usize,
            name: *const u8,
            name_len: usize,
            delta: i64,
            out: *mut i64,
        ) -> i32;
        fn state_add_f64(
            scope: i32,
            key: *const u8,
            key_len: usize,
            name: *const u8,
            name_len: usize,
            delta: f64,
            out: *mut f64,
        ) -> i32;
        fn state_append(
            scope: i32,
            key: *const u8,
            key_len: usize,
            name: *const u8,
            name_len: usize,
            val: *const u8,
            val_len: usize,
        ) -> i32;
    }

    #[inline(always)]
    pub fn get(scope: i32, key: &[u8], name: &[u8], buf: *mut u8, cap: usize) -> i64 {
        unsafe { state_get(scope, key.as_ptr(), key.len(), name.as_ptr(), name.len(), buf, cap) }
    }

    #[inline(always)]
    pub fn put(scope: i32, key: &[u8], name: &[u8], val: &[u8], ttl_ms: i64) -> i32 {
        unsafe { state_put(scope, key.as_ptr(), key.len(), name.as_ptr(), name.len(), val.as_ptr(), val.len(), ttl_ms) }
    }

    #[inline(always)]
    pub fn delete(scope: i32, key: &[u8], name: &[u8]) -> i32 {
        unsafe { state_delete(scope, key.as_ptr(), key.len(), name.as_ptr(), name.len()) }
    }

    #[inline(always)]
    pub fn add(scope: i32, key: &[u8], name: &[u8], delta: i64, out: &mut i64) -> i32 {
        unsafe { state_add(scope, key.as_ptr(), key.len(), name.as_ptr(), name.len(), delta, out) }
    }

    #[inline(always)]
    pub fn add_f64(scope: i32, key: &[u8], name: &[u8], delta: f64, out: &mut f64) -> i32 {
        unsafe { state_add_f64(scope, key.as_ptr(), key.len(), name.as_ptr(), name.len(), delta, out) }
    }

    #[inline(always)]
    pub fn append(scope: i32, key: &[u8], name: &[u8], val: &[u8]) -> i32 {
        unsafe { state_append(scope, key.as_ptr(), key.len(), name.as_ptr(), name.len(), val.as_ptr(), val.len()) }
    }
}

/// The native stand-in: this thread's state in a map, with the host's
/// semantics (status codes, the value size limit, counters as 8
/// little-endian bytes that keep their expiry, lists as msgpack bin items)
/// and its transactions: what a `testing::Runner` call writes is undone when
/// the call fails. Its clock starts at the wall clock's time and moves only
/// with `testing::advance_time`.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod imp {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::time::{SystemTime, UNIX_EPOCH};

    type Key = (i32, Vec<u8>, Vec<u8>);

    const ST_BAD_SCOPE: i32 = -5;

    #[derive(Clone)]
    struct Entry {
        val: Vec<u8>,
        expiry: i64, // Unix ms; 0: none
        float: bool, // a float counter (add_f64)
    }

    struct Store {
        map: BTreeMap<Key, Entry>,
        max_value: usize,
        start_ms: i64,
        offset_ms: i64,
        // Within a call: the time reads see, and how to undo its writes.
        now: Option<i64>,
        undo: Vec<(Key, Option<Entry>)>,
    }

    /// The host's default state.max_value.
    pub const DEFAULT_MAX_VALUE: usize = 1 << 20;

    thread_local! {
        static STORE: RefCell<Store> = RefCell::new(Store {
            map: BTreeMap::new(),
            max_value: DEFAULT_MAX_VALUE,
            start_ms: wall_ms(),
            offset_ms: 0,
            now: None,
            undo: Vec::new(),
        });
    }

    fn wall_ms() -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64
    }

    impl Store {
        /// The state clock: it stands still but for advance_time, so that
        /// tests of TTLs do not depend on how fast they run.
        fn now(&self) -> i64 {
            self.now.unwrap_or(self.start_ms + self.offset_ms)
        }

        fn live(&self, k: &Key) -> Option<&Entry> {
            let now = self.now();
            self.map.get(k).filter(|e| e.expiry == 0 || e.expiry > now)
        }

        fn set(&mut self, k: Key, e: Option<Entry>) {
            let old = match e {
                Some(e) => self.map.insert(k.clone(), e),
                None => self.map.remove(&k),
            };
            if self.now.is_some() {
                self.undo.push((k, old));
            }
        }
    }

    fn with<T>(scope: i32, key: &[u8], name: &[u8], f: impl FnOnce(&mut Store, Key) -> T) -> Result<T, i32> {
        if scope != SCOPE_KEY && scope != SCOPE_OPERATOR {
            return Err(ST_BAD_SCOPE);
        }
        // Operator state ignores the key, as the host does.
        let key = if scope == SCOPE_OPERATOR { Vec::new() } else { key.to_vec() };
        Ok(STORE.with(|s| f(&mut s.borrow_mut(), (scope, key, name.to_vec()))))
    }

    pub fn get(scope: i32, key: &[u8], name: &[u8], buf: *mut u8, cap: usize) -> i64 {
        let r = with(scope, key, name, |s, k| match s.live(&k) {
            None => ST_NOT_FOUND as i64,
            Some(e) => {
                if e.val.len() <= cap {
                    // Safety: the caller passes a buffer of cap writable bytes.
                    unsafe { std::ptr::copy_nonoverlapping(e.val.as_ptr(), buf, e.val.len()) };
                }
                e.val.len() as i64
            }
        });
        r.unwrap_or_else(|st| st as i64)
    }

    pub fn put(scope: i32, key: &[u8], name: &[u8], val: &[u8], ttl_ms: i64) -> i32 {
        with(scope, key, name, |s, k| {
            if val.len() > s.max_value {
                return ST_TOO_LARGE;
            }
            let expiry = if ttl_ms > 0 { s.now() + ttl_ms } else { 0 };
            s.set(k, Some(Entry { val: val.to_vec(), expiry, float: false }));
            ST_OK
        })
        .unwrap_or_else(|st| st)
    }

    pub fn delete(scope: i32, key: &[u8], name: &[u8]) -> i32 {
        with(scope, key, name, |s, k| {
            s.set(k, None);
            ST_OK
        })
        .unwrap_or_else(|st| st)
    }

    pub fn add(scope: i32, key: &[u8], name: &[u8], delta: i64, out: &mut i64) -> i32 {
        with(scope, key, name, |s, k| {
            let (old, expiry) = match s.live(&k) {
                None => (0, 0),
                Some(e) if e.val.len() != 8 || e.float => return ST_NOT_COUNTER,
                Some(e) => (i64::from_le_bytes(e.val[..].try_into().unwrap()), e.expiry),
            };
            let n = old.wrapping_add(delta);
            s.set(k, Some(Entry { val: n.to_le_bytes().to_vec(), expiry, float: false }));
            *out = n;
            ST_OK
        })
        .unwrap_or_else(|st| st)
    }

    /// As the host answers state_add_f64: -1 for a NaN or infinite delta
    /// or sum, -4 for an int counter or bytes.
    pub fn add_f64(scope: i32, key: &[u8], name: &[u8], delta: f64, out: &mut f64) -> i32 {
        with(scope, key, name, |s, k| {
            if !delta.is_finite() {
                return -1;
            }
            let (old, expiry) = match s.live(&k) {
                None => (0.0, 0),
                Some(e) if e.val.len() != 8 || !e.float => return ST_NOT_COUNTER,
                Some(e) => (f64::from_le_bytes(e.val[..].try_into().unwrap()), e.expiry),
            };
            let n = old + delta;
            if !n.is_finite() {
                return -1;
            }
            s.set(k, Some(Entry { val: n.to_le_bytes().to_vec(), expiry, float: true }));
            *out = n;
            ST_OK
        })
        .unwrap_or_else(|st| st)
    }

    pub fn append(scope: i32, key: &[u8], name: &[u8], val: &[u8]) -> i32 {
        with(scope, key, name, |s, k| {
            let (mut v, expiry) = match s.live(&k) {
                None => (Vec::new(), 0),
                Some(e) => (e.val.clone(), e.expiry),
            };
            if v.len() + 5 + val.len() > s.max_value {
                return ST_TOO_LARGE;
            }
            let n = val.len();
            if n < 1 << 8 {
                v.extend_from_slice(&[0xc4, n as u8]);
            } else if n < 1 << 16 {
                v.extend_from_slice(&[0xc5, (n >> 8) as u8, n as u8]);
            } else {
                v.push(0xc6);
                v.extend_from_slice(&(n as u32).to_be_bytes());
            }
            v.extend_from_slice(val);
            s.set(k, Some(Entry { val: v, expiry, float: false }));
            ST_OK
        })
        .unwrap_or_else(|st| st)
    }

    /// A call begins: reads see this moment, and writes can be undone.
    pub fn begin() {
        STORE.with(|s| {
            let mut s = s.borrow_mut();
            s.now = None;
            s.now = Some(s.now());
            s.undo.clear();
        })
    }

    /// A call ends: its writes stay if it succeeded, and are undone if not.
    pub fn end(ok: bool) {
        STORE.with(|s| {
            let mut s = s.borrow_mut();
            s.now = None;
            let undo = std::mem::take(&mut s.undo);
            if !ok {
                for (k, old) in undo.into_iter().rev() {
                    match old {
                        Some(e) => s.map.insert(k, e),
                        None => s.map.remove(&k),
                    };
                }
            }
        })
    }

    pub fn reset() {
        STORE.with(|s| {
            let mut s = s.borrow_mut();
            s.map.clear();
            s.undo.clear();
            s.now = None;
            s.start_ms = wall_ms();
            s.offset_ms = 0;
            s.max_value = DEFAULT_MAX_VALUE;
        })
    }

    pub fn set_max_value(n: usize) {
        STORE.with(|s| s.borrow_mut().max_value = n)
    }

    pub fn advance(ms: i64) {
        STORE.with(|s| s.borrow_mut().offset_ms += ms)
    }

    /// The live entries, sorted: (scope, key, name, value).
    pub fn entries() -> Vec<(i32, Vec<u8>, Vec<u8>, Vec<u8>)> {
        STORE.with(|s| {
            let s = s.borrow();
            let now = s.now();
            s.map
                .iter()
                .filter(|(_, e)| e.expiry == 0 || e.expiry > now)
                .map(|((sc, k, n), e)| (*sc, k.clone(), n.clone(), e.val.clone()))
                .collect()
        })
    }
}
