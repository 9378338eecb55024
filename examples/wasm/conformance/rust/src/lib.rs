//! The Rust guest SDK's conformance operator: abi.ConformanceProcess's
//! reference semantics (abi/SPEC.md, "Conformance"), so that the host's
//! conformance test can run the golden vectors in abi/testdata/conformance
//! through a real Rust Wasm module. By the prefix of each record's value:
//!
//! | value starts with | output |
//! |---|---|
//! | `drop` | nothing |
//! | `dup` | the record, value upper-cased, twice |
//! | `route:NAME:` | the record unchanged, routed to output `NAME` |
//! | `error:MSG` | the whole call fails with the message `MSG` |
//! | `trap` | the module traps (executes `unreachable`) |
//! | `state:...` | a state operation (abi/conformance_state.go): the record with its result as the value |
//! | `async:...`, `async-sql:...`, `async-redis:...` | an async request (abi/conformance_async.go), and for each result delivered, a record describing it |
//! | anything else | the record with its value's ASCII letters upper-cased |
//!
//! Build it with `./build conformance.wasm`.

use wasmstream_guest::{
    bail, operator, submit, Arg, AsyncResult, Emitter, Error, ErrorKind, Record, RecordRef, Request, Result, State,
};

operator!(flat_map = conformance, on_result = result);

fn conformance(r: &mut Record, out: &mut Emitter) -> Result {
    let v = r.value();
    if v.starts_with(b"drop") {
    } else if v.starts_with(b"dup") {
        r.value_mut().make_ascii_uppercase();
        out.emit(r);
        out.emit(r);
    } else if let Some(rest) = v.strip_prefix(b"route:") {
        match rest.iter().position(|&c| c == b':') {
            Some(n) if n > 0 => match std::str::from_utf8(&rest[..n]) {
                Ok(name) => out.emit_to(name, r),
                Err(_) => bail!("bad route record {:?}: the output name is not UTF-8", String::from_utf8_lossy(v)),
            },
            _ => bail!("bad route record {:?}", String::from_utf8_lossy(v)),
        }
    } else if let Some(msg) = v.strip_prefix(b"error:") {
        return Err(Error::new(String::from_utf8_lossy(msg)));
    } else if v.starts_with(b"trap") {
        trap();
    } else if v.starts_with(b"async") && submit_async(v) {
    } else if let Some(op) = v.strip_prefix(b"state:") {
        let val = state_op(r, op)?;
        out.emit(&RecordRef { value: Some(&val), ..r.view() });
    } else {
        r.value_mut().make_ascii_uppercase();
        out.emit(r);
    }
    Ok(())
}

/// Submits the request an async record asks for (abi/SPEC.md, section 7)
/// and reports whether `v` was one; the record's value is the context.
fn submit_async(v: &[u8]) -> bool {
    let s = match std::str::from_utf8(v) {
        Ok(s) => s,
        Err(_) => return false,
    };
    let req = if let Some(rest) = s.strip_prefix("async:") {
        match rest.split_once(':') {
            Some((target, path)) => Request::http(target, "GET", path),
            None => return false,
        }
    } else if let Some(rest) = s.strip_prefix("async-sql:") {
        let mut parts = rest.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(target), Some(query), Some(a)) => Request::sql(target, query, &[Arg::Str(a), Arg::Int(7)]),
            _ => return false,
        }
    } else if let Some(rest) = s.strip_prefix("async-redis:") {
        match rest.split_once(':') {
            Some((target, key)) => Request::redis(target, &["GET", key]),
            None => return false,
        }
    } else {
        return false;
    };
    if let Err(e) = submit(&req.context(v)) {
        panic!("{}", e); // the conformance vectors submit nothing a host refuses
    }
    true
}

/// Emits the record describing an async result:
/// `result:TICKET:STATUS:CODE:BODY:ERROR:CONTEXT`, with `nil` for a nil
/// body, error or context.
fn result(r: &AsyncResult, out: &mut Emitter) -> Result {
    let mut v = Vec::with_capacity(32 + r.body().len() + r.context().len());
    v.extend_from_slice(format!("result:{}:{}:{}:", r.ticket, r.status, r.code).as_bytes());
    v.extend_from_slice(r.body.unwrap_or(b"nil"));
    v.push(b':');
    v.extend_from_slice(r.error.unwrap_or("nil").as_bytes());
    v.push(b':');
    v.extend_from_slice(r.context.unwrap_or(b"nil"));
    out.emit(&RecordRef { value: Some(&v), ..RecordRef::default() });
    Ok(())
}

/// Runs one of the conformance operator's state operations (abi/SPEC.md,
/// section 7) on the record's key's state (`op`: the operator's) and
/// returns the output value.
fn state_op(r: &Record, op: &[u8]) -> Result<Vec<u8>> {
    let mut st = State::of(r);
    fn get(st: &mut State) -> Result<Vec<u8>> {
        Ok(st.get("v")?.unwrap_or(b"none").to_vec())
    }
    if op == b"add" || op == b"op" {
        let st = if op == b"op" { State::operator() } else { st };
        Ok(st.add("n", 1)?.to_string().into_bytes())
    } else if let Some(x) = op.strip_prefix(b"put:") {
        st.put("v", x)?;
        get(&mut st)
    } else if op == b"get" {
        get(&mut st)
    } else if op == b"del" {
        st.delete("v")?;
        get(&mut st)
    } else if let Some(x) = op.strip_prefix(b"append:") {
        st.append("l", x)?;
        Ok(st.list("l")?.collect::<Vec<_>>().join(&b','))
    } else if op == b"addf" {
        Ok(st.add_f64("f", 0.1)?.to_le_bytes().to_vec())
    } else if op == b"big" {
        // One byte over the state.max_value the vectors run with (1 MiB).
        match st.put("b", &vec![b'x'; (1 << 20) + 1]) {
            Ok(()) => Ok(b"stored".to_vec()),
            Err(e) if e.kind() == ErrorKind::TooLarge => Ok(b"too large".to_vec()),
            Err(e) => Err(e),
        }
    } else {
        bail!("unknown state operation {:?}", String::from_utf8_lossy(op))
    }
}

/// Makes the module trap. Natively (in `cargo test`) it panics instead.
fn trap() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    panic!("conformance operator: trap");
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::path::Path;

    use wasmstream_guest::testing::{self, Runner};

    /// Runs every golden vector through the operator natively: the output
    /// must equal the expected frame byte for byte, or the error the
    /// expected message. The host's conformance test runs the same vectors
    /// through the Wasm module.
    #[test]
    fn conformance_vectors() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../../abi/testdata/conformance");
        let mut names: Vec<String> = fs::read_dir(&dir)
            .expect("reading the conformance vectors")
            .filter_map(|e| e.ok()?.file_name().into_string().ok()?.strip_suffix(".in.msgpack").map(String::from))
            .collect();
        names.sort();
        assert!(!names.is_empty(), "no conformance vectors in {}", dir.display());
        let mut op = Runner::flat_map(super::conformance);
        for name in names {
            let input = fs::read(dir.join(format!("{}.in.msgpack", name))).unwrap();
            let got = catch_unwind(AssertUnwindSafe(|| op.run_frame(&input)));
            match fs::read_to_string(dir.join(format!("{}.err", name))) {
                Ok(want) if want.trim() == "trap" => assert!(got.is_err(), "{}: want a trap (a panic natively)", name),
                Ok(want) => match got {
                    Ok(Err(e)) => assert_eq!(e.message(), want.trim(), "{}", name),
                    other => panic!("{}: want error {:?}, got {:?}", name, want.trim(), other.map(|r| r.map(|f| f.len()))),
                },
                Err(_) => {
                    let want = fs::read(dir.join(format!("{}.out.msgpack", name))).unwrap();
                    let got = got.expect("panicked").unwrap_or_else(|e| panic!("{}: {}", name, e));
                    assert!(got == want, "{}: output differs ({} bytes, want {})", name, got.len(), want.len());
                }
            }
        }
    }

    /// Runs the state vectors (abi/testdata/conformance-state) natively,
    /// each against a fresh native state with the host's default
    /// `state.max_value` of 1 MiB, as the host's state conformance test
    /// does through the Wasm module.
    #[test]
    fn state_conformance_vectors() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../../abi/testdata/conformance-state");
        let mut names: Vec<String> = fs::read_dir(&dir)
            .expect("reading the state vectors")
            .filter_map(|e| e.ok()?.file_name().into_string().ok()?.strip_suffix(".in.msgpack").map(String::from))
            .collect();
        names.sort();
        assert!(!names.is_empty(), "no state vectors in {}", dir.display());
        for name in names {
            testing::reset();
            let mut op = Runner::flat_map(super::conformance);
            let input = fs::read(dir.join(format!("{}.in.msgpack", name))).unwrap();
            let want = fs::read(dir.join(format!("{}.out.msgpack", name))).unwrap();
            let got = op.run_frame(&input).unwrap_or_else(|e| panic!("{}: {}", name, e));
            if got != want {
                let (got, want) = (testing::decode_frame(&got).unwrap(), testing::decode_frame(&want).unwrap());
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    let (g, w) = (String::from_utf8_lossy(g.value()), String::from_utf8_lossy(w.value()));
                    assert_eq!(g, w, "{}: record {}", name, i);
                }
                panic!("{}: output differs ({} records, want {})", name, got.len(), want.len());
            }
        }
    }

    /// Runs the async vectors (abi/testdata/conformance-async) natively:
    /// the output must equal the expected frame byte for byte, and the
    /// requests submitted, in order, must be the vector's. The SDK encodes
    /// a request as the Go reference does (sorted keys, smallest
    /// encodings), so they compare as bytes.
    #[test]
    fn async_conformance_vectors() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../../abi/testdata/conformance-async");
        let mut names: Vec<String> = fs::read_dir(&dir)
            .expect("reading the async vectors")
            .filter_map(|e| e.ok()?.file_name().into_string().ok()?.strip_suffix(".in.msgpack").map(String::from))
            .collect();
        names.sort();
        assert!(!names.is_empty(), "no async vectors in {}", dir.display());
        for name in names {
            testing::reset();
            let mut op = Runner::flat_map(super::conformance).on_result(super::result);
            let input = fs::read(dir.join(format!("{}.in.msgpack", name))).unwrap();
            let want = fs::read(dir.join(format!("{}.out.msgpack", name))).unwrap();
            let got = op.run_frame(&input).unwrap_or_else(|e| panic!("{}: {}", name, e));
            assert!(got == want, "{}: output differs ({} bytes, want {})", name, got.len(), want.len());
            let subs = testing::submitted();
            let mut got = Vec::new();
            match subs.len() {
                n if n <= 15 => got.push(0x90 | n as u8),
                n => {
                    got.push(0xdc);
                    got.extend_from_slice(&(n as u16).to_be_bytes());
                }
            }
            for s in &subs {
                got.extend_from_slice(s);
            }
            let want = fs::read(dir.join(format!("{}.submits.msgpack", name))).unwrap();
            assert!(got == want, "{}: submitted requests differ ({} requests)", name, subs.len());
        }
    }
}
