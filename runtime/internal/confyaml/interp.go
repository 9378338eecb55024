package confyaml

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// LookupEnv looks up the environment variables that ${NAME} references in
// scalar values name. It is os.LookupEnv; a test may replace it, but not
// while a Decode runs.
var LookupEnv = os.LookupEnv

// secret is a scalar whose value was interpolated: the value may have come
// from the environment, so no problem message may show it.
type secret struct {
	template string // the scalar as written in the file, e.g. ${DB_PASS}
	value    string // what it expanded to
}

// expand interpolates ${NAME}, ${NAME:-default} and the escape $${ in s.
// refs reports whether s has a reference (so its value is secret); msgs are
// the problems found, which name variables but never values.
func expand(s string, lookup func(string) (string, bool)) (out string, refs bool, msgs []string) {
	if !strings.Contains(s, "${") {
		return s, false, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			b.WriteString("${")
			i += 3
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			b.WriteByte(s[i])
			i++
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			msgs = append(msgs, "unterminated ${ (write $${ for a literal ${)")
			return "", true, msgs
		}
		body := s[i+2 : i+2+end]
		i += 2 + end + 1
		name, def, hasDef := strings.Cut(body, ":-")
		if !validEnvName(name) {
			msgs = append(msgs, fmt.Sprintf("${%s}: %q is not a variable name (letters, digits and _, not starting with a digit; write $${ for a literal ${)", body, name))
			continue
		}
		refs = true
		val, ok := lookup(name)
		switch {
		case hasDef && val == "":
			val = def
		case !ok:
			msgs = append(msgs, fmt.Sprintf("environment variable %s is not set (give a default with ${%s:-value})", name, name))
			continue
		}
		b.WriteString(val)
	}
	return b.String(), refs, msgs
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// interpolate returns n with its scalar values expanded: n itself when
// nothing references a variable, else a copy (the file's tree is never
// changed, so decoding it again expands it again, once). With deep (for a
// field of type any), the scalars of a whole mapping or sequence are
// expanded and a quoted scalar stays a string; otherwise only a scalar n
// is, for a typed field. ok is false when a reference could not be
// expanded; the problems are added under path.
func (p *Problems) interpolate(n *yaml.Node, path string, deep bool) (*yaml.Node, bool) {
	switch n.Kind {
	case yaml.ScalarNode:
		out, refs, msgs := expand(n.Value, LookupEnv)
		for _, m := range msgs {
			p.Add(path, n, "%s", m)
		}
		if len(msgs) > 0 {
			return n, false
		}
		if !refs && out == n.Value {
			return n, true
		}
		c := *n
		c.Value = out
		if refs {
			p.addSecret(path, n.Value, out)
		}
		quoted := yaml.SingleQuotedStyle | yaml.DoubleQuotedStyle | yaml.LiteralStyle | yaml.FoldedStyle
		switch {
		case !deep:
			// A typed field takes the value as its type says: quotes
			// only protect a reference in a flow collection ({a: "${A}"}),
			// so "${FLAG}" fills a bool.
			c.Style &^= quoted
			fallthrough
		case c.Style&(quoted|yaml.TaggedStyle) == 0:
			// A plain scalar is typed by what it expands to (5 is an int
			// for a field of type any), but never becomes null: an empty
			// value stays an empty string.
			c.Tag = ""
			if c.Tag = c.ShortTag(); c.Tag == "!!null" {
				c.Tag = "!!str"
			}
		}
		return &c, true
	case yaml.MappingNode, yaml.SequenceNode:
		if !deep {
			return n, true
		}
		var content []*yaml.Node
		ok := true
		for i, child := range n.Content {
			if child.Kind == yaml.AliasNode {
				child = child.Alias
			}
			sub := child
			if n.Kind == yaml.SequenceNode {
				sub, ok = p.interpolateAnd(ok, child, fmt.Sprintf("%s[%d]", path, i))
			} else if i%2 == 1 {
				sub, ok = p.interpolateAnd(ok, child, join(path, n.Content[i-1].Value))
			}
			if sub != child && content == nil {
				content = append([]*yaml.Node(nil), n.Content...)
			}
			if content != nil {
				content[i] = sub
			}
		}
		if content == nil {
			return n, ok
		}
		c := *n
		c.Content = content
		return &c, ok
	}
	return n, true
}

func (p *Problems) interpolateAnd(ok bool, n *yaml.Node, path string) (*yaml.Node, bool) {
	c, ok2 := p.interpolate(n, path, true)
	return c, ok && ok2
}

func (p *Problems) addSecret(path, template, value string) {
	if value == "" {
		return
	}
	if p.secrets == nil {
		p.secrets = map[string][]secret{}
	}
	p.secrets[path] = append(p.secrets[path], secret{template: template, value: value})
}

// redact removes from msg, a problem at path, the values interpolated at
// path or below it: a quoted value becomes "the value of ${NAME}"; if the
// value appears otherwise, the whole message is replaced. It reports
// whether msg changed.
func (p *Problems) redact(path, msg string) (string, bool) {
	var hits []secret
	for sp, list := range p.secrets {
		if path == "" || sp == path || strings.HasPrefix(sp, path+".") || strings.HasPrefix(sp, path+"[") {
			hits = append(hits, list...)
		}
	}
	sort.Slice(hits, func(i, j int) bool { return hits[i].template < hits[j].template })
	for _, s := range hits {
		if rest := strings.ReplaceAll(msg, strconv.Quote(s.value), ""); strings.Contains(rest, s.value) {
			return fmt.Sprintf("invalid value of %s (not shown: values from the environment are secret)", s.template), true
		}
	}
	changed := false
	for _, s := range hits {
		if q := strconv.Quote(s.value); strings.Contains(msg, q) {
			msg, changed = strings.ReplaceAll(msg, q, "the value of "+s.template), true
		}
	}
	return msg, changed
}
