package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wasmstream/wasmstream/runtime"
	"github.com/wasmstream/wasmstream/runtime/query"
)

// httpAddrFile is where run --http writes the address it serves on, in the
// pipeline's data directory.
const httpAddrFile = "http.addr"

// Host metric names a Wasm operator reports beside its guests' counters;
// they get metrics of their own rather than the guest metric's label.
const (
	metricInstancesStarted  = "wasm.instances_started"
	metricInstancesReplaced = "wasm.instances_replaced"
)

// startHTTP serves the pipeline's status (GET /v1/status) and Prometheus
// metrics (GET /metrics) on addr, and, for a pipeline with keyed state
// whose state.query is not "off", its state queries and savepoints on the
// same address (which is then written to query.addr as well). An address
// without a host binds to loopback; another than loopback is warned about.
// The bound address is logged and written to <data_dir>/http.addr. The
// returned stop detaches the query server from the store, removes the
// address files and closes the server; call it when Run returns.
func startHTTP(p *runtime.Pipeline, addr string, logger *slog.Logger) (stop func(), err error) {
	addr, err = httpListenAddr(addr)
	if err != nil {
		return nil, err
	}
	spec := p.Spec()
	withQuery := p.Stateful() && spec.State.Query != "off"
	qs := query.New(p, query.WithLogger(logger.With("component", "query")))
	mux := http.NewServeMux()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(newPipelineCollector(p), newConnectorCollector(p, logger), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn), ErrorHandling: promhttp.ContinueOnError}))
	if withQuery {
		mux.Handle("/", qs)
	} else {
		mux.Handle("GET /v1/status", qs)
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, fmt.Sprintf("no endpoint %s %s: this server has GET /metrics and GET /v1/status", r.Method, r.URL.Path), http.StatusNotFound)
		})
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		qs.Close()
		return nil, fmt.Errorf("--http %s: starting the HTTP server: %w", addr, err)
	}
	if host, _, _ := net.SplitHostPort(l.Addr().String()); !isLoopback(host) {
		logger.Warn("the HTTP server listens beyond this machine, and anyone who reaches it may read its status, metrics and any state: it is unauthenticated", "addr", l.Addr().String())
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("the HTTP server stopped", "addr", l.Addr().String(), "err", err)
		}
	}()
	content := []byte(l.Addr().String() + "\n")
	files := []string{filepath.Join(spec.DataDir, httpAddrFile)}
	if withQuery {
		files = append(files, filepath.Join(spec.DataDir, queryAddrFile))
	}
	closeAll := func() {
		qs.Detach()
		for _, f := range files {
			// Another run of the pipeline may have written its own address
			// meanwhile: remove only ours.
			if b, err := os.ReadFile(f); err == nil && bytes.Equal(b, content) {
				os.Remove(f)
			}
		}
		hs.Close()
		<-served
		qs.Close()
	}
	// http.addr last: once it is there, so is query.addr.
	for _, f := range slices.Backward(files) {
		if err := writeFileAtomic(f, content); err != nil {
			closeAll()
			return nil, fmt.Errorf("writing %s: %w", f, err)
		}
	}
	logger.Info("HTTP server listening: GET /metrics, GET /v1/status", "addr", l.Addr().String(), "addr_file", files[0], "state_queries", withQuery)
	return closeAll, nil
}

// httpListenAddr returns addr to listen on, with loopback as the host when
// addr names none (":9090").
func httpListenAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--http %q: want HOST:PORT or :PORT: %w", addr, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// pipelineCollector turns runtime.Stats into Prometheus metrics at each
// scrape: the pipeline's hot path only updates its atomic counters.
type pipelineCollector struct {
	p     *runtime.Pipeline
	descs map[string]*prometheus.Desc
}

type metricDef struct {
	name, help string
	labels     []string
}

var pipelineMetrics = []metricDef{
	{"wasmstream_source_records_total", "Records read from the source.", nil},
	{"wasmstream_source_bytes_total", "Bytes (keys and values) of the records read from the source.", nil},
	{"wasmstream_sink_records_total", "Records written by the sink and the named outputs.", nil},
	{"wasmstream_sink_bytes_total", "Bytes (keys and values) of the records written by the sink and the named outputs.", nil},
	{"wasmstream_dead_lettered_records_total", "Records written to the dead-letter sink.", nil},
	{"wasmstream_source_batches_acked_total", "Source batches acknowledged as processed.", nil},
	{"wasmstream_source_batches_nacked_total", "Source batches the pipeline gave up on.", nil},
	{"wasmstream_retries_total", "Batch retries, by stage (operator or sink).", []string{"stage"}},
	{"wasmstream_checkpoints_total", "Checkpoints taken.", nil},
	{"wasmstream_checkpoint_duration_seconds_total", "Time spent taking checkpoints.", nil},
	{"wasmstream_last_checkpoint_duration_seconds", "Time the last checkpoint took.", nil},
	{"wasmstream_state_cache_bytes", "Bytes the state store holds in memory: written since the last checkpoint and cached for reading.", nil},
	{"wasmstream_state_disk_bytes", "The live state store's size on disk: tables, log and MANIFEST.", nil},
	{"wasmstream_operator_records_in_total", "Records given to the operator.", []string{"operator"}},
	{"wasmstream_operator_records_out_total", "Records the operator returned.", []string{"operator"}},
	{"wasmstream_operator_bytes_in_total", "Bytes (keys and values) of the records given to the operator.", []string{"operator"}},
	{"wasmstream_operator_bytes_out_total", "Bytes (keys and values) of the records the operator returned.", []string{"operator"}},
	{"wasmstream_operator_batches_total", "Batches given to the operator.", []string{"operator"}},
	{"wasmstream_operator_failures_total", "Batches the operator failed, after retries.", []string{"operator"}},
	{"wasmstream_operator_unkeyed_total", "Records the operator's key_by found no key in (not JSON, or no such field or header).", []string{"operator"}},
	{"wasmstream_operator_batch_duration_seconds", "Time the operator took per batch, retries included.", []string{"operator"}},
	{"wasmstream_operator_instances_started_total", "Wasm instances started (the first ones and replacements).", []string{"operator"}},
	{"wasmstream_operator_instances_replaced_total", "Wasm instances discarded after a failure and replaced.", []string{"operator"}},
	{"wasmstream_async_requests_total", "Async requests submitted by the operator and started.", []string{"operator"}},
	{"wasmstream_async_results_total", "Async results, by outcome: ok, error, timeout (after the retries allowed).", []string{"operator", "outcome"}},
	{"wasmstream_async_retries_total", "Async request attempts retried.", []string{"operator"}},
	{"wasmstream_async_refused_total", "Async requests refused at submit (undeclared target, not allowed, too large, capacity full).", []string{"operator"}},
	{"wasmstream_async_cache_hits_total", "Async requests answered from a target's cache.", []string{"operator"}},
	{"wasmstream_async_batches_total", "Batched calls made to targets (many requests in one).", []string{"operator"}},
	{"wasmstream_async_batched_requests_total", "Async requests sent as part of a batched call.", []string{"operator"}},
	{"wasmstream_async_in_flight", "Async requests in flight, results not yet delivered included.", []string{"operator"}},
	{"wasmstream_async_request_duration_seconds", "Time from an async request's start to its result, retries included.", []string{"operator"}},
	{"wasmstream_guest_metric_total", "Counters a Wasm operator's guests add with metric_add, by name (the host bounds the names per operator).", []string{"operator", "name"}},
}

func newPipelineCollector(p *runtime.Pipeline) *pipelineCollector {
	c := &pipelineCollector{p: p, descs: map[string]*prometheus.Desc{}}
	constLabels := prometheus.Labels{"pipeline": labelValue(p.Spec().Name)}
	for _, m := range pipelineMetrics {
		c.descs[m.name] = prometheus.NewDesc(m.name, m.help, m.labels, constLabels)
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *pipelineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range pipelineMetrics {
		ch <- c.descs[m.name]
	}
}

// Collect implements prometheus.Collector.
func (c *pipelineCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.p.Stats()
	counter := func(name string, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.CounterValue, float64(v), labels...)
	}
	counter("wasmstream_source_records_total", s.RecordsIn)
	counter("wasmstream_source_bytes_total", s.BytesIn)
	counter("wasmstream_sink_records_total", s.RecordsOut)
	counter("wasmstream_sink_bytes_total", s.BytesOut)
	counter("wasmstream_dead_lettered_records_total", s.DeadLettered)
	counter("wasmstream_source_batches_acked_total", s.Acked)
	counter("wasmstream_source_batches_nacked_total", s.Nacked)
	counter("wasmstream_retries_total", s.OperatorRetries, "operator")
	counter("wasmstream_retries_total", s.SinkRetries, "sink")
	counter("wasmstream_checkpoints_total", s.Checkpoints)
	ch <- prometheus.MustNewConstMetric(c.descs["wasmstream_checkpoint_duration_seconds_total"], prometheus.CounterValue, s.CheckpointSeconds)
	ch <- prometheus.MustNewConstMetric(c.descs["wasmstream_last_checkpoint_duration_seconds"], prometheus.GaugeValue, s.LastCheckpointSeconds)
	ch <- prometheus.MustNewConstMetric(c.descs["wasmstream_state_cache_bytes"], prometheus.GaugeValue, float64(s.StateCacheBytes))
	ch <- prometheus.MustNewConstMetric(c.descs["wasmstream_state_disk_bytes"], prometheus.GaugeValue, float64(s.StateDiskBytes))
	for _, o := range s.Operators {
		op := labelValue(o.Name)
		counter("wasmstream_operator_records_in_total", o.RecordsIn, op)
		counter("wasmstream_operator_records_out_total", o.RecordsOut, op)
		counter("wasmstream_operator_bytes_in_total", o.BytesIn, op)
		counter("wasmstream_operator_bytes_out_total", o.BytesOut, op)
		counter("wasmstream_operator_batches_total", o.Batches, op)
		counter("wasmstream_operator_failures_total", o.Failures, op)
		counter("wasmstream_operator_unkeyed_total", o.Unkeyed, op)
		buckets := make(map[float64]uint64, len(runtime.LatencyBuckets))
		var cum uint64
		for i, le := range runtime.LatencyBuckets {
			cum += o.Latency.Counts[i]
			buckets[le] = cum
		}
		ch <- prometheus.MustNewConstHistogram(c.descs["wasmstream_operator_batch_duration_seconds"], o.Latency.Count, o.Latency.Sum, buckets, op)
		if a := o.Async; a != nil {
			counter("wasmstream_async_requests_total", a.Submitted, op)
			counter("wasmstream_async_results_total", a.Completed-a.Errors-a.Timeouts, op, "ok")
			counter("wasmstream_async_results_total", a.Errors, op, "error")
			counter("wasmstream_async_results_total", a.Timeouts, op, "timeout")
			counter("wasmstream_async_retries_total", a.Retries, op)
			counter("wasmstream_async_refused_total", a.Refused, op)
			counter("wasmstream_async_cache_hits_total", a.CacheHits, op)
			counter("wasmstream_async_batches_total", a.Batches, op)
			counter("wasmstream_async_batched_requests_total", a.Batched, op)
			ch <- prometheus.MustNewConstMetric(c.descs["wasmstream_async_in_flight"], prometheus.GaugeValue, float64(a.InFlight), op)
			ab := make(map[float64]uint64, len(runtime.LatencyBuckets))
			var acum uint64
			for i, le := range runtime.LatencyBuckets {
				acum += a.Latency.Counts[i]
				ab[le] = acum
			}
			ch <- prometheus.MustNewConstHistogram(c.descs["wasmstream_async_request_duration_seconds"], a.Latency.Count, a.Latency.Sum, ab, op)
		}
		if v, ok := o.Metrics[metricInstancesStarted]; ok {
			// A Wasm operator: replacements are 0 until the first.
			counter("wasmstream_operator_instances_started_total", v, op)
			counter("wasmstream_operator_instances_replaced_total", o.Metrics[metricInstancesReplaced], op)
		}
		// Two names that escape alike would make a duplicate series: the
		// first (in sorted order) is kept.
		seen := map[string]bool{}
		for _, name := range slices.Sorted(maps.Keys(o.Metrics)) {
			if name == metricInstancesStarted || name == metricInstancesReplaced {
				continue
			}
			lv := labelValue(name)
			if seen[lv] {
				continue
			}
			seen[lv] = true
			counter("wasmstream_guest_metric_total", o.Metrics[name], op, lv)
		}
	}
}

// maxLabelValue bounds a label value's length in bytes: the host's default
// bound on a guest metric name (host.Budget.MetricNameBytes).
const maxLabelValue = 256

// labelValue makes s a valid Prometheus label value: valid UTF-8 (invalid
// bytes become U+FFFD) and at most maxLabelValue bytes. Quotes,
// backslashes and newlines are escaped by the text format's encoder.
func labelValue(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) > maxLabelValue {
		cut := maxLabelValue
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

// connectorPrefix starts the name of every metric a source or sink
// registers through Env.Metrics.
const connectorPrefix = "wasmstream_connector_"

// connectorCollector exports the series sources and sinks register
// through Env.Metrics (runtime.Stats.Connectors) as
// wasmstream_connector_<name>, a counter or a gauge, labelled pipeline,
// component and the series' own labels.
//
// The names are not known before the pipeline runs, so it is an
// unchecked collector (Describe sends nothing) and builds its
// descriptors at each scrape. The rules that keep the exposition valid
// for a pedantic registry:
//   - a metric or label name has every character outside [a-zA-Z0-9_]
//     replaced by '_'; a label name that is empty, starts with a digit or
//     "__", or is "pipeline" or "component" is prefixed with "label_";
//   - a family's type and label-name set are those of its first series,
//     in Stats order (components sorted by path, then registration
//     order); a series of the same name that is of the other type or has
//     other label names is skipped, as is a series whose label names
//     collide once sanitized, or a second series with the same label
//     values. Prometheus does accept a family whose series differ in
//     label names, but queries over it mislead, and a name used as both
//     counter and gauge is invalid.
//
// Skipped series are counted, by component, in
// wasmstream_connectors_skipped_series, and logged once per component
// and name.
type connectorCollector struct {
	p       *runtime.Pipeline
	log     *slog.Logger
	skipped *prometheus.Desc
	warned  sync.Map // component + "\x00" + name → true
}

func newConnectorCollector(p *runtime.Pipeline, log *slog.Logger) *connectorCollector {
	return &connectorCollector{p: p, log: log,
		skipped: prometheus.NewDesc("wasmstream_connectors_skipped_series",
			"Connector metric series not exported at the last scrape: a name used with another type or other label names first, label names that collide once sanitized, or a duplicate series.",
			[]string{"component"}, prometheus.Labels{"pipeline": labelValue(p.Spec().Name)})}
}

// Describe implements prometheus.Collector. It sends nothing: the
// collector is unchecked.
func (c *connectorCollector) Describe(chan<- *prometheus.Desc) {}

// connectorFamily is what the first series of a name fixed.
type connectorFamily struct {
	desc   *prometheus.Desc
	gauge  bool
	labels string // sanitized label names joined by commas
	seen   map[string]bool
}

// Collect implements prometheus.Collector.
func (c *connectorCollector) Collect(ch chan<- prometheus.Metric) {
	pipeline := labelValue(c.p.Spec().Name)
	families := map[string]*connectorFamily{}
	skipped := map[string]int{}
	var components []string
	for _, m := range c.p.Stats().Connectors {
		if _, ok := skipped[m.Component]; !ok {
			skipped[m.Component] = 0
			components = append(components, m.Component)
		}
		names, values, ok := connectorLabels(m.Labels)
		if !ok {
			c.skip(m, skipped, "its label names collide once sanitized")
			continue
		}
		name := connectorPrefix + metricName(m.Name)
		key := strings.Join(names, ",")
		f := families[name]
		if f == nil {
			kind := "counter"
			if m.Gauge {
				kind = "gauge"
			}
			help := fmt.Sprintf("The connector %s %q (registered by the source or sink through Env.Metrics).", kind, labelValue(m.Name))
			f = &connectorFamily{gauge: m.Gauge, labels: key, seen: map[string]bool{},
				desc: prometheus.NewDesc(name, help, append([]string{"component"}, names...), prometheus.Labels{"pipeline": pipeline})}
			families[name] = f
		}
		switch {
		case f.gauge != m.Gauge:
			c.skip(m, skipped, "the name is used by a series of the other type")
			continue
		case f.labels != key:
			c.skip(m, skipped, "the name is used by a series with other label names ("+f.labels+")")
			continue
		}
		lvs := append([]string{labelValue(m.Component)}, values...)
		id := strings.Join(lvs, "\x00")
		if f.seen[id] {
			c.skip(m, skipped, "another series has the same label values")
			continue
		}
		f.seen[id] = true
		vt := prometheus.CounterValue
		if m.Gauge {
			vt = prometheus.GaugeValue
		}
		ch <- prometheus.MustNewConstMetric(f.desc, vt, float64(m.Value), lvs...)
	}
	for _, comp := range components {
		ch <- prometheus.MustNewConstMetric(c.skipped, prometheus.GaugeValue, float64(skipped[comp]), labelValue(comp))
	}
}

func (c *connectorCollector) skip(m runtime.ConnectorMetric, skipped map[string]int, why string) {
	skipped[m.Component]++
	if _, warned := c.warned.LoadOrStore(m.Component+"\x00"+m.Name, true); !warned && c.log != nil {
		c.log.Warn("a connector metric series is not exported: "+why, "component", m.Component, "metric", m.Name, "labels", m.Labels)
	}
}

// connectorLabels returns a series' label names, sanitized and sorted, and
// their values in the same order; ok is false when two names are the same
// once sanitized.
func connectorLabels(pairs []string) (names, values []string, ok bool) {
	type label struct{ name, value string }
	ls := make([]label, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		ls = append(ls, label{labelName(pairs[i]), labelValue(pairs[i+1])})
	}
	slices.SortFunc(ls, func(a, b label) int { return strings.Compare(a.name, b.name) })
	for i, l := range ls {
		if i > 0 && ls[i-1].name == l.name {
			return nil, nil, false
		}
		names = append(names, l.name)
		values = append(values, l.value)
	}
	return names, values, true
}

// metricName replaces every character of s outside [a-zA-Z0-9_] with '_',
// so that it can follow connectorPrefix in a metric name.
func metricName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}

// labelName makes s a valid label name of a connector series: see
// connectorCollector.
func labelName(s string) string {
	s = metricName(s)
	if s == "" || s[0] >= '0' && s[0] <= '9' || strings.HasPrefix(s, "__") || s == "pipeline" || s == "component" {
		s = "label_" + s
	}
	return s
}
