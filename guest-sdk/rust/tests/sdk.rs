//! The SDK's native tests: the codec against the ABI's golden frames and the
//! host reader's error messages, every handler shape, errors, config and the
//! native host stand-ins.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use wasmstream_guest::testing::{self, decode_frame, encode_frame, Runner};
use wasmstream_guest::{
    bail, count, log, Batch, Config, Emitter, Error, Header, Headers, Level, OwnedRecord, Record, RecordRef, Result,
    Value,
};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../abi/testdata")
}

/// Every frame in abi/testdata: the golden frames and the conformance
/// inputs and outputs.
fn golden() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in ["frames", "conformance"] {
        for e in fs::read_dir(testdata().join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().map_or(false, |x| x == "msgpack") {
                out.push((format!("{}/{}", dir, p.file_name().unwrap().to_string_lossy()), fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    assert!(out.len() >= 20, "golden frames missing in {}", testdata().display());
    out
}

fn identity(_: &mut Record) -> Result {
    Ok(())
}

#[test]
fn golden_frames_pass_through_unchanged() {
    let mut op = Runner::map(identity);
    for (name, frame) in golden() {
        assert!(op.run_frame(&frame).unwrap() == frame, "{}: identity map changed the frame", name);
    }
}

#[test]
fn golden_frames_reencode_byte_for_byte() {
    // Emitting views (copied headers), views with header lists (encoded
    // headers) and owned copies exercises every encoding path.
    let mut views = Runner::flat_map(|r: &mut Record, out: &mut Emitter| {
        out.emit(&r.view());
        Ok(())
    });
    let mut lists = Runner::flat_map(|r: &mut Record, out: &mut Emitter| {
        let hs: Vec<Header> = r.headers.iter().collect();
        out.emit(&RecordRef { headers: Headers::from(&hs), ..r.view() });
        Ok(())
    });
    let mut owned = Runner::flat_map(|r: &mut Record, out: &mut Emitter| {
        out.emit(&r.to_owned());
        Ok(())
    });
    for (name, frame) in golden() {
        assert!(views.run_frame(&frame).unwrap() == frame, "{}: views", name);
        assert!(lists.run_frame(&frame).unwrap() == frame, "{}: header lists", name);
        assert!(owned.run_frame(&frame).unwrap() == frame, "{}: owned records", name);
        assert!(encode_frame(&decode_frame(&frame).unwrap()) == frame, "{}: decode_frame/encode_frame", name);
    }
}

/// A frame using a wide or unusual encoding for every field, and the
/// canonical frame a writer makes of it.
fn wide_frame() -> (Vec<u8>, Vec<u8>) {
    let wide = vec![
        0x92, // frame: records and one reserved element
        0xdc, 0x00, 0x03, // records: array 16
        // record 1: 5 fields with a nil output; key as str, value as bin 16,
        // timestamp as uint 32, headers as array 16 with a bin name and a
        // str value
        0x95, 0xa1, b'k', 0xc5, 0x00, 0x02, b'h', b'i', 0xce, 0, 0, 0, 5, 0xdc, 0x00, 0x02, 0xc4, 0x01, b'n',
        0xd9, 0x01, b'v', 0xc0,
        // record 2: 6 fields: nil, nil, int 8, an empty header array, an
        // empty output, a bool to skip
        0x96, 0xc0, 0xc0, 0xd0, 0xff, 0x90, 0xa0, 0xc3,
        // record 3: canonical but for the timestamp (uint 64 of a small
        // value) and a nil header name
        0x94, 0xc0, 0xc4, 0x01, b'x', 0xcf, 0, 0, 0, 0, 0, 0, 0, 7, 0x92, 0xc0, 0xc0,
        // the reserved element: a map
        0x81, 0xa1, b'x', 0x01,
    ];
    let canonical = vec![
        0x91, 0xdd, 0, 0, 0, 3, //
        0x94, 0xc4, 0x01, b'k', 0xc4, 0x02, b'h', b'i', 0x05, 0x92, 0xa1, b'n', 0xc4, 0x01, b'v', //
        0x94, 0xc0, 0xc0, 0xff, 0xc0, //
        0x94, 0xc0, 0xc4, 0x01, b'x', 0x07, 0x92, 0xa0, 0xc0,
    ];
    (wide, canonical)
}

#[test]
fn wide_encodings_are_read_and_written_canonically() {
    let (wide, canonical) = wide_frame();
    let recs = decode_frame(&wide).unwrap();
    assert_eq!(
        recs,
        vec![
            OwnedRecord::new("hi").with_key("k").with_timestamp(5).with_header("n", Some(b"v")),
            OwnedRecord { timestamp: -1, ..OwnedRecord::default() },
            OwnedRecord::new("x").with_timestamp(7).with_header("", None),
        ]
    );
    assert_eq!(Runner::map(identity).run_frame(&wide).unwrap(), canonical);
    // An output name that is not UTF-8 is kept as it is.
    let odd = vec![0x91, 0x91, 0x95, 0xc0, 0xc0, 0x01, 0xc0, 0xa2, 0xff, 0xfe];
    assert_eq!(Runner::map(identity).run_frame(&odd).unwrap(), vec![0x91, 0xdd, 0, 0, 0, 1, 0x95, 0xc0, 0xc0, 0x01, 0xc0, 0xa2, 0xff, 0xfe]);
    let mut keep = Runner::filter(|_: &Record| Ok(true));
    assert_eq!(keep.run_frame(&wide).unwrap(), canonical);
}

#[test]
fn malformed_frames_fail_as_the_host_reader_does() {
    let valid = encode_frame(&[OwnedRecord::new("value").with_key("k").with_timestamp(5)]);
    let mut trailing = valid.clone();
    trailing.push(0);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "at byte 0: need 1 bytes, 0 left"),
        ("not an array", vec![0x81, 0xa1, b'a', 0x01], "at byte 0: want an array, found a map"),
        ("empty frame", vec![0x90], "at byte 0: frame is an empty array; want [records, ...]"),
        ("count too large", vec![0x91, 0xdd, 0xff, 0xff, 0xff, 0xff], "at byte 1: frame declares 4294967295 records; the limit is 16777216"),
        ("count beyond bytes", vec![0x91, 0xdd, 0, 0, 0, 9, 0x94], "at byte 1: frame declares 9 records but has only 1 bytes left"),
        ("truncated", valid[..valid.len() - 3].to_vec(), "value: 5-byte value runs past the end of the frame"),
        ("short record", vec![0x91, 0x91, 0x93, 0xc0, 0xc0, 0x00, 0x00, 0x00], "at byte 2: record has 3 fields; want at least 4 (key, value, timestamp, headers)"),
        ("value is an int", vec![0x91, 0x91, 0x94, 0xc0, 0x05, 0x00, 0xc0], "at byte 4: value: want bin, str or nil, found an integer"),
        ("timestamp is a string", vec![0x91, 0x91, 0x94, 0xc0, 0xc0, 0xa1, b'x', 0xc0], "at byte 5: timestamp: want an integer, found a string"),
        ("odd headers", vec![0x91, 0x91, 0x94, 0xc0, 0xc0, 0x00, 0x91, 0xa1, b'x'], "at byte 6: headers: array of 1 items; want name/value pairs"),
        ("trailing bytes", trailing, "1 trailing bytes after the frame"),
        ("uint64 overflow", vec![0x91, 0x91, 0x94, 0xc0, 0xc0, 0xcf, 0xff, 0, 0, 0, 0, 0, 0, 0, 0xc0], "at byte 5: timestamp: 18374686479671623680 overflows int64"),
        ("invalid type byte", vec![0x92, 0x90, 0xc1], "at byte 2: invalid msgpack type byte 0xc1"),
        ("map32 count", vec![0x92, 0x90, 0xdf, 0x80, 0, 0, 0], "at byte 2: container of 4294967296 items but only 0 bytes left"),
        ("ext32 size", vec![0x92, 0x90, 0xc9, 0xff, 0xff, 0xff, 0xff, 0x01], "at byte 2: value runs past the end of the frame"),
        ("header name is an int", vec![0x91, 0x91, 0x94, 0xc0, 0xc0, 0x00, 0x92, 0x01, 0xc0], "at byte 7: header name: want bin, str or nil, found an integer"),
    ];
    let mut map = Runner::map(identity);
    let mut batch = Runner::process_batch(|_: &mut Batch, _: &mut Emitter| Ok(()));
    for (name, frame, want) in cases {
        for got in [map.run_frame(&frame), batch.run_frame(&frame)] {
            let err = got.expect_err(name);
            assert!(err.message().starts_with("decoding input batch: malformed frame at byte "), "{}: {}", name, err);
            assert!(err.message().ends_with(want), "{}: got {:?}, want it to end with {:?}", name, err.message(), want);
        }
    }
}

#[test]
fn mutated_frames_never_panic() {
    let mut frame = encode_frame(&[
        OwnedRecord::new("hello").with_key("k").with_timestamp(1_700_000_000_000).with_header("a", Some(b"b")),
        OwnedRecord::new(vec![b'x'; 300]).with_header("n", None).with_output("out"),
        OwnedRecord { value: None, timestamp: -70000, ..OwnedRecord::default() },
    ]);
    let mut rng = 0x2545f4914f6cdd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut map = Runner::map(|r: &mut Record| {
        r.value_mut().make_ascii_uppercase();
        Ok(())
    });
    let mut views = Runner::flat_map(|r: &mut Record, out: &mut Emitter| {
        out.emit(&r.view());
        out.emit_to("x", r);
        Ok(())
    });
    let orig = frame.clone();
    for n in 0..=orig.len() {
        let _ = map.run_frame(&orig[..n]);
    }
    for _ in 0..20000 {
        frame.copy_from_slice(&orig);
        for _ in 0..1 + next() % 4 {
            let i = (next() % frame.len() as u64) as usize;
            frame[i] = next() as u8;
        }
        let a = map.run_frame(&frame);
        let b = views.run_frame(&frame);
        // Both handlers read every record: they accept the same frames,
        // and what they write decodes.
        assert_eq!(a.is_ok(), b.is_ok());
        if let (Ok(a), Ok(b)) = (a, b) {
            assert_eq!(decode_frame(&a).unwrap().len() * 2, decode_frame(&b).unwrap().len());
        }
    }
}

#[test]
fn handler_shapes() {
    let input = vec![
        OwnedRecord::new("keep me").with_key("a").with_timestamp(1),
        OwnedRecord::new("drop me").with_key("b").with_timestamp(2).with_header("h", Some(b"1")),
        OwnedRecord::new("alert: disk").with_key("c").with_timestamp(3),
    ];
    let mut filter = Runner::filter(|r: &Record| Ok(!r.value().starts_with(b"drop")));
    assert_eq!(filter.run(&input).unwrap(), vec![input[0].clone(), input[2].clone()]);

    // A map may re-slice, change the timestamp and route.
    let mut map = Runner::map(|r: &mut Record| {
        if let Some(v) = r.value.take() {
            let n = v.len().min(4);
            r.value = Some(&mut v[..n]);
        }
        r.timestamp += 10;
        if r.value().starts_with(b"aler") {
            r.output = "alerts";
        }
        Ok(())
    });
    let out = map.run(&input).unwrap();
    assert_eq!(out[0], OwnedRecord::new("keep").with_key("a").with_timestamp(11));
    assert_eq!(out[1], OwnedRecord::new("drop").with_key("b").with_timestamp(12).with_header("h", Some(b"1")));
    assert_eq!(out[2], OwnedRecord::new("aler").with_key("c").with_timestamp(13).with_output("alerts"));

    // A flat map may emit any number of records, new ones included, to
    // any output.
    let mut flat = Runner::flat_map(|r: &mut Record, out: &mut Emitter| {
        let level = [Header::new("level", Some(b"INFO"))];
        let mut hs: Vec<Header> = r.headers.iter().collect();
        hs.push(Header::new("n", Some(b"2")));
        out.emit(&RecordRef { headers: Headers::from(&hs), ..r.view() });
        out.emit_to("copies", r);
        out.emit(&RecordRef { value: Some(b"new"), headers: Headers::from(&level), ..Default::default() });
        assert_eq!(out.len() % 3, 0);
        Ok(())
    });
    let out = flat.run(&input[1..2]).unwrap();
    assert_eq!(
        out,
        vec![
            input[1].clone().with_header("n", Some(b"2")),
            input[1].clone().with_output("copies"),
            OwnedRecord::new("new").with_header("level", Some(b"INFO")),
        ]
    );

    // A batch handler sees the whole batch and may reorder it.
    let mut rev = Runner::process_batch(|b: &mut Batch, out: &mut Emitter| {
        let n = b.len();
        let mut recs = b.collect::<Result<Vec<Record>>>()?;
        assert_eq!(recs.len(), n);
        recs.reverse();
        for r in &recs {
            out.emit(r);
        }
        Ok(())
    });
    let mut want = input.clone();
    want.reverse();
    assert_eq!(rev.run(&input).unwrap(), want);
    assert_eq!(rev.run(&[]).unwrap(), vec![]);
}

#[test]
fn headers_view() {
    let input = [OwnedRecord::new("v")
        .with_header("trace", Some(b"abc"))
        .with_header("trace", None)
        .with_header("content-type", Some(b"text/plain"))];
    let mut op = Runner::flat_map(|r: &mut Record, _: &mut Emitter| {
        assert_eq!(r.headers.len(), 3);
        assert_eq!(r.headers.get("trace"), Some(Header::new("trace", Some(b"abc"))));
        assert_eq!(r.headers.get("content-type").and_then(|h| h.value), Some(&b"text/plain"[..]));
        assert_eq!(r.headers.get("missing"), None);
        let names: Vec<&str> = r.headers.iter().map(|h| h.name_str().unwrap()).collect();
        assert_eq!(names, ["trace", "trace", "content-type"]);
        assert_eq!(r.headers.iter().nth(1).unwrap().value, None);
        Ok(())
    });
    assert!(op.run(&input).unwrap().is_empty());
}

#[test]
fn errors_reach_the_host_verbatim() {
    let mut op = Runner::map(|r: &mut Record| {
        if r.value() == b"bail" {
            bail!("bad record {:?}", r.key());
        }
        std::str::from_utf8(r.value())?;
        Err(Error::new("boom"))
    });
    let mut err = |v: &[u8]| op.run(&[OwnedRecord::new(v).with_key("k")]).unwrap_err().message().to_string();
    assert_eq!(err(b"x"), "boom");
    assert_eq!(err(b"bail"), "bad record [107]");
    let e = err(b"\xff");
    assert!(e.contains("invalid utf-8"), "{}", e);
}

#[test]
fn config_and_params() {
    let seen: Rc<RefCell<Option<Config>>> = Rc::default();
    let keep = seen.clone();
    let mut op = Runner::map(identity).on_init(move |cfg: &Config| {
        *keep.borrow_mut() = Some(cfg.clone());
        cfg.bool("strict", false)?;
        Ok(())
    });
    let mut params = BTreeMap::new();
    params.insert("n".to_string(), Value::Int(3));
    params.insert("whole".to_string(), Value::Float(2.0));
    params.insert("half".to_string(), Value::Float(2.5));
    params.insert("name".to_string(), Value::Str("x".into()));
    params.insert("none".to_string(), Value::Nil);
    params.insert("list".to_string(), Value::Array(vec![Value::Bool(true), Value::Nil]));
    let cfg = Config {
        pipeline: "p".into(),
        operator: "op".into(),
        instance: 2,
        outputs: vec!["alerts".into()],
        params,
    };
    op.init(&cfg).unwrap();
    let got = seen.borrow().clone().unwrap();
    assert_eq!(got, cfg);
    assert!(got.has_output("alerts") && !got.has_output("other"));
    assert_eq!(got.int("n", 0).unwrap(), 3);
    assert_eq!(got.int("whole", 0).unwrap(), 2);
    assert_eq!(got.int("absent", 7).unwrap(), 7);
    assert_eq!(got.int("none", 7).unwrap(), 7);
    assert_eq!(got.float("n", 0.0).unwrap(), 3.0);
    assert_eq!(got.str("name", "d").unwrap(), "x");
    assert_eq!(got.bool("absent", true).unwrap(), true);
    assert_eq!(got.int("half", 0).unwrap_err().message(), "params.half: want an integer, got a float 2.5");
    assert_eq!(got.bool("name", false).unwrap_err().message(), "params.name: want a boolean, got a string \"x\"");
    assert_eq!(got.str("list", "").unwrap_err().message(), "params.list: want a string, got a list [true, null]");

    let mut strict = cfg.clone();
    strict.params.insert("strict".into(), Value::Str("yes".into()));
    assert_eq!(op.init(&strict).unwrap_err().message(), "params.strict: want a boolean, got a string \"yes\"");
    assert!(op.init_payload(&[0x81, 0x01, 0x02]).unwrap_err().message().starts_with("decoding init config: malformed frame at byte"));
    assert_eq!(op.init_payload(&[0x05]).unwrap_err().message(), "decoding init config: want a map, got an integer");
}

#[test]
fn log_and_count_natively() {
    testing::reset();
    let mut op = Runner::map(|r: &mut Record| {
        count("records", 1);
        if r.value().is_empty() {
            log(Level::Warn, "empty value");
        }
        Ok(())
    });
    op.run(&[OwnedRecord::new("a"), OwnedRecord::new(""), OwnedRecord::new("b")]).unwrap();
    assert_eq!(testing::metrics().get("records"), Some(&3));
    assert_eq!(testing::logs(), vec![(Level::Warn, "empty value".to_string())]);
    assert!(testing::logs().is_empty());
}
