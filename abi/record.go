package abi

// Record is one stream element as it crosses the ABI.
//
// Byte slices produced by a FrameReader alias the frame they were decoded
// from: they stay valid only as long as that frame's memory does.
type Record struct {
	// Key routes the record: records with equal keys go to the same operator
	// instance and keep their relative order. A nil Key has no key.
	Key []byte
	// Value is the payload.
	Value []byte
	// Timestamp is the event time in milliseconds since the Unix epoch.
	Timestamp int64
	// Headers are ordered name/value pairs; names may repeat.
	Headers []Header
	// Output names the output an operator routes the record to; "" is the
	// default output. The host never sets it on input records.
	Output string
}

// Header is one record header.
type Header struct {
	Name  string
	Value []byte
}

// Size returns an estimate of the record's encoded size in bytes, used for
// batching by bytes and for memory accounting.
func (r *Record) Size() int {
	n := 16 + len(r.Key) + len(r.Value) + len(r.Output)
	for i := range r.Headers {
		n += 10 + len(r.Headers[i].Name) + len(r.Headers[i].Value)
	}
	return n
}

// Clone returns a deep copy of r whose byte slices share one new allocation.
func (r *Record) Clone() Record {
	n := len(r.Key) + len(r.Value)
	for i := range r.Headers {
		n += len(r.Headers[i].Value)
	}
	buf := make([]byte, 0, n)
	c := Record{Timestamp: r.Timestamp, Output: r.Output}
	buf, c.Key = cloneInto(buf, r.Key)
	buf, c.Value = cloneInto(buf, r.Value)
	if len(r.Headers) > 0 {
		c.Headers = make([]Header, len(r.Headers))
		for i, h := range r.Headers {
			c.Headers[i].Name = h.Name
			buf, c.Headers[i].Value = cloneInto(buf, h.Value)
		}
	}
	return c
}

func cloneInto(buf, b []byte) ([]byte, []byte) {
	if b == nil {
		return buf, nil
	}
	start := len(buf)
	buf = append(buf, b...)
	return buf, buf[start:len(buf):len(buf)]
}
