// Command wasmstream runs, validates and inspects wasmstream pipelines and
// operator modules.
//
// Exit codes: 0 success; 1 an unexpected failure; 2 bad usage, an invalid
// pipeline file or a module the host refuses; 3 an operator failed and the
// failure policy stopped the pipeline; 4 a source or sink failed; 5 stopped
// by a signal but in-flight records could not drain in time; 6 (state and
// savepoint) the key, value or state store asked for does not exist; 7 the
// state store could not be opened or checkpointed (a corrupt data directory:
// see state.on_corrupt); 8 the state store is in use by another process (the
// pipeline is already running); 130 stopped by SIGINT or SIGTERM after
// draining; 131 a second SIGINT or SIGTERM exited without draining.
// test exits 1 when a case of a test file fails.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// Exit codes.
const (
	exitOK          = 0
	exitFailure     = 1
	exitConfig      = 2
	exitOperator    = 3
	exitConnector   = 4
	exitDrainFailed = 5
	exitNotFound    = 6
	exitState       = 7
	exitLocked      = 8
	exitInterrupted = 130
	exitAborted     = 131
)

const usage = `wasmstream runs stream pipelines whose operators are WebAssembly modules.

Usage:
  wasmstream run [flags] PIPELINE.yaml       run a pipeline until its source ends or it is stopped
  wasmstream validate [flags] PIPELINE.yaml  check a pipeline file and its modules without running it
  wasmstream inspect [flags] MODULE.wasm     show a module's ABI version, language, exports, imports and memory
  wasmstream components [flags] [NAME]       list the sources, operators and sinks, with their settings (or only NAME's)
  wasmstream state get|list [flags] PIPELINE.yaml --operator OP ...
                                             read a pipeline's keyed state, running or not
  wasmstream savepoint [flags] PIPELINE.yaml take a savepoint to start a run from (run --from-savepoint)
  wasmstream test [flags] MODULE.wasm|PIPELINE_TEST.yaml
                                             run a module over input records, or a pipeline's test cases

  wasmstream serve --config SERVER.yaml      run a server for many tenants' pipelines (REST API: docs/openapi.yaml)
  wasmstream tenant|module|pipeline ... --server URL   manage a server's tenants, modules and pipelines
  wasmstream --version                       print the version

Run 'wasmstream COMMAND --help' for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitConfig
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "validate":
		return cmdValidatePipeline(args[1:], stdout, stderr)
	case "inspect":
		return cmdInspect(args[1:], stdout, stderr)
	case "components":
		return cmdComponents(args[1:], stdout, stderr)
	case "state":
		return cmdState(args[1:], stdout, stderr)
	case "savepoint":
		return cmdSavepoint(args[1:], stdout, stderr)
	case "test":
		return cmdTest(args[1:], stdout, stderr)
	case "serve":
		return cmdServe(args[1:], stdout, stderr)
	case "tenant", "module", "pipeline":
		return cmdClient(args[0], args[1:], stdout, stderr)
	case "-version", "--version", "version":
		fmt.Fprintf(stdout, "wasmstream %s\n", version())
		return exitOK
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "wasmstream: unknown command %q\n\n%s", args[0], usage)
	return exitConfig
}

// version is the main module's version as the build recorded it ("v1.2.3",
// or a pseudo-version), with the VCS revision when the build has one, or
// "devel".
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " (" + s.Value[:12] + ")"
		}
	}
	return v + " " + bi.GoVersion
}
