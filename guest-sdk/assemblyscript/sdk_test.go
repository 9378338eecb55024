package assemblyscript_test

// The AssemblyScript SDK's compiled code in the host engine, against abi:
// its frame codec (identity and re-encoding operators over the conformance
// vectors and 20,000 mutations) and its state API (tests/state.ts) through
// the state imports. ./test runs the SDK's own tests in node; these check
// the module the host actually runs.

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/internal/guesttest"
)

var sdk = guesttest.SDK{Lang: abi.LanguageAssemblyScript, Build: guesttest.Script("tests", ".ts")}

func TestMutationsMatchABI(t *testing.T) { sdk.Mutations(t, "identity", "reencode") }

func FuzzIdentityMatchesABI(f *testing.F) { sdk.Fuzz(f, "identity") }

func TestState(t *testing.T) {
	sdk.State(t, guesttest.StateTests{
		// stateStatus() after a get that found nothing, and after a put.
		API: func(t *testing.T, g *guesttest.StateGuest) {
			g.Want("<nil>,-2,hello,0", "get y", "status", "put y hello", "get y", "status")
			// Float counters in the real host (guards issue #9: state held
			// only int64 counters and bytes).
			g.Want("1.5,1.75,2.5", "addf avg 1.5", "addf avg 0.25", "maddf fm x 2.5")
			g.WantError(`wasmstream: state value is not a counter: add "c"`, "addf c 1")
			g.WantError(`wasmstream: state value is not a counter: add "avg"`, "add avg 1")
			g.WantError(`wasmstream: state float counter would not be finite: add NaN to "avg"`, "addf avg NaN")
			g.Want("1.75", "addf avg 0")
		},
		// Counter names that are string literals are encoded once.
		Throughput: func(t *testing.T, g *guesttest.StateGuest) {
			const n = 200000
			start := time.Now()
			g.Want(strconv.Itoa(n), fmt.Sprintf("counts %d", n))
			d := time.Since(start)
			t.Logf("%d additions to a counter named by a string literal: %.2f M adds/s (%.0f ns each)", n, n/d.Seconds()/1e6, float64(d.Nanoseconds())/n)
		},
	})
}
