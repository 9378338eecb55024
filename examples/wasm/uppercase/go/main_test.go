package main

import (
	"bufio"
	"bytes"
	"os"
	"testing"

	wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"
)

func TestUpper(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"lower", "hello, world", "HELLO, WORLD"},
		{"mixed", "MiXeD 123", "MIXED 123"},
		{"non-ASCII unchanged", "café ünï 日本", "CAFé üNï 日本"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := wasmstream.Run([]wasmstream.Record{{Key: []byte("k"), Value: []byte(tt.in), Timestamp: 7}})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if len(out) != 1 {
				t.Fatalf("got %d records, want 1", len(out))
			}
			if got := string(out[0].Value); got != tt.want {
				t.Errorf("value = %q, want %q", got, tt.want)
			}
			if string(out[0].Key) != "k" || out[0].Timestamp != 7 {
				t.Errorf("key/timestamp changed: %+v", out[0])
			}
		})
	}
}

// TestInputFile runs the example's own input through the operator.
func TestInputFile(t *testing.T) {
	data, err := os.ReadFile("../input.txt")
	if err != nil {
		t.Fatal(err)
	}
	var in []wasmstream.Record
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		in = append(in, wasmstream.Record{Value: bytes.Clone(sc.Bytes())})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	out, err := wasmstream.Run(in)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(out) != len(in) {
		t.Fatalf("got %d records, want %d", len(out), len(in))
	}
	for i := range in {
		if got, want := out[i].Value, simpleUpper(bytes.Clone(in[i].Value)); !bytes.Equal(got, want) {
			t.Errorf("line %d: got %q, want %q", i+1, got, want)
		}
	}
}

// TestUpperASCII checks the 8-bytes-at-a-time loop against the obvious one
// for every byte value at every position of a word, and for every length
// around the word size.
func TestUpperASCII(t *testing.T) {
	for pos := range 8 {
		for c := range 256 {
			buf := []byte("aZ{`@[zq\xff\x80ab")
			buf[pos] = byte(c)
			want := simpleUpper(bytes.Clone(buf))
			upperASCII(buf)
			if !bytes.Equal(buf, want) {
				t.Fatalf("byte %#x at %d: got %q, want %q", c, pos, buf, want)
			}
		}
	}
	for n := range 20 {
		buf := bytes.Repeat([]byte("xY"), 10)[:n]
		want := simpleUpper(bytes.Clone(buf))
		upperASCII(buf)
		if !bytes.Equal(buf, want) {
			t.Fatalf("length %d: got %q, want %q", n, buf, want)
		}
	}
}

func FuzzUpperASCII(f *testing.F) {
	f.Add([]byte("hello, wörld ✓ abcdefghijklmnopqrstuvwxyz"))
	f.Fuzz(func(t *testing.T, b []byte) {
		want := simpleUpper(bytes.Clone(b))
		upperASCII(b)
		if !bytes.Equal(b, want) {
			t.Fatalf("got %q, want %q", b, want)
		}
	})
}

func simpleUpper(v []byte) []byte {
	for i, c := range v {
		if 'a' <= c && c <= 'z' {
			v[i] = c - ('a' - 'A')
		}
	}
	return v
}
