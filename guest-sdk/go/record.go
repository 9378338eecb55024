package wasmstream

import "github.com/wasmstream/wasmstream/abi"

// Record is one stream element: key, value, event timestamp (milliseconds
// since the Unix epoch), ordered headers and the output it is routed to.
//
// In a handler, a Record's Key, Value and header values alias the input
// batch: they may be modified in place and are valid until the handler
// returns. Header names are strings the SDK owns. Use Clone for a copy that
// may be kept.
//
// Setting Output routes the record to that named output of the operator;
// "" is the default output.
type Record = abi.Record

// Header is one record header. Names may repeat; order is preserved.
type Header = abi.Header
