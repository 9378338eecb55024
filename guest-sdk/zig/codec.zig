//! The SDK's frame codec (abi/SPEC.md, section 6): a reader that decodes
//! input frames without copying — records' byte slices point into the frame —
//! and a writer that encodes canonical output frames into one reused buffer.
//! Everything here is plain Zig with no host calls, so `zig test` runs it
//! natively.
//!
//! The reader accepts every encoding abi's Go reader accepts and rejects
//! every frame it rejects, with the same offsets and reasons, so a bad batch
//! reads the same whichever SDK saw it.

const std = @import("std");
const Allocator = std.mem.Allocator;

/// The most records one frame may carry.
pub const max_records: u32 = 1 << 24;

/// How deeply skipped values may nest.
const max_depth = 32;

/// One record header. Names may repeat; order is preserved.
pub const Header = struct {
    name: []const u8,
    /// null is msgpack nil, distinct from an empty value.
    value: ?[]const u8 = null,
};

/// One stream element.
///
/// In a handler, key, value and header names and values point into the
/// input batch: they may be modified in place (key and value) and are valid
/// until the handler returns. Copy what you keep.
pub const Record = struct {
    /// Routing key; null means no key.
    key: ?[]u8 = null,
    /// Payload; null is msgpack nil, distinct from an empty value.
    value: ?[]u8 = null,
    /// Event time, milliseconds since the Unix epoch.
    timestamp: i64 = 0,
    headers: []const Header = &.{},
    /// The named output the record goes to; "" is the default output.
    output: []const u8 = "",
};

/// One async request's result (abi/SPEC.md, section 5.2), as the input
/// frame's element 1 delivers it. Its slices point into the frame.
pub const Result = struct {
    /// The ticket submit returned.
    ticket: u64 = 0,
    /// 0 done, -1 error, -7 timed out (result_ok, result_error,
    /// result_timeout).
    status: i32 = 0,
    /// The request's context, as submitted; null is nil, distinct from
    /// empty.
    context: ?[]u8 = null,
    /// http: the response status; redis: the number of elements of an
    /// array reply, 0 otherwise; sql: the number of rows.
    code: i64 = 0,
    /// http: the response body; redis: the reply; sql: the rows as a JSON
    /// array of objects. null is nil.
    body: ?[]u8 = null,
    /// With status -1 or -7: what went wrong. null is nil.
    err: ?[]const u8 = null,
};

/// A SQL argument.
pub const Arg = union(enum) {
    nil,
    boolean: bool,
    int: i64,
    float: f64,
    str: []const u8,
    bin: []const u8,
};

/// One HTTP request header (a map str to str in the request).
pub const HttpHeader = struct {
    name: []const u8,
    value: []const u8,
};

/// An async request: its target, the context handed back with its result,
/// and the fields of the target's kind. Empty strings and slices and null
/// are left out.
pub const Request = struct {
    /// The target the pipeline file declares under async.targets.
    target: []const u8,
    /// What the result needs to finish the record (usually the record).
    context: ?[]const u8 = null,
    // http
    /// "" is the host's default, GET.
    method: []const u8 = "",
    /// With its query, appended to the target's url.
    path: []const u8 = "",
    /// Added to the target's.
    headers: []const HttpHeader = &.{},
    body: ?[]const u8 = null,
    // redis
    /// The command and its arguments.
    command: []const []const u8 = &.{},
    // sql
    /// The name of one of the target's queries.
    query: []const u8 = "",
    /// Its parameters; null leaves them out, an empty slice is [].
    args: ?[]const Arg = null,
};

/// Encodes req, a msgpack map with its keys sorted (as the host writes
/// maps) and the smallest encodings, into buf, replacing its contents.
pub fn encodeRequest(gpa: Allocator, buf: *std.ArrayListUnmanaged(u8), req: Request) Allocator.Error!void {
    var need: u64 = 64 + @as(u64, req.target.len) + req.method.len + req.path.len + req.query.len;
    if (req.context) |x| need += x.len;
    if (req.body) |x| need += x.len;
    for (req.headers) |h| need += 10 + @as(u64, h.name.len) + h.value.len;
    for (req.command) |a| need += 5 + @as(u64, a.len);
    if (req.args) |args| {
        for (args) |a| need += 10 + @as(u64, switch (a) {
            .str, .bin => |x| x.len,
            else => 0,
        });
    }
    if (need > std.math.maxInt(usize)) return error.OutOfMemory;
    buf.clearRetainingCapacity();
    try buf.ensureTotalCapacity(gpa, @intCast(need));
    const b = buf.allocatedSlice();
    var fields: u8 = 1;
    if (req.args != null) fields += 1;
    if (req.body != null) fields += 1;
    if (req.command.len != 0) fields += 1;
    if (req.context != null) fields += 1;
    if (req.headers.len != 0) fields += 1;
    if (req.method.len != 0) fields += 1;
    if (req.path.len != 0) fields += 1;
    if (req.query.len != 0) fields += 1;
    b[0] = 0x80 | fields;
    var o: usize = 1;
    if (req.args) |args| {
        o = putStr(b, o, "args");
        o = putArrayLen(b, o, args.len);
        for (args) |a| switch (a) {
            .nil => {
                b[o] = 0xc0;
                o += 1;
            },
            .boolean => |x| {
                b[o] = if (x) 0xc3 else 0xc2;
                o += 1;
            },
            .int => |x| o = putInt(b, o, x),
            .float => |x| {
                b[o] = 0xcb;
                std.mem.writeIntBig(u64, b[o + 1 ..][0..8], @as(u64, @bitCast(x)));
                o += 9;
            },
            .str => |x| o = putStr(b, o, x),
            .bin => |x| o = putBin(b, o, x),
        };
    }
    if (req.body) |x| o = putBin(b, putStr(b, o, "body"), x);
    if (req.command.len != 0) {
        o = putArrayLen(b, putStr(b, o, "command"), req.command.len);
        for (req.command) |a| o = putStr(b, o, a);
    }
    if (req.context) |x| o = putBin(b, putStr(b, o, "context"), x);
    if (req.headers.len != 0) {
        o = putStr(b, o, "headers");
        const n = req.headers.len;
        if (n <= 15) {
            b[o] = 0x80 | @as(u8, @intCast(n));
            o += 1;
        } else if (n <= 0xffff) {
            b[o] = 0xde;
            std.mem.writeIntBig(u16, b[o + 1 ..][0..2], @as(u16, @intCast(n)));
            o += 3;
        } else {
            b[o] = 0xdf;
            std.mem.writeIntBig(u32, b[o + 1 ..][0..4], @as(u32, @intCast(n)));
            o += 5;
        }
        for (req.headers) |h| o = putStr(b, putStr(b, o, h.name), h.value);
    }
    if (req.method.len != 0) o = putStr(b, putStr(b, o, "method"), req.method);
    if (req.path.len != 0) o = putStr(b, putStr(b, o, "path"), req.path);
    if (req.query.len != 0) o = putStr(b, putStr(b, o, "query"), req.query);
    o = putStr(b, putStr(b, o, "target"), req.target);
    buf.items.len = o;
}

/// Appends results to frame (as Writer.bytes returns it) as its element 1,
/// as the host writes them: the frame then starts 0x92.
pub fn appendResults(gpa: Allocator, frame: *std.ArrayListUnmanaged(u8), results: []const Result) Allocator.Error!void {
    if (results.len == 0) return;
    var need: u64 = 5;
    for (results) |r| {
        need += 1 + 9 + 9 + 5 + 9 + 5 + 5;
        if (r.context) |x| need += x.len;
        if (r.body) |x| need += x.len;
        if (r.err) |x| need += x.len;
    }
    if (need > std.math.maxInt(usize)) return error.OutOfMemory;
    try frame.ensureUnusedCapacity(gpa, @intCast(need));
    frame.items[0] = 0x92;
    const b = frame.allocatedSlice();
    var o = frame.items.len;
    b[o] = 0xdd;
    std.mem.writeIntBig(u32, b[o + 1 ..][0..4], @as(u32, @intCast(results.len)));
    o += 5;
    for (results) |r| {
        b[o] = 0x96;
        o = putInt(b, o + 1, @bitCast(r.ticket));
        o = putInt(b, o, r.status);
        o = putBin(b, o, r.context);
        o = putInt(b, o, r.code);
        o = putBin(b, o, r.body);
        if (r.err) |e| {
            o = putStr(b, o, e);
        } else {
            b[o] = 0xc0;
            o += 1;
        }
    }
    frame.items.len = o;
}

pub const Error = error{Malformed};

/// Where and why a frame failed to decode.
pub const Fault = struct {
    offset: usize = 0,
    buf: [200]u8 = undefined,
    len: usize = 0,

    pub fn reason(f: *const Fault) []const u8 {
        return f.buf[0..f.len];
    }

    pub fn format(f: Fault, comptime _: []const u8, _: std.fmt.FormatOptions, w: anytype) !void {
        try w.print("malformed frame at byte {d}: {s}", .{ f.offset, f.reason() });
    }
};

fn be16(p: []const u8) usize {
    return std.mem.readIntBig(u16, p[0..2]);
}

fn be32(p: []const u8) usize {
    return std.mem.readIntBig(u32, p[0..4]);
}

/// What a msgpack type byte holds, in abi's words.
pub fn typeName(c: u8) []const u8 {
    return switch (c) {
        0x00...0x7f, 0xe0...0xff, 0xcc...0xd3 => "an integer",
        0x80...0x8f, 0xde, 0xdf => "a map",
        0x90...0x9f, 0xdc, 0xdd => "an array",
        0xa0...0xbf, 0xd9...0xdb => "a string",
        0xc0 => "nil",
        0xc2, 0xc3 => "a boolean",
        0xc4...0xc6 => "bin",
        0xca, 0xcb => "a float",
        0xc1 => "the unused byte 0xc1",
        else => "an extension",
    };
}

/// A decoding position in a msgpack buffer that records the first fault.
/// Reader and the config decoder share it.
pub const Cursor = struct {
    src: []u8,
    off: usize = 0,
    fault: *Fault,

    pub fn fail(c: *Cursor, at: usize, comptime fmt: []const u8, args: anytype) Error {
        c.fault.offset = at;
        const s = std.fmt.bufPrint(&c.fault.buf, fmt, args) catch c.fault.buf[0..];
        c.fault.len = s.len;
        return error.Malformed;
    }

    inline fn need(c: *Cursor, n: usize) Error!void {
        if (c.src.len - c.off < n) return c.fail(c.off, "need {d} bytes, {d} left", .{ n, c.src.len - c.off });
    }

    /// Reads an array header.
    pub inline fn arrayLen(c: *Cursor) Error!usize {
        try c.need(1);
        const b = c.src[c.off];
        switch (b) {
            0x90...0x9f => {
                c.off += 1;
                return b & 0x0f;
            },
            0xdc => {
                try c.need(3);
                const n = be16(c.src[c.off + 1 ..]);
                c.off += 3;
                return n;
            },
            0xdd => {
                try c.need(5);
                const n = be32(c.src[c.off + 1 ..]);
                c.off += 5;
                return n;
            },
            else => return c.fail(c.off, "want an array, found {s}", .{typeName(b)}),
        }
    }

    /// Reads nil, bin or str, returning a slice of the buffer. canonical is
    /// cleared unless the encoding is the one a writer produces: nil or the
    /// smallest bin (the smallest str when want_str).
    pub inline fn bytesOrNil(c: *Cursor, comptime field: []const u8, comptime want_str: bool, canonical: *bool) Error!?[]u8 {
        try c.need(1);
        const src = c.src;
        const o = c.off;
        const b = src[o];
        var n: usize = undefined;
        var hdr: usize = undefined;
        switch (b) {
            0xc0 => {
                c.off = o + 1;
                return null;
            },
            0xa0...0xbf => {
                n = b & 0x1f;
                hdr = 1;
                if (!want_str) canonical.* = false;
            },
            0xc4, 0xd9 => {
                try c.need(2);
                n = src[o + 1];
                hdr = 2;
                if (b != (if (want_str) 0xd9 else 0xc4) or (want_str and n <= 31)) canonical.* = false;
            },
            0xc5, 0xda => {
                try c.need(3);
                n = be16(src[o + 1 ..]);
                hdr = 3;
                if (b != (if (want_str) 0xda else 0xc5) or n <= 0xff) canonical.* = false;
            },
            0xc6, 0xdb => {
                try c.need(5);
                n = be32(src[o + 1 ..]);
                hdr = 5;
                if (b != (if (want_str) 0xdb else 0xc6) or n <= 0xffff) canonical.* = false;
            },
            else => return c.fail(o, field ++ ": want bin, str or nil, found {s}", .{typeName(b)}),
        }
        if (src.len - o - hdr < n) return c.fail(o, field ++ ": {d}-byte value runs past the end of the frame", .{n});
        const s = o + hdr;
        c.off = s + n;
        return src[s .. s + n];
    }

    /// Reads an integer that fits in an i64, clearing canonical unless it is
    /// the smallest encoding.
    pub inline fn int(c: *Cursor, comptime field: []const u8, canonical: *bool) Error!i64 {
        try c.need(1);
        const src = c.src;
        const o = c.off;
        const b = src[o];
        switch (b) {
            0x00...0x7f => {
                c.off = o + 1;
                return b;
            },
            0xe0...0xff => {
                c.off = o + 1;
                return @as(i8, @bitCast(b));
            },
            0xcc...0xd3 => {},
            else => return c.fail(o, field ++ ": want an integer, found {s}", .{typeName(b)}),
        }
        const size: usize = switch (b) {
            0xcc, 0xd0 => 1,
            0xcd, 0xd1 => 2,
            0xce, 0xd2 => 4,
            else => 8,
        };
        try c.need(1 + size);
        const p = src[o + 1 ..];
        c.off = o + 1 + size;
        const v: i64 = switch (b) {
            0xcc => p[0],
            0xcd => std.mem.readIntBig(u16, p[0..2]),
            0xce => std.mem.readIntBig(u32, p[0..4]),
            0xcf => blk: {
                const u = std.mem.readIntBig(u64, p[0..8]);
                if (u > std.math.maxInt(i64)) return c.fail(o, field ++ ": {d} overflows int64", .{u});
                break :blk @intCast(u);
            },
            0xd0 => @as(i8, @bitCast(p[0])),
            0xd1 => std.mem.readIntBig(i16, p[0..2]),
            0xd2 => std.mem.readIntBig(i32, p[0..4]),
            else => std.mem.readIntBig(i64, p[0..8]),
        };
        if (b != intTag(v)) canonical.* = false;
        return v;
    }

    /// Passes over one msgpack value of any type.
    pub fn skip(c: *Cursor, depth: u32) Error!void {
        if (depth > max_depth) return c.fail(c.off, "values nested too deeply", .{});
        try c.need(1);
        const src = c.src;
        const b = src[c.off];
        var size: usize = 0; // payload bytes to jump
        var items: u64 = 0; // child values to skip
        var hdr: usize = 1;
        switch (b) {
            0x00...0x7f, 0xe0...0xff, 0xc0, 0xc2, 0xc3 => {},
            0xa0...0xbf => size = b & 0x1f,
            0x90...0x9f => items = b & 0x0f,
            0x80...0x8f => items = 2 * @as(usize, b & 0x0f),
            0xcc, 0xd0 => size = 1,
            0xcd, 0xd1, 0xd4 => size = 2,
            0xce, 0xd2, 0xca => size = 4,
            0xcf, 0xd3, 0xcb => size = 8,
            0xd5 => size = 3,
            0xd6 => size = 5,
            0xd7 => size = 9,
            0xd8 => size = 17,
            0xc4, 0xd9, 0xc7 => {
                try c.need(2);
                size = src[c.off + 1];
                hdr = 2;
                if (b == 0xc7) size += 1;
            },
            0xc5, 0xda, 0xc8, 0xdc, 0xde => {
                try c.need(3);
                const n = be16(src[c.off + 1 ..]);
                hdr = 3;
                switch (b) {
                    0xdc => items = n,
                    0xde => items = 2 * n,
                    0xc8 => size = n + 1,
                    else => size = n,
                }
            },
            0xc6, 0xdb, 0xc9, 0xdd, 0xdf => {
                try c.need(5);
                const n = be32(src[c.off + 1 ..]);
                hdr = 5;
                switch (b) {
                    0xdd => items = n,
                    0xdf => items = 2 * @as(u64, n),
                    0xc9 => size = n + 1,
                    else => size = n,
                }
            },
            0xc1 => return c.fail(c.off, "invalid msgpack type byte 0x{x:0>2}", .{b}),
        }
        const left = src.len - c.off - hdr;
        if (left < size) return c.fail(c.off, "value runs past the end of the frame", .{});
        if (items > left) return c.fail(c.off, "container of {d} items but only {d} bytes left", .{ items, left });
        c.off += hdr + size;
        var i: u64 = 0;
        while (i < items) : (i += 1) try c.skip(depth + 1);
    }
};

/// The first byte of the smallest msgpack encoding of v.
fn intTag(v: i64) u8 {
    if (v >= 0) {
        if (v <= 0x7f) return @intCast(v);
        if (v <= 0xff) return 0xcc;
        if (v <= 0xffff) return 0xcd;
        if (v <= 0xffff_ffff) return 0xce;
        return 0xcf;
    }
    if (v >= -32) return @bitCast(@as(i8, @intCast(v)));
    if (v >= -0x80) return 0xd0;
    if (v >= -0x8000) return 0xd1;
    if (v >= -0x8000_0000) return 0xd2;
    return 0xd3;
}

/// Reader decodes the records of one frame without copying. Not safe for
/// concurrent use.
pub const Reader = struct {
    cur: Cursor = .{ .src = &.{}, .fault = undefined },
    fault: Fault = .{},
    left: usize = 0,
    total: usize = 0, // the records the frame declares
    extra: usize = 0, // reserved frame elements after the records array
    failed: bool = false,
    headers: []Header = &.{}, // grow-only, reused for every record's headers

    /// The last record decoded, as decoded, where its encoding lies in the
    /// frame and whether that encoding is canonical.
    last: Record = .{},
    raw_start: usize = 0,
    raw_end: usize = 0,
    canonical: bool = false,

    /// Starts decoding frame and checks its header.
    pub fn reset(r: *Reader, frame: []u8) Error!void {
        r.cur = .{ .src = frame, .fault = &r.fault };
        r.left = 0;
        r.total = 0;
        r.extra = 0;
        r.failed = false;
        r.canonical = false;
        errdefer r.failed = true;
        const c = &r.cur;
        const total = try c.arrayLen();
        if (total < 1) return c.fail(0, "frame is an empty array; want [records, ...]", .{});
        const count = try c.arrayLen();
        if (count > max_records) return c.fail(1, "frame declares {d} records; the limit is {d}", .{ count, max_records });
        // Every record takes at least 5 bytes.
        if (@as(u64, count) * 5 > frame.len - c.off) return c.fail(1, "frame declares {d} records but has only {d} bytes left", .{ count, frame.len - c.off });
        r.left = count;
        r.total = count;
        r.extra = total - 1;
    }

    /// The number of records the frame holds.
    pub fn len(r: *const Reader) usize {
        return r.total;
    }

    /// Decodes the next record, or returns null after the last one. The
    /// record's slices point into the frame; its headers slice points into
    /// the reader's header array, overwritten by the next call.
    pub fn next(r: *Reader, gpa: Allocator) (Error || Allocator.Error)!?Record {
        if (r.left == 0 or r.failed) return null;
        errdefer r.failed = true;
        const c = &r.cur;
        const start = c.off;
        var canonical = true;
        var rec: Record = .{};
        var n: usize = undefined;
        if (c.off < c.src.len and c.src[c.off] == 0x94) {
            n = 4;
            c.off += 1;
        } else {
            n = try c.arrayLen();
            if (n < 4) return c.fail(start, "record has {d} fields; want at least 4 (key, value, timestamp, headers)", .{n});
            canonical = false;
        }
        rec.key = try c.bytesOrNil("key", false, &canonical);
        rec.value = try c.bytesOrNil("value", false, &canonical);
        rec.timestamp = try c.int("timestamp", &canonical);
        try c.need(1);
        if (c.src[c.off] == 0xc0) {
            c.off += 1;
        } else {
            rec.headers = try r.readHeaders(gpa, &canonical);
        }
        if (n >= 5) {
            const out = try c.bytesOrNil("output", false, &canonical);
            if (out) |o| rec.output = o;
            var i: usize = 5;
            while (i < n) : (i += 1) try c.skip(0);
        }
        r.last = rec;
        r.raw_start = start;
        r.raw_end = c.off;
        r.canonical = canonical;
        r.left -= 1;
        return rec;
    }

    fn readHeaders(r: *Reader, gpa: Allocator, canonical: *bool) (Error || Allocator.Error)![]const Header {
        const c = &r.cur;
        const at = c.off;
        const first = c.src[at];
        const n = try c.arrayLen();
        if (n % 2 != 0) return c.fail(at, "headers: array of {d} items; want name/value pairs", .{n});
        if (n > c.src.len - c.off) return c.fail(at, "headers: {d} items but only {d} bytes left", .{ n, c.src.len - c.off });
        // A writer writes no headers as nil and uses the smallest array.
        if (n == 0 or first != (if (n <= 15) 0x90 | @as(u8, @intCast(n)) else if (n <= 0xffff) @as(u8, 0xdc) else @as(u8, 0xdd))) canonical.* = false;
        if (r.headers.len < n / 2) {
            const grown = try gpa.alloc(Header, @max(n / 2, 2 * r.headers.len, 8));
            gpa.free(r.headers);
            r.headers = grown;
        }
        var i: usize = 0;
        while (i < n / 2) : (i += 1) {
            const name = try c.bytesOrNil("header name", true, canonical);
            if (name == null) canonical.* = false;
            const value = try c.bytesOrNil("header value", false, canonical);
            r.headers[i] = .{ .name = name orelse "", .value = value };
        }
        return r.headers[0 .. n / 2];
    }

    /// After the last record: reads the header of the frame's async results
    /// (element 1) and returns how many there are, 0 when it has none.
    /// Read them with nextResult.
    pub fn resultsLen(r: *Reader) Error!usize {
        if (r.extra == 0) return 0;
        r.extra -= 1;
        const c = &r.cur;
        const n = try c.arrayLen();
        // Every result takes at least 7 bytes.
        if (@as(u64, n) * 7 > c.src.len - c.off) return c.fail(c.off, "frame declares {d} async results but has only {d} bytes left", .{ n, c.src.len - c.off });
        return n;
    }

    /// Decodes the frame's i-th async result: any valid encoding of its
    /// fields' types, with fields past the sixth skipped.
    pub fn nextResult(r: *Reader, i: usize) Error!Result {
        const c = &r.cur;
        const at = c.off;
        const f = try c.arrayLen();
        if (f < 6) return c.fail(at, "async result {d} has {d} fields; want 6", .{ i, f });
        var canonical = true;
        var res: Result = .{};
        res.ticket = @bitCast(try c.int("ticket", &canonical));
        res.status = @truncate(try c.int("status", &canonical));
        res.context = try c.bytesOrNil("context", false, &canonical);
        res.code = try c.int("code", &canonical);
        res.body = try c.bytesOrNil("body", false, &canonical);
        res.err = try c.bytesOrNil("error", true, &canonical);
        var j: usize = 6;
        while (j < f) : (j += 1) try c.skip(0);
        return res;
    }

    /// Checks the rest of the frame after the last record: reserved
    /// elements are skipped and no bytes may follow.
    pub fn close(r: *Reader) Error!void {
        const c = &r.cur;
        if (r.left != 0) return c.fail(c.off, "{d} records left unread", .{r.left});
        var i: usize = 0;
        while (i < r.extra) : (i += 1) try c.skip(0);
        if (c.off != c.src.len) return c.fail(c.off, "{d} trailing bytes after the frame", .{c.src.len - c.off});
    }

    /// Reports whether rec is the record last decoded with nothing changed
    /// but the contents of its key and value (same slices, same header
    /// slice), and that record was encoded canonically: then raw() is
    /// exactly what Writer.append would write for rec, in-place edits
    /// included.
    pub inline fn unchanged(r: *const Reader, rec: *const Record) bool {
        const l = &r.last;
        return r.canonical and rec.timestamp == l.timestamp and rec.output.len == 0 and
            sameBytes(rec.key, l.key) and sameBytes(rec.value, l.value) and
            rec.headers.len == l.headers.len and (rec.headers.len == 0 or rec.headers.ptr == l.headers.ptr);
    }

    /// The encoding of the last record decoded.
    pub fn raw(r: *const Reader) []const u8 {
        return r.cur.src[r.raw_start..r.raw_end];
    }

    pub fn deinit(r: *Reader, gpa: Allocator) void {
        gpa.free(r.headers);
        r.headers = &.{};
    }
};

inline fn sameBytes(a: ?[]const u8, b: ?[]const u8) bool {
    if (a) |x| {
        const y = b orelse return false;
        return x.ptr == y.ptr and x.len == y.len;
    }
    return b == null;
}

/// Writer encodes a canonical frame into a grow-only buffer it keeps between
/// frames. Not safe for concurrent use.
pub const Writer = struct {
    buf: []u8 = &.{},
    end: usize = 0,
    n: u32 = 0,

    /// Starts a new frame.
    pub fn reset(w: *Writer, gpa: Allocator) Allocator.Error!void {
        w.end = 0;
        w.n = 0;
        try w.ensure(gpa, 6);
        w.buf[0] = 0x91;
        w.buf[1] = 0xdd;
        w.end = 6;
    }

    /// How many records have been appended since reset.
    pub fn count(w: *const Writer) u32 {
        return w.n;
    }

    /// Makes room for n more bytes.
    pub inline fn ensure(w: *Writer, gpa: Allocator, n: u64) Allocator.Error!void {
        if (w.buf.len - w.end < n) try w.grow(gpa, n);
    }

    fn grow(w: *Writer, gpa: Allocator, n: u64) Allocator.Error!void {
        const want = @max(@as(u64, w.end) + n, 2 * @as(u64, w.buf.len), 64 << 10);
        if (want > std.math.maxInt(usize)) return error.OutOfMemory;
        const nb = try gpa.alloc(u8, @intCast(want));
        @memcpy(nb[0..w.end], w.buf[0..w.end]);
        gpa.free(w.buf);
        w.buf = nb;
    }

    /// Appends one record's canonical encoding.
    pub fn append(w: *Writer, gpa: Allocator, r: *const Record) Allocator.Error!void {
        var need: u64 = 1 + 5 + 5 + 9 + 5 + 5 + @as(u64, r.output.len);
        if (r.key) |k| need += k.len;
        if (r.value) |v| need += v.len;
        for (r.headers) |h| {
            need += 10 + @as(u64, h.name.len);
            if (h.value) |v| need += v.len;
        }
        try w.ensure(gpa, need);
        const b = w.buf;
        var o = w.end;
        b[o] = if (r.output.len == 0) 0x94 else 0x95;
        o += 1;
        o = putBin(b, o, r.key);
        o = putBin(b, o, r.value);
        o = putInt(b, o, r.timestamp);
        if (r.headers.len == 0) {
            b[o] = 0xc0;
            o += 1;
        } else {
            const n = 2 * r.headers.len;
            if (n <= 15) {
                b[o] = 0x90 | @as(u8, @intCast(n));
                o += 1;
            } else if (n <= 0xffff) {
                b[o] = 0xdc;
                std.mem.writeIntBig(u16, b[o + 1 ..][0..2], @as(u16, @intCast(n)));
                o += 3;
            } else {
                b[o] = 0xdd;
                std.mem.writeIntBig(u32, b[o + 1 ..][0..4], @as(u32, @intCast(n)));
                o += 5;
            }
            for (r.headers) |h| {
                o = putStr(b, o, h.name);
                o = putBin(b, o, h.value);
            }
        }
        if (r.output.len != 0) o = putStr(b, o, r.output);
        w.end = o;
        w.n += 1;
    }

    /// Appends one record already encoded canonically.
    pub inline fn appendRaw(w: *Writer, gpa: Allocator, raw: []const u8) Allocator.Error!void {
        try w.ensure(gpa, raw.len);
        @memcpy(w.buf[w.end..][0..raw.len], raw);
        w.end += raw.len;
        w.n += 1;
    }

    /// Finishes the frame and returns it; valid until the next reset.
    pub fn bytes(w: *Writer) []u8 {
        std.mem.writeIntBig(u32, w.buf[2..6], w.n);
        return w.buf[0..w.end];
    }

    pub fn deinit(w: *Writer, gpa: Allocator) void {
        gpa.free(w.buf);
        w.* = .{};
    }
};

inline fn putBin(b: []u8, at: usize, v: ?[]const u8) usize {
    var o = at;
    const x = v orelse {
        b[o] = 0xc0;
        return o + 1;
    };
    if (x.len <= 0xff) {
        b[o] = 0xc4;
        b[o + 1] = @intCast(x.len);
        o += 2;
    } else if (x.len <= 0xffff) {
        b[o] = 0xc5;
        std.mem.writeIntBig(u16, b[o + 1 ..][0..2], @as(u16, @intCast(x.len)));
        o += 3;
    } else {
        b[o] = 0xc6;
        std.mem.writeIntBig(u32, b[o + 1 ..][0..4], @as(u32, @intCast(x.len)));
        o += 5;
    }
    @memcpy(b[o..][0..x.len], x);
    return o + x.len;
}

inline fn putArrayLen(b: []u8, at: usize, n: usize) usize {
    if (n <= 15) {
        b[at] = 0x90 | @as(u8, @intCast(n));
        return at + 1;
    } else if (n <= 0xffff) {
        b[at] = 0xdc;
        std.mem.writeIntBig(u16, b[at + 1 ..][0..2], @as(u16, @intCast(n)));
        return at + 3;
    }
    b[at] = 0xdd;
    std.mem.writeIntBig(u32, b[at + 1 ..][0..4], @as(u32, @intCast(n)));
    return at + 5;
}

inline fn putStr(b: []u8, at: usize, s: []const u8) usize {
    var o = at;
    if (s.len <= 31) {
        b[o] = 0xa0 | @as(u8, @intCast(s.len));
        o += 1;
    } else if (s.len <= 0xff) {
        b[o] = 0xd9;
        b[o + 1] = @intCast(s.len);
        o += 2;
    } else if (s.len <= 0xffff) {
        b[o] = 0xda;
        std.mem.writeIntBig(u16, b[o + 1 ..][0..2], @as(u16, @intCast(s.len)));
        o += 3;
    } else {
        b[o] = 0xdb;
        std.mem.writeIntBig(u32, b[o + 1 ..][0..4], @as(u32, @intCast(s.len)));
        o += 5;
    }
    @memcpy(b[o..][0..s.len], s);
    return o + s.len;
}

inline fn putInt(b: []u8, at: usize, v: i64) usize {
    const tag = intTag(v);
    b[at] = tag;
    switch (tag) {
        0xcc, 0xd0 => {
            b[at + 1] = @truncate(@as(u64, @bitCast(v)));
            return at + 2;
        },
        0xcd, 0xd1 => {
            std.mem.writeIntBig(u16, b[at + 1 ..][0..2], @as(u16, @truncate(@as(u64, @bitCast(v)))));
            return at + 3;
        },
        0xce, 0xd2 => {
            std.mem.writeIntBig(u32, b[at + 1 ..][0..4], @as(u32, @truncate(@as(u64, @bitCast(v)))));
            return at + 5;
        },
        0xcf, 0xd3 => {
            std.mem.writeIntBig(u64, b[at + 1 ..][0..8], @as(u64, @bitCast(v)));
            return at + 9;
        },
        else => return at + 1, // fixint
    }
}
