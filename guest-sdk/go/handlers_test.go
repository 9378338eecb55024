package wasmstream_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/abi"
	wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"
)

func TestHandlers(t *testing.T) {
	in := []wasmstream.Record{rec("a", "keep one", 1), rec("b", "drop two", 2), rec("", "keep three", 1700000000000)}
	tests := []struct {
		name     string
		register func()
		want     []string
	}{
		{"Map in place", func() {
			wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) {
				upperInPlace(r.Value)
				return r, nil
			})
		}, []string{"KEEP ONE", "DROP TWO", "KEEP THREE"}},
		{"Map new value", func() {
			wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) {
				r.Value = append([]byte("new "), r.Value...)
				return r, nil
			})
		}, []string{"new keep one", "new drop two", "new keep three"}},
		{"Map routes", func() {
			wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) {
				r.Output = "side"
				return r, nil
			})
		}, []string{"side>keep one", "side>drop two", "side>keep three"}},
		{"MapInPlace in place", func() {
			wasmstream.MapInPlace(func(r *wasmstream.Record) error {
				upperInPlace(r.Value)
				return nil
			})
		}, []string{"KEEP ONE", "DROP TWO", "KEEP THREE"}},
		{"MapInPlace new value", func() {
			wasmstream.MapInPlace(func(r *wasmstream.Record) error {
				r.Value = append([]byte("new "), r.Value...)
				return nil
			})
		}, []string{"new keep one", "new drop two", "new keep three"}},
		{"MapInPlace routes one", func() {
			wasmstream.MapInPlace(func(r *wasmstream.Record) error {
				if bytes.HasPrefix(r.Value, []byte("drop")) {
					r.Output = "side"
				}
				return nil
			})
		}, []string{"keep one", "side>drop two", "keep three"}},
		{"Filter", func() {
			wasmstream.Filter(func(r wasmstream.Record) (bool, error) {
				return bytes.HasPrefix(r.Value, []byte("keep")), nil
			})
		}, []string{"keep one", "keep three"}},
		{"Filter keeps in-place changes", func() {
			wasmstream.Filter(func(r wasmstream.Record) (bool, error) {
				upperInPlace(r.Value)
				return true, nil
			})
		}, []string{"KEEP ONE", "DROP TWO", "KEEP THREE"}},
		{"FlatMap", func() {
			wasmstream.FlatMap(func(r wasmstream.Record, e *wasmstream.Emitter) error {
				for _, w := range strings.Fields(string(r.Value)) {
					e.Emit(wasmstream.Record{Value: []byte(w)})
				}
				return nil
			})
		}, []string{"keep", "one", "drop", "two", "keep", "three"}},
		{"ProcessBatch", func() {
			wasmstream.ProcessBatch(func(b *wasmstream.Batch, e *wasmstream.Emitter) error {
				var r wasmstream.Record
				var all []byte
				for b.Next(&r) {
					all = append(all, r.Value[0])
				}
				e.Emit(wasmstream.Record{Value: fmt.Appendf(nil, "%d:%s", b.Len(), all)})
				return b.Err()
			})
		}, []string{"3:kdk"}},
		{"ProcessBatch reading nothing", func() {
			wasmstream.ProcessBatch(func(b *wasmstream.Batch, e *wasmstream.Emitter) error {
				e.Emit(wasmstream.Record{Value: []byte("summary")})
				return nil
			})
		}, []string{"summary"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setup(t, tt.register)
			orig := slices.Clone(in)
			for i := range orig {
				orig[i] = orig[i].Clone()
			}
			out, err := wasmstream.Run(in)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if got := values(out); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			for i := range in {
				if !equalRecords(in[i], orig[i]) {
					t.Errorf("Run modified its input record %d: %+v", i, in[i])
				}
			}
		})
	}
}

// TestMapPreservesFields checks that keys, timestamps and headers come
// through a Map or MapInPlace that only touches the value, for every
// timestamp width.
func TestMapPreservesFields(t *testing.T) {
	var in []wasmstream.Record
	for _, ts := range []int64{0, 1, 127, 128, 255, 256, 65535, 65536, 1 << 32, 1700000000000, -1, -32, -33, -1 << 40} {
		in = append(in, rec("k", "v", ts))
	}
	in = append(in,
		wasmstream.Record{Key: []byte{}, Value: []byte{}},
		wasmstream.Record{},
		wasmstream.Record{Key: []byte("h"), Value: []byte("with headers"), Headers: []wasmstream.Header{{Name: "a", Value: []byte("1")}, {Name: "a", Value: nil}}},
		wasmstream.Record{Value: bytes.Repeat([]byte("x"), 70000)},
	)
	for kind, register := range map[string]func(){
		"Map": func() {
			wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) {
				upperInPlace(r.Value)
				return r, nil
			})
		},
		"MapInPlace": func() {
			wasmstream.MapInPlace(func(r *wasmstream.Record) error {
				upperInPlace(r.Value)
				return nil
			})
		},
	} {
		t.Run(kind, func(t *testing.T) {
			setup(t, register)
			out, err := wasmstream.Run(in)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != len(in) {
				t.Fatalf("got %d records, want %d", len(out), len(in))
			}
			for i := range in {
				want := in[i].Clone()
				upperInPlace(want.Value)
				if !equalRecords(out[i], want) {
					t.Errorf("record %d: got %+v, want %+v", i, out[i], want)
				}
			}
		})
	}
}

func TestEmitterRouting(t *testing.T) {
	setup(t, func() {
		wasmstream.FlatMap(func(r wasmstream.Record, e *wasmstream.Emitter) error {
			e.Emit(r)            // the default output
			e.EmitTo("audit", r) // a named output
			r.Output = "alerts"  // Output set on the record routes it
			e.Emit(r)
			e.EmitTo("", r) // EmitTo overrides Output
			e.EmitTo("audit", r)
			if e.Len() != 5 {
				return fmt.Errorf("Len = %d, want 5", e.Len())
			}
			return nil
		})
	})
	out, err := wasmstream.Run([]wasmstream.Record{rec("k", "x", 1)})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"x", "audit>x", "alerts>x", "x", "audit>x"}
	if got := values(out); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestEmptyBatch(t *testing.T) {
	kinds := map[string]func(){
		"Map":        func() { wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) { return r, nil }) },
		"MapInPlace": func() { wasmstream.MapInPlace(func(*wasmstream.Record) error { return nil }) },
		"Filter":     func() { wasmstream.Filter(func(wasmstream.Record) (bool, error) { return true, nil }) },
		"FlatMap":    func() { wasmstream.FlatMap(func(wasmstream.Record, *wasmstream.Emitter) error { return nil }) },
		"ProcessBatch": func() {
			wasmstream.ProcessBatch(func(b *wasmstream.Batch, e *wasmstream.Emitter) error {
				var r wasmstream.Record
				if b.Len() != 0 || b.Next(&r) || b.Err() != nil {
					return fmt.Errorf("empty batch: Len %d, Next true or Err %v", b.Len(), b.Err())
				}
				return nil
			})
		},
	}
	for name, register := range kinds {
		t.Run(name, func(t *testing.T) {
			setup(t, register)
			out, err := wasmstream.Run(nil)
			if err != nil || len(out) != 0 {
				t.Fatalf("Run(nil) = %d records, %v; want none, nil", len(out), err)
			}
			frame, err := wasmstream.RunFrame(abi.AppendFrame(nil, nil))
			if err != nil {
				t.Fatal(err)
			}
			if want := abi.AppendFrame(nil, nil); !bytes.Equal(frame, want) {
				t.Fatalf("RunFrame(empty) = %x, want %x", frame, want)
			}
		})
	}
}

func TestHandlerErrors(t *testing.T) {
	errBad := errors.New("record is bad")
	tests := []struct {
		name     string
		register func()
		check    func(t *testing.T, err error)
	}{
		{"error verbatim", func() {
			wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) { return r, errBad })
		}, func(t *testing.T, err error) {
			if err != errBad {
				t.Fatalf("got %v, want the handler's error itself", err)
			}
		}},
		{"MapInPlace error verbatim", func() {
			wasmstream.MapInPlace(func(r *wasmstream.Record) error { upperInPlace(r.Value); return errBad })
		}, func(t *testing.T, err error) {
			if err != errBad {
				t.Fatalf("got %v, want the handler's error itself", err)
			}
		}},
		{"MapInPlace panic", func() {
			wasmstream.MapInPlace(func(r *wasmstream.Record) error { r.Output = "side"; panic(errBad) })
		}, func(t *testing.T, err error) {
			pe, ok := errors.AsType[*wasmstream.PanicError](err)
			if !ok || !errors.Is(err, errBad) || err.Error() != "panic: record is bad" || len(pe.Stack) == 0 {
				t.Fatalf("got %v (%T), want a *PanicError wrapping %v with a stack", err, err, errBad)
			}
		}},
		{"Filter error", func() {
			wasmstream.Filter(func(wasmstream.Record) (bool, error) { return false, errBad })
		}, func(t *testing.T, err error) {
			if err != errBad {
				t.Fatalf("got %v, want %v", err, errBad)
			}
		}},
		{"FlatMap error after emitting", func() {
			wasmstream.FlatMap(func(r wasmstream.Record, e *wasmstream.Emitter) error { e.Emit(r); return errBad })
		}, func(t *testing.T, err error) {
			if err != errBad {
				t.Fatalf("got %v, want %v", err, errBad)
			}
		}},
		{"panic with a string", func() {
			wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) { panic("boom") })
		}, func(t *testing.T, err error) {
			pe, ok := errors.AsType[*wasmstream.PanicError](err)
			if !ok || err.Error() != "panic: boom" || pe.Value != "boom" || len(pe.Stack) == 0 {
				t.Fatalf("got %v (%T), want a *PanicError \"panic: boom\" with a stack", err, err)
			}
		}},
		{"panic with an error", func() {
			wasmstream.FlatMap(func(wasmstream.Record, *wasmstream.Emitter) error { panic(errBad) })
		}, func(t *testing.T, err error) {
			if !errors.Is(err, errBad) || err.Error() != "panic: record is bad" {
				t.Fatalf("got %v, want a panic wrapping %v", err, errBad)
			}
		}},
		{"runtime error", func() {
			wasmstream.ProcessBatch(func(b *wasmstream.Batch, e *wasmstream.Emitter) error {
				var counts []int
				counts[b.Len()]++ // index out of range
				return nil
			})
		}, func(t *testing.T, err error) {
			if fmt.Sprint(err) != "panic: runtime error: index out of range [1] with length 0" {
				t.Fatalf("got %v, want the runtime error as a panic", err)
			}
		}},
		{"no handler", func() {}, func(t *testing.T, err error) {
			if !errors.Is(err, wasmstream.ErrNoHandler) {
				t.Fatalf("got %v, want ErrNoHandler", err)
			}
		}},
		{"two handlers", func() {
			wasmstream.Filter(func(wasmstream.Record) (bool, error) { return true, nil })
			wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) { return r, nil })
		}, func(t *testing.T, err error) {
			if !errors.Is(err, wasmstream.ErrDuplicateHandler) || !strings.Contains(err.Error(), "Map called after Filter") {
				t.Fatalf("got %v, want ErrDuplicateHandler naming Map and Filter", err)
			}
		}},
		{"two OnInit hooks", func() {
			wasmstream.Filter(func(wasmstream.Record) (bool, error) { return true, nil })
			wasmstream.OnInit(func(*wasmstream.Config) error { return nil })
			wasmstream.OnInit(func(*wasmstream.Config) error { return nil })
		}, func(t *testing.T, err error) {
			if !errors.Is(err, wasmstream.ErrDuplicateHandler) {
				t.Fatalf("got %v, want ErrDuplicateHandler", err)
			}
		}},
		{"nil handler", func() { wasmstream.FlatMap(nil) }, func(t *testing.T, err error) {
			if err == nil || !strings.Contains(err.Error(), "FlatMap called with a nil function") {
				t.Fatalf("got %v, want an error naming FlatMap", err)
			}
		}},
		{"nil MapInPlace handler", func() { wasmstream.MapInPlace(nil) }, func(t *testing.T, err error) {
			if err == nil || !strings.Contains(err.Error(), "MapInPlace called with a nil function") {
				t.Fatalf("got %v, want an error naming MapInPlace", err)
			}
		}},
		{"Map and MapInPlace", func() {
			wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) { return r, nil })
			wasmstream.MapInPlace(func(*wasmstream.Record) error { return nil })
		}, func(t *testing.T, err error) {
			if !errors.Is(err, wasmstream.ErrDuplicateHandler) || !strings.Contains(err.Error(), "MapInPlace called after Map") {
				t.Fatalf("got %v, want ErrDuplicateHandler naming MapInPlace and Map", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setup(t, tt.register)
			out, err := wasmstream.Run([]wasmstream.Record{rec("k", "v", 1)})
			if out != nil {
				t.Errorf("got output %v with the error", values(out))
			}
			tt.check(t, err)
		})
	}
}

// TestRecoversAfterFailure checks that a failed call leaves the operator
// usable: the next batch is processed normally, whatever the failed
// handler left in the record it was given.
func TestRecoversAfterFailure(t *testing.T) {
	upper := func(r *wasmstream.Record) error {
		if string(r.Value) == "panic" {
			r.Key, r.Output = []byte("left over"), "side"
			panic("asked to")
		}
		upperInPlace(r.Value)
		return nil
	}
	for kind, register := range map[string]func(){
		"Map": func() {
			wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) { return r, upper(&r) })
		},
		"MapInPlace": func() { wasmstream.MapInPlace(upper) },
	} {
		t.Run(kind, func(t *testing.T) {
			setup(t, register)
			for i, tc := range []struct {
				value   string
				wantErr bool
			}{{"a", false}, {"panic", true}, {"b", false}} {
				out, err := wasmstream.Run([]wasmstream.Record{rec("", "x", 0), rec("", tc.value, 0)})
				if (err != nil) != tc.wantErr {
					t.Fatalf("call %d: error %v, want error %v", i, err, tc.wantErr)
				}
				if err == nil && (!slices.Equal(values(out), []string{"X", strings.ToUpper(tc.value)}) || out[0].Key != nil || out[1].Key != nil) {
					t.Fatalf("call %d: got %+v", i, out)
				}
			}
		})
	}
}

// TestMalformedInput checks that a malformed frame fails the call with the
// error abi's decoder gives for it, whatever the handler read.
func TestMalformedInput(t *testing.T) {
	good := abi.AppendFrame(nil, []wasmstream.Record{rec("k", "v", 1), rec("k", "w", 2)})
	frames := map[string][]byte{
		"empty":           {},
		"not an array":    {0x01},
		"truncated":       good[:len(good)-2],
		"trailing bytes":  append(slices.Clone(good), 0x00),
		"count too large": {0x91, 0xdd, 0, 0, 0, 9, 0x94, 0xc0, 0xc0, 0x00, 0xc0},
		"bad timestamp":   {0x91, 0x91, 0x94, 0xc0, 0xc0, 0xc0, 0xc0},
		"odd headers":     {0x91, 0x91, 0x94, 0xc0, 0xc0, 0x00, 0x91, 0xc0},
		"short record":    {0x91, 0x91, 0x93, 0xc0, 0xc0, 0x00},
	}
	handlers := map[string]func(){
		"Map": func() { wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) { return r, nil }) },
		"Map changing values": func() {
			wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) { r.Value = []byte("x"); return r, nil })
		},
		"MapInPlace": func() { wasmstream.MapInPlace(func(*wasmstream.Record) error { return nil }) },
		"MapInPlace changing values": func() {
			wasmstream.MapInPlace(func(r *wasmstream.Record) error { r.Value = []byte("x"); return nil })
		},
		"Filter keeping all": func() { wasmstream.Filter(func(wasmstream.Record) (bool, error) { return true, nil }) },
		"ProcessBatch reading nothing": func() {
			wasmstream.ProcessBatch(func(*wasmstream.Batch, *wasmstream.Emitter) error { return nil })
		},
		"ProcessBatch ignoring Err": func() {
			wasmstream.ProcessBatch(func(b *wasmstream.Batch, _ *wasmstream.Emitter) error {
				var r wasmstream.Record
				for b.Next(&r) {
				}
				return nil
			})
		},
	}
	for hname, register := range handlers {
		for fname, frame := range frames {
			t.Run(hname+"/"+fname, func(t *testing.T) {
				setup(t, register)
				_, want := abi.DecodeFrame(frame, nil)
				if want == nil {
					t.Fatalf("abi accepts the test frame %x", frame)
				}
				_, err := wasmstream.RunFrame(frame)
				if !errors.Is(err, abi.ErrMalformed) || !strings.HasSuffix(err.Error(), want.Error()) {
					t.Fatalf("got %v, want an error ending in %q", err, want)
				}
			})
		}
	}
}

// TestHeaderChanges checks that every way a handler can change headers —
// including through the array its Record shares with the SDK — reaches the
// output, while records passed on untouched come out as they went in.
func TestHeaderChanges(t *testing.T) {
	in := []wasmstream.Record{{Key: []byte("k"), Value: []byte("v"), Timestamp: 1700000000000,
		Headers: []wasmstream.Header{{Name: "file", Value: []byte("/a/b")}, {Name: "n", Value: nil}}}}
	set := func(r wasmstream.Record) {
		r.Headers[0].Value = []byte("/c") // an entry of the shared array
	}
	tests := []struct {
		name     string
		register func()
		want     []wasmstream.Header
	}{
		{"Map untouched", func() {
			wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) { return r, nil })
		}, in[0].Headers},
		{"Map value bytes in place", func() {
			wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) { upperInPlace(r.Headers[0].Value); return r, nil })
		}, []wasmstream.Header{{Name: "file", Value: []byte("/A/B")}, {Name: "n"}}},
		{"Map entry value", func() {
			wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) { set(r); return r, nil })
		}, []wasmstream.Header{{Name: "file", Value: []byte("/c")}, {Name: "n"}}},
		{"Map entry name", func() {
			wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) { r.Headers[1].Name = "m"; return r, nil })
		}, []wasmstream.Header{{Name: "file", Value: []byte("/a/b")}, {Name: "m"}}},
		{"Map fewer", func() {
			wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) { r.Headers = r.Headers[:1]; return r, nil })
		}, []wasmstream.Header{{Name: "file", Value: []byte("/a/b")}}},
		{"Map appended", func() {
			wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) {
				r.Headers = append(r.Headers, wasmstream.Header{Name: "x", Value: []byte("y")})
				return r, nil
			})
		}, []wasmstream.Header{{Name: "file", Value: []byte("/a/b")}, {Name: "n"}, {Name: "x", Value: []byte("y")}}},
		{"MapInPlace untouched", func() {
			wasmstream.MapInPlace(func(*wasmstream.Record) error { return nil })
		}, in[0].Headers},
		{"MapInPlace value bytes in place", func() {
			wasmstream.MapInPlace(func(r *wasmstream.Record) error { upperInPlace(r.Headers[0].Value); return nil })
		}, []wasmstream.Header{{Name: "file", Value: []byte("/A/B")}, {Name: "n"}}},
		{"MapInPlace entry value", func() {
			wasmstream.MapInPlace(func(r *wasmstream.Record) error { set(*r); return nil })
		}, []wasmstream.Header{{Name: "file", Value: []byte("/c")}, {Name: "n"}}},
		{"MapInPlace entry name", func() {
			wasmstream.MapInPlace(func(r *wasmstream.Record) error { r.Headers[1].Name = "m"; return nil })
		}, []wasmstream.Header{{Name: "file", Value: []byte("/a/b")}, {Name: "m"}}},
		{"MapInPlace fewer", func() {
			wasmstream.MapInPlace(func(r *wasmstream.Record) error { r.Headers = r.Headers[:1]; return nil })
		}, []wasmstream.Header{{Name: "file", Value: []byte("/a/b")}}},
		{"MapInPlace appended", func() {
			wasmstream.MapInPlace(func(r *wasmstream.Record) error {
				r.Headers = append(r.Headers, wasmstream.Header{Name: "x", Value: []byte("y")})
				return nil
			})
		}, []wasmstream.Header{{Name: "file", Value: []byte("/a/b")}, {Name: "n"}, {Name: "x", Value: []byte("y")}}},
		{"MapInPlace replaced", func() {
			wasmstream.MapInPlace(func(r *wasmstream.Record) error {
				r.Headers = []wasmstream.Header{{Name: "only", Value: []byte("1")}}
				return nil
			})
		}, []wasmstream.Header{{Name: "only", Value: []byte("1")}}},
		{"Filter entry value", func() {
			wasmstream.Filter(func(r wasmstream.Record) (bool, error) { set(r); return true, nil })
		}, []wasmstream.Header{{Name: "file", Value: []byte("/c")}, {Name: "n"}}},
		{"FlatMap entry value", func() {
			wasmstream.FlatMap(func(r wasmstream.Record, e *wasmstream.Emitter) error { set(r); e.Emit(r); return nil })
		}, []wasmstream.Header{{Name: "file", Value: []byte("/c")}, {Name: "n"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setup(t, tt.register)
			for range 2 { // the second call reuses the SDK's header arrays
				out, err := wasmstream.Run(in)
				if err != nil {
					t.Fatal(err)
				}
				want := in[0]
				want.Headers = tt.want
				if len(out) != 1 || !equalRecords(out[0], want) {
					t.Fatalf("got %+v, want %+v", out, want)
				}
			}
			if string(in[0].Headers[0].Value) != "/a/b" {
				t.Fatalf("Run modified its input")
			}
		})
	}
}
