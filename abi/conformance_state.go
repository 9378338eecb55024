package abi

import (
	"bytes"
	"encoding/binary"
	"math"
	"strconv"
)

// State operations of the conformance operator, for the vectors in
// testdata/conformance-state (SPEC.md, "Conformance"). By value, for the
// record's key (scope 0) unless noted, with a fresh state per vector:
//
//	"state:add"       add 1 to counter "n"; output value: the new count in decimal
//	"state:op"        the same on operator state (scope 1)
//	"state:put:X"     put "v" = X, then get "v"; output value: what get returned
//	"state:get"       get "v"; output value: the value, or "none"
//	"state:del"       delete "v", then get "v"; output value: the value, or "none"
//	"state:append:X"  append X to list "l", then read the list; output value:
//	                  its elements joined by ","
//	"state:addf"      add 0.1 to float counter "f" (state_add_f64); output
//	                  value: the new value, 8 bytes little-endian IEEE 754
//	"state:big"       put "b" = 1 MiB + 1 bytes ('x'), which a host with the
//	                  default state.max_value refuses; output value "too large"
//	                  when refused (status -3), "stored" otherwise
//
// Key, timestamp and headers are preserved.

// ConformanceMaxValue is state.max_value for the state vectors.
const ConformanceMaxValue = 1 << 20

// conformanceState is the reference model of the host's state.
type conformanceState struct {
	vals   map[string][]byte
	floats map[string]float64
}

func (s *conformanceState) k(scope int, key []byte, name string) string {
	if scope == 1 {
		return "o\x00" + name
	}
	return "k\x00" + string(key) + "\x00" + name
}

// conformanceStateOp applies a "state:" record and returns its output
// value.
func (s *conformanceState) op(key, v []byte) []byte {
	get := func(name string) []byte {
		if x, ok := s.vals[s.k(0, key, name)]; ok {
			return x
		}
		return []byte("none")
	}
	rest := v[len("state:"):]
	switch {
	case bytes.Equal(rest, []byte("add")), bytes.Equal(rest, []byte("op")):
		scope := 0
		if rest[0] == 'o' {
			scope = 1
		}
		k := s.k(scope, key, "n")
		n, _ := strconv.ParseInt(string(s.vals[k]), 10, 64)
		n++
		s.vals[k] = []byte(strconv.FormatInt(n, 10))
		return s.vals[k]
	case bytes.HasPrefix(rest, []byte("put:")):
		s.vals[s.k(0, key, "v")] = bytes.Clone(rest[4:])
		return get("v")
	case bytes.Equal(rest, []byte("get")):
		return get("v")
	case bytes.Equal(rest, []byte("del")):
		delete(s.vals, s.k(0, key, "v"))
		return get("v")
	case bytes.HasPrefix(rest, []byte("append:")):
		k := s.k(0, key, "l")
		if old, ok := s.vals[k]; ok {
			s.vals[k] = append(append(bytes.Clone(old), ','), rest[7:]...)
		} else {
			s.vals[k] = bytes.Clone(rest[7:])
		}
		return s.vals[k]
	case bytes.Equal(rest, []byte("addf")):
		k := s.k(0, key, "f")
		s.floats[k] += 0.1
		return binary.LittleEndian.AppendUint64(nil, math.Float64bits(s.floats[k]))
	case bytes.Equal(rest, []byte("big")):
		return []byte("too large")
	}
	return nil
}

// ConformanceProcessState is ConformanceProcess with the state operations,
// over a fresh state.
func ConformanceProcessState(in []Record) ([]Record, error) {
	st := &conformanceState{vals: map[string][]byte{}, floats: map[string]float64{}}
	var plain []Record
	out := make([]Record, 0, len(in))
	for _, r := range in {
		if bytes.HasPrefix(r.Value, []byte("state:")) {
			r.Value = st.op(r.Key, r.Value)
			out = append(out, r)
			continue
		}
		plain = append(plain[:0], r)
		o, err := ConformanceProcess(plain)
		if err != nil {
			return nil, err
		}
		out = append(out, o...)
	}
	return out, nil
}
