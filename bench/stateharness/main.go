// Command stateharness measures cached state reads per second from the
// statebench guest of every language whose toolchain is installed
// (examples/wasm/statebench), through the real host with a warm cache, and
// from Go straight on a state.Txn for comparison (no Wasm: what the store
// alone costs). Runs of the languages are interleaved, so load on a shared
// machine falls on all of them alike; it prints each one's median, and the
// spread.
//
//	go run ./bench/stateharness [-runs 7] [-passes 3] [-keys 10000] [-reads 10] [-langs rust,c]
//
// Each run is one instance reading on one goroutine. Besides reads per
// second of wall time it prints reads per second of the process's CPU time
// (user and system, every thread: the garbage collector's too), which is
// the per-core figure, and which load from other processes on a shared
// machine disturbs less.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/wasmstream/wasmstream/bench"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
)

func main() {
	runs := flag.Int("runs", 7, "timed runs per language; the median is reported")
	passes := flag.Int("passes", 3, "passes over the keys per run")
	keys := flag.Int("keys", 10000, "distinct record keys")
	reads := flag.Int("reads", 10, "state reads per record")
	counters := flag.Int("counters", 10, "counters per key (at most 16)")
	batch := flag.Int("batch", 1000, "records per process call")
	langs := flag.String("langs", "", "comma-separated guest languages (default: all that build)")
	flag.Parse()
	ctx := context.Background()
	root, err := guestbuild.Root()
	if err != nil {
		fail(err)
	}
	dir, err := os.MkdirTemp("", "wasmstream-statebench")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	var only []string
	if *langs != "" {
		only = strings.Split(*langs, ",")
	}
	env, err := bench.NewStateEnv(ctx, root, dir, only...)
	if err != nil {
		fail(err)
	}
	defer env.Close(ctx)
	for _, err := range env.Skipped {
		fmt.Fprintln(os.Stderr, "stateharness: skipped:", err)
	}
	o := bench.StateOptions{Keys: *keys, Reads: *reads, Counters: *counters, Batch: *batch}

	type subject struct {
		name    string
		measure func(int) (float64, error)
		rates   []float64 // reads per second of wall time
		cpu     []float64 // reads per second of CPU time
		reads   int64     // per run
	}
	var subjects []*subject
	for _, lang := range env.Langs {
		r, err := env.OpenStateReader(ctx, lang, filepath.Join(dir, "state-"+lang), o)
		if err != nil {
			fail(fmt.Errorf("%s: %w", lang, err))
		}
		defer r.Close(ctx)
		subjects = append(subjects, &subject{name: lang + " guest", measure: r.Measure, reads: int64(*passes) * r.ReadsPerPass()})
	}
	tr, err := bench.OpenTxnReader(filepath.Join(dir, "state-txn"), o)
	if err != nil {
		fail(err)
	}
	defer tr.Close()
	subjects = append(subjects, &subject{name: "Go on the Txn", measure: tr.Measure, reads: int64(*passes) * tr.ReadsPerPass()})

	for range *runs {
		for _, s := range subjects {
			before := cpuTime()
			rate, err := s.measure(*passes)
			if err != nil {
				fail(fmt.Errorf("%s: %w", s.name, err))
			}
			s.rates = append(s.rates, rate)
			s.cpu = append(s.cpu, float64(s.reads)/(cpuTime()-before).Seconds())
		}
	}
	fmt.Printf("cached state reads: %d keys × %d reads per record (%d counters each), %d records per call, %d passes per run, median of %d runs\n\n",
		*keys, *reads, *counters, *batch, *passes, *runs)
	fmt.Printf("%-16s %14s %10s %26s %16s %12s\n", "reader", "reads/s", "ns/read", "spread (reads/s)", "reads/CPU-s", "CPU ns/read")
	for _, s := range subjects {
		slices.Sort(s.rates)
		slices.Sort(s.cpu)
		med, cpu := s.rates[len(s.rates)/2], s.cpu[len(s.cpu)/2]
		fmt.Printf("%-16s %14.0f %10.0f %12.0f – %-11.0f %16.0f %12.0f\n", s.name, med, 1e9/med, s.rates[0], s.rates[len(s.rates)-1], cpu, 1e9/cpu)
	}
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fail(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "stateharness:", err)
	os.Exit(1)
}
