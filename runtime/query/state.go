package query

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wasmstream/wasmstream/runtime/state"
)

// Limits of one response.
const (
	defaultLimit = 100
	maxLimit     = 10000
	// maxNames bounds the names one key's response lists.
	maxNames = 10000
)

// readParams are the parameters every state read takes.
type readParams struct {
	live bool
	as   string
}

// badRequest is a parameter problem, answered with 400.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

func badf(format string, args ...any) error { return &badRequest{fmt.Sprintf(format, args...)} }

// parseRead checks the query parameters: only the allowed ones, each once.
func parseRead(q url.Values, allowed ...string) (readParams, error) {
	allowed = append(allowed, "consistency", "as")
	for k, v := range q {
		if !slices.Contains(allowed, k) {
			return readParams{}, badf("unknown parameter %q (this endpoint takes %s)", k, strings.Join(allowed, ", "))
		}
		if len(v) > 1 {
			return readParams{}, badf("parameter %q given %d times", k, len(v))
		}
	}
	p := readParams{live: true, as: asAuto}
	switch c := q.Get("consistency"); c {
	case "", "live":
	case "checkpoint":
		p.live = false
	default:
		return p, badf("consistency must be live or checkpoint, not %q", c)
	}
	if as := q.Get("as"); as != "" {
		if !validAs(as) {
			return p, badf("as must be auto, text, base64, counter or list, not %q", as)
		}
		p.as = as
	}
	return p, nil
}

func parseLimit(q url.Values) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxLimit {
		return 0, badf("limit must be a whole number from 1 to %d, not %q", maxLimit, s)
	}
	return n, nil
}

// Cursors are the store key of the last entry of a page, base64url: opaque
// to clients, and checked by the store to belong to the listing.
func encodeCursor(k []byte) string { return base64.RawURLEncoding.EncodeToString(k) }

// decodeCursor decodes a cursor and checks that it belongs to the listing
// of operator's scope (and prefix).
func decodeCursor(s, operator string, scope int, prefix []byte) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	lo := state.AppendKey(nil, operator, scope, prefix, nil)
	if scope == state.ScopeKey {
		lo = lo[:len(lo)-2] // a key prefix: without the key's terminator
	}
	if err != nil || !bytes.HasPrefix(b, lo) {
		return nil, badf("cursor %q is not one this listing returned (the same operator, scope and prefix)", s)
	}
	return b, nil
}

// operator checks that the path names an operator of the pipeline.
func (s *Server) operator(r *http.Request) (string, error) {
	op := r.PathValue("operator")
	var names []string
	for _, o := range s.p.Spec().Operators {
		if o.Label == op {
			return op, nil
		}
		names = append(names, o.Label)
	}
	return "", &notFound{fmt.Sprintf("pipeline %s has no operator %q (operators: %s)", s.p.Spec().Name, op, strings.Join(names, ", "))}
}

// notFound is answered with 404.
type notFound struct{ msg string }

func (e *notFound) Error() string { return e.msg }

// fail answers err with the status its type calls for.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var br *badRequest
	var nf *notFound
	var de *decodeError
	switch {
	case errors.As(err, &br):
		writeError(w, r, http.StatusBadRequest, "%s", br.msg)
	case errors.As(err, &nf):
		writeError(w, r, http.StatusNotFound, "%s", nf.msg)
	case errors.As(err, &de):
		writeError(w, r, http.StatusUnprocessableEntity, "%s", de.msg)
	case errors.Is(err, state.ErrClosed):
		// The pipeline closed its store before the caller could Detach.
		writeError(w, r, http.StatusServiceUnavailable, "the pipeline has stopped")
	case errors.Is(err, state.ErrCorrupt):
		s.log.Error("query failed: the state store is corrupt", "path", r.URL.Path, "err", err)
		writeDoc(w, r, http.StatusInternalServerError, doc{"error": err.Error(), "status": http.StatusInternalServerError, "corrupt": true})
	default:
		s.log.Error("query failed", "path", r.URL.Path, "err", err)
		writeError(w, r, http.StatusInternalServerError, "%v", err)
	}
}

// read runs fn and returns the checkpoint it saw. A checkpoint read is
// retried when a checkpoint committed meanwhile, so the id it reports is
// the one its values come from.
func read(st *state.Store, live bool, fn func() error) (state.Meta, error) {
	for i := 0; ; i++ {
		before := st.LastCheckpoint()
		if err := fn(); err != nil {
			return before, err
		}
		if live {
			return before, nil
		}
		if after := st.LastCheckpoint(); after.ID == before.ID || i == 4 {
			return after, nil
		}
	}
}

// header is what every state response starts with.
func (s *Server) header(op string, p readParams, m state.Meta) doc {
	d := doc{"pipeline": s.p.Spec().Name, "operator": op, "consistency": "live",
		"checkpoint": m.ID, "running": s.running}
	if !p.live {
		d["consistency"] = "checkpoint"
	}
	if m.ID > 0 {
		d["checkpoint_time"] = m.Time.UTC().Format(time.RFC3339Nano)
	}
	return d
}

func quoteBytes(b []byte) string {
	if printable(b) {
		return strconv.Quote(string(b))
	}
	return "base64:" + base64.StdEncoding.EncodeToString(b)
}

// request reads what every state request has: the operator and the read
// parameters (consistency, as, and the allowed others). On a problem it
// answers the request and returns false.
func (s *Server) request(w http.ResponseWriter, r *http.Request, allowed ...string) (string, readParams, url.Values, bool) {
	op, err := s.operator(r)
	if err != nil {
		s.fail(w, r, err)
		return "", readParams{}, nil, false
	}
	q := r.URL.Query()
	p, err := parseRead(q, allowed...)
	if err != nil {
		s.fail(w, r, err)
		return "", readParams{}, nil, false
	}
	return op, p, q, true
}

// handleKey answers GET /v1/state/{operator}/keys/{key}: every name of
// one key.
func (s *Server) handleKey(w http.ResponseWriter, r *http.Request) {
	op, p, _, ok := s.request(w, r)
	if !ok {
		return
	}
	key := []byte(r.PathValue("key"))
	st := s.acquire(w, r)
	if st == nil {
		return
	}
	defer s.mu.RUnlock()
	var entries []state.Entry
	truncated := false
	m, err := read(st, p.live, func() error {
		entries, truncated = entries[:0], false
		var cursor []byte
		for {
			// The key's own entries come first among keys it prefixes.
			page, next, err := st.List(op, state.ScopeKey, key, cursor, 256, p.live)
			if err != nil {
				return err
			}
			for _, e := range page {
				if !bytes.Equal(e.Key, key) {
					return nil
				}
				if len(entries) == maxNames {
					truncated = true
					return nil
				}
				entries = append(entries, e)
			}
			if next == nil {
				return nil
			}
			cursor = next
		}
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(entries) == 0 {
		s.fail(w, r, &notFound{fmt.Sprintf("operator %s has no state for key %s", op, quoteBytes(key))})
		return
	}
	d := s.header(op, p, m)
	d["key"] = bytesAuto(key)
	list := make([]any, len(entries))
	for i, e := range entries {
		list[i] = entryDoc(e, p.as)
	}
	d["entries"] = list
	if truncated {
		d["truncated"] = true
	}
	writeDoc(w, r, http.StatusOK, d)
}

// handleKeyValue answers GET /v1/state/{operator}/keys/{key}/{name}.
func (s *Server) handleKeyValue(w http.ResponseWriter, r *http.Request) {
	s.value(w, r, state.ScopeKey, []byte(r.PathValue("key")))
}

// handleOperatorValue answers GET /v1/state/{operator}/operator/{name}.
func (s *Server) handleOperatorValue(w http.ResponseWriter, r *http.Request) {
	s.value(w, r, state.ScopeOperator, nil)
}

func (s *Server) value(w http.ResponseWriter, r *http.Request, scope int, key []byte) {
	op, p, _, ok := s.request(w, r)
	if !ok {
		return
	}
	name := []byte(r.PathValue("name"))
	st := s.acquire(w, r)
	if st == nil {
		return
	}
	defer s.mu.RUnlock()
	var e state.Entry
	m, err := read(st, p.live, func() error {
		var err error
		e, ok, err = st.LookupEntry(op, scope, key, name, p.live)
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !ok {
		what := fmt.Sprintf("operator %s has no value %s for key %s", op, quoteBytes(name), quoteBytes(key))
		if scope == state.ScopeOperator {
			what = fmt.Sprintf("operator %s has no operator-scope value %s", op, quoteBytes(name))
		}
		s.fail(w, r, &notFound{what})
		return
	}
	d := s.header(op, p, m)
	if scope == state.ScopeKey {
		d["key"] = bytesAuto(key)
	} else {
		d["scope"] = "operator"
	}
	d["name"] = bytesAuto(name)
	if err := putValue(d, e.Value, e.Float, p.as); err != nil {
		s.fail(w, r, err)
		return
	}
	if !e.Expiry.IsZero() {
		d["expiry"] = e.Expiry.UTC().Format(time.RFC3339Nano)
	}
	writeDoc(w, r, http.StatusOK, d)
}

// handleListKeys answers GET /v1/state/{operator}/keys: up to limit keys
// starting with prefix, each with all its names, after cursor.
func (s *Server) handleListKeys(w http.ResponseWriter, r *http.Request) {
	op, p, q, ok := s.request(w, r, "prefix", "limit", "cursor")
	if !ok {
		return
	}
	limit, err := parseLimit(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	prefix := []byte(q.Get("prefix"))
	cursor, err := decodeCursor(q.Get("cursor"), op, state.ScopeKey, prefix)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	st := s.acquire(w, r)
	if st == nil {
		return
	}
	defer s.mu.RUnlock()
	type keyEntries struct {
		key     []byte
		entries []state.Entry
	}
	var keys []keyEntries
	var next []byte // the store key of the last entry taken
	more := false
	m, err := read(st, p.live, func() error {
		keys, next, more = keys[:0], nil, false
		c := cursor
		for {
			page, pnext, err := st.List(op, state.ScopeKey, prefix, c, min(limit*2+16, 1000), p.live)
			if err != nil {
				return err
			}
			for _, e := range page {
				if n := len(keys); n > 0 && bytes.Equal(keys[n-1].key, e.Key) {
					if len(keys[n-1].entries) < maxNames {
						keys[n-1].entries = append(keys[n-1].entries, e)
					}
				} else if n == limit {
					more = true // a key beyond the page: the cursor goes on
					return nil
				} else {
					keys = append(keys, keyEntries{key: e.Key, entries: []state.Entry{e}})
				}
				next = state.AppendKey(next[:0], op, state.ScopeKey, e.Key, e.Name)
			}
			if pnext == nil {
				return nil
			}
			c = pnext
		}
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := s.header(op, p, m)
	if len(prefix) > 0 {
		d["prefix"] = bytesAuto(prefix)
	}
	list := make([]any, len(keys))
	for i, k := range keys {
		es := make([]any, len(k.entries))
		for j, e := range k.entries {
			es[j] = entryDoc(e, p.as)
		}
		list[i] = doc{"key": bytesAuto(k.key), "entries": es}
	}
	d["keys"] = list
	if more {
		d["next_cursor"] = encodeCursor(next)
	}
	writeDoc(w, r, http.StatusOK, d)
}

// handleListOperator answers GET /v1/state/{operator}/operator: the
// operator-scope entries, paginated.
func (s *Server) handleListOperator(w http.ResponseWriter, r *http.Request) {
	op, p, q, ok := s.request(w, r, "limit", "cursor")
	if !ok {
		return
	}
	limit, err := parseLimit(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	cursor, err := decodeCursor(q.Get("cursor"), op, state.ScopeOperator, nil)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	st := s.acquire(w, r)
	if st == nil {
		return
	}
	defer s.mu.RUnlock()
	var entries []state.Entry
	m, err := read(st, p.live, func() error {
		var err error
		entries, _, err = st.List(op, state.ScopeOperator, nil, cursor, limit+1, p.live)
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := s.header(op, p, m)
	d["scope"] = "operator"
	if len(entries) > limit {
		entries = entries[:limit]
		last := entries[limit-1]
		d["next_cursor"] = encodeCursor(state.AppendKey(nil, op, state.ScopeOperator, nil, last.Name))
	}
	list := make([]any, len(entries))
	for i, e := range entries {
		list[i] = entryDoc(e, p.as)
	}
	d["entries"] = list
	writeDoc(w, r, http.StatusOK, d)
}
