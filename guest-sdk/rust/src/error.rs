use std::fmt;

/// The error a handler or an `on_init` hook returns to fail the call.
///
/// The host receives [`Error::message`] verbatim (the SDK adds no prefix) and
/// sends the batch to the pipeline's failure policy; the instance is kept.
///
/// Any `std::error::Error` converts into it, so `?` works on I/O, parsing
/// and UTF-8 errors; [`Error::new`] makes one from a message.
pub struct Error {
    msg: Box<str>,
}

/// `Result<T, wasmstream_guest::Error>`, with `T` defaulting to `()`.
pub type Result<T = (), E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with the message `msg`.
    pub fn new(msg: impl Into<String>) -> Error {
        Error { msg: msg.into().into_boxed_str() }
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
        write!(f, "Error({:?})", &*self.msg)
    }
}

impl Clone for Error {
    fn clone(&self) -> Error {
        Error { msg: self.msg.clone() }
    }
}

impl PartialEq for Error {
    fn eq(&self, other: &Error) -> bool {
        self.msg == other.msg
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
