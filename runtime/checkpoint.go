package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
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
	rec := checkpointRecord{Splits: p.splits}
	switch src := p.source.(type) {
	case SplitSource:
		cur, err := src.SplitPositions()
		if err != nil {
			return fmt.Errorf("reading the split positions of %s: %w", p.spec.Source.Path, err)
		}
		// Splits the source no longer holds keep their settled positions.
		merged := make(map[string][]byte, len(p.splits)+len(cur))
		maps.Copy(merged, p.splits)
		maps.Copy(merged, cur)
		rec.Splits = merged
	case PositionedSource:
		pos, err := src.Position()
		if err != nil {
			return fmt.Errorf("reading the source position of %s: %w", p.spec.Source.Path, err)
		}
		rec.Source = pos
	default:
		p.posWarnOnce.Do(func() {
			p.log.Warn("the source cannot report its position: checkpoints hold state only, and a restart after a crash does not replay what the source sent since",
				"source", p.spec.Source.Name)
		})
	}
	id := p.store.LastCheckpoint().ID + 1
	ctx := context.Background()
	var prepared []int // indexes into p.parts
	abort := func(cause error) error {
		for _, i := range prepared {
			pt := p.parts[i]
			if err := pt.cp.AbortCheckpoint(ctx, id, pt.handle); err != nil {
				p.log.Warn("aborting a prepared checkpoint", "component", pt.path, "checkpoint", id, "err", err)
			}
		}
		return cause
	}
	for i := range p.parts {
		pt := &p.parts[i]
		h, err := pt.cp.PrepareCheckpoint(ctx, id)
		if err != nil {
			return abort(fmt.Errorf("%s: preparing checkpoint %d: %w", pt.path, id, err))
		}
		pt.handle = h
		prepared = append(prepared, i)
		if h != nil {
			if rec.Prepared == nil {
				rec.Prepared = map[string]Prepared{}
			}
			rec.Prepared[pt.path] = Prepared{Checkpoint: id, Handle: h}
		}
	}
	began := time.Now()
	meta, err := p.store.Checkpoint(p.spec.Name, rec.encode())
	if err != nil {
		return abort(err)
	}
	p.splits = rec.Splits
	for i := range p.parts {
		if err := p.complete(&p.parts[i], id); err != nil {
			return err
		}
	}
	took := int64(time.Since(began))
	p.stats.checkpointNs.Add(took)
	p.stats.lastCheckpointNs.Store(took)
	p.stats.checkpoints.Add(1)
	p.log.Debug("checkpoint", "id", meta.ID, "entries", meta.Keys)
	p.releaseDeferred(nil)
	return nil
}

// complete completes a participant's part of committed checkpoint id,
// retrying with the failure policy's backoff for up to a minute. A
// participant that still fails stops the pipeline: its handle is in the
// store, and the next run completes it at Open.
func (p *Pipeline) complete(pt *participant, id uint64) error {
	backoff := p.spec.OnError.Backoff
	deadline := time.Now().Add(time.Minute)
	for attempt := 1; ; attempt++ {
		err := pt.cp.CompleteCheckpoint(context.Background(), id, pt.handle)
		if err == nil {
			pt.handle = nil
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: completing checkpoint %d (%d attempts; the next run completes it): %w", pt.path, id, attempt, err)
		}
		p.log.Warn("completing a checkpoint failed; retrying", "component", pt.path, "checkpoint", id, "attempt", attempt, "backoff", backoff, "err", err)
		time.Sleep(backoff)
		backoff = min(2*backoff, p.spec.OnError.MaxBackoff)
	}
}

// participant is a component taking part in checkpoints.
type participant struct {
	path   string
	cp     CheckpointParticipant
	handle []byte // prepared for the checkpoint being taken
}

// checkpointRecord is what a checkpoint stores beside the keyed state, in
// the store's position slot: the source's position or its splits', and the
// handles participants prepared. It is encoded as recordMagic then JSON;
// a slot without the magic is a plain source position (stores written
// before participants existed).
type checkpointRecord struct {
	Source   []byte              `json:"source,omitempty"`
	Splits   map[string][]byte   `json:"splits,omitempty"`
	Prepared map[string]Prepared `json:"prepared,omitempty"`
}

const recordMagic = "\x00wsck1\x00"

func (r checkpointRecord) encode() []byte {
	if len(r.Splits) == 0 && len(r.Prepared) == 0 {
		if !bytes.HasPrefix(r.Source, []byte(recordMagic)) {
			return r.Source // a plain position, as older stores hold
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // maps of strings and byte slices always marshal
	}
	return append([]byte(recordMagic), b...)
}

func decodeCheckpointRecord(b []byte) (checkpointRecord, error) {
	if !bytes.HasPrefix(b, []byte(recordMagic)) {
		return checkpointRecord{Source: b}, nil
	}
	var r checkpointRecord
	if err := json.Unmarshal(b[len(recordMagic):], &r); err != nil {
		return r, fmt.Errorf("decoding the checkpoint's positions: %w", err)
	}
	return r, nil
}

// deferAck holds a source's positive acknowledgement until the next
// checkpoint completes: in a pipeline that checkpoints, a source whose
// position is not in the checkpoint (a broker that forgets a message once
// acknowledged) must not be acknowledged before the state its records
// changed is durable.
func (p *Pipeline) deferAck(ack AckFunc) {
	p.deferMu.Lock()
	p.deferred = append(p.deferred, ack)
	p.deferMu.Unlock()
}

// maxDeferredAcks bounds the acknowledgements held for the next
// checkpoint: past it a checkpoint falls due whatever the interval, so a
// fast source under a long checkpoint_interval cannot grow the list (and
// the broker's unacknowledged messages) without bound.
const maxDeferredAcks = 1024

func (p *Pipeline) deferredFull() bool {
	p.deferMu.Lock()
	defer p.deferMu.Unlock()
	return len(p.deferred) >= maxDeferredAcks
}

// releaseDeferred calls the deferred acknowledgements with err: nil after
// a checkpoint completed, an error when the pipeline stops without one
// (the records are not in a checkpoint: the source redelivers them).
func (p *Pipeline) releaseDeferred(err error) {
	p.deferMu.Lock()
	acks := p.deferred
	p.deferred = nil
	p.deferMu.Unlock()
	for _, a := range acks {
		a(err)
	}
}

// requestCheckpoint is Env.Checkpoint for the source.
func (p *Pipeline) requestCheckpoint(ctx context.Context) error {
	req := savepointReq{reply: make(chan savepointReply, 1)}
	select {
	case p.savepoints <- req:
	case <-p.readerDone:
		return errors.New("the pipeline stopped reading")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case r := <-req.reply:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// savepointReq asks the reader for a checkpoint copied to dir, or, with
// no dir, for a checkpoint (a quiescent point without state) only.
type savepointReq struct {
	swap  *swapReq // a swap instead (swap.go)
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
	if err != nil || r.dir == "" {
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
