package runtime

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/wasmstream/wasmstream/guest-sdk/go/json"
)

// KeyBy is an operator's key_by setting: what the engine sets each record's
// key to before routing it to one of the operator's instances. Exactly one
// of JSON and Header is set; without key_by a record keeps the key it has.
type KeyBy struct {
	JSON   *string `yaml:"json" doc:"A field path into the record's JSON value, keys joined by '.' and array indexes in decimal (user.name, items.0.id). A string field keys the record by its text (escapes decoded); a number, bool, object or array by its JSON text as written. A record whose value is not valid JSON, or has no such field or null there, is unkeyed (its key is removed; see parallelism) and counted once in a warning."`
	Header *string `yaml:"header" doc:"A header name: the record is keyed by that header's value. A record without the header is unkeyed (its key is removed; see parallelism) and counted once in a warning."`
}

// Validate checks that exactly one non-empty form is set.
func (k *KeyBy) Validate() error {
	switch {
	case k.JSON != nil && k.Header != nil:
		return FieldErr("key_by", "set one of json and header, not both")
	case k.JSON != nil:
		if *k.JSON == "" {
			return FieldErr("key_by.json", "empty path: name a field of the JSON value, such as user.name")
		}
		if strings.HasPrefix(*k.JSON, ".") || strings.HasSuffix(*k.JSON, ".") || strings.Contains(*k.JSON, "..") {
			return FieldErr("key_by.json", "path %q has an empty segment: keys are joined by single dots, such as user.name", *k.JSON)
		}
	case k.Header != nil:
		if *k.Header == "" {
			return FieldErr("key_by.header", "empty header name")
		}
	default:
		return FieldErr("key_by", "empty: set json: PATH (a field of the JSON value) or header: NAME; without key_by records keep their keys")
	}
	return nil
}

// Validate checks the settings; an operator config that has its own Validate
// calls it.
func (s *OperatorSettings) Validate() error {
	if s.KeyBy == nil {
		return nil
	}
	return s.KeyBy.Validate()
}

// keyer applies one operator's key_by to the records routed to it.
type keyer struct {
	json, header string
	isHeader     bool
	// unkeyed counts the records it found no key in; warn is called once,
	// on the first.
	unkeyed atomic.Int64
	once    sync.Once
	warn    func()
}

func newKeyer(k *KeyBy) *keyer {
	if k == nil {
		return nil
	}
	if k.Header != nil {
		return &keyer{header: *k.Header, isHeader: true}
	}
	return &keyer{json: *k.JSON}
}

// apply sets r's key from its value or headers, or removes it when the
// record has none there. A string key without escapes and a raw JSON key
// alias the record's value.
func (k *keyer) apply(r *Record) {
	key, ok := k.find(r)
	if !ok {
		r.Key = nil
		k.unkeyed.Add(1)
		if k.warn != nil {
			k.once.Do(k.warn)
		}
		return
	}
	r.Key = key
}

func (k *keyer) find(r *Record) ([]byte, bool) {
	if k.isHeader {
		for _, h := range r.Headers {
			if h.Name == k.header {
				if h.Value == nil {
					return []byte{}, true
				}
				return h.Value, true
			}
		}
		return nil, false
	}
	v, err := json.Get(r.Value, k.json)
	if err != nil || v.Kind == json.Null {
		return nil, false
	}
	if v.Kind != json.String {
		return v.Raw, true
	}
	text, err := v.Text(nil)
	if err != nil {
		return nil, false
	}
	if text == nil {
		text = []byte{}
	}
	return text, true
}

// String is the key_by as written in a pipeline file.
func (k *keyer) String() string {
	if k.isHeader {
		return "{header: " + k.header + "}"
	}
	return "{json: " + k.json + "}"
}
