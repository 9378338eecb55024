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

use crate::asyncio::{AsyncResult, Ticket};
use crate::codec::{put_bin, put_int, put_str, Reader, Writer};
use crate::config::Config;
use crate::emit::{Batch, Emitter};
use crate::error::{Error, Result};
use crate::host::Level;
use crate::private::{self, FlatMap, Handler, Map, ProcessBatch, WithResults};
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

    /// Adds the `on_result` handler, as `operator!(..., on_result = f)`
    /// registers it: it receives the results of frames that carry them
    /// ([`Runner::run_with_results`]), and [`crate::submit`] works.
    pub fn on_result<R>(self, f: R) -> Runner<WithResults<H, R>>
    where
        R: for<'r, 'a, 'e, 'w> FnMut(&'r AsyncResult<'a>, &'e mut Emitter<'w>) -> Result,
    {
        Runner {
            handler: private::with_results(self.handler, f),
            on_init: self.on_init,
            writer: self.writer,
            input: self.input,
        }
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

    /// Runs the handler over `records` as one batch whose frame also
    /// delivers `results`, as the host writes such a frame, and returns the
    /// output records: those the record handler emitted, then those the
    /// `on_result` handler emitted for each result in order.
    pub fn run_with_results(&mut self, records: &[OwnedRecord], results: &[OwnedResult]) -> Result<Vec<OwnedRecord>> {
        let out = self.run_frame(&encode_frame_with_results(records, results))?;
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
        // and so are the async requests it submitted.
        crate::state::imp::begin();
        crate::host::imp::begin();
        // Safety: the runner owns input, and nothing else uses it during
        // the call.
        let r = unsafe { private::process_frame(&mut self.writer, &mut self.handler, base, len) };
        crate::asyncio::set_results_handled(false);
        crate::host::imp::end(r.is_ok());
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

/// One async result, owned, for [`encode_frame_with_results`] and
/// [`Runner::run_with_results`]: what the host delivers for a request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnedResult {
    /// The request's ticket: `i` for the `i`th request [`submitted`]
    /// returns.
    pub ticket: u64,
    /// [`AsyncResult::OK`], [`AsyncResult::ERROR`] or
    /// [`AsyncResult::TIMEOUT`].
    pub status: i32,
    /// The request's context.
    pub context: Option<Vec<u8>>,
    /// The HTTP status, the Redis array length or the SQL row count.
    pub code: i64,
    /// The answer.
    pub body: Option<Vec<u8>>,
    /// What went wrong; written as nil when `None` or empty, as the host
    /// writes it.
    pub error: Option<String>,
}

impl OwnedResult {
    /// A completed request's result.
    pub fn ok(ticket: u64, context: &[u8], code: i64, body: &[u8]) -> OwnedResult {
        OwnedResult {
            ticket,
            context: Some(context.to_vec()),
            code,
            body: Some(body.to_vec()),
            ..OwnedResult::default()
        }
    }

    /// A failed request's result, with `status` [`AsyncResult::ERROR`] or
    /// [`AsyncResult::TIMEOUT`].
    pub fn failed(ticket: u64, status: i32, context: &[u8], error: &str) -> OwnedResult {
        OwnedResult {
            ticket,
            status,
            context: Some(context.to_vec()),
            error: Some(error.to_string()),
            ..OwnedResult::default()
        }
    }

    /// The result as the handler sees it.
    pub fn view(&self) -> AsyncResult<'_> {
        AsyncResult {
            ticket: Ticket(self.ticket),
            status: self.status,
            context: self.context.as_deref(),
            code: self.code,
            body: self.body.as_deref(),
            error: self.error.as_deref().filter(|e| !e.is_empty()),
        }
    }
}

/// Encodes records and async results as the frame the host writes for a
/// call that delivers results (abi/SPEC.md section 5.2): `0x92 records
/// results`. Without results it is [`encode_frame`]'s frame.
pub fn encode_frame_with_results(records: &[OwnedRecord], results: &[OwnedResult]) -> Vec<u8> {
    let mut b = encode_frame(records);
    if results.is_empty() {
        return b;
    }
    b[0] = 0x92;
    b.push(0xdd);
    b.extend_from_slice(&(results.len() as u32).to_be_bytes());
    for r in results {
        b.push(0x96);
        if r.ticket > i64::MAX as u64 {
            b.push(0xcf);
            b.extend_from_slice(&r.ticket.to_be_bytes());
        } else {
            put_int(&mut b, r.ticket as i64);
        }
        put_int(&mut b, r.status.into());
        put_bin(&mut b, r.context.as_deref());
        put_int(&mut b, r.code);
        put_bin(&mut b, r.body.as_deref());
        match r.error.as_deref() {
            None | Some("") => b.push(0xc0),
            Some(e) => put_str(&mut b, e.as_bytes()),
        }
    }
    b
}

/// The async requests [`crate::submit`] sent on this thread since the
/// last [`reset`], in order, each encoded as the host receives it (the
/// `i`th got ticket `i`): compare them with [`crate::Request::encode`]. The
/// requests of a [`Runner`] call that failed are dropped, as the host drops
/// them.
pub fn submitted() -> Vec<Vec<u8>> {
    crate::host::imp::ASYNC.with(|a| a.borrow().submitted.clone())
}

/// Makes every later [`crate::submit`] on this thread fail with `status`
/// (such as [`crate::SubmitError::CAPACITY`]), as the host refuses a
/// request; 0 accepts them again. [`reset`] accepts them too.
pub fn refuse_submits(status: i32) {
    crate::host::imp::ASYNC.with(|a| a.borrow_mut().refuse = status)
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

/// Clears this thread's log messages, counters, state and submitted
/// requests, restores the state's size limit ([`set_state_max_value`]),
/// accepts submits again and sets the state's clock to the wall clock's
/// time.
pub fn reset() {
    logs();
    crate::host::imp::METRICS.with(|m| m.borrow_mut().clear());
    crate::host::imp::ASYNC.with(|a| *a.borrow_mut() = Default::default());
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
