package abi

import (
	"bytes"
	"strconv"
	"strings"
)

// The conformance operator's async behaviour (SPEC.md section 7), which
// every SDK's conformance example implements beside the record cases. For
// an input record whose value is
//
//	"async:TARGET:PATH"        it submits {target: TARGET, method: "GET", path: PATH, context: value}
//	"async-sql:TARGET:QUERY:A" it submits {target: TARGET, query: QUERY, args: [A, 7], context: value}
//	"async-redis:TARGET:KEY"   it submits {target: TARGET, command: ["GET", KEY], context: value}
//
// and emits nothing for it. Then, for each result the frame delivers, in
// order, it emits a record with a nil key, timestamp 0, no headers and the
// value
//
//	"result:" ticket ":" status ":" code ":" body ":" error ":" context
//
// with the integers in decimal and a nil body, error or context written
// "nil". Records of other values are handled as ConformanceProcess does.

// ConformanceProcessAsync is the reference implementation: it returns the
// output records and the requests submitted, in order.
func ConformanceProcessAsync(in []Record, results []AsyncResult) (out []Record, submits []AsyncRequest, err error) {
	var plain []Record
	flush := func() error {
		if len(plain) == 0 {
			return nil
		}
		o, err := ConformanceProcess(plain)
		if err != nil {
			return err
		}
		out = append(out, o...)
		plain = plain[:0]
		return nil
	}
	for _, r := range in {
		req, ok := conformanceRequest(r.Value)
		if !ok {
			plain = append(plain, r)
			continue
		}
		if err := flush(); err != nil {
			return nil, nil, err
		}
		submits = append(submits, req)
	}
	if err := flush(); err != nil {
		return nil, nil, err
	}
	for _, res := range results {
		out = append(out, Record{Value: ConformanceResultValue(&res)})
	}
	return out, submits, nil
}

func conformanceRequest(v []byte) (AsyncRequest, bool) {
	s := string(v)
	switch {
	case strings.HasPrefix(s, "async:"):
		target, path, ok := strings.Cut(s[len("async:"):], ":")
		if ok {
			return AsyncRequest{Target: target, Method: "GET", Path: path, Context: bytes.Clone(v)}, true
		}
	case strings.HasPrefix(s, "async-sql:"):
		parts := strings.SplitN(s[len("async-sql:"):], ":", 3)
		if len(parts) == 3 {
			return AsyncRequest{Target: parts[0], Query: parts[1], Args: []any{parts[2], int64(7)}, Context: bytes.Clone(v)}, true
		}
	case strings.HasPrefix(s, "async-redis:"):
		target, key, ok := strings.Cut(s[len("async-redis:"):], ":")
		if ok {
			return AsyncRequest{Target: target, Command: []string{"GET", key}, Context: bytes.Clone(v)}, true
		}
	}
	return AsyncRequest{}, false
}

// ConformanceResultValue is the value the conformance operator emits for
// a result.
func ConformanceResultValue(r *AsyncResult) []byte {
	orNil := func(b []byte) []byte {
		if b == nil {
			return []byte("nil")
		}
		return b
	}
	var v []byte
	v = append(v, "result:"...)
	v = strconv.AppendUint(v, r.Ticket, 10)
	v = append(v, ':')
	v = strconv.AppendInt(v, int64(r.Status), 10)
	v = append(v, ':')
	v = strconv.AppendInt(v, r.Code, 10)
	v = append(v, ':')
	v = append(v, orNil(r.Body)...)
	v = append(v, ':')
	if r.Error == "" {
		v = append(v, "nil"...)
	} else {
		v = append(v, r.Error...)
	}
	v = append(v, ':')
	v = append(v, orNil(r.Context)...)
	return v
}
