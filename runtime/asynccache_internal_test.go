package runtime

import (
	"strings"
	"testing"
	"time"
)

// TestAsyncCacheBounds: the cache keeps at most max_entries answers and
// max_bytes of them, requests and bodies both, dropping the least
// recently used; an answer older than ttl is not used.
func TestAsyncCacheBounds(t *testing.T) {
	now := time.Now()
	c := newAsyncCache(&AsyncCacheSettings{TTL: time.Minute, MaxEntries: 3, MaxBytes: 1000})
	put := func(key string, body int) {
		if hit, f := c.get(key, now); hit != nil || f != nil {
			t.Fatalf("%.10s: already there", key)
		}
		c.settle(key, AsyncResponse{Body: make([]byte, body)}, true, now)
	}
	for _, k := range []string{"a", "b", "c", "d"} {
		put(k, 10)
	}
	if c.lru.Len() != 3 || c.m["a"] != nil {
		t.Fatalf("%d entries, a kept: %v", c.lru.Len(), c.m["a"] != nil)
	}
	// Large keys count: two requests of 400 bytes fill 1000 bytes.
	put(strings.Repeat("x", 400), 0)
	put(strings.Repeat("y", 400), 0)
	if c.bytes > 1000 {
		t.Fatalf("%d bytes kept, max 1000", c.bytes)
	}
	put(strings.Repeat("z", 2000), 0) // larger than the whole cache: not kept
	if c.bytes > 1000 || c.m[strings.Repeat("z", 2000)] != nil {
		t.Fatalf("%d bytes kept after a request of 2000", c.bytes)
	}
	if hit, _ := c.get(strings.Repeat("y", 400), now.Add(2*time.Minute)); hit != nil {
		t.Fatal("an answer older than ttl was used")
	}
}
