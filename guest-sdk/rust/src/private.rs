//! Support for the `operator!` macro and the native test runner; not part
//! of the API.

use crate::asyncio::AsyncResult;
use crate::codec::{Reader, Writer};
use crate::config::Config;
use crate::emit::{Batch, Emit, Emitter};
use crate::error::Result;
use crate::record::Record;

/// One handler shape, run over a whole batch, and optionally a handler
/// of async results.
pub trait Handler {
    /// Whether the operator handles async results (`on_result`).
    const RESULTS: bool = false;

    fn run(&mut self, b: &mut Batch<'_>, out: &mut Emitter<'_>) -> Result;

    fn result(&mut self, _r: &AsyncResult<'_>, _out: &mut Emitter<'_>) -> Result {
        Ok(())
    }
}

/// A record handler with a result handler beside it.
pub struct WithResults<H, R>(pub(crate) H, pub(crate) R);

pub fn with_results<H: Handler, R: for<'r, 'a, 'e, 'w> FnMut(&'r AsyncResult<'a>, &'e mut Emitter<'w>) -> Result>(
    h: H,
    r: R,
) -> WithResults<H, R> {
    WithResults(h, r)
}

impl<H: Handler, R: for<'r, 'a, 'e, 'w> FnMut(&'r AsyncResult<'a>, &'e mut Emitter<'w>) -> Result> Handler
    for WithResults<H, R>
{
    const RESULTS: bool = true;

    #[inline(always)]
    fn run(&mut self, b: &mut Batch<'_>, out: &mut Emitter<'_>) -> Result {
        self.0.run(b, out)
    }

    #[inline]
    fn result(&mut self, r: &AsyncResult<'_>, out: &mut Emitter<'_>) -> Result {
        (self.1)(r, out)
    }
}

pub struct Map<F>(F);
pub struct Filter<F>(F);
pub struct FlatMap<F>(F);
pub struct ProcessBatch<F>(F);

// The constructors name the closure bounds, so closures passed to
// `operator!` get the right (higher-ranked) signatures.

pub fn map<F: for<'r, 'a> FnMut(&'r mut Record<'a>) -> Result>(f: F) -> Map<F> {
    Map(f)
}

pub fn filter<F: for<'r, 'a> FnMut(&'r Record<'a>) -> Result<bool>>(f: F) -> Filter<F> {
    Filter(f)
}

pub fn flat_map<F: for<'r, 'a, 'e, 'w> FnMut(&'r mut Record<'a>, &'e mut Emitter<'w>) -> Result>(f: F) -> FlatMap<F> {
    FlatMap(f)
}

pub fn process_batch<F: for<'b, 'a, 'e, 'w> FnMut(&'b mut Batch<'a>, &'e mut Emitter<'w>) -> Result>(
    f: F,
) -> ProcessBatch<F> {
    ProcessBatch(f)
}

// The per-record loops use the reader and writer directly: each record
// costs one decode, one call of the handler (inlined when it is a plain
// function) and, when the handler only changed bytes in place, one range
// extension in the writer.

impl<F: for<'r, 'a> FnMut(&'r mut Record<'a>) -> Result> Handler for Map<F> {
    #[inline(always)]
    fn run(&mut self, b: &mut Batch<'_>, out: &mut Emitter<'_>) -> Result {
        while let Some(mut r) = b.r.next()? {
            (self.0)(&mut r)?;
            r.write(out.w, None);
        }
        Ok(())
    }
}

impl<F: for<'r, 'a> FnMut(&'r Record<'a>) -> Result<bool>> Handler for Filter<F> {
    #[inline(always)]
    fn run(&mut self, b: &mut Batch<'_>, out: &mut Emitter<'_>) -> Result {
        while let Some(r) = b.r.next()? {
            if (self.0)(&r)? {
                r.write(out.w, None);
            }
        }
        Ok(())
    }
}

impl<F: for<'r, 'a, 'e, 'w> FnMut(&'r mut Record<'a>, &'e mut Emitter<'w>) -> Result> Handler for FlatMap<F> {
    #[inline(always)]
    fn run(&mut self, b: &mut Batch<'_>, out: &mut Emitter<'_>) -> Result {
        while let Some(mut r) = b.r.next()? {
            (self.0)(&mut r, out)?;
        }
        Ok(())
    }
}

impl<F: for<'b, 'a, 'e, 'w> FnMut(&'b mut Batch<'a>, &'e mut Emitter<'w>) -> Result> Handler for ProcessBatch<F> {
    #[inline(always)]
    fn run(&mut self, b: &mut Batch<'_>, out: &mut Emitter<'_>) -> Result {
        (self.0)(b, out)
    }
}

/// Runs `h` over the input frame of `len` bytes at `base` and returns where
/// the output frame is: in `w`'s buffer, or the input frame itself when the
/// output is identical to it.
///
/// Safety: `base..base+len` must be valid, writable and used by nothing
/// else during the call.
#[inline(always)]
pub(crate) unsafe fn process_frame<H: Handler>(
    w: &mut Writer,
    h: &mut H,
    base: *mut u8,
    len: usize,
) -> Result<(*const u8, usize)> {
    let r = Reader::new(base, len)?;
    let (plain, count) = (r.plain_header(), r.count());
    let mut batch = Batch { r };
    w.reset(base);
    let mut out = Emitter { w, err: None };
    crate::asyncio::set_results_handled(H::RESULTS);
    h.run(&mut batch, &mut out)?;
    if H::RESULTS {
        batch.r.end_records()?;
        if batch.r.has_results() {
            // After the call's records, once per result, in order.
            batch.r.begin_results()?;
            while let Some(res) = batch.r.next_result()? {
                h.result(&res, &mut out)?;
            }
        }
    }
    batch.r.finish()?;
    if let Some(e) = out.err {
        return Err(e);
    }
    Ok(out.w.finish(len, plain, count))
}

/// Decodes the init payload and runs the hook.
pub(crate) fn run_init<I: FnOnce(&Config) -> Result>(payload: &[u8], hook: I) -> Result {
    let cfg = Config::decode(payload)?;
    hook(&cfg)
}

#[cfg(target_arch = "wasm32")]
pub use self::wasm::*;

#[cfg(target_arch = "wasm32")]
mod wasm {
    use super::*;
    use crate::host::{self, Level};
    use std::slice;

    /// The smallest input buffer alloc hands out, so that even alloc(0)
    /// returns a valid pointer.
    const MIN_ALLOC: usize = 64 << 10;

    // A module instance is single-threaded and its exports are not
    // re-entered, except alloc, which a host function may call during a
    // call: it then hands out SCRATCH, so the frame being processed is not
    // overwritten.
    static mut INPUT: Vec<u8> = Vec::new();
    static mut SCRATCH: Vec<u8> = Vec::new();
    static mut BUSY: bool = false;
    static mut WRITER: Writer = Writer::new();
    static mut HOOKED: bool = false;

    /// The `alloc` export: a grow-only buffer, so after the first calls it
    /// costs nothing.
    pub fn alloc(n: usize) -> *mut u8 {
        unsafe {
            let buf = if BUSY { &mut SCRATCH } else { &mut INPUT };
            if buf.len() < n || buf.is_empty() {
                let size = n.max(2 * buf.len()).max(MIN_ALLOC);
                *buf = Vec::new(); // free the old buffer first
                *buf = vec![0; size];
            }
            buf.as_mut_ptr()
        }
    }

    /// The `init` export.
    pub fn init<I: FnOnce(&Config) -> Result>(ptr: *mut u8, len: usize, hook: I) -> i32 {
        hook_panics();
        unsafe {
            BUSY = true;
            let r = run_init(slice::from_raw_parts(ptr, len), hook);
            BUSY = false;
            match r {
                Ok(()) => 0,
                Err(e) => {
                    host::set_error(e.message());
                    -1
                }
            }
        }
    }

    /// The `process` export.
    #[inline(always)]
    pub fn process<H: Handler>(h: &mut H, ptr: *mut u8, len: usize) -> i64 {
        hook_panics();
        unsafe {
            BUSY = true;
            let r = process_frame(&mut WRITER, h, ptr, len);
            BUSY = false;
            match r {
                Ok((p, n)) => ((p as usize as u64) << 32 | n as u64) as i64,
                Err(e) => {
                    host::set_error(e.message());
                    -1
                }
            }
        }
    }

    /// Reports a panic to the host before the module traps: Rust on
    /// wasm32 cannot unwind, so a panic ends the instance (the host
    /// replaces it), and the message is all that is left of it.
    fn hook_panics() {
        unsafe {
            if HOOKED {
                return;
            }
            HOOKED = true;
        }
        std::panic::set_hook(Box::new(|info| {
            let payload = info.payload();
            let what = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(|s| s.as_str()))
                .unwrap_or("Box<dyn Any>");
            let msg = match info.location() {
                Some(l) => format!("panic: {} (at {}:{})", what, l.file(), l.line()),
                None => format!("panic: {}", what),
            };
            host::log(Level::Error, &msg);
            host::set_error(&msg);
        }));
    }
}
