package runtime

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/wasmstream/wasmstream/runtime/state"
)

// Checkpoints are quiescent: between two source reads, the reader stops,
// has every partial batch sent at once, and waits until everything it has
// read is acknowledged (written by the sinks). State then reflects exactly
// the records up to the source's position, and sinks hold them all; the
// store commits both in one atomic batch. Reading resumes at once; the
// retained copy of the checkpoint is written in the background. The pause
// lasts as long as the records in flight take to drain, which the queue
// depth and batch size bound.
//
// Checkpoints fall due by time only when records were read since the last
// one. A positioned source whose Read blocks waiting for data (a watched
// directory, a rate-limited generator) is interrupted when a checkpoint
// falls due or a savepoint is asked for: its Read is cancelled, the
// checkpoint taken, and reading resumes. Sources treat a cancelled Read as
// having read nothing, as Source requires.
//
// A checkpoint is never taken after a batch was given up on (negatively
// acknowledged): its records are not in state, and the position must not
// move past them.

func (p *Pipeline) openStore() (*state.Store, []byte, error) {
	ss := p.spec.State
	return state.Open(state.Options{
		Dir:         filepath.Join(p.spec.DataDir, "state"),
		CacheBytes:  int64(ss.Cache),
		DirtyBytes:  int64(ss.WriteCache),
		MaxValue:    int(ss.MaxValue),
		Retain:      ss.Retain,
		OnCorrupt:   ss.OnCorrupt,
		MaxTxnBytes: int64(ss.CallWrites),
		Holder:      state.HolderRun,
		// A state or savepoint command reading the stopped store holds it
		// for a moment: wait for it rather than fail the start.
		LockWait:      10 * time.Second,
		FromSavepoint: p.fromSavepoint,
		Logger:        p.log.With("component", "state"),
	})
}

// quiesce flushes partial batches and waits until every record read has
// been acknowledged. It fails when the pipeline stops hard meanwhile.
func (p *Pipeline) quiesce(run context.Context, out chan<- readResult) error {
	select {
	case out <- readResult{flush: true}:
	case <-run.Done():
		return context.Cause(run)
	}
	for p.inflight.Load() > 0 {
		select {
		case <-p.idle:
		case <-run.Done():
			return context.Cause(run)
		}
	}
	return nil
}

// ErrCheckpoint wraps every failure to take a checkpoint (reading the
// source's position, committing the store, its retained copy): it is a
// failure of state, whichever stage hit it.
var ErrCheckpoint = errors.New("checkpoint failed")

// checkpoint commits state with the source's position. The pipeline must be
// quiescent. Its errors wrap ErrCheckpoint.
func (p *Pipeline) checkpoint() error {
	if err := p.checkpointOnce(); err != nil {
		return fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	return nil
}

func (p *Pipeline) checkpointOnce() error {
	if n := p.stats.nacked.Load(); n > 0 {
		return fmt.Errorf("not checkpointing: %d source batches were given up on", n)
	}
	var pos []byte
	if ps, ok := p.source.(PositionedSource); ok {
		var err error
		if pos, err = ps.Position(); err != nil {
			return fmt.Errorf("reading the source position of %s: %w", p.spec.Source.Path, err)
		}
	} else {
		p.posWarnOnce.Do(func() {
			p.log.Warn("the source cannot report its position: checkpoints hold state only, and a restart after a crash does not replay what the source sent since",
				"source", p.spec.Source.Name)
		})
	}
	began := time.Now()
	meta, err := p.store.Checkpoint(p.spec.Name, pos)
	if err != nil {
		return err
	}
	took := int64(time.Since(began))
	p.stats.checkpointNs.Add(took)
	p.stats.lastCheckpointNs.Store(took)
	p.stats.checkpoints.Add(1)
	p.log.Debug("checkpoint", "id", meta.ID, "entries", meta.Keys)
	return nil
}

// savepointReq asks the reader for a checkpoint copied to dir.
type savepointReq struct {
	dir   string
	reply chan savepointReply
}

type savepointReply struct {
	meta state.Meta
	err  error
}

// answer replies to a savepoint request once the checkpoint taken for it
// (err: why none was) is copied to the request's directory. Only Pebble's
// checkpoint of the store is taken in the reader; the copy runs off it.
func (r savepointReq) answer(p *Pipeline, err error) {
	if err != nil {
		r.reply <- savepointReply{err: err}
		return
	}
	meta, wait, err := p.store.Savepoint(r.dir)
	if err != nil {
		r.reply <- savepointReply{err: err}
		return
	}
	go func() { r.reply <- savepointReply{meta: meta, err: wait()} }()
}

// ErrNoState is returned by Savepoint for a pipeline without keyed state.
var ErrNoState = errors.New("the pipeline keeps no state")

// Savepoint takes a checkpoint at the next read boundary and copies it to
// dir, which must not exist. Run the pipeline from it with
// WithSavepoint. Safe to call concurrently with Run.
func (p *Pipeline) Savepoint(ctx context.Context, dir string) (state.Meta, error) {
	select {
	case <-p.storeReady:
	case <-ctx.Done():
		return state.Meta{}, ctx.Err()
	}
	if p.store == nil {
		return state.Meta{}, ErrNoState
	}
	req := savepointReq{dir: dir, reply: make(chan savepointReply, 1)}
	select {
	case p.savepoints <- req:
	case <-ctx.Done():
		return state.Meta{}, fmt.Errorf("waiting for a read boundary: %w", ctx.Err())
	}
	select {
	case r := <-req.reply:
		return r.meta, r.err
	case <-ctx.Done():
		return state.Meta{}, ctx.Err()
	}
}

// Store returns the pipeline's state store once Run has opened it, or nil
// when the pipeline keeps no state or Run failed before opening it. It
// blocks until then or until ctx ends.
func (p *Pipeline) Store(ctx context.Context) *state.Store {
	select {
	case <-p.storeReady:
		return p.store
	case <-ctx.Done():
		return nil
	}
}

// Stateful reports whether an operator of the pipeline keeps state.
func (p *Pipeline) Stateful() bool { return p.stateful }

// WithSavepoint starts the pipeline's state (and source position) from a
// savepoint or retained checkpoint directory.
func WithSavepoint(dir string) Option { return func(p *Pipeline) { p.fromSavepoint = dir } }

// OwnedKeys returns the state.TxnOption that restricts the keyed-state
// writes of instance (of parallelism instances, over groups key groups:
// Spec.KeyGroups) to the record keys the router sends it: those of its key
// groups, the nil key included where KeyGroup puts it. A write of another
// key fails with state.ErrNotOwned. With one instance every key is its own.
func OwnedKeys(groups, parallelism, instance int) state.TxnOption {
	if parallelism <= 1 || groups < 1 {
		return state.OwnedKeys(nil)
	}
	return state.OwnedKeys(func(key []byte) bool {
		return InstanceFor(KeyGroup(key, groups), groups, parallelism) == instance
	})
}
