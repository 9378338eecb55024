package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"time"

	"golang.org/x/term"

	"github.com/wasmstream/wasmstream/runtime"
)

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// startProgress redraws a one-line status on w twice a second until the
// returned func is called. With dumb (TERM=dumb), it uses no escape codes:
// the line is redrawn after a carriage return and padded with spaces over
// what the previous one left.
func startProgress(p *runtime.Pipeline, w io.Writer, show, dumb bool, start time.Time) func() {
	if !show {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		var lastIn int64
		last := start
		width := 0 // of the line drawn last
		for {
			select {
			case <-done:
				if dumb {
					fmt.Fprintf(w, "\r%*s\r", width, "")
				} else {
					fmt.Fprint(w, "\r\033[K")
				}
				return
			case now := <-t.C:
				s := p.Stats()
				rate := float64(s.RecordsIn-lastIn) / now.Sub(last).Seconds()
				lastIn, last = s.RecordsIn, now
				line := fmt.Sprintf("%s  in %s  out %s  dead %s  %s rec/s in", formatElapsed(now.Sub(start)),
					count(s.RecordsIn), count(s.RecordsOut), count(s.DeadLettered), count(int64(rate)))
				if dumb {
					fmt.Fprintf(w, "\r%-*s", width, line)
				} else {
					fmt.Fprint(w, "\r\033[K"+line)
				}
				width = max(width, len(line))
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

func printSummary(w io.Writer, p *runtime.Pipeline, d time.Duration) {
	s := p.Stats()
	rate := float64(s.RecordsIn) / max(d.Seconds(), 1e-9)
	fmt.Fprintf(w, "%s: %s records in, %s out, %s dead-lettered in %s (%s rec/s in)\n",
		p.Spec().Name, count(s.RecordsIn), count(s.RecordsOut), count(s.DeadLettered), d.Round(time.Millisecond), count(int64(rate)))
	for _, o := range s.Operators {
		fmt.Fprintf(w, "  operator %s: %s in, %s out, %s batches, %s failed\n", o.Name, count(o.RecordsIn), count(o.RecordsOut), count(o.Batches), count(o.Failures))
		for _, name := range slices.Sorted(maps.Keys(o.Metrics)) {
			fmt.Fprintf(w, "    %s: %s\n", name, count(o.Metrics[name]))
		}
	}
	if s.Checkpoints > 0 {
		fmt.Fprintf(w, "  checkpoints: %d\n", s.Checkpoints)
	}
	if s.OperatorRetries+s.SinkRetries > 0 {
		fmt.Fprintf(w, "  retries: %d operator, %d sink\n", s.OperatorRetries, s.SinkRetries)
	}
}

func formatElapsed(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%02d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
}

// count formats n with thousands separators.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
