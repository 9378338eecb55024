use std::fmt;

/// The error a handler or an `on_init` hook returns to fail the call.
///
/// The host receives [`Error::message`] verbatim (the SDK adds no prefix) and
/// sends the batch to the pipeline's failure policy; the instance is kept.
///
/// Any `std::error::Error` converts into it, so `?` works on I/O, parsing
/// and UTF-8 errors; [`Error::new`] makes one from a message.
/// [`Error::kind`] tells the state errors a handler may want to handle
/// apart from the rest.
pub struct Error {
    msg: Box<str>,
    kind: ErrorKind,
}

/// What kind of failure an [`Error`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A state value (or a list after an append) would be over the
    /// pipeline's `state.max_value`. Nothing was written.
    TooLarge,
    /// A counter operation on a state value that is not an 8-byte counter.
    NotCounter,
    /// Anything else.
    Other,
}

/// `Result<T, wasmstream_guest::Error>`, with `T` defaulting to `()`.
pub type Result<T = (), E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with the message `msg`.
    pub fn new(msg: impl Into<String>) -> Error {
        Error::with_kind(ErrorKind::Other, msg)
    }

    /// An error of a given kind with the message `msg`.
    pub fn with_kind(kind: ErrorKind, msg: impl Into<String>) -> Error {
        Error { msg: msg.into().into_boxed_str(), kind }
    }

    /// The kind of failure: [`ErrorKind::Other`] unless the SDK made the
    /// error for a state call the host refused.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message the host receives.
    pub fn message(&self) -> &str {
        &self.msg
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(e: E) -> Error {
        Error::new(e.to_string())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::Other => write!(f, "Error({:?})", &*self.msg),
            k => write!(f, "Error({:?}, {:?})", k, &*self.msg),
        }
    }
}

impl Clone for Error {
    fn clone(&self) -> Error {
        Error { msg: self.msg.clone(), kind: self.kind }
    }
}

impl PartialEq for Error {
    fn eq(&self, other: &Error) -> bool {
        self.msg == other.msg && self.kind == other.kind
    }
}

/// Returns early with an [`Error`] whose message is formatted like
/// `format!`: `bail!("bad record {:?}", key)`.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return ::core::result::Result::Err($crate::Error::new(::std::format!($($arg)*)))
    };
}
