//! The state read benchmark's operator (bench/state.go): for each record, it
//! makes params.reads (default 10) reads of counters of the record's key,
//! named `c0`, `c1`, … up to params.counters (default 10). A counter it does
//! not find it puts (value 1), so a first pass over the keys writes them and
//! every later pass only reads. It emits nothing, and at the end of each
//! batch adds to the operator counters `reads`, `misses` and `sum` (of the
//! values read), which the benchmark checks.
//!
//! Build it with `./build statebench.wasm`.

use std::sync::atomic::{AtomicUsize, Ordering};

use wasmstream_guest::{bail, count, operator, Batch, Config, Emitter, Result, State};

operator!(process_batch = run, on_init = configure);

const NAMES: [&str; 16] = ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10", "c11", "c12", "c13", "c14", "c15"];

static READS: AtomicUsize = AtomicUsize::new(10);
static COUNTERS: AtomicUsize = AtomicUsize::new(10);

fn configure(cfg: &Config) -> Result {
    let reads = cfg.int("reads", 10)?;
    let counters = cfg.int("counters", 10)?;
    if reads < 0 || !(1..=NAMES.len() as i64).contains(&counters) {
        bail!("params.reads must be at least 0 and params.counters between 1 and {}", NAMES.len());
    }
    READS.store(reads as usize, Ordering::Relaxed);
    COUNTERS.store(counters as usize, Ordering::Relaxed);
    Ok(())
}

fn run(b: &mut Batch, _: &mut Emitter) -> Result {
    let (reads, counters) = (READS.load(Ordering::Relaxed), COUNTERS.load(Ordering::Relaxed));
    let (mut n, mut misses, mut sum) = (0i64, 0i64, 0i64);
    while let Some(r) = b.next_record()? {
        let mut st = State::of(&r);
        for i in 0..reads {
            let name = NAMES[i % counters];
            match st.get(name)? {
                Some(v) if v.len() == 8 => sum += i64::from_le_bytes([v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]]),
                Some(v) => bail!("counter {} holds {} bytes", name, v.len()),
                None => {
                    st.put(name, &1i64.to_le_bytes())?;
                    misses += 1;
                }
            }
            n += 1;
        }
    }
    count("reads", n);
    count("misses", misses);
    count("sum", sum);
    Ok(())
}

#[cfg(test)]
mod tests {
    use wasmstream_guest::testing::{self, Runner};
    use wasmstream_guest::{Config, OwnedRecord, Value};

    #[test]
    fn puts_then_reads() {
        testing::reset();
        let mut op = Runner::process_batch(super::run).on_init(super::configure);
        let mut cfg = Config::default();
        cfg.params.insert("reads".into(), Value::Int(5));
        cfg.params.insert("counters".into(), Value::Int(3));
        op.init(&cfg).unwrap();
        let recs = [OwnedRecord::new("").with_key("a"), OwnedRecord::new("").with_key("b")];
        assert_eq!(op.run(&recs).unwrap(), vec![]);
        // Each key: c0 c1 c2 missed and put, then c0 c1 read.
        let m = testing::metrics();
        assert_eq!((m["reads"], m["misses"], m["sum"]), (10, 6, 4));
        op.run(&recs).unwrap();
        let m = testing::metrics();
        assert_eq!((m["reads"], m["misses"], m["sum"]), (20, 6, 14));
        assert_eq!(testing::state().len(), 6);
    }
}
