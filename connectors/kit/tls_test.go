package kit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testPKI is a CA and a certificate it signed, written as PEM files.
type testPKI struct {
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
	leaf                      tls.Certificate
}

func newPKI(t *testing.T, dir, name string) testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := testPKI{
		caFile:   filepath.Join(dir, name+"-ca.pem"),
		certFile: filepath.Join(dir, name+".pem"),
		keyFile:  filepath.Join(dir, name+"-key.pem"),
		pool:     x509.NewCertPool(),
	}
	p.pool.AddCert(ca)
	writePEM(t, p.caFile, "CERTIFICATE", caDER)
	writePEM(t, p.certFile, "CERTIFICATE", der)
	writePEM(t, p.keyFile, "EC PRIVATE KEY", keyDER)
	if p.leaf, err = tls.LoadX509KeyPair(p.certFile, p.keyFile); err != nil {
		t.Fatal(err)
	}
	return p
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// serveTLS runs a TLS server that completes handshakes, requiring a client
// certificate signed by clientCAs when it is not nil.
func serveTLS(t *testing.T, server testPKI, clientCAs *x509.CertPool) string {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{server.leaf}}
	if clientCAs != nil {
		cfg.ClientCAs, cfg.ClientAuth = clientCAs, tls.RequireAndVerifyClientCert
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake()
				_, _ = c.Write([]byte("hi"))
			}()
		}
	}()
	return ln.Addr().String()
}

// dialTLS connects with the config of t and reads the server's greeting
// (with TLS 1.3 a rejected client certificate shows only then).
func dialTLS(addr string, cfg *tls.Config) error {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	buf := make([]byte, 2)
	_, err = c.Read(buf)
	return err
}

func TestTLSConnects(t *testing.T) {
	dir := t.TempDir()
	server := newPKI(t, dir, "server")
	client := newPKI(t, dir, "client")
	plain := serveTLS(t, server, nil)
	mutual := serveTLS(t, server, client.pool)
	tests := []struct {
		name   string
		addr   string
		cfg    TLS
		failIn string // part of the dial error, "" for success
	}{
		{"with the CA", plain, TLS{Enabled: true, RootCAsFile: server.caFile}, ""},
		{"by server name", plain, TLS{Enabled: true, RootCAsFile: server.caFile, ServerName: "localhost"}, ""},
		{"TLS 1.3", plain, TLS{Enabled: true, RootCAsFile: server.caFile, MinVersion: "1.3"}, ""},
		{"without the CA", plain, TLS{Enabled: true}, "certificate"},
		{"another CA", plain, TLS{Enabled: true, RootCAsFile: client.caFile}, "certificate"},
		{"wrong server name", plain, TLS{Enabled: true, RootCAsFile: server.caFile, ServerName: "db.example"}, "certificate"},
		{"skip verify", plain, TLS{Enabled: true, SkipVerify: true}, ""},
		{"mutual", mutual, TLS{Enabled: true, RootCAsFile: server.caFile, CertFile: client.certFile, KeyFile: client.keyFile}, ""},
		{"mutual without a client certificate", mutual, TLS{Enabled: true, RootCAsFile: server.caFile}, "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := tt.cfg.Config()
			if err != nil {
				t.Fatal(err)
			}
			err = dialTLS(tt.addr, cfg)
			switch {
			case tt.failIn == "" && err != nil:
				t.Fatalf("dial: %v", err)
			case tt.failIn != "" && (err == nil || !strings.Contains(err.Error(), tt.failIn)):
				t.Fatalf("dial = %v, want an error about the %s", err, tt.failIn)
			}
		})
	}
}

func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	p := newPKI(t, dir, "server")
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		name  string
		cfg   TLS
		field string
		msg   string // part of the message
	}{
		{"missing CA file", TLS{Enabled: true, RootCAsFile: missing}, "root_cas_file", missing},
		{"CA file without PEM", TLS{Enabled: true, RootCAsFile: garbage}, "root_cas_file", garbage + " holds no PEM certificate"},
		{"cert without key", TLS{Enabled: true, CertFile: p.certFile}, "key_file", "required with cert_file"},
		{"key without cert", TLS{Enabled: true, KeyFile: p.keyFile}, "cert_file", "required with key_file"},
		{"missing key file", TLS{Enabled: true, CertFile: p.certFile, KeyFile: missing}, "key_file", missing},
		{"bad key file", TLS{Enabled: true, CertFile: p.certFile, KeyFile: garbage}, "cert_file", garbage},
		{"mismatched pair", TLS{Enabled: true, CertFile: p.certFile, KeyFile: newPKI(t, dir, "other").keyFile}, "cert_file", "key pair"},
		{"bad version", TLS{Enabled: true, MinVersion: "1.1"}, "min_version", "1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := tt.cfg.Config()
			if cfg != nil || err == nil {
				t.Fatalf("Config() = %v, %v; want an error", cfg, err)
			}
			checkFields(t, err, []string{tt.field})
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
			checkFields(t, tt.cfg.Validate(), []string{tt.field})
		})
	}
	cfg, err := TLS{CertFile: missing}.Config()
	if cfg != nil || err != nil {
		t.Errorf("disabled: Config() = %v, %v; want nil, nil", cfg, err)
	}
}

func TestTLSInherit(t *testing.T) {
	parent := TLS{Enabled: true, RootCAsFile: "ca.pem", CertFile: "p.pem", KeyFile: "p-key.pem", ServerName: "kafka", MinVersion: "1.3"}
	tests := []struct {
		name        string
		child, want TLS
	}{
		{"empty child takes everything", TLS{}, parent},
		{"child overrides", TLS{RootCAsFile: "other.pem", ServerName: "b1", MinVersion: "1.2"},
			TLS{Enabled: true, RootCAsFile: "other.pem", CertFile: "p.pem", KeyFile: "p-key.pem", ServerName: "b1", MinVersion: "1.2"}},
		{"key pair inherited whole", TLS{CertFile: "c.pem"},
			TLS{Enabled: true, RootCAsFile: "ca.pem", CertFile: "c.pem", ServerName: "kafka", MinVersion: "1.3"}},
		{"child's own pair", TLS{CertFile: "c.pem", KeyFile: "c-key.pem", SkipVerify: true},
			TLS{Enabled: true, SkipVerify: true, RootCAsFile: "ca.pem", CertFile: "c.pem", KeyFile: "c-key.pem", ServerName: "kafka", MinVersion: "1.3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.child.Inherit(parent); got != tt.want {
				t.Errorf("Inherit = %+v, want %+v", got, tt.want)
			}
		})
	}
	if got := (TLS{Enabled: true}).Inherit(TLS{}); got != (TLS{Enabled: true}) {
		t.Errorf("an empty parent changed the child: %+v", got)
	}
}
