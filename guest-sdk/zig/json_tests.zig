//! The JSON module against the shared vectors in guest-sdk/testdata/json
//! (guards issue #9 item 3: every SDK reads and writes JSON the same way).
//! Run by `zig test wasmstream.zig` (guest-sdk/zig/test).

const std = @import("std");
const json = @import("json.zig");
const testing = std.testing;

const vectors_file = "../testdata/json/vectors.tsv";

/// A field: its text, or "hex:" and its bytes in hexadecimal.
fn field(a: std.mem.Allocator, f: []const u8) ![]u8 {
    if (std.mem.startsWith(u8, f, "hex:")) {
        const out = try a.alloc(u8, (f.len - 4) / 2);
        _ = try std.fmt.hexToBytes(out, f[4..]);
        return out;
    }
    return a.dupe(u8, f);
}

fn errName(e: anyerror) []const u8 {
    return switch (e) {
        error.Syntax => "error:syntax",
        error.Utf8 => "error:utf8",
        error.Depth => "error:depth",
        error.NotFound => "error:notfound",
        error.Type => "error:type",
        error.Range => "error:range",
        else => @errorName(e),
    };
}

fn run(a: std.mem.Allocator, op: []const u8, doc: []const u8, path: []const u8, arg: []const u8, want: []const u8) ![]const u8 {
    var out = std.ArrayList(u8).init(a);
    if (std.mem.eql(u8, op, "valid")) {
        json.valid(doc) catch |e| return errName(e);
        return "ok";
    }
    if (std.mem.eql(u8, op, "quote")) {
        try json.appendString(&out, arg);
        return out.items;
    }
    if (std.mem.eql(u8, op, "set")) {
        json.set(&out, doc, path, arg) catch |e| return errName(e);
        return out.items;
    }
    if (std.mem.eql(u8, op, "delete")) {
        json.delete(&out, doc, path) catch |e| return errName(e);
        return out.items;
    }
    const got = json.get(doc, path);
    if (std.mem.eql(u8, op, "equals")) {
        const v = got catch return "false";
        return if (v.textEql(arg)) "true" else "false";
    }
    const v = got catch |e| return errName(e);
    if (std.mem.eql(u8, op, "kind")) return v.kind.name();
    if (std.mem.eql(u8, op, "raw")) return v.raw;
    if (std.mem.eql(u8, op, "text")) {
        const buf = try a.alloc(u8, v.raw.len);
        return v.text(buf) catch |e| errName(e);
    }
    if (std.mem.eql(u8, op, "int")) {
        const n = v.int() catch |e| return errName(e);
        return std.fmt.allocPrint(a, "{d}", .{n});
    }
    if (std.mem.eql(u8, op, "bool")) {
        const b = v.boolean() catch |e| return errName(e);
        return if (b) "true" else "false";
    }
    if (std.mem.eql(u8, op, "float")) {
        const f = v.float() catch |e| return errName(e);
        const w = std.fmt.parseFloat(f64, want) catch std.math.nan(f64);
        if (@as(u64, @bitCast(w)) == @as(u64, @bitCast(f))) return want;
        return std.fmt.allocPrint(a, "{e}", .{f});
    }
    return std.fmt.allocPrint(a, "unknown op {s}", .{op});
}

/// getAll finds in one pass what get finds per path.
fn getAllMatchesGet(a: std.mem.Allocator, doc: []const u8, path: []const u8) !void {
    const deeper = try std.fmt.allocPrint(a, "{s}.0", .{path});
    const paths = [_][]const u8{ path, "", "id", deeper, "tags.2.deep.1", path };
    var out: [6]?json.Value = undefined;
    const all = json.getAll(doc, &paths, &out);
    for (paths, 0..) |p, i| {
        if (json.get(doc, p)) |v| {
            try all;
            try testing.expect(out[i] != null);
            try testing.expectEqual(v.kind, out[i].?.kind);
            try testing.expectEqualSlices(u8, v.raw, out[i].?.raw);
        } else |e| {
            if (e == error.NotFound) {
                try all;
                try testing.expect(out[i] == null);
            } else try testing.expectError(e, all);
        }
    }
}

test "JSON vectors" {
    var arena = std.heap.ArenaAllocator.init(testing.allocator);
    defer arena.deinit();
    const a = arena.allocator();
    const data = try std.fs.cwd().readFileAlloc(a, vectors_file, 16 << 20);
    var lines = std.mem.splitScalar(u8, data, '\n');
    var cases: usize = 0;
    var failures: usize = 0;
    var line_no: usize = 0;
    while (lines.next()) |line| {
        line_no += 1;
        if (line.len == 0 or line[0] == '#') continue;
        var f: [6][]u8 = undefined;
        var it = std.mem.splitScalar(u8, line, '\t');
        var k: usize = 0;
        while (it.next()) |part| : (k += 1) {
            if (k == 6) break;
            f[k] = try field(a, part);
        }
        try testing.expectEqual(@as(usize, 6), k);
        if (!std.mem.eql(u8, f[0], "valid") and !std.mem.eql(u8, f[0], "quote") and
            !std.mem.eql(u8, f[0], "set") and !std.mem.eql(u8, f[0], "delete"))
            try getAllMatchesGet(a, f[2], f[3]);
        const got = try run(a, f[0], f[2], f[3], f[4], f[5]);
        cases += 1;
        if (!std.mem.eql(u8, got, f[5])) {
            failures += 1;
            std.debug.print("line {d}: {s} {s}: got {s}, want {s}\n", .{ line_no, f[0], f[1], got[0..@min(got.len, 200)], f[5][0..@min(f[5].len, 200)] });
        }
    }
    try testing.expectEqual(@as(usize, 0), failures);
    try testing.expect(cases > 150);
}

test "JSON writer" {
    var out = std.ArrayList(u8).init(testing.allocator);
    defer out.deinit();
    var w = json.Writer.init(&out);
    w.beginObject();
    w.key("id");
    w.int(std.math.minInt(i64));
    w.key("q\"");
    w.text("a\nb");
    w.key("tags");
    w.beginArray();
    w.boolean(true);
    w.nul();
    w.float(1.5);
    w.float(std.math.nan(f64));
    w.beginObject();
    w.endObject();
    w.raw("[1,2]");
    w.endArray();
    w.endObject();
    const doc = try w.finish();
    try testing.expectEqualStrings("{\"id\":-9223372036854775808,\"q\\\"\":\"a\\nb\",\"tags\":[true,null,1.5,null,{},[1,2]]}", doc);
    try json.valid(doc);

    const Misuse = struct {
        fn valueWithoutKey(x: *json.Writer) void {
            x.beginObject();
            x.int(1);
        }
        fn keyInArray(x: *json.Writer) void {
            x.beginArray();
            x.key("a");
        }
        fn wrongEnd(x: *json.Writer) void {
            x.beginArray();
            x.endObject();
        }
        fn unclosed(x: *json.Writer) void {
            x.beginArray();
        }
        fn twoDocuments(x: *json.Writer) void {
            x.int(1);
            x.int(2);
        }
        fn tooDeep(x: *json.Writer) void {
            for (0..json.max_depth + 1) |_| x.beginArray();
        }
    };
    inline for (.{ Misuse.valueWithoutKey, Misuse.keyInArray, Misuse.wrongEnd, Misuse.unclosed, Misuse.twoDocuments, Misuse.tooDeep }) |f| {
        w.reset();
        f(&w);
        try testing.expectError(error.Writer, w.finish());
    }
    w.reset();
    for (0..json.max_depth) |_| w.beginArray();
    for (0..json.max_depth) |_| w.endArray();
    try json.valid(try w.finish());
}
