//! A keyed word count as a wasmstream operator in Zig, in two stages of one
//! module (params.stage), like examples/wasm/wordcount/go:
//!
//!   - split: each line becomes one record per word, keyed by the word
//!     (lower-cased ASCII letters and digits; every other byte separates
//!     words), so the runtime routes each word to one instance of the next
//!     operator;
//!   - count: adds 1 to the word's "count" in keyed state, which the host
//!     owns and checkpoints, and emits "word count" when params.emit is
//!     true.
//!
//! Build it with ./build OUT.wasm and run it with ../pipeline.yaml, pointing
//! both operators' module at the output.

const std = @import("std");
const ws = @import("wasmstream");

pub const handlers = .{ .flat_map = process, .on_init = setup };

comptime {
    ws.register(handlers);
}

pub const panic = ws.panic;

var split = false;
var emit = false;

fn setup(cfg: *ws.Config) !void {
    const stage = try cfg.string("stage", "count");
    if (!std.mem.eql(u8, stage, "split") and !std.mem.eql(u8, stage, "count")) {
        return ws.fail("params.stage must be split or count, not \"{s}\"", .{stage});
    }
    split = std.mem.eql(u8, stage, "split");
    emit = try cfg.boolean("emit", false);
}

fn process(r: ws.Record, e: *ws.Emitter) !void {
    if (split) return splitLine(r.value orelse return, e);
    return count(r, e);
}

/// Emits a record per word of line, keyed by the word. Words are lower-cased
/// in place: the records' bytes point into the input batch.
fn splitLine(line: []u8, e: *ws.Emitter) !void {
    var start: ?usize = null;
    for (0..line.len + 1) |i| {
        var word = false;
        if (i < line.len) {
            const c = line[i];
            if (c >= 'A' and c <= 'Z') {
                line[i] = c + ('a' - 'A');
                word = true;
            } else {
                word = (c >= 'a' and c <= 'z') or (c >= '0' and c <= '9');
            }
        }
        if (word and start == null) {
            start = i;
        } else if (!word and start != null) {
            const w = line[start.?..i];
            try e.emit(.{ .key = w, .value = w });
            start = null;
        }
    }
}

/// "word count", built in a buffer that grows to the longest.
var buf: std.ArrayListUnmanaged(u8) = .{};

fn count(r: ws.Record, e: *ws.Emitter) !void {
    const n = try ws.stateOf(r).add("count", 1);
    if (!emit) return;
    buf.clearRetainingCapacity();
    try buf.writer(ws.allocator).print("{s} {d}", .{ r.key orelse "", n });
    try e.emit(.{ .key = r.key, .value = buf.items });
}

// Native tests: the SDK's stand-in for the host's state.

const Op = ws.Operator(handlers);

/// abi.AppendInitConfig's payload for params {stage: STAGE, emit: true}.
fn initWith(comptime stage: []const u8) !void {
    const payload = "\x81\xa6params\x82\xa5stage" ++ [_]u8{0xa0 | stage.len} ++ stage ++ "\xa4emit\xc3";
    try Op.init(@constCast(payload));
}

fn frame(comptime recs: []const [2][]const u8) []u8 {
    var b = std.ArrayList(u8).init(std.testing.allocator);
    b.appendSlice(&[_]u8{ 0x91, 0xdd, 0, 0, 0, @intCast(recs.len) }) catch unreachable;
    for (recs) |r| {
        b.appendSlice(&[_]u8{ 0x94, 0xc4, @intCast(r[0].len) }) catch unreachable;
        b.appendSlice(r[0]) catch unreachable;
        b.appendSlice(&[_]u8{ 0xc4, @intCast(r[1].len) }) catch unreachable;
        b.appendSlice(r[1]) catch unreachable;
        b.appendSlice(&[_]u8{ 0, 0xc0 }) catch unreachable;
    }
    return b.toOwnedSlice() catch unreachable;
}

/// The values of an output frame's records, joined by "|".
fn values(out: []const u8) ![]u8 {
    var s = std.ArrayList(u8).init(std.testing.allocator);
    var i: usize = 6;
    while (i < out.len) {
        try std.testing.expectEqual(@as(u8, 0x94), out[i]);
        const kl = out[i + 2];
        const vl = out[i + 4 + kl];
        if (s.items.len > 0) try s.append('|');
        try s.appendSlice(out[i + 5 + kl ..][0..vl]);
        i += 5 + kl + vl + 2;
    }
    return s.toOwnedSlice();
}

test "split emits each lower-cased word keyed by itself" {
    try initWith("split");
    const f = frame(&.{.{ "", "Hello, World! x2 héllo--OK" }});
    defer std.testing.allocator.free(f);
    const got = try values(try Op.process(f));
    defer std.testing.allocator.free(got);
    try std.testing.expectEqualStrings("hello|world|x2|h|llo|ok", got);
}

test "count adds to the word's counter and emits word count" {
    ws.testing.resetState();
    defer ws.testing.resetState();
    try initWith("count");
    const f = frame(&.{ .{ "a", "a" }, .{ "b", "b" }, .{ "a", "a" } });
    defer std.testing.allocator.free(f);
    const got = try values(try Op.process(f));
    defer std.testing.allocator.free(got);
    try std.testing.expectEqualStrings("a 1|b 1|a 2", got);
    try std.testing.expectEqualSlices(u8, &[_]u8{ 2, 0, 0, 0, 0, 0, 0, 0 }, ws.testing.stateValue(0, "a", "count").?);
}

test "a bad stage fails init" {
    try std.testing.expectError(error.OperatorError, initWith("other"));
    try std.testing.expectEqualStrings("params.stage must be split or count, not \"other\"", ws.errorMessage(error.OperatorError));
}
