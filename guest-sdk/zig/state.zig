//! Keyed state (abi/SPEC.md, sections 5 and 5.1): values the host owns and
//! checkpoints, addressed by a scope (a key's, or the operator's), a key and
//! a name. Writes made during a call are applied only if the call succeeds.
//!
//!     const n = try ws.stateOf(r).add("count", 1); // a counter of the record's key
//!     if (try ws.stateOf(r).get("last")) |last| { ... }
//!     try ws.operatorState().put("seen", "yes");
//!
//! Natively (zig test) the host is replaced by an in-memory store with the
//! host's semantics, whose writes Operator(handlers) applies when a call
//! succeeds and drops when it fails; ws.testing reaches it.

const std = @import("std");
const host = @import("host.zig");
const codec = @import("codec.zig");

/// The errors of state calls. Each sets the message the host receives if
/// the handler returns it.
pub const Error = error{
    /// The value is over the pipeline's state.max_value (status -3).
    StateTooLarge,
    /// add on a value that is not a counter, or a counter of the other
    /// kind: addF64 on an int counter, add on a float one (status -4).
    NotCounter,
    /// The host failed the call (status -1: the host has set the call's
    /// error message, which the SDK then leaves as it is).
    StateFailed,
    OutOfMemory,
};

/// A value read as a list that is not one.
pub const ListError = error{NotAList};

const status_not_found = -2;
const status_too_large = -3;
const status_not_counter = -4;

const scope_key = 0;
const scope_operator = 1;

/// The buffer get reads into, grown to the largest value read, and the
/// buffer map entry names are built in.
var get_buf: []u8 = &.{};
var name_buf: []u8 = &.{};

fn grow(buf: *[]u8, n: usize) error{OutOfMemory}!void {
    if (buf.len >= n) return;
    const nb = try allocator.alloc(u8, @max(n, 2 * buf.len, 256));
    allocator.free(buf.*);
    buf.* = nb;
}

const allocator: std.mem.Allocator = if (host.is_wasm) std.heap.wasm_allocator else std.heap.page_allocator;

/// Formats a name in double quotes, escaped as Go's %q escapes ASCII (so
/// the message reads as the Go SDK's); other bytes as they are.
fn quoted(name: []const u8) std.fmt.Formatter(formatQuoted) {
    return .{ .data = name };
}

fn formatQuoted(name: []const u8, comptime _: []const u8, _: std.fmt.FormatOptions, w: anytype) !void {
    try w.writeByte('"');
    for (name) |c| switch (c) {
        '"' => try w.writeAll("\\\""),
        '\\' => try w.writeAll("\\\\"),
        '\n' => try w.writeAll("\\n"),
        '\r' => try w.writeAll("\\r"),
        '\t' => try w.writeAll("\\t"),
        0...8, 11, 12, 14...31, 127 => try w.print("\\x{x:0>2}", .{c}),
        else => try w.writeByte(c),
    };
    try w.writeByte('"');
}

/// The error for a failed status, with its message.
fn failed(st: i64, op: []const u8, name: []const u8) Error {
    return switch (st) {
        status_too_large => host.fail(error.StateTooLarge, "wasmstream: state value too large: {s} {}", .{ op, quoted(name) }),
        status_not_counter => host.fail(error.NotCounter, "wasmstream: state value is not a counter: {s} {}", .{ op, quoted(name) }),
        else => host.failByHost(error.StateFailed, "wasmstream: state {s} {} failed (status {d})", .{ op, quoted(name), st }),
    };
}

/// One key's state, or the operator's: stateOf(record), keyState(key),
/// operatorState(). Names and values are bytes.
pub const State = struct {
    /// 0 for a key's state, 1 for the operator's.
    scope: i32,
    /// The key; ignored for the operator's state.
    key: []const u8,

    /// The value of name, or null when there is none (or it expired). The
    /// bytes are in a buffer the SDK reuses: valid until the next get or
    /// list. Copy them to keep them.
    pub fn get(s: State, name: []const u8) Error!?[]const u8 {
        while (true) {
            if (get_buf.len == 0) try grow(&get_buf, 256);
            const n = host.stateGet(s.scope, s.key, name, get_buf);
            if (n == status_not_found) return null;
            if (n < 0) return failed(n, "get", name);
            const len: usize = @intCast(n);
            if (len <= get_buf.len) return get_buf[0..len];
            // Larger than the buffer: nothing was copied. Grow and read again.
            try grow(&get_buf, len);
        }
    }

    /// Sets name to val until it is deleted.
    pub fn put(s: State, name: []const u8, val: []const u8) Error!void {
        return s.putTtl(name, val, 0);
    }

    /// Sets name to val; it expires ttl_ms milliseconds from now (processing
    /// time). 0 keeps it until deleted.
    pub fn putTtl(s: State, name: []const u8, val: []const u8, ttl_ms: i64) Error!void {
        const st = host.statePut(s.scope, s.key, name, val, ttl_ms);
        if (st != 0) return failed(st, "put", name);
    }

    /// Removes name.
    pub fn delete(s: State, name: []const u8) Error!void {
        const st = host.stateDelete(s.scope, s.key, name);
        if (st != 0) return failed(st, "delete", name);
    }

    /// Adds delta to the counter name (0 when absent; an 8-byte
    /// little-endian i64) and returns the new value.
    pub fn add(s: State, name: []const u8, delta: i64) Error!i64 {
        var n: i64 = 0;
        const st = host.stateAdd(s.scope, s.key, name, delta, &n);
        if (st != 0) return failed(st, "add", name);
        return n;
    }

    /// Adds delta to the float counter name (0 when absent; an 8-byte
    /// little-endian IEEE 754 f64) and returns the new value: money, sums
    /// behind averages. Float and int counters are apart (NotCounter). A
    /// NaN or infinite delta, or a sum that overflows, fails with
    /// StateFailed and adds nothing.
    pub fn addF64(s: State, name: []const u8, delta: f64) Error!f64 {
        if (!std.math.isFinite(delta)) return host.fail(error.StateFailed, "wasmstream: state float counter would not be finite: add {d} to {}", .{ delta, quoted(name) });
        var n: f64 = 0;
        const st = host.stateAddF64(s.scope, s.key, name, delta, &n);
        if (st != 0) return failed(st, "add", name);
        return n;
    }

    /// The float counter name, 0 when absent. It only reads.
    pub fn counterF64(s: State, name: []const u8) Error!f64 {
        const v = (try s.get(name)) orelse return 0;
        if (v.len != 8) return failed(status_not_counter, "counter", name);
        return @bitCast(std.mem.readIntLittle(u64, v[0..8]));
    }

    /// The counter name, 0 when absent. It only reads.
    pub fn counter(s: State, name: []const u8) Error!i64 {
        const v = (try s.get(name)) orelse return 0;
        if (v.len != 8) return failed(status_not_counter, "counter", name);
        return std.mem.readIntLittle(i64, v[0..8]);
    }

    /// Appends an element to the list name, without reading the list.
    pub fn append(s: State, name: []const u8, elem: []const u8) Error!void {
        const st = host.stateAppend(s.scope, s.key, name, elem);
        if (st != 0) return failed(st, "append", name);
    }

    /// The elements of the list name (none when absent):
    ///
    ///     var it = try s.list("events");
    ///     while (try it.next()) |e| { ... }
    ///
    /// Elements are slices of get's buffer, valid until the next get or
    /// list.
    pub fn list(s: State, name: []const u8) Error!List {
        return .{ .rest = (try s.get(name)) orelse "", .name = name };
    }

    /// The map name: each entry is a state value of its own, named
    /// name ++ "\x00" ++ key, so reading or writing one entry never touches
    /// the others.
    pub fn map(s: State, name: []const u8) Map {
        return .{ .state = s, .name = name };
    }
};

/// The elements of a list in state, read one by one; see State.list.
pub const List = struct {
    rest: []const u8,
    name: []const u8,

    /// The next element, or null after the last.
    pub fn next(l: *List) ListError!?[]const u8 {
        const v = l.rest;
        if (v.len == 0) return null;
        var h: usize = 0;
        var n: usize = 0;
        switch (v[0]) {
            0xc4 => if (v.len >= 2) {
                h = 2;
                n = v[1];
            },
            0xc5 => if (v.len >= 3) {
                h = 3;
                n = std.mem.readIntBig(u16, v[1..3]);
            },
            0xc6 => if (v.len >= 5) {
                h = 5;
                n = std.mem.readIntBig(u32, v[1..5]);
            },
            else => {},
        }
        if (h == 0 or v.len - h < n) {
            l.rest = "";
            return host.fail(error.NotAList, "wasmstream: state {} is not a list", .{quoted(l.name)});
        }
        l.rest = v[h + n ..];
        return v[h .. h + n];
    }
};

/// A map of byte-string keys to values in state; see State.map. Its
/// methods work as State's do.
pub const Map = struct {
    state: State,
    name: []const u8,

    /// The entry's state name, name ++ "\x00" ++ k, in a reused buffer.
    fn entry(m: Map, k: []const u8) error{OutOfMemory}![]const u8 {
        const n = m.name.len + 1 + k.len;
        try grow(&name_buf, n);
        @memcpy(name_buf[0..m.name.len], m.name);
        name_buf[m.name.len] = 0;
        @memcpy(name_buf[m.name.len + 1 .. n], k);
        return name_buf[0..n];
    }

    /// The value for k, or null; valid until the next get or list.
    pub fn get(m: Map, k: []const u8) Error!?[]const u8 {
        return m.state.get(try m.entry(k));
    }

    /// Sets the value for k.
    pub fn put(m: Map, k: []const u8, val: []const u8) Error!void {
        return m.state.put(try m.entry(k), val);
    }

    /// Sets the value for k; it expires ttl_ms milliseconds from now.
    pub fn putTtl(m: Map, k: []const u8, val: []const u8, ttl_ms: i64) Error!void {
        return m.state.putTtl(try m.entry(k), val, ttl_ms);
    }

    /// Removes k.
    pub fn delete(m: Map, k: []const u8) Error!void {
        return m.state.delete(try m.entry(k));
    }

    /// Adds delta to the counter at k and returns the new value.
    pub fn add(m: Map, k: []const u8, delta: i64) Error!i64 {
        return m.state.add(try m.entry(k), delta);
    }

    /// Adds delta to the float counter at k and returns the new value.
    pub fn addF64(m: Map, k: []const u8, delta: f64) Error!f64 {
        return m.state.addF64(try m.entry(k), delta);
    }
};

/// The state of the record's key (keyed state, scope 0; a nil key is the
/// empty key). Records with one key always reach the same instance. It
/// points at the record's key: valid while the record is.
pub fn stateOf(r: codec.Record) State {
    return .{ .scope = scope_key, .key = r.key orelse "" };
}

/// The state of any key. Records with that key reach one instance;
/// touching its state from elsewhere is allowed but races with that
/// instance.
pub fn keyState(key: []const u8) State {
    return .{ .scope = scope_key, .key = key };
}

/// State shared by all instances of the operator (scope 1).
pub fn operatorState() State {
    return .{ .scope = scope_operator, .key = "" };
}
