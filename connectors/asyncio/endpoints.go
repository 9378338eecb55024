package asyncio

import (
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
)

// unknownEndpoint stands for a server a config names in a form that
// cannot be read: no host pattern but "*" allows it.
const unknownEndpoint = "(an address that cannot be read)"

// Endpoints implements runtime.Endpointer: the URL's host and port.
func (c *HTTPConfig) Endpoints() []string {
	u, err := url.Parse(c.URL)
	if err != nil || u.Host == "" {
		return []string{unknownEndpoint}
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return []string{net.JoinHostPort(u.Hostname(), port)}
}

// Endpoints implements runtime.Endpointer.
func (c *RedisConfig) Endpoints() []string { return []string{c.Addr} }

// Endpoints implements runtime.Endpointer: every host the DSN names (a
// PostgreSQL DSN may list fallbacks); a Unix socket is its path.
func (c *SQLConfig) Endpoints() []string {
	switch c.Driver {
	case "postgres":
		pc, err := pgx.ParseConfig(c.DSN.Reveal())
		if err != nil {
			return []string{unknownEndpoint}
		}
		eps := []string{net.JoinHostPort(pc.Host, strconv.Itoa(int(pc.Port)))}
		for _, f := range pc.Fallbacks { // one per host, and per TLS mode
			if ep := net.JoinHostPort(f.Host, strconv.Itoa(int(f.Port))); !slices.Contains(eps, ep) {
				eps = append(eps, ep)
			}
		}
		return eps
	case "mysql":
		mc, err := mysql.ParseDSN(c.DSN.Reveal())
		if err != nil {
			return []string{unknownEndpoint}
		}
		return []string{mc.Addr} // host:port, or a Unix socket's path
	}
	return []string{unknownEndpoint}
}

// pgFileParams are the DSN parameters with which libpq-style clients read
// host files.
var pgFileParams = []string{"sslcert", "sslkey", "sslrootcert", "sslcrl", "passfile", "servicefile"}

// Files implements runtime.FileNamer: the host files the DSN has the
// driver read (certificates, password and service files), and for mysql
// allowAllFiles, which lets a query load any host file.
func (c *SQLConfig) Files() []string {
	dsn := c.DSN.Reveal()
	var out []string
	switch c.Driver {
	case "postgres":
		params := map[string]string{}
		if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
			for k, v := range u.Query() {
				params[k] = v[0]
			}
		} else {
			for _, kv := range strings.Fields(dsn) {
				if k, v, ok := strings.Cut(kv, "="); ok {
					params[k] = strings.Trim(v, "'")
				}
			}
		}
		for _, k := range pgFileParams {
			if v, ok := params[k]; ok {
				out = append(out, "dsn "+k+"="+v)
			}
		}
	case "mysql":
		if mc, err := mysql.ParseDSN(dsn); err == nil && mc.AllowAllFiles {
			out = append(out, "dsn allowAllFiles=true (a query may load any host file)")
		}
	}
	return out
}
