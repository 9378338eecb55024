package host_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/runtime/state"
)

// TestStateAddF64 guards issue #9 (state holds only int64 counters and
// bytes): state_add_f64 adds to a float64 counter and writes the sum at
// out_ptr; state_get then reads it as 8 bytes of IEEE 754. A NaN or
// infinite delta, or a sum that overflows, answers -1 and writes nothing
// (a float counter stays a number a query can show); a float add on an
// int counter, or an int add on a float counter, answers -4; a result
// address outside memory answers -1. The guest checks each status itself
// and fails the call on a surprise.
func TestStateAddF64(t *testing.T) {
	const (
		addF64 = `(call $addf (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 16) (i32.const 1) (f64.const %s) (i32.const %d))`
		addI64 = `(call $add (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 16) (i32.const 1) (i64.const 1) (i32.const 32))`
	)
	cases := []struct {
		name   string
		before string // a call made first, its status ignored
		call   string
		status int32
		want   float64 // the counter afterwards; NaN: absent
		kind   bool    // the counter is an int counter afterwards
	}{
		{"add to a fresh counter", fmt.Sprintf(addF64, "1.5", 32), fmt.Sprintf(addF64, "0.25", 32), abi.StatusOK, 1.75, false},
		{"NaN delta", "", fmt.Sprintf(addF64, "nan", 32), abi.StatusError, math.NaN(), false},
		{"infinite delta", fmt.Sprintf(addF64, "2", 32), fmt.Sprintf(addF64, "-inf", 32), abi.StatusError, 2, false},
		{"overflowing sum", fmt.Sprintf(addF64, "0x1.fffffffffffffp+1023", 32), fmt.Sprintf(addF64, "0x1.fffffffffffffp+1023", 32), abi.StatusError, math.MaxFloat64, false},
		{"float add on an int counter", addI64, fmt.Sprintf(addF64, "1", 32), abi.StatusNotCounter, 1, true},
		{"int add on a float counter", fmt.Sprintf(addF64, "3", 32), addI64, abi.StatusNotCounter, 3, false},
		{"result outside memory", "", fmt.Sprintf(addF64, "1", 1<<20), abi.StatusError, math.NaN(), false},
	}
	e := newEngine(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			check := ""
			if tc.status == abi.StatusOK {
				check = fmt.Sprintf(`(if (f64.ne (f64.load (i32.const 32)) (f64.const %v)) (then (return (i64.const -1))))`, tc.want)
			}
			m := loadWatText(t, e, "addf64", `(module
  (import "wasmstream" "state_add_f64" (func $addf (param i32 i32 i32 i32 i32 f64 i32) (result i32)))
  (import "wasmstream" "state_add" (func $add (param i32 i32 i32 i32 i32 i64 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "\91\dd\00\00\00\00")
  (data (i32.const 16) "f")`+watAlloc+`
  (func (export "process") (param $p i32) (param $n i32) (result i64)
    `+dropped(tc.before)+`
    (if (i32.ne `+tc.call+fmt.Sprintf(` (i32.const %d)) (then (return (i64.const -1))))`, tc.status)+`
    `+check+`
    (i64.const 6))
)`)
			st, _, err := state.Open(state.Options{Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			c := cfg()
			c.State = st.NewTxn("op")
			inst := instantiate(t, m, c)
			if _, err := inst.Process(t.Context(), records(1)); err != nil {
				t.Fatalf("Process: %v (the guest saw another status than %d)", err, tc.status)
			}
			en, ok, err := st.LookupEntry("op", state.ScopeKey, []byte{}, []byte("f"), true)
			switch {
			case err != nil:
				t.Fatal(err)
			case math.IsNaN(tc.want):
				if ok {
					t.Errorf("the counter holds %v, want none", en.Value)
				}
			case !ok:
				t.Errorf("no counter, want %v", tc.want)
			case tc.kind:
				if en.Float || int64(binary.LittleEndian.Uint64(en.Value)) != int64(tc.want) {
					t.Errorf("counter %+v, want the int %v", en, tc.want)
				}
			default:
				if !en.Float || math.Float64frombits(binary.LittleEndian.Uint64(en.Value)) != tc.want {
					t.Errorf("counter %+v, want the float %v", en, tc.want)
				}
			}
		})
	}
}

// dropped is a call whose status is ignored, or nothing.
func dropped(call string) string {
	if strings.TrimSpace(call) == "" {
		return ""
	}
	return "(drop " + call + ")"
}
