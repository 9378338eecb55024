//! The Rust guest SDK for wasmstream: write a stream operator as a Rust
//! `cdylib`, build it for `wasm32-unknown-unknown`, and never see the ABI
//! (abi/SPEC.md): frames, msgpack, `alloc`, packed pointers and status codes
//! are the SDK's business.
//!
//! ```
//! use wasmstream_guest::{operator, Record, Result};
//!
//! fn upper(r: &mut Record) -> Result {
//!     r.value_mut().make_ascii_uppercase(); // in place: nothing copied
//!     Ok(())
//! }
//!
//! operator!(map = upper);
//! # fn main() {}
//! ```
//!
//! [`operator!`] defines the module's exports around exactly one handler:
//!
//! | registration | handler |
//! |---|---|
//! | `operator!(map = f)` | `fn(&mut Record) -> Result`: one record out per record in, changed in place |
//! | `operator!(filter = f)` | `fn(&Record) -> Result<bool>`: keep or drop |
//! | `operator!(flat_map = f)` | `fn(&mut Record, &mut Emitter) -> Result`: zero or more records out |
//! | `operator!(process_batch = f)` | `fn(&mut Batch, &mut Emitter) -> Result`: the whole batch |
//!
//! with an optional `on_init = g`, `fn(&Config) -> Result`, run once per
//! instance before the first batch, and an optional `on_result = h`,
//! `fn(&AsyncResult, &mut Emitter) -> Result`, run once per async result
//! (see [Async I/O](#async-io)). A second `operator!` in one module is a
//! duplicate-symbol error at link time.
//!
//! # Bytes and lifetimes
//!
//! The host writes each batch into one buffer inside the module, and the
//! [`Record`]s handed to a handler point into it: nothing is copied on the
//! way in. A handler may modify key and value bytes in place, but records are
//! only valid during the call. Output is encoded as it is emitted, so emitted
//! bytes may be reused at once. A record emitted unchanged but for in-place
//! edits of its bytes is copied whole, and a batch whose every record is kept
//! that way is handed back to the host without being copied at all.
//!
//! # Errors and panics
//!
//! A handler's `Err` fails the batch; the host receives the message
//! verbatim and keeps the instance. A malformed batch fails with a message
//! giving the byte offset and the reason. Rust on wasm32 cannot unwind, so a
//! panic traps the module: its message goes to the host log first, and the
//! host replaces the instance.
//!
//! # State
//!
//! [`State`] reads and writes the host's keyed state: [`State::of`] a
//! record's key, [`State::key`] any key, [`State::operator`] the
//! operator's. Values, TTLs, counters, lists and maps; what a call writes is
//! applied only when the call succeeds.
//!
//! # Async I/O
//!
//! [`submit`] sends a [`Request`] (HTTP, Redis or SQL) to a target the
//! pipeline declares, with a context (usually the record); its
//! [`AsyncResult`] arrives in a later call, after that call's records, to
//! the `on_result` handler, which finishes the record:
//!
//! ```
//! use wasmstream_guest::{operator, submit, AsyncResult, Emitter, Record, RecordRef, Request, Result};
//!
//! fn lookup(r: &mut Record, _: &mut Emitter) -> Result {
//!     submit(&Request::redis("cache", &["GET", "user:7"]).context(r.value()))?;
//!     Ok(())
//! }
//!
//! fn done(res: &AsyncResult, out: &mut Emitter) -> Result {
//!     out.emit(&RecordRef { value: res.context, ..RecordRef::default() });
//!     Ok(())
//! }
//!
//! operator!(flat_map = lookup, on_result = done);
//! # fn main() {}
//! ```
//!
//! # Testing without Wasm
//!
//! [`testing::Runner`] runs a handler natively through the same codec, with
//! a per-thread stand-in for the host's state and async session.

mod asyncio;
mod codec;
mod config;
mod emit;
mod error;
mod host;
pub mod json;
mod record;
mod state;

#[doc(hidden)]
pub mod private;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use asyncio::{redis_items, submit, Arg, AsyncResult, Request, SubmitError, Ticket};
pub use config::{Config, Value};
pub use emit::{Batch, Emit, Emitter};
pub use error::{Error, ErrorKind, Result};
pub use host::{count, log, Level};
pub use record::{Header, Headers, HeadersIter, OwnedHeader, OwnedRecord, Record, RecordRef};
pub use state::{List, State, StateMap};

/// The ABI version the SDK speaks.
pub const ABI_VERSION: i32 = 1;

/// The language code the module reports through `wasmstream_language`.
pub const LANGUAGE_RUST: i32 = 2;

/// The most records one output batch may carry.
pub const MAX_RECORDS: usize = codec::MAX_RECORDS as usize;

/// Defines the module's exports (`wasmstream_abi_version`,
/// `wasmstream_language`, `alloc`, `dealloc`, `init`, `process`) around one
/// handler, an optional init hook and an optional handler of async results:
///
/// ```ignore
/// operator!(map = upper);
/// operator!(filter = keep);
/// operator!(flat_map = route, on_init = configure);
/// operator!(process_batch = whole_batch);
/// operator!(flat_map = lookup, on_result = join);
/// operator!(flat_map = lookup, on_result = join, on_init = configure);
/// ```
///
/// `on_init` and `on_result` may come in either order. Handlers may be
/// functions or closures. Outside wasm32 the macro only type-checks them,
/// so the crate also builds (and tests) natively.
#[macro_export]
macro_rules! operator {
    (map = $f:expr $(, $opt:ident = $v:expr)* $(,)?) => {
        $crate::__operator_opts!([$crate::private::map($f)] [] [] $($opt = $v,)*);
    };
    (filter = $f:expr $(, $opt:ident = $v:expr)* $(,)?) => {
        $crate::__operator_opts!([$crate::private::filter($f)] [] [] $($opt = $v,)*);
    };
    (flat_map = $f:expr $(, $opt:ident = $v:expr)* $(,)?) => {
        $crate::__operator_opts!([$crate::private::flat_map($f)] [] [] $($opt = $v,)*);
    };
    (process_batch = $f:expr $(, $opt:ident = $v:expr)* $(,)?) => {
        $crate::__operator_opts!([$crate::private::process_batch($f)] [] [] $($opt = $v,)*);
    };
}

/// Collects `operator!`'s options: [handler] [on_init] [on_result] rest.
#[doc(hidden)]
#[macro_export]
macro_rules! __operator_opts {
    ([$h:expr] [] [$($r:expr)?] on_init = $v:expr, $($rest:tt)*) => {
        $crate::__operator_opts!([$h] [$v] [$($r)?] $($rest)*);
    };
    ([$h:expr] [$($i:expr)?] [] on_result = $v:expr, $($rest:tt)*) => {
        $crate::__operator_opts!([$h] [$($i)?] [$v] $($rest)*);
    };
    ([$h:expr] [$i:expr] [$($r:expr)?] on_init = $v:expr, $($rest:tt)*) => {
        compile_error!("operator!: on_init given twice");
    };
    ([$h:expr] [$($i:expr)?] [$r:expr] on_result = $v:expr, $($rest:tt)*) => {
        compile_error!("operator!: on_result given twice");
    };
    ([$h:expr] [$($i:expr)?] [$($r:expr)?] $opt:ident = $v:expr, $($rest:tt)*) => {
        compile_error!(concat!("operator!: unknown option `", stringify!($opt), "`; want on_init or on_result"));
    };
    ([$h:expr] [$($i:expr)?] []) => {
        $crate::__export!($h $(, $i)?);
    };
    ([$h:expr] [$($i:expr)?] [$r:expr]) => {
        $crate::__export!($crate::private::with_results($h, $r) $(, $i)?);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __export {
    ($h:expr) => {
        $crate::__export!(@ $h, |_: &$crate::Config| -> $crate::Result { Ok(()) });
    };
    ($h:expr, $i:expr) => {
        $crate::__export!(@ $h, |c: &$crate::Config| -> $crate::Result { ($i)(c) });
    };
    (@ $h:expr, $init:expr) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            #[export_name = "wasmstream_abi_version"]
            extern "C" fn __wasmstream_abi_version() -> i32 {
                $crate::ABI_VERSION
            }
            #[export_name = "wasmstream_language"]
            extern "C" fn __wasmstream_language() -> i32 {
                $crate::LANGUAGE_RUST
            }
            #[export_name = "alloc"]
            extern "C" fn __wasmstream_alloc(len: usize) -> *mut u8 {
                $crate::private::alloc(len)
            }
            #[export_name = "dealloc"]
            extern "C" fn __wasmstream_dealloc(_ptr: *mut u8, _len: usize) {}
            #[export_name = "init"]
            extern "C" fn __wasmstream_init(ptr: *mut u8, len: usize) -> i32 {
                $crate::private::init(ptr, len, $init)
            }
            #[export_name = "process"]
            extern "C" fn __wasmstream_process(ptr: *mut u8, len: usize) -> i64 {
                $crate::private::process(&mut $h, ptr, len)
            }
        };
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            #[allow(dead_code)]
            fn __wasmstream_check() {
                let _ = $h;
                let _ = $init;
            }
        };
    };
}
