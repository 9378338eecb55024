//! The host functions of ABI version 1 (module `wasmstream`) and the error
//! message of the current call. Natively — under `zig test` — the imports
//! are replaced: log lines go to standard error, counters to a table tests
//! can read, and state to an in-memory store with the host's semantics.

const std = @import("std");
const builtin = @import("builtin");

pub const is_wasm = builtin.target.isWasm();

extern "wasmstream" fn set_error(ptr: [*]const u8, len: usize) void;
extern "wasmstream" fn log(level: i32, ptr: [*]const u8, len: usize) void;
extern "wasmstream" fn metric_add(name_ptr: [*]const u8, name_len: usize, delta: i64) void;

extern "wasmstream" fn state_get(scope: i32, key_ptr: [*]const u8, key_len: usize, name_ptr: [*]const u8, name_len: usize, buf_ptr: [*]u8, buf_cap: usize) i64;
extern "wasmstream" fn state_put(scope: i32, key_ptr: [*]const u8, key_len: usize, name_ptr: [*]const u8, name_len: usize, val_ptr: [*]const u8, val_len: usize, ttl_ms: i64) i32;
extern "wasmstream" fn state_delete(scope: i32, key_ptr: [*]const u8, key_len: usize, name_ptr: [*]const u8, name_len: usize) i32;
extern "wasmstream" fn state_add(scope: i32, key_ptr: [*]const u8, key_len: usize, name_ptr: [*]const u8, name_len: usize, delta: i64, out: *i64) i32;
extern "wasmstream" fn state_add_f64(scope: i32, key_ptr: [*]const u8, key_len: usize, name_ptr: [*]const u8, name_len: usize, delta: f64, out: *f64) i32;
extern "wasmstream" fn async_submit(req_ptr: [*]const u8, req_len: usize) i64;
extern "wasmstream" fn state_append(scope: i32, key_ptr: [*]const u8, key_len: usize, name_ptr: [*]const u8, name_len: usize, val_ptr: [*]const u8, val_len: usize) i32;

pub fn setError(msg: []const u8) void {
    if (is_wasm) set_error(msg.ptr, msg.len);
}

pub fn writeLog(level: i32, msg: []const u8) void {
    if (is_wasm) {
        log(level, msg.ptr, msg.len);
    } else if (!builtin.is_test or native.print_logs) {
        std.debug.print("wasmstream log {d}: {s}\n", .{ level, msg });
    }
}

pub fn metricAdd(name: []const u8, delta: i64) void {
    if (is_wasm) {
        metric_add(name.ptr, name.len, delta);
    } else {
        native.metricAdd(name, delta);
    }
}

// The state imports. An empty slice's pointer may be anything; the host
// checks even a zero-length range against the memory, so pass a real one.
var empty: u8 = 0;

fn p(s: []const u8) [*]const u8 {
    return if (s.len == 0) @ptrCast(&empty) else s.ptr;
}

/// Reads a value into buf if it fits; returns its length or a status.
pub fn stateGet(scope: i32, key: []const u8, name: []const u8, buf: []u8) i64 {
    if (is_wasm) return state_get(scope, p(key), key.len, p(name), name.len, @constCast(p(buf)), buf.len);
    return native.stateGet(scope, key, name, buf);
}

pub fn statePut(scope: i32, key: []const u8, name: []const u8, val: []const u8, ttl_ms: i64) i32 {
    if (is_wasm) return state_put(scope, p(key), key.len, p(name), name.len, p(val), val.len, ttl_ms);
    return native.statePut(scope, key, name, val, ttl_ms);
}

pub fn stateDelete(scope: i32, key: []const u8, name: []const u8) i32 {
    if (is_wasm) return state_delete(scope, p(key), key.len, p(name), name.len);
    return native.stateDelete(scope, key, name);
}

var add_out: i64 = 0;

pub fn stateAdd(scope: i32, key: []const u8, name: []const u8, delta: i64, out: *i64) i32 {
    if (is_wasm) {
        const st = state_add(scope, p(key), key.len, p(name), name.len, delta, &add_out);
        out.* = add_out;
        return st;
    }
    return native.stateAdd(scope, key, name, delta, out);
}

var add_f64_out: f64 = 0;

pub fn stateAddF64(scope: i32, key: []const u8, name: []const u8, delta: f64, out: *f64) i32 {
    if (is_wasm) {
        const st = state_add_f64(scope, p(key), key.len, p(name), name.len, delta, &add_f64_out);
        out.* = add_f64_out;
        return st;
    }
    return native.stateAddF64(scope, key, name, delta, out);
}

pub fn stateAppend(scope: i32, key: []const u8, name: []const u8, val: []const u8) i32 {
    if (is_wasm) return state_append(scope, p(key), key.len, p(name), name.len, p(val), val.len);
    return native.stateAppend(scope, key, name, val);
}

/// Submits an encoded async request: its ticket or a negative status.
pub fn asyncSubmit(req: []const u8) i64 {
    if (is_wasm) return async_submit(p(req), req.len);
    return native.asyncSubmit(req);
}

/// Ends a call's async requests: natively, drops them when the call
/// failed, as the host does. In a module the host does it.
pub fn endAsync(ok: bool) void {
    if (is_wasm) return;
    native.endAsync(ok);
}

/// Ends a call's state writes: natively, applies them when the call
/// succeeded and drops them when it failed, as the host does. In a module
/// the host does it.
pub fn endState(ok: bool) void {
    if (is_wasm) return;
    if (ok) native.commit() else native.rollback();
}

/// The native stand-ins' state.
pub const native = struct {
    pub var print_logs = false;
    var names: [64][64]u8 = undefined;
    var name_lens: [64]usize = undefined;
    var values: [64]i64 = undefined;
    var n: usize = 0;

    fn metricAdd(name: []const u8, delta: i64) void {
        for (0..n) |i| {
            if (std.mem.eql(u8, names[i][0..name_lens[i]], name)) {
                values[i] += delta;
                return;
            }
        }
        if (n == names.len or name.len > names[0].len) return;
        @memcpy(names[n][0..name.len], name);
        name_lens[n] = name.len;
        values[n] = delta;
        n += 1;
    }

    /// The value of counter name.
    pub fn metric(name: []const u8) i64 {
        for (0..n) |i| {
            if (std.mem.eql(u8, names[i][0..name_lens[i]], name)) return values[i];
        }
        return 0;
    }

    pub fn resetMetrics() void {
        n = 0;
    }

    // Native state: committed entries and the current call's writes (null
    // for a deletion), by an id made of scope, key and name.
    const Entry = struct { val: []u8, expiry: i64 = 0, float: bool = false };
    var gpa_state = std.heap.GeneralPurposeAllocator(.{}){};
    const gpa = gpa_state.allocator();
    var committed: std.StringHashMapUnmanaged(Entry) = .{};
    var writes: std.StringHashMapUnmanaged(?Entry) = .{};
    var id_buf: std.ArrayListUnmanaged(u8) = .{};
    /// The largest value put or append accepts, like the pipeline's
    /// state.max_value.
    pub var max_value: usize = 1 << 20;
    /// The state clock: natively it stands still, at the wall clock's time
    /// when state was first used, so TTLs expire when tests move it.
    pub var clock_offset_ms: i64 = 0;
    var clock_start: i64 = 0;

    const status_ok = 0;
    const status_error = -1;
    const status_not_found = -2;
    const status_too_large = -3;
    const status_not_counter = -4;
    const status_bad_scope = -5;

    fn now() i64 {
        if (clock_start == 0) clock_start = std.time.milliTimestamp();
        return clock_start + clock_offset_ms;
    }

    fn id(scope: i32, key: []const u8, name: []const u8) ?[]const u8 {
        id_buf.clearRetainingCapacity();
        const w = id_buf.writer(gpa);
        if (scope == 1) {
            w.writeAll("o") catch return null;
        } else {
            w.print("s{d}:", .{key.len}) catch return null;
            w.writeAll(key) catch return null;
        }
        w.writeAll(name) catch return null;
        return id_buf.items;
    }

    fn live(e: Entry) bool {
        return e.expiry == 0 or e.expiry > now();
    }

    fn lookup(k: []const u8) ?Entry {
        const e = if (writes.get(k)) |w| w else committed.get(k);
        if (e) |x| {
            if (live(x)) return x;
        }
        return null;
    }

    fn write(k: []const u8, e: ?Entry) i32 {
        const gop = writes.getOrPut(gpa, k) catch return status_error;
        if (!gop.found_existing) {
            gop.key_ptr.* = gpa.dupe(u8, k) catch {
                writes.removeByPtr(gop.key_ptr);
                return status_error;
            };
        } else if (gop.value_ptr.*) |old| {
            gpa.free(old.val);
        }
        gop.value_ptr.* = e;
        return status_ok;
    }

    fn args(scope: i32, key: []const u8, name: []const u8) union(enum) { id: []const u8, status: i32 } {
        if (scope != 0 and scope != 1) return .{ .status = status_bad_scope };
        return .{ .id = id(scope, key, name) orelse return .{ .status = status_error } };
    }

    fn stateGet(scope: i32, key: []const u8, name: []const u8, buf: []u8) i64 {
        const k = switch (args(scope, key, name)) {
            .id => |k| k,
            .status => |st| return st,
        };
        const e = lookup(k) orelse return status_not_found;
        if (e.val.len <= buf.len) @memcpy(buf[0..e.val.len], e.val);
        return @intCast(e.val.len);
    }

    fn statePut(scope: i32, key: []const u8, name: []const u8, val: []const u8, ttl_ms: i64) i32 {
        const k = switch (args(scope, key, name)) {
            .id => |k| k,
            .status => |st| return st,
        };
        if (val.len > max_value) return status_too_large;
        const v = gpa.dupe(u8, val) catch return status_error;
        return write(k, .{ .val = v, .expiry = if (ttl_ms > 0) now() + ttl_ms else 0 });
    }

    fn stateDelete(scope: i32, key: []const u8, name: []const u8) i32 {
        const k = switch (args(scope, key, name)) {
            .id => |k| k,
            .status => |st| return st,
        };
        return write(k, null);
    }

    fn stateAdd(scope: i32, key: []const u8, name: []const u8, delta: i64, out: *i64) i32 {
        const k = switch (args(scope, key, name)) {
            .id => |k| k,
            .status => |st| return st,
        };
        var sum: i64 = 0;
        var expiry: i64 = 0;
        if (lookup(k)) |e| {
            if (e.val.len != 8 or e.float) return status_not_counter;
            sum = std.mem.readIntLittle(i64, e.val[0..8]);
            expiry = e.expiry;
        }
        sum +%= delta;
        const v = gpa.alloc(u8, 8) catch return status_error;
        std.mem.writeIntLittle(i64, v[0..8], sum);
        const st = write(k, .{ .val = v, .expiry = expiry });
        if (st == status_ok) out.* = sum;
        return st;
    }

    /// As the host answers state_add_f64: -1 for a NaN or infinite delta
    /// or sum, -4 for an int counter or bytes.
    fn stateAddF64(scope: i32, key: []const u8, name: []const u8, delta: f64, out: *f64) i32 {
        const k = switch (args(scope, key, name)) {
            .id => |k| k,
            .status => |st| return st,
        };
        if (!std.math.isFinite(delta)) return status_error;
        var sum: f64 = 0;
        var expiry: i64 = 0;
        if (lookup(k)) |e| {
            if (e.val.len != 8 or !e.float) return status_not_counter;
            sum = @bitCast(std.mem.readIntLittle(u64, e.val[0..8]));
            expiry = e.expiry;
        }
        sum += delta;
        if (!std.math.isFinite(sum)) return status_error;
        const v = gpa.alloc(u8, 8) catch return status_error;
        std.mem.writeIntLittle(u64, v[0..8], @as(u64, @bitCast(sum)));
        const st = write(k, .{ .val = v, .expiry = expiry, .float = true });
        if (st == status_ok) out.* = sum;
        return st;
    }

    fn stateAppend(scope: i32, key: []const u8, name: []const u8, val: []const u8) i32 {
        const k = switch (args(scope, key, name)) {
            .id => |k| k,
            .status => |st| return st,
        };
        var old: []const u8 = "";
        var expiry: i64 = 0;
        if (lookup(k)) |e| {
            old = e.val;
            expiry = e.expiry;
        }
        if (old.len + 5 + val.len > max_value) return status_too_large;
        var h: [5]u8 = undefined;
        const hl: usize = if (val.len < 1 << 8) blk: {
            h[0] = 0xc4;
            h[1] = @intCast(val.len);
            break :blk 2;
        } else if (val.len < 1 << 16) blk: {
            h[0] = 0xc5;
            std.mem.writeIntBig(u16, h[1..3], @as(u16, @intCast(val.len)));
            break :blk 3;
        } else blk: {
            h[0] = 0xc6;
            std.mem.writeIntBig(u32, h[1..5], @as(u32, @intCast(val.len)));
            break :blk 5;
        };
        const v = gpa.alloc(u8, old.len + hl + val.len) catch return status_error;
        @memcpy(v[0..old.len], old);
        @memcpy(v[old.len..][0..hl], h[0..hl]);
        @memcpy(v[old.len + hl ..], val);
        return write(k, .{ .val = v, .expiry = expiry });
    }

    fn commit() void {
        var it = writes.iterator();
        while (it.next()) |w| {
            if (committed.fetchRemove(w.key_ptr.*)) |old| {
                gpa.free(old.key);
                gpa.free(old.value.val);
            }
            if (w.value_ptr.*) |e| {
                committed.put(gpa, w.key_ptr.*, e) catch @panic("native state: out of memory");
            } else {
                gpa.free(w.key_ptr.*);
            }
        }
        writes.clearRetainingCapacity();
    }

    fn rollback() void {
        var it = writes.iterator();
        while (it.next()) |w| {
            gpa.free(w.key_ptr.*);
            if (w.value_ptr.*) |e| gpa.free(e.val);
        }
        writes.clearRetainingCapacity();
    }

    /// Forgets all state, committed or not.
    pub fn resetState() void {
        rollback();
        var it = committed.iterator();
        while (it.next()) |e| {
            gpa.free(e.key_ptr.*);
            gpa.free(e.value_ptr.val);
        }
        committed.clearRetainingCapacity();
        clock_offset_ms = 0;
        max_value = 1 << 20;
    }

    // Native async_submit: the requests kept, in order (ticket i is
    // element i), those of the current call from mark on.
    var submitted: std.ArrayListUnmanaged([]u8) = .{};
    var submitted_mark: usize = 0;
    /// The status async_submit answers with when not 0.
    pub var async_refuse: i32 = 0;

    fn asyncSubmit(req: []const u8) i64 {
        if (async_refuse != 0) return async_refuse;
        const copy = gpa.dupe(u8, req) catch return status_error;
        submitted.append(gpa, copy) catch {
            gpa.free(copy);
            return status_error;
        };
        return @intCast(submitted.items.len - 1);
    }

    fn endAsync(ok: bool) void {
        if (!ok) {
            for (submitted.items[submitted_mark..]) |r| gpa.free(r);
            submitted.shrinkRetainingCapacity(submitted_mark);
        }
        submitted_mark = submitted.items.len;
    }

    /// The encoded requests submitted since resetAsync, in order.
    pub fn submittedRequests() []const []const u8 {
        return submitted.items;
    }

    /// Forgets the requests submitted and accepts them again.
    pub fn resetAsync() void {
        for (submitted.items) |r| gpa.free(r);
        submitted.clearRetainingCapacity();
        submitted_mark = 0;
        async_refuse = 0;
    }

    /// A committed, live value, as the host's store would hold it.
    pub fn stateValue(scope: i32, key: []const u8, name: []const u8) ?[]const u8 {
        const k = id(scope, key, name) orelse return null;
        const e = committed.get(k) orelse return null;
        return if (live(e)) e.val else null;
    }
};

// The current call's error message and the error it belongs to, and
// whether the host has set a better message for it itself.
var msg_buf: [4096]u8 = undefined;
var msg_len: usize = 0;
var msg_err: ?anyerror = null;
var msg_by_host = false;

/// Sets the message for err and returns err.
pub fn fail(err: anytype, comptime fmt: []const u8, args: anytype) @TypeOf(err) {
    const s = std.fmt.bufPrint(&msg_buf, fmt, args) catch blk: {
        const tail = "...";
        @memcpy(msg_buf[msg_buf.len - tail.len ..], tail);
        break :blk msg_buf[0..];
    };
    msg_len = s.len;
    msg_err = err;
    msg_by_host = false;
    return err;
}

/// Like fail, for an error whose message the host has already set for the
/// call (a state import's status -1): the exports leave the host's.
pub fn failByHost(err: anytype, comptime fmt: []const u8, args: anytype) @TypeOf(err) {
    fail(err, fmt, args) catch {};
    msg_by_host = true;
    return err;
}

/// Sends the message for err, the call's error, to the host, unless the
/// host set it itself.
pub fn report(err: anyerror) void {
    if (msg_by_host) {
        if (msg_err) |e| {
            if (e == err) return;
        }
    }
    setError(message(err));
}

/// Forgets the message, at the start of a call.
pub fn clearMessage() void {
    msg_err = null;
}

/// The message describing err: the one set with fail for err in this call,
/// or the error's name.
pub fn message(err: anyerror) []const u8 {
    if (msg_err) |e| {
        if (e == err) return msg_buf[0..msg_len];
    }
    return switch (err) {
        error.OutOfMemory => "out of memory",
        else => std.fmt.bufPrint(&msg_buf, "error.{s}", .{@errorName(err)}) catch "error",
    };
}
