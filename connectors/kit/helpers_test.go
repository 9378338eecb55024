package kit

import (
	"errors"
	"reflect"
	"testing"

	"github.com/wasmstream/wasmstream/runtime"
)

// checkFields checks that err holds field errors for exactly fields.
func checkFields(t *testing.T, err error, fields []string) {
	t.Helper()
	var got []string
	var collect func(error)
	collect = func(e error) {
		if e == nil {
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				collect(x)
			}
			return
		}
		var fe *runtime.FieldError
		if !errors.As(e, &fe) {
			t.Errorf("error %q is not a field error", e)
			return
		}
		got = append(got, fe.Field)
	}
	collect(err)
	if len(got) == 0 && len(fields) == 0 {
		return
	}
	if !reflect.DeepEqual(got, fields) {
		t.Errorf("field errors on %q, want %q (%v)", got, fields, err)
	}
}
