package bench_test

import (
	"context"
	"errors"
	"testing"

	"github.com/wasmstream/wasmstream/bench"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
)

// TestFloorLoop runs the Go guest's module in the plain loop, as built and
// instrumented: every batch comes back upper-cased (NewFloorLoop checks a
// whole batch, Run the first record of each) and Run counts whole batches.
func TestFloorLoop(t *testing.T) {
	ctx := context.Background()
	env, err := bench.NewEnv(ctx, "..", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close(ctx)
	for _, instrumented := range []bool{false, true} {
		l, err := bench.NewFloorLoop(ctx, env.Modules["go"], instrumented)
		if err != nil {
			t.Fatalf("instrumented=%v: %v", instrumented, err)
		}
		n, err := l.Run(ctx, 2500)
		l.Close(ctx)
		if err != nil {
			t.Fatalf("instrumented=%v: %v", instrumented, err)
		}
		if n != 3*bench.FloorBatch {
			t.Errorf("instrumented=%v: Run(2500) = %d records, want %d (three batches)", instrumented, n, 3*bench.FloorBatch)
		}
	}
}

// TestExtismPeer builds the Extism plugin and runs both of its exports
// through the Extism SDK; each checks its output.
func TestExtismPeer(t *testing.T) {
	ctx := context.Background()
	p, err := bench.NewExtismPeer(ctx, "..", t.TempDir())
	if errors.Is(err, guestbuild.ErrNoToolchain) && !guestbuild.Required() {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	if n, err := p.RunPerRecord(ctx, 10); err != nil || n != 10 {
		t.Errorf("RunPerRecord(10) = %d, %v; want 10, nil", n, err)
	}
	if n, err := p.RunBatched(ctx, 2*bench.PeerBatch); err != nil || n != 2*bench.PeerBatch {
		t.Errorf("RunBatched(%d) = %d, %v; want %[1]d, nil", 2*bench.PeerBatch, n, err)
	}
}
