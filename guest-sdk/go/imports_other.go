//go:build !wasip1

package wasmstream

import (
	"github.com/wasmstream/wasmstream/abi"
)

// Native stand-ins for the host functions, so operators build and test on
// the host platform. State lives in local (local.go).

func hostLog(level abi.LogLevel, msg string) { local.log(level, msg) }

func hostMetricAdd(name string, delta int64) { local.add(name, delta) }
