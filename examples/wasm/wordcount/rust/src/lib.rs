//! A keyed word count as a wasmstream operator, in two stages of one module
//! (params.stage), exactly as examples/wasm/wordcount/go:
//!
//! - `split`: each line becomes one record per word, keyed by the word
//!   (lower-cased ASCII letters and digits; every other byte separates
//!   words), so the runtime routes each word to one instance of the next
//!   operator;
//! - `count`: adds 1 to the word's `"count"` in keyed state, which the host
//!   owns and checkpoints, and emits `"word count"` when params.emit is
//!   true.
//!
//! Build it with `./build wordcount.wasm`.

use std::cell::{Cell, RefCell};
use std::io::Write;

use wasmstream_guest::{bail, operator, Config, Emitter, Record, RecordRef, Result, State};

operator!(flat_map = word_count, on_init = configure);

// The stage and emit settings of this instance. Thread-local, like the
// SDK's native state, so that tests running in parallel threads keep their
// own (a module has one thread).
thread_local! {
    static SPLIT: Cell<bool> = Cell::new(false);
    static EMIT: Cell<bool> = Cell::new(false);
}

fn configure(cfg: &Config) -> Result {
    let stage = cfg.str("stage", "count")?;
    if stage != "split" && stage != "count" {
        bail!("params.stage must be split or count, not {:?}", stage);
    }
    let emit = cfg.bool("emit", false)?;
    SPLIT.with(|s| s.set(stage == "split"));
    EMIT.with(|e| e.set(emit));
    Ok(())
}

fn word_count(r: &mut Record, out: &mut Emitter) -> Result {
    if SPLIT.with(Cell::get) {
        split(r.value_mut(), out);
        Ok(())
    } else {
        count(r, out)
    }
}

/// Emits a record per word of the line, keyed by the word. Words are
/// lower-cased in place: the emitted bytes are the input batch's.
fn split(line: &mut [u8], out: &mut Emitter) {
    line.make_ascii_lowercase();
    for word in line.split(|c| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()) {
        out.emit(&RecordRef { key: Some(word), value: Some(word), ..RecordRef::default() });
    }
}

fn count(r: &mut Record, out: &mut Emitter) -> Result {
    let n = State::of(r).add("count", 1)?;
    if EMIT.with(Cell::get) {
        // "word n", in a buffer reused by every record.
        LINE.with(|line| {
            let mut line = line.borrow_mut();
            line.clear();
            line.extend_from_slice(r.key());
            let _ = write!(line, " {}", n); // writing to a Vec cannot fail
            out.emit(&RecordRef { key: r.key.as_deref(), value: Some(&line), ..RecordRef::default() });
        });
    }
    Ok(())
}

thread_local! {
    static LINE: RefCell<Vec<u8>> = RefCell::new(Vec::new());
}

#[cfg(test)]
mod tests {
    use wasmstream_guest::testing::{self, Runner};
    use wasmstream_guest::{Config, OwnedRecord, State, Value};

    fn config(stage: &str, emit: bool) -> Config {
        let mut c = Config::default();
        c.params.insert("stage".into(), Value::Str(stage.into()));
        c.params.insert("emit".into(), Value::Bool(emit));
        c
    }

    fn word(w: &str) -> OwnedRecord {
        OwnedRecord::new(w).with_key(w)
    }

    #[test]
    fn splits_lines_into_lower_cased_words() {
        let mut op = Runner::flat_map(super::word_count).on_init(super::configure);
        op.init(&config("split", false)).unwrap();
        let out = op
            .run(&[
                OwnedRecord::new("Hello, WORLD! 42x\tfoo_bar caf\u{e9}").with_key("line").with_timestamp(7),
                OwnedRecord::new(""),
                OwnedRecord { value: None, ..OwnedRecord::new("") },
                OwnedRecord::new("..."),
            ])
            .unwrap();
        let want: Vec<OwnedRecord> = ["hello", "world", "42x", "foo", "bar", "caf"].iter().map(|w| word(w)).collect();
        assert_eq!(out, want);
    }

    #[test]
    fn counts_words_in_state() {
        testing::reset();
        let mut op = Runner::flat_map(super::word_count).on_init(super::configure);
        op.init(&config("count", true)).unwrap();
        let out = op.run(&[word("a"), word("b"), word("a")]).unwrap();
        let want = vec![
            OwnedRecord::new("a 1").with_key("a"),
            OwnedRecord::new("b 1").with_key("b"),
            OwnedRecord::new("a 2").with_key("a"),
        ];
        assert_eq!(out, want);
        let long = "x".repeat(100);
        let out = op.run(&[word(&long)]).unwrap();
        assert_eq!(out, vec![OwnedRecord::new(format!("{} 1", long)).with_key(&long)]);

        let mut quiet = Runner::flat_map(super::word_count).on_init(super::configure);
        quiet.init(&config("count", false)).unwrap();
        assert_eq!(quiet.run(&[word("a")]).unwrap(), vec![]);
        assert_eq!(State::key(b"a").counter("count").unwrap(), 3);
        assert_eq!(State::key(b"b").counter("count").unwrap(), 1);
    }

    #[test]
    fn refuses_an_unknown_stage() {
        let mut op = Runner::flat_map(super::word_count).on_init(super::configure);
        let e = op.init(&config("merge", false)).unwrap_err();
        assert_eq!(e.message(), "params.stage must be split or count, not \"merge\"");
    }
}
