package runtime

import (
	"context"
	"errors"
	"maps"
)

// This file holds the parts of the connector contract beyond Source and
// Sink: checkpoint participants (two-phase commit with the state store),
// sources made of splits, records a server rejects, and the guarantee a
// connector states. docs/connectors.md, "Writing a connector", walks
// through them with an example.

// CheckpointParticipant is a Source or Sink that takes part in checkpoints:
// a sink that commits a transaction with each checkpoint (Kafka), a source
// that commits its consumer group's offsets or acknowledges a broker's
// messages once a checkpoint holds them. A pipeline with a participant
// checkpoints even when no operator keeps state.
//
// A checkpoint goes through two phases. At the quiescent point (every
// record read before it has been written by the sinks: each Write
// returned), the runtime calls PrepareCheckpoint on every participant,
// sinks first, then the source. The handles they return are stored with
// the source's position and the keyed state in one atomic batch; when
// that commit succeeds, CompleteCheckpoint is called with each handle
// (sinks first), and when a prepare or the commit fails, AbortCheckpoint
// is called on those that prepared, and the pipeline stops. Reading
// resumes only once every participant completed.
//
// After a crash, the checkpoint the store holds may not have been
// completed: its handle comes back at Open in Env.Prepared, and the
// participant completes it there (commit the transaction) before it does
// anything else. Whatever the participant began after that checkpoint
// (a transaction not in any committed checkpoint) it aborts at Open. So
// CompleteCheckpoint must be harmless when repeated for a handle already
// completed.
type CheckpointParticipant interface {
	// PrepareCheckpoint flushes what the participant buffers and makes it
	// ready to commit (pre-commits a transaction). It returns the handle
	// to keep with checkpoint id, nil when there is nothing to complete.
	PrepareCheckpoint(ctx context.Context, id uint64) ([]byte, error)
	// CompleteCheckpoint commits what PrepareCheckpoint prepared, now that
	// the checkpoint is durable. It is called again when it fails (with
	// backoff, until the pipeline stops). handle is nil when Prepare
	// returned nil.
	CompleteCheckpoint(ctx context.Context, id uint64, handle []byte) error
	// AbortCheckpoint rolls back what PrepareCheckpoint prepared: the
	// checkpoint did not commit.
	AbortCheckpoint(ctx context.Context, id uint64, handle []byte) error
}

// Prepared is a participant's handle kept in a committed checkpoint (see
// CheckpointParticipant).
type Prepared struct {
	Checkpoint uint64 `json:"checkpoint"`
	Handle     []byte `json:"handle,omitempty"`
}

// SplitSource is a Source made of splits, each with its own position:
// Kafka partitions, Kinesis shards. Its splits may be read concurrently
// and may come and go while it runs (a consumer-group rebalance).
//
// The runtime keeps each split's position in the checkpoint. At Open,
// Env.Splits holds the positions of the last checkpoint (nil when the
// pipeline does not checkpoint): a split the source is given resumes
// there when it has a position. A split the source lets go of (revoked)
// must be settled first: the source stops returning its records, calls
// Env.Checkpoint so that everything it read is written (and, in a
// pipeline that checkpoints, checkpointed with the split's final
// position), and only then releases it. The checkpoint keeps the
// positions of splits the source no longer holds, for when they come back.
type SplitSource interface {
	Source
	// SplitPositions returns the position of every split the source holds:
	// just after the last record Read returned of it. It is called
	// between Reads, when every record read has been acknowledged.
	SplitPositions() (map[string][]byte, error)
}

// ErrRejected marks a record the destination refused for good: too large
// for the broker, invalid for the index, a constraint violation. A sink
// returns it for a record in a *BatchError (wrapped, with the server's
// reason); the runtime does not retry such a record but applies the
// failure policy to it at once: the dead-letter sink when on_error.action
// is dead_letter, else the pipeline stops. Everything else a sink returns
// is retried.
var ErrRejected = errors.New("rejected by the destination")

// Rejected wraps err as a record the destination refused (ErrRejected).
func Rejected(err error) error { return &rejectedError{err} }

type rejectedError struct{ err error }

func (e *rejectedError) Error() string        { return e.err.Error() }
func (e *rejectedError) Unwrap() []error      { return []error{ErrRejected, e.err} }
func (e *rejectedError) Is(target error) bool { return target == ErrRejected }

// Guarantee is a delivery guarantee a connector gives.
type Guarantee string

// The guarantees a connector may state.
const (
	AtMostOnce  Guarantee = "at-most-once"
	AtLeastOnce Guarantee = "at-least-once"
	ExactlyOnce Guarantee = "exactly-once"
)

// GuaranteeReporter is implemented by a Source or Sink that states the
// guarantee in force once it is open (it may depend on its config and on
// whether the pipeline checkpoints). The runtime logs it at start and
// reports it in Stats.
type GuaranteeReporter interface {
	Guarantee() Guarantee
}

// OptionalParticipant is a CheckpointParticipant that needs checkpoints
// only in some configurations: when RequiresCheckpoints reports false, it
// does not by itself make the pipeline checkpoint, and takes part only
// when something else does (keyed state, another participant). A Kafka
// source in a consumer group is one: without checkpoints its offsets are
// committed to the group as records are written (at-least-once); with
// them, when a checkpoint completes.
type OptionalParticipant interface {
	CheckpointParticipant
	RequiresCheckpoints() bool
}

// ErrFatal marks an error after which a component cannot go on, so that
// retrying is pointless and the pipeline must stop (and restart from its
// last checkpoint): a transaction the broker aborted, credentials the
// server refused. A Sink.Write error wrapping it stops the pipeline at
// once instead of being retried.
var ErrFatal = errors.New("fatal")

// Fatal wraps err as ErrFatal.
func Fatal(err error) error { return &fatalError{err} }

type fatalError struct{ err error }

func (e *fatalError) Error() string        { return e.err.Error() }
func (e *fatalError) Unwrap() []error      { return []error{ErrFatal, e.err} }
func (e *fatalError) Is(target error) bool { return target == ErrFatal }

// Outcome is what became of one record a source returned.
type Outcome uint8

// The outcomes of a record.
const (
	// Pending: not settled yet (never passed to an OutcomeFunc).
	Pending Outcome = iota
	// Written: the sinks wrote it, or what an operator made of it (an
	// operator may also have dropped it).
	Written
	// DeadLettered: it went to the dead-letter sink (it failed, and the
	// failure policy set it aside). The source should not redeliver it
	// (JetStream Term).
	DeadLettered
	// Failed: the pipeline gave up on it before it was written; the
	// source should redeliver it (JetStream Nak, a Pub/Sub nack).
	Failed
)

func (o Outcome) String() string {
	switch o {
	case Written:
		return "written"
	case DeadLettered:
		return "dead-lettered"
	case Failed:
		return "failed"
	}
	return "pending"
}

// OutcomeFunc settles one batch of an OutcomeSource: outcomes[i] is what
// became of record i of the batch; err is the batch's error, as an
// AckFunc's (non-nil when some record failed). It is called once, from any
// goroutine.
type OutcomeFunc func(outcomes []Outcome, err error)

// OutcomeSource is a Source that settles messages one by one (JetStream
// Ack/Nak/Term, Pub/Sub ack/nack): the runtime calls ReadOutcomes instead
// of Read, and settles each batch with an OutcomeFunc instead of an
// AckFunc.
//
// The runtime follows each record to the sinks while it keeps its
// identity: in a pipeline without operators, every record's outcome is
// exact (a record a sink rejected is DeadLettered, one written before the
// pipeline gave up on the rest of its batch is Written). An operator makes
// new records of a batch (the ABI does not tie outputs to inputs), so
// behind one the outcome is the batch's: Written when everything derived
// from the batch was written or dead-lettered, Failed otherwise.
type OutcomeSource interface {
	Source
	ReadOutcomes(ctx context.Context) ([]Record, OutcomeFunc, error)
}

// Endpointer is implemented by the config struct of a component that
// connects to servers: Endpoints lists them as host:port (or host), for
// capability checks such as serve mode's allowed hosts.
type Endpointer interface {
	Endpoints() []string
}

// AsyncTargets returns the async targets an operator declares, by name
// (nil when it declares none).
func (c *ComponentSpec) AsyncTargets() map[string]*ComponentSpec {
	if c.async == nil {
		return nil
	}
	return maps.Clone(c.async.targets)
}

// FileNamer is implemented by the config struct of a component that may
// read host files its settings name in a form the path tags cannot see
// (a database DSN's certificate or password file): Files lists them.
type FileNamer interface {
	Files() []string
}

// HostFiles lists the host files and directories c's settings name, as
// "setting: path": its path-tagged settings that are set, and what its
// config's FileNamer lists. Serve mode refuses them in tenants' pipelines.
func (c *ComponentSpec) HostFiles() []string {
	var out []string
	for _, p := range c.paths {
		if *p.Value != "" {
			out = append(out, p.Path+": "+*p.Value)
		}
	}
	if f, ok := c.Config.(FileNamer); ok {
		for _, s := range f.Files() {
			out = append(out, c.Path+": "+s)
		}
	}
	return out
}
