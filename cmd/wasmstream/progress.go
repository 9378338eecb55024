package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/wasmstream/wasmstream/runtime"
)

func isTerminal(w io.Writer) bool {
	if pw, ok := w.(*progressWriter); ok {
		w = pw.w
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// startProgress redraws a one-line status on w twice a second until the
// returned func is called. With detail, the line ends with each operator's
// rate of records in ("upper 1,234/s"). With dumb (TERM=dumb), it uses no escape codes:
// the line is redrawn after a carriage return and padded with spaces over
// what the previous one left. Whatever else writes to the same stderr must
// write through w, a *progressWriter, for its lines not to be glued onto
// the progress line.
func startProgress(p *runtime.Pipeline, w io.Writer, show, detail, dumb bool, start time.Time) func() {
	if !show {
		return func() {}
	}
	pw, ok := w.(*progressWriter)
	if !ok {
		pw = newProgressWriter(w, dumb)
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		var lastIn int64
		var lastOps []int64
		last := start
		for {
			select {
			case <-done:
				pw.clear()
				return
			case now := <-t.C:
				s := p.Stats()
				secs := now.Sub(last).Seconds()
				rate := float64(s.RecordsIn-lastIn) / secs
				lastIn, last = s.RecordsIn, now
				line := fmt.Sprintf("%s  in %s  out %s  dead %s  %s rec/s in", formatElapsed(now.Sub(start)),
					count(s.RecordsIn), count(s.RecordsOut), count(s.DeadLettered), count(int64(rate)))
				if detail {
					if lastOps == nil {
						lastOps = make([]int64, len(s.Operators))
					}
					for i, o := range s.Operators {
						line += fmt.Sprintf("  %s %s/s", o.Name, count(int64(float64(o.RecordsIn-lastOps[i])/secs)))
						lastOps[i] = o.RecordsIn
					}
				}
				pw.show(line)
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// progressWriter is stderr shared by the live progress line and everything
// else written there (log lines, notes): a write while the line is shown
// first clears it, so nothing is glued onto it, and the line is drawn again
// after a write that ends a line.
type progressWriter struct {
	mu   sync.Mutex
	w    io.Writer
	dumb bool // TERM=dumb: carriage returns and spaces, no escape codes

	line    string // the progress line on screen; "" when none is
	width   int    // of the widest line drawn, which a dumb redraw must cover
	midLine bool   // the last write left the cursor after text of its own
}

func newProgressWriter(w io.Writer, dumb bool) *progressWriter {
	return &progressWriter{w: w, dumb: dumb}
}

// Write writes b below or in place of the progress line.
func (pw *progressWriter) Write(b []byte) (int, error) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	line := pw.line
	pw.erase()
	n, err := pw.w.Write(b)
	if len(b) > 0 {
		pw.midLine = b[len(b)-1] != '\n'
	}
	if line != "" && !pw.midLine {
		pw.draw(line)
	}
	return n, err
}

// show draws line in place of the progress line shown.
func (pw *progressWriter) show(line string) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if pw.midLine {
		// Keep what was written without a newline: start below it.
		io.WriteString(pw.w, "\n")
		pw.midLine = false
	}
	pw.draw(line)
}

// clear removes the progress line from the screen.
func (pw *progressWriter) clear() {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	pw.erase()
}

func (pw *progressWriter) draw(line string) {
	if pw.dumb {
		fmt.Fprintf(pw.w, "\r%-*s", pw.width, line)
	} else {
		io.WriteString(pw.w, "\r\033[K"+line)
	}
	pw.line, pw.width = line, max(pw.width, len(line))
}

func (pw *progressWriter) erase() {
	if pw.line == "" {
		return
	}
	if pw.dumb {
		fmt.Fprintf(pw.w, "\r%*s\r", pw.width, "")
	} else {
		io.WriteString(pw.w, "\r\033[K")
	}
	pw.line = ""
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
