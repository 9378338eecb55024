//! A wasmstream operator that upper-cases the ASCII letters of every
//! record's value, in place, and passes everything else (key, timestamp,
//! headers, non-ASCII bytes) through unchanged. It copies and allocates
//! nothing per record: a batch comes back to the host as the very buffer it
//! was written into.
//!
//! Build it with `./build uppercase.wasm` and run it with
//! examples/wasm/uppercase/pipeline.yaml.

use wasmstream_guest::{operator, Record, Result};

operator!(map = upper);

/// Upper-cases r's value in place. The bytes belong to the input batch,
/// which the handler may modify until it returns; the loop compiles to
/// 16-byte SIMD operations.
fn upper(r: &mut Record) -> Result {
    r.value_mut().make_ascii_uppercase();
    Ok(())
}

#[cfg(test)]
mod tests {
    use wasmstream_guest::testing::Runner;
    use wasmstream_guest::OwnedRecord;

    #[test]
    fn upper_cases_ascii_letters_only() {
        let mut op = Runner::map(super::upper);
        let input = vec![
            OwnedRecord::new("hello, wörld 123").with_key("k").with_timestamp(1_700_000_000_000).with_header("h", Some(b"x")),
            OwnedRecord { value: None, ..OwnedRecord::new("") },
            OwnedRecord::new(""),
            OwnedRecord::new(vec![0xff, b'a', 0x00, b'z', b'{', b'`']),
        ];
        let out = op.run(&input).unwrap();
        let mut want = input.clone();
        want[0].value = Some("HELLO, WöRLD 123".as_bytes().to_vec());
        want[3].value = Some(vec![0xff, b'A', 0x00, b'Z', b'{', b'`']);
        assert_eq!(out, want);
    }
}
