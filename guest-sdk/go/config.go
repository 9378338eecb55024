package wasmstream

import (
	"fmt"
	"math"
	"slices"

	"github.com/wasmstream/wasmstream/abi"
)

// Config is an operator instance's configuration, passed to the OnInit hook.
//
// Params holds the operator's params as written in the pipeline file:
// strings, bools, int64 (uint64 above MaxInt64), float64, []any and
// map[string]any. The typed getters read one param with a default and report
// a param of the wrong type.
type Config struct {
	Pipeline string         // the pipeline's name
	Operator string         // the operator's name in the pipeline
	Instance int            // 0-based index among the operator's parallel instances
	Outputs  []string       // the named outputs the pipeline connects
	Params   map[string]any // the operator's params
}

// ParamError reports a param whose value has the wrong type for its getter.
type ParamError struct {
	Name  string // the param's name
	Want  string // what the getter accepts, e.g. "an integer"
	Value any    // the value found
}

func (e *ParamError) Error() string {
	return fmt.Sprintf("params.%s: want %s, got %T %#v", e.Name, e.Want, e.Value, e.Value)
}

// HasOutput reports whether the pipeline connects the named output.
func (c *Config) HasOutput(name string) bool { return slices.Contains(c.Outputs, name) }

func (c *Config) param(name string) (any, bool) {
	if c == nil {
		return nil, false
	}
	v, ok := c.Params[name]
	return v, ok && v != nil
}

// String returns the string param name, or def when it is absent or null. A
// param of another type returns def and a *ParamError.
func (c *Config) String(name, def string) (string, error) {
	v, ok := c.param(name)
	if !ok {
		return def, nil
	}
	if s, ok := v.(string); ok {
		return s, nil
	}
	return def, &ParamError{Name: name, Want: "a string", Value: v}
}

// Bool returns the boolean param name, or def when it is absent or null. A
// param of another type returns def and a *ParamError.
func (c *Config) Bool(name string, def bool) (bool, error) {
	v, ok := c.param(name)
	if !ok {
		return def, nil
	}
	if b, ok := v.(bool); ok {
		return b, nil
	}
	return def, &ParamError{Name: name, Want: "a boolean", Value: v}
}

// Int returns the integer param name, or def when it is absent or null. A
// float with no fractional part is accepted. Any other value, or an integer
// that does not fit in an int, returns def and a *ParamError.
func (c *Config) Int(name string, def int) (int, error) {
	v, ok := c.param(name)
	if !ok {
		return def, nil
	}
	switch x := v.(type) {
	case int64:
		if x >= math.MinInt && x <= math.MaxInt {
			return int(x), nil
		}
	case int:
		return x, nil
	case int32:
		return int(x), nil
	case uint64:
		if x <= math.MaxInt {
			return int(x), nil
		}
	case float64:
		if x == math.Trunc(x) && x >= math.MinInt && x < math.MaxInt {
			return int(x), nil
		}
	}
	return def, &ParamError{Name: name, Want: "an integer", Value: v}
}

// Float returns the numeric param name as a float64, or def when it is
// absent or null. A param of another type returns def and a *ParamError.
func (c *Config) Float(name string, def float64) (float64, error) {
	v, ok := c.param(name)
	if !ok {
		return def, nil
	}
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case int:
		return float64(x), nil
	case int32:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	}
	return def, &ParamError{Name: name, Want: "a number", Value: v}
}

// decodeConfig decodes the host's init payload. The result does not alias
// payload.
func decodeConfig(payload []byte) (*Config, error) {
	ic, err := abi.DecodeInitConfig(payload)
	if err != nil {
		return nil, fmt.Errorf("decoding init config: %w", err)
	}
	return &Config{
		Pipeline: ic.Pipeline,
		Operator: ic.Operator,
		Instance: ic.Instance,
		Outputs:  ic.Outputs,
		Params:   ic.Params,
	}, nil
}
