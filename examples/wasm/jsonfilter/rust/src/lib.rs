//! A wasmstream operator that parses each record's value as JSON, keeps
//! only the records whose `event` is `"click"` and keys each kept record by
//! its `user.name`, with the SDK's JSON reader: nothing is allocated per
//! record unless a name has escapes to decode.
//!
//! Records that are not valid JSON are dropped and counted in the metric
//! `invalid_json`; a kept record without a string `user.name` keeps its key.
//!
//! Build it with `./build jsonfilter.wasm` and run it with
//! examples/wasm/jsonfilter/pipeline.yaml.

use wasmstream_guest::json;
use wasmstream_guest::{count, operator, Emitter, Record, RecordRef, Result};

operator!(flat_map = filter_clicks);

const PATHS: [&str; 2] = ["event", "user.name"];

/// Reads both fields in one pass over the value with `json::get_all`.
fn filter_clicks(r: &mut Record, out: &mut Emitter) -> Result {
    let mut vals = [None; 2];
    if json::get_all(r.value(), &PATHS, &mut vals).is_err() {
        count("invalid_json", 1);
        return Ok(());
    }
    match vals[0] {
        Some(ev) if ev.text_eq("click") => {}
        _ => return Ok(()),
    }
    let mut buf = Vec::new(); // allocates only for a name with escapes
    match vals[1].map(|n| n.text(&mut buf)) {
        Some(Ok(key)) => out.emit(&RecordRef { key: Some(key), ..r.view() }),
        _ => out.emit(r),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use wasmstream_guest::testing::Runner;
    use wasmstream_guest::OwnedRecord;

    /// Guards issue #9 item 3: clicks are kept, keyed by the decoded user
    /// name; everything else is dropped.
    #[test]
    fn keeps_clicks_keyed_by_user() {
        let mut op = Runner::flat_map(super::filter_clicks);
        let input = vec![
            OwnedRecord::new(r#"{"event":"click","user":{"name":"ada"}}"#).with_key("old"),
            OwnedRecord::new(r#"{"event":"view","user":{"name":"bob"}}"#),
            OwnedRecord::new(r#"{"event":"click","user":{"name":"Z\u00fcrich \"q\""}}"#),
            OwnedRecord::new(r#"{"event":"click"}"#).with_key("kept"),
            OwnedRecord::new(r#"{"event":"click","#),
            OwnedRecord::new("[1,2]"),
        ];
        let out = op.run(&input).unwrap();
        let keys: Vec<&[u8]> = out.iter().map(|r| r.key()).collect();
        assert_eq!(keys, vec![&b"ada"[..], "Zürich \"q\"".as_bytes(), b"kept"]);
    }
}
