package runtime_test

import (
	"testing"

	"github.com/wasmstream/wasmstream/runtime"
)

func TestByteSize(t *testing.T) {
	cases := []struct {
		in   string
		want runtime.ByteSize
		str  string
		ok   bool
	}{
		{"4096", 4096, "4KiB", true},
		{"512KiB", 512 << 10, "512KiB", true},
		{"64MiB", 64 << 20, "64MiB", true},
		{" 1GiB ", 1 << 30, "1GiB", true},
		{"2MB", 2_000_000, "2000000", true},
		{"1.5KiB", 1536, "1536", true},
		{"100B", 100, "100", true},
		{"-1MiB", 0, "", false},
		{"lots", 0, "", false},
		{"10 parsecs", 0, "", false},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			var s runtime.ByteSize
			err := s.UnmarshalText([]byte(c.in))
			if (err == nil) != c.ok {
				t.Fatalf("UnmarshalText(%q) error = %v, want ok=%v", c.in, err, c.ok)
			}
			if c.ok && (s != c.want || s.String() != c.str) {
				t.Fatalf("UnmarshalText(%q) = %d (%s), want %d (%s)", c.in, s, s, c.want, c.str)
			}
		})
	}
}
