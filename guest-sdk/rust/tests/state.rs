//! The state API over the native stand-in, which has the host's semantics:
//! values, the growing read buffer, TTLs, counters, lists (msgpack bin
//! items, byte for byte as the host writes them), maps, scopes, the size
//! limit, error kinds and messages, and per-call transactions.

use std::time::Duration;

use wasmstream_guest::testing::{self, Runner, StateEntry};
use wasmstream_guest::{bail, Config, Emitter, ErrorKind, OwnedRecord, Record, Result, State};

fn entry(scope: i32, key: &[u8], name: &[u8], value: &[u8]) -> StateEntry {
    StateEntry { scope, key: key.to_vec(), name: name.to_vec(), value: value.to_vec() }
}

#[test]
fn put_get_delete() {
    testing::reset();
    let mut st = State::key(b"k");
    assert_eq!(st.get("a").unwrap(), None);
    st.put("a", b"one").unwrap();
    assert_eq!(st.get("a").unwrap(), Some(&b"one"[..]));
    st.put("a", b"").unwrap();
    assert_eq!(st.get("a").unwrap(), Some(&b""[..]), "an empty value is not an absent one");
    st.delete("a").unwrap();
    assert_eq!(st.get("a").unwrap(), None);
    st.delete("never").unwrap();
    assert!(testing::state().is_empty());
}

#[test]
fn get_grows_its_buffer_and_reads_again() {
    testing::reset();
    let st = State::key(b"k");
    for n in [0, 1, 255, 256, 257, 4096, 100_000, 1 << 20] {
        let v: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
        st.put("v", &v).unwrap();
        let mut st = State::key(b"k");
        assert_eq!(st.get("v").unwrap(), Some(&v[..]), "{} bytes", n);
        // Again, into the grown buffer, then a short one.
        assert_eq!(st.get("v").unwrap().map(|b| b.len()), Some(n));
        st.put("short", b"s").unwrap();
        assert_eq!(st.get("short").unwrap(), Some(&b"s"[..]));
        let mut out = vec![9; 3];
        assert!(st.get_into("v", &mut out).unwrap());
        assert_eq!(out, v);
        assert!(!st.get_into("none", &mut out).unwrap());
        assert!(out.is_empty(), "get_into replaces the contents");
    }
}

#[test]
fn handles_alive_at_once_have_their_own_buffers() {
    testing::reset();
    State::key(b"a").put("v", b"from a").unwrap();
    State::key(b"b").put("v", &[b'b'; 1000]).unwrap();
    let mut a = State::key(b"a");
    let mut b = State::key(b"b");
    let va = a.get("v").unwrap().unwrap();
    let vb = b.get("v").unwrap().unwrap();
    assert_eq!(va, b"from a");
    assert_eq!(vb, &[b'b'; 1000][..]);
    drop((a, b));
    // The spare buffer is reused by the next handle.
    let mut c = State::key(b"b");
    assert_eq!(c.get("v").unwrap().map(|v| v.len()), Some(1000));
}

#[test]
fn scopes_and_keys_are_separate() {
    testing::reset();
    State::key(b"k1").put("n", b"1").unwrap();
    State::key(b"k2").put("n", b"2").unwrap();
    State::operator().put("n", b"op").unwrap();
    State::key(b"").put("n", b"empty key").unwrap();
    assert_eq!(State::key(b"k1").get("n").unwrap(), Some(&b"1"[..]));
    assert_eq!(State::operator().get("n").unwrap(), Some(&b"op"[..]));
    assert_eq!(
        testing::state(),
        vec![
            entry(0, b"", b"n", b"empty key"),
            entry(0, b"k1", b"n", b"1"),
            entry(0, b"k2", b"n", b"2"),
            entry(1, b"", b"n", b"op"),
        ]
    );
    assert_eq!(format!("{:?}", State::key(b"a\0\"")), r#"State::key("a\x00\"")"#);
    assert_eq!(format!("{:?}", State::operator()), "State::operator()");
}

#[test]
fn state_of_a_record_is_its_key() {
    testing::reset();
    let mut op = Runner::map(|r: &mut Record| {
        State::of(r).add("count", 1)?;
        Ok(())
    });
    let recs = [OwnedRecord::new("x").with_key("a"), OwnedRecord::new("y").with_key("b"), OwnedRecord::new("z").with_key("a")];
    op.run(&recs).unwrap();
    op.run(&recs).unwrap();
    assert_eq!(State::key(b"a").counter("count").unwrap(), 4);
    assert_eq!(State::key(b"b").counter("count").unwrap(), 2);
    // A nil key is the empty key.
    op.run(&[OwnedRecord::new("v")]).unwrap();
    assert_eq!(State::key(b"").counter("count").unwrap(), 1);
}

#[test]
fn counters() {
    testing::reset();
    let st = State::key(b"k");
    assert_eq!(st.counter("c").unwrap(), 0);
    assert!(testing::state().is_empty(), "reading a counter writes nothing");
    assert_eq!(st.add("c", 5).unwrap(), 5);
    assert_eq!(st.add("c", -7).unwrap(), -2);
    assert_eq!(st.counter("c").unwrap(), -2);
    assert_eq!(testing::state(), vec![entry(0, b"k", b"c", &(-2i64).to_le_bytes())]);
    assert_eq!(st.add("c", i64::MAX).unwrap(), i64::MAX - 2);
    assert_eq!(st.add("c", 3).unwrap(), i64::MIN, "counters wrap as the host's int64 does");
    // A value put as 8 little-endian bytes is a counter.
    st.put("p", &41i64.to_le_bytes()).unwrap();
    assert_eq!(st.add("p", 1).unwrap(), 42);
}

#[test]
fn not_a_counter() {
    testing::reset();
    let mut st = State::key(b"k");
    st.put("s", b"text").unwrap();
    let e = st.add("s", 1).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotCounter);
    assert_eq!(e.message(), r#"wasmstream: state value is not a counter: add "s""#);
    let e = st.counter("s").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotCounter);
    assert_eq!(e.message(), r#"wasmstream: state value is not a counter: counter "s" holds 4 bytes"#);
    st.put("long", &[0; 9]).unwrap();
    assert_eq!(st.counter("long").unwrap_err().kind(), ErrorKind::NotCounter);
    assert_eq!(st.get("s").unwrap(), Some(&b"text"[..]), "a failed add leaves the value");
    assert_eq!(wasmstream_guest::Error::new("x").kind(), ErrorKind::Other);
}

#[test]
fn too_large() {
    testing::reset();
    testing::set_state_max_value(10);
    let st = State::key(b"k");
    st.put("v", &[1; 10]).unwrap();
    let e = st.put("v", &[1; 11]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge);
    assert_eq!(e.message(), r#"wasmstream: state value too large: put "v""#);
    assert_eq!(State::key(b"k").get_into("v", &mut Vec::new()).unwrap(), true);
    assert_eq!(testing::state(), vec![entry(0, b"k", b"v", &[1; 10])], "a refused put leaves the old value");
    // A list may grow while the host's bound (5 header bytes per element
    // at most) holds.
    st.append("l", b"abc").unwrap(); // 5 bytes, then 3 more checked against 5+5+3
    let e = st.append("l", b"abc").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge);
    assert_eq!(e.message(), r#"wasmstream: state value too large: append "l""#);
    // The message quotes names as the Go SDK does.
    let e = st.put("a\"b\\c\n\0\u{e9}", &[0; 11]).unwrap_err();
    assert_eq!(e.message(), "wasmstream: state value too large: put \"a\\\"b\\\\c\\n\\x00\u{e9}\"");
    testing::set_state_max_value(1 << 20);
    st.put("big", &vec![0; 1 << 20]).unwrap();
    assert_eq!(st.put("big", &vec![0; (1 << 20) + 1]).unwrap_err().kind(), ErrorKind::TooLarge);
    testing::reset();
    st.put("big", &vec![0; 1 << 20]).unwrap();
    assert_eq!(st.put("big", &vec![0; (1 << 20) + 1]).unwrap_err().kind(), ErrorKind::TooLarge, "1 MiB by default");
}

#[test]
fn lists() {
    testing::reset();
    let mut st = State::key(b"k");
    assert_eq!(st.list("l").unwrap().len(), 0);
    let elems: Vec<Vec<u8>> = [0usize, 1, 255, 256, 65535, 65536, 70000].iter().map(|&n| vec![n as u8; n]).collect();
    for e in &elems {
        st.append("l", e).unwrap();
    }
    let list = st.list("l").unwrap();
    assert_eq!(list.len(), elems.len());
    let got: Vec<&[u8]> = list.collect();
    assert_eq!(got, elems.iter().map(|e| &e[..]).collect::<Vec<_>>());
    // The value, byte for byte as the host's state_append writes it.
    let mut want = Vec::new();
    for e in &elems {
        let n = e.len();
        if n < 256 {
            want.extend_from_slice(&[0xc4, n as u8]);
        } else if n < 65536 {
            want.extend_from_slice(&[0xc5, (n >> 8) as u8, n as u8]);
        } else {
            want.push(0xc6);
            want.extend_from_slice(&(n as u32).to_be_bytes());
        }
        want.extend_from_slice(e);
    }
    assert_eq!(st.get("l").unwrap(), Some(&want[..]));
    st.delete("l").unwrap();
    st.append("l", b"x").unwrap();
    assert_eq!(format!("{:?}", st.list("l").unwrap()), r#"["x"]"#);
}

#[test]
fn a_value_that_is_not_a_list() {
    testing::reset();
    let mut st = State::key(b"k");
    for bad in [&b"text"[..], &[0xc4, 5, 1][..], &[0xc5, 0][..], &[0xc4, 0, 0xc6, 0, 0, 0][..]] {
        st.put("l", bad).unwrap();
        let e = st.list("l").unwrap_err();
        assert_eq!(e.message(), r#"wasmstream: state "l" is not a list"#, "{:?}", bad);
    }
}

#[test]
fn maps() {
    testing::reset();
    let mut st = State::key(b"user");
    let mut m = st.map("seen");
    assert_eq!(m.get("a").unwrap(), None);
    m.put("a", b"1").unwrap();
    m.put(b"b\0c", b"2").unwrap();
    assert_eq!(m.add("n", 3).unwrap(), 3);
    assert_eq!(m.counter("n").unwrap(), 3);
    assert_eq!(m.get("a").unwrap(), Some(&b"1"[..]));
    let mut out = Vec::new();
    assert!(m.get_into(b"b\0c", &mut out).unwrap());
    assert_eq!(out, b"2");
    m.delete("a").unwrap();
    assert_eq!(m.get("a").unwrap(), None);
    m.put_ttl("t", b"soon", Duration::from_secs(1)).unwrap();
    // Entries are state values named "map\0key".
    assert_eq!(
        testing::state(),
        vec![
            entry(0, b"user", b"seen\0b\0c", b"2"),
            entry(0, b"user", b"seen\0n", &3i64.to_le_bytes()),
            entry(0, b"user", b"seen\0t", b"soon"),
        ]
    );
    assert_eq!(st.get("seen\0b\0c").unwrap(), Some(&b"2"[..]));
    testing::advance_time(Duration::from_secs(1));
    assert_eq!(st.map("seen").get("t").unwrap(), None);
    st.put("bad", b"x").unwrap();
    assert_eq!(st.map("seen").get(""), Ok(None));
    let e = State::key(b"user").map("seen").add("b\0c", 1).unwrap_err();
    assert_eq!(e.message(), r#"wasmstream: state value is not a counter: add "seen\x00b\x00c""#);
}

#[test]
fn ttls() {
    testing::reset();
    let mut st = State::key(b"k");
    st.put_ttl("t", b"v", Duration::from_millis(1000)).unwrap();
    st.put_ttl("short", b"v", Duration::from_nanos(1)).unwrap(); // one millisecond, not forever
    st.put_ttl("zero", b"v", Duration::ZERO).unwrap(); // forever
    st.put("forever", b"v").unwrap();
    testing::advance_time(Duration::from_millis(999));
    assert_eq!(st.get("t").unwrap(), Some(&b"v"[..]));
    assert_eq!(st.get("short").unwrap(), None);
    // A counter keeps its expiry when added to.
    st.put_ttl("c", &1i64.to_le_bytes(), Duration::from_millis(2)).unwrap();
    assert_eq!(st.add("c", 1).unwrap(), 2);
    st.append("l", b"a").unwrap();
    testing::advance_time(Duration::from_millis(1));
    assert_eq!(st.get("t").unwrap(), None, "expired at the TTL");
    assert_eq!(st.counter("c").unwrap(), 2);
    testing::advance_time(Duration::from_millis(1));
    assert_eq!(st.counter("c").unwrap(), 0, "the counter expired with its first value's TTL");
    assert_eq!(st.add("c", 5).unwrap(), 5, "an expired counter starts again from 0");
    testing::advance_time(Duration::from_secs(1 << 30));
    assert_eq!(st.counter("c").unwrap(), 5, "and keeps no expiry");
    assert_eq!(st.get("zero").unwrap(), Some(&b"v"[..]));
    assert_eq!(st.get("forever").unwrap(), Some(&b"v"[..]));
    assert_eq!(st.list("l").unwrap().count(), 1);
    let names: Vec<Vec<u8>> = testing::state().into_iter().map(|e| e.name).collect();
    assert_eq!(names, vec![b"c".to_vec(), b"forever".to_vec(), b"l".to_vec(), b"zero".to_vec()]);
}

#[test]
fn a_failed_call_writes_nothing() {
    testing::reset();
    let mut op = Runner::flat_map(|r: &mut Record, out: &mut Emitter| {
        let st = State::of(r);
        let n = st.add("count", 1)?;
        st.append("seen", r.value())?;
        State::operator().add("total", 1)?;
        if r.value() == b"fail" {
            bail!("failing after writing (count {})", n);
        }
        out.emit(r);
        Ok(())
    });
    op.run(&[OwnedRecord::new("a").with_key("k")]).unwrap();
    let before = testing::state();
    let e = op.run(&[OwnedRecord::new("b").with_key("k"), OwnedRecord::new("fail").with_key("k")]).unwrap_err();
    assert_eq!(e.message(), "failing after writing (count 3)");
    assert_eq!(testing::state(), before, "the failed batch's writes were undone");
    op.run(&[OwnedRecord::new("c").with_key("k")]).unwrap();
    let mut st = State::key(b"k");
    assert_eq!(st.counter("count").unwrap(), 2);
    assert_eq!(st.list("seen").unwrap().collect::<Vec<_>>(), vec![&b"a"[..], b"c"]);
    assert_eq!(State::operator().counter("total").unwrap(), 2);
}

#[test]
fn init_writes_state() {
    testing::reset();
    let mut op = Runner::map(|_: &mut Record| Ok(())).on_init(|c: &Config| {
        State::operator().put("instance", c.instance.to_string().as_bytes())?;
        if c.instance > 5 {
            State::operator().put("bad", b"x")?;
            bail!("too many instances");
        }
        Ok(())
    });
    op.init(&Config { instance: 3, ..Config::default() }).unwrap();
    assert!(op.init(&Config { instance: 7, ..Config::default() }).is_err());
    assert_eq!(testing::state(), vec![entry(1, b"", b"instance", b"3")]);
}

#[test]
fn reset_clears_state() {
    testing::reset();
    State::key(b"k").put("v", b"x").unwrap();
    testing::set_state_max_value(1);
    testing::advance_time(Duration::from_secs(5));
    testing::reset();
    assert!(testing::state().is_empty());
    State::key(b"k").put("v", b"xy").unwrap();
}

#[test]
fn state_is_per_thread() {
    testing::reset();
    State::key(b"k").put("v", b"main").unwrap();
    std::thread::spawn(|| assert_eq!(State::key(b"k").get("v").unwrap(), None)).join().unwrap();
}

fn _borrows(r: &Record) -> Result<usize> {
    // get's slice borrows the handle: it compiles only while the handle
    // lives, and puts through the same handle need a copy first.
    let mut st = State::of(r);
    let v = st.get("v")?.map(|v| v.to_vec()).unwrap_or_default();
    st.put("w", &v)?;
    Ok(v.len())
}
