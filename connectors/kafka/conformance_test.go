package kafka_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/connectors/kafka"
	"github.com/wasmstream/wasmstream/connectors/kit"
	"github.com/wasmstream/wasmstream/runtime"
)

// topics gives each subtest of a suite a topic of its own.
type topics struct {
	c     *cluster
	mu    sync.Mutex
	names map[string]string
}

func (ts *topics) of(t *testing.T) string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if n, ok := ts.names[t.Name()]; ok {
		return n
	}
	limit := "20000"
	n := ts.c.topic(strings.ReplaceAll(t.Name(), "/", "-"), 3, map[string]*string{"max.message.bytes": &limit})
	ts.names[t.Name()] = n
	return n
}

func (ts *topics) server(dups bool) connectortest.Server {
	return connectortest.Server{
		Produce: func(t *testing.T, recs []runtime.Record) { ts.c.produce(ts.of(t), recs) },
		Written: func(t *testing.T) []runtime.Record { return ts.c.consume(ts.of(t), -1) },
		Restart: func(t *testing.T) { ts.c.restart() },
		Reject: func() runtime.Record {
			return runtime.Record{Key: []byte("big"), Value: []byte(strings.Repeat("x", 30000))}
		},
		Ordered:     true,
		DupsAllowed: dups,
		Timeout:     60 * time.Second,
	}
}

func conn(c *cluster) kafka.Connection {
	return kafka.Connection{Brokers: c.brokers, ClientID: "conformance", ConnectTimeout: 30 * time.Second,
		SASL: kit.SASL{}}
}

func sourceConfig(c *cluster, topic, group string) *kafka.SourceConfig {
	cfg := &kafka.SourceConfig{Connection: conn(c), Topics: []string{topic}, Group: group, Start: "earliest", Reset: "earliest",
		Isolation: "read_committed", FetchMaxBytes: 1 << 20, PartitionBytes: 1 << 20, CommitInterval: 50 * time.Millisecond,
		MetadataMaxAge: 5 * time.Second, SessionTimeout: 6 * time.Second}
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return cfg
}

func sinkConfig(c *cluster, topic, delivery string) *kafka.SinkConfig {
	cfg := &kafka.SinkConfig{Connection: conn(c), Topic: topic, Partitioner: "key", PartitionHeader: "kafka_partition",
		Compression: "none", Acks: "all", Idempotent: true, Delivery: delivery, TransactionTimeout: time.Minute,
		MaxBufferedRecords: 10000, MaxBufferedBytes: 16 << 20, DeliveryTimeout: 20 * time.Second}
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return cfg
}

// TestSourceConformance runs the stream source suite against the kfake
// cluster (restarted for the reconnect case), for both ways of reading:
// partitions assigned by the source, with offsets in checkpoints only,
// and a consumer group committing offsets as records are written.
func TestSourceConformance(t *testing.T) {
	c := newCluster(t)
	t.Run("assigned", func(t *testing.T) {
		ts := &topics{c: c, names: map[string]string{}}
		connectortest.RunStreamSourceSuite(t, func(t *testing.T) runtime.Source {
			s, _ := kafka.NewSource(sourceConfig(c, ts.of(t), ""))
			return s
		}, ts.server(false))
	})
	t.Run("group", func(t *testing.T) {
		ts := &topics{c: c, names: map[string]string{}}
		connectortest.RunStreamSourceSuite(t, func(t *testing.T) runtime.Source {
			s, _ := kafka.NewSource(sourceConfig(c, ts.of(t), "g-"+ts.of(t)))
			return s
		}, ts.server(true))
	})
}

// TestSinkConformance runs the stream sink suite against the kfake
// cluster, at-least-once and exactly-once (where records must appear once
// each, and only after their checkpoint completes).
func TestSinkConformance(t *testing.T) {
	c := newCluster(t)
	for _, delivery := range []string{"at_least_once", "exactly_once"} {
		t.Run(delivery, func(t *testing.T) {
			ts := &topics{c: c, names: map[string]string{}}
			connectortest.RunStreamSinkSuite(t, func(t *testing.T) runtime.Sink {
				s, _ := kafka.NewSink(sinkConfig(c, ts.of(t), delivery))
				return s
			}, ts.server(delivery == "at_least_once"))
		})
	}
}
