package kit

import (
	"fmt"
	"log/slog"
)

// redacted is what a non-empty Secret prints as.
const redacted = "[redacted]"

// Secret is a string that never prints: fmt (every verb, also inside a
// struct printed with %v, %+v or %#v), encoding/json, encoding.TextMarshaler
// users (YAML, map keys) and log/slog all show "[redacted]" instead of a
// non-empty value, and "" for an empty one; %q and %#v quote it. Reveal
// returns the value, for the one place that needs it (a login).
//
// Use it for every password, token or key in a connector config: values
// that came from ${ENV} references in a pipeline file are secret too.
// fmt cannot call methods on unexported struct fields, so keep Secret
// fields exported.
type Secret string

// Reveal returns the secret's value. Do not log it.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) shown() string {
	if s == "" {
		return ""
	}
	return redacted
}

// String returns "[redacted]", or "" for an empty secret.
func (s Secret) String() string { return s.shown() }

// GoString returns `"[redacted]"`, or `""` for an empty secret.
func (s Secret) GoString() string { return `"` + s.shown() + `"` }

// Format prints the secret redacted for every verb: %q and %#v quoted,
// others as String.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' || (verb == 'v' && f.Flag('#')) {
		fmt.Fprint(f, s.GoString())
		return
	}
	fmt.Fprint(f, s.shown())
}

// MarshalJSON returns "[redacted]" (quoted), or "" for an empty secret.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(s.GoString()), nil }

// MarshalText returns [redacted], or nothing for an empty secret.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.shown()), nil }

// LogValue makes log/slog print the secret redacted.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.shown()) }
