package wasmstream

import (
	"fmt"

	"github.com/wasmstream/wasmstream/abi"
)

// LogLevel is the severity of a log message.
type LogLevel = abi.LogLevel

// Log levels, in increasing severity.
const (
	LogDebug = abi.LogDebug
	LogInfo  = abi.LogInfo
	LogWarn  = abi.LogWarn
	LogError = abi.LogError
)

// Log writes msg to the host's log at level. The host copies msg before Log
// returns. In a native build it goes to the writer set by SetLogOutput.
func Log(level LogLevel, msg string) { hostLog(level, msg) }

// Logf formats its arguments with fmt.Sprintf and logs the result. Unlike
// Log it allocates; prefer Log on a per-record path.
func Logf(level LogLevel, format string, args ...any) {
	hostLog(level, fmt.Sprintf(format, args...))
}

// Count adds delta to the operator's counter name, kept by the host. It does
// not allocate. In a native build it adds to the counters Metrics returns.
func Count(name string, delta int64) { hostMetricAdd(name, delta) }
