//! Native tests of async I/O over the SDK's stand-in for the host's
//! async_submit (guest-sdk/zig/test). The conformance example replays the
//! async vectors (abi/testdata/conformance-async) natively, and the host's
//! TestGuestAsyncConformance runs them through the real module.

const std = @import("std");
const ws = @import("wasmstream.zig");
const codec = @import("codec.zig");
const testing = std.testing;

fn encoded(req: ws.Request) ![]u8 {
    var b: std.ArrayListUnmanaged(u8) = .{};
    try codec.encodeRequest(testing.allocator, &b, req);
    return b.toOwnedSlice(testing.allocator);
}

test "requests are maps with sorted keys in their smallest encodings" {
    var req = ws.http("t", "POST", "/p", "c");
    req.headers = &.{.{ .name = "a", .value = "b" }};
    req.body = "xy";
    const h = try encoded(req);
    defer testing.allocator.free(h);
    try testing.expectEqualSlices(u8, "\x86\xa4body\xc4\x02xy\xa7context\xc4\x01c\xa7headers\x81\xa1a\xa1b\xa6method\xa4POST\xa4path\xa2/p\xa6target\xa1t", h);

    const s = try encoded(ws.sql("db", "q", null, &.{ .nil, .{ .boolean = true }, .{ .int = -200 }, .{ .float = 1.5 }, .{ .str = "s" }, .{ .bin = "\x00" } }));
    defer testing.allocator.free(s);
    try testing.expectEqualSlices(u8, "\x83\xa4args\x96\xc0\xc3\xd1\xff\x38\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00\xa1s\xc4\x01\x00\xa5query\xa1q\xa6target\xa2db", s);

    const none = try encoded(ws.sql("db", "q", null, &.{}));
    defer testing.allocator.free(none);
    try testing.expect(std.mem.startsWith(u8, none, "\x83\xa4args\x90")); // an empty args array

    const r = try encoded(ws.redis("r", null, &.{ "MGET", "k1", "k2" }));
    defer testing.allocator.free(r);
    try testing.expectEqualSlices(u8, "\x82\xa7command\x93\xa4MGET\xa2k1\xa2k2\xa6target\xa1r", r);

    // Wide lengths: a 300-byte context, 20 command arguments.
    var big: [300]u8 = undefined;
    @memset(&big, 'x');
    var args: [20][]const u8 = undefined;
    for (&args) |*a| a.* = "a";
    const w = try encoded(ws.redis("r", &big, &args));
    defer testing.allocator.free(w);
    try testing.expectEqualSlices(u8, "\x83\xa7command\xdc\x00\x14\xa1a", w[0..14]);
    try testing.expect(std.mem.indexOf(u8, w, "\xa7context\xc5\x01\x2cxxx") != null);
}

fn submitAll(r: ws.Record, _: *ws.Emitter) !void {
    const v = r.value orelse "";
    if (std.mem.eql(u8, v, "fail")) return ws.fail("failed", .{});
    _ = try ws.submit(ws.http("svc", "GET", "/x", v));
}

fn echo(res: ws.Result, e: *ws.Emitter) !void {
    var buf: [256]u8 = undefined;
    const line = try std.fmt.bufPrint(&buf, "{d} {d} {d} {s}{s} {s}{s} {s}{s}", .{
        res.ticket,                                  res.status,
        res.code,                                    if (res.context == null) "nil" else "=",
        res.context orelse "",                       if (res.body == null) "nil" else "=",
        res.body orelse "",                          if (res.err == null) "nil" else "=",
        res.err orelse "",
    });
    if (res.status == 99) return ws.fail("result handler failed", .{});
    try e.emit(.{ .value = line });
}

fn upper(r: ws.Record) ws.Record {
    if (r.value) |v| {
        for (v) |*c| {
            if (c.* >= 'a' and c.* <= 'z') c.* -= 'a' - 'A';
        }
    }
    return r;
}

fn frame(values: []const []const u8) ![]u8 {
    var w = codec.Writer{};
    defer w.deinit(testing.allocator);
    try w.reset(testing.allocator);
    for (values) |v| try w.append(testing.allocator, &.{ .value = @constCast(v) });
    return testing.allocator.dupe(u8, w.bytes());
}

test "submit returns tickets; refusals, a missing handler and a failed call's requests" {
    ws.testing.resetAsync();
    defer ws.testing.resetAsync();
    const Op = ws.Operator(.{ .flat_map = submitAll, .on_result = echo });
    const two = try frame(&.{ "one", "two" });
    defer testing.allocator.free(two);
    const out = try Op.process(two);
    try testing.expectEqualSlices(u8, "\x91\xdd\x00\x00\x00\x00", out);
    try testing.expectEqual(@as(usize, 2), ws.testing.submitted().len);
    try testing.expect(std.mem.indexOf(u8, ws.testing.submitted()[1], "\xc4\x03two") != null);

    const failing = try frame(&.{ "one", "fail" });
    defer testing.allocator.free(failing);
    try testing.expectError(error.OperatorError, Op.process(failing));
    try testing.expectEqual(@as(usize, 2), ws.testing.submitted().len);

    const one = try frame(&.{"one"});
    defer testing.allocator.free(one);
    ws.testing.refuseAsync(-6);
    try testing.expectError(error.AsyncCapacity, Op.process(one));
    try testing.expectEqualStrings("wasmstream: async request refused: capacity full (async.capacity requests in flight)", ws.errorMessage(error.AsyncCapacity));
    ws.testing.refuseAsync(-3);
    try testing.expectError(error.AsyncTooLarge, Op.process(one));
    ws.testing.refuseAsync(-1);
    try testing.expectError(error.AsyncRefused, Op.process(one));
    try testing.expectEqualStrings("wasmstream: async request refused (status -1): an undeclared target, or a request its declaration does not allow", ws.errorMessage(error.AsyncRefused));
    ws.testing.refuseAsync(0);
    try testing.expectError(error.NoResultHandler, ws.Operator(.{ .flat_map = submitAll }).process(one));
    try testing.expectEqual(@as(usize, 2), ws.testing.submitted().len);
}

const results = [_]ws.Result{
    .{ .ticket = 0, .status = ws.result_ok, .context = @constCast("ctx"), .code = 200, .body = @constCast("body") },
    .{ .ticket = 1 << 40, .status = ws.result_timeout, .context = @constCast(""), .code = -1, .err = "timed out" },
    .{ .ticket = 7, .status = ws.result_error, .body = @constCast(""), .err = "" },
};

test "results are handled after the call's records, nil apart from empty" {
    const Op = ws.Operator(.{ .map = upper, .on_result = echo });
    const recs = try frame(&.{"rec"});
    defer testing.allocator.free(recs);
    const in = try ws.testing.frameWithResults(recs, &results);
    defer ws.allocator.free(in);
    try testing.expectEqual(@as(u8, 0x92), in[0]);
    const out = try Op.process(in);
    var r = codec.Reader{};
    defer r.deinit(testing.allocator);
    try r.reset(@constCast(out));
    const want = [_][]const u8{ "REC", "0 0 200 =ctx =body nil", "1099511627776 -7 -1 = nil =timed out", "7 -1 0 nil = =" };
    for (want) |w| try testing.expectEqualStrings(w, (try r.next(testing.allocator)).?.value.?);
    try testing.expectEqual(@as(?ws.Record, null), try r.next(testing.allocator));
    try r.close();

    // Results alone; without on_result they are skipped.
    const empty = try frame(&.{});
    defer testing.allocator.free(empty);
    const only = try ws.testing.frameWithResults(empty, results[0..1]);
    defer ws.allocator.free(only);
    try testing.expectEqual(@as(usize, 6 + 28), (try Op.process(only)).len);
    try testing.expectEqualSlices(u8, "\x91\xdd\x00\x00\x00\x00", try ws.Operator(.{ .map = upper }).process(only));
}

test "a result handler's error and a malformed result fail the call" {
    const Op = ws.Operator(.{ .map = upper, .on_result = echo });
    const empty = try frame(&.{});
    defer testing.allocator.free(empty);
    var failing = results;
    failing[1].status = 99;
    const in = try ws.testing.frameWithResults(empty, &failing);
    defer ws.allocator.free(in);
    try testing.expectError(error.OperatorError, Op.process(in));
    try testing.expectEqualStrings("result handler failed", ws.errorMessage(error.OperatorError));

    const bad = try ws.testing.frameWithResults(empty, &results);
    defer ws.allocator.free(bad);
    bad[bad.len - 1] = 0x91; // the last result's error: an array
    try testing.expectError(error.Malformed, Op.process(bad));
    try testing.expect(std.mem.startsWith(u8, ws.errorMessage(error.Malformed), "decoding async results: malformed frame at byte"));

    var short = "\x92\x90\x91\x95\x00\x00\xc4\x03abc\x00\xc0".*;
    try testing.expectError(error.Malformed, Op.process(&short));
    try testing.expectEqualStrings("decoding async results: malformed frame at byte 3: async result 0 has 5 fields; want 6", ws.errorMessage(error.Malformed));

    // Any valid encoding: a 6+1-field result, wide ints, str context.
    var wide = "\x92\x90\x91\x97\xcf\x00\x00\x00\x00\x00\x00\x00\x05\xd2\xff\xff\xff\xf9\xa1c\xd1\x01\x00\xc0\xd9\x01e\xc3".*;
    const out = try Op.process(&wide);
    try testing.expect(std.mem.indexOf(u8, out, "\xc4\x125 -7 256 =c nil =e\x00\xc0") != null);
}

test "Redis array replies split into items, nil apart" {
    var items = try ws.redisItems("\x93\xc4\x01a\xc0\xa2bc");
    try testing.expectEqual(@as(usize, 3), items.left);
    try testing.expectEqualStrings("a", items.next().?.?);
    try testing.expectEqual(@as(?[]const u8, null), items.next().?);
    try testing.expectEqualStrings("bc", items.next().?.?);
    try testing.expectEqual(@as(??[]const u8, null), items.next());
    try testing.expectError(error.NotAnArrayReply, ws.redisItems("OK"));
    try testing.expectEqualStrings("wasmstream: not an array reply", ws.errorMessage(error.NotAnArrayReply));
    try testing.expectError(error.NotAnArrayReply, ws.redisItems("\x92\xc4\x01a\x05"));
    try testing.expectEqualStrings("wasmstream: array reply element 1 is not bin, str or nil", ws.errorMessage(error.NotAnArrayReply));
    try testing.expectEqual(@as(usize, 0), (try ws.redisItems("\x90")).left);
}
