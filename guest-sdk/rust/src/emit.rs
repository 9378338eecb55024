use crate::codec::{Reader, Writer, MAX_RECORDS};
use crate::error::{Error, Result};
use crate::record::{OwnedRecord, Record, RecordRef};

/// Appends records to the output batch of the current call. Records are
/// encoded (or, unchanged, copied) as they are emitted, so their bytes may be
/// reused at once.
pub struct Emitter<'w> {
    pub(crate) w: &'w mut Writer,
    pub(crate) err: Option<Error>,
}

impl Emitter<'_> {
    /// Emits `r` to its own output (`r.output`, `""` being the default).
    #[inline]
    pub fn emit<R: Emit + ?Sized>(&mut self, r: &R) {
        if self.w.len() >= MAX_RECORDS {
            return self.too_many();
        }
        r.write(self.w, None)
    }

    /// Emits `r` to the named output; `""` is the default output. Overrides
    /// `r.output`.
    #[inline]
    pub fn emit_to<R: Emit + ?Sized>(&mut self, output: &str, r: &R) {
        if self.w.len() >= MAX_RECORDS {
            return self.too_many();
        }
        r.write(self.w, Some(output))
    }

    /// The number of records emitted in the current call.
    pub fn len(&self) -> usize {
        self.w.len() as usize
    }

    /// Whether no record has been emitted in the current call.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[cold]
    fn too_many(&mut self) {
        if self.err.is_none() {
            self.err = Some(Error::new(format!(
                "wasmstream: more than {} records emitted from one batch, the ABI's limit per frame; split the work across batches",
                MAX_RECORDS
            )));
        }
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::Record<'_> {}
    impl Sealed for crate::RecordRef<'_> {}
    impl Sealed for crate::OwnedRecord {}
}

/// A record [`Emitter::emit`] accepts: [`Record`], [`RecordRef`] or
/// [`OwnedRecord`].
pub trait Emit: sealed::Sealed {
    #[doc(hidden)]
    fn write(&self, w: &mut Writer, output: Option<&str>);
}

impl Emit for Record<'_> {
    #[inline(always)]
    fn write(&self, w: &mut Writer, output: Option<&str>) {
        if output.map_or(true, |o| o.is_empty()) {
            if let Some((s, e)) = self.raw_range() {
                return w.raw(s, e);
            }
        }
        w.record(
            self.key.as_deref(),
            self.value.as_deref(),
            self.timestamp,
            self.headers.canonical_bytes(),
            self.headers.iter(),
            self.output_bytes(output),
        )
    }
}

impl Emit for RecordRef<'_> {
    fn write(&self, w: &mut Writer, output: Option<&str>) {
        w.record(
            self.key,
            self.value,
            self.timestamp,
            self.headers.canonical_bytes(),
            self.headers.iter(),
            output.unwrap_or(self.output).as_bytes(),
        )
    }
}

impl Emit for OwnedRecord {
    fn write(&self, w: &mut Writer, output: Option<&str>) {
        w.record(
            self.key.as_deref(),
            self.value.as_deref(),
            self.timestamp,
            None,
            self.header_iter(),
            output.unwrap_or(&self.output).as_bytes(),
        )
    }
}

/// One input batch, read record by record without copying: an iterator of
/// `Result<Record<'a>>`. The records borrow the batch for the whole handler
/// call, so a handler may collect, reorder or compare them before emitting.
///
/// A decoding error is yielded once and ends the iteration; the call fails
/// with it whether or not the handler returns it.
pub struct Batch<'a> {
    pub(crate) r: Reader<'a>,
}

impl<'a> Batch<'a> {
    /// The number of records in the batch, read or not.
    pub fn len(&self) -> usize {
        self.r.count() as usize
    }

    /// Whether the batch has no records.
    pub fn is_empty(&self) -> bool {
        self.r.count() == 0
    }

    /// Decodes the next record: `Ok(None)` at the end of the batch.
    #[inline(always)]
    pub fn next_record(&mut self) -> Result<Option<Record<'a>>> {
        self.r.next()
    }
}

impl<'a> Iterator for Batch<'a> {
    type Item = Result<Record<'a>>;

    fn next(&mut self) -> Option<Result<Record<'a>>> {
        self.r.next().transpose()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // A decoding error ends the iteration early.
        (0, Some(self.r.remaining() as usize))
    }
}
