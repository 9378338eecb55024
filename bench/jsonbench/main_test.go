package main

import (
	"context"
	"testing"
)

// TestEveryOperatorAgrees guards issue #9 item 3: every measured operator
// (native, and each language's guest) keeps exactly the clicks, each keyed
// by a user name, so the benchmark compares equal work.
func TestEveryOperatorAgrees(t *testing.T) {
	e, err := newEnv(t.Context(), "../..", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.engine.Close(context.Background()) })
	if len(e.kinds) < 3 {
		t.Fatalf("only %d operators built", len(e.kinds))
	}
	for _, k := range e.kinds {
		if _, err := e.run(t.Context(), k, 100, 3*poolSize+17, t.TempDir()); err != nil {
			t.Error(err)
		}
	}
}
