package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeAndClientCommands runs wasmstream serve and drives it with the
// client commands, as a user would: a tenant, a module upload, a deploy,
// its status, a refused capability, then a graceful stop of the server.
func TestServeAndClientCommands(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "server.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("listen: 127.0.0.1:0\ndata_dir: %q\n", filepath.Join(dir, "data"))), 0o644); err != nil {
		t.Fatal(err)
	}
	const admin = "an-admin-token-for-the-test"
	srv := exec.Command(binary, "serve", "--config", cfg)
	srv.Env = append(os.Environ(), "WASMSTREAM_ADMIN_TOKEN="+admin)
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedWriter
	var errBuf strings.Builder
	stderr.w = &errBuf
	srv.Stderr = &stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Process.Kill()
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		t.Fatalf("serve printed no URL: %s", errBuf.String())
	}
	url := strings.TrimSpace(sc.Text())
	client := func(token string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(binary, append(args, "--server", url, "--token", token)...)
		out, _ := cmd.Output()
		return string(out), cmd.ProcessState.ExitCode()
	}
	out, code := client(admin, "tenant", "create", "acme", "--connectors", "collection,stdout")
	var tenant struct {
		Token string `json:"token"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &tenant) != nil || tenant.Token == "" {
		t.Fatalf("tenant create: exit %d, %s", code, out)
	}
	if _, code := client(tenant.Token, "tenant", "list"); code != exitConfig {
		t.Fatalf("a tenant listing tenants: exit %d, want %d", code, exitConfig)
	}
	if out, code := client(tenant.Token, "module", "upload", "acme", "upper", upperWasm); code != 0 || !strings.Contains(out, `"digest"`) {
		t.Fatalf("module upload: exit %d, %s", code, out)
	}
	p := filepath.Join(dir, "p.yaml")
	os.WriteFile(p, []byte("source: {collection: {values: [a, b, c]}}\noperators: [{wasm: {module: upper}}]\nsink: {stdout: {}}\n"), 0o644)
	if out, code := client(tenant.Token, "pipeline", "deploy", "acme", "p1", p); code != 0 || !strings.Contains(out, `"running"`) && !strings.Contains(out, `"stopped"`) {
		t.Fatalf("pipeline deploy: exit %d, %s", code, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, code := client(tenant.Token, "pipeline", "status", "acme", "p1")
		var st struct {
			State string `json:"state"`
			Stats struct {
				RecordsOut int `json:"records_out"`
			} `json:"stats"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
			t.Fatalf("pipeline status: exit %d, %s", code, out)
		}
		if st.State == "stopped" && st.Stats.RecordsOut == 3 {
			break
		}
		if time.Now().After(deadline) || st.State == "failed" {
			t.Fatalf("status %s", out)
		}
		time.Sleep(20 * time.Millisecond) // polling the API: there is no event to wait on
	}
	os.WriteFile(p, []byte("source: {generator: {}}\noperators: [{wasm: {module: upper}}]\nsink: {stdout: {}}\n"), 0o644)
	if _, code := client(tenant.Token, "pipeline", "deploy", "acme", "p2", p); code != exitConfig {
		t.Fatalf("deploying a connector outside the tenant's capabilities: exit %d, want %d", code, exitConfig)
	}
	srv.Process.Signal(syscall.SIGTERM)
	if err := srv.Wait(); err != nil {
		t.Fatalf("serve: %v\n%s", err, errBuf.String())
	}
	if strings.Contains(errBuf.String(), admin) || strings.Contains(errBuf.String(), tenant.Token) {
		t.Fatal("a token is in the server's log")
	}
}

// TestServeTLS: with tls in its config the server answers HTTPS only,
// with the configured certificate.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wasmstream test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cfg := filepath.Join(dir, "server.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("listen: 127.0.0.1:0\ndata_dir: %q\ntls: {cert_file: %q, key_file: %q}\n", filepath.Join(dir, "data"), certFile, keyFile)), 0o644)
	srv := exec.Command(binary, "serve", "--config", cfg)
	srv.Env = append(os.Environ(), "WASMSTREAM_ADMIN_TOKEN=an-admin-token-for-the-test")
	stdout, _ := srv.StdoutPipe()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		t.Fatal("serve printed no URL")
	}
	url := strings.TrimSpace(sc.Text())
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("serve with tls printed %q", url)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := cl.Get(url + "/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("health over TLS: %d", resp.StatusCode)
	}
	if resp, err := http.Get("http://" + strings.TrimPrefix(url, "https://") + "/v1/health"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("the TLS server answered plain HTTP")
		}
	}
}
