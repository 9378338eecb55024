// Command harness runs the end-to-end uppercase benchmark natively and as a
// Wasm operator in every guest language whose toolchain is installed, and
// prints the median records/s with each Wasm/native ratio measured in the
// same run:
//
//   - a batch-size sweep (1, 100, 1000) of native Go against the Go guest;
//
//   - every language at batch 1000, with the median instance creation time;
//
//   - the floor of every language: its module's process export called on
//     the same batches in a plain wazero loop, as built and as the runtime
//     instruments it, against which the end-to-end figure is a ratio
//     (-floor=false skips it), the runs of the three alternating, with the
//     garbage collector's share of the CPU the end-to-end runs used;
//
//   - the same map as an Extism plugin run by the Extism Go SDK, one call
//     per record and one per batch of 1000, against the Rust and C rows
//     (-peers=false skips it);
//
//   - with -kafka, Kafka → the Rust uppercase guest → Kafka on a kfake
//     cluster in process, at-least-once and exactly-once, against the
//     franz-go client's own consume-produce loop (-lang-table=false with
//     -sweep=false, -peers=false and -checkpoint-keys 0 runs only it);
//
//   - with -preempt, every language's uppercase pipeline at batch 1000 with
//     the module rewritten for preemption (the default) and compiled as
//     built (`preemption: false`), the runs alternating, and the ratio
//     on/off: what the deadline checks cost end to end (-lang-table=false
//     with -sweep=false, -floor=false, -peers=false and -checkpoint-keys 0
//     runs only it);
//
//   - with -curve, instead of the tables: the cost curve of the Rust and Go
//     guests (batch sizes 1 to 10000, values of 100 B, 1 KiB and 10 KiB,
//     parallelism 1 and 2, one operator and a chain of three).
//
//     go run ./bench/harness [-records 1000000] [-runs 5] [-langs go,rust]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wasmstream/wasmstream/bench"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
)

func main() {
	records := flag.Int("records", 1_000_000, "records per run at batch 100 and 1000 (batch 1 runs a tenth)")
	runs := flag.Int("runs", 5, "runs per configuration; the median is reported")
	parallelism := flag.Int("parallelism", 1, "operator instances")
	langs := flag.String("langs", "", "comma-separated guest languages for the language, preemption and density tables (default: all that build)")
	sweep := flag.Bool("sweep", true, "run the batch-size sweep of native Go against the Go guest")
	floor := flag.Bool("floor", true, "measure each language's raw wazero loop, as built and instrumented, against its end-to-end row")
	peers := flag.Bool("peers", true, "measure the Extism plugin rows against the Rust and C end-to-end rows")
	curve := flag.Bool("curve", false, "run the cost curve (batch sizes × value sizes × parallelism, one operator and a chain of three) instead of the tables")
	curveLangs := flag.String("curve-langs", "rust,go", "guest languages of the cost curve")
	ckptKeys := flag.Int("checkpoint-keys", 1_000_000, "keys for the state checkpoint and recovery measurement (0 skips it)")
	langTable := flag.Bool("lang-table", true, "run the language table (every language at batch 1000; the floor is measured with it)")
	kafkaTable := flag.Bool("kafka", false, "run the Kafka pipeline table: Kafka → Rust uppercase → Kafka on kfake, at-least-once and exactly-once, against the raw franz-go client")
	kafkaRecords := flag.Int("kafka-records", 1_000_000, "records per run of the Kafka table")
	densityTable := flag.Bool("density", false, "run the density table: 1000 live operator instances from 100 tenants in one process, per language, with RSS and instance start times")
	densityChild := flag.String("density-child", "", "internal: LANG=MODULE: measure density for one module in this process and print the result as JSON")
	asyncTable := flag.Bool("async", false, "run the async I/O table: the lookup operator against a local service answering after 10ms (capacity 1 against 100), ordered against unordered with latencies of 1-50ms, and against the local Redis on Zipf keys with and without a cache and batching")
	redisAddr := flag.String("redis", "127.0.0.1:6379", "the Redis server of the async table")
	preemptTable := flag.Bool("preempt", false, "run the preemption table: every language's uppercase pipeline at batch 1000 with preemption on and off (preemption: false), runs alternating, and the ratio on/off")
	swapTable := flag.Bool("swap", false, "run the hot-swap table: 20 module swaps under a 100k records/s stream, per language, with the pause each took")
	crashWriter := flag.String("crash-writer", "", "internal: fill a store in this directory, checkpoint it and exit without closing it")
	flag.Parse()
	if *densityChild != "" {
		lang, path, _ := strings.Cut(*densityChild, "=")
		e, err := host.NewEngine(context.Background())
		if err != nil {
			fail(err)
		}
		r, err := bench.MeasureDensity(context.Background(), e, lang, path, 1000, 100)
		if err != nil {
			fail(err)
		}
		json.NewEncoder(os.Stdout).Encode(r)
		return
	}
	if *crashWriter != "" {
		if err := bench.FillAndCrash(*crashWriter, *ckptKeys); err != nil {
			fail(err)
		}
		os.Exit(0)
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "wasmstream-bench")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	env, err := bench.NewEnv(ctx, ".", dir)
	if err != nil {
		fail(err)
	}
	defer env.Close(ctx)
	for _, err := range env.Skipped {
		fmt.Fprintln(os.Stderr, "harness: skipped:", err)
	}
	if *curve {
		for _, lang := range strings.Split(*curveLangs, ",") {
			if env.Modules[lang] == "" {
				fmt.Fprintf(os.Stderr, "harness: no %s guest for the curve\n", lang)
				continue
			}
			fmt.Printf("\ncost curve, %s guest, uppercase map, records/s and values' MB/s, median of %d runs\n", lang, *runs)
			if _, err := env.Curve(ctx, lang, *runs, dir, os.Stdout); err != nil {
				fail(err)
			}
		}
		return
	}
	if *asyncTable {
		if err := asyncTables(ctx, dir, *runs, *redisAddr); err != nil {
			fail(err)
		}
	}
	median := func(kind string, batch, n int) float64 {
		var rates []float64
		for r := 0; r < *runs; r++ {
			start := time.Now()
			got, err := env.Run(ctx, kind, batch, *parallelism, n, filepath.Join(dir, fmt.Sprintf("%s-%d-%d", kind, batch, r)))
			if err != nil {
				fail(err)
			}
			rates = append(rates, float64(got)/time.Since(start).Seconds())
		}
		sort.Float64s(rates)
		return rates[len(rates)/2]
	}
	if *sweep || *langTable {
		fmt.Printf("uppercase map of %d-byte values, end to end through the runtime, parallelism %d, median of %d runs\n", bench.ValueSize, *parallelism, *runs)
	}
	if *sweep {
		fmt.Printf("\n%-8s %12s %14s %14s %8s\n", "batch", "records/run", "native rec/s", "go wasm rec/s", "go/native")
		for _, batch := range []int{1, 100, 1000} {
			n := *records
			if batch == 1 {
				n /= 10
			}
			native, wasm := median("native", batch, n), median("go", batch, n)
			fmt.Printf("%-8d %12d %14.0f %14.0f %8.2f\n", batch, n, native, wasm, wasm/native)
		}
	}
	var measured []string
	e2e := map[string]float64{}
	floors := map[string][2]float64{} // language → floor, instrumented loop
	if *langTable {
		fmt.Printf("\nbatch 1000, %d records per run; GC is the garbage collector's share of the CPU the runs used\n%-16s %14s %8s %18s %6s\n", *records, "operator", "rec/s", "/native", "instance creation", "GC")
		native := median("native", 1000, *records)
		fmt.Printf("%-16s %14.0f %8.2f %18s\n", "native Go", native, 1.0, "-")
		for _, lang := range env.Langs {
			if *langs != "" && !slices.Contains(strings.Split(*langs, ","), lang) {
				continue
			}
			var rate float64
			var gc float64
			if *floor {
				// The end-to-end runs alternate with the floor's, so that a
				// change in the machine's load falls on all three.
				var err error
				if rate, gc, floors[lang], err = measureWithFloor(ctx, env, lang, *parallelism, *records, *runs, dir); err != nil {
					fail(fmt.Errorf("%s: %w", lang, err))
				}
			} else {
				before := gcShare()
				rate = median(lang, 1000, *records)
				gc = gcShare().since(before)
			}
			inst, err := env.InstanceCreation(ctx, lang, 51)
			if err != nil {
				fail(err)
			}
			fmt.Printf("%-16s %14.0f %8.2f %16.0fµs %5.1f%%\n", lang+" wasm", rate, rate/native, float64(inst.Microseconds()), 100*gc)
			measured = append(measured, lang)
			e2e[lang] = rate
		}
		if *floor {
			fmt.Printf("\nraw wazero floor: process on the same batches of %d in a plain loop (alloc, write, process, read), %d records per run,\n", bench.FloorBatch, *records)
			fmt.Printf("its runs alternating with the end-to-end runs; \"instrumented\" is the loop over the module as the runtime rewrites it\n")
			fmt.Printf("%-16s %14s %16s %14s %10s %10s\n", "language", "floor rec/s", "instrumented", "e2e rec/s", "e2e/floor", "e2e/instr")
			for _, lang := range measured {
				f, i := floors[lang][0], floors[lang][1]
				fmt.Printf("%-16s %14.0f %16.0f %14.0f %10.2f %10.2f\n", lang, f, i, e2e[lang], e2e[lang]/f, e2e[lang]/i)
			}
		}
	}
	if *peers {
		if err := peerRows(ctx, dir, e2e, *records, *runs); err != nil {
			fail(err)
		}
	}
	if *preemptTable {
		fmt.Printf("\npreemption: the uppercase map of %d-byte values end to end, batch %d, %d records per run, median of %d runs each,\n", bench.ValueSize, bench.PreemptBatch, *records, *runs)
		fmt.Println("the module rewritten for deadlines (on, the default) and compiled as built (off: preemption: false), runs alternating")
		fmt.Println("(paired: the median of on/off over each on run and the off run next to it)")
		fmt.Printf("%-16s %14s %14s %8s %8s\n", "language", "on rec/s", "off rec/s", "on/off", "paired")
		for _, lang := range env.Langs {
			if *langs != "" && !slices.Contains(strings.Split(*langs, ","), lang) {
				continue
			}
			r, err := env.MeasurePreemption(ctx, lang, *records, *runs, dir)
			if err != nil {
				fail(err)
			}
			fmt.Printf("%-16s %14.0f %14.0f %8.2f %8.2f\n", lang, r.On, r.Off, r.Ratio(), r.Paired)
		}
		fmt.Println("(target: preemption costs at most 20%: on/off of 0.80 or more)")
	}
	if *kafkaTable {
		if err := kafkaRows(ctx, env, *kafkaRecords, *runs, dir); err != nil {
			fail(err)
		}
	}
	if *densityTable {
		fmt.Println("\nDensity: 1000 uppercase instances (100 tenants × 10 operators), each started with a 16 MiB memory limit and a deadline")
		fmt.Println("and given one batch, all alive at once in one process (a process of its own per language)")
		fmt.Printf("%-15s %10s %12s %12s %12s %12s\n", "lang", "instances", "RSS", "RSS/inst", "start p50", "start p99")
		self, err := os.Executable()
		if err != nil {
			fail(err)
		}
		for _, lang := range env.Langs {
			if *langs != "" && !slices.Contains(strings.Split(*langs, ","), lang) {
				continue
			}
			outp, err := exec.Command(self, "-density-child", lang+"="+env.Modules[lang]).Output()
			if err != nil {
				fail(fmt.Errorf("density of %s: %w", lang, err))
			}
			var r bench.DensityResult
			if err := json.Unmarshal(outp, &r); err != nil {
				fail(err)
			}
			fmt.Printf("%-15s %10d %10.0fMiB %10.2fMiB %12v %12v\n", lang, r.Instances, float64(r.RSS)/(1<<20),
				float64(r.RSS-r.Base)/float64(r.Instances)/(1<<20), r.StartP50.Round(time.Microsecond), r.StartP99.Round(time.Microsecond))
		}
		fmt.Println("(target: under 2 GiB RSS for 1000 instances)")
	}
	if *swapTable {
		fmt.Println("\nHot swap: the uppercase module swapped 20 times, every 250ms, between two versions (same code, two digests),")
		fmt.Println("under a paced stream of 100000 records/s (batches of 1000); pause = draining what is in flight + the switch")
		fmt.Printf("%-6s %10s %10s %10s %10s %12s %8s %6s\n", "lang", "records", "rec/s", "pause p50", "pause p99", "pause max", "missing", "twice")
		for _, lang := range env.Langs {
			r, err := env.MeasureSwaps(ctx, lang, 100000, 20, 250*time.Millisecond, dir)
			if err != nil {
				fail(err)
			}
			fmt.Printf("%-6s %10d %10.0f %10v %10v %12v %8d %6d\n", lang, r.Records, r.Rate, r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Max.Round(time.Microsecond), r.Missing, r.Twice)
		}
		fmt.Println("(target: pause p99 < 50ms, every sequence number once)")
	}
	if *ckptKeys > 0 {
		var rs []bench.CheckpointResult
		for r := 0; r < min(*runs, 3); r++ {
			res, err := bench.MeasureCheckpoint(filepath.Join(dir, fmt.Sprintf("state-%d", r)), *ckptKeys)
			if err != nil {
				fail(err)
			}
			rs = append(rs, res)
		}
		med := func(f func(bench.CheckpointResult) time.Duration) time.Duration {
			ds := make([]time.Duration, len(rs))
			for i, r := range rs {
				ds[i] = f(r)
			}
			slices.Sort(ds)
			return ds[len(ds)/2]
		}
		fmt.Printf("\nkeyed state, %d keys of 8-byte counters, median of %d\n", *ckptKeys, len(rs))
		fmt.Printf("  write through the cache  %v\n", med(func(r bench.CheckpointResult) time.Duration { return r.Write }).Round(time.Millisecond))
		fmt.Printf("  checkpoint (commit)      %v  (target < 2s)\n", med(func(r bench.CheckpointResult) time.Duration { return r.Checkpoint }).Round(time.Millisecond))
		fmt.Printf("  retained copy            %v  (background)\n", med(func(r bench.CheckpointResult) time.Duration { return r.Retained }).Round(time.Millisecond))
		fmt.Printf("  recovery (reopen)        %v  (target < 5s)\n", med(func(r bench.CheckpointResult) time.Duration { return r.Recovery }).Round(time.Millisecond))
		fmt.Printf("  read every key back      %v\n", med(func(r bench.CheckpointResult) time.Duration { return r.Scan }).Round(time.Millisecond))
		fmt.Printf("  store size               %.1f MB (retained copy %.1f MB, mostly hard links)\n", float64(rs[0].LiveBytes)/1e6, float64(rs[0].CopyBytes)/1e6)
		// Recovery after a crash: a child process checkpoints and exits
		// without closing the store, so reopening replays its log.
		var crash []time.Duration
		for r := 0; r < min(*runs, 3); r++ {
			cdir := filepath.Join(dir, fmt.Sprintf("crash-%d", r))
			self, _ := os.Executable()
			cmd := exec.Command(self, "-crash-writer", cdir, "-checkpoint-keys", fmt.Sprint(*ckptKeys))
			cmd.Stderr = os.Stderr
			if err := cmd.Run(); err != nil {
				fail(fmt.Errorf("crash writer: %w", err))
			}
			d, err := bench.MeasureCrashRecovery(cdir, *ckptKeys)
			if err != nil {
				fail(err)
			}
			crash = append(crash, d)
		}
		slices.Sort(crash)
		fmt.Printf("  recovery after a crash   %v  (the store reopened by a new process, log replayed; target < 5s)\n", crash[len(crash)/2].Round(time.Millisecond))
	}
}

// medianRate runs f runs times and returns the median of the records/s it
// reached.
func medianRate(runs int, f func() (int64, error)) (float64, error) {
	var rates []float64
	for range runs {
		start := time.Now()
		n, err := f()
		if err != nil {
			return 0, err
		}
		rates = append(rates, float64(n)/time.Since(start).Seconds())
	}
	sort.Float64s(rates)
	return rates[len(rates)/2], nil
}

// cpuTimes is the process's CPU time so far, split by the runtime's CPU
// classes.
type cpuTimes struct{ gc, used float64 }

// gcShare reads the runtime's CPU-class metrics.
func gcShare() cpuTimes {
	samples := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/cpu/classes/total:cpu-seconds"}, {Name: "/cpu/classes/idle:cpu-seconds"}}
	goruntime.GC() // the CPU classes are brought up to date at each GC
	metrics.Read(samples)
	return cpuTimes{gc: samples[0].Value.Float64(), used: samples[1].Value.Float64() - samples[2].Value.Float64()}
}

// since returns the garbage collector's share of the CPU used since
// before (the forced GC of the readings themselves included).
func (t cpuTimes) since(before cpuTimes) float64 {
	if used := t.used - before.used; used > 0 {
		return (t.gc - before.gc) / used
	}
	return 0
}

// measureWithFloor returns the median records/s of lang's end-to-end
// batch-1000 runs, the garbage collector's share of the CPU they used, and
// its floor (see measureFloor), the runs of all three alternating.
func measureWithFloor(ctx context.Context, env *bench.Env, lang string, parallelism, n, runs int, dir string) (float64, float64, [2]float64, error) {
	var res [2]float64
	var loops [2]*bench.FloorLoop
	for k, instrumented := range []bool{false, true} {
		l, err := bench.NewFloorLoop(ctx, env.Modules[lang], instrumented)
		if err != nil {
			return 0, 0, res, err
		}
		defer l.Close(ctx)
		loops[k] = l
	}
	var e2e []float64
	var rates [2][]float64
	var gcTime, used float64
	for r := range runs {
		before := gcShare()
		rate, err := medianRate(1, func() (int64, error) {
			return env.Run(ctx, lang, 1000, parallelism, n, filepath.Join(dir, fmt.Sprintf("%s-floor-%d", lang, r)))
		})
		if err != nil {
			return 0, 0, res, err
		}
		after := gcShare()
		gcTime, used = gcTime+after.gc-before.gc, used+after.used-before.used
		e2e = append(e2e, rate)
		for k, l := range loops {
			rate, err := medianRate(1, func() (int64, error) { return l.Run(ctx, n) })
			if err != nil {
				return 0, 0, res, err
			}
			rates[k] = append(rates[k], rate)
		}
	}
	for k := range rates {
		sort.Float64s(rates[k])
		res[k] = rates[k][len(rates[k])/2]
	}
	sort.Float64s(e2e)
	return e2e[len(e2e)/2], gcTime / max(used, 1e-9), res, nil
}

// peerRows prints the records/s of the uppercase map as an Extism plugin,
// one call per record and one per batch, with each as a ratio of the Rust
// and C end-to-end rows. The per-record row runs a hundredth of the
// records: a call takes tens of microseconds.
func peerRows(ctx context.Context, dir string, e2e map[string]float64, records, runs int) error {
	peer, err := bench.NewExtismPeer(ctx, ".", dir)
	if errors.Is(err, guestbuild.ErrNoToolchain) {
		fmt.Printf("\nExtism rows skipped: the plugin did not build: %v\n", err)
		return nil
	}
	if err != nil {
		return err
	}
	defer peer.Close(ctx)
	perRecord := max(records/100, 1)
	ratio := func(rate float64, lang string) string {
		if e2e[lang] == 0 {
			return "-"
		}
		return fmt.Sprintf("%.3f", rate/e2e[lang])
	}
	fmt.Printf("\nExtism peer (%s on the same wazero, C plugin bench/peers/extism), median of %d runs\n", extismVersion(), runs)
	fmt.Printf("%-26s %12s %14s %10s %10s\n", "extism", "records/run", "rec/s", "/rust e2e", "/c e2e")
	for _, row := range []struct {
		name string
		n    int
		run  func(context.Context, int) (int64, error)
	}{
		{"1 call per record", perRecord, peer.RunPerRecord},
		{fmt.Sprintf("1 call per %d records", bench.PeerBatch), records, peer.RunBatched},
	} {
		rate, err := medianRate(runs, func() (int64, error) { return row.run(ctx, row.n) })
		if err != nil {
			return err
		}
		fmt.Printf("%-26s %12d %14.0f %10s %10s\n", row.name, row.n, rate, ratio(rate, "rust"), ratio(rate, "c"))
	}
	fmt.Printf("(the per-record row runs a hundredth of the records: each call takes tens of microseconds)\n")
	return nil
}

// extismVersion names the Extism Go SDK the harness was built with.
func extismVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "github.com/extism/go-sdk" {
				return "Extism Go SDK " + m.Version
			}
		}
	}
	return "Extism Go SDK"
}

// kafkaRows prints the Kafka table: the raw franz-go loop, and the
// pipeline with the Rust guest at-least-once and exactly-once, with each
// pipeline row as a ratio of the raw loop and its target.
func kafkaRows(ctx context.Context, env *bench.Env, records, runs int, dir string) error {
	module := env.Modules["rust"]
	if module == "" {
		return errors.New("the Kafka table needs the Rust uppercase guest, which did not build (scripts/toolchains/rust.sh installs its toolchain)")
	}
	res, err := bench.MeasureKafka(ctx, env.Engine, module, records, runs, dir)
	if err != nil {
		return err
	}
	fmt.Printf("\nKafka → rust wasm uppercase → Kafka, kfake in process (%d brokers, topics %s and %s of %d partitions), %d records of %d-byte values,\n",
		bench.KafkaBrokers, bench.KafkaIn, bench.KafkaOut, bench.KafkaPartitions, records, bench.ValueSize)
	fmt.Printf("input produced once per run, batch %d, median of %d runs; every run's output read back read_committed and checked\n", bench.KafkaBatch, runs)
	fmt.Printf("%-34s %12s %8s %8s %6s %12s %10s\n", "row", "rec/s", "/raw", "target", "met", "checkpoints", "txns")
	raw := res.Raw.Rate()
	fmt.Printf("%-34s %12.0f %8.2f %8s %6s %12s %10s\n", "raw franz-go (at-least-once)", raw, 1.0, "-", "-", "-", "-")
	for _, row := range []struct {
		name   string
		run    bench.KafkaRun
		target float64
	}{
		{"wasmstream at-least-once", res.AtLeastOnce, 0.5},
		{fmt.Sprintf("wasmstream exactly-once (ckpt %v)", bench.KafkaCheckpointInterval), res.ExactlyOnce, 0.3},
	} {
		ratio := row.run.Rate() / raw
		met := "no"
		if ratio >= row.target {
			met = "yes"
		}
		fmt.Printf("%-34s %12.0f %8.2f %8s %6s %12d %10d\n", row.name, row.run.Rate(), ratio, fmt.Sprintf("≥ %.2f", row.target), met, row.run.Checkpoints, row.run.Transactions)
	}
	fmt.Printf("(raw: until the last produce was acknowledged; at-least-once: until the sink wrote every record; exactly-once: until the\n")
	fmt.Printf(" pipeline stopped gracefully, its last transaction committed; duplicates in the median runs: raw %d, at-least-once %d, exactly-once %d)\n",
		res.Raw.Records-res.Raw.Distinct, res.AtLeastOnce.Records-res.AtLeastOnce.Distinct, res.ExactlyOnce.Records-res.ExactlyOnce.Distinct)
	return nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "harness:", err)
	os.Exit(1)
}

// asyncTables prints the async I/O figures (bench/async.go).
func asyncTables(ctx context.Context, dir string, runs int, redisAddr string) error {
	a, err := bench.NewAsyncEnv(ctx, ".", dir)
	if err != nil {
		return err
	}
	defer a.Close(ctx)
	med := func(xs []float64) float64 {
		s := slices.Clone(xs)
		sort.Float64s(s)
		return s[len(s)/2]
	}
	seq := func(i int) string { return strconv.Itoa(i) }

	svc, err := bench.StartLookupService(10*time.Millisecond, 10*time.Millisecond)
	if err != nil {
		return err
	}
	var one, hundred []float64
	for r := 0; r < runs; r++ {
		x, err := a.Run(ctx, 200, seq, "http", bench.HTTPAsync(svc.URL, "ordered", 1))
		if err != nil {
			return err
		}
		y, err := a.Run(ctx, 10000, seq, "http", bench.HTTPAsync(svc.URL, "ordered", 100))
		if err != nil {
			return err
		}
		one, hundred = append(one, x.Rate), append(hundred, y.Rate)
	}
	svc.Close()
	fmt.Printf("\nasync I/O: the lookup operator (Go guest), one HTTP GET per record to a local service answering after 10ms, median of %d runs\n", runs)
	fmt.Printf("%-28s %12s\n", "", "records/s")
	fmt.Printf("%-28s %12.0f\n", "capacity 1 (one at a time)", med(one))
	fmt.Printf("%-28s %12.0f\n", "capacity 100", med(hundred))
	fmt.Printf("ratio %.1fx (target: at least 50x)\n", med(hundred)/med(one))

	svc, err = bench.StartLookupService(time.Millisecond, 50*time.Millisecond)
	if err != nil {
		return err
	}
	var ord, unord []float64
	for r := 0; r < runs; r++ {
		x, err := a.Run(ctx, 10000, seq, "http", bench.HTTPAsync(svc.URL, "ordered", 100))
		if err != nil {
			return err
		}
		y, err := a.Run(ctx, 10000, seq, "http", bench.HTTPAsync(svc.URL, "unordered", 100))
		if err != nil {
			return err
		}
		ord, unord = append(ord, x.Rate), append(unord, y.Rate)
	}
	svc.Close()
	fmt.Printf("\nordered against unordered: latencies 1-50ms (by key), capacity 100, 10000 records, median of %d runs\n", runs)
	fmt.Printf("%-28s %12.0f\n%-28s %12.0f\n", "ordered", med(ord), "unordered", med(unord))
	fmt.Printf("ordered/unordered %.2f (target: within 20%%)\n", med(ord)/med(unord))

	const keys, n = 10000, 100000
	calls, cleanup, err := bench.RedisFixture(ctx, redisAddr, keys)
	if err != nil {
		return err
	}
	defer cleanup()
	fmt.Printf("\nRedis GET per record on Zipf keys (s 1.1, %d keys), %d records, capacity 100, median of %d runs\n", keys, n, runs)
	fmt.Printf("%-20s %12s %16s %10s\n", "", "records/s", "commands/record", "vs plain")
	var plain float64
	for _, c := range []struct {
		name         string
		cache, batch bool
	}{{"plain", false, false}, {"cache", true, false}, {"batch", false, true}, {"cache + batch", true, true}} {
		var rates, per []float64
		for r := 0; r < runs; r++ {
			before, err := calls()
			if err != nil {
				return err
			}
			x, err := a.Run(ctx, n, bench.Zipf(keys, uint64(r+1)), "redis", bench.RedisAsync(redisAddr, 100, c.cache, c.batch))
			if err != nil {
				return err
			}
			after, err := calls()
			if err != nil {
				return err
			}
			rates, per = append(rates, x.Rate), append(per, float64(after-before)/float64(n))
		}
		if c.name == "plain" {
			plain = med(rates)
		}
		fmt.Printf("%-20s %12.0f %16.3f %10.2f\n", c.name, med(rates), med(per), med(rates)/plain)
	}
	return nil
}
