package runtime

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// MaxConnectorSeries bounds how many metric series (a name with one set of
// label values) one component may register: a source with a label per
// partition on a topic of thousands of partitions, or label values built
// from data, must not grow the process's memory or its metrics page
// without bound. Registrations past it share one series that is not
// exported, and the component's ConnectorMetrics.Dropped counts them.
const MaxConnectorSeries = 1000

// ConnectorMetrics is where a source or sink keeps its own metrics:
// counters (records, bytes, errors, retries, commits) and gauges (lag,
// connected). The runtime exports them with the pipeline's metrics as
// wasmstream_connector_<name>, labelled with the component and the
// labels given. Safe for concurrent use; a nil *ConnectorMetrics hands out
// series that count but are not exported, so components need not check.
type ConnectorMetrics struct {
	component string
	mu        sync.Mutex
	series    map[string]*Metric
	order     []*Metric
	dropped   atomic.Int64
	discard   Metric
}

// Metric is one series: a counter (only Add) or a gauge (Set).
type Metric struct {
	name   string
	labels []string // name, value pairs
	gauge  bool
	v      atomic.Int64
}

// Add adds n to the series.
func (m *Metric) Add(n int64) { m.v.Add(n) }

// Set sets a gauge.
func (m *Metric) Set(n int64) { m.v.Store(n) }

// Value returns the series' value.
func (m *Metric) Value() int64 { return m.v.Load() }

func newConnectorMetrics(component string) *ConnectorMetrics {
	return &ConnectorMetrics{component: component, series: map[string]*Metric{}}
}

// Counter returns the counter called name (lower case, words joined by
// underscores: records_written) with the given label name/value pairs,
// registering it the first time.
func (c *ConnectorMetrics) Counter(name string, labels ...string) *Metric {
	return c.get(name, false, labels)
}

// Gauge returns the gauge called name with the given label pairs.
func (c *ConnectorMetrics) Gauge(name string, labels ...string) *Metric {
	return c.get(name, true, labels)
}

func (c *ConnectorMetrics) get(name string, gauge bool, labels []string) *Metric {
	if c == nil {
		return new(Metric)
	}
	if len(labels)%2 != 0 {
		labels = append(slices.Clone(labels), "")
	}
	key := name + "\x00" + strings.Join(labels, "\x00")
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.series[key]; m != nil {
		return m
	}
	if len(c.series) >= MaxConnectorSeries {
		c.dropped.Add(1)
		return &c.discard
	}
	m := &Metric{name: name, labels: slices.Clone(labels), gauge: gauge}
	c.series[key] = m
	c.order = append(c.order, m)
	return m
}

// Dropped counts registrations refused past MaxConnectorSeries.
func (c *ConnectorMetrics) Dropped() int64 {
	if c == nil {
		return 0
	}
	return c.dropped.Load()
}

// ConnectorMetric is one series in Stats.
type ConnectorMetric struct {
	Component string
	Name      string
	Labels    []string // name, value pairs
	Gauge     bool
	Value     int64
}

func (c *ConnectorMetrics) snapshot(out []ConnectorMetric) []ConnectorMetric {
	if c == nil {
		return out
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.order {
		out = append(out, ConnectorMetric{Component: c.component, Name: m.name, Labels: m.labels, Gauge: m.gauge, Value: m.v.Load()})
	}
	return out
}
