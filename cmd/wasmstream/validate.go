package main

import (
	"context"
	"fmt"
	"io"

	"github.com/wasmstream/wasmstream/runtime"
)

// cmdValidatePipeline checks a pipeline file in one pass (runtime.Check):
// every setting, the files it names, each module loaded and its init run
// with its params, all reported at once with file, line and setting.
func cmdValidatePipeline(args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	fs := newFlagSet("validate", "PIPELINE.yaml", "Checks a pipeline file without running it and reports every problem at once, each with its line and setting: "+
		"every setting, the files and directories it names, each module (loaded, its ABI checked and its init run with its params in a throwaway instance) and duplicate operator names. "+
		"Relative paths in the file are relative to its directory. With --quiet it prints nothing when the pipeline is valid: the exit code says it.", stderr)
	c.register(fs)
	path, code, ok := parseArgs(fs, args, stdout)
	if !ok {
		return code
	}
	logger, err := c.logger(stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	ctx := context.Background()
	reg, engine, err := newRegistry(ctx, logger)
	if err != nil {
		fmt.Fprintf(stderr, "wasmstream: %v\n", err)
		return exitFailure
	}
	defer engine.Close(ctx)
	s, err := runtime.Check(ctx, path, reg)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return exitConfig
	}
	if c.quiet {
		return exitOK
	}
	fmt.Fprintf(stdout, "%s: pipeline %q is valid: source %s, %d operator(s), sink %s, %d named output(s)\n",
		path, s.Name, s.Source.Name, len(s.Operators), s.Sink.Name, len(s.Outputs))
	return exitOK
}
