// Package confyaml decodes YAML nodes into typed config structs, reporting
// every problem at once with its field path and line. It is the one place
// pipeline files are interpreted; components only declare structs.
//
// Struct fields are described by tags:
//
//	yaml:"name"          the key (",inline" embeds a struct's fields)
//	default:"value"      a YAML scalar applied when the key is absent
//	required:"true"      the key must be present
//	oneof:"a|b|c"        allowed values of a string
//	doc:"text"           documentation (read by the reference generator)
//	path:"file|dir|any"  a string that is a file system path: relative paths
//	                     are resolved against the pipeline file's directory
//	                     (see Paths); file and dir must exist when checked
//
// Scalar values in the file may reference environment variables, expanded
// before the value is interpreted: ${NAME}, ${NAME:-default} (used when
// NAME is unset or empty), and $${ for a literal ${. A reference to an unset
// variable without a default is a problem naming the variable. An expanded
// value is secret: no problem message shows it (see Problems.Add). Keys,
// defaults and yaml.Node fields (until they are decoded) are not expanded.
package confyaml

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Problem is one thing wrong with a config.
type Problem struct {
	Path string // dotted field path, e.g. operators[0].wasm.module
	Line int    // 1-based line in the file, 0 if unknown
	Col  int
	Msg  string
	// Err is the cause, when the problem came from an error (a module
	// that cannot be loaded); errors.As on the Error reaches it.
	Err error
}

func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", p.Line, p.Path, p.Msg)
	}
	return fmt.Sprintf("%s: %s", p.Path, p.Msg)
}

// Problems collects Problem values. The zero value is ready to use.
type Problems struct {
	List []Problem

	// secrets are the values interpolated from the environment, by field
	// path: Add keeps them out of every message at or above their path.
	secrets map[string][]secret
}

// Add records a problem at path, located at node n (which may be nil). A
// value that Decode interpolated from the environment at path or below it
// is never part of the message: a quoted value is replaced by "the value of
// ${NAME}", any other mention replaces the whole message.
func (p *Problems) Add(path string, n *yaml.Node, format string, args ...any) {
	p.add(path, n, fmt.Sprintf(format, args...))
}

// add records a problem and reports whether its message was redacted.
func (p *Problems) add(path string, n *yaml.Node, msg string) bool {
	msg, redacted := p.redact(path, msg)
	pr := Problem{Path: path, Msg: msg}
	if n != nil {
		pr.Line, pr.Col = n.Line, n.Column
	}
	p.List = append(p.List, pr)
	return redacted
}

// Err returns nil when there are no problems.
func (p *Problems) Err() error {
	if len(p.List) == 0 {
		return nil
	}
	sort.SliceStable(p.List, func(i, j int) bool {
		if p.List[i].Line != p.List[j].Line {
			return p.List[i].Line < p.List[j].Line
		}
		return p.List[i].Path < p.List[j].Path
	})
	return &Error{Problems: p.List}
}

// Error is a config that has problems.
type Error struct {
	File     string
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	n := len(e.Problems)
	where := "config"
	if e.File != "" {
		where = e.File
	}
	fmt.Fprintf(&b, "%s: %d problem", where, n)
	if n != 1 {
		b.WriteString("s")
	}
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Unwrap returns the causes of the problems that have one.
func (e *Error) Unwrap() []error {
	var errs []error
	for _, p := range e.Problems {
		if p.Err != nil {
			errs = append(errs, p.Err)
		}
	}
	return errs
}

// FieldError is returned (possibly several, joined with errors.Join) by a
// config's Validate method; Field is relative to the config.
type FieldError struct {
	Field string
	Msg   string
	// Err is the cause, if any.
	Err error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap returns the cause.
func (e *FieldError) Unwrap() error { return e.Err }

// Validator is implemented by configs that check themselves after decoding.
type Validator interface {
	Validate() error
}

// Duration is time.Duration decoded from strings like "250ms" or "1m30s".
type Duration = time.Duration

var (
	durationType  = reflect.TypeOf(time.Duration(0))
	nodeType      = reflect.TypeOf(yaml.Node{})
	unmarshalType = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
)

// Decode fills dst (a pointer to a struct) from n, after applying defaults,
// and adds every problem found to probs under path.
func Decode(n *yaml.Node, dst any, path string, probs *Problems) {
	v := reflect.ValueOf(dst).Elem()
	ApplyDefaults(v, path, probs)
	if n != nil {
		decodeValue(n, v, path, probs)
	}
	checkRequired(n, v, path, probs)
	if val, ok := dst.(Validator); ok {
		// Validate runs even when other fields have problems, so one pass
		// reports everything; a field that already has a problem (a value
		// that did not decode is left at its default) is not reported twice.
		var own []Problem
		for _, p := range probs.List {
			if p.Path == path || strings.HasPrefix(p.Path, path+".") || strings.HasPrefix(p.Path, path+"[") {
				own = append(own, p)
			}
		}
		addValidation(val.Validate(), n, path, own, probs)
	}
}

// AddError records err, located at node n under path: a *FieldError (or
// several, joined with errors.Join) points at its field below path, others
// at path itself. It skips a field that has a problem in had.
func AddError(err error, n *yaml.Node, path string, probs *Problems) {
	addValidation(err, n, path, nil, probs)
}

func addValidation(err error, n *yaml.Node, path string, had []Problem, probs *Problems) {
	if err == nil {
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			addValidation(e, n, path, had, probs)
		}
		return
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		p := join(path, fe.Field)
		for _, h := range had {
			if h.Path == p || strings.HasPrefix(h.Path, p+".") || strings.HasPrefix(h.Path, p+"[") {
				return
			}
		}
		// A redacted message drops its cause, whose text may hold the
		// value.
		if !probs.add(p, Find(n, fe.Field), fe.Msg) {
			probs.List[len(probs.List)-1].Err = fe.Err
		}
		return
	}
	if !probs.add(path, n, err.Error()) {
		probs.List[len(probs.List)-1].Err = err
	}
}

// Find returns the node of a dotted sub-field of n, or the deepest node on
// the way to it that exists (for locating problems).
func Find(n *yaml.Node, field string) *yaml.Node {
	for _, part := range strings.Split(field, ".") {
		if n == nil || n.Kind != yaml.MappingNode {
			return n
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				n, found = n.Content[i+1], true
				break
			}
		}
		if !found {
			return n
		}
	}
	return n
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	if field == "" {
		return path
	}
	if strings.HasPrefix(field, "[") {
		return path + field
	}
	return path + "." + field
}

// PathField is a string field tagged path:"..." in a decoded config.
type PathField struct {
	// Path is the field's dotted path, e.g. operators[0].wasm.module.
	Path string
	// Node is where the field is in the file (or the nearest node to it).
	Node *yaml.Node
	// Kind is the tag's value: file or dir (must exist as such), or any.
	Kind string
	// Value points at the field: the resolver may rewrite it.
	Value *string
}

// Paths lists the path-tagged string fields of the decoded struct dst (a
// pointer), following nested structs, pointers, slices and maps, with n the
// node dst was decoded from and path its dotted path.
func Paths(dst any, n *yaml.Node, path string) []PathField {
	var out []PathField
	collectPaths(reflect.ValueOf(dst), n, path, &out)
	return out
}

func collectPaths(v reflect.Value, n *yaml.Node, path string, out *[]PathField) {
	switch v.Kind() {
	case reflect.Ptr, reflect.Interface:
		if !v.IsNil() {
			collectPaths(v.Elem(), n, path, out)
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			var c *yaml.Node
			if n != nil && n.Kind == yaml.SequenceNode && i < len(n.Content) {
				c = n.Content[i]
			}
			collectPaths(v.Index(i), c, fmt.Sprintf("%s[%d]", path, i), out)
		}
	case reflect.Struct:
		if v.Type() == nodeType || v.Type() == durationType {
			return
		}
		for _, f := range Fields(v.Type()) {
			fv := v.FieldByIndex(f.index)
			sub := Find(n, f.name)
			if sub == n {
				sub = nil
			}
			if kind, ok := f.tag.Lookup("path"); ok && fv.Kind() == reflect.String {
				loc := sub
				if loc == nil {
					loc = n
				}
				*out = append(*out, PathField{Path: join(path, f.name), Node: loc, Kind: kind, Value: fv.Addr().Interface().(*string)})
				continue
			}
			collectPaths(fv, sub, join(path, f.name), out)
		}
	}
}

// fieldInfo describes one yaml key of a struct.
type fieldInfo struct {
	name  string
	index []int
	tag   reflect.StructTag
}

// Fields lists the yaml keys of struct type t with their tags, following
// inline embedding.
func Fields(t reflect.Type) []fieldInfo {
	var out []fieldInfo
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if opts == "inline" {
			for _, sub := range Fields(f.Type) {
				sub.index = append([]int{i}, sub.index...)
				out = append(out, sub)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, fieldInfo{name: name, index: []int{i}, tag: f.Tag})
	}
	return out
}

// FieldDoc is one documented config key, for reference docs.
type FieldDoc struct {
	Name     string
	Type     string
	Default  string
	Required bool
	OneOf    string
	Doc      string
}

// Describe returns the documented keys of the struct type t.
func Describe(t reflect.Type) []FieldDoc {
	var out []FieldDoc
	for _, f := range Fields(t) {
		ft := t.FieldByIndex(f.index).Type
		typ := typeName(ft)
		switch f.tag.Get("path") {
		case "file":
			typ = "file path"
		case "dir":
			typ = "directory path"
		case "any":
			typ = "path"
		}
		out = append(out, FieldDoc{
			Name: f.name, Type: typ, Default: f.tag.Get("default"),
			Required: f.tag.Get("required") == "true", OneOf: f.tag.Get("oneof"), Doc: f.tag.Get("doc"),
		})
	}
	return out
}

func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case t == nodeType:
		return "component"
	case t.Name() == "ByteSize":
		return "bytes"
	}
	switch t.Kind() {
	case reflect.Slice:
		return "list of " + typeName(t.Elem())
	case reflect.Map:
		if t.Elem().Kind() == reflect.Interface {
			return "map"
		}
		return "map of " + typeName(t.Elem())
	case reflect.Interface:
		return "any"
	case reflect.Ptr:
		return typeName(t.Elem())
	case reflect.Struct:
		return "object"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Uint32:
		return "int"
	case reflect.Float64, reflect.Float32:
		return "number"
	}
	return t.Kind().String()
}

// ApplyDefaults sets every field with a default tag on the struct v.
func ApplyDefaults(v reflect.Value, path string, probs *Problems) {
	for _, f := range Fields(v.Type()) {
		fv := v.FieldByIndex(f.index)
		def, ok := f.tag.Lookup("default")
		if !ok {
			if fv.Kind() == reflect.Struct && fv.Type() != nodeType {
				ApplyDefaults(fv, join(path, f.name), probs)
			}
			continue
		}
		// A default is not interpolated: it is code, not the file.
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(def), &n); err != nil || len(n.Content) == 0 {
			n = yaml.Node{Kind: yaml.ScalarNode, Value: def, Tag: "!!str"}
			decodeNode(&n, fv, join(path, f.name), probs)
			continue
		}
		decodeNode(n.Content[0], fv, join(path, f.name), probs)
	}
}

func checkRequired(n *yaml.Node, v reflect.Value, path string, probs *Problems) {
	if v.Kind() != reflect.Struct {
		return
	}
	present := map[string]bool{}
	if n != nil && n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			present[n.Content[i].Value] = true
		}
	}
	for _, f := range Fields(v.Type()) {
		if f.tag.Get("required") == "true" && !present[f.name] {
			probs.Add(join(path, f.name), n, "required")
		}
	}
}

// decodeValue decodes the file's node n into v: its scalar values are
// interpolated first (see interp.go), except in a yaml.Node field, which
// keeps the file's text for a later Decode.
func decodeValue(n *yaml.Node, v reflect.Value, path string, probs *Problems) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	t := v.Type()
	for t.Kind() == reflect.Ptr {
		t = t.Elem()
	}
	if t != nodeType {
		var ok bool
		if n, ok = probs.interpolate(n, path, t.Kind() == reflect.Interface); !ok {
			return
		}
	}
	decodeNode(n, v, path, probs)
}

// decodeNode decodes n, already interpolated, into v.
func decodeNode(n *yaml.Node, v reflect.Value, path string, probs *Problems) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	t := v.Type()
	if t == nodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		v.Set(reflect.Zero(t))
		return
	}
	if t == durationType {
		if n.Kind != yaml.ScalarNode {
			probs.Add(path, n, "want a duration such as 250ms or 1m30s")
			return
		}
		d, err := time.ParseDuration(n.Value)
		if err != nil || d < 0 {
			probs.Add(path, n, "%q is not a duration (examples: 250ms, 5s, 1m30s)", n.Value)
			return
		}
		v.SetInt(int64(d))
		return
	}
	if reflect.PointerTo(t).Implements(unmarshalType) {
		if n.Kind != yaml.ScalarNode {
			probs.Add(path, n, "want a scalar")
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			probs.Add(path, n, "%v", err)
		}
		return
	}
	switch t.Kind() {
	case reflect.Ptr:
		nv := reflect.New(t.Elem())
		if t.Elem().Kind() == reflect.Struct {
			ApplyDefaults(nv.Elem(), path, probs)
		}
		decodeNode(n, nv.Elem(), path, probs)
		if t.Elem().Kind() == reflect.Struct {
			checkRequired(n, nv.Elem(), path, probs)
		}
		v.Set(nv)
	case reflect.Struct:
		decodeStruct(n, v, path, probs)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			probs.Add(path, n, "want a string, found %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
			probs.Add(path, n, "want true or false, found %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
		if n.Kind != yaml.ScalarNode || err != nil || v.OverflowInt(i) {
			probs.Add(path, n, "want an integer, found %s", describe(n))
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := strconv.ParseUint(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
		if n.Kind != yaml.ScalarNode || err != nil || v.OverflowUint(u) {
			probs.Add(path, n, "want a non-negative integer, found %s", describe(n))
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if n.Kind != yaml.ScalarNode || err != nil {
			probs.Add(path, n, "want a number, found %s", describe(n))
			return
		}
		v.SetFloat(f)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			probs.Add(path, n, "want a list, found %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, c := range n.Content {
			ev := s.Index(i)
			if ev.Kind() == reflect.Struct {
				ApplyDefaults(ev, fmt.Sprintf("%s[%d]", path, i), probs)
			}
			decodeValue(c, ev, fmt.Sprintf("%s[%d]", path, i), probs)
			if ev.Kind() == reflect.Struct {
				checkRequired(c, ev, fmt.Sprintf("%s[%d]", path, i), probs)
			}
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			probs.Add(path, n, "want a map, found %s", kindName(n))
			return
		}
		if t.Key().Kind() != reflect.String {
			probs.Add(path, n, "internal: map key type %s", t.Key())
			return
		}
		m := reflect.MakeMapWithSize(t, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			ev := reflect.New(t.Elem()).Elem()
			decodeValue(n.Content[i+1], ev, join(path, k), probs)
			m.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), ev)
		}
		v.Set(m)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			probs.Add(path, n, "%v", err)
			return
		}
		v.Set(reflect.ValueOf(normalize(x)))
	default:
		probs.Add(path, n, "internal: unsupported config type %s", t)
	}
}

// normalize turns yaml.v3's generic values into the types the ABI encodes:
// ints become int64, maps become map[string]any.
func normalize(x any) any {
	switch y := x.(type) {
	case int:
		return int64(y)
	case map[string]any:
		for k, e := range y {
			y[k] = normalize(e)
		}
		return y
	case map[any]any:
		m := make(map[string]any, len(y))
		for k, e := range y {
			m[fmt.Sprint(k)] = normalize(e)
		}
		return m
	case []any:
		for i, e := range y {
			y[i] = normalize(e)
		}
		return y
	}
	return x
}

func decodeStruct(n *yaml.Node, v reflect.Value, path string, probs *Problems) {
	if n.Kind != yaml.MappingNode {
		probs.Add(path, n, "want a map of settings, found %s", kindName(n))
		return
	}
	fields := Fields(v.Type())
	byName := make(map[string]fieldInfo, len(fields))
	names := make([]string, 0, len(fields))
	for _, f := range fields {
		byName[f.name] = f
		names = append(names, f.name)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		if seen[k.Value] {
			probs.Add(p, k, "set more than once")
			continue
		}
		seen[k.Value] = true
		f, ok := byName[k.Value]
		if !ok {
			probs.Add(p, k, "unknown field%s", Suggest(k.Value, names))
			continue
		}
		fv := v.FieldByIndex(f.index)
		decodeValue(val, fv, p, probs)
		if oneof := f.tag.Get("oneof"); oneof != "" && fv.Kind() == reflect.String {
			allowed := strings.Split(oneof, "|")
			if !contains(allowed, fv.String()) {
				hint := Suggest(fv.String(), allowed)
				if !strings.HasPrefix(hint, " (did you mean") {
					hint = ""
				}
				probs.Add(p, val, "%q is not one of %s%s", fv.String(), strings.Join(allowed, ", "), hint)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a map"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return describe(n)
	}
	return "nothing"
}

func describe(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		return kindName(n)
	}
	return strconv.Quote(n.Value)
}

// Suggest returns ` (did you mean "x"?)` for the closest of candidates to s,
// or "" when none is close.
func Suggest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := levenshtein(strings.ToLower(s), strings.ToLower(c))
		if d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" || bestD > max(2, len(s)/3) {
		if len(candidates) > 0 && len(candidates) <= 12 {
			sorted := append([]string(nil), candidates...)
			sort.Strings(sorted)
			return " (known: " + strings.Join(sorted, ", ") + ")"
		}
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
