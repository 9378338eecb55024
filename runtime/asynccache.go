package runtime

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/runtime/internal/confyaml"
)

// Beyond one request at a time, per target: a cache of answers for
// repeated requests, and batching of requests a target can answer
// together (many Redis GETs as one MGET, many lookups by id as one query
// with an array). Both are declared beside the target's kind:
//
//	users:
//	  sql: {...}
//	  cache: {ttl: 1m, max_entries: 10000}
//	  batch: {max: 100, linger: 2ms}

// AsyncCacheSettings configure a target's cache.
type AsyncCacheSettings struct {
	TTL        time.Duration `yaml:"ttl" default:"1m" doc:"How long an answer is reused after it arrived."`
	MaxEntries int           `yaml:"max_entries" default:"10000" doc:"Most answers kept; the least recently used goes first."`
	MaxBytes   ByteSize      `yaml:"max_bytes" default:"64MiB" doc:"Most bytes of answers kept: their bodies and the requests they answer."`
}

// AsyncBatchSettings configure a target's batching.
type AsyncBatchSettings struct {
	Max    int           `yaml:"max" default:"100" doc:"Most requests in one batched call."`
	Linger time.Duration `yaml:"linger" default:"2ms" doc:"How long the first request of a batch waits for others to join it."`
}

// AsyncBatcher is implemented by targets that can answer several requests
// in one call.
type AsyncBatcher interface {
	AsyncTarget
	// BatchKey reports whether req may be batched, and with which others:
	// requests with the same key go in one call.
	BatchKey(req *AsyncRequest) (string, bool)
	// DoBatch performs reqs (with one key) in one call and returns each
	// one's answer or error; an error for the whole call fails them all.
	DoBatch(ctx context.Context, reqs []*AsyncRequest) ([]AsyncResponse, []error, error)
}

// targetExtras are a target declaration's cache and batch blocks.
type targetExtras struct {
	cache *AsyncCacheSettings
	batch *AsyncBatchSettings
}

// splitTarget takes the cache and batch blocks out of a target's node,
// decoding them, and returns the node that is left (the kind).
func splitTarget(n *yaml.Node, path string, probs *confyaml.Problems) (*yaml.Node, targetExtras) {
	var x targetExtras
	if n.Kind != yaml.MappingNode {
		return n, x
	}
	rest := *n
	rest.Content = nil
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "cache":
			x.cache = &AsyncCacheSettings{}
			confyaml.Decode(v, x.cache, path+".cache", probs)
			if x.cache.TTL <= 0 || x.cache.MaxEntries < 1 || x.cache.MaxBytes < 1 {
				probs.Add(path+".cache", v, "ttl, max_entries and max_bytes must be positive")
			}
		case "batch":
			x.batch = &AsyncBatchSettings{}
			confyaml.Decode(v, x.batch, path+".batch", probs)
			if x.batch.Max < 1 || x.batch.Max > 10000 || x.batch.Linger < 0 {
				probs.Add(path+".batch", v, "max must be between 1 and 10000, linger not negative")
			}
		default:
			rest.Content = append(rest.Content, k, v)
		}
	}
	return &rest, x
}

// asyncCache is one target's answers, least recently used first out.
type asyncCache struct {
	cfg *AsyncCacheSettings
	mu  sync.Mutex
	lru *list.List // of *cacheEntry, most recent at the front
	m   map[string]*list.Element
	// flying holds the requests in flight by key: an identical request
	// waits for the first instead of being sent again.
	flying map[string]*flight
	bytes  int64
}

type cacheEntry struct {
	key  string
	resp AsyncResponse
	at   time.Time
}

type flight struct {
	done chan struct{}
	resp AsyncResponse
	ok   bool // resp may be shared
}

func newAsyncCache(cfg *AsyncCacheSettings) *asyncCache {
	return &asyncCache{cfg: cfg, lru: list.New(), m: map[string]*list.Element{}, flying: map[string]*flight{}}
}

// cacheKey is the request without its context, canonically encoded.
func cacheKey(req *AsyncRequest) (string, error) {
	b, err := abi.AppendValue(nil, req.Fields)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// get returns a cached answer, or the flight to wait for, or (nil, nil)
// when the caller is to send the request: it must then call settle.
func (c *asyncCache) get(key string, now time.Time) (*AsyncResponse, *flight) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[key]; ok {
		e := el.Value.(*cacheEntry)
		if now.Sub(e.at) <= c.cfg.TTL {
			c.lru.MoveToFront(el)
			r := e.resp
			return &r, nil
		}
		c.remove(el)
	}
	if f := c.flying[key]; f != nil {
		return nil, f
	}
	c.flying[key] = &flight{done: make(chan struct{})}
	return nil, nil
}

// settle ends the flight of key with resp; ok says whether resp may be
// kept and shared.
func (c *asyncCache) settle(key string, resp AsyncResponse, ok bool, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.flying[key]
	delete(c.flying, key)
	if f != nil {
		f.resp, f.ok = resp, ok
		close(f.done)
	}
	size := int64(len(key) + len(resp.Body))
	if !ok || size > int64(c.cfg.MaxBytes) {
		return
	}
	if el, exists := c.m[key]; exists {
		c.remove(el)
	}
	c.m[key] = c.lru.PushFront(&cacheEntry{key: key, resp: resp, at: now})
	c.bytes += size
	for c.lru.Len() > c.cfg.MaxEntries || c.bytes > int64(c.cfg.MaxBytes) {
		c.remove(c.lru.Back())
	}
}

func (c *asyncCache) remove(el *list.Element) {
	e := el.Value.(*cacheEntry)
	c.lru.Remove(el)
	delete(c.m, e.key)
	c.bytes -= int64(len(e.key) + len(e.resp.Body))
}

// asyncBatcher gathers one target's batchable requests into calls.
type asyncBatcher struct {
	t     AsyncBatcher
	cfg   *AsyncBatchSettings
	stats *asyncCounters
	mu    sync.Mutex
	open  map[string]*pendingBatch
}

type pendingBatch struct {
	reqs    []*AsyncRequest
	waiters []chan batchAnswer
	timer   *time.Timer
}

type batchAnswer struct {
	resp AsyncResponse
	err  error
}

// do adds req to the open batch of key and waits for its answer.
func (b *asyncBatcher) do(ctx context.Context, timeout time.Duration, key string, req *AsyncRequest) (AsyncResponse, error) {
	ch := make(chan batchAnswer, 1)
	b.mu.Lock()
	pb := b.open[key]
	if pb == nil {
		pb = &pendingBatch{}
		b.open[key] = pb
		pb.timer = time.AfterFunc(b.cfg.Linger, func() { b.flush(ctx, timeout, key, pb) })
	}
	pb.reqs = append(pb.reqs, req)
	pb.waiters = append(pb.waiters, ch)
	full := len(pb.reqs) >= b.cfg.Max
	if full {
		delete(b.open, key) // the next request starts another batch
		pb.timer.Stop()
	}
	b.mu.Unlock()
	if full {
		go b.send(ctx, timeout, pb)
	}
	select {
	case a := <-ch:
		return a.resp, a.err
	case <-ctx.Done():
		return AsyncResponse{}, ctx.Err()
	}
}

// flush sends pb when its linger has passed, unless it filled up and was
// sent already.
func (b *asyncBatcher) flush(ctx context.Context, timeout time.Duration, key string, pb *pendingBatch) {
	b.mu.Lock()
	if b.open[key] != pb {
		b.mu.Unlock()
		return
	}
	delete(b.open, key)
	b.mu.Unlock()
	b.send(ctx, timeout, pb)
}

// send makes pb's call and answers its waiters.
func (b *asyncBatcher) send(ctx context.Context, timeout time.Duration, pb *pendingBatch) {
	b.stats.batches.Add(1)
	b.stats.batched.Add(int64(len(pb.reqs)))
	cctx, cancel := context.WithTimeout(ctx, timeout)
	resps, errs, err := b.t.DoBatch(cctx, pb.reqs)
	timedOut := err != nil && cctx.Err() == context.DeadlineExceeded
	cancel()
	if err == nil && (len(resps) != len(pb.reqs) || len(errs) != len(pb.reqs)) {
		err = fmt.Errorf("the target answered %d requests of a batch of %d", len(resps), len(pb.reqs))
	}
	for i, ch := range pb.waiters {
		switch {
		case timedOut:
			ch <- batchAnswer{err: context.DeadlineExceeded}
		case err != nil:
			ch <- batchAnswer{err: err}
		default:
			ch <- batchAnswer{resp: resps[i], err: errs[i]}
		}
	}
}
