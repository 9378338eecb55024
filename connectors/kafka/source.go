package kafka

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wasmstream/wasmstream/runtime"
)

// Source reads Kafka partitions. Read is called from one goroutine; acks
// and the group's rebalance callbacks come from others.
type Source struct {
	cfg *SourceConfig
	env runtime.Env
	cl  *kgo.Client
	adm *kadm.Client
	log *slog.Logger

	// checkpointed: the pipeline checkpoints, so offsets live in its
	// checkpoints and go to the group only when one completes.
	checkpointed bool

	mu     sync.Mutex
	parts  map[tp]*partition
	recs   []runtime.Record
	hdrs   []runtime.Header
	closed bool

	commitStop chan struct{}
	commitDone chan struct{}

	lagMu sync.Mutex
	lag   map[tp]*runtime.Metric

	read, bytesRead, commits, commitErrs, rebalances *runtime.Metric
}

type tp struct {
	topic     string
	partition int32
}

func (t tp) String() string { return t.topic + "/" + strconv.Itoa(int(t.partition)) }

func parseTP(s string) (tp, bool) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return tp{}, false
	}
	p, err := strconv.ParseInt(s[i+1:], 10, 32)
	if err != nil {
		return tp{}, false
	}
	return tp{s[:i], int32(p)}, true
}

// partition is what the source knows of one partition it holds.
type partition struct {
	next    int64 // offset after the last record Read returned
	epoch   int32 // leader epoch of that record
	settled int64 // offset up to which every record is acknowledged (-1: none yet)
	window  []*span
	paused  bool // being revoked: its records are no longer returned
}

// span is the records of one partition in one Read's batch.
type span struct {
	end    int64 // offset after the span's last record
	epoch  int32
	done   bool
	failed bool
}

// batchAck is the spans of one batch.
type batchAck struct {
	s     *Source
	spans []*span
	parts []tp
}

// NewSource returns a source for cfg; Open connects.
func NewSource(cfg *SourceConfig) (*Source, error) {
	return &Source{cfg: cfg, parts: map[tp]*partition{}, lag: map[tp]*runtime.Metric{}}, nil
}

// Guarantee reports the guarantee the source gives its records.
func (s *Source) Guarantee() runtime.Guarantee {
	if s.checkpointed {
		return runtime.ExactlyOnce // positions move with the checkpoint's state
	}
	return runtime.AtLeastOnce
}

// RequiresCheckpoints: without a group, offsets can live only in the
// pipeline's checkpoint.
func (s *Source) RequiresCheckpoints() bool { return s.cfg.Group == "" }

// Open connects, checks the topics and starts consuming.
func (s *Source) Open(ctx context.Context, env runtime.Env) error {
	s.env = env
	s.log = env.Logger
	s.checkpointed = env.Checkpointing
	m := env.Metrics
	s.read = m.Counter("records_read")
	s.bytesRead = m.Counter("bytes_read")
	s.commits = m.Counter("offset_commits")
	s.commitErrs = m.Counter("offset_commit_errors")
	s.rebalances = m.Counter("rebalances")

	// The admin client checks the cluster and topics before consuming.
	opts, admCl, err := s.cfg.dial(ctx, "source", env.Logger)
	if err != nil {
		return err
	}
	s.adm = kadm.NewClient(admCl)
	assign, err := s.plan(ctx)
	if err != nil {
		s.adm.Close()
		return err
	}

	iso := kgo.ReadCommitted()
	if s.cfg.Isolation == "read_uncommitted" {
		iso = kgo.ReadUncommitted()
	}
	opts = append(opts,
		kgo.FetchIsolationLevel(iso),
		kgo.FetchMaxBytes(int32(s.cfg.FetchMaxBytes)),
		kgo.FetchMaxPartitionBytes(int32(s.cfg.PartitionBytes)),
		kgo.MetadataMaxAge(s.cfg.MetadataMaxAge),
		kgo.ConsumeResetOffset(s.startOffset()),
	)
	if s.cfg.Group != "" {
		opts = append(opts,
			kgo.ConsumerGroup(s.cfg.Group),
			kgo.DisableAutoCommit(),
			kgo.OnPartitionsAssigned(s.assigned),
			kgo.OnPartitionsRevoked(s.revoked),
			kgo.OnPartitionsLost(s.lost),
			kgo.AdjustFetchOffsetsFn(s.adjust),
			kgo.SessionTimeout(s.cfg.SessionTimeout),
		)
		if s.cfg.InstanceID != "" {
			opts = append(opts, kgo.InstanceID(s.cfg.InstanceID))
		}
		if s.cfg.Regex {
			opts = append(opts, kgo.ConsumeRegex())
		}
		opts = append(opts, kgo.ConsumeTopics(s.cfg.Topics...))
	} else {
		opts = append(opts, kgo.ConsumePartitions(assign))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		s.adm.Close()
		return fmt.Errorf("kafka source: %w", err)
	}
	s.cl = cl
	if s.cfg.Group != "" && !s.checkpointed {
		s.commitStop, s.commitDone = make(chan struct{}), make(chan struct{})
		go s.commitLoop()
	}
	mode := "assigned partitions"
	if s.cfg.Group != "" {
		mode = "group " + s.cfg.Group
	}
	s.log.Info("kafka source reading", "brokers", s.cfg.where(), "topics", strings.Join(s.cfg.Topics, ","), "mode", mode, "guarantee", string(s.Guarantee()))
	return nil
}

// startOffset is where a partition without a checkpointed or committed
// position starts.
func (s *Source) startOffset() kgo.Offset {
	switch s.cfg.Start {
	case "earliest":
		return kgo.NewOffset().AtStart()
	case "latest":
		return kgo.NewOffset().AtEnd()
	case "timestamp":
		return kgo.NewOffset().AfterMilli(s.cfg.startAt.UnixMilli())
	}
	if s.cfg.Reset == "latest" {
		return kgo.NewOffset().AtEnd()
	}
	return kgo.NewOffset().AtStart()
}

// plan checks that the topics exist and, without a group, returns the
// partitions to read with their start offsets (checkpointed positions
// first).
func (s *Source) plan(ctx context.Context) (map[string]map[int32]kgo.Offset, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	var topics kadm.TopicDetails
	var err error
	if s.cfg.Regex {
		topics, err = s.adm.ListTopics(ctx)
	} else {
		topics, err = s.adm.ListTopics(ctx, s.cfg.Topics...)
	}
	if err != nil {
		return nil, fmt.Errorf("kafka source: listing topics on %s: %w", s.cfg.where(), err)
	}
	var names []string
	if s.cfg.Regex {
		var res []*regexp.Regexp
		for _, t := range s.cfg.Topics {
			res = append(res, regexp.MustCompile("^(?:"+t+")$"))
		}
		for name := range topics {
			if slices.ContainsFunc(res, func(re *regexp.Regexp) bool { return re.MatchString(name) }) {
				names = append(names, name)
			}
		}
		if len(names) == 0 && s.cfg.Group == "" {
			return nil, fmt.Errorf("kafka source: no topic on %s matches %s", s.cfg.where(), strings.Join(s.cfg.Topics, ", "))
		}
	} else {
		for _, name := range s.cfg.Topics {
			d, ok := topics[name]
			if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
				return nil, fmt.Errorf("kafka source: topic %q does not exist on %s", name, s.cfg.where())
			}
			if d.Err != nil {
				return nil, fmt.Errorf("kafka source: topic %q on %s: %w", name, s.cfg.where(), d.Err)
			}
			names = append(names, name)
		}
	}
	if s.cfg.Group != "" {
		return nil, nil
	}
	assign := map[string]map[int32]kgo.Offset{}
	for _, name := range names {
		d := topics[name]
		offs := map[int32]kgo.Offset{}
		for p := range d.Partitions {
			if len(s.cfg.Partitions) > 0 && !slices.Contains(s.cfg.Partitions, p) {
				continue
			}
			t := tp{name, p}
			if pos, ok := s.checkpointPos(t); ok {
				offs[p] = kgo.NewOffset().At(pos)
				s.hold(t, pos)
			} else {
				offs[p] = s.startOffset()
				s.hold(t, -1)
			}
		}
		for _, p := range s.cfg.Partitions {
			if _, ok := d.Partitions[p]; !ok {
				return nil, fmt.Errorf("kafka source: topic %q on %s has no partition %d", name, s.cfg.where(), p)
			}
		}
		assign[name] = offs
	}
	return assign, nil
}

// checkpointPos returns a partition's position in the pipeline's last
// checkpoint.
func (s *Source) checkpointPos(t tp) (int64, bool) {
	b, ok := s.env.Splits[t.String()]
	if !ok || len(b) != 8 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(b)), true
}

// hold starts tracking partition t; next is where it reads from (-1:
// unknown until its first record).
func (s *Source) hold(t tp, next int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.parts[t] = &partition{next: next, settled: next, epoch: -1}
}

// adjust, in a group, starts each assigned partition at its checkpointed
// position when the checkpoint has one at or past the group's committed
// offset (a checkpoint completes before its offsets are committed, so the
// checkpoint can be ahead; another member's commits can be ahead of an old
// checkpoint).
func (s *Source) adjust(ctx context.Context, offs map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	for topic, ps := range offs {
		for p, o := range ps {
			t := tp{topic, p}
			committed := o.EpochOffset().Offset
			if pos, ok := s.checkpointPos(t); ok && pos >= committed {
				ps[p] = kgo.NewOffset().At(pos)
				committed = pos
			}
			if committed < 0 {
				committed = -1
			}
			s.hold(t, committed)
		}
	}
	return offs, nil
}

func (s *Source) assigned(ctx context.Context, _ *kgo.Client, ps map[string][]int32) {
	s.rebalances.Add(1)
	for topic, parts := range ps {
		for _, p := range parts {
			s.mu.Lock()
			if _, ok := s.parts[tp{topic, p}]; !ok {
				s.parts[tp{topic, p}] = &partition{next: -1, settled: -1, epoch: -1}
			}
			s.mu.Unlock()
		}
	}
}

// revoked settles the revoked partitions before the group hands them to
// another member: their records are no longer returned, everything read
// of them is written (and checkpointed, when the pipeline checkpoints),
// and, without checkpoints, their offsets are committed.
func (s *Source) revoked(ctx context.Context, cl *kgo.Client, ps map[string][]int32) {
	s.rebalances.Add(1)
	var revoked []tp
	s.mu.Lock()
	for topic, parts := range ps {
		for _, p := range parts {
			t := tp{topic, p}
			if pt := s.parts[t]; pt != nil {
				pt.paused = true
				revoked = append(revoked, t)
			}
		}
	}
	s.mu.Unlock()
	if len(revoked) == 0 {
		return
	}
	s.mu.Lock()
	closing := s.closed // the pipeline has written and checkpointed everything
	s.mu.Unlock()
	if s.env.Checkpoint != nil && !closing {
		if err := s.env.Checkpoint(ctx); err != nil {
			s.log.Warn("kafka source: partitions revoked before their records were settled; the next owner reads them again", "partitions", fmt.Sprint(revoked), "err", err)
		}
	}
	if !s.checkpointed {
		s.commit(ctx, revoked)
	}
	s.mu.Lock()
	for _, t := range revoked {
		delete(s.parts, t)
	}
	s.mu.Unlock()
	s.dropLag(revoked)
}

// lost drops partitions the group took away without a revoke (the member
// was kicked out): nothing can be committed for them.
func (s *Source) lost(ctx context.Context, cl *kgo.Client, ps map[string][]int32) {
	s.rebalances.Add(1)
	var lost []tp
	s.mu.Lock()
	for topic, parts := range ps {
		for _, p := range parts {
			lost = append(lost, tp{topic, p})
			delete(s.parts, tp{topic, p})
		}
	}
	s.mu.Unlock()
	s.dropLag(lost)
	s.log.Warn("kafka source: partitions lost (the group moved on without this member); the next owner reads their unsettled records again", "partitions", fmt.Sprint(lost))
}

// Read returns the next records of the held partitions, blocking until
// there are some. A Read cancelled while waiting has consumed nothing.
func (s *Source) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	max := s.env.BatchSize
	if max <= 0 {
		max = 1000
	}
	for {
		fetches := s.cl.PollRecords(ctx, max)
		if fetches.IsClientClosed() {
			return nil, nil, errors.New("kafka source: client closed")
		}
		if err := ctx.Err(); err != nil && fetches.NumRecords() == 0 {
			return nil, nil, err
		}
		var fatal error
		fetches.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			switch {
			case errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.UnknownTopicID):
				s.log.Warn("kafka source: topic or partition unknown to the brokers (deleted?); retrying", "topic", topic, "partition", p, "brokers", s.cfg.where())
			case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.GroupAuthorizationFailed), errors.Is(err, kerr.SaslAuthenticationFailed):
				fatal = fmt.Errorf("kafka source: topic %q on %s: %w", topic, s.cfg.where(), err)
			default:
				s.log.Warn("kafka source: fetch error; the client retries", "topic", topic, "partition", p, "err", err)
			}
		})
		if fatal != nil {
			return nil, nil, fatal
		}
		recs, ack := s.take(fetches)
		if len(recs) > 0 {
			return recs, ack, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
	}
}

// take turns fetched records into the batch to return, skipping those of
// partitions being revoked and those at or before a partition's position
// (a fetch that was in flight when a position was settled).
func (s *Source) take(fetches kgo.Fetches) ([]runtime.Record, runtime.AckFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	recs, hdrs := s.recs[:0], s.hdrs[:0]
	var nbytes int64
	ba := &batchAck{s: s}
	var cur *span
	var curTP tp
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		t := tp{fp.Topic, fp.Partition}
		pt := s.parts[t]
		if pt == nil || pt.paused {
			return
		}
		for _, r := range fp.Records {
			if pt.next >= 0 && r.Offset < pt.next {
				continue
			}
			if cur == nil || curTP != t {
				cur = &span{}
				curTP = t
				pt.window = append(pt.window, cur)
				ba.spans = append(ba.spans, cur)
				ba.parts = append(ba.parts, t)
			}
			h0 := len(hdrs)
			for _, h := range r.Headers {
				hdrs = append(hdrs, runtime.Header{Name: h.Key, Value: h.Value})
			}
			if s.cfg.MetadataHeaders {
				hdrs = append(hdrs,
					runtime.Header{Name: "kafka_topic", Value: []byte(r.Topic)},
					runtime.Header{Name: "kafka_partition", Value: strconv.AppendInt(nil, int64(r.Partition), 10)},
					runtime.Header{Name: "kafka_offset", Value: strconv.AppendInt(nil, r.Offset, 10)})
			}
			rec := runtime.Record{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp.UnixMilli()}
			if len(hdrs) > h0 {
				rec.Headers = hdrs[h0:len(hdrs):len(hdrs)]
			}
			recs = append(recs, rec)
			nbytes += int64(len(r.Key) + len(r.Value))
			pt.next, pt.epoch = r.Offset+1, r.LeaderEpoch
			cur.end, cur.epoch = pt.next, r.LeaderEpoch
		}
		s.setLag(t, fp.HighWatermark-pt.next)
	})
	s.recs, s.hdrs = recs, hdrs
	if len(recs) == 0 {
		return nil, nil
	}
	s.read.Add(int64(len(recs)))
	s.bytesRead.Add(nbytes)
	return recs, ba.ack
}

// ack settles a batch: the offsets of each partition advance over the
// spans acknowledged without a gap. A failed span stops its partition's
// progress for this run (the records are read again after a restart).
func (b *batchAck) ack(err error) {
	s := b.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, sp := range b.spans {
		sp.done, sp.failed = true, err != nil
		pt := s.parts[b.parts[i]]
		if pt == nil {
			continue // released meanwhile
		}
		for len(pt.window) > 0 && pt.window[0].done && !pt.window[0].failed {
			pt.settled = pt.window[0].end
			pt.window[0] = nil
			pt.window = pt.window[1:]
		}
	}
}

// SplitPositions returns each held partition's position: the offset after
// the last record returned. Called when everything read is acknowledged.
func (s *Source) SplitPositions() (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]byte, len(s.parts))
	for t, pt := range s.parts {
		if pt.next < 0 {
			continue // nothing read yet: no position to keep
		}
		out[t.String()] = binary.BigEndian.AppendUint64(nil, uint64(pt.next))
	}
	return out, nil
}

// PrepareCheckpoint returns the offsets to commit to the group once the
// checkpoint completes (nil without a group).
func (s *Source) PrepareCheckpoint(ctx context.Context, id uint64) ([]byte, error) {
	if s.cfg.Group == "" {
		return nil, nil
	}
	pos, _ := s.SplitPositions()
	if len(pos) == 0 {
		return nil, nil
	}
	return json.Marshal(pos)
}

// CompleteCheckpoint commits the checkpoint's offsets to the group, for
// lag tools and for a member that takes the partitions over. A failure is
// logged, not returned: the positions are safe in the checkpoint.
func (s *Source) CompleteCheckpoint(ctx context.Context, id uint64, handle []byte) error {
	if handle == nil || s.cl == nil {
		return nil
	}
	var pos map[string][]byte
	if err := json.Unmarshal(handle, &pos); err != nil {
		return fmt.Errorf("kafka source: decoding checkpoint %d's offsets: %w", id, err)
	}
	offs := map[string]map[int32]kgo.EpochOffset{}
	for name, b := range pos {
		t, ok := parseTP(name)
		if !ok || len(b) != 8 {
			continue
		}
		if offs[t.topic] == nil {
			offs[t.topic] = map[int32]kgo.EpochOffset{}
		}
		offs[t.topic][t.partition] = kgo.EpochOffset{Epoch: -1, Offset: int64(binary.BigEndian.Uint64(b))}
	}
	s.commitOffsets(ctx, offs)
	return nil
}

// AbortCheckpoint has nothing to undo: nothing was committed.
func (s *Source) AbortCheckpoint(ctx context.Context, id uint64, handle []byte) error { return nil }

// commitLoop commits settled offsets to the group every commit_interval
// (without checkpoints).
func (s *Source) commitLoop() {
	defer close(s.commitDone)
	t := time.NewTicker(s.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-s.commitStop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.CommitInterval*5)
			s.commit(ctx, nil)
			cancel()
		}
	}
}

// commit commits the settled offsets of parts (all held partitions when
// nil) that moved since the last commit.
func (s *Source) commit(ctx context.Context, parts []tp) {
	offs := map[string]map[int32]kgo.EpochOffset{}
	s.mu.Lock()
	for t, pt := range s.parts {
		if parts != nil && !slices.Contains(parts, t) {
			continue
		}
		if pt.settled < 0 {
			continue
		}
		if offs[t.topic] == nil {
			offs[t.topic] = map[int32]kgo.EpochOffset{}
		}
		offs[t.topic][t.partition] = kgo.EpochOffset{Epoch: -1, Offset: pt.settled}
	}
	s.mu.Unlock()
	s.commitOffsets(ctx, offs)
}

func (s *Source) commitOffsets(ctx context.Context, offs map[string]map[int32]kgo.EpochOffset) {
	if len(offs) == 0 || s.cfg.Group == "" {
		return
	}
	s.cl.CommitOffsetsSync(ctx, offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err == nil {
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if perr := kerr.ErrorForCode(p.ErrorCode); perr != nil && err == nil {
						err = fmt.Errorf("partition %s/%d: %w", t.Topic, p.Partition, perr)
					}
				}
			}
		}
		if err != nil {
			s.commitErrs.Add(1)
			s.log.Warn("kafka source: committing offsets to the group failed; the next commit covers them", "group", s.cfg.Group, "err", err)
			return
		}
		s.commits.Add(1)
	})
}

func (s *Source) setLag(t tp, lag int64) {
	if lag < 0 {
		lag = 0
	}
	s.lagMu.Lock()
	m := s.lag[t]
	if m == nil {
		m = s.env.Metrics.Gauge("lag", "topic", t.topic, "partition", strconv.Itoa(int(t.partition)))
		s.lag[t] = m
	}
	s.lagMu.Unlock()
	m.Set(lag)
}

func (s *Source) dropLag(ts []tp) {
	s.lagMu.Lock()
	defer s.lagMu.Unlock()
	for _, t := range ts {
		if m := s.lag[t]; m != nil {
			m.Set(0)
		}
	}
}

// Lag returns each held partition's lag as last fetched: the records
// between the high watermark and the partition's position.
func (s *Source) Lag() map[string]int64 {
	s.lagMu.Lock()
	defer s.lagMu.Unlock()
	out := map[string]int64{}
	for t, m := range s.lag {
		out[t.String()] = m.Value()
	}
	return out
}

// Close commits what is settled (without checkpoints), leaves the group
// and closes the clients.
func (s *Source) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	if s.commitStop != nil {
		close(s.commitStop)
		<-s.commitDone
	}
	if s.cl != nil {
		if s.cfg.Group != "" && !s.checkpointed {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			s.commit(cctx, nil)
			cancel()
		}
		s.cl.Close() // leaves the group: the revoke callback commits again, harmlessly
	}
	if s.adm != nil {
		s.adm.Close()
	}
	return nil
}

var (
	_ runtime.SplitSource         = (*Source)(nil)
	_ runtime.OptionalParticipant = (*Source)(nil)
	_ runtime.GuaranteeReporter   = (*Source)(nil)
)
