package asyncio

import (
	"net"
	"net/url"
	"slices"
	"strconv"

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
