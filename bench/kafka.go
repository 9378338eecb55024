package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wasmstream/wasmstream/connectors/kafka"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/runtime"
)

// The Kafka workload: records of ValueSize-byte lowercase values with keys
// spread over the partitions, read from topic KafkaIn, upper-cased and
// written to topic KafkaOut, on a kfake cluster of KafkaBrokers brokers in
// process.
const (
	KafkaIn         = "in"
	KafkaOut        = "out"
	KafkaBrokers    = 3
	KafkaPartitions = 4
	// KafkaBatch is the pipeline's batch size and the most records the raw
	// client's loop takes per poll.
	KafkaBatch = 1000
	// KafkaCheckpointInterval is the exactly-once pipeline's checkpoint
	// interval: one transaction per checkpoint.
	KafkaCheckpointInterval = time.Second
)

// KafkaRun is the outcome of one measured run.
type KafkaRun struct {
	// Records is how many records reached KafkaOut, every one of them
	// checked upper-cased; Distinct how many different input records they
	// are (Records - Distinct are duplicates, which at-least-once allows).
	Records, Distinct int64
	// Elapsed is the measured time: for the raw client until its last
	// produce was acknowledged; at-least-once until the sink had written
	// every record; exactly-once until the pipeline had stopped, its last
	// transaction committed.
	Elapsed time.Duration
	// Checkpoints and Transactions are the pipeline's checkpoints and its
	// sink's committed transactions (0 for the raw client).
	Checkpoints, Transactions int64
}

// Rate is the run's records/s: the input's records over Elapsed.
func (r KafkaRun) Rate() float64 { return float64(r.Distinct) / r.Elapsed.Seconds() }

// KafkaBench is one in-process Kafka cluster holding the input, against
// which the raw franz-go loop and the pipelines run in turn, each into a
// fresh output topic. Not safe for concurrent use; Close releases it.
type KafkaBench struct {
	module  string // the uppercase guest
	records int
	dir     string
	reg     *runtime.Registry
	fake    *kfake.Cluster
	brokers []string
	adm     *kadm.Client
	runs    int
}

// NewKafkaBench starts a cluster, creates KafkaIn and produces records
// records to it. module is the uppercase guest the pipelines run on e;
// dir holds the pipelines' data directories.
func NewKafkaBench(ctx context.Context, e *host.Engine, module string, records int, dir string) (*KafkaBench, error) {
	fake, err := kfake.NewCluster(kfake.NumBrokers(KafkaBrokers), kfake.SeedTopics(KafkaPartitions, KafkaIn))
	if err != nil {
		return nil, fmt.Errorf("starting the kfake cluster: %w", err)
	}
	k := &KafkaBench{module: module, records: records, dir: dir, fake: fake, brokers: fake.ListenAddrs()}
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.brokers...))
	if err != nil {
		fake.Close()
		return nil, err
	}
	k.adm = kadm.NewClient(cl)
	k.reg = runtime.NewRegistry()
	host.Register(k.reg, e)
	kafka.Register(k.reg)
	if err := k.produceInput(ctx); err != nil {
		k.Close()
		return nil, err
	}
	return k, nil
}

// Close stops the cluster.
func (k *KafkaBench) Close() {
	k.adm.Close()
	k.fake.Close()
}

// key is input record i's key: its index, so that the output can be
// checked record by record, and spread over the partitions by its hash.
func key(i int) []byte { return fmt.Appendf(nil, "%08d", i) }

func (k *KafkaBench) produceInput(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.brokers...), kgo.DefaultProduceTopic(KafkaIn),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		return err
	}
	defer cl.Close()
	errc := make(chan error, 1)
	for i := range k.records {
		v := make([]byte, ValueSize)
		for j := range v {
			v[j] = 'a' + byte((i+j)%26)
		}
		cl.Produce(ctx, &kgo.Record{Key: key(i), Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errc <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("producing the input: %w", err)
	}
	select {
	case err := <-errc:
		return fmt.Errorf("producing the input: %w", err)
	default:
	}
	return nil
}

// freshOut deletes KafkaOut (what an earlier row wrote) and creates it
// empty.
func (k *KafkaBench) freshOut(ctx context.Context) error {
	if _, err := k.adm.DeleteTopic(ctx, KafkaOut); err != nil && !strings.Contains(err.Error(), "UNKNOWN_TOPIC") {
		return fmt.Errorf("deleting topic %s: %w", KafkaOut, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := k.adm.CreateTopic(ctx, KafkaPartitions, 1, nil, KafkaOut)
		if err == nil && resp.Err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("creating topic %s: %w", KafkaOut, errors.Join(err, resp.Err))
		}
		time.Sleep(10 * time.Millisecond) // the deletion is still under way
	}
}

// Raw consumes the input with the franz-go client and produces it,
// upper-cased in Go, to KafkaOut: a loop of PollRecords, produce, and a
// wait for the acknowledgements of the poll's records (at-least-once, the
// client's defaults: idempotent, acks all), with the kafka source's fetch
// sizes and the kafka sink's compression (none).
func (k *KafkaBench) Raw(ctx context.Context) (KafkaRun, error) {
	if err := k.freshOut(ctx); err != nil {
		return KafkaRun{}, err
	}
	parts := map[int32]kgo.Offset{}
	for p := range int32(KafkaPartitions) {
		parts[p] = kgo.NewOffset().AtStart()
	}
	start := time.Now()
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{KafkaIn: parts}),
		kgo.FetchMaxBytes(16<<20), kgo.FetchMaxPartitionBytes(1<<20), // the kafka source's defaults
		kgo.DefaultProduceTopic(KafkaOut),
		kgo.ProducerBatchCompression(kgo.NoCompression())) // the kafka sink's default (the client's is snappy)
	if err != nil {
		return KafkaRun{}, err
	}
	defer cl.Close()
	var out []*kgo.Record
	done := 0
	for done < k.records {
		fs := cl.PollRecords(ctx, KafkaBatch)
		if err := ctx.Err(); err != nil {
			return KafkaRun{}, err
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("fetching %s/%d: %w", t, p, err) })
		if ferr != nil {
			return KafkaRun{}, ferr
		}
		out = out[:0]
		fs.EachRecord(func(r *kgo.Record) {
			v := make([]byte, len(r.Value))
			for j, c := range r.Value {
				if 'a' <= c && c <= 'z' {
					c -= 32
				}
				v[j] = c
			}
			out = append(out, &kgo.Record{Key: r.Key, Value: v, Timestamp: r.Timestamp})
		})
		if err := cl.ProduceSync(ctx, out...).FirstErr(); err != nil {
			return KafkaRun{}, fmt.Errorf("producing: %w", err)
		}
		done += len(out)
	}
	run := KafkaRun{Elapsed: time.Since(start)}
	return k.check(ctx, run, false)
}

// Pipeline runs Kafka → the uppercase guest → Kafka through the runtime:
// the kafka source on assigned partitions from the earliest offset, and the
// kafka sink with its defaults (idempotent, acks all), or with
// exactlyOnce, delivery: exactly_once with a checkpoint every
// KafkaCheckpointInterval.
func (k *KafkaBench) Pipeline(ctx context.Context, exactlyOnce bool) (KafkaRun, error) {
	if err := k.freshOut(ctx); err != nil {
		return KafkaRun{}, err
	}
	k.runs++
	name, sink, state := "kafka-alo", "", `{query: "off"}`
	if exactlyOnce {
		name, sink = "kafka-eos", ", delivery: exactly_once"
		state = fmt.Sprintf(`{checkpoint_interval: %v, query: "off"}`, KafkaCheckpointInterval)
	}
	quoted := make([]string, len(k.brokers))
	for i, b := range k.brokers {
		quoted[i] = strconv.Quote(b)
	}
	brokers := strings.Join(quoted, ", ")
	spec, err := runtime.Parse(fmt.Appendf(nil, `
pipeline: %s
data_dir: %q
batch: {size: %d}
source: {kafka: {brokers: [%s], topics: [%s], start: earliest}}
operators: [{wasm: {module: %q}}]
sink: {kafka: {brokers: [%s], topic: %s%s}}
state: %s
`, name, filepath.Join(k.dir, fmt.Sprintf("%s-%d", name, k.runs)), KafkaBatch, brokers, KafkaIn, k.module, brokers, KafkaOut, sink, state), k.reg)
	if err != nil {
		return KafkaRun{}, err
	}
	p, err := runtime.Build(spec)
	if err != nil {
		return KafkaRun{}, err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- p.Run(runCtx) }()
	var run KafkaRun
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for run.Elapsed == 0 {
		select {
		case err := <-done:
			return KafkaRun{}, fmt.Errorf("the pipeline stopped after writing %d of %d records: %v", p.Stats().RecordsOut, k.records, err)
		case <-tick.C:
			if p.Stats().RecordsOut >= int64(k.records) {
				run.Elapsed = time.Since(start)
			}
		}
	}
	stop() // a graceful stop: a last checkpoint commits the last transaction
	if err := <-done; err != nil {
		return KafkaRun{}, fmt.Errorf("stopping the pipeline: %w", err)
	}
	if exactlyOnce {
		run.Elapsed = time.Since(start)
	}
	st := p.Stats()
	run.Checkpoints = st.Checkpoints
	for _, m := range st.Connectors {
		if m.Name == "transactions_committed" {
			run.Transactions += m.Value
		}
	}
	return k.check(ctx, run, exactlyOnce)
}

// check reads KafkaOut read_committed until it is quiet and fills in run's
// Records and Distinct. Every input record must be there, upper-cased, and
// with exact, only once.
func (k *KafkaBench) check(ctx context.Context, run KafkaRun, exact bool) (KafkaRun, error) {
	parts := map[int32]kgo.Offset{}
	for p := range int32(KafkaPartitions) {
		parts[p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{KafkaOut: parts}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return run, err
	}
	defer cl.Close()
	seen := make([]bool, k.records)
	var bad int64
	deadline := time.Now().Add(2 * time.Minute)
	for {
		wait := time.Second // once every record arrived: a quiet second ends it
		if run.Distinct < int64(k.records) {
			wait = time.Until(deadline)
		}
		pctx, cancel := context.WithTimeout(ctx, wait)
		fs := cl.PollFetches(pctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			run.Records++
			i, err := strconv.Atoi(string(r.Key))
			if err != nil || i < 0 || i >= k.records || !upper(r.Value) {
				bad++
				return
			}
			if !seen[i] {
				seen[i] = true
				run.Distinct++
			}
		})
		if fs.NumRecords() == 0 && (run.Distinct >= int64(k.records) || time.Now().After(deadline)) {
			break
		}
		if err := ctx.Err(); err != nil {
			return run, err
		}
	}
	switch {
	case bad > 0:
		return run, fmt.Errorf("%d records in %s were not the input upper-cased", bad, KafkaOut)
	case run.Distinct != int64(k.records):
		return run, fmt.Errorf("%d of the %d input records reached %s", run.Distinct, k.records, KafkaOut)
	case exact && run.Records != run.Distinct:
		return run, fmt.Errorf("exactly-once wrote %d records for %d inputs", run.Records, run.Distinct)
	}
	return run, nil
}

func upper(v []byte) bool {
	if len(v) != ValueSize {
		return false
	}
	for _, c := range v {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// KafkaResult is the median run of each row: the raw client, and the
// pipeline at-least-once and exactly-once.
type KafkaResult struct {
	Raw, AtLeastOnce, ExactlyOnce KafkaRun
}

// MeasureKafka runs the three rows runs times, each run on a cluster of
// its own with the input (records records) produced once and the rows in
// an order rotated from run to run, and returns the median run of each
// row by records/s.
func MeasureKafka(ctx context.Context, e *host.Engine, module string, records, runs int, dir string) (KafkaResult, error) {
	var raw, alo, eos []KafkaRun
	for r := range runs {
		k, err := NewKafkaBench(ctx, e, module, records, filepath.Join(dir, fmt.Sprintf("kafka-%d", r)))
		if err != nil {
			return KafkaResult{}, err
		}
		rows := []struct {
			name string
			runs *[]KafkaRun
			f    func(context.Context) (KafkaRun, error)
		}{
			{"raw franz-go", &raw, k.Raw},
			{"at-least-once", &alo, func(ctx context.Context) (KafkaRun, error) { return k.Pipeline(ctx, false) }},
			{"exactly-once", &eos, func(ctx context.Context) (KafkaRun, error) { return k.Pipeline(ctx, true) }},
		}
		// Each run starts with another row, so that none always pays for
		// what the one before it left (the input's garbage, a bigger heap).
		for i := range rows {
			row := rows[(r+i)%len(rows)]
			goruntime.GC()
			run, err := row.f(ctx)
			if err != nil {
				k.Close()
				return KafkaResult{}, fmt.Errorf("kafka %s: %w", row.name, err)
			}
			*row.runs = append(*row.runs, run)
		}
		k.Close()
	}
	return KafkaResult{Raw: medianRun(raw), AtLeastOnce: medianRun(alo), ExactlyOnce: medianRun(eos)}, nil
}

func medianRun(runs []KafkaRun) KafkaRun {
	slices.SortFunc(runs, func(a, b KafkaRun) int { return cmp.Compare(a.Rate(), b.Rate()) })
	return runs[len(runs)/2]
}
