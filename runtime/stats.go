package runtime

import (
	"maps"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of a running pipeline's counters.
type Stats struct {
	// RecordsIn counts records read from the source.
	RecordsIn int64
	// RecordsOut counts records written by the sink and the named outputs.
	RecordsOut int64
	// BytesIn and BytesOut are the sizes (keys and values) of the records
	// RecordsIn and RecordsOut count.
	BytesIn, BytesOut int64
	// DeadLettered counts records written to the dead-letter sink.
	DeadLettered int64
	// Acked counts source batches acknowledged as processed.
	Acked int64
	// Nacked counts source batches the pipeline gave up on.
	Nacked int64
	// OperatorRetries counts operator batch retries.
	OperatorRetries int64
	// SinkRetries counts sink write retries.
	SinkRetries int64
	// Checkpoints counts checkpoints taken.
	Checkpoints int64
	// CheckpointSeconds is the time the checkpoints took, in total and
	// for the last one.
	CheckpointSeconds, LastCheckpointSeconds float64
	// StateCacheBytes is what the state store holds in memory: written
	// since the last checkpoint and cached for reading (0 without state).
	StateCacheBytes int64
	// StateDiskBytes is the live state store's size on disk (0 without
	// state).
	StateDiskBytes int64
	// Operators holds per-operator counters, in pipeline order.
	Operators []OperatorStats
	// Throttled counts the source reads the rate limit held back
	// (WithRateLimit).
	Throttled int64
	// Connectors holds the metrics sources and sinks registered
	// (Env.Metrics), by component.
	Connectors []ConnectorMetric
}

// OperatorStats are one operator's counters.
type OperatorStats struct {
	Name       string
	RecordsIn  int64
	RecordsOut int64
	Batches    int64
	Failures   int64
	// BytesIn and BytesOut are the sizes (keys and values) of the records
	// the operator was given and returned.
	BytesIn, BytesOut int64
	// Latency is the time each batch took to process, retries included.
	Latency Histogram
	// Unkeyed counts the records the operator's key_by found no key in.
	Unkeyed int64
	// Metrics holds the operator's own counters (for Wasm operators, what
	// the guest adds through metric_add, and the instances replaced), when
	// its factory implements MetricsReporter.
	Metrics map[string]int64
	// Async holds the operator's async I/O figures, when it declares
	// targets.
	Async *AsyncStats
}

// AsyncStats are an operator's async requests: counts since the start, the
// requests in flight now (results not yet delivered included) and the
// latency of each request from its start to its result, retries included.
type AsyncStats struct {
	Submitted, Completed, Timeouts, Errors, Retries, Refused int64
	CacheHits, Batches, Batched                              int64
	InFlight                                                 int64
	Latency                                                  Histogram
}

// MetricsReporter is implemented by an OperatorFactory that keeps counters
// of its own; Stats reports them per operator.
type MetricsReporter interface {
	Metrics() map[string]int64
}

type opCounters struct {
	in, out, batches, failures, bytesIn, bytesOut atomic.Int64
	latency                                       latency
}

type counters struct {
	in, out, dead, acked, nacked, opRetries, sinkRetries, checkpoints atomic.Int64
	bytesIn, bytesOut                                                 atomic.Int64
	checkpointNs, lastCheckpointNs                                    atomic.Int64
	ops                                                               []opCounters
}

func (c *counters) snapshot(names []string, factories []OperatorFactory) Stats {
	s := Stats{
		RecordsIn: c.in.Load(), RecordsOut: c.out.Load(), DeadLettered: c.dead.Load(),
		Acked: c.acked.Load(), Nacked: c.nacked.Load(),
		OperatorRetries: c.opRetries.Load(), SinkRetries: c.sinkRetries.Load(), Checkpoints: c.checkpoints.Load(),
		BytesIn: c.bytesIn.Load(), BytesOut: c.bytesOut.Load(),
		CheckpointSeconds:     time.Duration(c.checkpointNs.Load()).Seconds(),
		LastCheckpointSeconds: time.Duration(c.lastCheckpointNs.Load()).Seconds(),
	}
	for i := range c.ops {
		o := &c.ops[i]
		s.Operators = append(s.Operators, OperatorStats{Name: names[i], RecordsIn: o.in.Load(),
			RecordsOut: o.out.Load(), Batches: o.batches.Load(), Failures: o.failures.Load(),
			BytesIn: o.bytesIn.Load(), BytesOut: o.bytesOut.Load(), Latency: o.latency.snapshot()})
		if r, ok := factories[i].(MetricsReporter); ok {
			if m := r.Metrics(); len(m) > 0 {
				s.Operators[i].Metrics = maps.Clone(m)
			}
		}
	}
	return s
}
