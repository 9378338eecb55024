package main

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLogLinesClearTheProgressLine guards issue #9 item 9: a log line
// written while the progress line was shown was glued onto its end
// ("... rec/s intime=... level=WARN ..."). The line is cleared before a log
// line and drawn again after it, with escape codes or, on a dumb terminal,
// with spaces.
func TestLogLinesClearTheProgressLine(t *testing.T) {
	for _, tc := range []struct {
		name  string
		term  string
		clear string // what must come right before the log line
	}{
		{"ansi", "TERM=xterm", `\r\x1b\[K`},
		{"dumb", "TERM=dumb", `\r +\r`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := pipeline(t, `
source: {generator: {rate: 2000, value_size: 10}}
sink: {stdout: {}}
`)
			cmd := exec.Command(binary, "run", "--progress", "always", p)
			cmd.Env = append(os.Environ(), tc.term)
			var errb bytes.Buffer
			stderr := &lockedWriter{w: &errb}
			cmd.Stderr = stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			t.Cleanup(func() {
				select {
				case <-done:
				default:
					cmd.Process.Kill()
					<-done
				}
			})
			text := func() string {
				stderr.mu.Lock()
				defer stderr.mu.Unlock()
				return errb.String()
			}
			eventually(t, "the progress line", func() bool { return strings.Contains(text(), " rec/s in") })
			cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-done:
			case <-time.After(time.Minute):
				t.Fatalf("no exit after SIGINT\n%q", text())
			}
			out := text()
			i := strings.Index(out, "time=")
			if i < 0 {
				t.Fatalf("no log line for the signal: %q", out)
			}
			if !regexp.MustCompile(`rec/s in *` + tc.clear + `$`).MatchString(out[:i]) {
				t.Fatalf("the log line does not start on a cleared line: %q", out)
			}
			if !strings.Contains(out[i:], "\n") || strings.Contains(out[i:strings.Index(out[i:], "\n")+i], "rec/s") {
				t.Fatalf("the log line is not a line of its own: %q", out)
			}
		})
	}
}
