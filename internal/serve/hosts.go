package serve

import (
	"fmt"
	"net"
	"strings"
)

// HostAllowed reports whether endpoint (host:port, or a host) matches one
// of patterns, each of which is
//
//   - a host, which matches it on any port ("db.internal", "10.0.0.7");
//   - host:port, which matches only that port ("db.internal:5432");
//   - "*.domain", which matches every host under domain (not domain
//     itself), on any port, or "*.domain:port";
//   - "*", which matches everything.
//
// Hosts compare case-insensitively, as written: a pattern naming a host
// does not match its IP address or the reverse.
func HostAllowed(patterns []string, endpoint string) bool {
	host, port := splitHostPort(endpoint)
	for _, p := range patterns {
		if p == "*" {
			return true
		}
		ph, pp := splitHostPort(p)
		if pp != "" && pp != port {
			continue
		}
		if suffix, ok := strings.CutPrefix(ph, "*."); ok {
			if strings.HasSuffix(host, "."+suffix) {
				return true
			}
			continue
		}
		if ph == host {
			return true
		}
	}
	return false
}

func splitHostPort(s string) (host, port string) {
	if h, p, err := net.SplitHostPort(s); err == nil {
		return strings.ToLower(h), p
	}
	return strings.ToLower(strings.Trim(s, "[]")), ""
}

func checkHostPattern(p string) error {
	if p == "*" {
		return nil
	}
	h, _ := splitHostPort(p)
	h = strings.TrimPrefix(h, "*.")
	if h == "" || strings.ContainsAny(h, "*/ ") {
		return fmt.Errorf("host %q: want a host, host:port, *.domain or *", p)
	}
	return nil
}
