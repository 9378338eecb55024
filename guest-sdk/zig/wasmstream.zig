//! The wasmstream guest SDK for Zig: write an operator as a few Zig
//! functions and register them; frames, msgpack, alloc, packed pointers and
//! status codes are the SDK's business.
//!
//!     const ws = @import("wasmstream");
//!
//!     comptime {
//!         ws.register(.{ .map = upper });
//!     }
//!
//!     fn upper(r: ws.Record) ws.Record {
//!         if (r.value) |v| {
//!             for (v) |*c| {
//!                 if (c.* >= 'a' and c.* <= 'z') c.* -= 'a' - 'A';
//!             }
//!         }
//!         return r;
//!     }
//!
//! See README.md for the API, lifetimes and errors.

const std = @import("std");
const codec = @import("codec.zig");
const config = @import("config.zig");
const host = @import("host.zig");

pub const Record = codec.Record;
pub const Header = codec.Header;
pub const Config = config.Config;
pub const Value = config.Value;

const state_ = @import("state.zig");
/// Read and write JSON record values without allocating (json.zig).
pub const json = @import("json.zig");
pub const State = state_.State;
pub const StateMap = state_.Map;
pub const StateList = state_.List;
pub const StateError = state_.Error;
pub const stateOf = state_.stateOf;
pub const keyState = state_.keyState;
pub const operatorState = state_.operatorState;

const async_ = @import("async.zig");
/// Async I/O (async.zig): submit a request, receive its Result in the
/// operator's on_result handler.
pub const Request = codec.Request;
pub const Result = codec.Result;
pub const Arg = codec.Arg;
pub const HttpHeader = codec.HttpHeader;
pub const submit = async_.submit;
pub const http = async_.http;
pub const redis = async_.redis;
pub const sql = async_.sql;
pub const SubmitError = async_.SubmitError;
pub const result_ok = async_.result_ok;
pub const result_error = async_.result_error;
pub const result_timeout = async_.result_timeout;
pub const redisItems = async_.redisItems;
pub const RedisItems = async_.RedisItems;

/// The most records one frame may carry, in or out.
pub const max_records = codec.max_records;

/// The ABI version this SDK speaks.
pub const abi_version: i32 = 1;
/// What the module's wasmstream_language export returns: Zig.
pub const language: i32 = 5;

/// A general-purpose allocator for what an operator builds or keeps: the
/// Wasm allocator in a module, the page allocator natively.
pub const allocator: std.mem.Allocator = if (host.is_wasm) std.heap.wasm_allocator else std.heap.page_allocator;

/// The errors the SDK itself returns. A handler may return any error.
pub const Error = error{
    /// A handler called fail; the message is what it formatted.
    OperatorError,
    /// The input batch or init payload is not valid.
    Malformed,
    /// More than max_records records emitted from one batch.
    TooManyRecords,
    /// A Config getter found a param of another type.
    ParamType,
    /// A state value over the pipeline's state.max_value.
    StateTooLarge,
    /// A state add on a value that is not a counter.
    NotCounter,
    /// The host failed a state call, and set the call's message.
    StateFailed,
    /// A state value read as a list is not one.
    NotAList,
    /// submit without an on_result handler.
    NoResultHandler,
    /// The host refused an async request (status -1).
    AsyncRefused,
    /// An async request over async.max_request or async.max_context.
    AsyncTooLarge,
    /// async.capacity requests in flight.
    AsyncCapacity,
    /// A Redis reply read as an array reply is not one.
    NotAnArrayReply,
    OutOfMemory,
};

pub const LogLevel = enum(i32) { debug = 0, info = 1, warn = 2, err = 3 };

/// Writes msg to the host's log at level. The host copies msg.
pub fn log(level: LogLevel, msg: []const u8) void {
    host.writeLog(@intFromEnum(level), msg);
}

/// Formats and logs a message of up to 4 KiB (longer ones are cut, ending
/// in "..."). Formats on the stack; allocates nothing.
pub fn logf(level: LogLevel, comptime fmt: []const u8, args: anytype) void {
    var buf: [4096]u8 = undefined;
    const s = std.fmt.bufPrint(&buf, fmt, args) catch blk: {
        @memcpy(buf[buf.len - 3 ..], "...");
        break :blk buf[0..];
    };
    host.writeLog(@intFromEnum(level), s);
}

/// Adds delta to the operator's counter name, kept by the host.
pub fn count(name: []const u8, delta: i64) void {
    host.metricAdd(name, delta);
}

/// Sets the message of the current call's error and returns
/// error.OperatorError, for a handler to return:
///
///     return ws.fail("bad route record {s}", .{v});
///
/// The host receives the message verbatim. Messages are cut at 4 KiB.
pub fn fail(comptime fmt: []const u8, args: anytype) error{OperatorError} {
    return host.fail(error.OperatorError, fmt, args);
}

/// The message the host receives for err, returned from the current call:
/// the one fail (or the SDK) set for it, otherwise "error." and its name.
pub fn errorMessage(err: anyerror) []const u8 {
    return host.message(err);
}

/// Emitter appends records to the output batch of the current call. It is
/// valid only during the handler call it is passed to.
pub const Emitter = struct {
    /// Encodes r into the output batch at once: r and its bytes may be
    /// reused as soon as emit returns. A record whose output is set goes to
    /// that named output.
    pub fn emit(_: *Emitter, r: Record) error{ TooManyRecords, OutOfMemory }!void {
        const w = &inst.writer;
        if (w.n >= max_records) {
            return host.fail(error.TooManyRecords, "wasmstream: more than {d} records emitted from one batch, the ABI's limit per frame; split the work across batches", .{max_records});
        }
        if (inst.reader.unchanged(&r)) {
            try w.appendRaw(allocator, inst.reader.raw());
        } else {
            try w.append(allocator, &r);
        }
    }

    /// Emits r to the named output; "" is the default output. It overrides
    /// r.output.
    pub fn emitTo(e: *Emitter, output: []const u8, r: Record) error{ TooManyRecords, OutOfMemory }!void {
        var o = r;
        o.output = output;
        return e.emit(o);
    }

    /// How many records have been emitted in the current call.
    pub fn len(_: *const Emitter) usize {
        return inst.writer.n;
    }
};

/// Batch is one input batch, read record by record without copying. It is
/// valid only during the process_batch handler call it is passed to.
pub const Batch = struct {
    /// The number of records in the batch, read or not.
    pub fn len(_: *const Batch) usize {
        return inst.reader.len();
    }

    /// The next record, or null after the last. Its slices point into the
    /// batch and are valid until the handler returns; its headers slice
    /// until the next call of next. A batch that cannot be decoded returns
    /// error.Malformed; the handler may return it or not, the call fails
    /// either way.
    ///
    ///     while (try batch.next()) |r| { ... }
    pub fn next(_: *Batch) error{ Malformed, OutOfMemory }!?Record {
        return nextRecord();
    }
};

/// The module's one operator: its buffers, reused by every call.
const Instance = struct {
    in: []u8 = &.{}, // grow-only input buffer handed to the host by alloc
    scratch: []u8 = &.{}, // for alloc calls made during a call
    busy: bool = false,
    reader: codec.Reader = .{},
    writer: codec.Writer = .{},
    payload: []u8 = &.{}, // the init payload, which config points into
    config: Config = .{},
};

var inst: Instance = .{};

fn nextRecord() error{ Malformed, OutOfMemory }!?Record {
    return inst.reader.next(allocator) catch |err| switch (err) {
        error.Malformed => malformed(),
        error.OutOfMemory => error.OutOfMemory,
    };
}

fn malformed() error{Malformed} {
    return host.fail(error.Malformed, "decoding input batch: {}", .{inst.reader.fault});
}

fn malformedResults() error{Malformed} {
    return host.fail(error.Malformed, "decoding async results: {}", .{inst.reader.fault});
}

/// The smallest input buffer alloc hands out, so that alloc(0) is valid.
const min_alloc = 64 << 10;

fn exportAlloc(n: usize) callconv(.C) [*]u8 {
    const buf = if (inst.busy) &inst.scratch else &inst.in;
    if (buf.len < n or buf.len == 0) {
        // Running out of memory here can only be reported as a trap, which
        // the host classifies as the memory limit.
        const nb = allocator.alloc(u8, @max(n, 2 * buf.len, min_alloc)) catch @trap();
        allocator.free(buf.*);
        buf.* = nb;
    }
    return buf.ptr;
}

fn exportDealloc(_: [*]u8, _: usize) callconv(.C) void {}

fn exportABIVersion() callconv(.C) i32 {
    return abi_version;
}

fn exportLanguage() callconv(.C) i32 {
    return language;
}

fn Payload(comptime T: type) type {
    return switch (@typeInfo(T)) {
        .ErrorUnion => |e| e.payload,
        else => T,
    };
}

/// Returns a handler's result, which may or may not be an error union, as
/// an error union.
inline fn unwrap(x: anytype) anyerror!Payload(@TypeOf(x)) {
    return x;
}

fn checkHandler(comptime name: []const u8, comptime f: anytype, comptime Param: type, comptime Return: type, comptime shape: []const u8) void {
    const info = @typeInfo(@TypeOf(f));
    if (info != .Fn) @compileError("wasmstream: ." ++ name ++ " must be a function " ++ shape);
    const fi = info.Fn;
    const ok = fi.params.len >= 1 and fi.params[0].type == Param and fi.return_type != null and
        Payload(fi.return_type.?) == Return;
    if (!ok) @compileError("wasmstream: ." ++ name ++ " has type " ++ @typeName(@TypeOf(f)) ++ "; want " ++ shape);
}

/// Operator is the operator of handlers, callable natively: tests run
/// frames through it exactly as the module's exports do. handlers is a
/// struct literal with exactly one of
///
///     .map = fn (Record) !Record           one record out per record in
///     .filter = fn (Record) !bool          keep or drop each record
///     .flat_map = fn (Record, *Emitter) !void   any number out per record in
///     .process_batch = fn (*Batch, *Emitter) !void   the whole batch
///
/// and optionally `.on_init = fn (*Config) !void` and
/// `.on_result = fn (Result, *Emitter) !void`, called once per async
/// result after the call's records. The error unions are optional: a
/// handler that cannot fail may return the plain type.
pub fn Operator(comptime handlers: anytype) type {
    const H = @TypeOf(handlers);
    comptime {
        var kinds = 0;
        for (@typeInfo(H).Struct.fields) |f| {
            if (std.mem.eql(u8, f.name, "map")) {
                checkHandler("map", handlers.map, Record, Record, "fn (ws.Record) !ws.Record");
            } else if (std.mem.eql(u8, f.name, "filter")) {
                checkHandler("filter", handlers.filter, Record, bool, "fn (ws.Record) !bool");
            } else if (std.mem.eql(u8, f.name, "flat_map")) {
                checkHandler("flat_map", handlers.flat_map, Record, void, "fn (ws.Record, *ws.Emitter) !void");
            } else if (std.mem.eql(u8, f.name, "process_batch")) {
                checkHandler("process_batch", handlers.process_batch, *Batch, void, "fn (*ws.Batch, *ws.Emitter) !void");
            } else if (std.mem.eql(u8, f.name, "on_init")) {
                checkHandler("on_init", handlers.on_init, *Config, void, "fn (*ws.Config) !void");
                continue;
            } else if (std.mem.eql(u8, f.name, "on_result")) {
                checkHandler("on_result", handlers.on_result, Result, void, "fn (ws.Result, *ws.Emitter) !void");
                continue;
            } else {
                @compileError("wasmstream: unknown handler ." ++ f.name ++ "; want .map, .filter, .flat_map, .process_batch, .on_init or .on_result");
            }
            kinds += 1;
        }
        if (kinds != 1) @compileError("wasmstream: register exactly one of .map, .filter, .flat_map and .process_batch");
    }

    return struct {
        /// Decodes the init payload (a msgpack map, as the host encodes
        /// it), keeps a copy for the Config and runs the on_init hook.
        pub fn init(payload: []const u8) anyerror!void {
            async_.result_handler = @hasField(H, "on_result");
            initCall(payload) catch |err| {
                host.endAsync(false);
                host.endState(false);
                return err;
            };
            host.endAsync(true);
            host.endState(true);
        }

        fn initCall(payload: []const u8) anyerror!void {
            host.clearMessage();
            allocator.free(inst.config.outputs);
            allocator.free(inst.payload);
            inst.config = .{};
            inst.payload = &.{};
            inst.payload = try allocator.dupe(u8, payload);
            var fault: codec.Fault = .{};
            inst.config = config.decode(allocator, inst.payload, &fault) catch |err| switch (err) {
                error.Malformed => return host.fail(error.Malformed, "decoding init config: {}", .{fault}),
                error.OutOfMemory => return error.OutOfMemory,
            };
            if (@hasField(H, "on_init")) {
                inst.busy = true;
                defer inst.busy = false;
                try unwrap(handlers.on_init(&inst.config));
            }
        }

        /// Runs the handler over one input frame, whose record bytes the
        /// handler may modify, and returns the output frame, valid until
        /// the next call. On error, errorMessage(err) is what the host
        /// receives. Natively, the call's state writes are applied when it
        /// succeeds and dropped when it fails, as the host does, and so are
        /// the async requests it submitted.
        pub fn process(frame: []u8) anyerror![]const u8 {
            async_.result_handler = @hasField(H, "on_result");
            const out = processCall(frame) catch |err| {
                host.endAsync(false);
                host.endState(false);
                return err;
            };
            host.endAsync(true);
            host.endState(true);
            return out;
        }

        fn processCall(frame: []u8) anyerror![]const u8 {
            host.clearMessage();
            const r = &inst.reader;
            const w = &inst.writer;
            r.reset(frame) catch return malformed();
            try w.reset(allocator);
            inst.busy = true;
            defer inst.busy = false;
            var e = Emitter{};
            // A record returned or kept unchanged but for its bytes'
            // contents is copied from the input whole. Map and Filter emit
            // at most one record per input record, so they stay within
            // max_records without emit's check.
            if (@hasField(H, "map")) {
                while (try nextRecord()) |in| {
                    const out = try unwrap(handlers.map(in));
                    if (r.unchanged(&out)) {
                        try w.appendRaw(allocator, r.raw());
                    } else {
                        try w.append(allocator, &out);
                    }
                }
            } else if (@hasField(H, "filter")) {
                while (try nextRecord()) |in| {
                    if (try unwrap(handlers.filter(in))) {
                        if (r.canonical) {
                            try w.appendRaw(allocator, r.raw());
                        } else {
                            try w.append(allocator, &in);
                        }
                    }
                }
            } else if (@hasField(H, "flat_map")) {
                while (try nextRecord()) |in| {
                    try unwrap(handlers.flat_map(in, &e));
                }
            } else {
                var b = Batch{};
                try unwrap(handlers.process_batch(&b, &e));
            }
            // Records the handler left unread are decoded anyway, so that
            // a malformed batch fails whatever the handler read.
            while (try nextRecord()) |_| {}
            // A handler that swallowed a decoding error still fails the call.
            if (r.failed) return malformed();
            // The async results (element 1), after the records. An operator
            // without on_result submits nothing, so the host sends it no
            // results: element 1 is skipped like any other.
            if (@hasField(H, "on_result")) {
                const n = r.resultsLen() catch return malformedResults();
                r.canonical = false; // emitted records are the handler's own
                var i: usize = 0;
                while (i < n) : (i += 1) {
                    const res = r.nextResult(i) catch return malformedResults();
                    try unwrap(handlers.on_result(res, &e));
                }
            }
            r.close() catch return malformed();
            return w.bytes();
        }

        fn exportInit(ptr: [*]u8, len: usize) callconv(.C) i32 {
            init(ptr[0..len]) catch |err| {
                host.report(err);
                return -1;
            };
            return 0;
        }

        fn exportProcess(ptr: [*]u8, len: usize) callconv(.C) i64 {
            const out = process(ptr[0..len]) catch |err| {
                host.report(err);
                return -1;
            };
            return @bitCast(@as(u64, @intFromPtr(out.ptr)) << 32 | @as(u64, out.len));
        }
    };
}

/// Registers the module's operator: exports the ABI's functions running
/// handlers (see Operator). Call it once, from a comptime block of the root
/// source file:
///
///     comptime {
///         ws.register(.{ .flat_map = process, .on_init = setup });
///     }
///
/// Natively it exports nothing; use Operator(handlers) in tests.
pub fn register(comptime handlers: anytype) void {
    const Op = Operator(handlers);
    if (!host.is_wasm) return;
    @export(Op.exportProcess, .{ .name = "process" });
    @export(Op.exportInit, .{ .name = "init" });
    @export(exportAlloc, .{ .name = "alloc" });
    @export(exportDealloc, .{ .name = "dealloc" });
    @export(exportABIVersion, .{ .name = "wasmstream_abi_version" });
    @export(exportLanguage, .{ .name = "wasmstream_language" });
}

/// A panic handler that reports the panic to the host — its message as
/// the call's error and in the log — before trapping. Zig panics cannot be
/// recovered, so the host discards the instance. Use it from the root
/// source file:
///
///     pub const panic = ws.panic;
pub fn panic(msg: []const u8, trace: ?*std.builtin.StackTrace, ret_addr: ?usize) noreturn {
    if (!host.is_wasm) std.builtin.default_panic(msg, trace, ret_addr);
    var buf: [512]u8 = undefined;
    const s = std.fmt.bufPrint(&buf, "panic: {s}", .{msg}) catch "panic";
    host.writeLog(@intFromEnum(LogLevel.err), s);
    host.setError(s);
    @trap();
}

/// What tests use natively.
pub const testing = struct {
    /// The value of the operator's counter name, as count added to it.
    pub const metric = host.native.metric;
    pub const resetMetrics = host.native.resetMetrics;
    /// Whether log lines are printed to standard error under zig test.
    pub fn printLogs(on: bool) void {
        host.native.print_logs = on;
    }
    /// Forgets all native state and restores the defaults below.
    pub const resetState = host.native.resetState;
    /// A committed, live state value, as the host's store would hold it
    /// (scope 0 keyed, 1 operator), or null.
    pub const stateValue = host.native.stateValue;
    /// Sets the largest value put and append accept (default 1 MiB, the
    /// pipeline's state.max_value default).
    pub fn setStateMaxValue(n: usize) void {
        host.native.max_value = n;
    }
    /// Moves the native state's clock forward, expiring TTLs. It stands
    /// still otherwise.
    pub fn advanceClock(ms: i64) void {
        host.native.clock_offset_ms += ms;
    }
    /// The encoded async requests submitted since resetAsync, in order:
    /// ticket i is element i. A failed call's are dropped.
    pub const submitted = host.native.submittedRequests;
    /// Forgets the requests submitted, and accepts them again.
    pub const resetAsync = host.native.resetAsync;
    /// Makes async_submit answer status (0: accept again).
    pub fn refuseAsync(status: i32) void {
        host.native.async_refuse = status;
    }
    /// frame (an output frame, say, or codec's) with results appended as
    /// its element 1, as the host delivers them; free it with allocator.
    pub fn frameWithResults(frame: []const u8, results: []const Result) ![]u8 {
        var b: std.ArrayListUnmanaged(u8) = .{};
        errdefer b.deinit(allocator);
        try b.appendSlice(allocator, frame);
        try codec.appendResults(allocator, &b, results);
        return b.toOwnedSlice(allocator);
    }
};

test {
    _ = @import("tests.zig");
    _ = @import("state_tests.zig");
    _ = @import("json_tests.zig");
    _ = @import("async_tests.zig");
}
