package kit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type secretHolder struct {
	User     string
	Password Secret
	Nested   struct{ Token Secret }
	Ptr      *Secret
	List     []Secret
	Map      map[string]Secret
}

// A Secret never prints through fmt, json, yaml or slog, alone or inside a
// struct, and an empty one prints empty.
func TestSecretNeverPrints(t *testing.T) {
	const value = "hunter2"
	s := Secret(value)
	h := secretHolder{User: "app", Password: s, Ptr: &s, List: []Secret{s}, Map: map[string]Secret{"k": s}}
	h.Nested.Token = s
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s", "%-8v", "%T"} {
		outs = append(outs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, h), fmt.Sprintf(verb, &h))
	}
	outs = append(outs, fmt.Sprint(s, h), fmt.Sprintln(s, h), s.String(), s.GoString())
	for _, v := range []any{s, h, &h} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(b))
		y, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(y))
	}
	for _, newHandler := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var buf bytes.Buffer
		log := slog.New(newHandler(&buf))
		log.Info("login", "password", s, "holder", h, "ptr", &h, slog.Group("g", "token", s))
		outs = append(outs, buf.String())
	}
	for _, out := range outs {
		if strings.Contains(out, value) || strings.Contains(out, fmt.Sprintf("%x", value)) {
			t.Errorf("printed the secret: %s", out)
		}
	}
	for _, tt := range []struct{ got, want string }{
		{fmt.Sprintf("%v", s), "[redacted]"},
		{fmt.Sprintf("%q", s), `"[redacted]"`},
		{fmt.Sprintf("%+v", h.Nested), "{Token:[redacted]}"},
		{fmt.Sprintf("%v", Secret("")), ""},
		{fmt.Sprintf("%q", Secret("")), `""`},
		{mustJSON(t, Secret("")), `""`},
		{mustJSON(t, s), `"[redacted]"`},
		{s.Reveal(), value},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
