package asyncio_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/wasmstream/wasmstream/runtime"
)

// TestRedisBatch: GETs of one batch are one MGET, each answered as its
// own GET is; other commands are not batched.
func TestRedisBatch(t *testing.T) {
	c, prefix := redisFixture(t)
	ctx := context.Background()
	c.Set(ctx, prefix+"a", "1", 0)
	c.Set(ctx, prefix+"b", "two", 0)
	target := newRedis(t, "{addr: '"+redisAddr+"'}")
	var reqs []*runtime.AsyncRequest
	for _, k := range []string{"a", "missing", "b", "a"} {
		req := &runtime.AsyncRequest{Fields: cmd("GET", prefix+k)}
		if key, ok := target.BatchKey(req); !ok || key != "GET" {
			t.Fatalf("GET not batchable: %q %v", key, ok)
		}
		reqs = append(reqs, req)
	}
	if _, ok := target.BatchKey(&runtime.AsyncRequest{Fields: cmd("HGET", prefix+"h", "f")}); ok {
		t.Fatal("HGET batchable")
	}
	resps, errs, err := target.DoBatch(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := range resps {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if resps[i].Body == nil {
			got = append(got, "nil")
		} else {
			got = append(got, string(resps[i].Body))
		}
	}
	if fmt.Sprint(got) != "[1 nil two 1]" {
		t.Fatalf("got %v", got)
	}
}

// TestSQLBatch: lookups by id answered by one run of the batch form, on
// both databases, each request getting exactly the body the query alone
// gives it (an empty array for an id without a row).
func TestSQLBatch(t *testing.T) {
	for _, s := range sqlServers {
		t.Run(s.driver, func(t *testing.T) {
			table := s.table(t)
			cols := "id, name, score, amount, data, note, flag, day"
			batch := fmt.Sprintf("SELECT %s FROM %s WHERE id = ANY($1)", cols, table)
			if s.driver == "mysql" {
				batch = fmt.Sprintf("SELECT %s FROM %s WHERE id IN (?)", cols, table)
			}
			target := s.target(t, table, fmt.Sprintf("batch_queries: {by_id: '%s'},", batch))
			ctx := context.Background()
			var reqs []*runtime.AsyncRequest
			for _, id := range []int64{3, 1, 9, 2, 1} {
				req := &runtime.AsyncRequest{Fields: map[string]any{"query": "by_id", "args": []any{id}}}
				if _, ok := target.BatchKey(req); !ok {
					t.Fatal("by_id not batchable")
				}
				reqs = append(reqs, req)
			}
			if _, ok := target.BatchKey(&runtime.AsyncRequest{Fields: map[string]any{"query": "all"}}); ok {
				t.Fatal("a query without a batch form is batchable")
			}
			resps, errs, err := target.DoBatch(ctx, reqs)
			if err != nil {
				t.Fatal(err)
			}
			for i, req := range reqs {
				if errs[i] != nil {
					t.Fatal(errs[i])
				}
				single, err := target.Do(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				if string(resps[i].Body) != string(single.Body) || resps[i].Code != single.Code {
					t.Errorf("id %v: batch %d %s, alone %d %s", req.Fields["args"], resps[i].Code, resps[i].Body, single.Code, single.Body)
				}
			}
		})
	}
}
