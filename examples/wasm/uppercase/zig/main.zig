//! A wasmstream operator that upper-cases the ASCII letters of every
//! record's value, in place: it copies and allocates nothing per record, and
//! since the record comes back unchanged but for its bytes, the SDK copies
//! its encoding to the output whole. Key, headers and timestamp pass through.
//!
//! Build it with ./build OUT.wasm and run it with ../pipeline.yaml (pointing
//! its module at the output).

const std = @import("std");
const ws = @import("wasmstream");

pub const handlers = .{ .map = upper };

comptime {
    ws.register(handlers);
}

pub const panic = ws.panic;

fn upper(r: ws.Record) ws.Record {
    if (r.value) |v| upperASCII(v);
    return r;
}

/// Upper-cases the ASCII letters of v in place and leaves every other byte,
/// including those of multi-byte UTF-8 characters, as it is. 16 bytes at a
/// time (a Wasm SIMD register), then byte by byte.
fn upperASCII(v: []u8) void {
    const V = @Vector(16, u8);
    const a: V = @splat('a');
    const letters: V = @splat(26);
    const case: V = @splat('a' - 'A');
    var i: usize = 0;
    while (i + 16 <= v.len) : (i += 16) {
        const x: V = v[i..][0..16].*;
        // x - 'a' wraps around for bytes below 'a': only 'a'..'z' are < 26.
        v[i..][0..16].* = @select(u8, x -% a < letters, x -% case, x);
    }
    for (v[i..]) |*c| {
        if (c.* -% 'a' < 26) c.* -= 'a' - 'A';
    }
}

test "upperASCII" {
    var buf = "hello, wörld! abcdefghijklmnopqrstuvwxyz {`@[} ABC 123 ✓ xyz".*;
    upperASCII(&buf);
    try std.testing.expectEqualStrings("HELLO, WöRLD! ABCDEFGHIJKLMNOPQRSTUVWXYZ {`@[} ABC 123 ✓ XYZ", &buf);
    var all: [256]u8 = undefined;
    for (&all, 0..) |*c, i| c.* = @intCast(i);
    upperASCII(&all);
    for (all, 0..) |c, i| {
        const want: u8 = if (i >= 'a' and i <= 'z') @intCast(i - 32) else @intCast(i);
        try std.testing.expectEqual(want, c);
    }
}

test "map through the SDK" {
    const Op = ws.Operator(handlers);
    // [[ [nil, "hi", 1, nil] ]]
    var frame = [_]u8{ 0x91, 0xdd, 0, 0, 0, 1, 0x94, 0xc0, 0xc4, 2, 'h', 'i', 1, 0xc0 };
    const out = try Op.process(&frame);
    try std.testing.expectEqualSlices(u8, &[_]u8{ 0x91, 0xdd, 0, 0, 0, 1, 0x94, 0xc0, 0xc4, 2, 'H', 'I', 1, 0xc0 }, out);
}
