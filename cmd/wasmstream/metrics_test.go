package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
	"github.com/wasmstream/wasmstream/runtime"
)

// lineServer is a TCP server for the socket source: it sends lines to the
// first connection and keeps it open until the test ends, so the pipeline
// runs, with nothing more to read, until it is stopped.
func lineServer(t *testing.T, lines []string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		t.Cleanup(func() { c.Close() })
		w := bufio.NewWriter(c)
		for _, s := range lines {
			w.WriteString(s + "\n")
		}
		w.Flush()
	}()
	return l.Addr().String()
}

// scrape reads /metrics at base and parses the text format.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: Content-Type %q, want the text format", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return mf
}

// value is the counter, gauge or histogram count of the series of name
// with the given labels (name=value pairs), or -1 when there is none.
func value(mf map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f, ok := mf[name]
	if !ok {
		return -1
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// httpBase waits for run --http to write <dataDir>/http.addr and returns
// the server's base URL.
func httpBase(t *testing.T, p *proc, dataDir string) string {
	t.Helper()
	var addr string
	eventually(t, "http.addr", func() bool {
		if !p.running() {
			t.Fatalf("the pipeline stopped: %s", p.stderr)
		}
		b, err := os.ReadFile(filepath.Join(dataDir, httpAddrFile))
		addr = strings.TrimSpace(string(b))
		return err == nil && addr != ""
	})
	return "http://" + addr
}

// TestMetricsEndpoint guards issue #9 item 8 (monitoring only existed for
// stateful pipelines): a stateless run with --http serves Prometheus
// metrics whose records and bytes in and out, per component, match what
// went through, and a status endpoint; the bound address is logged and
// written to <data_dir>/http.addr, and removed when the run ends.
func TestMetricsEndpoint(t *testing.T) {
	const n = 500
	lines := make([]string, n)
	var bytes int
	for i := range lines {
		lines[i] = fmt.Sprintf("record-%d", i)
		bytes += len(lines[i])
	}
	src := lineServer(t, lines)
	path := pipeline(t, fmt.Sprintf(`
batch: {size: 64, linger: 5ms}
source: {socket: {address: %q}}
operators: [{name: upper, wasm: {module: %q}}]
sink: {stdout: {}}
`, src, upperWasm))
	dataDir := filepath.Join(filepath.Dir(path), "data")
	p := startRun(t, "--http", "127.0.0.1:0", path)
	base := httpBase(t, p, dataDir)

	var mf map[string]*dto.MetricFamily
	eventually(t, "every record counted out", func() bool {
		mf = scrape(t, base)
		return value(mf, "wasmstream_sink_records_total") == n
	})
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"wasmstream_source_records_total", nil, n},
		{"wasmstream_source_bytes_total", nil, float64(bytes)},
		{"wasmstream_sink_records_total", []string{"pipeline", "test"}, n},
		{"wasmstream_sink_bytes_total", nil, float64(bytes)},
		{"wasmstream_operator_records_in_total", []string{"operator", "upper"}, n},
		{"wasmstream_operator_records_out_total", []string{"operator", "upper"}, n},
		{"wasmstream_operator_bytes_in_total", []string{"operator", "upper"}, float64(bytes)},
		{"wasmstream_operator_bytes_out_total", []string{"operator", "upper"}, float64(bytes)},
		{"wasmstream_operator_failures_total", []string{"operator", "upper"}, 0},
		{"wasmstream_dead_lettered_records_total", nil, 0},
		{"wasmstream_retries_total", []string{"stage", "operator"}, 0},
		{"wasmstream_operator_instances_started_total", []string{"operator", "upper"}, 1},
		{"wasmstream_operator_instances_replaced_total", []string{"operator", "upper"}, 0},
		{"wasmstream_checkpoints_total", nil, 0},
	} {
		if got := value(mf, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	batches := value(mf, "wasmstream_operator_batches_total", "operator", "upper")
	if got := value(mf, "wasmstream_operator_batch_duration_seconds", "operator", "upper"); got != batches || batches < 1 {
		t.Errorf("batch latency histogram has %v observations, want one per batch (%v)", got, batches)
	}
	if f := mf["wasmstream_operator_batch_duration_seconds"]; f == nil || f.GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("wasmstream_operator_batch_duration_seconds is not a histogram: %v", f)
	}

	code, st := getJSON(t, base+"/v1/status")
	if code != http.StatusOK || st["pipeline"] != "test" || st["stateful"] != false ||
		st["records_in"] != float64(n) || st["records_out"] != float64(n) {
		t.Errorf("GET /v1/status: %d %v", code, st)
	}
	if resp, err := http.Get(base + "/v1/state/upper/keys"); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a stateless pipeline answered a state query: %s", resp.Status)
	}

	p.cmd.Process.Signal(syscall.SIGINT)
	if code := p.wait(t); code != exitInterrupted {
		t.Fatalf("exit %d\n%s", code, p.stderr)
	}
	if !regexp.MustCompile(`HTTP server listening.* addr=127\.0\.0\.1:\d+`).MatchString(p.stderr.String()) {
		t.Errorf("no log line with the bound address: %s", p.stderr)
	}
	if _, err := os.Stat(filepath.Join(dataDir, httpAddrFile)); !os.IsNotExist(err) {
		t.Errorf("http.addr left behind: %v", err)
	}
}

// TestGuestMetrics guards issue #9 item 8: the counters a guest adds with
// metric_add are one labelled counter, by operator and name, and a name
// the text format must escape (quotes, backslashes) reads back as the host
// reported it.
func TestGuestMetrics(t *testing.T) {
	wasm := filepath.Join(t.TempDir(), "guestmetrics.wasm")
	if err := guestbuild.Build(filepath.Join("testdata", "guestmetrics"), wasm); err != nil {
		t.Fatal(err)
	}
	const n = 40
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprint(i)
	}
	path := pipeline(t, fmt.Sprintf(`
batch: {size: 8, linger: 5ms}
source: {socket: {address: %q}}
operators: [{name: counted, wasm: {module: %q}}]
sink: {stdout: {}}
`, lineServer(t, lines), wasm))
	p := startRun(t, "--http", "127.0.0.1:0", path)
	base := httpBase(t, p, filepath.Join(filepath.Dir(path), "data"))
	var mf map[string]*dto.MetricFamily
	eventually(t, "every record counted out", func() bool {
		mf = scrape(t, base)
		return value(mf, "wasmstream_sink_records_total") == n
	})
	// The host writes a control character of a guest's text as an escape
	// (the newline as \n); the quotes and the backslash are the guest's.
	for name, want := range map[string]float64{"records.seen": n, `odd "name" \\n`: 2 * n} {
		if got := value(mf, "wasmstream_guest_metric_total", "operator", "counted", "name", name); got != want {
			t.Errorf("guest metric %q = %v, want %v; have %v", name, got, want, mf["wasmstream_guest_metric_total"])
		}
	}
	if f := mf["wasmstream_guest_metric_total"]; f == nil || len(f.Metric) != 2 {
		t.Errorf("guest metrics: %v, want the two names only (no wasm.instances_*)", f)
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	if code := p.wait(t); code != exitInterrupted {
		t.Fatalf("exit %d\n%s", code, p.stderr)
	}
}

// TestFailureMetrics guards issue #9 item 8: a record that traps its
// instance shows in the metrics as retries, a failed batch, instances
// replaced and a dead-lettered record, while the others go out.
func TestFailureMetrics(t *testing.T) {
	lines := []string{"a", "b", "trap", "c"}
	path := pipeline(t, fmt.Sprintf(`
batch: {size: 4, linger: 50ms}
source: {socket: {address: %q}}
operators: [{name: conform, wasm: {module: %q}}]
sink: {stdout: {}}
on_error: {retries: 2, backoff: 1ms, action: dead_letter, dead_letter: {stderr: {}}}
`, lineServer(t, lines), conformWasm))
	p := startRun(t, "--http", "127.0.0.1:0", path)
	base := httpBase(t, p, filepath.Join(filepath.Dir(path), "data"))
	var mf map[string]*dto.MetricFamily
	eventually(t, "the trapping record dead-lettered and the others out", func() bool {
		mf = scrape(t, base)
		return value(mf, "wasmstream_dead_lettered_records_total") == 1 && value(mf, "wasmstream_sink_records_total") == 3
	})
	if v := value(mf, "wasmstream_retries_total", "stage", "operator"); v < 2 {
		t.Errorf("operator retries %v, want at least 2", v)
	}
	if v := value(mf, "wasmstream_operator_failures_total", "operator", "conform"); v < 1 {
		t.Errorf("operator failures %v, want at least 1", v)
	}
	started := value(mf, "wasmstream_operator_instances_started_total", "operator", "conform")
	replaced := value(mf, "wasmstream_operator_instances_replaced_total", "operator", "conform")
	if replaced < 3 || started < replaced {
		t.Errorf("instances started %v, replaced %v; want a replacement for each failed call (3 or more)", started, replaced)
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	if code := p.wait(t); code != exitInterrupted {
		t.Fatalf("exit %d\n%s", code, p.stderr)
	}
}

// TestMetricsJoinQueryServer guards issue #9 item 8: a stateful pipeline
// run with --http serves its state queries, status and metrics on the one
// address, written to both http.addr and query.addr, and reports its
// checkpoints and state size.
func TestMetricsJoinQueryServer(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	path := countPipeline(t, dataDir, 0, 2000, "")
	p := startRun(t, "--http", "127.0.0.1:0", path)
	base := httpBase(t, p, dataDir)
	q, err := os.ReadFile(filepath.Join(dataDir, queryAddrFile))
	if err != nil || "http://"+strings.TrimSpace(string(q)) != base {
		t.Fatalf("query.addr %q (%v), want the --http address %s", q, err, base)
	}
	var mf map[string]*dto.MetricFamily
	eventually(t, "a checkpoint in the metrics", func() bool {
		mf = scrape(t, base)
		return value(mf, "wasmstream_checkpoints_total") >= 1
	})
	if v := value(mf, "wasmstream_checkpoint_duration_seconds_total"); v <= 0 {
		t.Errorf("checkpoint duration %v, want > 0", v)
	}
	if v := value(mf, "wasmstream_state_cache_bytes"); v <= 0 {
		t.Errorf("state cache bytes %v, want > 0", v)
	}
	if v := value(mf, "wasmstream_state_disk_bytes"); v <= 0 {
		t.Errorf("state disk bytes %v, want > 0", v)
	}
	if code, st := getJSON(t, base+"/v1/status"); code != http.StatusOK || st["stateful"] != true || st["store"] != "open" {
		t.Errorf("GET /v1/status: %d %v", code, st)
	}
	if code, _ := getJSON(t, base+"/v1/state/count/keys"); code != http.StatusOK {
		t.Errorf("state query on the --http address: %d", code)
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	if code := p.wait(t); code != exitInterrupted {
		t.Fatalf("exit %d\n%s", code, p.stderr)
	}
}

// TestHTTPAddress guards issue #9 item 8: --http binds to loopback when no
// host is given and warns when it listens beyond loopback.
func TestHTTPAddress(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{":9090", "127.0.0.1:9090"},
		{"127.0.0.1:0", "127.0.0.1:0"},
		{"0.0.0.0:80", "0.0.0.0:80"},
		{"[::1]:0", "[::1]:0"},
	} {
		if got, err := httpListenAddr(c.in); err != nil || got != c.want {
			t.Errorf("httpListenAddr(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if _, err := httpListenAddr("9090"); err == nil {
		t.Error("httpListenAddr(\"9090\") took an address without a port")
	}
	for host, want := range map[string]bool{"127.0.0.1": true, "::1": true, "localhost": true, "0.0.0.0": false, "::": false, "10.1.2.3": false} {
		if isLoopback(host) != want {
			t.Errorf("isLoopback(%q) = %v", host, !want)
		}
	}
}

// TestLabelValue guards issue #9 item 8: guest metric names become valid
// label values however they are spelt (quotes, newlines and invalid UTF-8
// must neither break the text format nor fail the scrape).
func TestLabelValue(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"records.seen", "records.seen"},
		{"a\"b\\c\nd", "a\"b\\c\nd"},
		{"bad\xffutf8", "bad\uFFFDutf8"},
		{strings.Repeat("é", 200), strings.Repeat("é", 128)},
	} {
		if got := labelValue(c.in); got != c.want {
			t.Errorf("labelValue(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestProgressDetail guards issue #9 item 8: --progress detail ends the
// progress line with each operator's rate, by its name.
func TestProgressDetail(t *testing.T) {
	p := pipeline(t, fmt.Sprintf(`
source: {generator: {count: 3000, rate: 2000, value_size: 10}}
operators: [{name: upper, wasm: {module: %q}}, {name: again, wasm: {module: %q}}]
sink: {stdout: {}}
`, upperWasm, upperWasm))
	r := runCLI(t, "run", "--progress", "detail", p)
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	line := regexp.MustCompile(`00:00:0\d  in [\d,]+  out [\d,]+  dead 0  [\d,]+ rec/s in  upper [\d,]+/s  again [\d,]+/s`)
	if !line.MatchString(r.stderr) {
		t.Fatalf("no detailed progress line in stderr: %q", r.stderr)
	}
	if b := runCLI(t, "run", "--progress", "sometimes", p); b.code != exitConfig || !strings.Contains(b.stderr, "detail") {
		t.Errorf("--progress sometimes: exit %d, %q", b.code, b.stderr)
	}
}

// meteredSource is an unbounded source that registers connector metrics
// at Open, as a broker source would: a counter of the records it read by
// partition, a lag gauge, and series the exporter must sanitize or skip.
// It returns n records, then blocks until its Read is cancelled.
type meteredSource struct {
	n    int
	read *runtime.Metric
	lag  *runtime.Metric
}

func (s *meteredSource) Open(ctx context.Context, env runtime.Env) error {
	s.read = env.Metrics.Counter("records_read", "partition.id", "0")
	s.lag = env.Metrics.Gauge("lag", "partition.id", "0")
	// Sanitized: a dot in the name, a label called component.
	env.Metrics.Counter("bytes.read", "component", "kafka").Add(7)
	// Skipped: the name is a counter with other label names, then a gauge.
	env.Metrics.Counter("records_read", "topic", "t").Add(1)
	env.Metrics.Gauge("records_read", "partition.id", "1").Set(1)
	return nil
}

func (s *meteredSource) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	if s.n == 0 {
		<-ctx.Done()
		return nil, nil, ctx.Err()
	}
	recs := make([]runtime.Record, s.n)
	for i := range recs {
		recs[i] = runtime.Record{Value: []byte(fmt.Sprint(i))}
	}
	s.read.Add(int64(s.n))
	s.lag.Set(42)
	s.n = 0
	return recs, func(error) {}, nil
}

func (s *meteredSource) Close(ctx context.Context) error { return nil }

// TestConnectorMetrics: the series a source registers through Env.Metrics
// are exported on /metrics as wasmstream_connector_<name>, a counter or a
// gauge, labelled with pipeline, component and their own labels (names
// sanitized); a series whose name another one already uses with another
// type or other label names is skipped and counted, and the scrape stays
// valid for the pedantic registry.
func TestConnectorMetrics(t *testing.T) {
	type noConfig struct{}
	reg := runtime.NewRegistry()
	runtime.AddSource(reg, "metered", "test source", func(*noConfig) (runtime.Source, error) { return &meteredSource{n: 5}, nil })
	runtime.AddSink(reg, "collect", "test sink", func(*noConfig) (runtime.Sink, error) { return &connectortest.Collector{}, nil })
	spec, err := runtime.Parse([]byte("pipeline: metered\nsource: {metered: {}}\nsink: {collect: {}}\n"), reg)
	if err != nil {
		t.Fatal(err)
	}
	spec.DataDir = t.TempDir()
	p, err := runtime.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	stop, err := startHTTP(p, "127.0.0.1:0", logger)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- p.Run(ctx) }()
	defer func() {
		cancel()
		<-ran
	}()
	addr, err := os.ReadFile(filepath.Join(spec.DataDir, httpAddrFile))
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + strings.TrimSpace(string(addr))

	var mf map[string]*dto.MetricFamily
	eventually(t, "the source's records counted", func() bool {
		mf = scrape(t, base)
		return value(mf, "wasmstream_connector_records_read") == 5
	})
	const comp = "source"
	for _, c := range []struct {
		name   string
		typ    dto.MetricType
		labels []string
		want   float64
	}{
		{"wasmstream_connector_records_read", dto.MetricType_COUNTER, []string{"pipeline", "metered", "component", comp, "partition_id", "0"}, 5},
		{"wasmstream_connector_lag", dto.MetricType_GAUGE, []string{"pipeline", "metered", "component", comp, "partition_id", "0"}, 42},
		{"wasmstream_connector_bytes_read", dto.MetricType_COUNTER, []string{"component", comp, "label_component", "kafka"}, 7},
		{"wasmstream_connectors_skipped_series", dto.MetricType_GAUGE, []string{"pipeline", "metered", "component", comp}, 2},
	} {
		if got := value(mf, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v; have %v", c.name, c.labels, got, c.want, mf[c.name])
		}
		if f := mf[c.name]; f != nil && f.GetType() != c.typ {
			t.Errorf("%s is a %v, want a %v", c.name, f.GetType(), c.typ)
		}
	}
	if f := mf["wasmstream_connector_records_read"]; f == nil || len(f.Metric) != 1 {
		t.Errorf("wasmstream_connector_records_read: %v, want only the first series (the others are skipped)", f)
	}
}

// TestConnectorNames: metric and label names of connector series follow
// the Prometheus rules however the connector spells them.
func TestConnectorNames(t *testing.T) {
	for _, c := range []struct{ in, metric, label string }{
		{"records_read", "records_read", "records_read"},
		{"bytes.in-flight", "bytes_in_flight", "bytes_in_flight"},
		{"0lag", "0lag", "label_0lag"},
		{"__name__", "__name__", "label___name__"},
		{"pipeline", "pipeline", "label_pipeline"},
		{"", "", "label_"},
		{"é", "_", "_"},
	} {
		if got := metricName(c.in); got != c.metric {
			t.Errorf("metricName(%q) = %q, want %q", c.in, got, c.metric)
		}
		if got := labelName(c.in); got != c.label {
			t.Errorf("labelName(%q) = %q, want %q", c.in, got, c.label)
		}
	}
	if _, _, ok := connectorLabels([]string{"a.b", "1", "a_b", "2"}); ok {
		t.Error("connectorLabels took two names that collide once sanitized")
	}
	names, values, ok := connectorLabels([]string{"z", "1", "a", "2"})
	if !ok || strings.Join(names, ",") != "a,z" || strings.Join(values, ",") != "2,1" {
		t.Errorf("connectorLabels = %v %v %v, want names sorted with their values", names, values, ok)
	}
}
