// Package enrich_test runs the enrich operator (examples/wasm/enrich/<language>)
// in a pipeline whose async target is the PostgreSQL server on this
// machine: every click comes out joined with its user row, in order, and a
// click whose lookup fails comes out unenriched with the reason, never lost.
package enrich_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/wasmstream/wasmstream/connectors/asyncio"
	"github.com/wasmstream/wasmstream/connectors/collection"
	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
	"github.com/wasmstream/wasmstream/runtime"
)

// dsn is the local PostgreSQL (../../../../shared/SERVICES.md), or
// $WASMSTREAM_TEST_PG.
func dsn() string {
	if d := os.Getenv("WASMSTREAM_TEST_PG"); d != "" {
		return d
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// usersTable creates a table of users 1..n (name "user-N", tier N%3) and
// drops it when the test ends.
func usersTable(t *testing.T, n int) string {
	t.Helper()
	db, err := sql.Open("pgx", dsn())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	table := fmt.Sprintf("enrich_users_%d", rand.Int64())
	if _, err := db.Exec(fmt.Sprintf("CREATE TABLE %s (id bigint PRIMARY KEY, name text NOT NULL, tier int)", table)); err != nil {
		t.Fatalf("PostgreSQL at %s: %v", dsn(), err)
	}
	t.Cleanup(func() { db.Exec("DROP TABLE " + table) })
	if _, err := db.Exec(fmt.Sprintf("INSERT INTO %s SELECT i, 'user-' || i, i %% 3 FROM generate_series(1, %d) AS i", table, n)); err != nil {
		t.Fatal(err)
	}
	return table
}

func TestEnrichFromPostgres(t *testing.T) {
	table := usersTable(t, 50)
	ctx := context.Background()
	e, err := host.NewEngine(ctx, host.WithCacheDir(filepath.Join(t.TempDir(), "cache")))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	// Clicks for users 1..60: users 51..60 have no row.
	const clicks = 3000
	var values []string
	for i := range clicks {
		values = append(values, fmt.Sprintf(`{"user":%d,"seq":%d}`, i%60+1, i))
	}
	vals, _ := json.Marshal(values)
	built := 0
	for _, g := range guestbuild.Guests(".") {
		t.Run(g.Lang, func(t *testing.T) {
			mod := filepath.Join(t.TempDir(), g.Lang+".wasm")
			err := guestbuild.Build(g.Dir, mod)
			if errors.Is(err, guestbuild.ErrNoToolchain) && !guestbuild.Required() {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			built++
			p, out, side := runEnrich(t, e, mod, fmt.Sprintf("{collection: {values: %s}}", vals), "users", fmt.Sprintf(`
              queries:
                user_by_id: "SELECT id, name, tier FROM %s WHERE id = $1"`, table))
			got := out.Records()
			if len(got) != clicks || len(side.Records()) != 0 {
				t.Fatalf("%d enriched and %d unenriched records, want %d and 0", len(got), len(side.Records()), clicks)
			}
			for i, r := range got {
				u := i%60 + 1
				want := fmt.Sprintf(`{"click":{"user":%d,"seq":%d},"user":{"id":%d,"name":"user-%d","tier":%d}}`, u, i, u, u, u%3)
				if u > 50 {
					want = fmt.Sprintf(`{"click":{"user":%d,"seq":%d},"user":null}`, u, i)
				}
				if string(r.Value) != want {
					t.Fatalf("record %d: %s\nwant %s", i, r.Value, want)
				}
			}
			st := p.Stats().Operators[0].Async
			if st == nil || st.Submitted != clicks || st.Completed != clicks || st.Errors != 0 || st.InFlight != 0 {
				t.Fatalf("async figures: %+v", st)
			}
		})
	}
	if built == 0 {
		t.Fatal("no enrich guest built")
	}
}

// TestEnrichLookupFails: a lookup the server refuses for good (a query on
// a table that is not there) is not retried; each click goes to
// unenriched with the server's reason, and nothing is lost.
func TestEnrichLookupFails(t *testing.T) {
	ctx := context.Background()
	e, err := host.NewEngine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	mod := filepath.Join(t.TempDir(), "go.wasm")
	if err := guestbuild.Build("go", mod); err != nil {
		t.Fatal(err)
	}
	p, out, side := runEnrich(t, e, mod, `{collection: {values: ['{"user":1}', '{"user":2}', '{"user":3}']}}`, "users", fmt.Sprintf(`
              queries:
                user_by_id: "SELECT * FROM no_such_table_%d WHERE id = $1"`, rand.Int64()))
	if len(out.Records()) != 0 || len(side.Records()) != 3 {
		t.Fatalf("%d enriched, %d unenriched; want 0 and 3", len(out.Records()), len(side.Records()))
	}
	for _, r := range side.Records() {
		if len(r.Headers) != 1 || r.Headers[0].Name != "enrich.error" || !strings.Contains(string(r.Headers[0].Value), "does not exist") {
			t.Fatalf("unenriched record %s with headers %v", r.Value, r.Headers)
		}
	}
	if st := p.Stats().Operators[0].Async; st.Retries != 0 || st.Errors != 3 {
		t.Fatalf("async figures %+v: a rejected query is not retried", st)
	}
}

// runEnrich runs the enrich module mod over source (a source's YAML) to
// its end, with the sql target named target on the local PostgreSQL and
// queries (the YAML of its queries, indented for the target), and returns
// the pipeline with what reached the sink and the unenriched output.
func runEnrich(t *testing.T, e *host.Engine, mod, source, target, queries string) (*runtime.Pipeline, *connectortest.Collector, *connectortest.Collector) {
	t.Helper()
	out, side := &connectortest.Collector{}, &connectortest.Collector{}
	reg := runtime.NewRegistry()
	host.Register(reg, e)
	collection.Register(reg)
	asyncio.Register(reg)
	runtime.AddSink(reg, "out", "", func(*struct{}) (runtime.Sink, error) { return out, nil })
	runtime.AddSink(reg, "side", "", func(*struct{}) (runtime.Sink, error) { return side, nil })
	spec, err := runtime.Parse([]byte(fmt.Sprintf(`
pipeline: enrich
data_dir: %q
source: %s
operators:
  - name: enrich
    wasm:
      module: %q
      async:
        mode: ordered
        capacity: 64
        targets:
          %s:
            sql:
              driver: postgres
              dsn: %q%s
sink: {out: {}}
outputs:
  unenriched: {side: {}}
`, t.TempDir(), source, mod, target, dsn(), queries)), reg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := runtime.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	return p, out, side
}
