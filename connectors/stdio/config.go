package stdio

import (
	"github.com/wasmstream/wasmstream/connectors/internal/lines"
	"github.com/wasmstream/wasmstream/runtime"
)

// SinkConfig configures the stdout and stderr sinks.
type SinkConfig struct {
	Format string `yaml:"format" default:"text" oneof:"text|json" doc:"Line format: text writes each value followed by a newline; json writes one JSON object per record with key, value, timestamp, headers and output (key and value as key_base64/value_base64 when not UTF-8)."`
}

// Validate reports every problem of the config.
func (c *SinkConfig) Validate() error {
	if _, err := lines.ParseFormat(c.Format); err != nil {
		return runtime.FieldErr("format", "%v", err)
	}
	return nil
}
