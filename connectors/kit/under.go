package kit

import (
	"errors"

	"github.com/wasmstream/wasmstream/runtime"
)

// Under points the errors in err (a *runtime.FieldError, several joined
// with errors.Join, or any other error) at the sub-block prefix of a
// config: the field "initial" becomes "retry.initial", an error that names
// no field becomes one about "retry". It returns nil for a nil err.
//
//	errs = append(errs, kit.Under("retry", c.Retry.Validate()))
func Under(prefix string, err error) error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Under(prefix, e))
		}
		return errors.Join(out...)
	}
	var fe *runtime.FieldError
	if errors.As(err, &fe) {
		field := prefix
		switch {
		case fe.Field == "":
		case fe.Field[0] == '[':
			field += fe.Field
		default:
			field += "." + fe.Field
		}
		return &runtime.FieldError{Field: field, Msg: fe.Msg, Err: fe.Err}
	}
	return &runtime.FieldError{Field: prefix, Msg: err.Error(), Err: err}
}
