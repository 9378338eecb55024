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
    }

    pub fn log(level: Level, msg: &str) {
        eprintln!("wasmstream {:?}: {}", level, msg);
        LOGS.with(|l| l.borrow_mut().push((level, msg.to_string())));
    }

    pub fn metric_add(name: &str, delta: i64) {
        METRICS.with(|m| *m.borrow_mut().entry(name.to_string()).or_insert(0) += delta);
    }
}
