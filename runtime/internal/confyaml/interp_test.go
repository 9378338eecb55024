package confyaml

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// withEnv makes LookupEnv see only env for the rest of the test.
func withEnv(t *testing.T, env map[string]string) {
	t.Helper()
	old := LookupEnv
	LookupEnv = func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
	t.Cleanup(func() { LookupEnv = old })
}

type testSize int64

func (s *testSize) UnmarshalText(b []byte) error {
	n, err := strconv.ParseInt(strings.TrimSuffix(string(b), "B"), 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a size", string(b))
	}
	*s = testSize(n)
	return nil
}

type testInner struct {
	Name string `yaml:"name"`
}

type testConfig struct {
	Size   int            `yaml:"size" default:"10"`
	Name   string         `yaml:"name"`
	Linger time.Duration  `yaml:"linger" default:"20ms"`
	Hosts  []string       `yaml:"hosts"`
	Ports  []int          `yaml:"ports"`
	On     bool           `yaml:"on"`
	Ratio  float64        `yaml:"ratio"`
	Mode   string         `yaml:"mode" default:"fast" oneof:"fast|slow"`
	Mem    testSize       `yaml:"mem"`
	Extra  map[string]any `yaml:"extra"`
	Ptr    *int           `yaml:"ptr"`
	Inner  testInner      `yaml:"inner"`
	Raw    yaml.Node      `yaml:"raw"`
}

// Validate echoes the name back in its messages, as careless component
// code might.
func (c *testConfig) Validate() error {
	var errs []error
	if strings.HasPrefix(c.Name, "invalid") {
		errs = append(errs, &FieldError{Field: "name", Msg: fmt.Sprintf("%q is not a valid name", c.Name)})
	}
	if strings.HasPrefix(c.Inner.Name, "bad") {
		errs = append(errs, fmt.Errorf("inner name %s is bad", c.Inner.Name))
	}
	return errors.Join(errs...)
}

func decodeTest(t *testing.T, src string) (*testConfig, *Problems) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	var c testConfig
	probs := &Problems{}
	Decode(doc.Content[0], &c, "sink.test", probs)
	return &c, probs
}

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "alpha", "EMPTY": "", "N": "5"}
	lookup := func(name string) (string, bool) { v, ok := env[name]; return v, ok }
	tests := []struct {
		in, want string
		refs     bool
		problem  string // part of the only problem, if any
	}{
		{in: "plain", want: "plain"},
		{in: "$HOME and $ alone", want: "$HOME and $ alone"},
		{in: "${A}", want: "alpha", refs: true},
		{in: "x-${A}-${N}-y", want: "x-alpha-5-y", refs: true},
		{in: "${MISSING:-dflt}", want: "dflt", refs: true},
		{in: "${EMPTY:-dflt}", want: "dflt", refs: true},
		{in: "${EMPTY}", want: "", refs: true},
		{in: "${MISSING:-}", want: "", refs: true},
		{in: "${MISSING:-a:-b}", want: "a:-b", refs: true},
		{in: "$${A}", want: "${A}"},
		{in: "$${A} ${A}", want: "${A} alpha", refs: true},
		{in: "${MISSING}", refs: true, problem: "environment variable MISSING is not set"},
		{in: "${A", refs: true, problem: "unterminated ${"},
		{in: "${}", problem: `"" is not a variable name`},
		{in: "${1A}", problem: `"1A" is not a variable name`},
		{in: "${A B}", problem: `"A B" is not a variable name`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, refs, msgs := expand(tt.in, lookup)
			if tt.problem != "" {
				if len(msgs) != 1 || !strings.Contains(msgs[0], tt.problem) {
					t.Fatalf("problems %q, want one containing %q", msgs, tt.problem)
				}
				return
			}
			if len(msgs) != 0 {
				t.Fatalf("unexpected problems %q", msgs)
			}
			if got != tt.want || refs != tt.refs {
				t.Errorf("expand(%q) = %q, refs %v; want %q, refs %v", tt.in, got, refs, tt.want, tt.refs)
			}
		})
	}
}

func TestDecodeInterpolates(t *testing.T) {
	withEnv(t, map[string]string{
		"BATCH": "500", "NAME": "orders", "LINGER": "1s", "H1": "a:1", "ON": "true",
		"RATIO": "0.25", "MODE": "slow", "MEM": "64B", "N": "5", "EMPTY": "",
	})
	five := 5
	tests := []struct {
		name, src string
		check     func(c *testConfig) any
		want      any
	}{
		{"int", "size: ${BATCH}", func(c *testConfig) any { return c.Size }, 500},
		{"int from default", "size: ${UNSET:-7}", func(c *testConfig) any { return c.Size }, 7},
		{"int default when empty", "size: ${EMPTY:-8}", func(c *testConfig) any { return c.Size }, 8},
		{"string with text around", "name: pre-${NAME}-post", func(c *testConfig) any { return c.Name }, "pre-orders-post"},
		{"quoted string", `name: "${NAME}"`, func(c *testConfig) any { return c.Name }, "orders"},
		{"empty value is an empty string", "name: ${EMPTY}", func(c *testConfig) any { return c.Name }, ""},
		{"escape", "name: $${NAME}", func(c *testConfig) any { return c.Name }, "${NAME}"},
		{"duration", "linger: ${LINGER}", func(c *testConfig) any { return c.Linger }, time.Second},
		{"list of strings", "hosts: ['${H1}', b, \"${UNSET:-c}\"]", func(c *testConfig) any { return c.Hosts }, []string{"a:1", "b", "c"}},
		{"bool", "on: ${ON}", func(c *testConfig) any { return c.On }, true},
		{"float", "ratio: ${RATIO}", func(c *testConfig) any { return c.Ratio }, 0.25},
		{"oneof", "mode: ${MODE}", func(c *testConfig) any { return c.Mode }, "slow"},
		{"text unmarshaler", "mem: ${MEM}", func(c *testConfig) any { return c.Mem }, testSize(64)},
		{"pointer", "ptr: ${N}", func(c *testConfig) any { return c.Ptr }, &five},
		{"nested", "inner:\n  name: ${NAME}", func(c *testConfig) any { return c.Inner.Name }, "orders"},
		{"any: typed by the value", "extra:\n  n: ${N}\n  s: '${N}'\n  l:\n    - ${N}\n    - x\n  e: ${EMPTY}", func(c *testConfig) any { return c.Extra },
			map[string]any{"n": int64(5), "s": "5", "l": []any{int64(5), "x"}, "e": ""}},
		{"flow mapping, quoted", `inner: { name: "${NAME}" }`, func(c *testConfig) any { return c.Inner.Name }, "orders"},
		{"quoted int", `size: "${BATCH}"`, func(c *testConfig) any { return c.Size }, 500},
		{"quoted bool", `on: "${ON}"`, func(c *testConfig) any { return c.On }, true},
		{"yaml.Node keeps the file's text", "raw: ${NAME}", func(c *testConfig) any { return c.Raw.Value }, "${NAME}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, probs := decodeTest(t, tt.src)
			if err := probs.Err(); err != nil {
				t.Fatal(err)
			}
			if got := tt.check(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

// A yaml.Node field is expanded when its component decodes it, once: an
// escaped $${ stays a literal.
func TestDecodeNodeFieldLater(t *testing.T) {
	withEnv(t, map[string]string{"NAME": "orders"})
	c, probs := decodeTest(t, "raw: {name: '${NAME} $${NAME}'}")
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	var in testInner
	Decode(&c.Raw, &in, "sink.test.raw", probs)
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	if want := "orders ${NAME}"; in.Name != want {
		t.Errorf("name = %q, want %q", in.Name, want)
	}
}

func TestDecodeUnsetVariable(t *testing.T) {
	withEnv(t, map[string]string{"SET": "x"})
	c, probs := decodeTest(t, "size: ${NO_BATCH}\ninner: {name: '${SET}-${NO_NAME}'}\nhosts: ['${NO_HOST:-ok}', '${NO_HOST2}']\n")
	want := map[string]string{
		"sink.test.size":       "NO_BATCH",
		"sink.test.inner.name": "NO_NAME",
		"sink.test.hosts[1]":   "NO_HOST2",
	}
	if len(probs.List) != len(want) {
		t.Fatalf("problems: %v, want %d", probs.Err(), len(want))
	}
	for _, p := range probs.List {
		name, ok := want[p.Path]
		if !ok || !strings.Contains(p.Msg, "environment variable "+name+" is not set") {
			t.Errorf("problem %s, want one at a path of %v naming its variable", p, want)
		}
		if p.Line == 0 {
			t.Errorf("problem %s has no line", p)
		}
	}
	if c.Size != 10 {
		t.Errorf("size = %d, want its default 10 when the value cannot be expanded", c.Size)
	}
}

// Values from the environment are secret: whatever goes wrong with them,
// no problem message (nor a cause reachable from the error) shows them.
func TestDecodeNeverShowsInterpolatedValues(t *testing.T) {
	const secret = "hunter2-s3cret"
	withEnv(t, map[string]string{"PW": secret, "BADNAME": "invalid-" + secret, "BADINNER": "bad-" + secret})
	tests := []struct {
		name, src, path string
	}{
		{"int", "size: ${PW}", "sink.test.size"},
		{"duration", "linger: ${PW}", "sink.test.linger"},
		{"duration with text around", "linger: 1${PW}s", "sink.test.linger"},
		{"bool", "on: ${PW}", "sink.test.on"},
		{"float", "ratio: ${PW}", "sink.test.ratio"},
		{"oneof", "mode: ${PW}", "sink.test.mode"},
		{"text unmarshaler", "mem: ${PW}", "sink.test.mem"},
		{"list item", "ports: [1, '${PW}']", "sink.test.ports[1]"},
		{"not a list", "hosts: ${PW}", "sink.test.hosts"},
		{"pointer", "ptr: ${PW}", "sink.test.ptr"},
		{"validate field error", "name: ${BADNAME}", "sink.test.name"},
		{"validate plain error", "inner: {name: '${BADINNER}'}", "sink.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, probs := decodeTest(t, tt.src)
			err := probs.Err()
			if err == nil {
				t.Fatal("no problem")
			}
			t.Log(err)
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error shows the secret:\n%v", err)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a *Error", err)
			}
			for _, cause := range ce.Unwrap() {
				if strings.Contains(cause.Error(), secret) {
					t.Errorf("a cause shows the secret: %v", cause)
				}
			}
			found := false
			for _, p := range probs.List {
				found = found || p.Path == tt.path
				if !strings.Contains(p.Msg, "${") {
					t.Errorf("problem %s does not name the reference", p)
				}
			}
			if !found {
				t.Errorf("no problem at %s: %v", tt.path, err)
			}
		})
	}
	// A problem added after decoding (as runtime.parse does for the
	// pipeline's name) is redacted too.
	c, probs := decodeTest(t, "name: ${PW}")
	probs.Add("sink.test.name", nil, "%q is not a valid pipeline name", c.Name)
	probs.Add("sink.test", nil, "the name %s is taken", c.Name)
	if err := probs.Err(); err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("problems added later: %v", err)
	}
}

// A value that came from the file itself (a default) still appears where
// the reference is named.
func TestDecodeProblemNamesReference(t *testing.T) {
	withEnv(t, nil)
	_, probs := decodeTest(t, "size: ${BATCH:-many}")
	err := probs.Err()
	if err == nil {
		t.Fatal("no problem")
	}
	if want := "want an integer, found the value of ${BATCH:-many}"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}
