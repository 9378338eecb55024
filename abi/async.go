package abi

import (
	"encoding/binary"
	"fmt"
)

// Async I/O (SPEC.md section 5.2): the encoding of requests and of the
// results in input frames.

// AsyncResult is one async request's result, as delivered to the guest.
type AsyncResult struct {
	Ticket  uint64
	Status  int32 // 0 done, StatusError, StatusTimeout
	Context []byte
	Code    int64
	Body    []byte
	Error   string
}

// AppendFrameWithResults appends to dst the frame of records (as
// AppendFrame writes it, starting 0x91) followed by results as element 1:
// 0x92 records results. With no results it appends frame unchanged.
func AppendFrameWithResults(dst, frame []byte, results []AsyncResult) []byte {
	if len(results) == 0 {
		return append(dst, frame...)
	}
	dst = append(dst, 0x92)
	dst = append(dst, frame[1:]...)
	return AppendResults(dst, results)
}

// AppendResults appends results as the frame's element 1: an array32 of
// fixarray-6 results.
func AppendResults(dst []byte, results []AsyncResult) []byte {
	dst = append(dst, 0xdd)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(results)))
	for i := range results {
		r := &results[i]
		dst = append(dst, 0x96)
		dst = AppendInt(dst, int64(r.Ticket))
		dst = AppendInt(dst, int64(r.Status))
		dst = appendBinOrNil(dst, r.Context)
		dst = AppendInt(dst, r.Code)
		dst = appendBinOrNil(dst, r.Body)
		if r.Error == "" {
			dst = append(dst, 0xc0)
		} else {
			dst = AppendStr(dst, r.Error)
		}
	}
	return dst
}

// DecodeResults returns the async results of an input frame (element 1),
// nil when it has none. The byte slices alias frame.
func DecodeResults(frame []byte) ([]AsyncResult, error) {
	var r FrameReader
	r.src = frame
	total, err := r.arrayHeader()
	if err != nil {
		return nil, err
	}
	if total < 2 {
		return nil, nil
	}
	if err := r.skip(0); err != nil { // the records
		return nil, err
	}
	n, err := r.arrayHeader()
	if err != nil {
		return nil, err
	}
	if uint64(n)*7 > uint64(len(frame)-r.off) {
		return nil, r.fail(r.off, fmt.Sprintf("frame declares %d async results but has only %d bytes left", n, len(frame)-r.off))
	}
	out := make([]AsyncResult, n)
	for i := range out {
		f, err := r.arrayHeader()
		if err != nil {
			return nil, err
		}
		if f < 6 {
			return nil, r.fail(r.off, fmt.Sprintf("async result %d has %d fields; want 6", i, f))
		}
		res := &out[i]
		t, err := r.int64("ticket")
		if err != nil {
			return nil, err
		}
		res.Ticket = uint64(t)
		st, err := r.int64("status")
		if err != nil {
			return nil, err
		}
		res.Status = int32(st)
		if res.Context, err = r.bytesOrNil("context"); err != nil {
			return nil, err
		}
		if res.Code, err = r.int64("code"); err != nil {
			return nil, err
		}
		if res.Body, err = r.bytesOrNil("body"); err != nil {
			return nil, err
		}
		e, err := r.bytesOrNil("error")
		if err != nil {
			return nil, err
		}
		res.Error = string(e)
		for j := uint32(6); j < f; j++ {
			if err := r.skip(0); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// AsyncRequest builds an async_submit request (a msgpack map). Set the
// fields of the target's kind; zero fields are left out.
type AsyncRequest struct {
	Target  string
	Context []byte
	// http
	Method  string
	Path    string
	Headers map[string]string
	Body    []byte
	// redis
	Command []string
	// sql
	Query string
	Args  []any
}

// AppendAsyncRequest appends req's encoding.
func AppendAsyncRequest(dst []byte, req *AsyncRequest) ([]byte, error) {
	m := map[string]any{"target": req.Target}
	if req.Context != nil {
		m["context"] = req.Context
	}
	if req.Method != "" {
		m["method"] = req.Method
	}
	if req.Path != "" {
		m["path"] = req.Path
	}
	if len(req.Headers) > 0 {
		h := make(map[string]any, len(req.Headers))
		for k, v := range req.Headers {
			h[k] = v
		}
		m["headers"] = h
	}
	if req.Body != nil {
		m["body"] = req.Body
	}
	if len(req.Command) > 0 {
		c := make([]any, len(req.Command))
		for i, a := range req.Command {
			c[i] = a
		}
		m["command"] = c
	}
	if req.Query != "" {
		m["query"] = req.Query
	}
	if req.Args != nil {
		m["args"] = req.Args
	}
	return AppendValue(dst, m)
}
