package kit

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/wasmstream/wasmstream/runtime"
)

// TLS configures a client's TLS connection. Files are PEM; relative paths
// are relative to the pipeline file's directory. A disabled block (the
// zero value) means plain connections.
type TLS struct {
	Enabled     bool   `yaml:"enabled" doc:"Connect with TLS."`
	SkipVerify  bool   `yaml:"skip_cert_verify" doc:"Accept any server certificate, without checking who signed it or whom it names. Only for tests: anyone on the path can read and change the traffic."`
	RootCAsFile string `yaml:"root_cas_file" path:"file" doc:"PEM file of the certificate authorities that may sign the server's certificate, instead of the system's."`
	CertFile    string `yaml:"cert_file" path:"file" doc:"PEM file of the client certificate, for servers that authenticate clients by certificate (mutual TLS); needs key_file."`
	KeyFile     string `yaml:"key_file" path:"file" doc:"PEM file of the client certificate's private key; needs cert_file."`
	ServerName  string `yaml:"server_name" doc:"Name the server's certificate must have, when it is not the host connected to."`
	// MinVersion has no default tag, so that Inherit can tell an unset
	// version from 1.2; Config treats "" as 1.2.
	MinVersion string `yaml:"min_version" oneof:"1.2|1.3" doc:"Oldest TLS version accepted: 1.2 or 1.3. Default: 1.2."`
}

// Config returns the crypto/tls configuration, or nil, nil when TLS is not
// enabled. Its errors name the field and the file at fault. The result is
// new at each call: the caller may change it.
func (t TLS) Config() (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	c := &tls.Config{InsecureSkipVerify: t.SkipVerify, ServerName: t.ServerName}
	switch t.MinVersion {
	case "", "1.2":
		c.MinVersion = tls.VersionTLS12
	case "1.3":
		c.MinVersion = tls.VersionTLS13
	default:
		return nil, runtime.FieldErr("min_version", "%q is not a TLS version this client accepts (1.2 or 1.3)", t.MinVersion)
	}
	if t.RootCAsFile != "" {
		pem, err := os.ReadFile(t.RootCAsFile)
		if err != nil {
			return nil, &runtime.FieldError{Field: "root_cas_file", Msg: fmt.Sprintf("reading %s: %v", t.RootCAsFile, unwrapPath(err)), Err: err}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, runtime.FieldErr("root_cas_file", "%s holds no PEM certificate", t.RootCAsFile)
		}
		c.RootCAs = pool
	}
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		return nil, runtime.FieldErr("key_file", "required with cert_file (%s)", t.CertFile)
	case t.CertFile == "" && t.KeyFile != "":
		return nil, runtime.FieldErr("cert_file", "required with key_file (%s)", t.KeyFile)
	case t.CertFile != "":
		for _, f := range [][2]string{{"cert_file", t.CertFile}, {"key_file", t.KeyFile}} {
			if _, err := os.Stat(f[1]); err != nil {
				return nil, &runtime.FieldError{Field: f[0], Msg: fmt.Sprintf("reading %s: %v", f[1], unwrapPath(err)), Err: err}
			}
		}
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, &runtime.FieldError{Field: "cert_file", Msg: fmt.Sprintf("loading the key pair %s and %s: %v", t.CertFile, t.KeyFile, err), Err: err}
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// unwrapPath drops the path from a *os.PathError, whose text would repeat
// it.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Validate reports the problem of the settings Config would return, as a
// runtime field error relative to the block (wrap it with Under).
func (t TLS) Validate() error {
	_, err := t.Config()
	return err
}

// Inherit returns t with the fields it leaves unset (zero: false, "")
// taken from parent: a connector's per-endpoint block inherits its
// top-level block. Booleans are inherited when false, so a child cannot
// turn off what its parent turned on.
func (t TLS) Inherit(parent TLS) TLS {
	t.Enabled = t.Enabled || parent.Enabled
	t.SkipVerify = t.SkipVerify || parent.SkipVerify
	t.RootCAsFile = or(t.RootCAsFile, parent.RootCAsFile)
	if t.CertFile == "" && t.KeyFile == "" {
		// A key pair is inherited whole, never a child's cert with its
		// parent's key.
		t.CertFile, t.KeyFile = parent.CertFile, parent.KeyFile
	}
	t.ServerName = or(t.ServerName, parent.ServerName)
	t.MinVersion = or(t.MinVersion, parent.MinVersion)
	return t
}

func or[T comparable](v, parent T) T {
	var zero T
	if v == zero {
		return parent
	}
	return v
}
