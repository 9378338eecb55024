package zig_test

// The Zig SDK's compiled code in the host engine, against abi: its frame
// codec (identity and re-encoding operators over the conformance vectors
// and 20,000 mutations) and its state API (testdata/state.zig) through the
// state imports. The Zig unit tests (./test) run natively; these check the
// module the host actually runs.

import (
	"testing"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/internal/guesttest"
)

var sdk = guesttest.SDK{Lang: abi.LanguageZig, Build: guesttest.Script("testdata", ".zig")}

func TestMutationsMatchABI(t *testing.T) { sdk.Mutations(t, "identity", "reencode") }

func FuzzIdentityMatchesABI(f *testing.F) { sdk.Fuzz(f, "identity") }

func TestState(t *testing.T) {
	sdk.State(t, guesttest.StateTests{
		// Float counters in the real host (guards issue #9: state held
		// only int64 counters and bytes).
		API: func(t *testing.T, g *guesttest.StateGuest) {
			g.Want("1.5,1.75,2.5", "addf avg 1.5", "addf avg 0.25", "maddf fm x 2.5")
			g.WantError(`wasmstream: state value is not a counter: add "c"`, "addf c 1")
			g.WantError(`wasmstream: state value is not a counter: add "avg"`, "add avg 1")
			g.WantError(`wasmstream: state float counter would not be finite: add inf to "avg"`, "addf avg inf")
			g.Want("1.75", "addf avg 0")
		},
	})
}
