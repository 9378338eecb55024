//! Read and write JSON record values without allocating per record
//! (`ws.json`).
//!
//!     const ev = try ws.json.get(r.value.?, "event");
//!     if (ev.textEql("click")) ...
//!     const name = try ws.json.get(r.value.?, "user.name");
//!     const key = try name.text(&buf); // the bytes between the quotes, or decoded into buf
//!
//! `get` finds a value by path and returns a `Value` whose `raw` slices the
//! document; strings are decoded only when asked for, into a caller buffer.
//! `Writer`, `set` and `delete` build or patch a document into an
//! `std.ArrayList(u8)` that may be cleared and reused across records.
//!
//! A path is a list of segments joined by '.': an object key, or an array
//! index in decimal ("items.0.id"); the empty path is the document itself.
//! Keys are compared with their escapes decoded; only the first of duplicate
//! keys is followed. A key containing '.' cannot be named by a path.
//!
//! Every function that reads a document validates all of it against RFC 8259
//! in one pass (strict grammar, UTF-8 in strings, no leading zeros, nothing
//! after the value) and fails with `error.Syntax`, `error.Utf8` or
//! `error.Depth` (nesting deeper than `max_depth`) instead of reading on. The
//! reader is one loop with an explicit stack, so no document can exhaust the
//! guest's 32 KiB stack. A lone UTF-16 surrogate in a \u escape is valid and
//! decodes to U+FFFD. The shared vectors in guest-sdk/testdata/json test this
//! file and the other SDKs' JSON code alike.

const std = @import("std");

/// The deepest nesting of arrays and objects a document may have.
pub const max_depth = 128;

pub const Error = error{
    /// The document is not valid JSON.
    Syntax,
    /// A string holds bytes that are not UTF-8.
    Utf8,
    /// Arrays and objects nest deeper than max_depth.
    Depth,
    /// The document is valid but has no value at the path.
    NotFound,
    /// The value is of another type.
    Type,
    /// The number does not fit.
    Range,
    /// The caller's buffer is too small.
    NoSpace,
};

/// The type of a JSON value.
pub const Kind = enum {
    null_value,
    boolean,
    number,
    string,
    array,
    object,

    /// "null", "bool", "number", "string", "array" or "object".
    pub fn name(k: Kind) []const u8 {
        return switch (k) {
            .null_value => "null",
            .boolean => "bool",
            .number => "number",
            .string => "string",
            .array => "array",
            .object => "object",
        };
    }
};

/// One JSON value of a document; raw slices the document (quotes included
/// for a string).
pub const Value = struct {
    kind: Kind,
    raw: []const u8,

    /// The value at path inside this one.
    pub fn get(v: Value, path: []const u8) Error!Value {
        return lookup(v.raw, path);
    }

    pub fn isNull(v: Value) bool {
        return v.kind == .null_value;
    }

    /// true or false, or error.Type.
    pub fn boolean(v: Value) Error!bool {
        if (v.kind != .boolean) return error.Type;
        return v.raw[0] == 't';
    }

    /// A number written as an integer (no fraction or exponent):
    /// error.Type for anything else, error.Range outside i64. -0 is 0.
    pub fn int(v: Value) Error!i64 {
        if (v.kind != .number) return error.Type;
        for (v.raw) |c| if (c == '.' or c == 'e' or c == 'E') return error.Type;
        const neg = v.raw[0] == '-';
        var u: u64 = 0;
        for (v.raw[@intFromBool(neg)..]) |c| {
            const m = @mulWithOverflow(u, 10);
            if (m[1] != 0) return error.Range;
            const a = @addWithOverflow(m[0], c - '0');
            if (a[1] != 0) return error.Range;
            u = a[0];
        }
        if (neg) {
            if (u > 1 << 63) return error.Range;
            if (u == 1 << 63) return std.math.minInt(i64);
            return -@as(i64, @intCast(u));
        }
        if (u > std.math.maxInt(i64)) return error.Range;
        return @intCast(u);
    }

    /// A number as the nearest f64: error.Type for anything else,
    /// error.Range when it is too large (a number too small is zero).
    pub fn float(v: Value) Error!f64 {
        if (v.kind != .number) return error.Type;
        const f = std.fmt.parseFloat(f64, v.raw) catch return error.Range;
        if (std.math.isInf(f)) return error.Range;
        return f;
    }

    /// A string's contents with escapes decoded: the bytes between its
    /// quotes when it has no escapes, otherwise the decoded text in buf (a
    /// buffer of raw.len bytes always suffices); error.NoSpace when buf is
    /// too small, error.Type for another value.
    pub fn text(v: Value, buf: []u8) Error![]const u8 {
        if (v.kind != .string) return error.Type;
        const in = v.raw[1 .. v.raw.len - 1];
        if (std.mem.indexOfScalar(u8, in, '\\') == null) return in;
        var w: usize = 0;
        var i: usize = 0;
        var tmp: [4]u8 = undefined;
        while (i < in.len) {
            if (in[i] != '\\') {
                if (w == buf.len) return error.NoSpace;
                buf[w] = in[i];
                w += 1;
                i += 1;
                continue;
            }
            const e = escape(in[i..], &tmp);
            if (buf.len - w < e.n) return error.NoSpace;
            @memcpy(buf[w .. w + e.n], tmp[0..e.n]);
            w += e.n;
            i += e.used;
        }
        return buf[0..w];
    }

    /// Whether the value is a string whose decoded contents are s.
    pub fn textEql(v: Value, s: []const u8) bool {
        return v.kind == .string and textEq(v.raw[1 .. v.raw.len - 1], s);
    }
};

/// Checks that doc is one valid JSON document.
pub fn valid(doc: []const u8) Error!void {
    _ = try find(doc, "", false);
}

/// The value at path in doc, after validating all of doc.
pub fn get(doc: []const u8, path: []const u8) Error!Value {
    return lookup(doc, path);
}

fn lookup(doc: []const u8, path: []const u8) Error!Value {
    const sp = try find(doc, path, true);
    return .{ .kind = sp.kind, .raw = doc[sp.start..sp.end] };
}

const Span = struct { kind: Kind, start: usize, end: usize };

fn isSpace(c: u8) bool {
    return c == ' ' or c == '\t' or c == '\n' or c == '\r';
}

fn skipWs(d: []const u8, i: usize) usize {
    var j = i;
    while (j < d.len and isSpace(d[j])) j += 1;
    return j;
}

fn segment(path: []const u8, at: usize) struct { seg: []const u8, next: usize } {
    if (at > path.len) return .{ .seg = path[0..0], .next = at };
    if (std.mem.indexOfScalarPos(u8, path, at, '.')) |i| return .{ .seg = path[at..i], .next = i + 1 };
    return .{ .seg = path[at..], .next = path.len + 1 };
}

fn index(seg: []const u8) ?usize {
    if (seg.len == 0 or seg.len > 9 or (seg[0] == '0' and seg.len > 1)) return null;
    var n: usize = 0;
    for (seg) |c| {
        if (c < '0' or c > '9') return null;
        n = n * 10 + (c - '0');
    }
    return n;
}

fn isDigit(d: []const u8, i: usize) bool {
    return i < d.len and d[i] >= '0' and d[i] <= '9';
}

/// One path followed through a document: match says the value about to be
/// read is on the path, at is where the rest of the path begins, and the
/// container at depth mdepth is the one whose members are compared with seg.
/// Once a member matched, that container compares no more (only the first of
/// duplicate keys is followed), and once a matched container closes without
/// the value, nothing else can match.
const Cursor = struct {
    path: []const u8,
    match: bool = true,
    found: bool = false,
    open: bool = false, // the found container has not closed
    at: usize,
    mdepth: usize = 0, // 0: none
    seg: []const u8 = "",
    next: usize = 0,
    elem: usize = 0,
    want_idx: ?usize = null,
    here_at: usize = 0,
    res: Span = .{ .kind = .null_value, .start = 0, .end = 0 },

    fn init(path: []const u8) Cursor {
        return .{ .path = path, .at = if (path.len == 0) 1 else 0 };
    }

    fn take(c: *Cursor) void {
        c.match = true;
        c.at = c.next;
        c.mdepth = 0;
    }
};

/// Validates doc and, when want is set, locates path in it.
fn find(d: []const u8, path: []const u8, want: bool) Error!Span {
    var cs = [1]Cursor{Cursor.init(path)};
    try scan(d, if (want) cs[0..] else cs[0..0]);
    if (want and !cs[0].found) return error.NotFound;
    return cs[0].res;
}

/// The most paths one getAll call looks up.
pub const max_paths = 8;

/// Looks up every path of paths in doc in one pass, as get does for one,
/// after validating all of doc: out[i] is the value at paths[i], or null. At
/// most max_paths paths, and out at least as long as paths (error.Type
/// otherwise). It allocates nothing.
pub fn getAll(doc: []const u8, paths: []const []const u8, out: []?Value) Error!void {
    if (paths.len > max_paths or out.len < paths.len) return error.Type;
    var arr: [max_paths]Cursor = undefined;
    for (paths, 0..) |p, i| arr[i] = Cursor.init(p);
    const cs = arr[0..paths.len];
    try scan(doc, cs);
    for (cs, 0..) |c, i| out[i] = if (c.found) Value{ .kind = c.res.kind, .raw = doc[c.res.start..c.res.end] } else null;
}

/// Validates d, moving every cursor along it: one loop with an explicit
/// stack, so no document can exhaust the guest's stack.
fn scan(d: []const u8, cs: []Cursor) Error!void {
    var i: usize = 0;
    var depth: usize = 0;
    var stack: [max_depth]u8 = undefined;
    const State = enum { value, after, key };
    var st = State.value;
    while (true) {
        switch (st) {
            .value => {
                i = skipWs(d, i);
                if (i >= d.len) return error.Syntax;
                const start = i;
                const c = d[i];
                var kind: Kind = undefined;
                switch (c) {
                    '{', '[' => {
                        if (depth == max_depth) return error.Depth;
                        stack[depth] = c;
                        depth += 1;
                        i += 1;
                        for (cs) |*cu| {
                            if (!cu.match or cu.found or cu.open) continue;
                            cu.match = false;
                            if (cu.at > cu.path.len) {
                                cu.res = .{ .kind = if (c == '{') .object else .array, .start = start, .end = 0 };
                                cu.open = true;
                                cu.here_at = depth;
                                continue;
                            }
                            cu.mdepth = depth;
                            const sg = segment(cu.path, cu.at);
                            cu.seg = sg.seg;
                            cu.next = sg.next;
                            cu.elem = 0;
                            cu.want_idx = if (c == '[') index(sg.seg) else null;
                        }
                        i = skipWs(d, i);
                        if (i < d.len and d[i] == c + 2) { // '{'+2 is '}', '['+2 is ']'
                            st = .after;
                            continue;
                        }
                        if (c == '{') {
                            st = .key;
                            continue;
                        }
                        for (cs) |*cu| {
                            if (cu.mdepth == depth and cu.want_idx != null and cu.want_idx.? == 0) cu.take();
                        }
                        continue;
                    },
                    '"' => {
                        i = try scanString(d, i);
                        kind = .string;
                    },
                    't', 'f', 'n' => {
                        const lit: []const u8 = if (c == 't') "true" else if (c == 'f') "false" else "null";
                        if (!std.mem.startsWith(u8, d[i..], lit)) return error.Syntax;
                        i += lit.len;
                        kind = if (c == 'n') .null_value else .boolean;
                    },
                    else => {
                        if (c != '-' and (c < '0' or c > '9')) return error.Syntax;
                        if (c == '-') i += 1;
                        if (i < d.len and d[i] == '0') {
                            i += 1;
                        } else if (isDigit(d, i)) {
                            while (isDigit(d, i)) i += 1;
                        } else return error.Syntax;
                        if (i < d.len and d[i] == '.') {
                            i += 1;
                            if (!isDigit(d, i)) return error.Syntax;
                            while (isDigit(d, i)) i += 1;
                        }
                        if (i < d.len and (d[i] == 'e' or d[i] == 'E')) {
                            i += 1;
                            if (i < d.len and (d[i] == '+' or d[i] == '-')) i += 1;
                            if (!isDigit(d, i)) return error.Syntax;
                            while (isDigit(d, i)) i += 1;
                        }
                        kind = .number;
                    },
                }
                for (cs) |*cu| {
                    if (cu.match and !cu.found and !cu.open and cu.at > cu.path.len) {
                        cu.res = .{ .kind = kind, .start = start, .end = i };
                        cu.found = true;
                    }
                    cu.match = false;
                }
                st = .after;
            },
            .after => {
                i = skipWs(d, i);
                if (depth == 0) {
                    if (i != d.len) return error.Syntax;
                    return;
                }
                if (i >= d.len) return error.Syntax;
                const top = stack[depth - 1];
                if (d[i] == ',') {
                    i += 1;
                    if (top == '{') {
                        st = .key;
                        continue;
                    }
                    for (cs) |*cu| {
                        if (cu.mdepth == depth) {
                            cu.elem += 1;
                            if (cu.want_idx != null and cu.elem == cu.want_idx.?) cu.take();
                        }
                    }
                    st = .value;
                } else if (d[i] == top + 2) {
                    i += 1;
                    for (cs) |*cu| {
                        if (cu.open and cu.here_at == depth) {
                            cu.res.end = i;
                            cu.open = false;
                            cu.found = true;
                        }
                        if (cu.mdepth == depth) cu.mdepth = 0;
                    }
                    depth -= 1;
                } else return error.Syntax;
            },
            .key => {
                i = skipWs(d, i);
                if (i >= d.len or d[i] != '"') return error.Syntax;
                const kstart = i + 1;
                i = try scanString(d, i);
                for (cs) |*cu| {
                    if (cu.mdepth == depth and textEq(d[kstart .. i - 1], cu.seg)) cu.take();
                }
                i = skipWs(d, i);
                if (i >= d.len or d[i] != ':') return error.Syntax;
                i += 1;
                st = .value;
            },
        }
    }
}

fn isHex(c: u8) bool {
    return (c >= '0' and c <= '9') or (c >= 'a' and c <= 'f') or (c >= 'A' and c <= 'F');
}

/// Reads the string whose opening quote is d[i]; returns the offset after
/// its closing quote.
fn scanString(d: []const u8, start: usize) Error!usize {
    var i = start + 1;
    while (i < d.len) {
        const c = d[i];
        if (c == '"') return i + 1;
        if (c == '\\') {
            if (i + 1 >= d.len) return error.Syntax;
            switch (d[i + 1]) {
                '"', '\\', '/', 'b', 'f', 'n', 'r', 't' => i += 2,
                'u' => {
                    if (d.len - i < 6 or !isHex(d[i + 2]) or !isHex(d[i + 3]) or !isHex(d[i + 4]) or !isHex(d[i + 5]))
                        return error.Syntax;
                    i += 6;
                },
                else => return error.Syntax,
            }
        } else if (c < 0x20) {
            return error.Syntax;
        } else if (c < 0x80) {
            i += 1;
        } else {
            const n = utf8Len(d[i..]);
            if (n == 0) return error.Utf8;
            i += n;
        }
    }
    return error.Syntax;
}

/// The length of the valid UTF-8 sequence b starts with (b[0] >= 0x80), or
/// 0: no overlong forms, surrogates or code points past U+10FFFF.
fn utf8Len(b: []const u8) usize {
    var n: usize = 0;
    var lo: u8 = 0x80;
    var hi: u8 = 0xBF;
    switch (b[0]) {
        0xC2...0xDF => n = 2,
        0xE0 => {
            n = 3;
            lo = 0xA0;
        },
        0xE1...0xEC, 0xEE, 0xEF => n = 3,
        0xED => {
            n = 3;
            hi = 0x9F;
        },
        0xF0 => {
            n = 4;
            lo = 0x90;
        },
        0xF1...0xF3 => n = 4,
        0xF4 => {
            n = 4;
            hi = 0x8F;
        },
        else => return 0,
    }
    if (b.len < n or b[1] < lo or b[1] > hi) return 0;
    for (b[2..n]) |c| if (c < 0x80 or c > 0xBF) return 0;
    return n;
}

fn hex4(b: []const u8) u21 {
    var r: u21 = 0;
    for (b[0..4]) |c| {
        const v: u21 = switch (c) {
            '0'...'9' => c - '0',
            'a'...'f' => c - 'a' + 10,
            else => c - 'A' + 10,
        };
        r = r << 4 | v;
    }
    return r;
}

const Esc = struct { n: usize, used: usize };

/// Decodes the escape at in[0] (a backslash) of a validated string into out.
fn escape(in: []const u8, out: *[4]u8) Esc {
    const c: u8 = switch (in[1]) {
        'b' => 0x08,
        'f' => 0x0C,
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'u' => {
            var r = hex4(in[2..]);
            var used: usize = 6;
            if (r >= 0xD800 and r <= 0xDBFF) {
                const lo: u21 = if (in.len >= 12 and in[6] == '\\' and in[7] == 'u') hex4(in[8..]) else 0;
                if (lo >= 0xDC00 and lo <= 0xDFFF) {
                    r = 0x10000 + ((r - 0xD800) << 10) + (lo - 0xDC00);
                    used = 12;
                } else r = 0xFFFD;
            } else if (r >= 0xDC00 and r <= 0xDFFF) r = 0xFFFD;
            const n = std.unicode.utf8Encode(r, out) catch unreachable;
            return .{ .n = n, .used = used };
        },
        else => in[1], // " \ /
    };
    out[0] = c;
    return .{ .n = 1, .used = 2 };
}

/// Whether the validated string contents in decode to s.
fn textEq(in: []const u8, s: []const u8) bool {
    var i: usize = 0;
    var j: usize = 0;
    var tmp: [4]u8 = undefined;
    while (i < in.len) {
        if (in[i] != '\\') {
            if (j >= s.len or in[i] != s[j]) return false;
            i += 1;
            j += 1;
            continue;
        }
        const e = escape(in[i..], &tmp);
        if (s.len - j < e.n or !std.mem.eql(u8, tmp[0..e.n], s[j .. j + e.n])) return false;
        i += e.used;
        j += e.n;
    }
    return j == s.len;
}

const hex_digits = "0123456789abcdef";

/// Appends s to out as a JSON string: quoted, with '"', '\\' and control
/// characters escaped (\n \r \t \b \f or \u00XX), every other byte as it is.
pub fn appendString(out: *std.ArrayList(u8), s: []const u8) !void {
    try out.append('"');
    var start: usize = 0;
    for (s, 0..) |c, i| {
        if (c >= 0x20 and c != '"' and c != '\\') continue;
        try out.appendSlice(s[start..i]);
        switch (c) {
            '"' => try out.appendSlice("\\\""),
            '\\' => try out.appendSlice("\\\\"),
            '\n' => try out.appendSlice("\\n"),
            '\r' => try out.appendSlice("\\r"),
            '\t' => try out.appendSlice("\\t"),
            0x08 => try out.appendSlice("\\b"),
            0x0C => try out.appendSlice("\\f"),
            else => try out.appendSlice(&[_]u8{ '\\', 'u', '0', '0', hex_digits[c >> 4], hex_digits[c & 15] }),
        }
        start = i + 1;
    }
    try out.appendSlice(s[start..]);
    try out.append('"');
}

/// Appends to out the document doc with the value at path replaced by
/// value, which must be one valid JSON value (it is checked). When only the
/// last segment of path is missing and what it names is an object,
/// "key":value is appended to that object before its closing brace.
/// Everything else is copied byte for byte. error.NotFound when path has
/// neither a value nor a parent object, error.Depth when the result would
/// nest deeper than max_depth.
pub fn set(out: *std.ArrayList(u8), doc: []const u8, path: []const u8, value: []const u8) !void {
    try valid(value);
    const start = out.items.len;
    errdefer out.shrinkRetainingCapacity(start);
    try setUnchecked(out, doc, path, value);
    // A container value may nest the result deeper than max_depth.
    for (value) |c| {
        if (isSpace(c)) continue;
        if (c == '{' or c == '[') try valid(out.items[start..]);
        break;
    }
}

fn setUnchecked(out: *std.ArrayList(u8), doc: []const u8, path: []const u8, value: []const u8) !void {
    if (find(doc, path, true)) |sp| {
        try out.appendSlice(doc[0..sp.start]);
        try out.appendSlice(value);
        try out.appendSlice(doc[sp.end..]);
        return;
    } else |e| {
        if (e != error.NotFound or path.len == 0) return e;
    }
    const dot = std.mem.lastIndexOfScalar(u8, path, '.');
    const parent = if (dot) |k| path[0..k] else path[0..0];
    const key = if (dot) |k| path[k + 1 ..] else path;
    const sp = try find(doc, parent, true);
    if (sp.kind != .object) return error.NotFound;
    const closing = sp.end - 1;
    try out.appendSlice(doc[0..closing]);
    for (doc[sp.start + 1 .. closing]) |c| {
        if (!isSpace(c)) {
            try out.append(',');
            break;
        }
    }
    try appendString(out, key);
    try out.append(':');
    try out.appendSlice(value);
    try out.appendSlice(doc[closing..]);
}

fn escapedAt(doc: []const u8, i: usize) bool {
    var k: usize = 0;
    var j = i;
    while (j > 0 and doc[j - 1] == '\\') : (j -= 1) k += 1;
    return k % 2 == 1;
}

/// Appends to out the document doc without the object member or array
/// element at path (and the comma that separated it). error.NotFound when
/// path has no value or is empty.
pub fn delete(out: *std.ArrayList(u8), doc: []const u8, path: []const u8) !void {
    if (path.len == 0) {
        try valid(doc);
        return error.NotFound;
    }
    const sp = try find(doc, path, true);
    var start = sp.start;
    var end = sp.end;
    var i = start - 1;
    while (isSpace(doc[i])) i -= 1;
    if (doc[i] == ':') {
        i -= 1;
        while (isSpace(doc[i])) i -= 1;
        i -= 1; // inside the key, before its closing quote
        while (!(doc[i] == '"' and !escapedAt(doc, i))) i -= 1;
        start = i;
        i -= 1;
        while (isSpace(doc[i])) i -= 1;
    }
    var j = end;
    while (j < doc.len and isSpace(doc[j])) j += 1;
    if (doc[j] == ',') {
        end = j + 1;
        while (end < doc.len and isSpace(doc[end])) end += 1;
    } else if (doc[i] == ',') {
        start = i;
        while (isSpace(doc[start - 1])) start -= 1;
    }
    try out.appendSlice(doc[0..start]);
    try out.appendSlice(doc[end..]);
}

/// Builds one JSON document into an ArrayList, placing commas and colons.
/// A misuse is recorded and returned as error.Writer by finish; the calls
/// after it do nothing. Reuse it with reset.
pub const Writer = struct {
    out: *std.ArrayList(u8),
    depth: usize = 0,
    open: [max_depth]u8 = undefined,
    count: [max_depth + 1]u32 = [_]u32{0} ** (max_depth + 1),
    key_due: bool = false,
    failed: ?anyerror = null,

    pub fn init(out: *std.ArrayList(u8)) Writer {
        return .{ .out = out };
    }

    /// Starts a new document, clearing out but keeping its capacity.
    pub fn reset(w: *Writer) void {
        w.out.clearRetainingCapacity();
        w.depth = 0;
        w.count[0] = 0;
        w.key_due = false;
        w.failed = null;
    }

    /// The document, or error.Writer after a misuse or while a container is
    /// open (or error.OutOfMemory).
    pub fn finish(w: *Writer) ![]const u8 {
        if (w.failed == null and (w.depth != 0 or w.key_due)) w.failed = error.Writer;
        if (w.failed) |e| return e;
        return w.out.items;
    }

    fn put(w: *Writer, b: []const u8) void {
        w.out.appendSlice(b) catch |e| {
            w.failed = e;
        };
    }

    fn pre(w: *Writer) bool {
        if (w.failed != null) return false;
        if (w.depth > 0 and w.open[w.depth - 1] == '{') {
            if (!w.key_due) {
                w.failed = error.Writer;
                return false;
            }
            w.key_due = false;
        } else if (w.depth == 0 and w.count[0] > 0) {
            w.failed = error.Writer;
            return false;
        } else if (w.count[w.depth] > 0) w.put(",");
        w.count[w.depth] += 1;
        return w.failed == null;
    }

    /// An object key; a value must follow.
    pub fn key(w: *Writer, k: []const u8) void {
        if (w.failed != null) return;
        if (w.depth == 0 or w.open[w.depth - 1] != '{' or w.key_due) {
            w.failed = error.Writer;
            return;
        }
        if (w.count[w.depth] > 0) w.put(",");
        appendString(w.out, k) catch |e| {
            w.failed = e;
        };
        w.put(":");
        w.key_due = true;
    }

    fn begin(w: *Writer, c: u8) void {
        if (w.failed == null and w.depth == max_depth) w.failed = error.Writer;
        if (!w.pre()) return;
        w.put(&[_]u8{c});
        w.open[w.depth] = c;
        w.depth += 1;
        w.count[w.depth] = 0;
    }

    fn end(w: *Writer, open: u8, c: u8) void {
        if (w.failed != null) return;
        if (w.depth == 0 or w.open[w.depth - 1] != open or w.key_due) {
            w.failed = error.Writer;
            return;
        }
        w.put(&[_]u8{c});
        w.depth -= 1;
    }

    pub fn beginObject(w: *Writer) void {
        w.begin('{');
    }
    pub fn endObject(w: *Writer) void {
        w.end('{', '}');
    }
    pub fn beginArray(w: *Writer) void {
        w.begin('[');
    }
    pub fn endArray(w: *Writer) void {
        w.end('[', ']');
    }

    /// A string value, escaped as appendString does.
    pub fn text(w: *Writer, s: []const u8) void {
        if (w.pre()) appendString(w.out, s) catch |e| {
            w.failed = e;
        };
    }

    pub fn int(w: *Writer, n: i64) void {
        if (!w.pre()) return;
        var tmp: [24]u8 = undefined;
        w.put(std.fmt.bufPrint(&tmp, "{d}", .{n}) catch unreachable);
    }

    /// A number in Zig's shortest round-trip form; NaN and infinities as
    /// null.
    pub fn float(w: *Writer, f: f64) void {
        if (!w.pre()) return;
        if (std.math.isNan(f) or std.math.isInf(f)) return w.put("null");
        var tmp: [32]u8 = undefined;
        w.put(std.fmt.bufPrint(&tmp, "{d}", .{f}) catch unreachable);
    }

    pub fn boolean(w: *Writer, b: bool) void {
        if (w.pre()) w.put(if (b) "true" else "false");
    }

    pub fn nul(w: *Writer) void {
        if (w.pre()) w.put("null");
    }

    /// raw, which must be one valid JSON value (such as a Value's raw),
    /// unchecked.
    pub fn raw(w: *Writer, b: []const u8) void {
        if (w.pre()) w.put(b);
    }
};
