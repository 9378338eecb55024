package asyncio_test

import (
	"fmt"
	"testing"

	"github.com/wasmstream/wasmstream/connectors/asyncio"
)

// TestEndpoints: what serve mode's hosts capability checks for each kind.
func TestEndpoints(t *testing.T) {
	for _, c := range []struct {
		e    interface{ Endpoints() []string }
		want string
	}{
		{&asyncio.HTTPConfig{URL: "https://api.example.com/v1"}, "[api.example.com:443]"},
		{&asyncio.HTTPConfig{URL: "http://10.0.0.5:8080"}, "[10.0.0.5:8080]"},
		{&asyncio.RedisConfig{Addr: "cache:6379"}, "[cache:6379]"},
		{&asyncio.SQLConfig{Driver: "postgres", DSN: "postgres://u:p@db1:5433/x"}, "[db1:5433]"},
		{&asyncio.SQLConfig{Driver: "postgres", DSN: "host=db1,db2 port=5432,5434 dbname=x"}, "[db1:5432 db2:5434]"},
		{&asyncio.SQLConfig{Driver: "mysql", DSN: "root:pw@tcp(maria:3307)/test"}, "[maria:3307]"},
		{&asyncio.SQLConfig{Driver: "mysql", DSN: "::::"}, "[(an address that cannot be read)]"},
	} {
		if got := fmt.Sprint(c.e.Endpoints()); got != c.want {
			t.Errorf("%T: %s, want %s", c.e, got, c.want)
		}
	}
}
