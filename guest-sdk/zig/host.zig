//! The host functions of ABI version 1 (module `wasmstream`) and the error
//! message of the current call. Natively — under `zig test` — the imports
//! are replaced: log lines go to standard error and counters to a table
//! tests can read.

const std = @import("std");
const builtin = @import("builtin");

pub const is_wasm = builtin.target.isWasm();

extern "wasmstream" fn set_error(ptr: [*]const u8, len: usize) void;
extern "wasmstream" fn log(level: i32, ptr: [*]const u8, len: usize) void;
extern "wasmstream" fn metric_add(name_ptr: [*]const u8, name_len: usize, delta: i64) void;

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
};

// The current call's error message and the error it belongs to.
var msg_buf: [4096]u8 = undefined;
var msg_len: usize = 0;
var msg_err: ?anyerror = null;

/// Sets the message for err and returns err.
pub fn fail(err: anytype, comptime fmt: []const u8, args: anytype) @TypeOf(err) {
    const s = std.fmt.bufPrint(&msg_buf, fmt, args) catch blk: {
        const tail = "...";
        @memcpy(msg_buf[msg_buf.len - tail.len ..], tail);
        break :blk msg_buf[0..];
    };
    msg_len = s.len;
    msg_err = err;
    return err;
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
