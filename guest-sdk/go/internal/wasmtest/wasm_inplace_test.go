package wasmtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmstream/wasmstream/abi"
)

// TestWasmMapShapes runs the Map and MapInPlace shapes of
// testdata/benchguest in a real Wasm guest, where MapInPlace's decoding
// (unsafe reads at clamped positions, stores without write barriers) runs
// as the Wasm port compiles it: for frames of the common record, of every
// other shape, and malformed ones, both must answer exactly as the native
// SDK expects, the error messages included.
func TestWasmMapShapes(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to build the guests: %v", err)
	}
	root, err := filepath.Abs(filepath.Join("..", "..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	rt, lastErr := guestRuntime(t, ctx)
	defer rt.Close(context.Background())

	var plain, mixed []abi.Record
	for i := range 300 {
		plain = append(plain, abi.Record{Value: bytes.Repeat([]byte{'a' + byte(i%26)}, 100)})
		r := abi.Record{Value: fmt.Appendf(nil, "value %d", i), Timestamp: int64(i % 200)}
		if i%2 == 0 {
			r.Key = fmt.Appendf(nil, "k%d", i)
			r.Timestamp += 1700000000000
		}
		if i%3 == 0 {
			r.Headers = []abi.Header{{Name: "trace", Value: []byte("t")}}
		}
		if i%7 == 0 {
			r.Timestamp = -int64(i) // a negative integer: not the common shape
		}
		mixed = append(mixed, r)
	}
	upper := func(recs []abi.Record) []byte {
		out := make([]abi.Record, len(recs))
		for i, r := range recs {
			out[i] = r.Clone()
			asciiUpper(out[i].Value)
		}
		return abi.AppendFrame(nil, out)
	}
	good := abi.AppendFrame(nil, mixed)
	cases := []struct {
		name    string
		in      []byte
		want    []byte // nil: an error, wantErr
		wantErr string
	}{
		{"common records", abi.AppendFrame(nil, plain), upper(plain), ""},
		{"mixed records", good, upper(mixed), ""},
		{"one record", abi.AppendFrame(nil, plain[:1]), upper(plain[:1]), ""},
		{"tiny record", abi.AppendFrame(nil, []abi.Record{{}}), abi.AppendFrame(nil, []abi.Record{{}}), ""},
		// A small timestamp as a uint 64, which the SDK would write as a
		// fixint: decoded, and written canonically.
		{"long small timestamp", []byte{0x91, 0x91, 0x94, 0xc0, 0xc4, 1, 'a', 0xcf, 0, 0, 0, 0, 0, 0, 0, 5, 0xc0},
			abi.AppendFrame(nil, []abi.Record{{Value: []byte("A"), Timestamp: 5}}), ""},
	}
	for _, n := range []int{len(good) - 1, len(good) - 2, len(good) / 2, 7} {
		_, err := abi.DecodeFrame(good[:n], nil)
		if err == nil {
			t.Fatalf("abi accepts the frame cut at %d", n)
		}
		cases = append(cases, struct {
			name    string
			in      []byte
			want    []byte
			wantErr string
		}{fmt.Sprintf("cut at %d", n), good[:n], nil, "decoding input batch: " + err.Error()})
	}

	for _, shape := range []struct{ name, tags string }{{"Map", ""}, {"MapInPlace", "inplace"}} {
		t.Run(shape.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "op.wasm")
			cmd := exec.CommandContext(ctx, goTool, "build", "-buildmode=c-shared", "-tags="+shape.tags, "-o", path, "./guest-sdk/go/testdata/benchguest")
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("building the %s guest: %v\n%s", shape.name, err, msg)
			}
			code, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			mod, err := rt.InstantiateWithConfig(ctx, code, wazero.NewModuleConfig().WithName("").WithStartFunctions(abi.ExportInitialize))
			if err != nil {
				t.Fatal(err)
			}
			defer mod.Close(context.Background())
			alloc, process := mod.ExportedFunction(abi.ExportAlloc), mod.ExportedFunction(abi.ExportProcess)
			for range 2 { // the second round reuses the guest's buffers
				for _, c := range cases {
					res, err := alloc.Call(ctx, uint64(len(c.in)))
					if err != nil {
						t.Fatal(err)
					}
					if !mod.Memory().Write(api.DecodeU32(res[0]), c.in) {
						t.Fatal("alloc returned a buffer outside memory")
					}
					if res, err = process.Call(ctx, res[0], uint64(len(c.in))); err != nil {
						t.Fatalf("%s: process trapped: %v", c.name, err)
					}
					if int64(res[0]) == abi.ResultError {
						if c.want != nil || *lastErr != c.wantErr {
							t.Fatalf("%s: error %q, want %q", c.name, *lastErr, c.wantErr)
						}
						continue
					}
					ptr, n := abi.Unpack(int64(res[0]))
					got, ok := mod.Memory().Read(ptr, n)
					if !ok || !bytes.Equal(got, c.want) {
						t.Fatalf("%s: got\n%x\nwant\n%x", c.name, got, c.want)
					}
				}
			}
		})
	}
}

// asciiUpper upper-cases v's ASCII letters in place, as the guests do.
func asciiUpper(v []byte) {
	for i, c := range v {
		if 'a' <= c && c <= 'z' {
			v[i] = c - ('a' - 'A')
		}
	}
}
