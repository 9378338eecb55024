//! Async I/O natively: request encodings (as the Go SDK's
//! abi.AppendAsyncRequest writes them), submit and its refusals, the
//! native stand-in's dropped requests, results decoded from frames in
//! every encoding and handed to the on_result handler after the records,
//! frames without a result handler, malformed results, and Redis array
//! replies.

use std::cell::RefCell;
use std::fs;
use std::path::Path;
use std::rc::Rc;

use wasmstream_guest::testing::{self, decode_frame, encode_frame, encode_frame_with_results, OwnedResult, Runner};
use wasmstream_guest::{
    redis_items, submit, Arg, AsyncResult, Emitter, Error, OwnedRecord, Record, RecordRef, Request, Result,
    SubmitError, Ticket,
};

fn hex(b: &[u8]) -> String {
    b.iter().map(|c| format!("{:02x}", c)).collect()
}

#[test]
fn requests_encode_as_the_reference_does() {
    // The Go reference (abi.AppendAsyncRequest) writes maps with sorted
    // keys and the smallest encodings; these bytes are its output.
    let get = Request::http("svc", "GET", "/x").context(b"async:svc:/x");
    assert_eq!(
        hex(&get.encode()),
        hex(b"\x84\xa7context\xc4\x0casync:svc:/x\xa6method\xa3GET\xa4path\xa2/x\xa6target\xa3svc")
    );
    let sql = Request::sql("db", "user_by_id", &[Arg::Str("\u{fc}n\u{ef}"), Arg::Int(7)]);
    assert_eq!(
        hex(&sql.encode()),
        hex(b"\x83\xa4args\x92\xa5\xc3\xbcn\xc3\xaf\x07\xa5query\xaauser_by_id\xa6target\xa2db")
    );
    let redis = Request::redis("cache", &["GET", "user:7"]);
    assert_eq!(hex(&redis.encode()), hex(b"\x82\xa7command\x92\xa3GET\xa6user:7\xa6target\xa5cache"));

    // Every field and every argument type.
    let all = Request::http("h", "POST", "/p")
        .header("x-b", "2")
        .header("x-a", "1")
        .header("x-b", "3")
        .body(b"{}")
        .context(b"");
    assert_eq!(
        hex(&all.encode()),
        hex(b"\x86\xa4body\xc4\x02{}\xa7context\xc4\x00\xa7headers\x82\xa3x-a\xa11\xa3x-b\xa13\xa6method\xa4POST\xa4path\xa2/p\xa6target\xa1h")
    );
    let args = Request::sql("db", "q", &[])
        .arg(Arg::Nil)
        .arg(true)
        .arg(false)
        .arg(-1i64)
        .arg(300)
        .arg(1.5)
        .arg("s")
        .arg(&b"\x00\xff"[..])
        .arg(None::<i64>);
    assert_eq!(
        hex(&args.encode()),
        hex(b"\x83\xa4args\x99\xc0\xc3\xc2\xff\xcd\x01\x2c\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00\xa1s\xc4\x02\x00\xff\xc0\xa5query\xa1q\xa6target\xa2db")
    );
    // A SQL request always carries its args, even none.
    assert_eq!(hex(&Request::sql("db", "q", &[]).encode()), hex(b"\x83\xa4args\x90\xa5query\xa1q\xa6target\xa2db"));
    let bin = Request::redis("c", &["GET"]).command_arg(b"\xffk");
    assert_eq!(hex(&bin.encode()), hex(b"\x82\xa7command\x92\xa3GET\xc4\x02\xffk\xa6target\xa1c"));
    assert_eq!(hex(&Request::new("t").encode()), hex(b"\x81\xa6target\xa1t"));
}

fn submit_each(r: &mut Record, _: &mut Emitter) -> Result {
    let t = submit(&Request::http("svc", "GET", "/x").context(r.value()))?;
    assert_eq!(t, Ticket(testing::submitted().len() as u64 - 1));
    Ok(())
}

fn describe(res: &AsyncResult, out: &mut Emitter) -> Result {
    let v = format!(
        "{}:{}:{}:{}:{}:{}",
        res.ticket,
        res.status,
        res.code,
        String::from_utf8_lossy(res.body.unwrap_or(b"nil")),
        res.error.unwrap_or("nil"),
        String::from_utf8_lossy(res.context.unwrap_or(b"nil"))
    );
    out.emit(&RecordRef { value: Some(v.as_bytes()), ..RecordRef::default() });
    Ok(())
}

#[test]
fn submit_keeps_requests_and_drops_a_failed_calls() {
    testing::reset();
    let mut op = Runner::flat_map(|r: &mut Record, e: &mut Emitter| {
        submit_each(r, e)?;
        if r.value() == b"fail" {
            return Err(Error::new("failed after submitting"));
        }
        Ok(())
    })
    .on_result(describe);
    assert!(op.run(&[OwnedRecord::new("a"), OwnedRecord::new("b")]).unwrap().is_empty());
    assert_eq!(testing::submitted().len(), 2);
    assert_eq!(testing::submitted()[1], Request::http("svc", "GET", "/x").context(b"b").encode());
    let err = op.run(&[OwnedRecord::new("c"), OwnedRecord::new("fail")]).unwrap_err();
    assert_eq!(err.message(), "failed after submitting");
    assert_eq!(testing::submitted().len(), 2, "a failed call's requests are dropped");
    testing::reset();
    assert!(testing::submitted().is_empty());
}

#[test]
fn submit_needs_a_result_handler() {
    testing::reset();
    let mut op = Runner::flat_map(submit_each);
    let err = op.run(&[OwnedRecord::new("a")]).unwrap_err();
    assert!(err.message().contains("without an on_result handler"), "{}", err);
    assert!(testing::submitted().is_empty());
    // Outside a call, too.
    let e = submit(&Request::new("t")).unwrap_err();
    assert_eq!(e.status(), 0);
}

#[test]
fn refusals_are_submit_errors() {
    testing::reset();
    let got: Rc<RefCell<Vec<SubmitError>>> = Rc::default();
    let g = got.clone();
    let mut op = Runner::flat_map(move |r: &mut Record, out: &mut Emitter| {
        match submit(&Request::new("t").context(r.value())) {
            Ok(_) => {}
            Err(e) if e.is_capacity() => out.emit_to("later", r),
            Err(e) => g.borrow_mut().push(e),
        }
        Ok(())
    })
    .on_result(describe);
    testing::refuse_submits(SubmitError::CAPACITY);
    let out = op.run(&[OwnedRecord::new("a")]).unwrap();
    assert_eq!(out, vec![OwnedRecord::new("a").with_output("later")]);
    testing::refuse_submits(SubmitError::TOO_LARGE);
    op.run(&[OwnedRecord::new("b")]).unwrap();
    testing::refuse_submits(SubmitError::ERROR);
    op.run(&[OwnedRecord::new("c")]).unwrap();
    let got = got.borrow();
    assert_eq!(got[0].status(), SubmitError::TOO_LARGE);
    assert!(got[0].message().contains("too large"), "{}", got[0]);
    assert_eq!(got[1].status(), -1);
    assert!(got[1].to_string().contains("status -1"), "{}", got[1]);
    assert!(testing::submitted().is_empty());
    // `?` turns it into the SDK's error, with the message.
    let e: Error = got[1].clone().into();
    assert_eq!(e.message(), got[1].message());
}

#[test]
fn results_follow_the_records() {
    testing::reset();
    let mut op = Runner::flat_map(|r: &mut Record, out: &mut Emitter| {
        r.value_mut().make_ascii_uppercase();
        out.emit(r);
        Ok(())
    })
    .on_result(describe);
    let results = [
        OwnedResult::ok(0, b"ctx0", 200, b"body"),
        OwnedResult::failed(1, AsyncResult::TIMEOUT, b"ctx1", "timed out"),
        OwnedResult { ticket: 1 << 40, code: -1, ..OwnedResult::default() },
        OwnedResult {
            ticket: u64::MAX >> 1,
            status: AsyncResult::ERROR,
            error: Some(String::new()),
            ..OwnedResult::default()
        },
    ];
    let out = op.run_with_results(&[OwnedRecord::new("a"), OwnedRecord::new("b")], &results).unwrap();
    let vals: Vec<String> = out.iter().map(|r| String::from_utf8_lossy(r.value()).into_owned()).collect();
    assert_eq!(
        vals,
        vec![
            "A",
            "B",
            "0:0:200:body:nil:ctx0",
            "1:-7:0:nil:timed out:ctx1",
            "1099511627776:0:-1:nil:nil:nil",
            "9223372036854775807:-1:0:nil:nil:nil",
        ]
    );
    // Results alone, with no records.
    let out = op.run_with_results(&[], &results[..1]).unwrap();
    assert_eq!(out.len(), 1);
    // The frame is never handed back as it came: it starts 0x92.
    let frame = encode_frame_with_results(&[OwnedRecord::new("A")], &results[..1]);
    let got = op.run_frame(&frame).unwrap();
    assert_eq!(got[0], 0x91);
    assert_eq!(decode_frame(&got).unwrap().len(), 2);
    // An empty result list is a frame of two elements too.
    let mut frame = encode_frame(&[OwnedRecord::new("x")]);
    frame[0] = 0x92;
    frame.push(0x90);
    assert_eq!(decode_frame(&op.run_frame(&frame).unwrap()).unwrap().len(), 1);
    // An element after the results is skipped.
    let mut frame = encode_frame_with_results(&[], &results[..1]);
    frame[0] = 0x93;
    frame.push(0xc0);
    assert_eq!(decode_frame(&op.run_frame(&frame).unwrap()).unwrap().len(), 1);
}

#[test]
fn results_in_wide_encodings() {
    testing::reset();
    let mut op = Runner::flat_map(|_: &mut Record, _: &mut Emitter| Ok(())).on_result(describe);
    // fixarray 1 of results, a result of 7 fields (the 7th skipped), int
    // 16 ticket, int8 status, str context, int32 code, bin 16 body, bin
    // error.
    let mut f = vec![0x92, 0x90, 0x91, 0x97, 0xd1, 0x00, 0x05, 0xd0, 0xf9, 0xa3, b'c', b't', b'x'];
    f.extend_from_slice(&[0xd2, 0xff, 0xff, 0xff, 0xfe, 0xc5, 0x00, 0x02, b'o', b'k', 0xc4, 0x01, b'e', 0x80]);
    let out = decode_frame(&op.run_frame(&f).unwrap()).unwrap();
    assert_eq!(out[0].value(), b"5:-7:-2:ok:e:ctx");
}

#[test]
fn an_error_that_is_not_utf8_is_made_utf8() {
    testing::reset();
    let mut op = Runner::flat_map(|_: &mut Record, _: &mut Emitter| Ok(())).on_result(describe);
    let f = [0x92, 0x90, 0x91, 0x96, 0x00, 0xff, 0xc0, 0x00, 0xc0, 0xa4, b'a', 0xff, 0xc3, b'b'];
    let out = decode_frame(&op.run_frame(&f).unwrap()).unwrap();
    assert_eq!(out[0].value(), b"0:-1:0:nil:a??b:nil");
}

#[test]
fn without_a_result_handler_results_are_skipped() {
    let mut op = Runner::map(|r: &mut Record| {
        r.value_mut().make_ascii_uppercase();
        Ok(())
    });
    let frame = encode_frame_with_results(&[OwnedRecord::new("a")], &[OwnedResult::ok(0, b"c", 1, b"b")]);
    assert_eq!(decode_frame(&op.run_frame(&frame).unwrap()).unwrap(), vec![OwnedRecord::new("A")]);
    // Even malformed ones, as any reserved element: only its msgpack must
    // be valid.
    let mut frame = encode_frame(&[OwnedRecord::new("a")]);
    frame[0] = 0x92;
    frame.extend_from_slice(&[0x91, 0x92, 0xc0, 0xc0]);
    assert_eq!(decode_frame(&op.run_frame(&frame).unwrap()).unwrap(), vec![OwnedRecord::new("A")]);
}

#[test]
fn malformed_results_fail_the_call() {
    let mut op = Runner::flat_map(|_: &mut Record, _: &mut Emitter| Ok(())).on_result(describe);
    let cases: &[(&[u8], &str)] = &[
        (&[0x92, 0x90, 0xc0], "decoding async results: malformed frame at byte 2: want an array, found nil"),
        (&[0x92, 0x90, 0x92, 0x96], "decoding async results: malformed frame at byte 3: frame declares 2 async results but has only 1 bytes left"),
        (
            &[0x92, 0x90, 0x91, 0x95, 0, 0, 0xc0, 0, 0xc0, 0xc0],
            "decoding async results: malformed frame at byte 4: async result 0 has 5 fields; want 6",
        ),
        (
            &[0x92, 0x90, 0x91, 0x96, 0xa1, b'x', 0, 0xc0, 0, 0xc0, 0xc0],
            "decoding async results: malformed frame at byte 4: ticket: want an integer, found a string",
        ),
        (
            &[0x92, 0x90, 0x91, 0x96, 0, 0, 0x07, 0, 0xc0, 0xc0],
            "decoding async results: malformed frame at byte 6: context: want bin, str or nil, found an integer",
        ),
        (
            &[0x92, 0x90, 0x91, 0x96, 0, 0, 0xc0, 0, 0xc4, 0x09, 0xc0],
            "decoding async results: malformed frame at byte 8: body: 9-byte value runs past the end of the frame",
        ),
        (&[0x92, 0x90, 0x90, 0xc0], "decoding input batch: malformed frame at byte 3: 1 trailing bytes after the frame"),
    ];
    for (frame, want) in cases {
        let err = op.run_frame(frame).unwrap_err();
        assert_eq!(err.message(), *want, "{}", hex(frame));
    }
}

#[test]
fn a_failing_result_handler_fails_the_call() {
    testing::reset();
    let mut op =
        Runner::flat_map(|_: &mut Record, _: &mut Emitter| Ok(())).on_result(|r: &AsyncResult, _: &mut Emitter| {
            if r.ticket == Ticket(1) {
                Err(Error::new("no"))
            } else {
                Ok(())
            }
        });
    let rs = [OwnedResult::ok(0, b"", 0, b""), OwnedResult::ok(1, b"", 0, b"")];
    assert_eq!(op.run_with_results(&[], &rs).unwrap_err().message(), "no");
}

#[test]
fn redis_array_replies_split_into_items() {
    assert_eq!(redis_items(b"\x93\xc4\x01a\xc0\xa2bc").unwrap(), vec![Some(&b"a"[..]), None, Some(&b"bc"[..])]);
    assert_eq!(redis_items(b"\x90").unwrap(), Vec::<Option<&[u8]>>::new());
    let mut wide = vec![0xdc, 0x00, 0x11];
    for _ in 0..17 {
        wide.extend_from_slice(&[0xc5, 0x00, 0x01, b'x']);
    }
    assert_eq!(redis_items(&wide).unwrap().len(), 17);
    for bad in [&b""[..], b"\xc0", b"\x91", b"\x91\x01", b"\x91\xc4\x05ab", b"\x90\x00", b"\xa1x"] {
        assert!(redis_items(bad).is_err(), "{}", hex(bad));
    }
}

#[test]
fn the_async_vectors_natively() {
    // Each async conformance vector's results through a result handler
    // that writes the reference's value (abi/conformance_async.go).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../abi/testdata/conformance-async/results");
    let input = fs::read(dir.with_extension("in.msgpack")).unwrap();
    let want = fs::read(dir.with_extension("out.msgpack")).unwrap();
    let mut op =
        Runner::flat_map(|_: &mut Record, _: &mut Emitter| Ok(())).on_result(|r: &AsyncResult, out: &mut Emitter| {
            let mut v = b"result:".to_vec();
            v.extend_from_slice(format!("{}:{}:{}:", r.ticket, r.status, r.code).as_bytes());
            v.extend_from_slice(r.body.unwrap_or(b"nil"));
            v.push(b':');
            v.extend_from_slice(r.error.unwrap_or("nil").as_bytes());
            v.push(b':');
            v.extend_from_slice(r.context.unwrap_or(b"nil"));
            out.emit(&RecordRef { value: Some(&v), ..RecordRef::default() });
            Ok(())
        });
    assert!(op.run_frame(&input).unwrap() == want);
}
