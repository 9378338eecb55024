package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wasmstream/wasmstream/internal/serve"
)

// serverConfig is serve's config file.
type serverConfig struct {
	Listen        string `yaml:"listen"`
	DataDir       string `yaml:"data_dir"`
	AdminTokenEnv string `yaml:"admin_token_env"`
	TLS           struct {
		CertFile string `yaml:"cert_file"`
		KeyFile  string `yaml:"key_file"`
	} `yaml:"tls"`
}

func cmdServe(args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	fs := newFlagSet("serve", "--config SERVER.yaml", "Runs a server for many tenants' pipelines, with the REST API of docs/openapi.yaml.\n"+
		"The config file sets listen (HOST:PORT; default 127.0.0.1:8080), data_dir, admin_token_env (the environment variable holding the admin token; default WASMSTREAM_ADMIN_TOKEN: the token is never read from a file) and tls (cert_file, key_file).\n"+
		"SIGINT or SIGTERM stops every pipeline, draining in-flight records, then exits; the next start runs again the pipelines that were running (their state and positions kept).", stderr)
	c.register(fs)
	var config string
	fs.StringVar(&config, "config", "", "the server's config file")
	if _, code, ok := parsePositional(fs, args, 0, 0); !ok {
		return code
	}
	cfg := serverConfig{Listen: "127.0.0.1:8080", DataDir: "serve-data", AdminTokenEnv: "WASMSTREAM_ADMIN_TOKEN"}
	if config != "" {
		b, err := os.ReadFile(config)
		if err != nil {
			fmt.Fprintf(stderr, "wasmstream serve: %v\n", err)
			return exitConfig
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			fmt.Fprintf(stderr, "wasmstream serve: %s: %v\n", config, err)
			return exitConfig
		}
	}
	token := os.Getenv(cfg.AdminTokenEnv)
	if len(token) < 16 {
		fmt.Fprintf(stderr, "wasmstream serve: set %s to the admin token (at least 16 characters)\n", cfg.AdminTokenEnv)
		return exitConfig
	}
	logger, err := c.logger(stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg, engine, err := newRegistry(ctx, logger)
	if err != nil {
		fmt.Fprintf(stderr, "wasmstream serve: %v\n", err)
		return exitFailure
	}
	defer engine.Close(context.Background())
	srv, err := serve.New(serve.Config{DataDir: cfg.DataDir, AdminToken: token, Registry: reg, Engine: engine, Logger: logger})
	if err != nil {
		fmt.Fprintf(stderr, "wasmstream serve: %v\n", err)
		return exitConfig
	}
	// The pipelines that were running before the server stopped run again;
	// one that cannot be restored is listed as failed, with the reason.
	if err := srv.Restore(ctx); err != nil {
		srv.Close(time.Minute)
		fmt.Fprintf(stderr, "wasmstream serve: %v\n", err)
		return exitFailure
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		srv.Close(time.Minute)
		fmt.Fprintf(stderr, "wasmstream serve: %v\n", err)
		return exitConfig
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	scheme := "http"
	errc := make(chan error, 1)
	if cfg.TLS.CertFile != "" {
		scheme = "https"
		go func() { errc <- hs.ServeTLS(ln, cfg.TLS.CertFile, cfg.TLS.KeyFile) }()
	} else {
		go func() { errc <- hs.Serve(ln) }()
	}
	logger.Info("serving", "url", scheme+"://"+ln.Addr().String(), "data_dir", cfg.DataDir)
	fmt.Fprintf(stdout, "%s://%s\n", scheme, ln.Addr())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	select {
	case s := <-sigs:
		logger.Info("stopping: draining every pipeline", "signal", s.String())
	case err := <-errc:
		srv.Close(time.Minute)
		fmt.Fprintf(stderr, "wasmstream serve: %v\n", err)
		return exitFailure
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	hs.Shutdown(sctx)
	srv.Close(time.Minute)
	return exitOK
}

// client talks to a server for the tenant, module and pipeline commands.
type client struct {
	server, token string
	stdout        io.Writer
}

func (c *client) do(method, path string, body io.Reader, contentType string) int {
	req, err := http.NewRequest(method, strings.TrimSuffix(c.server, "/")+path, body)
	if err != nil {
		fmt.Fprintf(os.Stderr, "wasmstream: %v\n", err)
		return exitConfig
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(os.Stderr, "wasmstream: %v\n", err)
		return exitFailure
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			fmt.Fprintf(os.Stderr, "wasmstream: %s (HTTP %d)\n", e.Error, resp.StatusCode)
		} else {
			fmt.Fprintf(os.Stderr, "wasmstream: HTTP %d\n", resp.StatusCode)
		}
		if resp.StatusCode == 401 || resp.StatusCode == 403 {
			return exitConfig
		}
		return exitFailure
	}
	c.stdout.Write(b)
	return exitOK
}

// cmdClient runs the tenant, module and pipeline commands against a
// server (--server, or WASMSTREAM_SERVER; --token, or WASMSTREAM_TOKEN).
func cmdClient(what string, args []string, stdout, stderr io.Writer) int {
	usages := map[string]string{
		"tenant":   "create NAME [--connectors a,b] [--hosts h1,h2] [--trusted] | list | show NAME",
		"module":   "upload TENANT NAME FILE.wasm | list TENANT",
		"pipeline": "deploy TENANT NAME PIPELINE.yaml | list TENANT | status TENANT NAME | stop TENANT NAME | delete TENANT NAME | swap TENANT NAME OPERATOR MODULE [--canary N]",
	}
	fs := newFlagSet(what, usages[what], "Talks to a wasmstream server (wasmstream serve).", stderr)
	server := fs.String("server", os.Getenv("WASMSTREAM_SERVER"), "the server's URL (default $WASMSTREAM_SERVER)")
	token := fs.String("token", "", "the token to act with (default $WASMSTREAM_TOKEN; an admin token for tenant commands)")
	connectors := fs.String("connectors", "", "tenant create: the connectors the tenant may use, comma-separated (default: "+strings.Join(serve.DefaultConnectors, ",")+")")
	hosts := fs.String("hosts", "", "tenant create: the servers its connectors and async targets may reach, comma-separated: host, host:port, *.domain or * (default: none)")
	trusted := fs.Bool("trusted", false, "tenant create: allow its operators preemption: false (modules that no deadline can stop while they run)")
	canary := fs.Int("canary", 0, "pipeline swap: batches the new module must process without an error before it is kept")
	pos, code, ok := parsePositional(fs, args, 1, 6)
	if !ok {
		return code
	}
	if *token == "" {
		*token = os.Getenv("WASMSTREAM_TOKEN")
	}
	if *server == "" {
		fmt.Fprintln(stderr, "wasmstream: --server URL (or WASMSTREAM_SERVER) is needed")
		return exitConfig
	}
	c := &client{server: *server, token: *token, stdout: stdout}
	need := func(n int) bool {
		if len(pos) != n {
			fs.Usage()
			return false
		}
		return true
	}
	file := func(path string) (*os.File, bool) {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintf(stderr, "wasmstream: %v\n", err)
			return nil, false
		}
		return f, true
	}
	switch what + " " + pos[0] {
	case "tenant create":
		if !need(2) {
			return exitConfig
		}
		body := map[string]any{"name": pos[1]}
		if *connectors != "" {
			body["connectors"] = strings.Split(*connectors, ",")
		}
		if *hosts != "" {
			body["hosts"] = strings.Split(*hosts, ",")
		}
		if *trusted {
			body["trusted"] = true
		}
		b, _ := json.Marshal(body)
		return c.do("POST", "/v1/tenants", bytes.NewReader(b), "application/json")
	case "tenant list":
		return c.do("GET", "/v1/tenants", nil, "")
	case "tenant show":
		if !need(2) {
			return exitConfig
		}
		return c.do("GET", "/v1/tenants/"+pos[1], nil, "")
	case "module upload":
		if !need(4) {
			return exitConfig
		}
		f, ok := file(pos[3])
		if !ok {
			return exitConfig
		}
		defer f.Close()
		return c.do("PUT", "/v1/tenants/"+pos[1]+"/modules/"+pos[2], f, "application/wasm")
	case "module list":
		if !need(2) {
			return exitConfig
		}
		return c.do("GET", "/v1/tenants/"+pos[1]+"/modules", nil, "")
	case "pipeline deploy":
		if !need(4) {
			return exitConfig
		}
		f, ok := file(pos[3])
		if !ok {
			return exitConfig
		}
		defer f.Close()
		return c.do("PUT", "/v1/tenants/"+pos[1]+"/pipelines/"+pos[2], f, "application/yaml")
	case "pipeline list":
		if !need(2) {
			return exitConfig
		}
		return c.do("GET", "/v1/tenants/"+pos[1]+"/pipelines", nil, "")
	case "pipeline status":
		if !need(3) {
			return exitConfig
		}
		return c.do("GET", "/v1/tenants/"+pos[1]+"/pipelines/"+pos[2], nil, "")
	case "pipeline stop":
		if !need(3) {
			return exitConfig
		}
		return c.do("POST", "/v1/tenants/"+pos[1]+"/pipelines/"+pos[2]+"/stop", nil, "")
	case "pipeline delete":
		if !need(3) {
			return exitConfig
		}
		return c.do("DELETE", "/v1/tenants/"+pos[1]+"/pipelines/"+pos[2], nil, "")
	case "pipeline swap":
		if !need(5) {
			return exitConfig
		}
		b, _ := json.Marshal(map[string]any{"operator": pos[3], "module": pos[4], "canary": *canary})
		return c.do("POST", "/v1/tenants/"+pos[1]+"/pipelines/"+pos[2]+"/swap", bytes.NewReader(b), "application/json")
	}
	fs.Usage()
	return exitConfig
}
