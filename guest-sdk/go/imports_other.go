//go:build !wasip1

package wasmstream

import (
	"fmt"

	"github.com/wasmstream/wasmstream/abi"
)

// Native stand-ins for the host functions, so operators build and test on
// the host platform. State lives in local (local.go).

func hostLog(level abi.LogLevel, msg string) { local.log(level, msg) }

func hostMetricAdd(name string, delta int64) { local.add(name, delta) }

func (l *localHost) log(level LogLevel, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// A log line that cannot be written has nowhere else to go.
	_, _ = fmt.Fprintf(l.out, "wasmstream %s: %s\n", levelName(level), msg)
}

func (l *localHost) add(name string, delta int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.metrics[name] += delta
}

func levelName(l LogLevel) string {
	switch l {
	case LogDebug:
		return "DEBUG"
	case LogInfo:
		return "INFO"
	case LogWarn:
		return "WARN"
	case LogError:
		return "ERROR"
	}
	return fmt.Sprintf("LEVEL(%d)", int32(l))
}
