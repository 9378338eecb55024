package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

func cmdSavepoint(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("savepoint", "PIPELINE.yaml",
		"Takes a savepoint: a copy of the pipeline's state and source position that 'wasmstream run --from-savepoint DIR' starts from, here or in another data directory.\n"+
			"While the pipeline runs, it asks its query server, which checkpoints at the next read boundary and copies that checkpoint; when it is not running, it copies the last checkpoint from the data directory.", stderr)
	dataDir := fs.String("data-dir", "", "override the pipeline's data_dir")
	dir := fs.String("dir", "", "where to write the savepoint (must not exist; default <data_dir>/savepoints/<time>)")
	asJSON := fs.Bool("json", false, "print the savepoint's description as JSON")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait for the running pipeline to reach a read boundary")
	pos, code, ok := parsePositional(fs, args, 1, 1)
	if !ok {
		return code
	}
	spec, code := loadSpec(pos[0], *dataDir, stderr)
	if spec == nil {
		return code
	}
	var body []byte
	if *dir != "" {
		abs, err := filepath.Abs(*dir)
		if err != nil {
			fmt.Fprintf(stderr, "wasmstream: --dir: %v\n", err)
			return exitConfig
		}
		if _, err := os.Stat(abs); err == nil {
			fmt.Fprintf(stderr, "wasmstream: --dir %s already exists: a savepoint needs a new directory\n", abs)
			return exitConfig
		}
		body, _ = json.Marshal(map[string]string{"dir": abs})
	} else {
		body = []byte("{}")
	}
	t, err := connect(spec, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "wasmstream: %v\n", err)
		if errors.Is(err, errNoState) {
			return exitNotFound
		}
		return exitFailure
	}
	defer t.close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	d, code := t.call(ctx, "POST", "/v1/savepoints", body, stderr)
	if d == nil {
		return code
	}
	if *asJSON {
		return printJSON(stdout, stderr, d)
	}
	sp, _ := d["savepoint"].(map[string]any)
	how := "taken by the running pipeline"
	if !t.running {
		how = "copied from the last checkpoint (the pipeline is not running)"
	}
	fmt.Fprintf(stdout, "savepoint of checkpoint %v (%v), %s: %v\n", sp["id"], sp["time"], how, sp["dir"])
	return exitOK
}
