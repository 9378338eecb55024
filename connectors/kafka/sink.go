package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wasmstream/wasmstream/internal/durable"
	"github.com/wasmstream/wasmstream/runtime"
)

// Sink writes records to a Kafka topic. With delivery: exactly_once it is
// a checkpoint participant: the records written since the last checkpoint
// are one transaction, pre-committed (flushed) at the checkpoint and
// committed once the checkpoint is durable.
type Sink struct {
	cfg  *SinkConfig
	env  runtime.Env
	opts []kgo.Opt
	cl   *kgo.Client // the producer
	adm  *kadm.Client
	raw  *kgo.Client // adm's client, for requests kadm has no call for

	maxBytes int  // the topic's max.message.bytes
	eos      bool // delivery: exactly_once
	txnID    string

	mu       sync.Mutex // Write and the checkpoint calls come from different goroutines
	inTxn    bool
	prepared *txnHandle
	broken   error // a transaction that cannot commit: the pipeline must restart

	kbuf []kgo.Record
	hbuf []kgo.RecordHeader
	errs []error

	written, bytesWritten, rejected, errors, commits, aborts *runtime.Metric
}

// txnHandle is what a checkpoint keeps of a prepared transaction: enough
// to commit it from another process after a crash.
type txnHandle struct {
	Checkpoint uint64 `json:"checkpoint"`
	ID         string `json:"transactional_id"`
	ProducerID int64  `json:"producer_id"`
	Epoch      int16  `json:"epoch"`
}

// NewSink returns a sink for cfg; Open connects.
func NewSink(cfg *SinkConfig) (*Sink, error) {
	return &Sink{cfg: cfg, eos: cfg.Delivery == "exactly_once"}, nil
}

// Guarantee reports the guarantee in force.
func (s *Sink) Guarantee() runtime.Guarantee {
	if s.eos {
		return runtime.ExactlyOnce
	}
	return runtime.AtLeastOnce
}

// RequiresCheckpoints: exactly-once needs them; at-least-once takes part
// only to flush, which Write already did.
func (s *Sink) RequiresCheckpoints() bool { return s.eos }

// Open connects, checks the topic (and, for exactly-once, the broker's
// transaction timeout), completes the transaction of the checkpoint the
// pipeline restarts from and aborts any other this sink left open.
func (s *Sink) Open(ctx context.Context, env runtime.Env) error {
	s.env = env
	m := env.Metrics
	s.written = m.Counter("records_written")
	s.bytesWritten = m.Counter("bytes_written")
	s.rejected = m.Counter("records_rejected")
	s.errors = m.Counter("produce_errors")
	s.commits = m.Counter("transactions_committed")
	s.aborts = m.Counter("transactions_aborted")
	if s.eos && !env.Checkpointing {
		return errors.New("kafka sink: delivery: exactly_once needs the pipeline to checkpoint")
	}
	opts, raw, err := s.cfg.dial(ctx, "sink", env.Logger)
	if err != nil {
		return err
	}
	s.raw, s.adm = raw, kadm.NewClient(raw)
	if err := s.open(ctx, opts); err != nil {
		s.adm.Close()
		return err
	}
	env.Logger.Info("kafka sink writing", "brokers", s.cfg.where(), "topic", s.cfg.Topic, "guarantee", string(s.Guarantee()), "transactional_id", s.txnID)
	return nil
}

func (s *Sink) open(ctx context.Context, opts []kgo.Opt) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	rcs, err := s.adm.DescribeTopicConfigs(ctx, s.cfg.Topic)
	if err != nil {
		return fmt.Errorf("kafka sink: describing topic %q on %s: %w", s.cfg.Topic, s.cfg.where(), err)
	}
	rc, err := rcs.On(s.cfg.Topic, nil)
	if err != nil || errors.Is(rc.Err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("kafka sink: topic %q does not exist on %s", s.cfg.Topic, s.cfg.where())
	}
	if rc.Err != nil {
		return fmt.Errorf("kafka sink: topic %q on %s: %w", s.cfg.Topic, s.cfg.where(), rc.Err)
	}
	s.maxBytes = 1048588 // Kafka's default
	for _, c := range rc.Configs {
		if c.Key == "max.message.bytes" {
			if n, err := strconv.Atoi(c.MaybeValue()); err == nil && n > 0 {
				s.maxBytes = n
			}
		}
	}

	opts = append(opts,
		kgo.DefaultProduceTopic(s.cfg.Topic),
		kgo.MaxBufferedRecords(s.cfg.MaxBufferedRecords),
		kgo.MaxBufferedBytes(int(s.cfg.MaxBufferedBytes)),
		kgo.ProducerLinger(s.cfg.Linger),
		kgo.ProducerBatchMaxBytes(int32(s.maxBytes)),
	)
	switch s.cfg.Acks {
	case "leader":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case "none":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	default:
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	}
	if !s.cfg.Idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	switch s.cfg.Compression {
	case "gzip":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.GzipCompression()))
	case "snappy":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	case "lz4":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	case "zstd":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	default:
		opts = append(opts, kgo.ProducerBatchCompression(kgo.NoCompression()))
	}
	switch s.cfg.Partitioner {
	case "round_robin":
		opts = append(opts, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	case "header":
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	default:
		opts = append(opts, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	}
	if s.eos {
		s.txnID = s.cfg.TransactionalID
		if s.txnID == "" {
			s.txnID = "wasmstream-" + s.env.Pipeline + "-" + s.env.Component
		}
		if err := s.checkTimeout(ctx); err != nil {
			return err
		}
		if err := s.recover(ctx); err != nil {
			return err
		}
		s.abortLingering(ctx, opts)
		opts = append(opts, kgo.TransactionalID(s.txnID), kgo.TransactionTimeout(s.cfg.TransactionTimeout))
	}
	s.opts = opts
	return s.newProducer(ctx)
}

// newProducer (re)creates the producer. A transactional one initialises
// its producer id now, which fences an earlier producer with the same id
// and aborts the transaction it left open.
func (s *Sink) newProducer(ctx context.Context) error {
	if s.cl != nil {
		s.cl.Close()
	}
	cl, err := kgo.NewClient(s.opts...)
	if err != nil {
		return fmt.Errorf("kafka sink: %w", err)
	}
	s.cl = cl
	if s.eos {
		if _, _, err := cl.ProducerID(ctx); err != nil {
			return fmt.Errorf("kafka sink: initialising transactional id %q on %s: %w", s.txnID, s.cfg.where(), err)
		}
	}
	return nil
}

// checkTimeout fails when transaction_timeout exceeds the broker's
// transaction.max.timeout.ms: the broker would refuse every transaction.
func (s *Sink) checkTimeout(ctx context.Context) error {
	maxMs := int64(900000) // Kafka's default
	brokers, err := s.adm.ListBrokers(ctx)
	if err == nil && len(brokers) > 0 {
		rcs, err := s.adm.DescribeBrokerConfigs(ctx, brokers[0].NodeID)
		if err == nil {
			for _, rc := range rcs {
				for _, c := range rc.Configs {
					if c.Key == "transaction.max.timeout.ms" {
						if n, err := strconv.ParseInt(c.MaybeValue(), 10, 64); err == nil && n > 0 {
							maxMs = n
						}
					}
				}
			}
		}
	}
	if limit := time.Duration(maxMs) * time.Millisecond; s.cfg.TransactionTimeout > limit {
		return fmt.Errorf("kafka sink: transaction_timeout %v exceeds the broker's transaction.max.timeout.ms (%v) on %s: lower it, or raise the broker's limit", s.cfg.TransactionTimeout, limit, s.cfg.where())
	}
	return nil
}

// completedFile records the last checkpoint whose transaction this sink
// committed, so that a restart does not try to commit it again after a
// later producer bumped the epoch (which the broker would refuse).
func (s *Sink) completedFile() string { return filepath.Join(s.env.DataDir, "kafka-committed") }

func (s *Sink) lastCompleted() uint64 {
	b, err := os.ReadFile(s.completedFile())
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n
}

func (s *Sink) markCompleted(id uint64) error {
	if err := os.MkdirAll(s.env.DataDir, 0o755); err != nil {
		return err
	}
	return durable.WriteFile(s.completedFile(), []byte(strconv.FormatUint(id, 10)+"\n"), 0o644)
}

// recover commits the transaction of the checkpoint the pipeline restarts
// from, when the previous run crashed before committing it.
func (s *Sink) recover(ctx context.Context) error {
	pr := s.env.Prepared
	if pr == nil || pr.Handle == nil {
		return nil
	}
	var h txnHandle
	if err := json.Unmarshal(pr.Handle, &h); err != nil {
		return fmt.Errorf("kafka sink: decoding checkpoint %d's transaction: %w", pr.Checkpoint, err)
	}
	if s.lastCompleted() >= h.Checkpoint {
		return nil
	}
	if err := s.endTxn(ctx, h, true); err != nil {
		return fmt.Errorf("kafka sink: committing the transaction of checkpoint %d (transactional id %q) on %s: %w", h.Checkpoint, h.ID, s.cfg.where(), err)
	}
	s.env.Logger.Info("kafka sink: committed the transaction a crash left prepared", "checkpoint", h.Checkpoint, "transactional_id", h.ID)
	s.commits.Add(1)
	return s.markCompleted(h.Checkpoint)
}

// endTxn ends the transaction h describes with a request of its own, as
// its producer would have: from another client, after a crash.
func (s *Sink) endTxn(ctx context.Context, h txnHandle, commit bool) error {
	for attempt := 0; ; attempt++ {
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = h.ID, h.ProducerID, h.Epoch, commit
		resp, err := req.RequestWith(ctx, s.raw)
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		switch {
		case err == nil:
			return nil
		case errors.Is(err, kerr.InvalidTxnState), errors.Is(err, kerr.ProducerFenced), errors.Is(err, kerr.InvalidProducerEpoch), errors.Is(err, kerr.InvalidProducerIDMapping):
			return fmt.Errorf("the broker no longer has it open (%w): it aborted it, most likely because transaction_timeout (%v) passed before the pipeline came back; its records are lost to read_committed consumers", err, s.cfg.TransactionTimeout)
		case attempt >= 20 || ctx.Err() != nil:
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 100 * time.Millisecond):
		}
	}
}

// abortLingering fences every other transactional id of this sink's that
// a broker lists as open (a crashed run with another id configuration),
// so that read_committed consumers are not held up until it times out.
func (s *Sink) abortLingering(ctx context.Context, base []kgo.Opt) {
	txns, err := s.adm.ListTransactions(ctx, nil, []string{"Ongoing"})
	if err != nil {
		s.env.Logger.Debug("kafka sink: listing open transactions", "err", err)
		return
	}
	prefix := s.txnID + "-"
	for id := range txns {
		if !strings.HasPrefix(id, prefix) {
			continue
		}
		cl, err := kgo.NewClient(append(slices.Clip(base), kgo.TransactionalID(id), kgo.TransactionTimeout(s.cfg.TransactionTimeout))...)
		if err != nil {
			continue
		}
		if _, _, err := cl.ProducerID(ctx); err == nil {
			s.env.Logger.Info("kafka sink: aborted a transaction a crashed run left open", "transactional_id", id)
			s.aborts.Add(1)
		}
		cl.Close()
	}
}

// recordSize is an upper estimate of a record's size in a batch of its
// own, which the broker compares with max.message.bytes.
func recordSize(r *runtime.Record) int {
	n := 61 + 21 + len(r.Key) + len(r.Value) // batch header, record framing
	for _, h := range r.Headers {
		n += 10 + len(h.Name) + len(h.Value)
	}
	return n
}

// Write produces recs and returns once the brokers acknowledged them. A
// record too large for the topic, or one a broker refuses for good, is
// reported as runtime.Rejected in a *runtime.BatchError; other failures
// are returned for the runtime to retry.
func (s *Sink) Write(ctx context.Context, recs []runtime.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil {
		return runtime.Fatal(s.broken)
	}
	if s.eos && !s.inTxn {
		if err := s.cl.BeginTransaction(); err != nil {
			s.broken = fmt.Errorf("kafka sink: beginning a transaction on %s: %w", s.cfg.where(), err)
			return runtime.Fatal(s.broken)
		}
		s.inTxn = true
	}
	if cap(s.kbuf) < len(recs) {
		s.kbuf = make([]kgo.Record, len(recs))
		s.errs = make([]error, len(recs))
	}
	kbuf, errs := s.kbuf[:len(recs)], s.errs[:len(recs)]
	clear(errs)
	hbuf := s.hbuf[:0]
	// The producer's own delivery timeout counts from a record's
	// timestamp, which here is the record's event time: bound the
	// records by a context instead.
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DeliveryTimeout)
	defer cancel()
	var wg sync.WaitGroup
	var nbytes int64
	for i := range recs {
		r := &recs[i]
		if n := recordSize(r); n > s.maxBytes {
			errs[i] = runtime.Rejected(fmt.Errorf("kafka sink: a record of %d bytes is over topic %q's max.message.bytes (%d) on %s", n, s.cfg.Topic, s.maxBytes, s.cfg.where()))
			continue
		}
		kr := &kbuf[i]
		*kr = kgo.Record{Key: r.Key, Value: r.Value}
		if r.Timestamp != 0 {
			kr.Timestamp = time.UnixMilli(r.Timestamp)
		}
		if len(r.Headers) > 0 {
			h0 := len(hbuf)
			for _, h := range r.Headers {
				if s.cfg.Partitioner == "header" && h.Name == s.cfg.PartitionHeader {
					p, err := strconv.ParseInt(string(h.Value), 10, 32)
					if err != nil {
						errs[i] = runtime.Rejected(fmt.Errorf("kafka sink: header %s = %q is not a partition number", h.Name, h.Value))
					}
					kr.Partition = int32(p)
					continue
				}
				hbuf = append(hbuf, kgo.RecordHeader{Key: h.Name, Value: h.Value})
			}
			kr.Headers = hbuf[h0:len(hbuf):len(hbuf)]
		}
		if errs[i] != nil {
			continue
		}
		nbytes += int64(len(r.Key) + len(r.Value))
		wg.Add(1)
		s.cl.Produce(ctx, kr, func(_ *kgo.Record, err error) {
			errs[i] = err
			wg.Done()
		})
	}
	wg.Wait()
	s.hbuf = hbuf
	var be runtime.BatchError
	for i, err := range errs {
		if err == nil {
			continue
		}
		if !errors.Is(err, runtime.ErrRejected) {
			if refused(err) {
				err = runtime.Rejected(fmt.Errorf("kafka sink: topic %q on %s refused a record: %w", s.cfg.Topic, s.cfg.where(), err))
			} else {
				s.errors.Add(1)
				err = fmt.Errorf("kafka sink: producing to topic %q on %s: %w", s.cfg.Topic, s.cfg.where(), err)
				if s.eos {
					// A transaction with a failed record cannot commit.
					s.broken = err
					return runtime.Fatal(err)
				}
			}
		}
		if errors.Is(err, runtime.ErrRejected) {
			s.rejected.Add(1)
		}
		be.Failed = append(be.Failed, i)
		be.Errs = append(be.Errs, err)
	}
	s.written.Add(int64(len(recs) - len(be.Failed)))
	s.bytesWritten.Add(nbytes)
	clear(kbuf) // drop references to the runtime's buffers
	if len(be.Failed) > 0 {
		return &be
	}
	return nil
}

// refused reports a broker's answer that retrying cannot change.
func refused(err error) bool {
	return errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge) ||
		errors.Is(err, kerr.InvalidRecord) || errors.Is(err, kerr.CorruptMessage) ||
		errors.Is(err, kerr.InvalidTimestamp)
}

// PrepareCheckpoint flushes the open transaction and returns its handle
// (nil when nothing was written since the last checkpoint, or without
// exactly-once).
func (s *Sink) PrepareCheckpoint(ctx context.Context, id uint64) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.eos || !s.inTxn {
		return nil, nil
	}
	if s.broken != nil {
		return nil, s.broken
	}
	if err := s.cl.Flush(ctx); err != nil {
		return nil, fmt.Errorf("kafka sink: flushing the transaction on %s: %w", s.cfg.where(), err)
	}
	pid, epoch, err := s.cl.ProducerID(ctx)
	if err != nil {
		return nil, fmt.Errorf("kafka sink: transactional id %q on %s: %w", s.txnID, s.cfg.where(), err)
	}
	h := &txnHandle{Checkpoint: id, ID: s.txnID, ProducerID: pid, Epoch: epoch}
	s.prepared = h
	return json.Marshal(h)
}

// CompleteCheckpoint commits the transaction prepared for checkpoint id.
// Called again after a failure, or for a handle already committed, it does
// nothing more.
func (s *Sink) CompleteCheckpoint(ctx context.Context, id uint64, handle []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.prepared
	if h == nil || h.Checkpoint != id {
		return nil
	}
	if s.inTxn {
		s.inTxn = false
		if err := s.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			// The outcome is unknown to the client; the broker knows. Ask
			// it to commit the transaction by its ids (a commit repeated
			// is acknowledged again), then start a new producer.
			s.env.Logger.Warn("kafka sink: committing the transaction failed; retrying by its producer id", "checkpoint", id, "err", err)
			if err := s.endTxn(ctx, *h, true); err != nil {
				return fmt.Errorf("kafka sink: committing checkpoint %d's transaction on %s: %w", id, s.cfg.where(), err)
			}
			if err := s.newProducer(ctx); err != nil {
				s.broken = err
			}
		}
	} else if err := s.endTxn(ctx, *h, true); err != nil {
		return fmt.Errorf("kafka sink: committing checkpoint %d's transaction on %s: %w", id, s.cfg.where(), err)
	}
	s.prepared = nil
	s.commits.Add(1)
	if err := s.markCompleted(id); err != nil {
		s.env.Logger.Warn("kafka sink: recording the committed checkpoint", "err", err)
	}
	return nil
}

// AbortCheckpoint aborts the transaction prepared for checkpoint id: its
// records are read again from the previous checkpoint after a restart.
func (s *Sink) AbortCheckpoint(ctx context.Context, id uint64, handle []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prepared = nil
	return s.abortLocked(ctx)
}

func (s *Sink) abortLocked(ctx context.Context) error {
	if !s.inTxn {
		return nil
	}
	s.inTxn = false
	s.aborts.Add(1)
	if err := s.cl.AbortBufferedRecords(ctx); err != nil {
		return err
	}
	return s.cl.EndTransaction(ctx, kgo.TryAbort)
}

// Close aborts a transaction no checkpoint holds (after a graceful stop
// the last checkpoint committed everything) and closes the clients.
func (s *Sink) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if s.cl != nil {
		if s.eos && s.prepared == nil {
			err = s.abortLocked(ctx)
		}
		s.cl.Close()
		s.cl = nil
	}
	if s.adm != nil {
		s.adm.Close()
		s.adm = nil
	}
	return err
}

var (
	_ runtime.OptionalParticipant = (*Sink)(nil)
	_ runtime.GuaranteeReporter   = (*Sink)(nil)
)
