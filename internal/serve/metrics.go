package serve

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// collector exports every deployed pipeline's figures with its tenant.
type collector struct{ s *Server }

var (
	labelsPipeline = []string{"tenant", "pipeline"}
	labelsOperator = []string{"tenant", "pipeline", "operator"}
	descs          = map[string]*prometheus.Desc{
		"running":      prometheus.NewDesc("wasmstream_tenant_pipelines_running", "Pipelines of the tenant running.", []string{"tenant"}, nil),
		"breaches":     prometheus.NewDesc("wasmstream_tenant_quota_breaches_total", "Deploys refused, and pipelines stopped, by a quota.", []string{"tenant"}, nil),
		"in":           prometheus.NewDesc("wasmstream_pipeline_records_in_total", "Records read from the source.", labelsPipeline, nil),
		"out":          prometheus.NewDesc("wasmstream_pipeline_records_out_total", "Records written by the sinks.", labelsPipeline, nil),
		"dead":         prometheus.NewDesc("wasmstream_pipeline_dead_lettered_total", "Records written to the dead-letter sink.", labelsPipeline, nil),
		"checkpoints":  prometheus.NewDesc("wasmstream_pipeline_checkpoints_total", "Checkpoints taken.", labelsPipeline, nil),
		"throttled":    prometheus.NewDesc("wasmstream_pipeline_throttled_reads_total", "Source reads the tenant's records/s quota held back.", labelsPipeline, nil),
		"state":        prometheus.NewDesc("wasmstream_pipeline_state_bytes", "Keyed state in memory and on disk.", labelsPipeline, nil),
		"swaps":        prometheus.NewDesc("wasmstream_pipeline_swaps_total", "Module swaps (kept or rolled back).", labelsPipeline, nil),
		"op_in":        prometheus.NewDesc("wasmstream_operator_records_in_total", "Records given to the operator.", labelsOperator, nil),
		"op_out":       prometheus.NewDesc("wasmstream_operator_records_out_total", "Records the operator returned.", labelsOperator, nil),
		"op_batches":   prometheus.NewDesc("wasmstream_operator_batches_total", "Batches processed.", labelsOperator, nil),
		"op_failures":  prometheus.NewDesc("wasmstream_operator_failures_total", "Batches that failed.", labelsOperator, nil),
		"op_latency_s": prometheus.NewDesc("wasmstream_operator_batch_seconds_total", "Time spent processing batches.", labelsOperator, nil),
	}
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range descs {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	s.mu.Lock()
	running := map[string]int{}
	for name := range s.tenants {
		running[name] = 0
	}
	type item struct {
		d     *deployed
		swaps int
	}
	var ds []item
	for _, d := range s.pipelines {
		if !d.ended() {
			running[d.tenant]++
		}
		ds = append(ds, item{d, len(d.swaps)})
	}
	breaches := map[string]int64{}
	for t := range s.tenants {
		breaches[t] = s.breaches[t]
	}
	s.mu.Unlock()
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	for t, n := range running {
		ch <- prometheus.MustNewConstMetric(descs["running"], gauge, float64(n), t)
		ch <- prometheus.MustNewConstMetric(descs["breaches"], counter, float64(breaches[t]), t)
	}
	for _, it := range ds {
		d := it.d
		st := d.p.Stats()
		l := []string{d.tenant, d.name}
		ch <- prometheus.MustNewConstMetric(descs["in"], counter, float64(st.RecordsIn), l...)
		ch <- prometheus.MustNewConstMetric(descs["out"], counter, float64(st.RecordsOut), l...)
		ch <- prometheus.MustNewConstMetric(descs["dead"], counter, float64(st.DeadLettered), l...)
		ch <- prometheus.MustNewConstMetric(descs["checkpoints"], counter, float64(st.Checkpoints), l...)
		ch <- prometheus.MustNewConstMetric(descs["throttled"], counter, float64(st.Throttled), l...)
		ch <- prometheus.MustNewConstMetric(descs["state"], gauge, float64(st.StateCacheBytes+st.StateDiskBytes), l...)
		ch <- prometheus.MustNewConstMetric(descs["swaps"], counter, float64(it.swaps), l...)
		for _, o := range st.Operators {
			ol := []string{d.tenant, d.name, o.Name}
			ch <- prometheus.MustNewConstMetric(descs["op_in"], counter, float64(o.RecordsIn), ol...)
			ch <- prometheus.MustNewConstMetric(descs["op_out"], counter, float64(o.RecordsOut), ol...)
			ch <- prometheus.MustNewConstMetric(descs["op_batches"], counter, float64(o.Batches), ol...)
			ch <- prometheus.MustNewConstMetric(descs["op_failures"], counter, float64(o.Failures), ol...)
			ch <- prometheus.MustNewConstMetric(descs["op_latency_s"], counter, o.Latency.Sum, ol...)
		}
	}
}

// metricsHandler serves the Prometheus metrics of every tenant.
func (s *Server) metricsHandler() http.Handler {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector{s})
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
