//! Async I/O (abi/SPEC.md, section 5.2): submit sends a request to a
//! target the pipeline file declares under the operator's async.targets,
//! and the operator's on_result handler receives its result in a later
//! call, with the context the request carried. No call waits for one.
//!
//!     const t = try ws.submit(ws.redis("cache", r.value, &.{ "GET", key }));
//!
//! Natively (zig test) the host is replaced by a stand-in that keeps the
//! requests (ws.testing.submitted) and drops a failed call's, as the host
//! does.

const std = @import("std");
const host = @import("host.zig");
const codec = @import("codec.zig");

pub const Request = codec.Request;
pub const Result = codec.Result;

/// Result statuses.
pub const result_ok: i32 = 0;
pub const result_error: i32 = -1;
pub const result_timeout: i32 = -7;

const status_too_large = -3;
const status_capacity = -6;

/// The errors of submit. Each sets the message the host receives if the
/// handler returns it.
pub const SubmitError = error{
    /// The operator registered no on_result handler, so it could not
    /// receive the result.
    NoResultHandler,
    /// The host refused the request (status -1): a target the pipeline
    /// does not declare, a request its declaration does not allow, a
    /// malformed request. The host has set the call's message.
    AsyncRefused,
    /// The request is over async.max_request, or its context over
    /// async.max_context (status -3).
    AsyncTooLarge,
    /// The instance has async.capacity requests in flight (status -6). The
    /// host gives an instance at most as many records per call as it has
    /// room for, so an operator that submits one request per record never
    /// sees it.
    AsyncCapacity,
    OutOfMemory,
};

const allocator: std.mem.Allocator = if (host.is_wasm) std.heap.wasm_allocator else std.heap.page_allocator;

/// The request buffer, reused by every submit.
var req_buf: std.ArrayListUnmanaged(u8) = .{};

/// Whether the current call's operator has an on_result handler; the
/// operator driver sets it.
pub var result_handler = false;

/// Submits req and returns its ticket, which its Result carries. The host
/// copies the request at once. Requests submitted by a call that then fails
/// are dropped: the retried call submits them again.
pub fn submit(req: Request) SubmitError!u64 {
    if (!result_handler) return host.fail(error.NoResultHandler, "wasmstream: submit without an on_result handler: register one beside the record handler to receive the results", .{});
    try codec.encodeRequest(allocator, &req_buf, req);
    const t = host.asyncSubmit(req_buf.items);
    if (t >= 0) return @intCast(t);
    return switch (t) {
        status_too_large => host.fail(error.AsyncTooLarge, "wasmstream: async request refused: too large (async.max_request or async.max_context)", .{}),
        status_capacity => host.fail(error.AsyncCapacity, "wasmstream: async request refused: capacity full (async.capacity requests in flight)", .{}),
        else => host.failByHost(error.AsyncRefused, "wasmstream: async request refused (status {d}): an undeclared target, or a request its declaration does not allow", .{t}),
    };
}

/// A request to HTTP target target: method ("" is GET) and path (with its
/// query) appended to the target's url. Set headers and body on it.
pub fn http(target: []const u8, method: []const u8, path: []const u8, context: ?[]const u8) Request {
    return .{ .target = target, .method = method, .path = path, .context = context };
}

/// A request running one command on Redis target target.
pub fn redis(target: []const u8, context: ?[]const u8, command: []const []const u8) Request {
    return .{ .target = target, .context = context, .command = command };
}

/// A request running the SQL target's query named query with args.
pub fn sql(target: []const u8, query: []const u8, context: ?[]const u8, args: []const codec.Arg) Request {
    return .{ .target = target, .query = query, .context = context, .args = args };
}

/// A Redis array reply is not a msgpack array of bin, str or nil.
pub const RedisError = error{NotAnArrayReply};

/// The elements of a Redis array reply (MGET, HMGET, LRANGE...), read one
/// by one; see redisItems.
pub const RedisItems = struct {
    rest: []const u8,
    /// The elements not yet returned by next.
    left: usize,

    /// The next element — null inside for a nil reply — or null after the
    /// last:
    ///
    ///     while (items.next()) |item| { if (item) |bytes| ... else ... }
    pub fn next(it: *RedisItems) ??[]const u8 {
        if (it.left == 0) return null;
        const e = element(it.rest) orelse unreachable; // checked by redisItems
        it.rest = it.rest[e.end..];
        it.left -= 1;
        return e.bytes;
    }
};

const Element = struct { bytes: ?[]const u8, end: usize };

/// The nil, bin or str element at the start of v, or null when v does not
/// start with a whole one.
fn element(v: []const u8) ?Element {
    if (v.len == 0) return null;
    var h: usize = 0;
    var n: usize = 0;
    switch (v[0]) {
        0xc0 => return .{ .bytes = null, .end = 1 },
        0xa0...0xbf => {
            h = 1;
            n = v[0] & 0x1f;
        },
        0xc4, 0xd9 => if (v.len >= 2) {
            h = 2;
            n = v[1];
        },
        0xc5, 0xda => if (v.len >= 3) {
            h = 3;
            n = std.mem.readIntBig(u16, v[1..3]);
        },
        0xc6, 0xdb => if (v.len >= 5) {
            h = 5;
            n = std.mem.readIntBig(u32, v[1..5]);
        },
        else => {},
    }
    if (h == 0 or v.len - h < n) return null;
    return .{ .bytes = v[h .. h + n], .end = h + n };
}

/// Splits body, a Redis array reply (a msgpack array of bin or nil), into
/// its elements, checking them all first.
pub fn redisItems(body: []const u8) RedisError!RedisItems {
    var n: usize = 0;
    var h: usize = 0;
    if (body.len >= 1 and body[0] >= 0x90 and body[0] <= 0x9f) {
        n = body[0] & 0x0f;
        h = 1;
    } else if (body.len >= 3 and body[0] == 0xdc) {
        n = std.mem.readIntBig(u16, body[1..3]);
        h = 3;
    } else if (body.len >= 5 and body[0] == 0xdd) {
        n = std.mem.readIntBig(u32, body[1..5]);
        h = 5;
    } else {
        return host.fail(error.NotAnArrayReply, "wasmstream: not an array reply", .{});
    }
    var rest = body[h..];
    var i: usize = 0;
    while (i < n) : (i += 1) {
        const e = element(rest) orelse return host.fail(error.NotAnArrayReply, "wasmstream: array reply element {d} is not bin, str or nil", .{i});
        rest = rest[e.end..];
    }
    if (rest.len != 0) return host.fail(error.NotAnArrayReply, "wasmstream: {d} trailing bytes after the array reply", .{rest.len});
    return .{ .rest = body[h..], .left = n };
}
