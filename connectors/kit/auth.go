package kit

import (
	"errors"

	"github.com/wasmstream/wasmstream/runtime"
)

// SASL mechanisms.
const (
	MechanismNone        = "none"
	MechanismPlain       = "plain"
	MechanismSCRAMSHA256 = "scram-sha-256"
	MechanismSCRAMSHA512 = "scram-sha-512"
	MechanismOAuthBearer = "oauthbearer"
)

// SASL configures how a client authenticates: no authentication, a user
// name and password (plain, scram-sha-256, scram-sha-512), or a bearer
// token (oauthbearer). The password and token are Secrets: they never
// print; give them as ${ENV} references rather than in the file.
type SASL struct {
	// Mechanism has no default tag, so that Inherit can tell it unset;
	// "" is none.
	Mechanism string `yaml:"mechanism" oneof:"none|plain|scram-sha-256|scram-sha-512|oauthbearer" doc:"How to authenticate: none, plain (user name and password in clear: use it with TLS), scram-sha-256 or scram-sha-512 (user name and password, not sent in clear), oauthbearer (a token). Default: none."`
	Username  string `yaml:"username" doc:"User name, for plain and scram mechanisms."`
	Password  Secret `yaml:"password" doc:"Password, for plain and scram mechanisms. Never printed; write it as a ${ENV} reference."`
	Token     Secret `yaml:"token" doc:"Bearer token, for oauthbearer. Never printed; write it as a ${ENV} reference."`
}

// Effective returns the mechanism, with "" as none.
func (s SASL) Effective() string {
	if s.Mechanism == "" {
		return MechanismNone
	}
	return s.Mechanism
}

// Validate reports every problem of the settings, as runtime field errors
// relative to the block (wrap them with Under): plain and scram need a
// username and a password and no token, oauthbearer a token and no
// password, none nothing at all. The messages never hold the secrets.
func (s SASL) Validate() error {
	var errs []error
	need := func(field string, set bool) {
		if !set {
			errs = append(errs, runtime.FieldErr(field, "required with mechanism %s", s.Effective()))
		}
	}
	unused := func(field string, set bool) {
		if set {
			errs = append(errs, runtime.FieldErr(field, "not used by mechanism %s", s.Effective()))
		}
	}
	switch m := s.Effective(); m {
	case MechanismNone:
		unused("username", s.Username != "")
		unused("password", s.Password != "")
		unused("token", s.Token != "")
	case MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512:
		need("username", s.Username != "")
		need("password", s.Password != "")
		unused("token", s.Token != "")
	case MechanismOAuthBearer:
		need("token", s.Token != "")
		unused("password", s.Password != "")
	default:
		errs = append(errs, runtime.FieldErr("mechanism", "%q is not one of none, plain, scram-sha-256, scram-sha-512, oauthbearer", m))
	}
	return errors.Join(errs...)
}

// Inherit returns s with the fields it leaves unset ("") taken from
// parent, except credentials its mechanism does not use: a child with
// oauthbearer does not inherit a password, one with plain or scram no
// token, and one with none nothing.
func (s SASL) Inherit(parent SASL) SASL {
	s.Mechanism = or(s.Mechanism, parent.Mechanism)
	switch s.Effective() {
	case MechanismNone:
	case MechanismOAuthBearer:
		s.Token = or(s.Token, parent.Token)
	default:
		s.Username = or(s.Username, parent.Username)
		s.Password = or(s.Password, parent.Password)
	}
	return s
}
