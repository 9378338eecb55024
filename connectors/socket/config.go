package socket

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/wasmstream/wasmstream/connectors/internal/lines"
	"github.com/wasmstream/wasmstream/runtime"
)

// SourceConfig configures the socket source.
type SourceConfig struct {
	Address             string           `yaml:"address" required:"true" doc:"host:port of the TCP server to read from."`
	Delimiter           string           `yaml:"delimiter" default:"\\n" doc:"What separates records in the stream; the escapes \\n, \\r, \\t and \\\\ are understood. With a newline delimiter, a carriage return before it is removed too."`
	MaxLine             runtime.ByteSize `yaml:"max_line" default:"1MiB" doc:"Longest record accepted, at most 64MiB; a longer one is skipped with a warning."`
	ConnectTimeout      time.Duration    `yaml:"connect_timeout" default:"5s" doc:"How long one connection attempt may take."`
	ReconnectBackoff    time.Duration    `yaml:"reconnect_backoff" default:"100ms" doc:"Wait before reconnecting after a failed attempt or a connection that delivered nothing; it doubles each time up to reconnect_max_backoff."`
	ReconnectMaxBackoff time.Duration    `yaml:"reconnect_max_backoff" default:"5s" doc:"Longest wait between connection attempts."`
	MaxRetries          int              `yaml:"max_retries" default:"0" doc:"Consecutive failed connection attempts after which the source fails; 0 retries forever."`
}

// Validate reports every problem of the config.
func (c *SourceConfig) Validate() error {
	var errs []error
	if err := checkAddress(c.Address); err != nil {
		errs = append(errs, err)
	}
	if d, err := unescape(c.Delimiter); err != nil {
		errs = append(errs, runtime.FieldErr("delimiter", "%v", err))
	} else if d == "" {
		errs = append(errs, runtime.FieldErr("delimiter", "must not be empty"))
	}
	if c.MaxLine < 1 {
		errs = append(errs, runtime.FieldErr("max_line", "must be at least 1 byte"))
	} else if c.MaxLine > lines.MaxLineLimit {
		errs = append(errs, runtime.FieldErr("max_line", "%s is more than the limit of %s (a record is held in memory whole)", c.MaxLine, runtime.ByteSize(lines.MaxLineLimit)))
	}
	if c.ConnectTimeout <= 0 {
		errs = append(errs, runtime.FieldErr("connect_timeout", "must be positive"))
	}
	if c.ReconnectBackoff <= 0 {
		errs = append(errs, runtime.FieldErr("reconnect_backoff", "must be positive"))
	}
	if c.ReconnectMaxBackoff < c.ReconnectBackoff {
		errs = append(errs, runtime.FieldErr("reconnect_max_backoff", "must be at least reconnect_backoff (%v)", c.ReconnectBackoff))
	}
	if c.MaxRetries < 0 {
		errs = append(errs, runtime.FieldErr("max_retries", "must not be negative (0 retries forever)"))
	}
	return errors.Join(errs...)
}

// SinkConfig configures the socket sink.
type SinkConfig struct {
	Address        string        `yaml:"address" required:"true" doc:"host:port of the TCP server to write to."`
	Format         string        `yaml:"format" default:"text" oneof:"text|json" doc:"Line format: text writes each value followed by a newline; json writes one JSON object per record with key, value, timestamp, headers and output (key and value as key_base64/value_base64 when not UTF-8)."`
	Ack            string        `yaml:"ack" default:"tcp" oneof:"tcp|lines" doc:"When a batch counts as written. tcp: once the peer's TCP stack acknowledged every byte of it (Linux; bytes the peer's kernel took but its application never read are lost if it dies). lines: once the peer wrote back one newline per line it took, end to end; the peer must answer so."`
	ConnectTimeout time.Duration `yaml:"connect_timeout" default:"5s" doc:"How long one connection attempt may take. A Write that cannot connect fails, and the runtime retries it with backoff."`
	WriteTimeout   time.Duration `yaml:"write_timeout" default:"30s" doc:"How long one Write may wait for the peer to take and acknowledge the bytes before it fails, the connection is dropped and the batch is sent again."`
}

// Validate reports every problem of the config.
func (c *SinkConfig) Validate() error {
	var errs []error
	if err := checkAddress(c.Address); err != nil {
		errs = append(errs, err)
	}
	if _, err := lines.ParseFormat(c.Format); err != nil {
		errs = append(errs, runtime.FieldErr("format", "%v", err))
	}
	if c.ConnectTimeout <= 0 {
		errs = append(errs, runtime.FieldErr("connect_timeout", "must be positive"))
	}
	if c.WriteTimeout <= 0 {
		errs = append(errs, runtime.FieldErr("write_timeout", "must be positive"))
	}
	return errors.Join(errs...)
}

// checkAddress reports what is wrong with a host:port address, as a field
// error of "address", or nil.
func checkAddress(addr string) error {
	if addr == "" {
		return runtime.FieldErr("address", "required: host:port")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			err = errors.New(ae.Err)
		}
		return runtime.FieldErr("address", "%q is not host:port: %v", addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return runtime.FieldErr("address", "%q: the port must be a number from 1 to 65535", addr)
	}
	return nil
}

// isRetryable reports whether a failed connection attempt may succeed
// later: a server that is down, refusing or unreachable, or a name that does
// not resolve yet may come up; an address that cannot be dialled at all
// (malformed, no port, unknown network) never will.
func isRetryable(err error) bool {
	var ae *net.AddrError
	var pe *net.ParseError
	var ue net.UnknownNetworkError
	return !errors.As(err, &ae) && !errors.As(err, &pe) && !errors.As(err, &ue)
}

// unescape interprets the escapes \n, \r, \t and \\ in a delimiter.
func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i++; i == len(s) {
			return "", fmt.Errorf("%q ends with a lone backslash (write \\\\ for a backslash)", s)
		}
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case '\\':
			b.WriteByte('\\')
		default:
			return "", fmt.Errorf("%q has an unknown escape \\%c (known: \\n, \\r, \\t, \\\\)", s, s[i])
		}
	}
	return b.String(), nil
}

// Endpoints implements runtime.Endpointer.
func (c *SourceConfig) Endpoints() []string { return []string{c.Address} }

// Endpoints implements runtime.Endpointer.
func (c *SinkConfig) Endpoints() []string { return []string{c.Address} }
