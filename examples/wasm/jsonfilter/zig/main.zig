//! A wasmstream operator that parses each record's value as JSON, keeps
//! only the records whose "event" is "click" and keys each kept record by
//! its "user.name", with the SDK's JSON reader (ws.json): it allocates
//! nothing; a name with escapes is decoded into a static buffer.
//!
//! Records that are not valid JSON are dropped and counted in the metric
//! invalid_json; a kept record without a string user.name keeps its key.
//!
//! Build it with ./build OUT.wasm and run it with ../pipeline.yaml, pointing
//! its module at the output.

const std = @import("std");
const ws = @import("wasmstream");
const json = ws.json;

pub const handlers = .{ .flat_map = filterClicks };

comptime {
    ws.register(handlers);
}

pub const panic = ws.panic;

var name_buf: [4096]u8 = undefined;
const paths = [_][]const u8{ "event", "user.name" };

/// Reads both fields in one pass over the value with json.getAll.
fn filterClicks(r: ws.Record, e: *ws.Emitter) !void {
    const v = r.value orelse return;
    var vals: [2]?json.Value = undefined;
    json.getAll(v, &paths, &vals) catch {
        ws.count("invalid_json", 1);
        return;
    };
    const ev = vals[0] orelse return;
    if (!ev.textEql("click")) return;
    var kept = r;
    if (vals[1]) |name| {
        if (name.text(&name_buf)) |key| kept.key = @constCast(key) else |_| {}
    }
    try e.emit(kept); // encoded at once: name_buf may be reused
}

const Op = ws.Operator(handlers);

fn frame(comptime values: []const []const u8) []u8 {
    var b = std.ArrayList(u8).init(std.testing.allocator);
    b.appendSlice(&[_]u8{ 0x91, 0xdd, 0, 0, 0, @intCast(values.len) }) catch unreachable;
    for (values) |v| {
        b.appendSlice(&[_]u8{ 0x94, 0xc0, 0xc4, @intCast(v.len) }) catch unreachable;
        b.appendSlice(v) catch unreachable;
        b.appendSlice(&[_]u8{ 0, 0xc0 }) catch unreachable;
    }
    return b.toOwnedSlice() catch unreachable;
}

/// The keys of an output frame's records (nil keys as "-"), joined by "|".
fn keys(out: []const u8) ![]u8 {
    var s = std.ArrayList(u8).init(std.testing.allocator);
    var i: usize = 6;
    while (i < out.len) {
        try std.testing.expectEqual(@as(u8, 0x94), out[i]);
        if (s.items.len > 0) try s.append('|');
        var j = i + 1;
        if (out[j] == 0xc0) {
            try s.append('-');
            j += 1;
        } else {
            const kl = out[j + 1];
            try s.appendSlice(out[j + 2 ..][0..kl]);
            j += 2 + kl;
        }
        const vl = out[j + 1];
        i = j + 2 + vl + 2;
    }
    return s.toOwnedSlice();
}

// Guards issue #9 item 3: clicks are kept, keyed by the decoded user name;
// everything else is dropped.
test "keeps clicks keyed by user" {
    const f = frame(&.{
        "{\"event\":\"click\",\"user\":{\"name\":\"ada\"}}",
        "{\"event\":\"view\",\"user\":{\"name\":\"bob\"}}",
        "{\"event\":\"click\",\"user\":{\"name\":\"Z\\u00fcrich\"}}",
        "{\"event\":\"click\"}",
        "{\"event\":\"click\",",
    });
    defer std.testing.allocator.free(f);
    const got = try keys(try Op.process(f));
    defer std.testing.allocator.free(got);
    try std.testing.expectEqualStrings("ada|Z\xc3\xbcrich|-", got);
}
