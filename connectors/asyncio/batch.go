package asyncio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/wasmstream/wasmstream/runtime"
)

// Batching (runtime.AsyncBatcher): the redis target sends many GETs as one
// MGET; the sql target runs a query's batch form, declared in
// batch_queries, once for many requests' arguments.

// BatchKey implements runtime.AsyncBatcher: a plain GET of one key.
func (t *Redis) BatchKey(req *runtime.AsyncRequest) (string, bool) {
	arr, ok := req.Fields["command"].([]any)
	if !ok || len(arr) != 2 || len(req.Fields) != 1 {
		return "", false
	}
	name, ok := text(arr[0])
	if _, isKey := text(arr[1]); !ok || !isKey || !strings.EqualFold(name, "GET") {
		return "", false
	}
	return "GET", true
}

// DoBatch implements runtime.AsyncBatcher: one MGET for the GETs of reqs,
// each answered as its GET would be.
func (t *Redis) DoBatch(ctx context.Context, reqs []*runtime.AsyncRequest) ([]runtime.AsyncResponse, []error, error) {
	keys := make([]string, len(reqs))
	for i, r := range reqs {
		keys[i], _ = text(r.Fields["command"].([]any)[1])
	}
	vals, err := t.client.MGet(ctx, keys...).Result()
	if err != nil {
		var re redis.Error
		if errors.As(err, &re) && !transientRedis(err.Error()) {
			return nil, nil, runtime.Rejected(fmt.Errorf("redis: %w", err))
		}
		return nil, nil, fmt.Errorf("redis at %s: %w", t.cfg.Addr, err)
	}
	if len(vals) != len(reqs) {
		return nil, nil, fmt.Errorf("redis at %s: MGET of %d keys answered %d values", t.cfg.Addr, len(reqs), len(vals))
	}
	resps := make([]runtime.AsyncResponse, len(reqs))
	errs := make([]error, len(reqs))
	for i, v := range vals {
		b, err := scalarReply(v)
		resps[i], errs[i] = runtime.AsyncResponse{Body: b}, err
	}
	return resps, errs, nil
}

// BatchKey implements runtime.AsyncBatcher: a query with a batch form and
// one integer or text argument.
func (t *SQL) BatchKey(req *runtime.AsyncRequest) (string, bool) {
	name, ok := text(req.Fields["query"])
	if !ok {
		return "", false
	}
	if _, ok := t.cfg.BatchQueries[name]; !ok {
		return "", false
	}
	args, ok := req.Fields["args"].([]any)
	if !ok || len(args) != 1 {
		return "", false
	}
	switch args[0].(type) {
	case int64:
		return name + "\x00i", true
	case string:
		return name + "\x00s", true
	}
	return "", false
}

// DoBatch implements runtime.AsyncBatcher: the batch form of the
// requests' query, given every request's argument (postgres: one array
// parameter, as in WHERE id = ANY($1); mysql: the list of "IN (?)"
// expanded), its rows dealt to the requests by the batch_key column.
func (t *SQL) DoBatch(ctx context.Context, reqs []*runtime.AsyncRequest) ([]runtime.AsyncResponse, []error, error) {
	name, _ := text(reqs[0].Fields["query"])
	q := t.cfg.BatchQueries[name]
	keys := make([]string, len(reqs))
	var ints []int64
	var strs []string
	for i, r := range reqs {
		switch a := r.Fields["args"].([]any)[0].(type) {
		case int64:
			ints = append(ints, a)
			keys[i] = strconv.FormatInt(a, 10)
		case string:
			strs = append(strs, a)
			keys[i] = a
		}
	}
	var args []any
	switch {
	case t.cfg.Driver == "mysql":
		q = strings.Replace(q, "(?)", "("+strings.TrimSuffix(strings.Repeat("?,", len(reqs)), ",")+")", 1)
		for _, v := range ints {
			args = append(args, v)
		}
		for _, v := range strs {
			args = append(args, v)
		}
	case ints != nil:
		args = []any{ints}
	default:
		args = []any{strs}
	}
	rows, err := t.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, nil, t.queryErr(name+" (batch)", err)
	}
	defer rows.Close()
	cols, err := rows.ColumnTypes()
	if err != nil {
		return nil, nil, t.queryErr(name+" (batch)", err)
	}
	keyCol := 0
	if k := t.cfg.BatchKeys[name]; k != "" {
		keyCol = -1
		for i, c := range cols {
			if c.Name() == k {
				keyCol = i
			}
		}
		if keyCol < 0 {
			return nil, nil, runtime.Rejected(fmt.Errorf("batch query %s has no column %q (batch_keys.%s)", name, k, name))
		}
	}
	names := make([][]byte, len(cols))
	types := make([]string, len(cols))
	for i, c := range cols {
		names[i], _ = json.Marshal(c.Name())
		types[i] = strings.ToUpper(c.DatabaseTypeName())
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	byKey := map[string][][]byte{}
	total := 0
	for rows.Next() {
		if total == t.cfg.MaxRows*len(reqs) {
			return nil, nil, runtime.Rejected(fmt.Errorf("batch query %s returned more than max_rows (%d) rows per request", name, t.cfg.MaxRows))
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, t.queryErr(name+" (batch)", err)
		}
		row := []byte{'{'}
		for i := range vals {
			if i > 0 {
				row = append(row, ',')
			}
			row = append(row, names[i]...)
			row = append(row, ':')
			row = appendJSONValue(row, vals[i], types[i])
		}
		row = append(row, '}')
		k := keyText(vals[keyCol])
		byKey[k] = append(byKey[k], row)
		total++
	}
	if err := rows.Err(); err != nil {
		return nil, nil, t.queryErr(name+" (batch)", err)
	}
	resps := make([]runtime.AsyncResponse, len(reqs))
	errs := make([]error, len(reqs))
	for i, k := range keys {
		rs := byKey[k]
		if len(rs) > t.cfg.MaxRows {
			errs[i] = runtime.Rejected(fmt.Errorf("query %s returned more than max_rows (%d) rows", name, t.cfg.MaxRows))
			continue
		}
		b := []byte{'['}
		for j, r := range rs {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, r...)
		}
		resps[i] = runtime.AsyncResponse{Code: int64(len(rs)), Body: append(b, ']')}
	}
	return resps, errs, nil
}

// keyText is a key column's value as the text its argument is compared
// with.
func keyText(v any) string {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case nil:
		return "\x00null"
	}
	return fmt.Sprint(v)
}
