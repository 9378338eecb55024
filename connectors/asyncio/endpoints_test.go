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

// TestFiles: the host files a DSN has the driver read, which serve mode
// refuses.
func TestFiles(t *testing.T) {
	for _, c := range []struct {
		cfg  *asyncio.SQLConfig
		want string
	}{
		{&asyncio.SQLConfig{Driver: "postgres", DSN: "postgres://u@db/x?sslmode=verify-full&sslrootcert=/etc/ca.pem"}, "[dsn sslrootcert=/etc/ca.pem]"},
		{&asyncio.SQLConfig{Driver: "postgres", DSN: "host=db passfile='/root/.pgpass' dbname=x"}, "[dsn passfile=/root/.pgpass]"},
		{&asyncio.SQLConfig{Driver: "postgres", DSN: "postgres://u:p@db/x?sslmode=disable"}, "[]"},
		{&asyncio.SQLConfig{Driver: "mysql", DSN: "root@tcp(db:3306)/x?allowAllFiles=true"}, "[dsn allowAllFiles=true (a query may load any host file)]"},
		{&asyncio.SQLConfig{Driver: "mysql", DSN: "root@tcp(db:3306)/x"}, "[]"},
	} {
		if got := fmt.Sprint(c.cfg.Files()); got != c.want {
			t.Errorf("%s: %s, want %s", c.cfg.DSN.Reveal(), got, c.want)
		}
	}
}
