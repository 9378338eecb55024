//! The operator's configuration (abi/SPEC.md, section 4, "init"): decoded
//! from the host's init payload, which the SDK copies and keeps, so strings
//! and params stay valid for the instance's lifetime.

const std = @import("std");
const Allocator = std.mem.Allocator;
const codec = @import("codec.zig");
const host = @import("host.zig");
const Cursor = codec.Cursor;

/// One msgpack value of the params, read without copying.
pub const Value = union(enum) {
    nil,
    boolean: bool,
    int: i64,
    /// Integers above maxInt(i64).
    uint: u64,
    float: f64,
    string: []const u8,
    binary: []const u8,
    array: Array,
    map: Map,

    /// The value's type as the SDK's messages name it: "a string", ...
    pub fn kind(v: Value) []const u8 {
        return switch (v) {
            .nil => "nil",
            .boolean => "a boolean",
            .int, .uint => "an integer",
            .float => "a float",
            .string => "a string",
            .binary => "bin",
            .array => "an array",
            .map => "a map",
        };
    }
};

/// A msgpack array: len elements encoded in bytes.
pub const Array = struct {
    len: usize,
    bytes: []const u8,

    pub fn iterator(a: Array) Iterator {
        return .{ .bytes = a.bytes, .left = a.len };
    }

    pub const Iterator = struct {
        bytes: []const u8,
        off: usize = 0,
        left: usize,

        pub fn next(it: *Iterator) ?Value {
            if (it.left == 0) return null;
            it.left -= 1;
            return readAt(it.bytes, &it.off);
        }
    };
};

/// A msgpack map with len entries encoded in bytes.
pub const Map = struct {
    len: usize = 0,
    bytes: []const u8 = &.{},

    pub const Entry = struct { key: Value, value: Value };

    pub fn iterator(m: Map) Iterator {
        return .{ .bytes = m.bytes, .left = m.len };
    }

    /// The value of the first entry whose key is the string name.
    pub fn get(m: Map, name: []const u8) ?Value {
        var it = m.iterator();
        while (it.next()) |e| {
            if (e.key == .string and std.mem.eql(u8, e.key.string, name)) return e.value;
        }
        return null;
    }

    pub const Iterator = struct {
        bytes: []const u8,
        off: usize = 0,
        left: usize,

        pub fn next(it: *Iterator) ?Entry {
            if (it.left == 0) return null;
            it.left -= 1;
            const k = readAt(it.bytes, &it.off) orelse return null;
            const v = readAt(it.bytes, &it.off) orelse return null;
            return .{ .key = k, .value = v };
        }
    };
};

/// Reads a value of an already validated payload.
fn readAt(bytes: []const u8, off: *usize) ?Value {
    var fault: codec.Fault = .{};
    var c = Cursor{ .src = @constCast(bytes), .off = off.*, .fault = &fault };
    const v = readValue(&c) catch return null;
    off.* = c.off;
    return v;
}

/// Decodes one value; arrays and maps are validated and returned as their
/// encoding.
pub fn readValue(c: *Cursor) codec.Error!Value {
    if (c.off >= c.src.len) return c.fail(c.off, "need 1 bytes, 0 left", .{});
    const src = c.src;
    const o = c.off;
    const b = src[o];
    var ignored = true;
    switch (b) {
        0xc0 => {
            c.off += 1;
            return .nil;
        },
        0xc2, 0xc3 => {
            c.off += 1;
            return .{ .boolean = b == 0xc3 };
        },
        0xcf => {
            if (src.len - o < 9) return c.fail(o, "need 9 bytes, {d} left", .{src.len - o});
            const u = std.mem.readIntBig(u64, src[o + 1 ..][0..8]);
            c.off += 9;
            if (u > std.math.maxInt(i64)) return .{ .uint = u };
            return .{ .int = @intCast(u) };
        },
        0x00...0x7f, 0xe0...0xff, 0xcc...0xce, 0xd0...0xd3 => return .{ .int = try c.int("value", &ignored) },
        0xca => {
            if (src.len - o < 5) return c.fail(o, "need 5 bytes, {d} left", .{src.len - o});
            c.off += 5;
            return .{ .float = @as(f32, @bitCast(std.mem.readIntBig(u32, src[o + 1 ..][0..4]))) };
        },
        0xcb => {
            if (src.len - o < 9) return c.fail(o, "need 9 bytes, {d} left", .{src.len - o});
            c.off += 9;
            return .{ .float = @bitCast(std.mem.readIntBig(u64, src[o + 1 ..][0..8])) };
        },
        0xa0...0xbf, 0xd9...0xdb => return .{ .string = (try c.bytesOrNil("value", true, &ignored)).? },
        0xc4...0xc6 => return .{ .binary = (try c.bytesOrNil("value", false, &ignored)).? },
        0x90...0x9f, 0xdc, 0xdd => {
            const n = try c.arrayLen();
            if (n > src.len - c.off) return c.fail(c.off, "array longer than the bytes left", .{});
            const start = c.off;
            var i: usize = 0;
            while (i < n) : (i += 1) _ = try readValue(c);
            return .{ .array = .{ .len = n, .bytes = src[start..c.off] } };
        },
        0x80...0x8f, 0xde, 0xdf => {
            var n: usize = undefined;
            if (b <= 0x8f) {
                n = b & 0x0f;
                c.off += 1;
            } else if (b == 0xde) {
                if (src.len - o < 3) return c.fail(o, "need 3 bytes, {d} left", .{src.len - o});
                n = std.mem.readIntBig(u16, src[o + 1 ..][0..2]);
                c.off += 3;
            } else {
                if (src.len - o < 5) return c.fail(o, "need 5 bytes, {d} left", .{src.len - o});
                n = std.mem.readIntBig(u32, src[o + 1 ..][0..4]);
                c.off += 5;
            }
            if (2 * @as(u64, n) > src.len - c.off) return c.fail(c.off, "map longer than the bytes left", .{});
            const start = c.off;
            var i: usize = 0;
            while (i < n) : (i += 1) {
                const k = try readValue(c);
                if (k != .string) return c.fail(c.off, "map key is {s}; want a string", .{k.kind()});
                _ = try readValue(c);
            }
            return .{ .map = .{ .len = n, .bytes = src[start..c.off] } };
        },
        else => return c.fail(o, "unsupported msgpack type {s}", .{codec.typeName(b)}),
    }
}

/// An operator instance's configuration, passed to the on_init hook. Its
/// strings point into a copy of the init payload the SDK keeps for the
/// instance's lifetime, so the hook may keep them.
pub const Config = struct {
    /// The pipeline's name.
    pipeline: []const u8 = "",
    /// The operator's name in the pipeline.
    operator: []const u8 = "",
    /// 0-based index of this instance among the operator's instances.
    instance: i64 = 0,
    /// The named outputs the pipeline connects.
    outputs: []const []const u8 = &.{},
    /// The operator's params, as written in the pipeline file.
    params: Map = .{},

    pub const ParamError = error{ParamType};

    /// Reports whether the pipeline connects the named output.
    pub fn hasOutput(c: *const Config, name: []const u8) bool {
        for (c.outputs) |o| {
            if (std.mem.eql(u8, o, name)) return true;
        }
        return false;
    }

    /// The param name, or null when it is absent or nil.
    pub fn param(c: *const Config, name: []const u8) ?Value {
        const v = c.params.get(name) orelse return null;
        return if (v == .nil) null else v;
    }

    fn wrong(_: *const Config, name: []const u8, want: []const u8, got: Value) ParamError {
        return host.fail(error.ParamType, "params.{s}: want {s}, got {s}", .{ name, want, got.kind() });
    }

    /// The string param name, or default when it is absent or nil; another
    /// type is error.ParamType, with a message naming the param.
    pub fn string(c: *const Config, name: []const u8, default: []const u8) ParamError![]const u8 {
        const v = c.param(name) orelse return default;
        return switch (v) {
            .string => |s| s,
            else => c.wrong(name, "a string", v),
        };
    }

    /// The boolean param name, or default when it is absent or nil.
    pub fn boolean(c: *const Config, name: []const u8, default: bool) ParamError!bool {
        const v = c.param(name) orelse return default;
        return switch (v) {
            .boolean => |b| b,
            else => c.wrong(name, "a boolean", v),
        };
    }

    /// The integer param name, or default when it is absent or nil. A float
    /// with no fractional part is accepted.
    pub fn int(c: *const Config, name: []const u8, default: i64) ParamError!i64 {
        const v = c.param(name) orelse return default;
        switch (v) {
            .int => |i| return i,
            .float => |f| if (f == @trunc(f) and f >= -0x1p63 and f < 0x1p63) return @intFromFloat(f),
            else => {},
        }
        return c.wrong(name, "an integer", v);
    }

    /// The numeric param name as a float, or default when it is absent or
    /// nil.
    pub fn float(c: *const Config, name: []const u8, default: f64) ParamError!f64 {
        const v = c.param(name) orelse return default;
        return switch (v) {
            .float => |f| f,
            .int => |i| @floatFromInt(i),
            .uint => |u| @floatFromInt(u),
            else => c.wrong(name, "a number", v),
        };
    }
};

/// Decodes the init payload, which must stay valid as long as the Config.
/// Only outputs is allocated.
pub fn decode(gpa: Allocator, payload: []u8, fault: *codec.Fault) (codec.Error || Allocator.Error)!Config {
    var c = Cursor{ .src = payload, .fault = fault };
    const v = try readValue(&c);
    if (c.off != payload.len) return c.fail(c.off, "trailing bytes after the value", .{});
    if (v != .map) return c.fail(0, "init config: want a map, found {s}", .{v.kind()});
    var cfg = Config{};
    var it = v.map.iterator();
    while (it.next()) |e| {
        const key = e.key.string;
        if (std.mem.eql(u8, key, "pipeline")) {
            if (e.value == .string) cfg.pipeline = e.value.string;
        } else if (std.mem.eql(u8, key, "operator")) {
            if (e.value == .string) cfg.operator = e.value.string;
        } else if (std.mem.eql(u8, key, "instance")) {
            if (e.value == .int) cfg.instance = e.value.int;
        } else if (std.mem.eql(u8, key, "params")) {
            if (e.value == .map) cfg.params = e.value.map;
        } else if (std.mem.eql(u8, key, "outputs")) {
            if (e.value == .array) {
                var n: usize = 0;
                var ai = e.value.array.iterator();
                while (ai.next()) |o| n += @intFromBool(o == .string);
                const outs = try gpa.alloc([]const u8, n);
                n = 0;
                ai = e.value.array.iterator();
                while (ai.next()) |o| {
                    if (o == .string) {
                        outs[n] = o.string;
                        n += 1;
                    }
                }
                cfg.outputs = outs;
            }
        }
    }
    return cfg;
}
