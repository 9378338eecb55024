package wasmstream_test

import (
	"errors"
	"math"
	"testing"

	wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"
)

// TestStateFloatNative guards issue #9 (state holds only int64 counters
// and bytes): AddFloat keeps a float64 counter apart from Add's int
// counters, refuses NaN, infinities and overflow without adding, and a
// map's float entries add on their own.
func TestStateFloatNative(t *testing.T) {
	wasmstream.Reset()
	t.Cleanup(wasmstream.Reset)
	a := wasmstream.KeyState([]byte("a"))
	var sum float64
	for _, d := range []float64{0.1, 0.2, 12.5} {
		sum += d
		if n, err := a.AddFloat("money", d); err != nil || n != sum {
			t.Fatalf("AddFloat(%v) = %v, %v; want %v", d, n, err, sum)
		}
	}
	if f, err := a.Float("money"); err != nil || f != sum {
		t.Fatalf("Float = %v, %v; want %v", f, err, sum)
	}
	a.Add("n", 1)
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"Add on a float counter", second(a.Add("money", 1)), wasmstream.ErrNotCounter},
		{"AddFloat on an int counter", second(a.AddFloat("n", 1)), wasmstream.ErrNotCounter},
		{"NaN", second(a.AddFloat("money", math.NaN())), wasmstream.ErrNotFinite},
		{"-Inf", second(a.AddFloat("money", math.Inf(-1))), wasmstream.ErrNotFinite},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	a.AddFloat("big", math.MaxFloat64)
	if _, err := a.AddFloat("big", math.MaxFloat64); err == nil {
		t.Error("an overflowing sum was added")
	}
	if f, _ := a.Float("big"); f != math.MaxFloat64 {
		t.Errorf("a refused overflow changed the counter: %v", f)
	}
	if f, _ := a.Float("money"); f != sum {
		t.Errorf("refused adds changed the counter: %v, want %v", f, sum)
	}
	m := wasmstream.OperatorState().Map("avg")
	m.AddFloat("x", 1.5)
	if n, err := m.AddFloat("x", 1); err != nil || n != 2.5 {
		t.Errorf("StateMap.AddFloat = %v, %v", n, err)
	}
	// A put makes bytes of a float counter: AddFloat then refuses it, as
	// the host does.
	a.Put("money", []byte("text"))
	if _, err := a.AddFloat("money", 1); !errors.Is(err, wasmstream.ErrNotCounter) {
		t.Errorf("AddFloat on text: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }
