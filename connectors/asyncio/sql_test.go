package asyncio_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/wasmstream/wasmstream/connectors/asyncio"
	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/runtime"
)

// sqlServer is one of the test databases.
type sqlServer struct {
	driver, goDriver, dsn string
	ph                    func(i int) string // the i-th placeholder, from 1
	create                string             // CREATE TABLE %s
	sleep                 string             // a query that takes 5s
	byFlag                string             // rows whose flag is $1, or NULL when $2 is
}

var sqlServers = []sqlServer{
	{
		driver: "postgres", goDriver: "pgx", dsn: "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
		ph:     func(i int) string { return fmt.Sprintf("$%d", i) },
		create: "CREATE TABLE %s (id int PRIMARY KEY, name text NOT NULL, score float8, amount numeric(10,2), data bytea, note varchar(20), flag bool, day date)",
		sleep:  "SELECT pg_sleep(5)",
		byFlag: "SELECT id FROM %s WHERE flag = $1 OR ($2::bool IS NULL AND flag IS NULL) ORDER BY id",
	},
	{
		driver: "mysql", goDriver: "mysql", dsn: "root@tcp(127.0.0.1:3306)/test",
		ph:     func(int) string { return "?" },
		create: "CREATE TABLE %s (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL, score DOUBLE, amount DECIMAL(10,2), data BLOB, note TEXT, flag BOOLEAN, day DATE)",
		sleep:  "SELECT SLEEP(5)",
		byFlag: "SELECT id FROM %s WHERE flag = ? OR (? IS NULL AND flag IS NULL) ORDER BY id",
	},
}

// table creates a table of this test's own with three rows, dropped at
// the end, and returns its name.
func (s sqlServer) table(t *testing.T) string {
	t.Helper()
	db, err := sql.Open(s.goDriver, s.dsn)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	name := fmt.Sprintf("asyncio_%x", rand.Uint64())
	if _, err := db.ExecContext(ctx, fmt.Sprintf(s.create, name)); err != nil {
		t.Fatalf("the test %s database: %v", s.driver, err)
	}
	t.Cleanup(func() {
		db.Exec("DROP TABLE " + name)
		db.Close()
	})
	ins := fmt.Sprintf("INSERT INTO %s (id, name, score, amount, data, note, flag, day) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", name, s.ph(1), s.ph(2), s.ph(3), s.ph(4), s.ph(5), s.ph(6), s.ph(7), s.ph(8))
	for _, row := range [][]any{
		{1, "Ada", 1.5, "12.50", []byte{0, 1, 0xff}, "first", true, "2024-01-02"},
		{2, "Grâce \"G\"", -2.25, "-0.01", nil, nil, false, nil},
		{3, "", nil, nil, []byte{}, "", nil, nil},
	} {
		if _, err := db.ExecContext(ctx, ins, row...); err != nil {
			t.Fatalf("inserting %v: %v", row, err)
		}
	}
	return name
}

func (s sqlServer) target(t *testing.T, table, extra string) *asyncio.SQL {
	t.Helper()
	settings := fmt.Sprintf(`{driver: %s, dsn: '%s', %s queries: {
		by_id: 'SELECT id, name, score, amount, data, note, flag, day FROM %s WHERE id = %s',
		all: 'SELECT id, name AS who FROM %s ORDER BY id',
		by_flag: '%s',
		by_data: 'SELECT id FROM %s WHERE data = %s',
		bad: 'SELEC id FROM %s',
		missing: 'SELECT id FROM %s_missing',
		sleep: '%s'}}`,
		s.driver, s.dsn, extra, table, s.ph(1), table, fmt.Sprintf(s.byFlag, table), table, s.ph(1), table, table, s.sleep)
	target, err := asyncio.NewSQL(decode[asyncio.SQLConfig](t, settings))
	if err != nil {
		t.Fatalf("NewSQL: %v", err)
	}
	open(t, target)
	return target
}

func TestSQLConfig(t *testing.T) {
	if err := parseTargets(t, "{users: {sql: {driver: postgres, dsn: 'postgres://u:pw@h/db', queries: {get: 'SELECT 1'}}}}"); err != nil {
		t.Fatalf("a valid sql target: %v", err)
	}
	err := parseTargets(t, "{a: {sql: {driver: oracle, dsn: x, queries: {get: 'SELECT 1'}}}, b: {sql: {driver: mysql, dsn: x, queries: {'bad name': 'SELECT 1', empty: ' '}, max_rows: 0}}, c: {sql: {driver: mysql}}}")
	connectortest.CheckProblems(t, err,
		"operators[0].probe.async.targets.a.sql.driver: ",
		"operators[0].probe.async.targets.b.sql.max_rows: must be at least 1",
		"operators[0].probe.async.targets.b.sql.queries: \"bad name\" is not a valid query name",
		"operators[0].probe.async.targets.b.sql.queries.empty: the SQL text is empty",
		"operators[0].probe.async.targets.c.sql.dsn: ",
		"operators[0].probe.async.targets.c.sql.queries: ",
	)
	cfg := decode[asyncio.SQLConfig](t, "{driver: mysql, dsn: x, queries: {q: 'SELECT 1'}}")
	if cfg.MaxOpenConns != 10 || cfg.MaxRows != 1000 {
		t.Errorf("defaults: max_open_conns %d, max_rows %d; want 10, 1000", cfg.MaxOpenConns, cfg.MaxRows)
	}
}

func TestSQLCheck(t *testing.T) {
	target, err := asyncio.NewSQL(decode[asyncio.SQLConfig](t, "{driver: postgres, dsn: 'postgres://h/db', queries: {get: 'SELECT $1', list: 'SELECT 1'}}"))
	if err != nil {
		t.Fatal(err)
	}
	runChecks(t, target, []checkCase{
		{"no args", map[string]any{"query": "list"}, ""},
		{"scalar args", map[string]any{"query": []byte("get"), "args": []any{nil, true, int64(-1), uint64(7), 1.5, "s", []byte{0}}}, ""},
		{"nil args", map[string]any{"query": "list", "args": nil}, ""},
		{"no query", map[string]any{"args": []any{}}, "no query (the name of one of the target's queries: get, list)"},
		{"unknown query", map[string]any{"query": "drop"}, `query "drop" is not one of the target's queries (get, list)`},
		{"query type", map[string]any{"query": int64(1)}, "query must be a str, got int"},
		{"args type", map[string]any{"query": "get", "args": "1"}, "args must be an array, got str"},
		{"array arg", map[string]any{"query": "get", "args": []any{int64(1), []any{}}}, "args[1] must be nil, bool, int, float, str or bin, got array"},
		{"map arg", map[string]any{"query": "get", "args": []any{map[string]any{}}}, "args[0] must be nil, bool, int, float, str or bin, got map"},
		{"huge uint", map[string]any{"query": "get", "args": []any{uint64(1 << 63)}}, "out of the range"},
		{"sql text", map[string]any{"query": "get", "sql": "DROP TABLE x"}, `unknown key "sql" (this target takes query, args)`},
	})
}

func TestSQLDo(t *testing.T) {
	for _, s := range sqlServers {
		t.Run(s.driver, func(t *testing.T) {
			table := s.table(t)
			target := s.target(t, table, "")
			for _, c := range []struct {
				name string
				req  map[string]any
				code int64
				body string
			}{
				{"row 1", map[string]any{"query": "by_id", "args": []any{int64(1)}}, 1,
					`[{"id":1,"name":"Ada","score":1.5,"amount":12.50,"data":"AAH/","note":"first","flag":` + s.boolean(true) + `,"day":"2024-01-02"}]`},
				{"row 2 with NULLs", map[string]any{"query": "by_id", "args": []any{"2"}}, 1,
					`[{"id":2,"name":"Grâce \"G\"","score":-2.25,"amount":-0.01,"data":null,"note":null,"flag":` + s.boolean(false) + `,"day":null}]`},
				{"row 3 empty", map[string]any{"query": "by_id", "args": []any{uint64(3)}}, 1,
					`[{"id":3,"name":"","score":null,"amount":null,"data":"","note":"","flag":null,"day":null}]`},
				{"no row", map[string]any{"query": "by_id", "args": []any{int64(9)}}, 0, `[]`},
				{"all, no args", map[string]any{"query": "all"}, 3, `[{"id":1,"who":"Ada"},{"id":2,"who":"Grâce \"G\""},{"id":3,"who":""}]`},
				{"bool arg", map[string]any{"query": "by_flag", "args": []any{false, false}}, 1, `[{"id":2}]`},
				{"nil arg", map[string]any{"query": "by_flag", "args": []any{nil, nil}}, 1, `[{"id":3}]`},
				{"bin arg", map[string]any{"query": "by_data", "args": []any{[]byte{0, 1, 0xff}}}, 1, `[{"id":1}]`},
			} {
				resp := mustDo(t, target, c.req)
				if resp.Code != c.code || string(resp.Body) != c.body {
					t.Errorf("%s: code %d body %s\nwant code %d body %s", c.name, resp.Code, resp.Body, c.code, c.body)
				}
				if !json.Valid(resp.Body) {
					t.Errorf("%s: the body is not JSON: %s", c.name, resp.Body)
				}
			}
			for _, q := range []string{"bad", "missing"} {
				_, err := do(t, target, map[string]any{"query": q})
				if !errors.Is(err, runtime.ErrRejected) || !strings.Contains(err.Error(), "query "+q+" on "+s.driver+" at 127.0.0.1:") {
					t.Errorf("query %s: %v; want a rejection naming the query and the database", q, err)
				}
			}

			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := target.Do(ctx, &runtime.AsyncRequest{Target: "t", Fields: map[string]any{"query": "sleep"}})
			if err == nil || errors.Is(err, runtime.ErrRejected) {
				t.Errorf("a query past its deadline: %v; want a plain error", err)
			}
			if d := time.Since(start); d > 4*time.Second {
				t.Errorf("a query past its 200ms deadline returned after %v", d)
			}
			checkExpired(t, target, map[string]any{"query": "by_id", "args": []any{int64(1)}})

			limited := s.target(t, table, "max_rows: 2,")
			_, err = do(t, limited, map[string]any{"query": "all"})
			if !errors.Is(err, runtime.ErrRejected) || !strings.Contains(err.Error(), "more than max_rows (2) rows") {
				t.Errorf("3 rows with max_rows 2: %v; want a rejection", err)
			}
			if resp := mustDo(t, limited, map[string]any{"query": "by_id", "args": []any{int64(1)}}); resp.Code != 1 {
				t.Errorf("1 row with max_rows 2: code %d", resp.Code)
			}
		})
	}
}

// boolean is how the server's boolean column reads: MySQL's BOOLEAN is a
// TINYINT.
func (s sqlServer) boolean(b bool) string {
	switch {
	case s.driver == "mysql" && b:
		return "1"
	case s.driver == "mysql":
		return "0"
	}
	return fmt.Sprint(b)
}

func TestSQLUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, c := range []struct{ driver, dsn, where string }{
		{"postgres", "postgres://postgres:hunter2@" + addr + "/test?sslmode=disable", "postgres at " + addr + "/test"},
		{"mysql", "root:hunter2@tcp(" + addr + ")/test", "mysql at " + addr + "/test"},
	} {
		target, err := asyncio.NewSQL(decode[asyncio.SQLConfig](t, "{driver: "+c.driver+", dsn: '"+c.dsn+"', connect_timeout: 2s, queries: {q: 'SELECT 1'}}"))
		if err != nil {
			t.Fatal(err)
		}
		err = target.Open(context.Background(), connectortest.Env(t, 16))
		if err == nil || !strings.Contains(err.Error(), c.where) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: Open of a closed port: %v; want an error naming %q, without the password", c.driver, err, c.where)
		}
	}
	target, err := asyncio.NewSQL(decode[asyncio.SQLConfig](t, "{driver: postgres, dsn: 'postgres://u:hunter2@h:notaport/db', queries: {q: 'SELECT 1'}}"))
	if err != nil {
		t.Fatal(err)
	}
	err = target.Open(context.Background(), connectortest.Env(t, 16))
	if err == nil || !strings.Contains(err.Error(), "dsn") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("a malformed DSN: %v; want an error about the dsn, without the password", err)
	}
}
