package file

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/runtime"
)

// BenchmarkReadAck reads a file of 1M short lines in batches of 1000 and
// acknowledges each batch as soon as it is read, as a fast pipeline does;
// the source saves its progress as it goes. It reports the progress file
// writes per run.
func BenchmarkReadAck(b *testing.B) {
	const n = 1_000_000
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "line-%07d\n", i)
	}
	p := filepath.Join(b.TempDir(), "in.txt")
	if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	cfg := SourceConfig{Path: p, Pattern: "*", PollInterval: time.Second, MinAge: time.Second, Format: "lines",
		OnInvalid: "fail", FileHeader: true, MaxLine: 1 << 20, MaxFileSize: 64 << 20}
	b.SetBytes(int64(sb.Len()))
	b.ReportAllocs()
	var writes int64
	for b.Loop() {
		src, err := NewSource(&cfg)
		if err != nil {
			b.Fatal(err)
		}
		if err := src.Open(b.Context(), runtime.Env{DataDir: b.TempDir(), BatchSize: 1000}); err != nil {
			b.Fatal(err)
		}
		for {
			_, ack, err := src.Read(b.Context())
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			ack(nil)
		}
		if err := src.Close(b.Context()); err != nil {
			b.Fatal(err)
		}
		writes += src.progress.writes.Load()
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(writes)/float64(b.N), "saves/op")
}
