package wasmstream

import "fmt"

// Batch is one input batch, read record by record without copying. It is
// valid only during the ProcessBatch handler call it is passed to. Not safe
// for concurrent use.
type Batch struct {
	r   reader
	n   int
	err error
}

// Len returns the number of records in the batch, read or not.
func (b *Batch) Len() int { return b.n }

// Next decodes the next record into rec, overwriting all its fields, and
// reports whether there was one. It returns false at the end of the batch or
// on malformed input; Err tells which. rec's byte slices alias the batch:
// they may be modified in place and are valid until the handler returns. rec
// keeps its Headers array between calls, so reusing one Record allocates
// nothing.
func (b *Batch) Next(rec *Record) bool {
	if b.r.next(rec) {
		return true
	}
	if b.r.err != nil && b.err == nil {
		b.err = fmt.Errorf("decoding input batch: %w", b.r.err)
	}
	return false
}

// Err returns the error that stopped Next, or nil at the end of the batch. A
// handler need not return it: the SDK fails the call with it anyway.
func (b *Batch) Err() error { return b.err }

func (b *Batch) reset(frame []byte) error {
	b.err = nil
	b.n = 0
	if err := b.r.reset(frame); err != nil {
		return fmt.Errorf("decoding input batch: %w", err)
	}
	b.n = b.r.remaining()
	return nil
}

// finish reads the records the handler left unread, so that a malformed
// frame fails the call whatever the handler read, and checks the end of the
// frame.
func (b *Batch) finish(scratch *Record) error {
	for b.Next(scratch) {
	}
	if b.err != nil {
		return b.err
	}
	if err := b.r.close(); err != nil {
		return fmt.Errorf("decoding input batch: %w", err)
	}
	return nil
}
