package asyncio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/connectors/kit"
	"github.com/wasmstream/wasmstream/runtime"
)

// RedisConfig declares a redis target.
type RedisConfig struct {
	Addr           string        `yaml:"addr" required:"true" doc:"The server, as host:port."`
	Username       string        `yaml:"username" doc:"User to authenticate as (Redis 6 ACLs); without it, the password alone authenticates the default user."`
	Password       kit.Secret    `yaml:"password" doc:"Password (give it as ${ENV})."`
	DB             int           `yaml:"db" doc:"Database number."`
	TLS            kit.TLS       `yaml:"tls" doc:"TLS to the server."`
	Commands       []string      `yaml:"commands" default:"[GET, MGET, HGET, HMGET, HGETALL, EXISTS, SMEMBERS, LRANGE, ZSCORE, TTL]" doc:"The commands requests may send (case does not matter), matched against a request's first element. Read-only by default; list writes (SET, INCR) explicitly to allow them. Commands that change the connection's state (SELECT, SUBSCRIBE, MULTI, AUTH...) are not allowed."`
	PoolSize       int           `yaml:"pool_size" default:"10" doc:"Connections kept to the server: at most this many requests run at once."`
	ConnectTimeout time.Duration `yaml:"connect_timeout" default:"5s" doc:"How long starting the pipeline waits for the server to answer a PING before it fails, naming the server."`
}

// connCommands change a pooled connection's state or hold it: a request
// must not send them.
var connCommands = []string{"AUTH", "HELLO", "SELECT", "CLIENT", "QUIT", "RESET", "MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH",
	"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE", "MONITOR", "SYNC", "PSYNC", "READONLY", "READWRITE"}

// Validate reports every problem of the config.
func (c *RedisConfig) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, runtime.FieldErr("addr", "%q is not host:port", c.Addr))
	}
	if c.DB < 0 {
		errs = append(errs, runtime.FieldErr("db", "must not be negative"))
	}
	if len(c.Commands) == 0 {
		errs = append(errs, runtime.FieldErr("commands", "must list at least one command"))
	}
	for _, cmd := range c.Commands {
		switch u := strings.ToUpper(cmd); {
		case u == "" || strings.ContainsAny(u, " \t\r\n"):
			errs = append(errs, runtime.FieldErr("commands", "%q is not a command name", cmd))
		case contains(connCommands, u):
			errs = append(errs, runtime.FieldErr("commands", "%s changes the connection's state: requests may not send it", u))
		}
	}
	if c.PoolSize < 1 {
		errs = append(errs, runtime.FieldErr("pool_size", "must be at least 1"))
	}
	if c.ConnectTimeout <= 0 {
		errs = append(errs, runtime.FieldErr("connect_timeout", "must be positive"))
	}
	if err := c.TLS.Validate(); err != nil {
		errs = append(errs, kit.Under("tls", err))
	}
	return errors.Join(errs...)
}

// Redis is a redis async target.
type Redis struct {
	cfg      RedisConfig
	commands map[string]bool
	client   *redis.Client
}

// NewRedis returns a redis target for cfg, validated. It does no I/O.
func NewRedis(cfg *RedisConfig) (*Redis, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Redis{cfg: *cfg, commands: map[string]bool{}}
	for _, c := range cfg.Commands {
		t.commands[strings.ToUpper(c)] = true
	}
	return t, nil
}

// Open implements runtime.AsyncTarget: it connects and sends a PING.
func (t *Redis) Open(ctx context.Context, env runtime.Env) error {
	tlsConf, err := t.cfg.TLS.Config()
	if err != nil {
		return kit.Under("tls", err)
	}
	t.client = redis.NewClient(&redis.Options{
		Addr:      t.cfg.Addr,
		Username:  t.cfg.Username,
		Password:  t.cfg.Password.Reveal(),
		DB:        t.cfg.DB,
		TLSConfig: tlsConf,
		// RESP2: replies are strings, integers, nil and arrays, which
		// is what a result's body holds.
		Protocol:        2,
		PoolSize:        t.cfg.PoolSize,
		DialTimeout:     t.cfg.ConnectTimeout,
		MaxRetries:      -1, // the runtime retries
		DisableIdentity: true,
		// The attempt's deadline bounds each command.
		ContextTimeoutEnabled:    true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	pctx, cancel := context.WithTimeout(ctx, t.cfg.ConnectTimeout)
	defer cancel()
	if err := t.client.Ping(pctx).Err(); err != nil {
		t.client.Close()
		t.client = nil
		return fmt.Errorf("redis at %s: %w", t.cfg.Addr, err)
	}
	return nil
}

// Close implements runtime.AsyncTarget.
func (t *Redis) Close(ctx context.Context) error {
	if t.client == nil {
		return nil
	}
	return t.client.Close()
}

// Check implements runtime.AsyncTarget: command is a non-empty array of
// str or bin whose first element is a command the target allows.
func (t *Redis) Check(req *runtime.AsyncRequest) error {
	_, err := t.args(req)
	return err
}

func (t *Redis) args(req *runtime.AsyncRequest) ([]any, error) {
	if err := checkKeys(req.Fields, "command"); err != nil {
		return nil, err
	}
	v, ok := req.Fields["command"]
	if !ok {
		return nil, errors.New("no command (an array of str: the command and its arguments)")
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("command must be an array of str or bin, got %s", typeName(v))
	}
	if len(arr) == 0 {
		return nil, errors.New("command is empty: want the command and its arguments")
	}
	for i, a := range arr {
		switch a.(type) {
		case string, []byte:
		default:
			return nil, fmt.Errorf("command[%d] must be a str or bin, got %s", i, typeName(a))
		}
	}
	name, _ := text(arr[0])
	if !t.commands[strings.ToUpper(name)] {
		return nil, fmt.Errorf("command %s is not among the commands the target allows (%s)", strings.ToUpper(name), strings.Join(t.cfg.Commands, ", "))
	}
	return arr, nil
}

// Do implements runtime.AsyncTarget: one command. A string reply is the
// body, an integer its decimal text, a nil reply a nil body, an array a
// msgpack array of bin or nil (nested arrays as arrays) with the code its
// length. An error reply is an error that is not retried, except the
// transient ones (LOADING, BUSY, TRYAGAIN...).
func (t *Redis) Do(ctx context.Context, req *runtime.AsyncRequest) (runtime.AsyncResponse, error) {
	args, err := t.args(req)
	if err != nil {
		return runtime.AsyncResponse{}, runtime.Rejected(err)
	}
	v, err := t.client.Do(ctx, args...).Result()
	if errors.Is(err, redis.Nil) {
		return runtime.AsyncResponse{}, nil
	}
	if err != nil {
		var re redis.Error
		if errors.As(err, &re) && !transientRedis(err.Error()) {
			return runtime.AsyncResponse{}, runtime.Rejected(fmt.Errorf("redis: %w", err))
		}
		return runtime.AsyncResponse{}, fmt.Errorf("redis at %s: %w", t.cfg.Addr, err)
	}
	if arr, ok := v.([]any); ok {
		b, err := appendReply(nil, arr)
		if err != nil {
			return runtime.AsyncResponse{}, runtime.Rejected(err)
		}
		return runtime.AsyncResponse{Code: int64(len(arr)), Body: b}, nil
	}
	b, err := scalarReply(v)
	if err != nil {
		return runtime.AsyncResponse{}, runtime.Rejected(err)
	}
	return runtime.AsyncResponse{Body: b}, nil
}

// transientRedis reports error replies a later attempt may not get.
func transientRedis(msg string) bool {
	for _, p := range []string{"LOADING", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "READONLY", "MOVED", "ASK", "NOREPLICAS", "OOM", "ERR max number of clients"} {
		if msg == p || strings.HasPrefix(msg, p+" ") {
			return true
		}
	}
	return false
}

func scalarReply(v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []byte(x), nil
	case []byte:
		return x, nil
	case int64:
		return strconv.AppendInt(nil, x, 10), nil
	case bool:
		if x {
			return []byte("1"), nil
		}
		return []byte("0"), nil
	case float64:
		return strconv.AppendFloat(nil, x, 'g', -1, 64), nil
	}
	return nil, fmt.Errorf("redis: unexpected reply type %T", v)
}

// appendReply appends an array reply as a msgpack array of bin or nil.
func appendReply(b []byte, arr []any) ([]byte, error) {
	items := make([]any, len(arr))
	for i, e := range arr {
		if sub, ok := e.([]any); ok {
			enc, err := appendReply(nil, sub)
			if err != nil {
				return nil, err
			}
			items[i] = rawValue(enc)
			continue
		}
		s, err := scalarReply(e)
		if err != nil {
			return nil, err
		}
		if s == nil && e == nil {
			items[i] = nil
		} else if s == nil {
			items[i] = []byte{}
		} else {
			items[i] = s
		}
	}
	return appendArray(b, items)
}

// rawValue is an already encoded msgpack value.
type rawValue []byte

func appendArray(b []byte, items []any) ([]byte, error) {
	n := len(items)
	switch {
	case n < 16:
		b = append(b, 0x90|byte(n))
	case n <= 0xffff:
		b = append(b, 0xdc, byte(n>>8), byte(n))
	default:
		b = append(b, 0xdd, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	for _, it := range items {
		if r, ok := it.(rawValue); ok {
			b = append(b, r...)
			continue
		}
		var err error
		if b, err = abi.AppendValue(b, it); err != nil {
			return nil, err
		}
	}
	return b, nil
}
