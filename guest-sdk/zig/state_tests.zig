//! Native tests of the state API over the SDK's stand-in for the host's
//! state imports (guest-sdk/zig/test). sdk_test.go runs testdata/state.zig
//! through the real host.

const std = @import("std");
const ws = @import("wasmstream.zig");
const testing = std.testing;

fn le(n: i64) [8]u8 {
    var b: [8]u8 = undefined;
    std.mem.writeIntLittle(i64, &b, n);
    return b;
}

/// Runs f as a successful call: its writes are applied.
fn commit() void {
    @import("host.zig").endState(true);
}

fn rollback() void {
    @import("host.zig").endState(false);
}

test "counters add, are per key and per operator" {
    ws.testing.resetState();
    defer ws.testing.resetState();
    const k = ws.keyState("k");
    try testing.expectEqual(@as(i64, 5), try k.add("c", 5));
    try testing.expectEqual(@as(i64, 3), try k.add("c", -2));
    try testing.expectEqual(@as(i64, 10), try ws.keyState("other").add("c", 10));
    try testing.expectEqual(@as(i64, 7), try ws.operatorState().add("c", 7));
    try testing.expectEqual(@as(i64, 3), try k.counter("c"));
    try testing.expectEqual(@as(?[]const u8, null), ws.testing.stateValue(0, "k", "c")); // not committed yet
    commit();
    try testing.expectEqualSlices(u8, &le(3), ws.testing.stateValue(0, "k", "c").?);
    try testing.expectEqualSlices(u8, &le(7), ws.testing.stateValue(1, "", "c").?);
    try testing.expectEqual(@as(i64, std.math.minInt(i64)), try k.add("w", std.math.minInt(i64)));
    try testing.expectEqual(@as(i64, std.math.maxInt(i64)), try k.add("w", -1));
}

// Guards issue #9 (state held only int64 counters and bytes).
test "float counters add exactly, stay apart from int counters and refuse NaN and infinities" {
    ws.testing.resetState();
    defer ws.testing.resetState();
    const k = ws.keyState("k");
    var sum: f64 = 0;
    for ([_]f64{ 0.1, 0.2, 12.5 }) |d| {
        sum += d;
        try testing.expectEqual(sum, try k.addF64("money", d));
    }
    try testing.expectEqual(sum, try k.counterF64("money"));
    _ = try k.add("n", 1);
    try testing.expectError(error.NotCounter, k.add("money", 1));
    try testing.expectError(error.NotCounter, k.addF64("n", 1));
    try testing.expectError(error.StateFailed, k.addF64("money", std.math.nan(f64)));
    try testing.expectEqualStrings("wasmstream: state float counter would not be finite: add nan to \"money\"", ws.errorMessage(error.StateFailed));
    try testing.expectError(error.StateFailed, k.addF64("money", -std.math.inf(f64)));
    _ = try k.addF64("big", std.math.floatMax(f64));
    try testing.expectError(error.StateFailed, k.addF64("big", std.math.floatMax(f64)));
    try testing.expectEqual(std.math.floatMax(f64), try k.counterF64("big"));
    try testing.expectEqual(sum, try k.counterF64("money"));
    try testing.expectEqual(@as(f64, 2.5), try ws.operatorState().map("avg").addF64("x", 2.5));
    try k.put("money", "text");
    try testing.expectError(error.NotCounter, k.addF64("money", 1));
    commit();
}

test "get, put, delete, and get's buffer grows" {
    ws.testing.resetState();
    defer ws.testing.resetState();
    const s = ws.keyState("k");
    try testing.expectEqual(@as(?[]const u8, null), try s.get("x"));
    try s.put("x", "hello");
    try testing.expectEqualStrings("hello", (try s.get("x")).?);
    try s.delete("x");
    try testing.expectEqual(@as(?[]const u8, null), try s.get("x"));
    try s.put("e", "");
    try testing.expectEqualStrings("", (try s.get("e")).?);
    for ([_]usize{ 255, 256, 257, 5000, 70000, 1 << 20 }) |n| {
        const v = try testing.allocator.alloc(u8, n);
        defer testing.allocator.free(v);
        @memset(v, 'x');
        try s.put("big", v);
        try testing.expectEqualSlices(u8, v, (try s.get("big")).?);
    }
    // A nil record key is the empty key.
    try ws.stateOf(.{}).put("n", "nil key");
    try testing.expectEqualStrings("nil key", (try ws.keyState("").get("n")).?);
}

test "put with a TTL expires" {
    ws.testing.resetState();
    defer ws.testing.resetState();
    const s = ws.keyState("k");
    try s.putTtl("t", "v", 100);
    try s.put("p", "v");
    try testing.expectEqualStrings("v", (try s.get("t")).?);
    commit();
    ws.testing.advanceClock(99);
    try testing.expectEqualStrings("v", (try s.get("t")).?);
    ws.testing.advanceClock(2);
    try testing.expectEqual(@as(?[]const u8, null), try s.get("t"));
    try testing.expectEqualStrings("v", (try s.get("p")).?);
    // A counter keeps its TTL when added to.
    try s.putTtl("c", &le(1), 50);
    try testing.expectEqual(@as(i64, 2), try s.add("c", 1));
    ws.testing.advanceClock(51);
    try testing.expectEqual(@as(i64, 1), try s.add("c", 1));
}

test "lists append and iterate, in every bin width" {
    ws.testing.resetState();
    defer ws.testing.resetState();
    const s = ws.keyState("k");
    var it = try s.list("l");
    try testing.expectEqual(@as(?[]const u8, null), try it.next());
    const big = try testing.allocator.alloc(u8, 70000);
    defer testing.allocator.free(big);
    @memset(big, 'y');
    const elems = [_][]const u8{ "a", "bc", big[0..300], big, "z" };
    for (elems) |e| try s.append("l", e);
    it = try s.list("l");
    for (elems) |e| try testing.expectEqualSlices(u8, e, (try it.next()).?);
    try testing.expectEqual(@as(?[]const u8, null), try it.next());
    commit();
    const v = ws.testing.stateValue(0, "k", "l").?;
    try testing.expectEqualSlices(u8, "\xc4\x01a\xc4\x02bc\xc5\x01\x2c", v[0..10]);
    try testing.expectEqualSlices(u8, "\xc6\x00\x01\x11\x70", v[310..315]);
    try s.put("notlist", "abc");
    it = try s.list("notlist");
    try testing.expectError(error.NotAList, it.next());
    try testing.expectEqualStrings("wasmstream: state \"notlist\" is not a list", ws.errorMessage(error.NotAList));
}

test "maps are entries named map, NUL, key" {
    ws.testing.resetState();
    defer ws.testing.resetState();
    const m = ws.keyState("k").map("m");
    try m.put("a", "1");
    try m.put("b", "2");
    try testing.expectEqual(@as(i64, 5), try m.add("n", 5));
    try testing.expectEqualStrings("1", (try m.get("a")).?);
    try testing.expectEqual(@as(?[]const u8, null), try m.get("c"));
    try m.delete("a");
    try testing.expectEqual(@as(?[]const u8, null), try m.get("a"));
    try m.putTtl("t", "x", 10);
    commit();
    try testing.expectEqualStrings("2", ws.testing.stateValue(0, "k", "m\x00b").?);
    try testing.expectEqualSlices(u8, &le(5), ws.testing.stateValue(0, "k", "m\x00n").?);
    ws.testing.advanceClock(11);
    try testing.expectEqual(@as(?[]const u8, null), try m.get("t"));
}

test "too large and not a counter are errors with the Go SDK's messages" {
    ws.testing.resetState();
    defer ws.testing.resetState();
    ws.testing.setStateMaxValue(1000);
    const s = ws.keyState("k");
    var buf: [1001]u8 = undefined;
    @memset(&buf, 'x');
    try s.put("ok", buf[0..1000]);
    try testing.expectError(error.StateTooLarge, s.put("b", &buf));
    try testing.expectEqualStrings("wasmstream: state value too large: put \"b\"", ws.errorMessage(error.StateTooLarge));
    try s.append("l", buf[0..900]);
    try testing.expectError(error.StateTooLarge, s.append("l", buf[0..100]));
    try testing.expectEqualStrings("wasmstream: state value too large: append \"l\"", ws.errorMessage(error.StateTooLarge));
    try s.put("s", "abc");
    try testing.expectError(error.NotCounter, s.add("s", 1));
    try testing.expectEqualStrings("wasmstream: state value is not a counter: add \"s\"", ws.errorMessage(error.NotCounter));
    try s.map("m").put("k\"\n", "abc");
    try testing.expectError(error.NotCounter, s.map("m").add("k\"\n", 1));
    try testing.expectEqualStrings("wasmstream: state value is not a counter: add \"m\\x00k\\\"\\n\"", ws.errorMessage(error.NotCounter));
    rollback();
}

// An operator whose records' values are commands on their key's state.
fn command(r: ws.Record, e: *ws.Emitter) !void {
    const s = ws.stateOf(r);
    const v = r.value orelse return;
    if (std.mem.eql(u8, v, "fail")) return ws.fail("boom", .{});
    if (std.mem.startsWith(u8, v, "put ")) return s.put("x", v[4..]);
    if (std.mem.eql(u8, v, "get")) return e.emit(.{ .key = r.key, .value = @constCast((try s.get("x")) orelse "none") });
    if (std.mem.eql(u8, v, "add")) {
        var buf: [20]u8 = undefined;
        const n = try s.add("c", 1);
        return e.emit(.{ .key = r.key, .value = try std.fmt.bufPrint(&buf, "{d}", .{n}) });
    }
    if (std.mem.eql(u8, v, "big")) {
        var big: [2000]u8 = undefined;
        return s.put("big", &big);
    }
}

fn frame(comptime values: []const []const u8) []u8 {
    var b = std.ArrayList(u8).init(testing.allocator);
    b.appendSlice(&[_]u8{ 0x91, 0xdd, 0, 0, 0, @intCast(values.len) }) catch unreachable;
    for (values) |v| {
        b.appendSlice(&[_]u8{ 0x94, 0xc4, 1, 'k', 0xc4, @intCast(v.len) }) catch unreachable;
        b.appendSlice(v) catch unreachable;
        b.appendSlice(&[_]u8{ 0, 0xc0 }) catch unreachable;
    }
    return b.toOwnedSlice() catch unreachable;
}

fn run(comptime values: []const []const u8) ![]const u8 {
    const f = frame(values);
    defer testing.allocator.free(f);
    return ws.Operator(.{ .flat_map = command }).process(f);
}

test "Operator applies a call's writes only when it succeeds" {
    ws.testing.resetState();
    defer ws.testing.resetState();
    ws.testing.setStateMaxValue(1000);
    _ = try run(&.{ "add", "put 1" });
    try testing.expectEqualSlices(u8, &le(1), ws.testing.stateValue(0, "k", "c").?);
    try testing.expectError(error.OperatorError, run(&.{ "add", "put 2", "fail" }));
    try testing.expectError(error.StateTooLarge, run(&.{ "add", "put 3", "big" }));
    try testing.expectEqualStrings("wasmstream: state value too large: put \"big\"", ws.errorMessage(error.StateTooLarge));
    try testing.expectEqualSlices(u8, &le(1), ws.testing.stateValue(0, "k", "c").?);
    try testing.expectEqualStrings("1", ws.testing.stateValue(0, "k", "x").?);
    const out = try run(&.{ "add", "get" });
    // [[k, "2", 0, nil], [k, "1", 0, nil]]
    try testing.expectEqualSlices(u8, "\x91\xdd\x00\x00\x00\x02\x94\xc4\x01k\xc4\x012\x00\xc0\x94\xc4\x01k\xc4\x011\x00\xc0", out);
}
