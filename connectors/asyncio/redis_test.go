package asyncio_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/connectors/asyncio"
	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/runtime"
)

const redisAddr = "127.0.0.1:6379"

// redisFixture returns a client of the test server and a key prefix of
// this test's own, whose keys are deleted at the end.
func redisFixture(t *testing.T) (*redis.Client, string) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: redisAddr, Protocol: 2, DisableIdentity: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("the test Redis at %s: %v", redisAddr, err)
	}
	prefix := fmt.Sprintf("asyncio_test:%s:%x:", t.Name(), rand.Uint64())
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := c.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
		c.Close()
	})
	return c, prefix
}

func newRedis(t *testing.T, settings string) *asyncio.Redis {
	t.Helper()
	target, err := asyncio.NewRedis(decode[asyncio.RedisConfig](t, settings))
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	open(t, target)
	return target
}

func cmd(args ...any) map[string]any { return map[string]any{"command": args} }

func TestRedisConfig(t *testing.T) {
	if err := parseTargets(t, "{cache: {redis: {addr: '"+redisAddr+"', password: pw, commands: [get, set]}}}"); err != nil {
		t.Fatalf("a valid redis target: %v", err)
	}
	err := parseTargets(t, "{a: {redis: {db: -1}}, b: {redis: {addr: nohost, commands: [GET, subscribe], pool_size: 0}}}")
	connectortest.CheckProblems(t, err,
		"operators[0].probe.async.targets.a.redis.addr: ",
		"operators[0].probe.async.targets.a.redis.db: must not be negative",
		"operators[0].probe.async.targets.b.redis.addr: \"nohost\" is not host:port",
		"operators[0].probe.async.targets.b.redis.commands: SUBSCRIBE changes the connection's state",
		"operators[0].probe.async.targets.b.redis.pool_size: must be at least 1",
	)
	cfg := decode[asyncio.RedisConfig](t, "{addr: 'h:1'}")
	want := []string{"GET", "MGET", "HGET", "HMGET", "HGETALL", "EXISTS", "SMEMBERS", "LRANGE", "ZSCORE", "TTL"}
	if !reflect.DeepEqual(cfg.Commands, want) || cfg.PoolSize != 10 {
		t.Errorf("defaults: commands %v, pool_size %d", cfg.Commands, cfg.PoolSize)
	}
}

func TestRedisCheck(t *testing.T) {
	target, err := asyncio.NewRedis(decode[asyncio.RedisConfig](t, "{addr: '"+redisAddr+"', commands: [GET, hget, Set]}"))
	if err != nil {
		t.Fatal(err)
	}
	runChecks(t, target, []checkCase{
		{"get", cmd("GET", "k"), ""},
		{"lower case, bin", cmd([]byte("hget"), []byte("h"), "f"), ""},
		{"allowed write", cmd("set", "k", []byte{0, 1}), ""},
		{"not allowed", cmd("DEL", "k"), "command DEL is not among the commands the target allows (GET, hget, Set)"},
		{"no command", map[string]any{}, "no command"},
		{"empty", cmd(), "command is empty"},
		{"not an array", map[string]any{"command": "GET k"}, "command must be an array of str or bin, got str"},
		{"int argument", cmd("GET", int64(1)), "command[1] must be a str or bin, got int"},
		{"nil name", cmd(nil), "command[0] must be a str or bin, got nil"},
		{"unknown key", map[string]any{"command": []any{"GET", "k"}, "db": int64(2)}, `unknown key "db" (this target takes command)`},
	})
}

func TestRedisDo(t *testing.T) {
	c, p := redisFixture(t)
	ctx := context.Background()
	if err := c.Set(ctx, p+"name", "Ada", 0).Err(); err != nil {
		t.Fatal(err)
	}
	c.Set(ctx, p+"bin", []byte{0, 0xff, 'x'}, 0)
	c.HSet(ctx, p+"user", "name", "Grace", "lang", "COBOL")
	c.RPush(ctx, p+"list", "a", "b", "c")
	c.ZAdd(ctx, p+"z", redis.Z{Score: 2.5, Member: "m"})
	c.Set(ctx, p+"ttl", "v", time.Hour)

	target := newRedis(t, "{addr: '"+redisAddr+"', commands: [GET, MGET, HGET, HMGET, HGETALL, EXISTS, LRANGE, ZSCORE, TTL, INCR, SET, PING]}")
	arr := func(items ...any) []byte {
		b, err := abi.AppendValue(nil, items)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []struct {
		name string
		req  map[string]any
		code int64
		body []byte
	}{
		{"get", cmd("GET", p+"name"), 0, []byte("Ada")},
		{"get bin", cmd("get", []byte(p+"bin")), 0, []byte{0, 0xff, 'x'}},
		{"get missing", cmd("GET", p+"missing"), 0, nil},
		{"hget", cmd("HGET", p+"user", "name"), 0, []byte("Grace")},
		{"hget missing field", cmd("HGET", p+"user", "age"), 0, nil},
		{"mget", cmd("MGET", p+"name", p+"missing", p+"bin"), 3, arr([]byte("Ada"), nil, []byte{0, 0xff, 'x'})},
		{"hmget", cmd("HMGET", p+"user", "lang", "name"), 2, arr([]byte("COBOL"), []byte("Grace"))},
		{"lrange", cmd("LRANGE", p+"list", "0", "-1"), 3, arr([]byte("a"), []byte("b"), []byte("c"))},
		{"empty array", cmd("LRANGE", p+"missing", "0", "-1"), 0, arr()},
		{"exists", cmd("EXISTS", p+"name", p+"user", p+"missing"), 0, []byte("2")},
		{"zscore", cmd("ZSCORE", p+"z", "m"), 0, []byte("2.5")},
		{"ttl of a key without one", cmd("TTL", p+"name"), 0, []byte("-1")},
		{"incr", cmd("INCR", p+"counter"), 0, []byte("1")},
		{"set", cmd("SET", p+"new", "v"), 0, []byte("OK")},
		{"ping", cmd("PING"), 0, []byte("PONG")},
	} {
		resp := mustDo(t, target, c.req)
		if resp.Code != c.code || !reflect.DeepEqual(resp.Body, c.body) {
			t.Errorf("%s: code %d body %q; want %d %q", c.name, resp.Code, resp.Body, c.code, c.body)
		}
	}
	resp := mustDo(t, target, cmd("HGETALL", p+"user"))
	v, err := abi.DecodeValue(resp.Body)
	if err != nil {
		t.Fatalf("HGETALL body %x: %v", resp.Body, err)
	}
	got := map[string]string{}
	items := v.([]any)
	for i := 0; i+1 < len(items); i += 2 {
		got[string(items[i].([]byte))] = string(items[i+1].([]byte))
	}
	if resp.Code != 4 || !reflect.DeepEqual(got, map[string]string{"name": "Grace", "lang": "COBOL"}) {
		t.Errorf("HGETALL: code %d, %v", resp.Code, got)
	}
	if v, _ := c.Get(ctx, p+"new").Result(); v != "v" {
		t.Errorf("SET through the target: the key holds %q", v)
	}

	// Error replies are rejected: another attempt gets the same.
	for _, req := range []map[string]any{cmd("HGET", p+"name", "f"), cmd("GET", p+"a", p+"b")} {
		_, err := do(t, target, req)
		if !errors.Is(err, runtime.ErrRejected) {
			t.Errorf("%v: %v, want a rejection", req["command"], err)
		}
		if req["command"].([]any)[0] == "HGET" && (err == nil || !strings.Contains(err.Error(), "WRONGTYPE")) {
			t.Errorf("HGET of a string: %v, want WRONGTYPE", err)
		}
	}
	checkExpired(t, target, cmd("GET", p+"name"))
}

func TestRedisUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	target, err := asyncio.NewRedis(decode[asyncio.RedisConfig](t, "{addr: '"+addr+"', connect_timeout: 2s}"))
	if err != nil {
		t.Fatal(err)
	}
	err = target.Open(context.Background(), connectortest.Env(t, 16))
	if err == nil || !strings.Contains(err.Error(), "redis at "+addr) {
		t.Fatalf("Open of a closed port: %v; want an error naming the address", err)
	}
	// A server that drops the connection after Open's PING: the
	// error is plain, for the runtime to retry.
	l, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				buf := make([]byte, 1024)
				for {
					n, err := conn.Read(buf)
					if err != nil {
						return
					}
					switch s := strings.ToUpper(string(buf[:n])); {
					case strings.Contains(s, "HELLO"):
						conn.Write([]byte("-ERR unknown command 'HELLO'\r\n"))
					case strings.Contains(s, "PING"):
						conn.Write([]byte("+PONG\r\n"))
					default:
						return
					}
				}
			}()
		}
	}()
	target = newRedis(t, "{addr: '"+l.Addr().String()+"'}")
	_, err = do(t, target, cmd("GET", "k"))
	if err == nil || errors.Is(err, runtime.ErrRejected) || !strings.Contains(err.Error(), "redis at "+l.Addr().String()) {
		t.Errorf("a dropped connection: %v; want a plain error naming the server", err)
	}
}
