package kit

import (
	"strings"
	"testing"
)

func TestSASLValidate(t *testing.T) {
	tests := []struct {
		name   string
		s      SASL
		fields []string
	}{
		{"zero is none", SASL{}, nil},
		{"none", SASL{Mechanism: "none"}, nil},
		{"none with credentials", SASL{Mechanism: "none", Username: "u", Password: "pw-s3cret", Token: "tok-s3cret"}, []string{"username", "password", "token"}},
		{"plain", SASL{Mechanism: "plain", Username: "u", Password: "pw-s3cret"}, nil},
		{"plain without password", SASL{Mechanism: "plain", Username: "u"}, []string{"password"}},
		{"scram-sha-256 without anything", SASL{Mechanism: "scram-sha-256"}, []string{"username", "password"}},
		{"scram-sha-512 with token", SASL{Mechanism: "scram-sha-512", Username: "u", Password: "pw-s3cret", Token: "tok-s3cret"}, []string{"token"}},
		{"oauthbearer", SASL{Mechanism: "oauthbearer", Token: "tok-s3cret"}, nil},
		{"oauthbearer without token", SASL{Mechanism: "oauthbearer"}, []string{"token"}},
		{"oauthbearer with password", SASL{Mechanism: "oauthbearer", Token: "tok-s3cret", Password: "pw-s3cret"}, []string{"password"}},
		{"unknown", SASL{Mechanism: "gssapi"}, []string{"mechanism"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			checkFields(t, err, tt.fields)
			if err != nil && (strings.Contains(err.Error(), string(tt.s.Password)) && tt.s.Password != "" ||
				strings.Contains(err.Error(), string(tt.s.Token)) && tt.s.Token != "") {
				t.Errorf("error %q shows a secret", err)
			}
		})
	}
}

func TestSASLInherit(t *testing.T) {
	parent := SASL{Mechanism: "scram-sha-256", Username: "app", Password: "pw"}
	tests := []struct {
		name          string
		child, parent SASL
		want          SASL
	}{
		{"empty child", SASL{}, parent, parent},
		{"own user, parent's password", SASL{Username: "other"}, parent, SASL{Mechanism: "scram-sha-256", Username: "other", Password: "pw"}},
		{"other user-password mechanism keeps credentials", SASL{Mechanism: "scram-sha-512"}, parent, SASL{Mechanism: "scram-sha-512", Username: "app", Password: "pw"}},
		{"oauthbearer takes no password", SASL{Mechanism: "oauthbearer", Token: "t"}, parent, SASL{Mechanism: "oauthbearer", Token: "t"}},
		{"oauthbearer takes the token", SASL{}, SASL{Mechanism: "oauthbearer", Token: "t"}, SASL{Mechanism: "oauthbearer", Token: "t"}},
		{"none takes nothing", SASL{Mechanism: "none"}, parent, SASL{Mechanism: "none"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.child.Inherit(tt.parent)
			if got != tt.want {
				t.Errorf("Inherit = %#v, want %#v", got, tt.want)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("the inherited block is invalid: %v", err)
			}
		})
	}
}
