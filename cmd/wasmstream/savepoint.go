package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/wasmstream/wasmstream/internal/durable"
	"github.com/wasmstream/wasmstream/runtime/query"
)

// moveSavepoint moves a complete savepoint directory: a durable rename on
// one filesystem, else a copy of synced files renamed into place, then the
// removal of the original.
func moveSavepoint(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	if err := durable.Rename(from, to); err == nil {
		return nil
	}
	tmp := to + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() {
			return fmt.Errorf("%s: unexpected directory %s in a savepoint", from, e.Name())
		}
		if err := durable.CopyFile(filepath.Join(from, e.Name()), filepath.Join(tmp, e.Name())); err != nil {
			return err
		}
	}
	if err := durable.SyncDir(tmp); err != nil {
		return err
	}
	if err := durable.Rename(tmp, to); err != nil {
		return err
	}
	return os.RemoveAll(from)
}

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
	moveTo := ""
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
		if query.SavepointAllowed(spec, abs) == nil {
			body, _ = json.Marshal(map[string]string{"dir": abs})
		} else {
			// The query server writes only under the data directory: it
			// writes there, and this command, with the caller's
			// permissions, moves the savepoint where it was asked.
			moveTo, body = abs, []byte("{}")
		}
	} else {
		body = []byte("{}")
	}
	t, err := connect(spec, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "wasmstream: %v\n", err)
		return connectExit(err)
	}
	defer t.close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	d, code := t.call(ctx, "POST", "/v1/savepoints", body, stderr)
	if d == nil {
		return code
	}
	if sp, _ := d["savepoint"].(map[string]any); moveTo != "" && sp != nil {
		from, _ := sp["dir"].(string)
		if err := moveSavepoint(from, moveTo); err != nil {
			fmt.Fprintf(stderr, "wasmstream: the savepoint is complete in %s, but moving it to %s failed: %v\n", from, moveTo, err)
			return exitFailure
		}
		sp["dir"] = moveTo
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
