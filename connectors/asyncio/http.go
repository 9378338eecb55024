package asyncio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wasmstream/wasmstream/connectors/kit"
	"github.com/wasmstream/wasmstream/runtime"
)

// HTTPConfig declares an http target.
type HTTPConfig struct {
	URL             string                `yaml:"url" required:"true" doc:"Base URL, http or https, with a host: a request's path (with its query) is appended to it, so the target reaches this server only, under this URL's path. No query or fragment."`
	Methods         []string              `yaml:"methods" default:"[GET]" doc:"The methods requests may use (case does not matter); a request with another is refused."`
	Headers         map[string]kit.Secret `yaml:"headers" doc:"Headers sent with every request (an Authorization token: give it as ${ENV}). A request may not set a header named here."`
	TLS             kit.TLS               `yaml:"tls" doc:"TLS settings for an https URL (certificate authorities, client certificate); https uses the system's authorities without it."`
	MaxBody         runtime.ByteSize      `yaml:"max_body" default:"64MiB" doc:"Largest response body read; a longer one is an error result, not retried. The operator's async.max_result bounds what a result carries as well."`
	MaxIdleConns    int                   `yaml:"max_idle_conns" default:"64" doc:"Idle connections kept open to the server for later requests."`
	IdleConnTimeout time.Duration         `yaml:"idle_conn_timeout" default:"90s" doc:"How long an idle connection is kept."`
}

// Validate reports every problem of the config.
func (c *HTTPConfig) Validate() error {
	var errs []error
	if u, err := url.Parse(c.URL); err != nil {
		errs = append(errs, runtime.FieldErr("url", "%q is not a URL: %v", c.URL, unwrapURL(err)))
	} else {
		switch {
		case u.Scheme != "http" && u.Scheme != "https":
			errs = append(errs, runtime.FieldErr("url", "%q: want an http or https URL", c.URL))
		case u.Host == "":
			errs = append(errs, runtime.FieldErr("url", "%q has no host", c.URL))
		case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
			errs = append(errs, runtime.FieldErr("url", "%q has a query or fragment: requests give the query with their path", c.URL))
		}
	}
	if len(c.Methods) == 0 {
		errs = append(errs, runtime.FieldErr("methods", "must list at least one method"))
	}
	for _, m := range c.Methods {
		if !isToken(m) {
			errs = append(errs, runtime.FieldErr("methods", "%q is not a method", m))
		}
	}
	for k, v := range c.Headers {
		if !isToken(k) {
			errs = append(errs, runtime.FieldErr("headers", "%q is not a header name", k))
		} else if reservedHeader(k) {
			errs = append(errs, runtime.FieldErr("headers", "%s is set by the client, not by the configuration", textproto.CanonicalMIMEHeaderKey(k)))
		}
		if !validHeaderValue(v.Reveal()) {
			errs = append(errs, runtime.FieldErr("headers."+k, "the value holds a control character"))
		}
	}
	if c.MaxBody < 1 {
		errs = append(errs, runtime.FieldErr("max_body", "must be at least 1 byte"))
	}
	if c.MaxIdleConns < 0 {
		errs = append(errs, runtime.FieldErr("max_idle_conns", "must not be negative"))
	}
	if c.IdleConnTimeout < 0 {
		errs = append(errs, runtime.FieldErr("idle_conn_timeout", "must not be negative"))
	}
	if err := c.TLS.Validate(); err != nil {
		errs = append(errs, kit.Under("tls", err))
	}
	return errors.Join(errs...)
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// HTTP is an http async target.
type HTTP struct {
	cfg       HTTPConfig
	base      string // the URL without a trailing slash, for paths
	methods   map[string]bool
	headers   http.Header
	transport *http.Transport
	client    *http.Client
}

var _ runtime.AsyncStatusTarget = (*HTTP)(nil)

// NewHTTP returns an http target for cfg, validated. It does no I/O.
func NewHTTP(cfg *HTTPConfig) (*HTTP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &HTTP{cfg: *cfg, base: strings.TrimSuffix(cfg.URL, "/"), methods: map[string]bool{}, headers: http.Header{}}
	for _, m := range cfg.Methods {
		t.methods[strings.ToUpper(m)] = true
	}
	for k, v := range cfg.Headers {
		t.headers.Set(k, v.Reveal())
	}
	return t, nil
}

// CodesAreStatuses implements runtime.AsyncStatusTarget: the retry
// policy's status rules apply to the response status.
func (t *HTTP) CodesAreStatuses() {}

// Open implements runtime.AsyncTarget.
func (t *HTTP) Open(ctx context.Context, env runtime.Env) error {
	tlsConf, err := t.cfg.TLS.Config()
	if err != nil {
		return kit.Under("tls", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if tlsConf != nil {
		tr.TLSClientConfig = tlsConf
	}
	tr.MaxIdleConns = t.cfg.MaxIdleConns
	tr.MaxIdleConnsPerHost = t.cfg.MaxIdleConns
	tr.IdleConnTimeout = t.cfg.IdleConnTimeout
	t.transport = tr
	t.client = &http.Client{
		Transport: tr,
		// A redirect could lead off the declared URL: a 3xx is the
		// result, for the operator to read.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return nil
}

// Close implements runtime.AsyncTarget.
func (t *HTTP) Close(ctx context.Context) error {
	if t.transport != nil {
		t.transport.CloseIdleConnections()
	}
	return nil
}

// Check implements runtime.AsyncTarget: the request's method is allowed,
// its path stays under the URL, its headers are str or bin values the
// target does not set, its body is bin or str.
func (t *HTTP) Check(req *runtime.AsyncRequest) error {
	_, err := t.parse(req)
	return err
}

type httpCall struct {
	method, path string
	headers      map[string]string
	body         []byte
}

func (t *HTTP) parse(req *runtime.AsyncRequest) (httpCall, error) {
	var c httpCall
	if err := checkKeys(req.Fields, "method", "path", "headers", "body"); err != nil {
		return c, err
	}
	c.method = "GET"
	if v, ok := req.Fields["method"]; ok && v != nil {
		m, ok := text(v)
		if !ok {
			return c, fmt.Errorf("method must be a str, got %s", typeName(v))
		}
		c.method = strings.ToUpper(m)
	}
	if !t.methods[c.method] {
		return c, fmt.Errorf("method %s is not among the methods the target allows (%s)", c.method, strings.Join(t.cfg.Methods, ", "))
	}
	if v, ok := req.Fields["path"]; ok && v != nil {
		p, ok := text(v)
		if !ok {
			return c, fmt.Errorf("path must be a str, got %s", typeName(v))
		}
		if err := checkPath(p); err != nil {
			return c, err
		}
		c.path = p
	}
	if v, ok := req.Fields["headers"]; ok && v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return c, fmt.Errorf("headers must be a map of str, got %s", typeName(v))
		}
		c.headers = make(map[string]string, len(m))
		for k, hv := range m {
			s, ok := text(hv)
			switch {
			case !ok:
				return c, fmt.Errorf("header %q must be a str, got %s", k, typeName(hv))
			case !isToken(k):
				return c, fmt.Errorf("header %q: not a valid header name", k)
			case reservedHeader(k):
				return c, fmt.Errorf("header %s is set by the client, not by the request", textproto.CanonicalMIMEHeaderKey(k))
			case t.headers.Get(k) != "":
				return c, fmt.Errorf("header %s is set by the target", textproto.CanonicalMIMEHeaderKey(k))
			case !validHeaderValue(s):
				return c, fmt.Errorf("header %q: the value holds a control character", k)
			}
			c.headers[k] = s
		}
	}
	if v, ok := req.Fields["body"]; ok && v != nil {
		switch b := v.(type) {
		case []byte:
			c.body = b
		case string:
			c.body = []byte(b)
		default:
			return c, fmt.Errorf("body must be a bin, got %s", typeName(v))
		}
	}
	return c, nil
}

// checkPath accepts "" (the URL itself) or an absolute path with an
// optional query that stays under the URL: no "//" start (a host), no
// ".." segment, no fragment, no control characters.
func checkPath(p string) error {
	if p == "" {
		return nil
	}
	if p[0] != '/' && p[0] != '?' {
		return fmt.Errorf("path %q must start with / (it is appended to the target's URL)", p)
	}
	if strings.HasPrefix(p, "//") {
		return fmt.Errorf("path %q must not start with //", p)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x21 || c == 0x7f || c == '#' || c == '\\' {
			return fmt.Errorf("path %q holds %q, which a path may not (escape it)", p, c)
		}
	}
	pathPart, _, _ := strings.Cut(p, "?")
	dec, err := url.PathUnescape(pathPart)
	if err != nil {
		return fmt.Errorf("path %q: %v", p, err)
	}
	for _, seg := range strings.Split(dec, "/") {
		if seg == ".." || seg == "." {
			return fmt.Errorf("path %q has a %q segment: it must stay under the target's URL", p, seg)
		}
	}
	if strings.Contains(dec, "\\") {
		return fmt.Errorf("path %q holds an escaped backslash", p)
	}
	return nil
}

// reservedHeader reports headers the HTTP client sets itself.
func reservedHeader(k string) bool {
	switch textproto.CanonicalMIMEHeaderKey(k) {
	case "Host", "Content-Length", "Transfer-Encoding", "Connection", "Te", "Trailer", "Upgrade", "Keep-Alive", "Proxy-Connection":
		return true
	}
	return false
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// Do implements runtime.AsyncTarget: one request. Code is the response
// status (a 4xx or 5xx is a response, not an error), Body the response
// body; a 429 or 503 with Retry-After sets RetryAfter. A failure to reach
// the server is an error, retried; a body over max_body is an error that
// is not.
func (t *HTTP) Do(ctx context.Context, req *runtime.AsyncRequest) (runtime.AsyncResponse, error) {
	c, err := t.parse(req)
	if err != nil {
		return runtime.AsyncResponse{}, runtime.Rejected(err)
	}
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	u := t.cfg.URL + c.path
	if strings.HasPrefix(c.path, "/") {
		u = t.base + c.path
	}
	hr, err := http.NewRequestWithContext(ctx, c.method, u, body)
	if err != nil {
		return runtime.AsyncResponse{}, runtime.Rejected(err)
	}
	for k, vs := range t.headers {
		hr.Header[k] = vs
	}
	for k, v := range c.headers {
		hr.Header.Set(k, v)
	}
	resp, err := t.client.Do(hr)
	if err != nil {
		return runtime.AsyncResponse{}, err
	}
	defer resp.Body.Close()
	max := int64(t.cfg.MaxBody)
	if resp.ContentLength > max {
		return runtime.AsyncResponse{}, runtime.Rejected(fmt.Errorf("%s %s: status %d with a body of %d bytes, more than max_body (%s)", c.method, hr.URL.Redacted(), resp.StatusCode, resp.ContentLength, t.cfg.MaxBody))
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return runtime.AsyncResponse{}, fmt.Errorf("%s %s: reading the response body: %w", c.method, hr.URL.Redacted(), err)
	}
	if int64(len(b)) > max {
		return runtime.AsyncResponse{}, runtime.Rejected(fmt.Errorf("%s %s: status %d with a body of more than max_body (%s)", c.method, hr.URL.Redacted(), resp.StatusCode, t.cfg.MaxBody))
	}
	if len(b) == 0 {
		b = nil
	}
	out := runtime.AsyncResponse{Code: int64(resp.StatusCode), Body: b}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		out.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return out, nil
}

// retryAfter parses a Retry-After value, seconds or an HTTP date, as a
// wait from now; 0 when absent, invalid or past.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(24*time.Hour/time.Second) {
			n = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(n) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		if d := at.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
