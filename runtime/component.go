// Package runtime is the wasmstream engine: it runs a pipeline of a source,
// a chain of operators and one or more sinks, with bounded queues between
// them (backpressure), per-operator parallelism routed by key hash, batching
// by size and linger time, and acknowledgements back to the source only after
// the sinks have taken the records (at-least-once).
//
// Records move between stages as encoded batches (Batch: one buffer laid
// out as a frame, with an index of offsets), so the record path allocates
// nothing per record and a Wasm operator's output reaches the next one
// without being decoded; sources, sinks and Go operators see them as
// []Record views. RATIONALE.md says why, with the measurements.
//
// The package defines the interfaces connectors and operators implement
// (Source, Sink, Operator) and the Registry through which a pipeline file
// names them. It never imports a connector or the Wasm host: cmd/wasmstream
// wires those into a Registry.
//
// Lifecycle of a pipeline: Load or Parse a pipeline file into a Spec against
// a Registry, Build it into a Pipeline, then Run it once. Run returns when the
// source is exhausted and everything in flight has been written, when the
// context is cancelled (after draining), or when the failure policy stops the
// pipeline.
package runtime

import (
	"context"
	"errors"
	"github.com/wasmstream/wasmstream/runtime/state"
	"log/slog"

	"github.com/wasmstream/wasmstream/abi"
)

// Record is one stream element. See abi.Record.
type Record = abi.Record

// Header is one record header.
type Header = abi.Header

// Batch is a batch of records as the engine moves them between stages:
// encoded in one buffer with an offset index (see abi.Batch).
type Batch = abi.Batch

// AckFunc is called by the runtime exactly once per batch a Source returned:
// with nil once every record of the batch, and every record derived from it,
// has been written by the sinks or sent to the dead-letter sink; or with a
// non-nil error when the pipeline gave up on the batch (it stopped before the
// records were written). On a non-nil error a source should make the records
// available again (redeliver, or not advance its committed position).
//
// Acks may arrive out of order and from any goroutine.
type AckFunc func(err error)

// Source produces records.
//
// The runtime calls Open once, then Read from a single goroutine until Read
// returns an error, then Close once. Ack funcs may be called concurrently
// with Read.
type Source interface {
	// Open connects or opens files. A failure stops the pipeline before
	// anything was read.
	Open(ctx context.Context, env Env) error
	// Read blocks until at least one record is available and returns the
	// records with the func to acknowledge them. The runtime copies the
	// records before it calls Read again, so a source may reuse the slice
	// and the records' bytes from one Read to the next (or return fresh
	// ones: either is safe). It returns io.EOF when a bounded
	// source is exhausted, and ctx.Err() when ctx is cancelled. A Read
	// cancelled that way must have consumed nothing it does not return: the
	// runtime may cancel a blocked Read of a PositionedSource to take a
	// checkpoint, then call Read again.
	Read(ctx context.Context) ([]Record, AckFunc, error)
	// Close releases resources. Acks arriving after Close are ignored.
	Close(ctx context.Context) error
}

// Sink writes records.
//
// The runtime calls Open once, then Write from a single goroutine, then Close
// once. Records of one key reach Write in the order the operator emitted
// them.
type Sink interface {
	// Open connects or creates files.
	Open(ctx context.Context, env Env) error
	// Write returns nil only when every record is durably written (as
	// durable as the sink can make it). A *BatchError says which records
	// failed; any other error fails the whole batch. The runtime retries what
	// failed with backoff. Write must not keep recs or their bytes after it
	// returns: they are views of the runtime's batch buffers, reused for
	// later records (copy what must outlive the call; strings, such as
	// header names, are safe to keep).
	Write(ctx context.Context, recs []Record) error
	// Close flushes and releases resources.
	Close(ctx context.Context) error
}

// Operator transforms batches. An Operator value is used by one goroutine at
// a time; a parallelism of N builds N values.
type Operator interface {
	// Process appends the outputs for in to out and returns it. The output
	// records' Output field names the output they are routed to ("" is the
	// next operator, or the pipeline's sink after the last operator). On
	// error the runtime applies the pipeline's failure policy to the batch;
	// the operator must be usable for the next call (a Wasm operator
	// replaces a broken instance).
	//
	// Ownership: Process must not modify in or keep it after returning (a
	// failed batch is retried with the same records). The returned records
	// and their bytes belong to the runtime: the operator must not reuse
	// them. They may alias in.
	Process(ctx context.Context, in []Record, out []Record) ([]Record, error)
	// Close releases the operator.
	Close(ctx context.Context) error
}

// BatchProcessor is implemented by an Operator that works on encoded
// batches: the runtime then passes each batch as it is, without building
// records, and a batch it returns goes on to the next operator the same
// way when nothing between them needs its records' fields (the Wasm
// operator, whose input is the frame itself). ProcessBatch sets out,
// empty when called, to the outputs for in; the rules of Process apply
// (in is not to be modified or kept; out is the runtime's once it
// returns). The runtime still calls Process when it needs to run part of
// a batch (to isolate failing records).
type BatchProcessor interface {
	ProcessBatch(ctx context.Context, in, out *Batch) error
}

// Env is what the runtime tells a component when it opens.
type Env struct {
	// Pipeline is the pipeline's name.
	Pipeline string
	// Component is the component's path in the pipeline file, such as
	// "source.file" or "outputs.alerts.file".
	Component string
	// DataDir is a directory private to this component that persists
	// across runs of the pipeline (offsets, progress files).
	DataDir string
	// Logger logs with the pipeline and component attached.
	Logger *slog.Logger
	// BatchSize is the pipeline's batch size: a hint for how many records
	// a Read should return at most.
	BatchSize int
	// Position, for a source, is where to resume: the position its
	// Position method returned at the pipeline's last checkpoint. It is nil
	// when the pipeline does not checkpoint (no operator keeps state): the
	// source then resumes from its own acknowledged progress. A non-nil
	// empty Position means from the beginning.
	Position []byte
	// Splits, for a SplitSource, are the positions of its splits at the
	// pipeline's last checkpoint, by split name; nil when the pipeline does
	// not checkpoint.
	Splits map[string][]byte
	// Prepared, for a CheckpointParticipant, is the handle it prepared for
	// the checkpoint the store holds, when it returned one: Open completes
	// it (see CheckpointParticipant). Nil otherwise.
	Prepared *Prepared
	// Checkpointing reports whether the pipeline checkpoints (an operator
	// keeps state, or a component is a CheckpointParticipant).
	Checkpointing bool
	// Checkpoint, for a source, waits until everything it has returned
	// from Read is written by the sinks and, when the pipeline
	// checkpoints, a checkpoint covering it has completed. A source calls
	// it before it lets go of a split (SplitSource) — from another
	// goroutine than Read's: a blocked Read is interrupted for it. It fails
	// when ctx ends or the pipeline stops reading first.
	Checkpoint func(ctx context.Context) error
	// Metrics is where the component registers its own metrics (records,
	// bytes, errors, lag); the runtime exports them with the pipeline's.
	Metrics *ConnectorMetrics
}

// PositionedSource is a Source whose read position can be captured, so a
// pipeline with keyed state can checkpoint it with the state and resume
// from it after a crash (Env.Position).
type PositionedSource interface {
	Source
	// Position returns where the source stands: just after the last
	// record Read returned. It is called between Reads, when every record
	// read has been acknowledged.
	Position() ([]byte, error)
}

// StatefulFactory is implemented by an OperatorFactory whose operators may
// keep keyed state. A pipeline with one opens its state store and
// checkpoints.
type StatefulFactory interface {
	Stateful() bool
}

// OperatorEnv is what the runtime tells an operator instance when it is
// built.
type OperatorEnv struct {
	Env
	// Operator is the operator's name in the pipeline.
	Operator string
	// Instance is this instance's index, from 0 to Parallelism-1.
	Instance int
	// Parallelism is how many instances the operator runs.
	Parallelism int
	// KeyGroups is the pipeline's key_groups (see OwnedKeys).
	KeyGroups int
	// Outputs lists the named outputs the pipeline connects.
	Outputs []string
	// State is the pipeline's state store when the factory is a
	// StatefulFactory that reported true; instances read and write it
	// through a Txn of their own (State.NewTxn(Operator)).
	State *state.Store
}

// BatchError is returned by Sink.Write when some records of a batch failed
// and others were written. The runtime writes again the failed ones and,
// so that each key's records stay in order, every later record of a key
// with a failed record before it (those may be written twice). A BatchError
// whose indexes are out of range or not increasing stops the pipeline
// (ErrInvalidBatchError): which records were written is then unknown.
type BatchError struct {
	// Failed holds the indexes into the batch of the records that failed,
	// in increasing order, with Errs[i] the cause for Failed[i].
	Failed []int
	Errs   []error
}

func (e *BatchError) Error() string {
	if len(e.Failed) == 0 {
		return "batch partially failed"
	}
	if len(e.Errs) > 0 && e.Errs[0] != nil {
		return pluralRecords(len(e.Failed)) + " failed, first: " + e.Errs[0].Error()
	}
	return pluralRecords(len(e.Failed)) + " failed"
}

// Unwrap returns the per-record errors.
func (e *BatchError) Unwrap() []error { return e.Errs }

// ErrInvalidBatchError is the cause when a sink's BatchError names a record
// index outside the batch or indexes out of order.
var ErrInvalidBatchError = errors.New("sink reported an invalid partial failure")

// ResumingSource is a Source that skips input an earlier run of the
// pipeline already read (by its own saved progress or by Env.Position)
// and can say so. After a run that read nothing, wasmstream uses it to tell
// the user why, rather than printing only "0 records in".
type ResumingSource interface {
	Source
	// Resumed reports whether the source skipped input because of saved
	// progress since Open, and what, for a person: "2 files (1.2 KiB)
	// already read". It is called after Close.
	Resumed() (what string, ok bool)
}

// Source returns the pipeline's source, for callers that check the
// optional interfaces it implements (ResumingSource) after Run.
func (p *Pipeline) Source() Source { return p.source }
