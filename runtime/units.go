package runtime

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/wasmstream/wasmstream/runtime/internal/confyaml"
)

// ByteSize is a size in bytes, written in pipeline files as an integer or
// with a unit: 512KiB, 64MiB, 1GiB (powers of 1024) or 500KB, 2MB (powers
// of 1000).
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"TB", 1000 * 1000 * 1000 * 1000},
	{"B", 1},
}

// UnmarshalText parses a size such as "64MiB".
func (s *ByteSize) UnmarshalText(b []byte) error {
	t := strings.TrimSpace(string(b))
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a size (examples: 4096, 512KiB, 64MiB, 1GiB)", string(b))
	}
	*s = ByteSize(n * float64(mult))
	return nil
}

// String formats the size with the largest binary unit that divides it.
func (s ByteSize) String() string {
	switch {
	case s >= 1<<30 && s%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", s>>30)
	case s >= 1<<20 && s%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", s>>20)
	case s >= 1<<10 && s%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", s>>10)
	}
	return strconv.FormatInt(int64(s), 10)
}

// FieldError points a Validate error at a field of a config, relative to the
// config (e.g. "path" or "rolling.max_size").
type FieldError = confyaml.FieldError

// FieldErr returns a *FieldError.
func FieldErr(field, format string, args ...any) error {
	return &confyaml.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

func pluralRecords(n int) string {
	if n == 1 {
		return "1 record"
	}
	return strconv.Itoa(n) + " records"
}
