use std::collections::BTreeMap;
use std::fmt;

use crate::codec::{put_array_header, put_int, put_map_header, put_str};
use crate::error::{Error, Result};

/// A param value, as the pipeline file wrote it and msgpack carries it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// null
    Nil,
    /// true or false
    Bool(bool),
    /// An integer (every integer that fits in an `i64`).
    Int(i64),
    /// An integer above `i64::MAX`.
    Uint(u64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
    /// Bytes.
    Bin(Vec<u8>),
    /// A list.
    Array(Vec<Value>),
    /// A map with string keys, sorted.
    Map(BTreeMap<String, Value>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Nil => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::Uint(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Str(_) => "a string",
            Value::Bin(_) => "bytes",
            Value::Array(_) => "a list",
            Value::Map(_) => "a map",
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("null"),
            Value::Bool(b) => write!(f, "{}", b),
            Value::Int(i) => write!(f, "{}", i),
            Value::Uint(u) => write!(f, "{}", u),
            Value::Float(x) => write!(f, "{}", x),
            Value::Str(s) => write!(f, "{:?}", s),
            Value::Bin(b) => write!(f, "{:?}", b),
            Value::Array(a) => {
                f.write_str("[")?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", v)?;
                }
                f.write_str("]")
            }
            Value::Map(m) => {
                f.write_str("{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{:?}: {}", k, v)?;
                }
                f.write_str("}")
            }
        }
    }
}

/// An operator instance's configuration, passed to the `on_init` hook.
///
/// `params` holds the operator's `params` from the pipeline file; the typed
/// getters read one with a default and fail on a value of the wrong type,
/// with an error naming the param that `on_init` can return as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    /// The pipeline's name.
    pub pipeline: String,
    /// The operator's name in the pipeline.
    pub operator: String,
    /// 0-based index of this instance among the operator's instances.
    pub instance: i64,
    /// The named outputs the pipeline connects.
    pub outputs: Vec<String>,
    /// The operator's params.
    pub params: BTreeMap<String, Value>,
}

impl Config {
    /// Whether the pipeline connects the named output.
    pub fn has_output(&self, name: &str) -> bool {
        self.outputs.iter().any(|o| o == name)
    }

    /// The param `name`, unless it is absent or null.
    pub fn param(&self, name: &str) -> Option<&Value> {
        match self.params.get(name) {
            None | Some(Value::Nil) => None,
            v => v,
        }
    }

    fn wrong(name: &str, want: &str, v: &Value) -> Error {
        Error::new(format!("params.{}: want {}, got {} {}", name, want, v.kind(), v))
    }

    /// The string param `name`, or `default` when it is absent or null.
    pub fn str<'s>(&'s self, name: &str, default: &'s str) -> Result<&'s str> {
        match self.param(name) {
            None => Ok(default),
            Some(Value::Str(s)) => Ok(s),
            Some(v) => Err(Self::wrong(name, "a string", v)),
        }
    }

    /// The boolean param `name`, or `default` when it is absent or null.
    pub fn bool(&self, name: &str, default: bool) -> Result<bool> {
        match self.param(name) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(Self::wrong(name, "a boolean", v)),
        }
    }

    /// The integer param `name`, or `default` when it is absent or null. A
    /// float with no fractional part is accepted.
    pub fn int(&self, name: &str, default: i64) -> Result<i64> {
        match self.param(name) {
            None => Ok(default),
            Some(Value::Int(i)) => Ok(*i),
            Some(Value::Float(x)) if x.fract() == 0.0 && *x >= i64::MIN as f64 && *x < i64::MAX as f64 => {
                Ok(*x as i64)
            }
            Some(v) => Err(Self::wrong(name, "an integer", v)),
        }
    }

    /// The numeric param `name` as an `f64`, or `default` when it is absent
    /// or null.
    pub fn float(&self, name: &str, default: f64) -> Result<f64> {
        match self.param(name) {
            None => Ok(default),
            Some(Value::Float(x)) => Ok(*x),
            Some(Value::Int(i)) => Ok(*i as f64),
            Some(Value::Uint(u)) => Ok(*u as f64),
            Some(v) => Err(Self::wrong(name, "a number", v)),
        }
    }

    /// Decodes the host's init payload. Fields of the wrong type are
    /// ignored, as the host's own decoder does.
    pub(crate) fn decode(payload: &[u8]) -> Result<Config> {
        let mut d = Decoder { b: payload, off: 0 };
        let v = d.value(0).and_then(|v| {
            if d.off != payload.len() {
                Err(d.fail(d.off, "trailing bytes after the value".into()))
            } else {
                Ok(v)
            }
        });
        let m = match v {
            Ok(Value::Map(m)) => m,
            Ok(v) => return Err(Error::new(format!("decoding init config: want a map, got {}", v.kind()))),
            Err(e) => return Err(Error::new(format!("decoding init config: {}", e))),
        };
        let mut c = Config::default();
        for (k, v) in m {
            match (k.as_str(), v) {
                ("pipeline", Value::Str(s)) => c.pipeline = s,
                ("operator", Value::Str(s)) => c.operator = s,
                ("instance", Value::Int(i)) => c.instance = i,
                ("outputs", Value::Array(a)) => {
                    c.outputs = a
                        .into_iter()
                        .filter_map(|o| match o {
                            Value::Str(s) => Some(s),
                            _ => None,
                        })
                        .collect()
                }
                ("params", Value::Map(p)) => c.params = p,
                _ => {}
            }
        }
        Ok(c)
    }

    /// Encodes the config as the host's init payload (what
    /// [`crate::testing::Runner::init`] does before decoding it again).
    pub fn encode(&self) -> Vec<u8> {
        let mut top = BTreeMap::new();
        top.insert("instance".to_string(), Value::Int(self.instance));
        top.insert("operator".to_string(), Value::Str(self.operator.clone()));
        top.insert("outputs".to_string(), Value::Array(self.outputs.iter().cloned().map(Value::Str).collect()));
        top.insert("params".to_string(), Value::Map(self.params.clone()));
        top.insert("pipeline".to_string(), Value::Str(self.pipeline.clone()));
        let mut b = Vec::new();
        encode_value(&mut b, &Value::Map(top));
        b
    }
}

fn encode_value(b: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Nil => b.push(0xc0),
        Value::Bool(x) => b.push(if *x { 0xc3 } else { 0xc2 }),
        Value::Int(i) => put_int(b, *i),
        Value::Uint(u) => {
            if *u > i64::MAX as u64 {
                b.push(0xcf);
                b.extend_from_slice(&u.to_be_bytes());
            } else {
                put_int(b, *u as i64)
            }
        }
        Value::Float(x) => {
            b.push(0xcb);
            b.extend_from_slice(&x.to_bits().to_be_bytes());
        }
        Value::Str(s) => put_str(b, s.as_bytes()),
        Value::Bin(x) => crate::codec::put_bin(b, Some(x)),
        Value::Array(a) => {
            put_array_header(b, a.len() as u32);
            for e in a {
                encode_value(b, e);
            }
        }
        Value::Map(m) => {
            put_map_header(b, m.len() as u32);
            for (k, e) in m {
                put_str(b, k.as_bytes());
                encode_value(b, e);
            }
        }
    }
}

/// Decodes msgpack values as the host's DecodeValue does.
struct Decoder<'b> {
    b: &'b [u8],
    off: usize,
}

impl Decoder<'_> {
    fn fail(&self, off: usize, reason: String) -> String {
        format!("malformed frame at byte {}: {}", off, reason)
    }

    fn need(&self, n: usize) -> std::result::Result<(), String> {
        if self.b.len() - self.off < n {
            return Err(self.fail(self.off, format!("need {} bytes, {} left", n, self.b.len() - self.off)));
        }
        Ok(())
    }

    fn be(&self, at: usize, n: usize) -> u64 {
        self.b[at..at + n].iter().fold(0u64, |v, &c| v << 8 | c as u64)
    }

    fn value(&mut self, depth: u32) -> std::result::Result<Value, String> {
        if depth > 32 {
            return Err(self.fail(self.off, "values nested too deeply".into()));
        }
        self.need(1)?;
        let at = self.off;
        let c = self.b[at];
        let fixed = |d: &mut Self, n: usize| -> std::result::Result<u64, String> {
            d.need(1 + n)?;
            let v = d.be(d.off + 1, n);
            d.off += 1 + n;
            Ok(v)
        };
        Ok(match c {
            0xc0 => {
                self.off += 1;
                Value::Nil
            }
            0xc2 | 0xc3 => {
                self.off += 1;
                Value::Bool(c == 0xc3)
            }
            0x00..=0x7f => {
                self.off += 1;
                Value::Int(c as i64)
            }
            0xe0..=0xff => {
                self.off += 1;
                Value::Int(c as i8 as i64)
            }
            0xcc => Value::Int(fixed(self, 1)? as i64),
            0xcd => Value::Int(fixed(self, 2)? as i64),
            0xce => Value::Int(fixed(self, 4)? as i64),
            0xcf => {
                let u = fixed(self, 8)?;
                if u > i64::MAX as u64 {
                    Value::Uint(u)
                } else {
                    Value::Int(u as i64)
                }
            }
            0xd0 => Value::Int(fixed(self, 1)? as u8 as i8 as i64),
            0xd1 => Value::Int(fixed(self, 2)? as u16 as i16 as i64),
            0xd2 => Value::Int(fixed(self, 4)? as u32 as i32 as i64),
            0xd3 => Value::Int(fixed(self, 8)? as i64),
            0xca => Value::Float(f32::from_bits(fixed(self, 4)? as u32) as f64),
            0xcb => Value::Float(f64::from_bits(fixed(self, 8)?)),
            0xa0..=0xbf | 0xd9..=0xdb | 0xc4..=0xc6 => {
                let (n, hdr) = match c {
                    0xa0..=0xbf => ((c & 0x1f) as usize, 1),
                    0xc4 | 0xd9 => {
                        self.need(2)?;
                        (self.b[at + 1] as usize, 2)
                    }
                    0xc5 | 0xda => {
                        self.need(3)?;
                        (self.be(at + 1, 2) as usize, 3)
                    }
                    _ => {
                        self.need(5)?;
                        (self.be(at + 1, 4) as usize, 5)
                    }
                };
                if self.b.len() - at - hdr < n {
                    return Err(self.fail(at, format!("value: {}-byte value runs past the end of the frame", n)));
                }
                let s = &self.b[at + hdr..at + hdr + n];
                self.off = at + hdr + n;
                if c >= 0xc4 && c <= 0xc6 {
                    Value::Bin(s.to_vec())
                } else {
                    Value::Str(String::from_utf8_lossy(s).into_owned())
                }
            }
            0x90..=0x9f | 0xdc | 0xdd => {
                let n = match c {
                    0xdc => fixed(self, 2)? as usize,
                    0xdd => fixed(self, 4)? as usize,
                    _ => {
                        self.off += 1;
                        (c & 0x0f) as usize
                    }
                };
                if n > self.b.len() - self.off {
                    return Err(self.fail(self.off, "array longer than the bytes left".into()));
                }
                let mut a = Vec::with_capacity(n);
                for _ in 0..n {
                    a.push(self.value(depth + 1)?);
                }
                Value::Array(a)
            }
            0x80..=0x8f | 0xde | 0xdf => {
                let n = match c {
                    0xde => fixed(self, 2)? as usize,
                    0xdf => fixed(self, 4)? as usize,
                    _ => {
                        self.off += 1;
                        (c & 0x0f) as usize
                    }
                };
                if 2 * n > self.b.len() - self.off {
                    return Err(self.fail(self.off, "map longer than the bytes left".into()));
                }
                let mut m = BTreeMap::new();
                for _ in 0..n {
                    let k = match self.value(depth + 1)? {
                        Value::Str(s) => s,
                        k => return Err(self.fail(self.off, format!("map key is {}; want a string", k.kind()))),
                    };
                    let v = self.value(depth + 1)?;
                    m.insert(k, v);
                }
                Value::Map(m)
            }
            _ => return Err(self.fail(at, format!("unsupported msgpack type byte 0x{:02x}", c))),
        })
    }
}
