//! Test operator (sdk_test.go): each record's value is a state command, run
//! on the state of the record's key, of another key ("key=K CMD ...") or of
//! the operator ("op CMD ..."); results are emitted as records with the
//! input's key. A command missing an argument traps.
//!
//!   get N            the value, or a nil value when absent
//!   put N V [TTL]    set (TTL in ms)          del N       delete
//!   add N D          emit the new counter     app N E     append to a list
//!   list N           one record per element
//!   mget M K, mput M K V, mdel M K, madd M K D            the same on a map
//!   big N SIZE       put SIZE bytes           bigapp N SIZE  append SIZE bytes
//!   reads K N        K gets of N; emit the bytes read in total
//!   adds K N         K additions of 1 to N; emit the counter
//!   fail MSG         fail the call
const std = @import("std");
const ws = @import("wasmstream");

comptime {
    ws.register(.{ .flat_map = run });
}

pub const panic = ws.panic;

var num: [24]u8 = undefined;

fn emit(e: *ws.Emitter, r: ws.Record, v: ?[]const u8) !void {
    try e.emit(.{ .key = r.key, .value = if (v) |x| @constCast(x) else null, .timestamp = r.timestamp });
}

fn emitInt(e: *ws.Emitter, r: ws.Record, n: i64) !void {
    try emit(e, r, std.fmt.bufPrint(&num, "{d}", .{n}) catch unreachable);
}

fn filled(n: usize, c: u8) ![]u8 {
    const b = try ws.allocator.alloc(u8, n);
    @memset(b, c);
    return b;
}

fn run(r: ws.Record, e: *ws.Emitter) !void {
    const v = r.value orelse return;
    var words: [8][]const u8 = undefined;
    var n: usize = 0;
    var it = std.mem.splitScalar(u8, v, ' ');
    while (it.next()) |w| : (n += 1) {
        if (n == words.len) @trap();
        words[n] = w;
    }
    var w: []const []const u8 = words[0..n];
    var s = ws.stateOf(r);
    if (std.mem.eql(u8, w[0], "op")) {
        s = ws.operatorState();
        w = w[1..];
    } else if (std.mem.startsWith(u8, w[0], "key=")) {
        s = ws.keyState(w[0][4..]);
        w = w[1..];
    }
    const cmd = w[0];
    const arg = struct {
        fn at(a: []const []const u8, i: usize) []const u8 {
            if (i >= a.len) @trap();
            return a[i];
        }
        fn int(a: []const []const u8, i: usize) i64 {
            return std.fmt.parseInt(i64, at(a, i), 10) catch @trap();
        }
    };
    if (std.mem.eql(u8, cmd, "get")) {
        try emit(e, r, try s.get(arg.at(w, 1)));
    } else if (std.mem.eql(u8, cmd, "put")) {
        try s.putTtl(arg.at(w, 1), arg.at(w, 2), if (w.len > 3) arg.int(w, 3) else 0);
    } else if (std.mem.eql(u8, cmd, "del")) {
        try s.delete(arg.at(w, 1));
    } else if (std.mem.eql(u8, cmd, "add")) {
        try emitInt(e, r, try s.add(arg.at(w, 1), arg.int(w, 2)));
    } else if (std.mem.eql(u8, cmd, "addf")) {
        const d = std.fmt.parseFloat(f64, arg.at(w, 2)) catch @trap();
        try emit(e, r, std.fmt.bufPrint(&num, "{d}", .{try s.addF64(arg.at(w, 1), d)}) catch unreachable);
    } else if (std.mem.eql(u8, cmd, "maddf")) {
        const d = std.fmt.parseFloat(f64, arg.at(w, 3)) catch @trap();
        try emit(e, r, std.fmt.bufPrint(&num, "{d}", .{try s.map(arg.at(w, 1)).addF64(arg.at(w, 2), d)}) catch unreachable);
    } else if (std.mem.eql(u8, cmd, "app")) {
        try s.append(arg.at(w, 1), arg.at(w, 2));
    } else if (std.mem.eql(u8, cmd, "list")) {
        var l = try s.list(arg.at(w, 1));
        while (try l.next()) |x| try emit(e, r, x);
    } else if (std.mem.eql(u8, cmd, "mget")) {
        try emit(e, r, try s.map(arg.at(w, 1)).get(arg.at(w, 2)));
    } else if (std.mem.eql(u8, cmd, "mput")) {
        try s.map(arg.at(w, 1)).put(arg.at(w, 2), arg.at(w, 3));
    } else if (std.mem.eql(u8, cmd, "mdel")) {
        try s.map(arg.at(w, 1)).delete(arg.at(w, 2));
    } else if (std.mem.eql(u8, cmd, "madd")) {
        try emitInt(e, r, try s.map(arg.at(w, 1)).add(arg.at(w, 2), arg.int(w, 3)));
    } else if (std.mem.eql(u8, cmd, "big")) {
        const b = try filled(@intCast(arg.int(w, 2)), 'x');
        defer ws.allocator.free(b);
        try s.put(arg.at(w, 1), b);
    } else if (std.mem.eql(u8, cmd, "bigapp")) {
        const b = try filled(@intCast(arg.int(w, 2)), 'y');
        defer ws.allocator.free(b);
        try s.append(arg.at(w, 1), b);
    } else if (std.mem.eql(u8, cmd, "reads")) {
        const k = arg.int(w, 1);
        var total: i64 = 0;
        var i: i64 = 0;
        while (i < k) : (i += 1) {
            if (try s.get(arg.at(w, 2))) |x| total += @intCast(x.len);
        }
        try emitInt(e, r, total);
    } else if (std.mem.eql(u8, cmd, "adds")) {
        const k = arg.int(w, 1);
        var c: i64 = 0;
        var i: i64 = 0;
        while (i < k) : (i += 1) c = try s.add(arg.at(w, 2), 1);
        try emitInt(e, r, c);
    } else if (std.mem.eql(u8, cmd, "fail")) {
        return ws.fail("{s}", .{v[std.mem.indexOf(u8, v, "fail ").? + 5 ..]});
    } else {
        return ws.fail("unknown command {s}", .{cmd});
    }
}
