package abi

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// The conformance operator is the reference behaviour every guest SDK's
// conformance example implements (SPEC.md, "Conformance"). For each input
// record, in order, by the prefix of its value:
//
//	"drop"         no output (filter)
//	"dup"          the record, value upper-cased, emitted twice (flatMap)
//	"route:NAME:"  the record unchanged, routed to output NAME
//	"error:MSG"    the whole call fails with the message MSG
//	"trap"         the guest traps (executes unreachable)
//	anything else  the record with its value's ASCII letters upper-cased
//
// Key, timestamp and headers are always preserved.

// ErrConformanceTrap is what ConformanceProcess returns for a "trap" record:
// a real guest traps instead.
var ErrConformanceTrap = errors.New("conformance operator: trap")

// ConformanceProcess is the reference implementation of the conformance
// operator, used to generate the expected outputs in testdata/conformance.
func ConformanceProcess(in []Record) ([]Record, error) {
	out := make([]Record, 0, len(in))
	for _, r := range in {
		v := r.Value
		switch {
		case bytes.HasPrefix(v, []byte("drop")):
		case bytes.HasPrefix(v, []byte("dup")):
			r.Value = upperASCII(v)
			out = append(out, r, r)
		case bytes.HasPrefix(v, []byte("route:")):
			rest := string(v[len("route:"):])
			name, _, ok := strings.Cut(rest, ":")
			if !ok || name == "" {
				return nil, fmt.Errorf("bad route record %q", v)
			}
			r.Output = name
			out = append(out, r)
		case bytes.HasPrefix(v, []byte("error:")):
			return nil, errors.New(string(v[len("error:"):]))
		case bytes.HasPrefix(v, []byte("trap")):
			return nil, ErrConformanceTrap
		default:
			r.Value = upperASCII(v)
			out = append(out, r)
		}
	}
	return out, nil
}

func upperASCII(v []byte) []byte {
	if v == nil {
		return nil
	}
	u := make([]byte, len(v))
	for i, c := range v {
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		u[i] = c
	}
	return u
}
