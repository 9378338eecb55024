//! Test operator: the identity map, which copies every canonical record
//! whole (sdk_test.go).
const ws = @import("wasmstream");

comptime {
    ws.register(.{ .map = identity });
}

fn identity(r: ws.Record) ws.Record {
    return r;
}
