package abi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
)

// InitConfig is what the host passes to a guest's init export, encoded as a
// msgpack map with these keys (SPEC.md, "init").
type InitConfig struct {
	Pipeline string         // "pipeline"
	Operator string         // "operator": the operator's name in the pipeline
	Instance int            // "instance": 0-based index among the operator's instances
	Outputs  []string       // "outputs": named outputs the pipeline connects
	Params   map[string]any // "params": the operator's params, as written in the pipeline file
}

// AppendInitConfig appends the msgpack encoding of c.
func AppendInitConfig(b []byte, c *InitConfig) ([]byte, error) {
	outs := make([]any, len(c.Outputs))
	for i, o := range c.Outputs {
		outs[i] = o
	}
	params := c.Params
	if params == nil {
		params = map[string]any{}
	}
	return AppendValue(b, map[string]any{
		"pipeline": c.Pipeline,
		"operator": c.Operator,
		"instance": int64(c.Instance),
		"outputs":  outs,
		"params":   params,
	})
}

// DecodeInitConfig decodes the init payload.
func DecodeInitConfig(b []byte) (*InitConfig, error) {
	v, err := DecodeValue(b)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("init config: want a map, got %T", v)
	}
	c := &InitConfig{}
	c.Pipeline, _ = m["pipeline"].(string)
	c.Operator, _ = m["operator"].(string)
	if n, ok := m["instance"].(int64); ok {
		c.Instance = int(n)
	}
	if outs, ok := m["outputs"].([]any); ok {
		for _, o := range outs {
			if s, ok := o.(string); ok {
				c.Outputs = append(c.Outputs, s)
			}
		}
	}
	c.Params, _ = m["params"].(map[string]any)
	if c.Params == nil {
		c.Params = map[string]any{}
	}
	return c, nil
}

// AppendValue appends a msgpack encoding of v, which may be nil, bool, any
// integer or float type, string, []byte, []any or a map with string keys.
// Map keys are written in sorted order so the encoding is deterministic.
func AppendValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, 0xc0), nil
	case bool:
		if x {
			return append(b, 0xc3), nil
		}
		return append(b, 0xc2), nil
	case int:
		return AppendInt(b, int64(x)), nil
	case int64:
		return AppendInt(b, x), nil
	case int32:
		return AppendInt(b, int64(x)), nil
	case uint64:
		if x > math.MaxInt64 {
			return binary.BigEndian.AppendUint64(append(b, 0xcf), x), nil
		}
		return AppendInt(b, int64(x)), nil
	case uint:
		return AppendValue(b, uint64(x))
	case float64:
		return binary.BigEndian.AppendUint64(append(b, 0xcb), math.Float64bits(x)), nil
	case float32:
		return binary.BigEndian.AppendUint64(append(b, 0xcb), math.Float64bits(float64(x))), nil
	case string:
		return AppendStr(b, x), nil
	case []byte:
		return AppendBin(b, x), nil
	case []any:
		b = appendArrayHeader(b, uint32(len(x)))
		var err error
		for _, e := range x {
			if b, err = AppendValue(b, e); err != nil {
				return b, err
			}
		}
		return b, nil
	case []string:
		b = appendArrayHeader(b, uint32(len(x)))
		for _, e := range x {
			b = AppendStr(b, e)
		}
		return b, nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		n := uint32(len(keys))
		switch {
		case n <= 15:
			b = append(b, 0x80|byte(n))
		case n <= math.MaxUint16:
			b = append(b, 0xde, byte(n>>8), byte(n))
		default:
			b = append(b, 0xdf, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		}
		var err error
		for _, k := range keys {
			b = AppendStr(b, k)
			if b, err = AppendValue(b, x[k]); err != nil {
				return b, err
			}
		}
		return b, nil
	}
	return b, fmt.Errorf("encoding %T: unsupported type", v)
}

// DecodeValue decodes one msgpack value into nil, bool, int64, uint64 (only
// above MaxInt64), float64, string, []byte, []any or map[string]any. Maps
// with non-string keys are an error. Trailing bytes are an error.
func DecodeValue(b []byte) (any, error) {
	r := FrameReader{src: b}
	v, err := r.value(0)
	if err != nil {
		return nil, err
	}
	if r.off != len(b) {
		return nil, r.fail(r.off, "trailing bytes after the value")
	}
	return v, nil
}

func (r *FrameReader) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, r.fail(r.off, "values nested too deeply")
	}
	if err := r.need(1); err != nil {
		return nil, err
	}
	c := r.src[r.off]
	switch {
	case c == 0xc0:
		r.off++
		return nil, nil
	case c == 0xc2 || c == 0xc3:
		r.off++
		return c == 0xc3, nil
	case c == 0xcf:
		if err := r.need(9); err != nil {
			return nil, err
		}
		v := binary.BigEndian.Uint64(r.src[r.off+1:])
		r.off += 9
		if v > math.MaxInt64 {
			return v, nil
		}
		return int64(v), nil
	case c <= 0x7f || c >= 0xe0 || (c >= 0xcc && c <= 0xd3):
		return r.int64("value")
	case c == 0xca:
		if err := r.need(5); err != nil {
			return nil, err
		}
		f := math.Float32frombits(binary.BigEndian.Uint32(r.src[r.off+1:]))
		r.off += 5
		return float64(f), nil
	case c == 0xcb:
		if err := r.need(9); err != nil {
			return nil, err
		}
		f := math.Float64frombits(binary.BigEndian.Uint64(r.src[r.off+1:]))
		r.off += 9
		return f, nil
	case (c >= 0xa0 && c <= 0xbf) || (c >= 0xd9 && c <= 0xdb):
		s, err := r.bytesOrNil("value")
		return string(s), err
	case c >= 0xc4 && c <= 0xc6:
		s, err := r.bytesOrNil("value")
		return append([]byte(nil), s...), err
	case (c >= 0x90 && c <= 0x9f) || c == 0xdc || c == 0xdd:
		n, err := r.arrayHeader()
		if err != nil {
			return nil, err
		}
		if int(n) > len(r.src)-r.off {
			return nil, r.fail(r.off, "array longer than the bytes left")
		}
		out := make([]any, 0, n)
		for i := uint32(0); i < n; i++ {
			v, err := r.value(depth + 1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case (c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf:
		var n int
		switch {
		case c <= 0x8f:
			n = int(c & 0x0f)
			r.off++
		case c == 0xde:
			if err := r.need(3); err != nil {
				return nil, err
			}
			n = int(binary.BigEndian.Uint16(r.src[r.off+1:]))
			r.off += 3
		default:
			if err := r.need(5); err != nil {
				return nil, err
			}
			n = int(binary.BigEndian.Uint32(r.src[r.off+1:]))
			r.off += 5
		}
		if 2*n > len(r.src)-r.off {
			return nil, r.fail(r.off, "map longer than the bytes left")
		}
		out := make(map[string]any, n)
		for i := 0; i < n; i++ {
			k, err := r.value(depth + 1)
			if err != nil {
				return nil, err
			}
			ks, ok := k.(string)
			if !ok {
				return nil, r.fail(r.off, fmt.Sprintf("map key is %T; want a string", k))
			}
			if out[ks], err = r.value(depth + 1); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, r.fail(r.off, fmt.Sprintf("unsupported msgpack type %s", typeName(c)))
}

// State lists (abi/SPEC.md, state_append) are their elements as
// consecutive msgpack bin items, so appending is concatenation.

// AppendListItem appends one list element to a list value.
func AppendListItem(list, elem []byte) []byte { return AppendBin(list, elem) }

// ListItems splits a list value into its elements, which alias it.
func ListItems(v []byte) ([][]byte, error) {
	var out [][]byte
	for len(v) > 0 {
		var n, h int
		switch {
		case v[0] == 0xc4 && len(v) >= 2:
			n, h = int(v[1]), 2
		case v[0] == 0xc5 && len(v) >= 3:
			n, h = int(v[1])<<8|int(v[2]), 3
		case v[0] == 0xc6 && len(v) >= 5:
			n, h = int(v[1])<<24|int(v[2])<<16|int(v[3])<<8|int(v[4]), 5
		default:
			return nil, errors.New("not a state list: want msgpack bin items")
		}
		if len(v) < h+n {
			return nil, errors.New("state list truncated")
		}
		out = append(out, v[h:h+n])
		v = v[h+n:]
	}
	return out, nil
}
