//! Running an operator natively, without Wasm: `cargo test` drives the
//! handler through the same frame decoding and encoding as the module's
//! `process` export.
//!
//! ```
//! use wasmstream_guest::{testing::Runner, OwnedRecord, Record, Result};
//!
//! fn upper(r: &mut Record) -> Result {
//!     r.value_mut().make_ascii_uppercase();
//!     Ok(())
//! }
//!
//! let mut op = Runner::map(upper);
//! let out = op.run(&[OwnedRecord::new("hi").with_key("k")]).unwrap();
//! assert_eq!(out, vec![OwnedRecord::new("HI").with_key("k")]);
//! ```

use std::collections::BTreeMap;

use crate::codec::{Reader, Writer};
use crate::config::Config;
use crate::emit::{Batch, Emitter};
use crate::error::{Error, Result};
use crate::host::Level;
use crate::private::{self, FlatMap, Handler, Map, ProcessBatch};
use crate::record::{OwnedRecord, Record};

/// An operator instance run natively: a handler, an optional `on_init`
/// hook, and the buffers a Wasm instance would reuse between calls.
pub struct Runner<H> {
    handler: H,
    on_init: Option<Box<dyn FnMut(&Config) -> Result>>,
    writer: Writer,
    input: Vec<u8>,
}

impl Runner<()> {
    /// A runner for a map handler, as `operator!(map = f)` registers.
    pub fn map<F: for<'r, 'a> FnMut(&'r mut Record<'a>) -> Result>(f: F) -> Runner<Map<F>> {
        Runner::with(private::map(f))
    }

    /// A runner for a filter handler.
    pub fn filter<F: for<'r, 'a> FnMut(&'r Record<'a>) -> Result<bool>>(f: F) -> Runner<private::Filter<F>> {
        Runner::with(private::filter(f))
    }

    /// A runner for a flat-map handler.
    pub fn flat_map<F>(f: F) -> Runner<FlatMap<F>>
    where
        F: for<'r, 'a, 'e, 'w> FnMut(&'r mut Record<'a>, &'e mut Emitter<'w>) -> Result,
    {
        Runner::with(private::flat_map(f))
    }

    /// A runner for a whole-batch handler.
    pub fn process_batch<F>(f: F) -> Runner<ProcessBatch<F>>
    where
        F: for<'b, 'a, 'e, 'w> FnMut(&'b mut Batch<'a>, &'e mut Emitter<'w>) -> Result,
    {
        Runner::with(private::process_batch(f))
    }
}

impl<H: Handler> Runner<H> {
    fn with(handler: H) -> Runner<H> {
        Runner { handler, on_init: None, writer: Writer::new(), input: Vec::new() }
    }

    /// Adds the `on_init` hook.
    pub fn on_init(mut self, f: impl FnMut(&Config) -> Result + 'static) -> Runner<H> {
        self.on_init = Some(Box::new(f));
        self
    }

    /// Runs initialisation as the host's `init` call would: `cfg` is
    /// encoded as the host encodes it and decoded again before the hook
    /// sees it.
    pub fn init(&mut self, cfg: &Config) -> Result {
        self.init_payload(&cfg.encode())
    }

    /// Runs initialisation with an encoded init payload.
    pub fn init_payload(&mut self, payload: &[u8]) -> Result {
        let hook = &mut self.on_init;
        crate::state::imp::begin();
        let r = private::run_init(payload, |c| match hook {
            Some(f) => f(c),
            None => Ok(()),
        });
        crate::state::imp::end(r.is_ok());
        r
    }

    /// Runs the handler over `records` as one batch and returns the output
    /// records, or the error the host would receive.
    pub fn run(&mut self, records: &[OwnedRecord]) -> Result<Vec<OwnedRecord>> {
        let out = self.run_frame(&encode_frame(records))?;
        decode_frame(&out).map_err(|e| Error::new(format!("the SDK wrote an invalid frame: {}", e)))
    }

    /// Runs the handler over an encoded input frame exactly as the
    /// module's `process` export does, and returns the encoded output frame
    /// or the error the host would receive. `frame` is copied first.
    pub fn run_frame(&mut self, frame: &[u8]) -> Result<Vec<u8>> {
        self.input.clear();
        self.input.extend_from_slice(frame);
        let (base, len) = (self.input.as_mut_ptr(), self.input.len());
        // As the host does, state written by a call that fails is undone.
        crate::state::imp::begin();
        // Safety: the runner owns input, and nothing else uses it during
        // the call.
        let r = unsafe { private::process_frame(&mut self.writer, &mut self.handler, base, len) };
        crate::state::imp::end(r.is_ok());
        let (p, n) = r?;
        Ok(unsafe { std::slice::from_raw_parts(p, n) }.to_vec())
    }
}

/// Encodes records as the canonical frame the host writes.
pub fn encode_frame(records: &[OwnedRecord]) -> Vec<u8> {
    use crate::emit::Emit;
    let mut w = Writer::new();
    w.reset(std::ptr::null());
    for r in records {
        r.write(&mut w, None);
    }
    w.finish_owned(0, false, 0)
}

/// Decodes a frame into owned records, with the SDK's reader.
pub fn decode_frame(frame: &[u8]) -> Result<Vec<OwnedRecord>> {
    let mut copy = frame.to_vec();
    // Safety: copy lives until the end of the function and is used by
    // nothing else.
    let mut r = unsafe { Reader::new(copy.as_mut_ptr(), copy.len())? };
    let mut out = Vec::with_capacity(r.count() as usize);
    while let Some(rec) = r.next()? {
        out.push(rec.to_owned());
    }
    r.finish()?;
    Ok(out)
}

/// Takes the messages [`crate::log`] wrote on this thread so far.
pub fn logs() -> Vec<(Level, String)> {
    crate::host::imp::LOGS.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

/// The counters [`crate::count`] added to on this thread so far.
pub fn metrics() -> BTreeMap<String, i64> {
    crate::host::imp::METRICS.with(|m| m.borrow().clone())
}

/// Clears this thread's log messages, counters and state, restores the
/// state's size limit ([`set_state_max_value`]) and sets its clock to the
/// wall clock's time.
pub fn reset() {
    logs();
    crate::host::imp::METRICS.with(|m| m.borrow_mut().clear());
    crate::state::imp::reset();
}

/// One live entry of the native state: [`state`] lists them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StateEntry {
    /// 0: keyed state; 1: operator state.
    pub scope: i32,
    /// The key (empty for operator state).
    pub key: Vec<u8>,
    /// The entry's name; a map entry's is the map's name, a 0 byte and the
    /// map key.
    pub name: Vec<u8>,
    /// The value: a counter's is 8 little-endian bytes, a list's its
    /// elements as msgpack bin items.
    pub value: Vec<u8>,
}

/// This thread's live state entries (expired ones left out), sorted by
/// scope, key and name.
///
/// The native state has the host's semantics: the same status codes and
/// errors, values over the limit refused ([`set_state_max_value`]; 1 MiB by
/// default, as the host's `state.max_value`), TTLs, and the writes of a
/// [`Runner`] call that fails undone. Writes made outside a `Runner` call
/// apply at once. Its clock starts at the wall clock's time and stands still
/// unless [`advance_time`] moves it, so tests of TTLs are deterministic.
pub fn state() -> Vec<StateEntry> {
    crate::state::imp::entries()
        .into_iter()
        .map(|(scope, key, name, value)| StateEntry { scope, key, name, value })
        .collect()
}

/// Sets the largest state value this thread's native state accepts, as the
/// pipeline's `state.max_value` does.
pub fn set_state_max_value(bytes: usize) {
    crate::state::imp::set_max_value(bytes)
}

/// Moves this thread's state clock forward (it stands still otherwise), so
/// that values put with a TTL expire.
pub fn advance_time(d: std::time::Duration) {
    crate::state::imp::advance(d.as_millis().min(i64::MAX as u128) as i64)
}
