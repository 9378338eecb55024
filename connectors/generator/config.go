package generator

import (
	"errors"

	"github.com/wasmstream/wasmstream/runtime"
)

// maxValueSize bounds value_size so one batch stays a sane allocation.
const maxValueSize = 16 << 20

// SourceConfig configures the generator source.
type SourceConfig struct {
	Count     int64            `yaml:"count" default:"0" doc:"How many records to generate before the source ends; 0 generates forever."`
	Rate      float64          `yaml:"rate" default:"0" doc:"Records per second, smoothed by a token bucket; 0 generates as fast as the pipeline takes them."`
	ValueSize runtime.ByteSize `yaml:"value_size" default:"100" doc:"Size of each value in bytes. Values are lowercase ASCII letters derived from the record's index (see generator.Value)."`
	Keys      int              `yaml:"keys" default:"0" doc:"Number of distinct keys, \"key-0\" to \"key-<keys-1>\", picked pseudo-randomly from the index and seed; 0 generates records without a key."`
	Seed      int64            `yaml:"seed" default:"0" doc:"Seed for the values and keys: the same seed gives the same records."`
}

// Validate reports every problem of the config.
func (c *SourceConfig) Validate() error {
	var errs []error
	if c.Count < 0 {
		errs = append(errs, runtime.FieldErr("count", "must not be negative (0 generates forever)"))
	}
	if c.Rate < 0 {
		errs = append(errs, runtime.FieldErr("rate", "must not be negative (0 is unlimited)"))
	}
	if c.ValueSize < 0 || c.ValueSize > maxValueSize {
		errs = append(errs, runtime.FieldErr("value_size", "must be between 0 and %s", runtime.ByteSize(maxValueSize)))
	}
	if c.Keys < 0 {
		errs = append(errs, runtime.FieldErr("keys", "must not be negative (0 generates no keys)"))
	}
	return errors.Join(errs...)
}
