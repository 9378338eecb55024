package asyncio

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/wasmstream/wasmstream/connectors/kit"
	"github.com/wasmstream/wasmstream/runtime"
)

// SQLConfig declares a sql target.
type SQLConfig struct {
	Driver         string            `yaml:"driver" required:"true" oneof:"postgres|mysql" doc:"The database: postgres (PostgreSQL and compatible servers) or mysql (MySQL, MariaDB)."`
	DSN            kit.Secret        `yaml:"dsn" required:"true" doc:"Where the database is and how to log in: postgres://user:password@host:5432/db?sslmode=disable for postgres, user:password@tcp(host:3306)/db for mysql. It holds a password: give it as ${ENV}; errors never show it."`
	Queries        map[string]string `yaml:"queries" required:"true" doc:"The queries requests may run, by name: SQL text with placeholders ($1, $2... for postgres, ? for mysql) that take the request's args in order."`
	BatchQueries   map[string]string `yaml:"batch_queries" doc:"Batch forms of queries, by the name of the query in queries, used when the target has a batch block: requests for the query with one integer or text argument are answered together by one run of its batch form, which takes every argument at once (postgres: one array parameter, as in WHERE id = ANY($1); mysql: one list written IN (?), expanded to the arguments). Its rows are dealt to the requests by the batch_keys column."`
	BatchKeys      map[string]string `yaml:"batch_keys" doc:"For each batch query, the column whose value is a request's argument (default: the first column)."`
	MaxOpenConns   int               `yaml:"max_open_conns" default:"10" doc:"Connections kept to the database: at most this many queries run at once."`
	MaxRows        int               `yaml:"max_rows" default:"1000" doc:"Most rows a query may return: more is an error result, not retried."`
	ConnectTimeout time.Duration     `yaml:"connect_timeout" default:"5s" doc:"How long starting the pipeline waits for the database to answer before it fails, naming the driver, host and database."`
}

var queryNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// Validate reports every problem of the config.
func (c *SQLConfig) Validate() error {
	var errs []error
	if c.DSN == "" {
		errs = append(errs, runtime.FieldErr("dsn", "must not be empty"))
	}
	if len(c.Queries) == 0 {
		errs = append(errs, runtime.FieldErr("queries", "declare at least one query"))
	}
	for name, q := range c.Queries {
		if !queryNameRE.MatchString(name) {
			errs = append(errs, runtime.FieldErr("queries", "%q is not a valid query name (letters, digits, _ . -)", name))
		}
		if strings.TrimSpace(q) == "" {
			errs = append(errs, runtime.FieldErr("queries."+name, "the SQL text is empty"))
		}
	}
	for name, q := range c.BatchQueries {
		if _, ok := c.Queries[name]; !ok {
			errs = append(errs, runtime.FieldErr("batch_queries."+name, "there is no query %q in queries to be the batch form of", name))
		}
		if c.Driver == "mysql" && !strings.Contains(q, "(?)") {
			errs = append(errs, runtime.FieldErr("batch_queries."+name, "a mysql batch query takes its arguments as one list written (?), as in WHERE id IN (?)"))
		}
	}
	for name := range c.BatchKeys {
		if _, ok := c.BatchQueries[name]; !ok {
			errs = append(errs, runtime.FieldErr("batch_keys."+name, "there is no batch query %q", name))
		}
	}
	if c.MaxOpenConns < 1 {
		errs = append(errs, runtime.FieldErr("max_open_conns", "must be at least 1"))
	}
	if c.MaxRows < 1 {
		errs = append(errs, runtime.FieldErr("max_rows", "must be at least 1"))
	}
	if c.ConnectTimeout <= 0 {
		errs = append(errs, runtime.FieldErr("connect_timeout", "must be positive"))
	}
	return errors.Join(errs...)
}

// SQL is a sql async target.
type SQL struct {
	cfg   SQLConfig
	names []string
	where string // driver, host and database, for messages
	db    *sql.DB
}

// NewSQL returns a sql target for cfg, validated. It does no I/O.
func NewSQL(cfg *SQLConfig) (*SQL, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &SQL{cfg: *cfg, where: cfg.Driver}
	for n := range cfg.Queries {
		t.names = append(t.names, n)
	}
	sort.Strings(t.names)
	return t, nil
}

// Open implements runtime.AsyncTarget: it parses the DSN, opens the pool
// and pings the database.
func (t *SQL) Open(ctx context.Context, env runtime.Env) error {
	switch t.cfg.Driver {
	case "postgres":
		pc, err := pgx.ParseConfig(t.cfg.DSN.Reveal())
		if err != nil {
			// pgconn's message quotes the DSN (password masked);
			// give the cause alone.
			if inner := errors.Unwrap(err); inner != nil {
				err = inner
			}
			return runtime.FieldErr("dsn", "not a postgres DSN: %v", err)
		}
		t.where = fmt.Sprintf("postgres at %s/%s", net.JoinHostPort(pc.Host, strconv.Itoa(int(pc.Port))), pc.Database)
		t.db = stdlib.OpenDB(*pc)
	case "mysql":
		mc, err := mysql.ParseDSN(t.cfg.DSN.Reveal())
		if err != nil {
			return runtime.FieldErr("dsn", "not a mysql DSN: %v", err)
		}
		t.where = fmt.Sprintf("mysql at %s/%s", mc.Addr, mc.DBName)
		conn, err := mysql.NewConnector(mc)
		if err != nil {
			return fmt.Errorf("%s: %v", t.where, err)
		}
		t.db = sql.OpenDB(conn)
	default:
		return runtime.FieldErr("driver", "%q is not a driver this target knows (postgres, mysql)", t.cfg.Driver)
	}
	t.db.SetMaxOpenConns(t.cfg.MaxOpenConns)
	t.db.SetMaxIdleConns(t.cfg.MaxOpenConns)
	pctx, cancel := context.WithTimeout(ctx, t.cfg.ConnectTimeout)
	defer cancel()
	if err := t.db.PingContext(pctx); err != nil {
		t.db.Close()
		t.db = nil
		return fmt.Errorf("%s: %v", t.where, err)
	}
	return nil
}

// Close implements runtime.AsyncTarget.
func (t *SQL) Close(ctx context.Context) error {
	if t.db == nil {
		return nil
	}
	return t.db.Close()
}

// Check implements runtime.AsyncTarget: query names one of the target's
// queries, args is an array of nil, bool, int, float, str or bin.
func (t *SQL) Check(req *runtime.AsyncRequest) error {
	_, _, err := t.parse(req)
	return err
}

func (t *SQL) parse(req *runtime.AsyncRequest) (string, []any, error) {
	if err := checkKeys(req.Fields, "query", "args"); err != nil {
		return "", nil, err
	}
	v, ok := req.Fields["query"]
	if !ok {
		return "", nil, fmt.Errorf("no query (the name of one of the target's queries: %s)", strings.Join(t.names, ", "))
	}
	name, ok := text(v)
	if !ok {
		return "", nil, fmt.Errorf("query must be a str, got %s", typeName(v))
	}
	q, ok := t.cfg.Queries[name]
	if !ok {
		return "", nil, fmt.Errorf("query %q is not one of the target's queries (%s)", name, strings.Join(t.names, ", "))
	}
	var args []any
	if v, ok := req.Fields["args"]; ok && v != nil {
		arr, ok := v.([]any)
		if !ok {
			return "", nil, fmt.Errorf("args must be an array, got %s", typeName(v))
		}
		args = make([]any, len(arr))
		for i, a := range arr {
			switch x := a.(type) {
			case nil, bool, int64, float64, string, []byte:
				args[i] = x
			case uint64:
				if x > math.MaxInt64 {
					return "", nil, fmt.Errorf("args[%d]: %d is out of the range of a SQL integer", i, x)
				}
				args[i] = int64(x)
			default:
				return "", nil, fmt.Errorf("args[%d] must be nil, bool, int, float, str or bin, got %s", i, typeName(a))
			}
		}
	}
	return q, args, nil
}

// Do implements runtime.AsyncTarget: one query. Body is the rows as a
// JSON array of objects, Code their number. An error the server returns
// for the query (syntax, constraint, type) is not retried; deadlocks,
// serialization failures and lost connections are.
func (t *SQL) Do(ctx context.Context, req *runtime.AsyncRequest) (runtime.AsyncResponse, error) {
	q, args, err := t.parse(req)
	if err != nil {
		return runtime.AsyncResponse{}, runtime.Rejected(err)
	}
	name, _ := text(req.Fields["query"])
	rows, err := t.db.QueryContext(ctx, q, args...)
	if err != nil {
		return runtime.AsyncResponse{}, t.queryErr(name, err)
	}
	defer rows.Close()
	cols, err := rows.ColumnTypes()
	if err != nil {
		return runtime.AsyncResponse{}, t.queryErr(name, err)
	}
	keys := make([][]byte, len(cols))
	types := make([]string, len(cols))
	for i, c := range cols {
		keys[i], _ = json.Marshal(c.Name())
		types[i] = strings.ToUpper(c.DatabaseTypeName())
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	b := []byte{'['}
	n := 0
	for rows.Next() {
		if n == t.cfg.MaxRows {
			return runtime.AsyncResponse{}, runtime.Rejected(fmt.Errorf("query %s returned more than max_rows (%d) rows", name, t.cfg.MaxRows))
		}
		if err := rows.Scan(ptrs...); err != nil {
			return runtime.AsyncResponse{}, t.queryErr(name, err)
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		for i := range vals {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, keys[i]...)
			b = append(b, ':')
			b = appendJSONValue(b, vals[i], types[i])
		}
		b = append(b, '}')
		n++
	}
	if err := rows.Err(); err != nil {
		return runtime.AsyncResponse{}, t.queryErr(name, err)
	}
	b = append(b, ']')
	return runtime.AsyncResponse{Code: int64(n), Body: b}, nil
}

// queryErr wraps an error of query name: rejected when the server refused
// the query for good.
func (t *SQL) queryErr(name string, err error) error {
	err = fmt.Errorf("query %s on %s: %w", name, t.where, err)
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:2] {
		case "08", "40", "53", "57", "58":
			// Connection exception, transaction rollback (deadlock,
			// serialization), insufficient resources, operator
			// intervention (cancel, shutdown), system error.
			return err
		}
		return runtime.Rejected(err)
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1040, 1053, 1205, 1213, 1317, 1927, 1969, 3024:
			// Too many connections, shutdown, lock wait timeout,
			// deadlock, interrupted, connection killed, statement
			// timeouts.
			return err
		}
		return runtime.Rejected(err)
	}
	return err
}

// appendJSONValue appends a scanned column value as JSON: numbers as
// numbers, text as strings, binary columns and other bytes that are not
// UTF-8 as base64 strings, NULL as null. typ is the column's database
// type name, in upper case.
func appendJSONValue(b []byte, v any, typ string) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, x)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case uint64:
		return strconv.AppendUint(b, x, 10)
	case float64:
		return appendFloat(b, x, 64)
	case float32:
		return appendFloat(b, float64(x), 32)
	case time.Time:
		if typ == "DATE" {
			return appendString(b, x.Format(time.DateOnly))
		}
		return appendString(b, x.Format(time.RFC3339Nano))
	case string:
		return appendText(b, []byte(x), typ)
	case []byte:
		if binaryType(typ) {
			return appendBase64(b, x)
		}
		return appendText(b, x, typ)
	}
	if dv, ok := v.(driver.Valuer); ok {
		if inner, err := dv.Value(); err == nil {
			return appendJSONValue(b, inner, typ)
		}
	}
	j, err := json.Marshal(v)
	if err != nil {
		return appendString(b, fmt.Sprint(v))
	}
	return append(b, j...)
}

func appendFloat(b []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		// JSON has no NaN or infinities.
		return appendString(b, strconv.FormatFloat(f, 'g', -1, bits))
	}
	return strconv.AppendFloat(b, f, 'g', -1, bits)
}

// appendText appends text of a column of type typ: a number for numeric
// types, the JSON itself for JSON types, else a string (base64 when it is
// not UTF-8).
func appendText(b []byte, s []byte, typ string) []byte {
	switch {
	case numericType(typ) && jsonNumber(s):
		return append(b, s...)
	case (typ == "JSON" || typ == "JSONB") && json.Valid(s):
		return append(b, s...)
	case !utf8.Valid(s):
		return appendBase64(b, s)
	}
	return appendString(b, string(s))
}

func appendString(b []byte, s string) []byte {
	j, _ := json.Marshal(s)
	return append(b, j...)
}

func appendBase64(b []byte, s []byte) []byte {
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, s)
	return append(b, '"')
}

// numericType reports numeric database type names of both drivers
// ("INT", "UNSIGNED BIGINT", "DECIMAL", "NUMERIC", "FLOAT8").
func numericType(typ string) bool {
	if i := strings.LastIndexByte(typ, ' '); i >= 0 {
		typ = typ[i+1:]
	}
	switch typ {
	case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "INTEGER", "BIGINT", "YEAR",
		"DECIMAL", "NUMERIC", "FLOAT", "DOUBLE", "REAL",
		"INT2", "INT4", "INT8", "FLOAT4", "FLOAT8", "OID":
		return true
	}
	return false
}

// binaryType reports binary database type names: their bytes are base64.
func binaryType(typ string) bool {
	switch typ {
	case "BYTEA", "BLOB", "TINYBLOB", "MEDIUMBLOB", "LONGBLOB", "BINARY", "VARBINARY", "BIT", "GEOMETRY":
		return true
	}
	return false
}

// jsonNumber reports whether s is a JSON number (a DECIMAL's text is;
// NaN is not).
func jsonNumber(s []byte) bool {
	if len(s) == 0 || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return false
	}
	var n json.Number
	return json.Unmarshal(s, &n) == nil
}
