//! Native tests of the SDK: `zig test wasmstream.zig` (guest-sdk/zig/test).

const std = @import("std");
const ws = @import("wasmstream.zig");
const codec = @import("codec.zig");
const config = @import("config.zig");
const testing = std.testing;

const vectors_dir = "../../abi/testdata/conformance";

fn unhex(comptime s: []const u8) [s.len / 2]u8 {
    var out: [s.len / 2]u8 = undefined;
    _ = std.fmt.hexToBytes(&out, s) catch unreachable;
    return out;
}

/// Calls f with every input vector of abi/testdata/conformance.
fn forEachVector(f: *const fn (name: []const u8, frame: []u8) anyerror!void) !usize {
    var dir = try std.fs.cwd().openIterableDir(vectors_dir, .{});
    defer dir.close();
    var it = dir.iterate();
    var n: usize = 0;
    while (try it.next()) |entry| {
        if (!std.mem.endsWith(u8, entry.name, ".in.msgpack")) continue;
        const frame = try dir.dir.readFileAlloc(testing.allocator, entry.name, 64 << 20);
        defer testing.allocator.free(frame);
        try f(entry.name, frame);
        n += 1;
    }
    return n;
}

fn identity(r: ws.Record) ws.Record {
    return r;
}

test "identity map copies every vector byte for byte" {
    const S = struct {
        fn check(name: []const u8, frame: []u8) !void {
            const out = try ws.Operator(.{ .map = identity }).process(frame);
            if (!std.mem.eql(u8, frame, out)) {
                std.debug.print("{s}: identity output differs\n", .{name});
                return error.TestUnexpectedResult;
            }
        }
    };
    try testing.expect(try forEachVector(S.check) >= 10);
}

test "decoding and re-encoding every vector reproduces it" {
    const S = struct {
        fn check(name: []const u8, frame: []u8) !void {
            var r = codec.Reader{};
            defer r.deinit(testing.allocator);
            var w = codec.Writer{};
            defer w.deinit(testing.allocator);
            try r.reset(frame);
            try w.reset(testing.allocator);
            while (try r.next(testing.allocator)) |rec| {
                try testing.expect(r.canonical);
                try w.append(testing.allocator, &rec);
            }
            try r.close();
            if (!std.mem.eql(u8, frame, w.bytes())) {
                std.debug.print("{s}: re-encoded frame differs\n", .{name});
                return error.TestUnexpectedResult;
            }
        }
    };
    _ = try forEachVector(S.check);
}

test "other encodings are read and written canonically" {
    // Frame [records, [], nil] as array16s; record of 6 fields: key str8 "k",
    // value bin16 "v", timestamp int64 5, headers [nil name, bin8 value]
    // as array16, output "", an extra field.
    var frame = unhex("dc0003" ++ "dc0001" ++ "96" ++ "d9016b" ++ "c5000176" ++ "d30000000000000005" ++
        "dc0002" ++ "c0" ++ "c40178" ++ "a0" ++ "c3" ++ "90" ++ "c0");
    var r = codec.Reader{};
    defer r.deinit(testing.allocator);
    try r.reset(&frame);
    const rec = (try r.next(testing.allocator)).?;
    try testing.expect(!r.canonical);
    try testing.expectEqualStrings("k", rec.key.?);
    try testing.expectEqualStrings("v", rec.value.?);
    try testing.expectEqual(@as(i64, 5), rec.timestamp);
    try testing.expectEqual(@as(usize, 1), rec.headers.len);
    try testing.expectEqualStrings("", rec.headers[0].name);
    try testing.expectEqualStrings("x", rec.headers[0].value.?);
    try testing.expectEqualStrings("", rec.output);
    try testing.expect(try r.next(testing.allocator) == null);
    try r.close();

    // Through the operator: the record is re-encoded, not copied.
    var frame2 = frame;
    const out = try ws.Operator(.{ .map = identity }).process(&frame2);
    try testing.expectEqualSlices(u8, &unhex("91dd00000001" ++ "94" ++ "c4016b" ++ "c40176" ++ "05" ++ "92" ++ "a0" ++ "c40178"), out);
}

test "every integer width and its canonical form" {
    const cases = [_]struct { in: []const u8, v: i64, canonical: bool }{
        .{ .in = &unhex("7f"), .v = 127, .canonical = true },
        .{ .in = &unhex("cc80"), .v = 128, .canonical = true },
        .{ .in = &unhex("cc05"), .v = 5, .canonical = false },
        .{ .in = &unhex("cd0100"), .v = 256, .canonical = true },
        .{ .in = &unhex("d1012c"), .v = 300, .canonical = false },
        .{ .in = &unhex("ce00010000"), .v = 65536, .canonical = true },
        .{ .in = &unhex("cf0000010000000000"), .v = 1 << 40, .canonical = true },
        .{ .in = &unhex("e0"), .v = -32, .canonical = true },
        .{ .in = &unhex("d0df"), .v = -33, .canonical = true },
        .{ .in = &unhex("d1ff7f"), .v = -129, .canonical = true },
        .{ .in = &unhex("d2ffff7fff"), .v = -32769, .canonical = true },
        .{ .in = &unhex("d3ffffff0000000000"), .v = -(1 << 40), .canonical = true },
        .{ .in = &unhex("d3ffffffffffffffff"), .v = -1, .canonical = false },
    };
    for (cases) |c| {
        var fault: codec.Fault = .{};
        var canonical = true;
        var cur = codec.Cursor{ .src = @constCast(c.in), .fault = &fault };
        try testing.expectEqual(c.v, try cur.int("timestamp", &canonical));
        try testing.expectEqual(c.canonical, canonical);
        try testing.expectEqual(c.in.len, cur.off);
    }
}

test "malformed frames fail with abi's offsets and reasons" {
    // Messages from abi.DecodeFrame for the same bytes.
    const cases = [_]struct { hex: []const u8, msg: []const u8 }{
        .{ .hex = "", .msg = "malformed frame at byte 0: need 1 bytes, 0 left" },
        .{ .hex = "90", .msg = "malformed frame at byte 0: frame is an empty array; want [records, ...]" },
        .{ .hex = "91", .msg = "malformed frame at byte 1: need 1 bytes, 0 left" },
        .{ .hex = "91dd0000000294c0c000c0", .msg = "malformed frame at byte 1: frame declares 2 records but has only 5 bytes left" },
        .{ .hex = "91dd0000000194c0c000c000", .msg = "malformed frame at byte 11: 1 trailing bytes after the frame" },
        .{ .hex = "91dd000000019401c000c0", .msg = "malformed frame at byte 7: key: want bin, str or nil, found an integer" },
        .{ .hex = "91dd0000000193c0c000", .msg = "malformed frame at byte 1: frame declares 1 records but has only 4 bytes left" },
        .{ .hex = "91dd0000000194c0c0cfffffffffffffffffc0", .msg = "malformed frame at byte 9: timestamp: 18446744073709551615 overflows int64" },
        .{ .hex = "91dd0000000194c0c0c3c0", .msg = "malformed frame at byte 9: timestamp: want an integer, found a boolean" },
        .{ .hex = "91dd0000000194c0c0009301c0c0", .msg = "malformed frame at byte 10: headers: array of 3 items; want name/value pairs" },
        .{ .hex = "91dd0000000194c0c00092a161c4", .msg = "malformed frame at byte 13: need 2 bytes, 1 left" },
        .{ .hex = "91dd0000000194c0c405010200c0", .msg = "malformed frame at byte 8: value: 5-byte value runs past the end of the frame" },
        .{ .hex = "92dd00000000c1", .msg = "malformed frame at byte 6: invalid msgpack type byte 0xc1" },
        .{ .hex = "91dd01000001", .msg = "malformed frame at byte 1: frame declares 16777217 records; the limit is 16777216" },
        .{ .hex = "91dd0000000193c0c000c0c0", .msg = "malformed frame at byte 6: record has 3 fields; want at least 4 (key, value, timestamp, headers)" },
        .{ .hex = "91dd0000000196c0c000c0a0c1", .msg = "malformed frame at byte 12: invalid msgpack type byte 0xc1" },
        .{ .hex = "91dd0000000194c0c000dc0003c0c0c0", .msg = "malformed frame at byte 10: headers: array of 3 items; want name/value pairs" },
    };
    const Op = ws.Operator(.{ .map = identity });
    for (cases) |c| {
        var buf: [64]u8 = undefined;
        const frame = try std.fmt.hexToBytes(&buf, c.hex);
        if (Op.process(frame)) |_| {
            std.debug.print("{s}: decoded, want {s}\n", .{ c.hex, c.msg });
            return error.TestUnexpectedResult;
        } else |err| {
            try testing.expectEqual(@as(anyerror, error.Malformed), err);
            var want: [200]u8 = undefined;
            try testing.expectEqualStrings(try std.fmt.bufPrint(&want, "decoding input batch: {s}", .{c.msg}), ws.errorMessage(err));
        }
    }
    // A well-formed frame after a bad one decodes.
    var good = unhex("91dd0000000194c0c000c0");
    _ = try Op.process(&good);
}

fn countOnly(b: *ws.Batch, _: *ws.Emitter) !void {
    // Reads one record and leaves the rest.
    _ = try b.next();
}

test "records a batch handler leaves unread are still checked" {
    const Op = ws.Operator(.{ .process_batch = countOnly });
    var ok = unhex("91dd00000002" ++ "94c0c000c0" ++ "94c0c000c0");
    try testing.expectEqualSlices(u8, &unhex("91dd00000000"), try Op.process(&ok));
    var bad = unhex("91dd00000002" ++ "94c0c000c0" ++ "94c0c0c3c0");
    try testing.expectError(error.Malformed, Op.process(&bad));
    try testing.expectEqualStrings("decoding input batch: malformed frame at byte 14: timestamp: want an integer, found a boolean", ws.errorMessage(error.Malformed));
}

fn swallow(b: *ws.Batch, _: *ws.Emitter) void {
    while (b.next() catch null) |_| {}
}

test "a batch handler that swallows a decoding error still fails" {
    var bad = unhex("91dd00000002" ++ "94c0c000c0" ++ "94c0c0c3c0");
    try testing.expectError(error.Malformed, ws.Operator(.{ .process_batch = swallow }).process(&bad));
    try testing.expectEqualStrings("decoding input batch: malformed frame at byte 14: timestamp: want an integer, found a boolean", ws.errorMessage(error.Malformed));
}

fn keepOdd(r: ws.Record) bool {
    return @rem(r.timestamp, 2) == 1;
}

test "filter keeps records whole" {
    var frame = unhex("91dd00000003" ++ "94c0c4016101c0" ++ "94c0c4016202c0" ++ "94c0a1630392a168c0");
    const out = try ws.Operator(.{ .filter = keepOdd }).process(&frame);
    // The str value of the third record is re-encoded as bin.
    try testing.expectEqualSlices(u8, &unhex("91dd00000002" ++ "94c0c4016101c0" ++ "94c0c4016303" ++ "92a168c0"), out);
}

var scratch: [64]u8 = undefined;

fn rewrite(r: ws.Record, out: *ws.Emitter) !void {
    const v = r.value orelse return ws.fail("nil value at {d}", .{r.timestamp});
    // A new value, a header added and a named output: all re-encoded.
    @memcpy(scratch[0..v.len], v);
    scratch[v.len] = '!';
    const hs = [_]ws.Header{ .{ .name = "n", .value = "1" }, .{ .name = "m" } };
    try out.emitTo("side", .{ .key = r.key, .value = scratch[0 .. v.len + 1], .timestamp = -r.timestamp, .headers = &hs });
    try out.emit(r); // unchanged: copied whole
    try testing.expectEqual(@as(usize, 2), out.len());
}

test "emit encodes new records and copies unchanged ones" {
    const Op = ws.Operator(.{ .flat_map = rewrite });
    var frame = unhex("91dd00000001" ++ "94c4016bc40261620ac0");
    try testing.expectEqualSlices(u8, &unhex("91dd00000002" ++
        "95c4016bc403616221f6" ++ "94a16ec40131a16dc0" ++ "a473696465" ++
        "94c4016bc40261620ac0"), try Op.process(&frame));
    var nil_value = unhex("91dd00000001" ++ "94c0c007c0");
    try testing.expectError(error.OperatorError, Op.process(&nil_value));
    try testing.expectEqualStrings("nil value at 7", ws.errorMessage(error.OperatorError));
}

fn failing(_: ws.Record) !ws.Record {
    return error.InvalidCharacter;
}

test "an error without a message is reported by name" {
    var frame = unhex("91dd00000001" ++ "94c0c000c0");
    const err = ws.Operator(.{ .map = failing }).process(&frame);
    try testing.expectError(error.InvalidCharacter, err);
    try testing.expectEqualStrings("error.InvalidCharacter", ws.errorMessage(error.InvalidCharacter));
}

fn large(r: ws.Record) ws.Record {
    var o = r;
    o.output = "an output name longer than thirty-one bytes";
    return o;
}

test "large fields use the wider encodings" {
    // value: bin32 of 70000 bytes (canonical: 70000 > 0xffff)
    var f = std.ArrayList(u8).init(testing.allocator);
    defer f.deinit();
    try f.appendSlice(&unhex("91dd00000001" ++ "94c0" ++ "c600011170"));
    try f.appendNTimes('a', 70000);
    try f.appendSlice(&unhex("00c0"));
    const out = try ws.Operator(.{ .map = large }).process(f.items);
    try testing.expectEqual(@as(u8, 0x95), out[6]);
    try testing.expectEqualSlices(u8, &unhex("c600011170"), out[8..13]);
    try testing.expectEqualStrings("\xd9\x2ban output name longer than thirty-one bytes", out[out.len - 45 ..]);
}

fn setup(cfg: *ws.Config) !void {
    try testing.expectEqualStrings("p", cfg.pipeline);
    try testing.expectEqualStrings("op", cfg.operator);
    try testing.expectEqual(@as(i64, 2), cfg.instance);
    try testing.expect(cfg.hasOutput("audit") and !cfg.hasOutput("other"));
    try testing.expectEqualStrings("x", try cfg.string("name", "d"));
    try testing.expectEqualStrings("d", try cfg.string("missing", "d"));
    try testing.expectEqualStrings("d", try cfg.string("nothing", "d"));
    try testing.expectEqual(@as(i64, 3), try cfg.int("n", 0));
    try testing.expectEqual(@as(i64, 4), try cfg.int("whole", 0));
    try testing.expectEqual(@as(f64, 2.5), try cfg.float("f", 0));
    try testing.expectEqual(@as(f64, 3), try cfg.float("n", 0));
    try testing.expect(try cfg.boolean("b", false));
    try testing.expectEqual(@as(u64, 1 << 63), cfg.param("big").?.uint);
    const list = cfg.param("list").?.array;
    var it = list.iterator();
    try testing.expectEqual(@as(i64, 1), it.next().?.int);
    try testing.expectEqualStrings("a", it.next().?.string);
    try testing.expect(it.next() == null);
    try testing.expectEqualStrings("v", cfg.param("nested").?.map.get("k").?.string);
    _ = try cfg.int("f", 0); // fails: 2.5 is not an integer
}

test "init decodes the config and reports a param of the wrong type" {
    // abi.AppendInitConfig of pipeline "p", operator "op", instance 2,
    // outputs [alerts, audit] and params name "x", n 3, f 2.5, whole 4.0,
    // b true, list [1, "a"], nested {k: "v"}, nothing nil, big 1<<63.
    const payload = unhex("85a8696e7374616e636502a86f70657261746f72a26f70a76f75747075747392a6616c65727473a56175646974a6706172616d7389a162c3a3626967cf8000000000000000a166cb4004000000000000a46c6973749201a161a16e03a46e616d65a178a66e657374656481a16ba176a76e6f7468696e67c0a577686f6c65cb4010000000000000a8706970656c696e65a170");
    const Op = ws.Operator(.{ .map = identity, .on_init = setup });
    try testing.expectError(error.ParamType, Op.init(&payload));
    try testing.expectEqualStrings("params.f: want an integer, got a float", ws.errorMessage(error.ParamType));
    try testing.expectError(error.Malformed, Op.init(&unhex("a3616263")));
    try testing.expectEqualStrings("decoding init config: malformed frame at byte 0: init config: want a map, found a string", ws.errorMessage(error.Malformed));
    try testing.expectError(error.Malformed, Op.init(&unhex("81a161")));
    try testing.expectEqualStrings("decoding init config: malformed frame at byte 3: need 1 bytes, 0 left", ws.errorMessage(error.Malformed));
    try ws.Operator(.{ .map = identity }).init(&unhex("80"));
}

fn counting(r: ws.Record) ws.Record {
    ws.count("seen", 2);
    ws.log(.debug, "a record");
    ws.logf(.info, "timestamp {d}", .{r.timestamp});
    return r;
}

test "count adds to the native metrics" {
    ws.testing.resetMetrics();
    var frame = unhex("91dd00000002" ++ "94c0c000c0" ++ "94c0c001c0");
    _ = try ws.Operator(.{ .map = counting }).process(&frame);
    try testing.expectEqual(@as(i64, 4), ws.testing.metric("seen"));
}

test "skip passes over every msgpack type" {
    // [records, then one of each type] as reserved frame elements.
    const frame = unhex("9f" ++ "dd00000000" ++
        "c0" ++ "c2" ++ "c3" ++ "cc01" ++ "cd0001" ++ "ce00000001" ++ "cf0000000000000001" ++
        "ca3f800000" ++ "cb3ff0000000000000" ++ "a3616263" ++ "c40100" ++
        "81a16192c0c0" ++ "d40100" ++ "c7010100");
    var f = frame;
    try testing.expectEqualSlices(u8, &unhex("91dd00000000"), try ws.Operator(.{ .map = identity }).process(&f));
}
