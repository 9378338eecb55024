//! The JSON module against the shared vectors in guest-sdk/testdata/json
//! (guards issue #9 item 3: every SDK reads and writes JSON the same way).

use std::fs;
use std::path::Path;

use wasmstream_guest::json::{self, Error};

struct Vector {
    line: usize,
    op: String,
    name: String,
    doc: Vec<u8>,
    path: String,
    arg: Vec<u8>,
    want: Vec<u8>,
}

/// A field is its text, or "hex:" and its bytes in hexadecimal.
fn field(f: &str) -> Vec<u8> {
    match f.strip_prefix("hex:") {
        Some(h) => (0..h.len()).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap()).collect(),
        None => f.as_bytes().to_vec(),
    }
}

fn vectors() -> Vec<Vector> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/json/vectors.tsv");
    let text = fs::read_to_string(&file).unwrap();
    let mut out = Vec::new();
    for (n, line) in text.split('\n').enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 6, "{}:{}: want 6 fields", file.display(), n + 1);
        out.push(Vector {
            line: n + 1,
            op: f[0].to_string(),
            name: String::from_utf8(field(f[1])).unwrap(),
            doc: field(f[2]),
            path: String::from_utf8(field(f[3])).unwrap(),
            arg: field(f[4]),
            want: field(f[5]),
        });
    }
    assert!(out.len() > 150, "too few vectors in {}", file.display());
    out
}

fn kind(e: Error) -> Vec<u8> {
    let k = match e {
        Error::Syntax(_) => "syntax",
        Error::Utf8(_) => "utf8",
        Error::Depth(_) => "depth",
        Error::NotFound => "notfound",
        Error::Type => "type",
        Error::Range => "range",
        Error::Writer => "writer",
    };
    format!("error:{}", k).into_bytes()
}

fn run(v: &Vector) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let res = |r: Result<Vec<u8>, Error>| r.unwrap_or_else(kind);
    match v.op.as_str() {
        "valid" => return res(json::valid(&v.doc).map(|_| b"ok".to_vec())),
        "quote" => {
            json::append_string(&mut out, &v.arg);
            return out;
        }
        "set" => return res(json::set(&mut out, &v.doc, &v.path, &v.arg).map(|_| out.clone())),
        "delete" => return res(json::delete(&mut out, &v.doc, &v.path).map(|_| out.clone())),
        _ => {}
    }
    let got = json::get(&v.doc, &v.path);
    if v.op == "equals" {
        let arg = std::str::from_utf8(&v.arg).unwrap();
        return got.map_or(false, |val| val.text_eq(arg)).to_string().into_bytes();
    }
    let val = match got {
        Ok(val) => val,
        Err(e) => return kind(e),
    };
    match v.op.as_str() {
        "kind" => val.kind().name().as_bytes().to_vec(),
        "raw" => val.raw().to_vec(),
        "text" => res(val.text(&mut buf).map(|t| t.to_vec())),
        "int" => res(val.int().map(|n| n.to_string().into_bytes())),
        "bool" => res(val.bool().map(|b| b.to_string().into_bytes())),
        "float" => match val.float() {
            Ok(f) => {
                let want: f64 = std::str::from_utf8(&v.want).unwrap().parse().unwrap_or(f64::NAN);
                if want.to_bits() == f.to_bits() {
                    v.want.clone()
                } else {
                    format!("{:e}", f).into_bytes()
                }
            }
            Err(e) => kind(e),
        },
        op => format!("unknown op {}", op).into_bytes(),
    }
}

#[test]
fn vectors_pass() {
    let mut failed = Vec::new();
    for v in vectors() {
        let got = run(&v);
        if got != v.want {
            failed.push(format!(
                "line {}: {} {:?} path {:?}: got {:?}, want {:?}",
                v.line,
                v.op,
                v.name,
                v.path,
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&v.want)
            ));
        }
    }
    assert!(failed.is_empty(), "{} vectors failed:\n{}", failed.len(), failed.join("\n"));
}

/// The writer places commas and colons and refuses misuse.
#[test]
fn writer() {
    let mut w = json::Writer::new();
    w.begin_object();
    w.key("id");
    w.int(i64::MIN);
    w.key("q\"");
    w.text("a\nb");
    w.key("tags");
    w.begin_array();
    w.bool(true);
    w.null();
    w.float(1.5);
    w.float(1e21);
    w.float(f64::NAN);
    w.begin_object();
    w.end_object();
    w.raw(b"[1,2]");
    w.end_array();
    w.end_object();
    let out = w.finish().unwrap().to_vec();
    assert_eq!(
        String::from_utf8(out.clone()).unwrap(),
        r#"{"id":-9223372036854775808,"q\"":"a\nb","tags":[true,null,1.5,1e21,null,{},[1,2]]}"#
    );
    json::valid(&out).unwrap();

    let misuse: Vec<(&str, fn(&mut json::Writer))> = vec![
        ("value without key", |w| {
            w.begin_object();
            w.int(1)
        }),
        ("key in array", |w| {
            w.begin_array();
            w.key("a")
        }),
        ("key without value", |w| {
            w.begin_object();
            w.key("a");
            w.end_object()
        }),
        ("wrong end", |w| {
            w.begin_array();
            w.end_object()
        }),
        ("unclosed", |w| w.begin_array()),
        ("two documents", |w| {
            w.int(1);
            w.int(2)
        }),
        ("too deep", |w| {
            for _ in 0..=json::MAX_DEPTH {
                w.begin_array()
            }
        }),
    ];
    for (name, build) in misuse {
        w.clear();
        build(&mut w);
        assert_eq!(w.finish(), Err(Error::Writer), "{}", name);
    }
    w.clear();
    for _ in 0..json::MAX_DEPTH {
        w.begin_array();
    }
    for _ in 0..json::MAX_DEPTH {
        w.end_array();
    }
    json::valid(w.finish().unwrap()).unwrap();
}

/// A JSON error converts into the SDK's error, so `?` works in a handler.
#[test]
fn error_converts() {
    fn handler(doc: &[u8]) -> wasmstream_guest::Result<i64> {
        Ok(json::get(doc, "n")?.int()?)
    }
    assert_eq!(handler(br#"{"n":3}"#).unwrap(), 3);
    let err = handler(br#"{"n":"x"}"#).unwrap_err();
    assert_eq!(err.message(), "JSON value of another type");
}

/// get_all finds in one pass what get finds per path, for every vector's
/// document, next to paths that share a prefix or lead elsewhere.
#[test]
fn get_all_matches_get() {
    for v in vectors() {
        if ["valid", "quote", "set", "delete"].contains(&v.op.as_str()) {
            continue;
        }
        let deeper = format!("{}.0", v.path);
        let paths = [v.path.as_str(), "", "id", deeper.as_str(), "tags.2.deep.1", v.path.as_str()];
        let mut out = [None; 6];
        let all = json::get_all(&v.doc, &paths, &mut out);
        for (i, p) in paths.iter().enumerate() {
            match (json::get(&v.doc, p), &all) {
                (Err(e), Err(ae)) if e != Error::NotFound => assert_eq!(kind(e), kind(*ae), "line {}", v.line),
                (Err(Error::NotFound), Ok(())) => assert_eq!(out[i], None, "line {} path {:?}", v.line, p),
                (Ok(val), Ok(())) => assert_eq!(out[i], Some(val), "line {} path {:?}", v.line, p),
                (one, all) => panic!("line {} path {:?}: get {:?}, get_all {:?}", v.line, p, one, all),
            }
        }
    }
    let mut out = [None; 9];
    assert_eq!(json::get_all(b"{}", &["a"; 9], &mut out), Err(Error::Type));
    assert_eq!(json::get_all(b"{}", &["a", "b"], &mut out[..1]), Err(Error::Type));
}
