package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/connectors/kafka"
	"github.com/wasmstream/wasmstream/runtime"
)

// cluster is the Kafka cluster a test talks to: franz-go's kfake cluster
// in process (three brokers, a real Kafka protocol implementation), or the
// real cluster WASMSTREAM_KAFKA_BROKERS names. Each test uses topics of
// its own.
type cluster struct {
	t       *testing.T
	brokers []string
	fake    *kfake.Cluster
	ports   []int
	dir     string
	adm     *kadm.Client
	opts    []kfake.Opt
}

func newCluster(t *testing.T, opts ...kfake.Opt) *cluster {
	t.Helper()
	c := &cluster{t: t}
	if env := os.Getenv("WASMSTREAM_KAFKA_BROKERS"); env != "" && len(opts) == 0 {
		c.brokers = strings.Split(env, ",")
	} else {
		c.dir = t.TempDir()
		c.opts = opts
		c.start(nil)
		t.Cleanup(func() { c.fake.Close() })
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	c.adm = kadm.NewClient(cl)
	t.Cleanup(c.adm.Close)
	return c
}

// start starts the kfake cluster, on ports when given (a restart).
func (c *cluster) start(ports []int) {
	opts := append([]kfake.Opt{kfake.NumBrokers(3), kfake.DataDir(c.dir), kfake.SyncWrites()}, c.opts...)
	if ports != nil {
		opts = append(opts, kfake.Ports(ports...))
	}
	fake, err := kfake.NewCluster(opts...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.fake = fake
	c.brokers = fake.ListenAddrs()
	if ports == nil {
		for _, a := range c.brokers {
			_, p, _ := net.SplitHostPort(a)
			n, _ := strconv.Atoi(p)
			c.ports = append(c.ports, n)
		}
	}
}

// restart kills the cluster and starts it again on the same ports with
// its data.
func (c *cluster) restart() {
	if c.fake == nil {
		c.t.Skip("restarting a real cluster is not possible from a test")
	}
	c.fake.Close()
	c.start(c.ports)
}

// topic creates a topic of partitions partitions, named after the test.
func (c *cluster) topic(name string, partitions int32, configs map[string]*string) string {
	c.t.Helper()
	name = fmt.Sprintf("%s-%s-%d", strings.NewReplacer("/", "-", " ", "-").Replace(c.t.Name()), name, time.Now().UnixNano()%1e6)
	if _, err := c.adm.CreateTopic(c.t.Context(), partitions, 1, configs, name); err != nil {
		c.t.Fatal(err)
	}
	return name
}

// produce writes recs to topic with a client of its own.
func (c *cluster) produce(topic string, recs []runtime.Record) {
	c.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		c.t.Fatal(err)
	}
	defer cl.Close()
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		kr := &kgo.Record{Key: r.Key, Value: r.Value}
		if r.Timestamp != 0 {
			kr.Timestamp = time.UnixMilli(r.Timestamp)
		}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Name, Value: h.Value})
		}
		krs[i] = kr
	}
	if err := cl.ProduceSync(c.t.Context(), krs...).FirstErr(); err != nil {
		c.t.Fatal(err)
	}
}

// consume reads topic from the start until n records arrived (or, with
// n < 0, until it has been quiet for a second), read_committed.
func (c *cluster) consume(topic string, n int) []runtime.Record {
	c.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		c.t.Fatal(err)
	}
	defer cl.Close()
	var out []runtime.Record
	deadline := time.Now().Add(30 * time.Second)
	for n < 0 || len(out) < n {
		wait := 30 * time.Second
		if n < 0 {
			wait = time.Second
		}
		ctx, cancel := context.WithTimeout(c.t.Context(), min(wait, time.Until(deadline)))
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			rec := runtime.Record{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp.UnixMilli()}
			for _, h := range r.Headers {
				rec.Headers = append(rec.Headers, runtime.Header{Name: h.Key, Value: h.Value})
			}
			out = append(out, rec)
		})
		if fs.NumRecords() == 0 && (n < 0 || time.Now().After(deadline)) {
			break
		}
	}
	return out
}

func records(prefix string, n, keys int) []runtime.Record {
	recs := make([]runtime.Record, n)
	for i := range recs {
		recs[i] = runtime.Record{Key: []byte(fmt.Sprintf("k%d", i%keys)), Value: []byte(fmt.Sprintf("%s-%05d", prefix, i)), Timestamp: 1700000000000 + int64(i)}
	}
	return recs
}

// reg is a registry with the kafka connectors and a collecting sink.
func reg() *runtime.Registry {
	r := runtime.NewRegistry()
	kafka.Register(r)
	runtime.AddSink(r, "null", "replaced in tests", func(*struct{}) (runtime.Sink, error) { return &connectortest.Collector{}, nil })
	runtime.AddSource(r, "null", "replaced in tests", func(*struct{}) (runtime.Source, error) { return nil, errors.New("replaced in tests") })
	return r
}

func build(t *testing.T, yaml string, opts ...runtime.Option) *runtime.Pipeline {
	t.Helper()
	spec, err := runtime.Parse([]byte(yaml), reg())
	if err != nil {
		t.Fatal(err)
	}
	spec.DataDir = t.TempDir()
	if os.Getenv("KAFKA_TEST_LOG") != "" {
		opts = append(opts, runtime.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))))
	}
	p, err := runtime.Build(spec, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runUntil runs p until cond holds, then stops it gracefully.
func runUntil(t *testing.T, p *runtime.Pipeline, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("pipeline ended before %s: %v", what, err)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("timed out waiting for %s", what)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func values(recs []runtime.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	slices.Sort(out)
	return out
}

// TestSourceReadsEveryPartition: without a group the source reads every
// partition; key, value, headers and timestamp arrive as produced, and a
// second run resumes from the checkpoint with nothing read twice.
func TestSourceReadsEveryPartition(t *testing.T) {
	c := newCluster(t)
	topic := c.topic("in", 4, nil)
	want := records("a", 2000, 50)
	want[7].Headers = []runtime.Header{{Name: "trace", Value: []byte("t-7")}}
	c.produce(topic, want)
	yaml := fmt.Sprintf(`
pipeline: kread
source: {kafka: {brokers: [%q], topics: [%q], start: earliest}}
sink: {null: {}}
batch: {size: 100, linger: 5ms}
state: {checkpoint_interval: 50ms, query: "off"}
`, c.brokers[0], topic)
	spec, err := runtime.Parse([]byte(yaml), reg())
	if err != nil {
		t.Fatal(err)
	}
	spec.DataDir = t.TempDir()
	sink := &connectortest.Collector{}
	p, err := runtime.Build(spec, runtime.WithSink(sink))
	if err != nil {
		t.Fatal(err)
	}
	runUntil(t, p, "2000 records", func() bool { return len(sink.Records()) >= 2000 })
	got := sink.Records()
	if !slices.Equal(values(got), values(want)) {
		t.Fatalf("read %d records, want the 2000 produced", len(got))
	}
	byValue := map[string]runtime.Record{}
	for _, r := range got {
		byValue[string(r.Value)] = r
	}
	r7 := byValue[string(want[7].Value)]
	if string(r7.Key) != "k7" || r7.Timestamp != want[7].Timestamp || len(r7.Headers) != 1 || string(r7.Headers[0].Value) != "t-7" {
		t.Fatalf("record 7 read as %+v", r7)
	}
	if p.Stats().Checkpoints == 0 {
		t.Fatal("a source without a group must checkpoint its offsets")
	}

	// More records; a second run reads only those.
	more := records("b", 300, 50)
	c.produce(topic, more)
	sink2 := &connectortest.Collector{}
	p, err = runtime.Build(spec, runtime.WithSink(sink2))
	if err != nil {
		t.Fatal(err)
	}
	runUntil(t, p, "300 more records", func() bool { return len(sink2.Records()) >= 300 })
	if got := values(sink2.Records()); !slices.Equal(got, values(more)) {
		t.Fatalf("second run read %d records (first %q), want only the 300 new ones", len(got), got[0])
	}
}

// TestSinkWritesAtLeastOnce: records written by the sink arrive with key,
// headers and timestamp, partitioned by key (one key, one partition).
func TestSinkWritesAtLeastOnce(t *testing.T) {
	c := newCluster(t)
	in, out := c.topic("in", 3, nil), c.topic("out", 4, nil)
	want := records("s", 1000, 20)
	want[3].Headers = []runtime.Header{{Name: "h", Value: []byte("v")}}
	c.produce(in, want)
	p := build(t, fmt.Sprintf(`
pipeline: kwrite
source: {kafka: {brokers: [%q], topics: [%q], group: g1, start: earliest}}
sink: {kafka: {brokers: [%q], topic: %q, compression: lz4}}
batch: {size: 100, linger: 5ms}
`, c.brokers[0], in, c.brokers[1], out))
	var got []runtime.Record
	runUntil(t, p, "1000 records out", func() bool { return p.Stats().RecordsOut >= 1000 })
	got = c.consume(out, 1000)
	if !slices.Equal(values(got), values(want)) {
		t.Fatalf("consumed %d records, want the 1000 written", len(got))
	}
	for _, r := range got {
		if string(r.Value) == string(want[3].Value) && (len(r.Headers) != 1 || r.Timestamp != want[3].Timestamp) {
			t.Fatalf("record 3 arrived as %+v", r)
		}
	}
	// The group's offsets were committed as the records were written.
	offs, err := c.adm.FetchOffsets(t.Context(), "g1")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	offs.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != 1000 {
		t.Fatalf("group committed offsets summing to %d, want 1000", total)
	}
}

// TestRecordTooLargeIsDeadLettered: a record over the topic's
// max.message.bytes goes to the dead-letter sink with the reason; the
// others are written.
func TestRecordTooLargeIsDeadLettered(t *testing.T) {
	c := newCluster(t)
	limit := "2000"
	in, out := c.topic("in", 1, nil), c.topic("out", 1, map[string]*string{"max.message.bytes": &limit})
	recs := records("r", 10, 2)
	recs[4].Value = []byte(strings.Repeat("x", 5000))
	c.produce(in, recs)
	dlq := &connectortest.Collector{}
	p := build(t, fmt.Sprintf(`
pipeline: klarge
source: {kafka: {brokers: [%q], topics: [%q], start: earliest}}
sink: {kafka: {brokers: [%q], topic: %q}}
on_error: {action: dead_letter, dead_letter: {null: {}}}
state: {checkpoint_interval: 20ms, query: "off"}
`, c.brokers[0], in, c.brokers[0], out), runtime.WithDeadLetter(dlq))
	runUntil(t, p, "9 records out and one dead", func() bool { return p.Stats().RecordsOut >= 9 && len(dlq.Records()) >= 1 })
	dead := dlq.Records()
	if len(dead) != 1 || len(dead[0].Value) != 5000 {
		t.Fatalf("dead-lettered %d records", len(dead))
	}
	var reason string
	for _, h := range dead[0].Headers {
		if h.Name == runtime.HeaderError {
			reason = string(h.Value)
		}
	}
	if !strings.Contains(reason, "max.message.bytes") || !strings.Contains(reason, out) {
		t.Fatalf("dead letter's reason %q does not name the limit and topic", reason)
	}
	if got := c.consume(out, 9); len(got) != 9 {
		t.Fatalf("consumed %d, want 9", len(got))
	}
}

// TestBadInputErrors: an unknown topic, unreachable brokers, a
// transaction timeout over the broker's limit and wrong credentials fail
// Open with errors naming the connector, the brokers and the topic.
func TestBadInputErrors(t *testing.T) {
	c := newCluster(t)
	topic := c.topic("t", 1, nil)
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown topic", fmt.Sprintf(`source: {kafka: {brokers: [%q], topics: [nope]}}
sink: {null: {}}`, c.brokers[0]), []string{"kafka source", "nope", "does not exist", c.brokers[0]}},
		{"unreachable", fmt.Sprintf(`source: {kafka: {brokers: [%q], topics: [x], connect_timeout: 500ms}}
sink: {null: {}}`, deadAddr), []string{"kafka source", deadAddr, "did not answer"}},
		{"sink unknown topic", fmt.Sprintf(`source: {null: {}}
sink: {kafka: {brokers: [%q], topic: nope}}`, c.brokers[0]), []string{"kafka sink", "nope", "does not exist"}},
		{"transaction timeout", fmt.Sprintf(`source: {null: {}}
sink: {kafka: {brokers: [%q], topic: %q, delivery: exactly_once, transaction_timeout: 1h}}`, c.brokers[0], topic), []string{"kafka sink", "transaction.max.timeout.ms", "1h0m0s"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := runtime.Parse([]byte("pipeline: bad\n"+tc.yaml), reg())
			if err != nil {
				t.Fatal(err)
			}
			spec.DataDir = t.TempDir()
			p, err := runtime.Build(spec, runtime.WithSource(&emptySource{}))
			if strings.Contains(tc.yaml, "source: {kafka") {
				p, err = runtime.Build(spec)
			}
			if err != nil {
				t.Fatal(err)
			}
			err = p.Run(t.Context())
			if err == nil {
				t.Fatal("Run succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestWrongCredentials: a cluster with SASL refuses a wrong password with
// a clear error that does not show the password.
func TestWrongCredentials(t *testing.T) {
	c := newCluster(t, kfake.EnableSASL(), kfake.Superuser("PLAIN", "admin", "right"))
	t.Setenv("KAFKA_PASSWORD", "wrong-secret")
	spec, err := runtime.Parse([]byte(fmt.Sprintf(`pipeline: sasl
source: {kafka: {brokers: [%q], topics: [x], connect_timeout: 2s, sasl: {mechanism: plain, username: admin, password: "${KAFKA_PASSWORD}"}}}
sink: {null: {}}`, c.brokers[0])), reg())
	if err != nil {
		t.Fatal(err)
	}
	spec.DataDir = t.TempDir()
	p, err := runtime.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "kafka source") || !strings.Contains(err.Error(), c.brokers[0]) {
		t.Fatalf("Run: %v; want an error naming the source and brokers", err)
	}
	if strings.Contains(err.Error(), "wrong-secret") {
		t.Fatalf("the error shows the password: %v", err)
	}
}

type emptySource struct{}

func (emptySource) Open(context.Context, runtime.Env) error { return nil }
func (emptySource) Close(context.Context) error             { return nil }
func (emptySource) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	<-ctx.Done()
	return nil, nil, ctx.Err()
}

// TestRebalanceLosesNothing: a second member joins the group mid-stream;
// the revoked partitions are settled before they move, and every record
// reaches one of the two pipelines (at-least-once: a record may repeat
// only if it was not settled, which the revoke prevents here).
func TestRebalanceLosesNothing(t *testing.T) {
	c := newCluster(t)
	in := c.topic("in", 6, nil)
	want := records("rb", 3000, 60)
	c.produce(in, want)
	yaml := fmt.Sprintf(`
pipeline: krb
source: {kafka: {brokers: [%q], topics: [%q], group: rb, start: earliest}}
sink: {null: {}}
batch: {size: 10, linger: 1ms}
`, c.brokers[0], in)
	var mu sync.Mutex
	seen := map[string]int{}
	collect := func(recs []runtime.Record) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range recs {
			seen[string(r.Value)]++
		}
	}
	// The first member writes slowly, so that the second joins while it
	// still holds records in flight.
	s1 := &funcSink{fn: func(recs []runtime.Record) { time.Sleep(20 * time.Millisecond); collect(recs) }}
	s2 := &funcSink{fn: collect}
	p1, p2 := build(t, yaml, runtime.WithSink(s1)), build(t, yaml, runtime.WithSink(s2))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errs := make(chan error, 2)
	go func() { errs <- p1.Run(ctx) }()
	connectortest.WaitFor(t, 30*time.Second, "the first member to read", func() bool { return p1.Stats().RecordsOut > 200 })
	go func() { errs <- p2.Run(ctx) }()
	connectortest.WaitFor(t, 60*time.Second, "every record", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == len(want)
	})
	cancel()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	if p2.Stats().RecordsOut == 0 {
		t.Fatal("the second member read nothing: no rebalance happened")
	}
	t.Logf("member 1 wrote %d, member 2 wrote %d, %d duplicates", p1.Stats().RecordsOut, p2.Stats().RecordsOut, dups)
	if dups != 0 {
		t.Fatalf("%d records delivered twice across the rebalance", dups)
	}
}

type funcSink struct{ fn func([]runtime.Record) }

func (s *funcSink) Open(context.Context, runtime.Env) error { return nil }
func (s *funcSink) Close(context.Context) error             { return nil }
func (s *funcSink) Write(_ context.Context, recs []runtime.Record) error {
	s.fn(recs)
	return nil
}

// TestSinkSurvivesABrokerRestart: the whole cluster is killed and
// restarted mid-stream; the sink's writes fail meanwhile and are retried,
// and every record arrives.
func TestSinkSurvivesABrokerRestart(t *testing.T) {
	c := newCluster(t)
	if c.fake == nil {
		t.Skip("needs the in-process cluster to restart it")
	}
	out := c.topic("out", 2, nil)
	src := &slowSource{recs: records("f", 400, 10)}
	p := build(t, fmt.Sprintf(`
pipeline: kfault
source: {null: {}}
sink: {kafka: {brokers: [%q], topic: %q, delivery_timeout: 5s}}
batch: {size: 10, linger: 1ms}
on_error: {backoff: 50ms, max_backoff: 500ms}
`, c.brokers[0], out), runtime.WithSource(src))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	connectortest.WaitFor(t, 30*time.Second, "some records written", func() bool { return p.Stats().RecordsOut >= 100 })
	c.restart()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("the pipeline did not finish after the restart")
	}
	got := c.consume(out, -1)
	seen := map[string]bool{}
	for _, r := range got {
		seen[string(r.Value)] = true
	}
	if len(seen) != 400 {
		t.Fatalf("%d distinct records arrived, want 400 (%d in all)", len(seen), len(got))
	}
}

// slowSource returns its records ten at a time, then io.EOF.
type slowSource struct {
	recs []runtime.Record
	next int
}

func (s *slowSource) Open(context.Context, runtime.Env) error { return nil }
func (s *slowSource) Close(context.Context) error             { return nil }
func (s *slowSource) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	if s.next >= len(s.recs) {
		return nil, nil, io.EOF
	}
	time.Sleep(2 * time.Millisecond) // a steady stream, so the restart lands mid-way
	end := min(s.next+10, len(s.recs))
	out := s.recs[s.next:end]
	s.next = end
	return out, func(error) {}, nil
}

// TestSASLAndStartTimestamp: with the right SCRAM credentials (given as
// ${ENV}) the source reads a cluster that requires them, starting at the
// first record at or after start_timestamp.
func TestSASLAndStartTimestamp(t *testing.T) {
	c := newCluster(t, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "admin", "s3cret"), kfake.SeedTopics(2, "secured"))
	auth := scram.Auth{User: "admin", Pass: "s3cret"}.AsSha256Mechanism()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers...), kgo.SASL(auth), kgo.DefaultProduceTopic("secured"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i := range 100 {
		r := &kgo.Record{Key: []byte(strconv.Itoa(i % 7)), Value: []byte(fmt.Sprintf("t%03d", i)), Timestamp: base.Add(time.Duration(i) * time.Second)}
		if err := cl.ProduceSync(t.Context(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("KAFKA_PASSWORD", "s3cret")
	from := base.Add(60 * time.Second).Format(time.RFC3339)
	sink := &connectortest.Collector{}
	p := build(t, fmt.Sprintf(`
pipeline: ksasl
source: {kafka: {brokers: [%q], topics: [secured], start: timestamp, start_timestamp: %q,
  sasl: {mechanism: scram-sha-256, username: admin, password: "${KAFKA_PASSWORD}"}}}
sink: {null: {}}
state: {checkpoint_interval: 50ms, query: "off"}
`, c.brokers[0], from), runtime.WithSink(sink))
	runUntil(t, p, "40 records", func() bool { return len(sink.Records()) >= 40 })
	got := values(sink.Records())
	if len(got) != 40 || got[0] != "t060" || got[39] != "t099" {
		t.Fatalf("read %d records from %v to %v, want t060..t099", len(got), got[0], got[len(got)-1])
	}
	var lag int
	for _, m := range p.Stats().Connectors {
		if m.Name == "lag" && m.Gauge {
			lag++
		}
	}
	if lag != 2 {
		t.Fatalf("%d lag gauges, want one per partition (2)", lag)
	}
}

// TestSinkPartitionFromHeader: with partitioner: header, each record goes
// to the partition its header names, and the header is not written.
func TestSinkPartitionFromHeader(t *testing.T) {
	c := newCluster(t)
	out := c.topic("out", 4, nil)
	var recs []runtime.Record
	for i := range 40 {
		recs = append(recs, runtime.Record{Key: []byte("same-key"), Value: []byte(fmt.Sprintf("p%d-%02d", i%4, i)),
			Headers: []runtime.Header{{Name: "kafka_partition", Value: []byte(strconv.Itoa(i % 4))}, {Name: "keep", Value: []byte("y")}}})
	}
	p := build(t, fmt.Sprintf(`
pipeline: kpart
source: {null: {}}
sink: {kafka: {brokers: [%q], topic: %q, partitioner: header}}
`, c.brokers[0], out), runtime.WithSource(&slowSource{recs: recs}))
	if err := p.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers...), kgo.ConsumeTopics(out), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	n := 0
	for n < 40 {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		if fs.NumRecords() == 0 {
			t.Fatalf("%d of 40 records arrived", n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			if want := fmt.Sprintf("p%d-", r.Partition); !strings.HasPrefix(string(r.Value), want) {
				t.Errorf("record %s in partition %d", r.Value, r.Partition)
			}
			if len(r.Headers) != 1 || r.Headers[0].Key != "keep" {
				t.Errorf("record %s has headers %v", r.Value, r.Headers)
			}
		})
	}
}

// TestRegexTopics: with regex: true the source reads every topic whose
// name matches, in a group and without one.
func TestRegexTopics(t *testing.T) {
	c := newCluster(t)
	a, b := c.topic("rx-a", 2, nil), c.topic("rx-b", 1, nil)
	other := c.topic("other", 1, nil)
	c.produce(a, records("a", 30, 3))
	c.produce(b, records("b", 20, 3))
	c.produce(other, records("o", 10, 3))
	prefix := strings.TrimSuffix(a, a[strings.Index(a, "rx-a"):])
	for _, group := range []string{"", "rx-group"} {
		t.Run("group="+group, func(t *testing.T) {
			sink := &connectortest.Collector{}
			p := build(t, fmt.Sprintf(`
pipeline: krx
source: {kafka: {brokers: [%q], topics: [%q], regex: true, group: %q, start: earliest}}
sink: {null: {}}
state: {checkpoint_interval: 50ms, query: "off"}
`, c.brokers[0], regexp.QuoteMeta(prefix)+"rx-.*", group), runtime.WithSink(sink))
			runUntil(t, p, "50 records", func() bool { return len(sink.Records()) >= 50 })
			for _, v := range values(sink.Records()) {
				if v[0] == 'o' {
					t.Fatalf("read %q from a topic that does not match", v)
				}
			}
			if n := len(sink.Records()); n != 50 {
				t.Fatalf("read %d records, want 50", n)
			}
		})
	}
}
