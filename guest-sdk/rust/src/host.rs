//! The host functions (module `wasmstream`), and their native stand-ins.

/// The severity of a log message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Debug detail.
    Debug = 0,
    /// Normal operation.
    Info = 1,
    /// Something unexpected the operator handled.
    Warn = 2,
    /// Something failed.
    Error = 3,
}

/// Writes `msg` to the host's log at `level`. The host copies it before
/// `log` returns. Natively, it goes to standard error and to
/// [`crate::testing::logs`].
pub fn log(level: Level, msg: &str) {
    imp::log(level, msg)
}

/// Adds `delta` to the operator's counter `name`, kept by the host. It does
/// not allocate. Natively, it adds to [`crate::testing::metrics`].
pub fn count(name: &str, delta: i64) {
    imp::metric_add(name, delta)
}

#[cfg(target_arch = "wasm32")]
pub(crate) fn set_error(msg: &str) {
    imp::set_error(msg)
}

/// The `async_submit` import: a ticket, or a negative status. Natively,
/// the request is kept for [`crate::testing::submitted`].
pub(crate) fn async_submit(req: &[u8]) -> i64 {
    imp::async_submit(req)
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::Level;

    #[link(wasm_import_module = "wasmstream")]
    extern "C" {
        #[link_name = "set_error"]
        fn host_set_error(ptr: *const u8, len: usize);
        #[link_name = "log"]
        fn host_log(level: i32, ptr: *const u8, len: usize);
        #[link_name = "metric_add"]
        fn host_metric_add(name_ptr: *const u8, name_len: usize, delta: i64);
        #[link_name = "async_submit"]
        fn host_async_submit(req_ptr: *const u8, req_len: usize) -> i64;
    }

    pub fn async_submit(req: &[u8]) -> i64 {
        unsafe { host_async_submit(req.as_ptr(), req.len()) }
    }

    pub fn set_error(msg: &str) {
        unsafe { host_set_error(msg.as_ptr(), msg.len()) }
    }

    pub fn log(level: Level, msg: &str) {
        unsafe { host_log(level as i32, msg.as_ptr(), msg.len()) }
    }

    pub fn metric_add(name: &str, delta: i64) {
        unsafe { host_metric_add(name.as_ptr(), name.len(), delta) }
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod imp {
    use super::Level;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    thread_local! {
        pub static LOGS: RefCell<Vec<(Level, String)>> = RefCell::new(Vec::new());
        pub static METRICS: RefCell<BTreeMap<String, i64>> = RefCell::new(BTreeMap::new());
        pub static ASYNC: RefCell<Async> = RefCell::new(Async::default());
    }

    /// The native stand-in for the host's async session: the requests
    /// submitted since the last reset, in order (ticket i is element i).
    #[derive(Default)]
    pub struct Async {
        pub submitted: Vec<Vec<u8>>,
        pub call_start: Option<usize>, // submitted.len() when the current call began
        pub refuse: i32,               // when set, every submit gets this status
    }

    pub fn async_submit(req: &[u8]) -> i64 {
        ASYNC.with(|a| {
            let mut a = a.borrow_mut();
            if a.refuse != 0 {
                return a.refuse as i64;
            }
            a.submitted.push(req.to_vec());
            (a.submitted.len() - 1) as i64
        })
    }

    /// A call begins: the requests it submits are dropped if it fails.
    pub fn begin() {
        ASYNC.with(|a| {
            let mut a = a.borrow_mut();
            a.call_start = Some(a.submitted.len());
        })
    }

    /// A call ends: as the host does, a failed call's requests are dropped.
    pub fn end(ok: bool) {
        ASYNC.with(|a| {
            let mut a = a.borrow_mut();
            if let Some(n) = a.call_start.take() {
                if !ok {
                    a.submitted.truncate(n);
                }
            }
        })
    }

    pub fn log(level: Level, msg: &str) {
        eprintln!("wasmstream {:?}: {}", level, msg);
        LOGS.with(|l| l.borrow_mut().push((level, msg.to_string())));
    }

    pub fn metric_add(name: &str, delta: i64) {
        METRICS.with(|m| *m.borrow_mut().entry(name.to_string()).or_insert(0) += delta);
    }
}
