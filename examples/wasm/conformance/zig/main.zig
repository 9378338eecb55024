//! The Zig guest SDK's conformance operator: abi.ConformanceProcess's
//! reference semantics (abi/SPEC.md, section 7), so the host's conformance
//! test can replay the golden vectors in abi/testdata/conformance through a
//! real Zig Wasm module. By the prefix of each record's value:
//!
//!     "drop"         no output
//!     "dup"          the record, value upper-cased, emitted twice
//!     "route:NAME:"  the record unchanged, routed to output NAME
//!     "error:MSG"    the whole call fails with the message MSG
//!     "trap"         the module traps (executes unreachable)
//!     "state:..."    a state operation (abi/conformance_state.go): the
//!                    record with its result as the value
//!     "async:...", "async-sql:...", "async-redis:..."
//!                    an async request (abi/conformance_async.go), and for
//!                    each result delivered, a record describing it
//!     anything else  the record with its value's ASCII letters upper-cased
//!
//! Build it with ./build OUT.wasm; `zig test` runs the vectors, the state
//! vectors and the async vectors natively (guest-sdk/zig/test does).

const std = @import("std");
const ws = @import("wasmstream");

pub const handlers = .{ .flat_map = process, .on_result = result_ };

comptime {
    ws.register(handlers);
}

pub const panic = ws.panic;

fn process(r: ws.Record, out: *ws.Emitter) !void {
    const v: []u8 = r.value orelse &.{};
    if (std.mem.startsWith(u8, v, "drop")) {
        return;
    } else if (std.mem.startsWith(u8, v, "dup")) {
        upper(v);
        try out.emit(r);
        try out.emit(r);
    } else if (std.mem.startsWith(u8, v, "route:")) {
        const rest = v["route:".len..];
        const end = std.mem.indexOfScalar(u8, rest, ':') orelse 0;
        if (end == 0) return ws.fail("bad route record \"{}\"", .{std.zig.fmtEscapes(v)});
        try out.emitTo(rest[0..end], r);
    } else if (std.mem.startsWith(u8, v, "error:")) {
        return ws.fail("{s}", .{v["error:".len..]});
    } else if (std.mem.startsWith(u8, v, "trap")) {
        if (@import("builtin").target.isWasm()) @trap();
        return error.Trap; // natively: stands in for the trap
    } else if (std.mem.startsWith(u8, v, "async") and try submit(v)) {
        return;
    } else if (std.mem.startsWith(u8, v, "state:")) {
        try stateOp(r, v["state:".len..]);
        var o = r;
        o.value = result.items;
        try out.emit(o);
    } else {
        upper(v);
        try out.emit(r);
    }
}

/// Submits the request an async record asks for (abi/conformance_async.go)
/// and reports whether v was one.
fn submit(v: []const u8) !bool {
    var req: ws.Request = undefined;
    if (std.mem.startsWith(u8, v, "async:")) {
        const rest = v["async:".len..];
        const c = std.mem.indexOfScalar(u8, rest, ':') orelse return false;
        req = ws.http(rest[0..c], "GET", rest[c + 1 ..], v);
    } else if (std.mem.startsWith(u8, v, "async-sql:")) {
        const rest = v["async-sql:".len..];
        const c1 = std.mem.indexOfScalar(u8, rest, ':') orelse return false;
        const c2 = c1 + 1 + (std.mem.indexOfScalar(u8, rest[c1 + 1 ..], ':') orelse return false);
        req = ws.sql(rest[0..c1], rest[c1 + 1 .. c2], v, &.{ .{ .str = rest[c2 + 1 ..] }, .{ .int = 7 } });
    } else if (std.mem.startsWith(u8, v, "async-redis:")) {
        const rest = v["async-redis:".len..];
        const c = std.mem.indexOfScalar(u8, rest, ':') orelse return false;
        req = ws.redis(rest[0..c], v, &.{ "GET", rest[c + 1 ..] });
    } else {
        return false;
    }
    // The conformance vectors submit nothing a host refuses.
    _ = try ws.submit(req);
    return true;
}

/// Emits the record describing an async result:
/// "result:" ticket ":" status ":" code ":" body ":" error ":" context.
fn result_(res: ws.Result, out: *ws.Emitter) !void {
    result.clearRetainingCapacity();
    const w = result.writer(ws.allocator);
    try w.print("result:{d}:{d}:{d}:", .{ res.ticket, res.status, res.code });
    try w.writeAll(res.body orelse "nil");
    try w.writeByte(':');
    const e = res.err orelse "";
    try w.writeAll(if (e.len == 0) "nil" else e);
    try w.writeByte(':');
    try w.writeAll(res.context orelse "nil");
    try out.emit(.{ .value = result.items });
}

/// The output value of a state operation, in a buffer reused by every
/// record.
var result: std.ArrayListUnmanaged(u8) = .{};

/// Sets result to the value of v, or "none" when there is none.
fn getV(st: ws.State) !void {
    result.clearRetainingCapacity();
    try result.appendSlice(ws.allocator, (try st.get("v")) orelse "none");
}

/// Runs one of the conformance operator's state operations (abi/SPEC.md,
/// section 7) on the record's key's state ("op": the operator's) and sets
/// result to its output value.
fn stateOp(r: ws.Record, op: []const u8) !void {
    const st = ws.stateOf(r);
    result.clearRetainingCapacity();
    if (std.mem.eql(u8, op, "add") or std.mem.eql(u8, op, "op")) {
        const s = if (op[0] == 'o') ws.operatorState() else st;
        try result.writer(ws.allocator).print("{d}", .{try s.add("n", 1)});
    } else if (std.mem.startsWith(u8, op, "put:")) {
        try st.put("v", op["put:".len..]);
        try getV(st);
    } else if (std.mem.eql(u8, op, "get")) {
        try getV(st);
    } else if (std.mem.eql(u8, op, "del")) {
        try st.delete("v");
        try getV(st);
    } else if (std.mem.startsWith(u8, op, "append:")) {
        try st.append("l", op["append:".len..]);
        var it = try st.list("l");
        var first = true;
        while (try it.next()) |e| : (first = false) {
            if (!first) try result.append(ws.allocator, ',');
            try result.appendSlice(ws.allocator, e);
        }
    } else if (std.mem.eql(u8, op, "addf")) {
        var le: [8]u8 = undefined;
        std.mem.writeIntLittle(u64, &le, @as(u64, @bitCast(try st.addF64("f", 0.1))));
        try result.appendSlice(ws.allocator, &le);
    } else if (std.mem.eql(u8, op, "big")) {
        // One byte over the state.max_value the vectors run with (1 MiB).
        const big = try ws.allocator.alloc(u8, (1 << 20) + 1);
        defer ws.allocator.free(big);
        @memset(big, 'x');
        const stored = if (st.put("b", big)) |_| true else |err| switch (err) {
            error.StateTooLarge => false,
            else => return err,
        };
        try result.appendSlice(ws.allocator, if (stored) "stored" else "too large");
    } else {
        return ws.fail("unknown state operation \"{}\"", .{std.zig.fmtEscapes(op)});
    }
}

/// Upper-cases v's ASCII letters in place.
fn upper(v: []u8) void {
    for (v) |*c| {
        if (c.* >= 'a' and c.* <= 'z') c.* -= 'a' - 'A';
    }
}

test "conformance vectors" {
    const Op = ws.Operator(handlers);
    const gpa = std.testing.allocator;
    var dir = try std.fs.cwd().openIterableDir("../../../../abi/testdata/conformance", .{});
    defer dir.close();
    var it = dir.iterate();
    var n: usize = 0;
    while (try it.next()) |entry| {
        if (!std.mem.endsWith(u8, entry.name, ".in.msgpack")) continue;
        const base = entry.name[0 .. entry.name.len - ".in.msgpack".len];
        const frame = try dir.dir.readFileAlloc(gpa, entry.name, 64 << 20);
        defer gpa.free(frame);
        var name_buf: [256]u8 = undefined;
        const got = Op.process(frame);
        if (dir.dir.readFileAlloc(gpa, try std.fmt.bufPrint(&name_buf, "{s}.err", .{base}), 1 << 20)) |want_err| {
            defer gpa.free(want_err);
            const msg = std.mem.trim(u8, want_err, " \n");
            if (got) |_| {
                std.debug.print("{s}: got output, want error {s}\n", .{ base, msg });
                return error.TestUnexpectedResult;
            } else |err| {
                if (std.mem.eql(u8, msg, "trap")) {
                    try std.testing.expectEqual(@as(anyerror, error.Trap), err);
                } else {
                    try std.testing.expectEqualStrings(msg, ws.errorMessage(err));
                }
            }
        } else |_| {
            const want = try dir.dir.readFileAlloc(gpa, try std.fmt.bufPrint(&name_buf, "{s}.out.msgpack", .{base}), 64 << 20);
            defer gpa.free(want);
            const out = got catch |err| {
                std.debug.print("{s}: {s}\n", .{ base, ws.errorMessage(err) });
                return err;
            };
            if (!std.mem.eql(u8, want, out)) {
                std.debug.print("{s}: output differs ({d} bytes, want {d})\n", .{ base, out.len, want.len });
                return error.TestUnexpectedResult;
            }
        }
        n += 1;
    }
    try std.testing.expect(n >= 10);
}

test "state vectors" {
    const Op = ws.Operator(handlers);
    const gpa = std.testing.allocator;
    var dir = try std.fs.cwd().openIterableDir("../../../../abi/testdata/conformance-state", .{});
    defer dir.close();
    var it = dir.iterate();
    var n: usize = 0;
    while (try it.next()) |entry| {
        if (!std.mem.endsWith(u8, entry.name, ".in.msgpack")) continue;
        const base = entry.name[0 .. entry.name.len - ".in.msgpack".len];
        // A fresh state for each vector, with the host's default
        // state.max_value of 1 MiB, as the host's test runs them.
        ws.testing.resetState();
        defer ws.testing.resetState();
        const frame = try dir.dir.readFileAlloc(gpa, entry.name, 64 << 20);
        defer gpa.free(frame);
        var name_buf: [256]u8 = undefined;
        const want = try dir.dir.readFileAlloc(gpa, try std.fmt.bufPrint(&name_buf, "{s}.out.msgpack", .{base}), 64 << 20);
        defer gpa.free(want);
        const out = Op.process(frame) catch |err| {
            std.debug.print("{s}: {s}\n", .{ base, ws.errorMessage(err) });
            return err;
        };
        if (!std.mem.eql(u8, want, out)) {
            std.debug.print("{s}: output differs ({d} bytes, want {d})\n", .{ base, out.len, want.len });
            return error.TestUnexpectedResult;
        }
        n += 1;
    }
    try std.testing.expect(n >= 1);
}

test "async vectors" {
    const Op = ws.Operator(handlers);
    const gpa = std.testing.allocator;
    var dir = try std.fs.cwd().openIterableDir("../../../../abi/testdata/conformance-async", .{});
    defer dir.close();
    var it = dir.iterate();
    var n: usize = 0;
    while (try it.next()) |entry| {
        if (!std.mem.endsWith(u8, entry.name, ".in.msgpack")) continue;
        const base = entry.name[0 .. entry.name.len - ".in.msgpack".len];
        ws.testing.resetAsync();
        defer ws.testing.resetAsync();
        const frame = try dir.dir.readFileAlloc(gpa, entry.name, 64 << 20);
        defer gpa.free(frame);
        var name_buf: [256]u8 = undefined;
        const want = try dir.dir.readFileAlloc(gpa, try std.fmt.bufPrint(&name_buf, "{s}.out.msgpack", .{base}), 64 << 20);
        defer gpa.free(want);
        const want_submits = try dir.dir.readFileAlloc(gpa, try std.fmt.bufPrint(&name_buf, "{s}.submits.msgpack", .{base}), 64 << 20);
        defer gpa.free(want_submits);
        const out = Op.process(frame) catch |err| {
            std.debug.print("{s}: {s}\n", .{ base, ws.errorMessage(err) });
            return err;
        };
        if (!std.mem.eql(u8, want, out)) {
            std.debug.print("{s}: output differs ({d} bytes, want {d})\n", .{ base, out.len, want.len });
            return error.TestUnexpectedResult;
        }
        // The requests, as one array: the SDK writes them as the vectors
        // do (keys sorted, smallest encodings), so byte for byte.
        var got: std.ArrayListUnmanaged(u8) = .{};
        defer got.deinit(gpa);
        const subs = ws.testing.submitted();
        if (subs.len <= 15) {
            try got.append(gpa, 0x90 | @as(u8, @intCast(subs.len)));
        } else {
            try got.appendSlice(gpa, &[_]u8{ 0xdc, @intCast(subs.len >> 8), @truncate(subs.len) });
        }
        for (subs) |s| try got.appendSlice(gpa, s);
        if (!std.mem.eql(u8, want_submits, got.items)) {
            std.debug.print("{s}: submitted requests differ ({d} bytes, want {d})\n", .{ base, got.items.len, want_submits.len });
            return error.TestUnexpectedResult;
        }
        n += 1;
    }
    try std.testing.expect(n >= 4);
}
