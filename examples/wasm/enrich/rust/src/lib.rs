//! A wasmstream operator that enriches click records with the user they
//! name, looked up in SQL through the pipeline's async target `users`
//! without blocking the stream: the Rust build of examples/wasm/enrich/go,
//! with the same output byte for byte.
//!
//! A click is a JSON object with a `"user"` field (an integer). For each
//! click the operator submits the target's query `user_by_id` with that id,
//! keeping the click as the request's context; when the result arrives it
//! emits `{"click":<the click>,"user":<the first row, or null>}` (both
//! compacted, as Go's encoding/json writes them). A lookup that failed or
//! timed out goes to the output `unenriched`, with the reason in the header
//! `enrich.error`, so nothing is lost.
//!
//! Build it with `./build enrich.wasm`.

use wasmstream_guest::json::{self, Kind};
use wasmstream_guest::{
    bail, operator, submit, Arg, AsyncResult, Emitter, Header, Headers, Record, RecordRef, Request, Result,
};

operator!(flat_map = lookup, on_result = enrich);

/// Asks for the click's user; the click travels as the context.
fn lookup(r: &mut Record, _: &mut Emitter) -> Result {
    let click = r.value();
    let id = match user(click) {
        Some(Ok(id)) => id,
        Some(Err(n)) => bail!("user {:?} is not an integer", String::from_utf8_lossy(&n)),
        None => bail!("a click needs a numeric \"user\" field: {:?}", String::from_utf8_lossy(click)),
    };
    submit(&Request::sql("users", "user_by_id", &[Arg::Int(id)]).context(click))?;
    Ok(())
}

/// The click's `"user"`, read as Go's json.Number reads it: a JSON number,
/// or a string holding one. `None` when the click is not valid JSON or has
/// no such number; `Some(Err(number))` for a number that is not an `i64`.
fn user(click: &[u8]) -> Option<std::result::Result<i64, Vec<u8>>> {
    let v = json::get(click, "user").ok()?;
    let mut buf = Vec::new();
    let n = match v.kind() {
        Kind::Number => v,
        Kind::String => json::get(v.text(&mut buf).ok()?, "").ok().filter(|n| n.kind() == Kind::Number)?,
        _ => return None,
    };
    Some(n.int().map_err(|_| n.raw().to_vec()))
}

/// Joins a click with its user row, or routes it to `unenriched`.
fn enrich(res: &AsyncResult, out: &mut Emitter) -> Result {
    if !res.is_ok() {
        let why = res.error.unwrap_or("").as_bytes();
        let headers = [Header { name: b"enrich.error", value: Some(why) }];
        out.emit_to(
            "unenriched",
            &RecordRef { value: res.context, headers: Headers::from(&headers[..]), ..RecordRef::default() },
        );
        return Ok(());
    }
    let body = res.body();
    let rows = match json::get(body, "") {
        Ok(rows) => rows,
        Err(e) => bail!("rows: {}", e),
    };
    let user = match rows.kind() {
        Kind::Null => None,
        Kind::Array => json::get(body, "0").ok().map(|row| row.raw()),
        k => bail!("rows: want a JSON array, got {}", k.name()),
    };
    let mut v = Vec::with_capacity(32 + res.context().len() + user.map_or(4, |u| u.len()));
    v.extend_from_slice(b"{\"click\":");
    match res.context {
        None => v.extend_from_slice(b"null"),
        Some(click) => {
            if let Err(e) = json::valid(click) {
                bail!("click: {}", e);
            }
            compact(&mut v, click);
        }
    }
    v.extend_from_slice(b",\"user\":");
    match user {
        None => v.extend_from_slice(b"null"),
        Some(row) => compact(&mut v, row),
    }
    v.push(b'}');
    out.emit(&RecordRef { value: Some(&v), ..RecordRef::default() });
    Ok(())
}

/// Appends the valid JSON `src` to `dst` as Go's encoding/json writes an
/// embedded document: without insignificant whitespace, and with `<`, `>`,
/// `&`, U+2028 and U+2029 escaped as `\u003c`, `\u003e`, `\u0026`,
/// `\u2028` and `\u2029`.
fn compact(dst: &mut Vec<u8>, src: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let (mut in_str, mut esc) = (false, false);
    let mut i = 0;
    while i < src.len() {
        let c = src[i];
        i += 1;
        if !in_str {
            match c {
                b' ' | b'\t' | b'\n' | b'\r' => {}
                b'"' => {
                    in_str = true;
                    dst.push(c);
                }
                _ => dst.push(c),
            }
            continue;
        }
        if esc {
            esc = false;
            dst.push(c);
            continue;
        }
        match c {
            b'\\' => {
                esc = true;
                dst.push(c);
            }
            b'"' => {
                in_str = false;
                dst.push(c);
            }
            b'<' | b'>' | b'&' => {
                dst.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]])
            }
            0xe2 if i + 1 < src.len() && src[i] == 0x80 && src[i + 1] & !1 == 0xa8 => {
                dst.extend_from_slice(b"\\u202");
                dst.push(HEX[(src[i + 1] & 15) as usize]);
                i += 2;
            }
            _ => dst.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use wasmstream_guest::testing::{self, OwnedResult, Runner};
    use wasmstream_guest::{Arg, AsyncResult, OwnedRecord, Request};

    /// A click submits its lookup, and the lookup's result, fed back as the
    /// host would, becomes the joined record; a failed lookup goes to
    /// "unenriched". The same case as the Go example's test.
    #[test]
    fn joins_clicks_with_their_user() {
        testing::reset();
        let mut op = Runner::flat_map(super::lookup).on_result(super::enrich);
        let click: &[u8] = br#"{"user": 7, "page": "/a"}"#;
        assert!(op.run(&[OwnedRecord::new(click)]).unwrap().is_empty());
        let sub = testing::submitted();
        assert_eq!(sub, vec![Request::sql("users", "user_by_id", &[Arg::Int(7)]).context(click).encode()]);
        let out = op
            .run_with_results(
                &[],
                &[
                    OwnedResult::ok(0, click, 1, br#"[{"id":7,"name":"ada"}]"#),
                    OwnedResult::failed(1, AsyncResult::TIMEOUT, br#"{"user": 8}"#, "timed out"),
                ],
            )
            .unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(
            String::from_utf8_lossy(out[0].value()),
            r#"{"click":{"user":7,"page":"/a"},"user":{"id":7,"name":"ada"}}"#
        );
        assert_eq!(out[0], OwnedRecord::new(out[0].value()));
        assert_eq!(
            out[1],
            OwnedRecord::new(&br#"{"user": 8}"#[..])
                .with_output("unenriched")
                .with_header("enrich.error", Some(b"timed out"))
        );
    }

    fn joined(click: &[u8], body: &[u8]) -> String {
        testing::reset();
        let mut op = Runner::flat_map(super::lookup).on_result(super::enrich);
        let out = op.run_with_results(&[], &[OwnedResult::ok(0, click, 0, body)]).unwrap();
        String::from_utf8(out[0].value().to_vec()).unwrap()
    }

    /// The output is what Go's json.Marshal writes for the click and the
    /// row as json.RawMessage: compacted, with <, >, &, U+2028 and U+2029
    /// escaped.
    #[test]
    fn writes_json_as_go_does() {
        assert_eq!(joined(br#"{"user":7}"#, b"[]"), r#"{"click":{"user":7},"user":null}"#);
        assert_eq!(joined(br#"{"user":7}"#, b" null "), r#"{"click":{"user":7},"user":null}"#);
        assert_eq!(
            joined(b"{ \"user\" :\t7,\n \"q\": \"a b<&>\\\" \xe2\x80\xa8\xe2\x80\xa9\xe2\x80\xaa\" }", b"[ {\"id\": 7, \"tags\": [ 1 , 2 ]} , {} ]"),
            "{\"click\":{\"user\":7,\"q\":\"a b\\u003c\\u0026\\u003e\\\" \\u2028\\u2029\u{202a}\"},\"user\":{\"id\":7,\"tags\":[1,2]}}"
        );
        // A nil context is null, as Go marshals a nil json.RawMessage.
        testing::reset();
        let mut op = Runner::flat_map(super::lookup).on_result(super::enrich);
        let res = OwnedResult { body: Some(b"[]".to_vec()), ..OwnedResult::default() };
        let out = op.run_with_results(&[], &[res]).unwrap();
        assert_eq!(out[0].value(), br#"{"click":null,"user":null}"#);
    }

    #[test]
    fn reads_the_user_as_go_does() {
        testing::reset();
        let mut op = Runner::flat_map(super::lookup).on_result(super::enrich);
        for (click, id) in [
            (&br#"{"user":-3}"#[..], -3),
            (br#"{"user":"12"}"#, 12),
            (br#"{"a":{"user":1},"user":0}"#, 0),
            (br#"{"user":"\u0031"}"#, 1),
        ] {
            op.run(&[OwnedRecord::new(click)]).unwrap();
            let want = Request::sql("users", "user_by_id", &[Arg::Int(id)]).context(click).encode();
            assert_eq!(testing::submitted().last(), Some(&want), "{}", String::from_utf8_lossy(click));
        }
        for click in [
            &b"{}"[..],
            b"[]",
            b"nope",
            br#"{"user":7.5}"#,
            br#"{"user":"07"}"#,
            br#"{"user":null}"#,
            br#"{"user":1e3}"#,
        ] {
            let err = op.run(&[OwnedRecord::new(click)]).unwrap_err();
            assert!(err.message().contains("user"), "{}", err);
        }
    }

    #[test]
    fn failed_lookups_go_to_unenriched() {
        testing::reset();
        let mut op = Runner::flat_map(super::lookup).on_result(super::enrich);
        let out = op
            .run_with_results(
                &[],
                &[OwnedResult {
                    ticket: 3,
                    status: AsyncResult::ERROR,
                    context: Some(b"c".to_vec()),
                    ..OwnedResult::default()
                }],
            )
            .unwrap();
        assert_eq!(out, vec![OwnedRecord::new("c").with_output("unenriched").with_header("enrich.error", Some(b""))]);
        // Rows that are not a JSON array fail the call.
        let err = op.run_with_results(&[], &[OwnedResult::ok(0, b"{}", 0, b"{}")]).unwrap_err();
        assert!(err.message().starts_with("rows: "), "{}", err);
        let err = op.run_with_results(&[], &[OwnedResult::ok(0, b"{}", 0, b"[")]).unwrap_err();
        assert!(err.message().starts_with("rows: "), "{}", err);
    }
}
