package collection

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/wasmstream/wasmstream/runtime"
)

// SourceConfig configures the collection source. Give records or values,
// not both.
type SourceConfig struct {
	Records []RecordConfig `yaml:"records" doc:"The records, in order. Each item has a value and optionally a key, a timestamp and headers."`
	Values  []string       `yaml:"values" doc:"Shorthand for records that have only a value: a list of strings."`
	Repeat  int            `yaml:"repeat" default:"1" doc:"How many times the whole collection is emitted before the source ends."`
}

// RecordConfig is one record of a collection.
type RecordConfig struct {
	Key       *string           `yaml:"key" doc:"The record's key. Records without one have no key."`
	Value     string            `yaml:"value" doc:"The record's value."`
	Timestamp string            `yaml:"timestamp" doc:"The event time: milliseconds since the Unix epoch, or an RFC 3339 time such as 2024-05-01T12:00:00Z. Without one, the time the record is read."`
	Headers   map[string]string `yaml:"headers" doc:"Headers as name: value pairs; they are attached sorted by name."`
}

// Validate reports every problem of the config.
func (c *SourceConfig) Validate() error {
	var errs []error
	switch {
	case len(c.Records) > 0 && len(c.Values) > 0:
		errs = append(errs, runtime.FieldErr("values", "give records or values, not both"))
	case len(c.Records) == 0 && len(c.Values) == 0:
		errs = append(errs, runtime.FieldErr("records", "give at least one record (records or values)"))
	}
	if c.Repeat < 1 {
		errs = append(errs, runtime.FieldErr("repeat", "must be at least 1, got %d", c.Repeat))
	}
	for i, r := range c.Records {
		if r.Timestamp == "" {
			continue
		}
		if _, err := parseTimestamp(r.Timestamp); err != nil {
			errs = append(errs, runtime.FieldErr(fmt.Sprintf("records[%d].timestamp", i), "%v", err))
		}
	}
	return errors.Join(errs...)
}

// parseTimestamp reads epoch milliseconds or an RFC 3339 time.
func parseTimestamp(s string) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("%q is neither epoch milliseconds nor an RFC 3339 time (example: 2024-05-01T12:00:00Z)", s)
	}
	return t.UnixMilli(), nil
}
