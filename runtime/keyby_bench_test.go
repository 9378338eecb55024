package runtime

import (
	"testing"
)

// BenchmarkKeyBy measures key_by's cost per record on the jsonfilter
// example's record shape.
func BenchmarkKeyBy(b *testing.B) {
	path, name := "user.name", "user"
	for _, bc := range []struct {
		name string
		k    *KeyBy
	}{{"json", &KeyBy{JSON: &path}}, {"header", &KeyBy{Header: &name}}} {
		b.Run(bc.name, func(b *testing.B) {
			k := newKeyer(bc.k)
			r := Record{
				Value:   []byte(`{"id":1,"event":"click","user":{"name":"ada","country":"CH"},"amount":12.5,"tags":["a","b"]}`),
				Headers: []Header{{Name: "trace", Value: []byte("t")}, {Name: "user", Value: []byte("ada")}},
			}
			b.SetBytes(int64(len(r.Value)))
			b.ReportAllocs()
			for b.Loop() {
				r.Key = nil
				k.apply(&r)
			}
			if string(r.Key) != "ada" {
				b.Fatalf("key %q", r.Key)
			}
		})
	}
}
