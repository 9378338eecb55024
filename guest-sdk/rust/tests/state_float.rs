//! Float counters over the native stand-in, which answers as the host
//! does (guards issue #9: state held only int64 counters and bytes).

use wasmstream_guest::testing;
use wasmstream_guest::{ErrorKind, State};

#[test]
fn float_counters_add_exactly_and_stay_apart_from_int_counters() {
    testing::reset();
    let st = State::key(b"k");
    let mut sum = 0f64;
    for d in [0.1, 0.2, 12.5] {
        sum += d;
        assert_eq!(st.add_f64("money", d).unwrap(), sum);
    }
    assert_eq!(st.counter_f64("money").unwrap(), sum);
    st.add("n", 1).unwrap();
    assert_eq!(st.add("money", 1).unwrap_err().kind(), ErrorKind::NotCounter, "int add on a float counter");
    assert_eq!(st.add_f64("n", 1.0).unwrap_err().kind(), ErrorKind::NotCounter, "float add on an int counter");
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let e = st.add_f64("money", bad).unwrap_err();
        assert!(e.to_string().contains("would not be finite"), "{bad}: {e}");
    }
    st.add_f64("big", f64::MAX).unwrap();
    assert!(st.add_f64("big", f64::MAX).is_err(), "an overflowing sum was added");
    assert_eq!(st.counter_f64("big").unwrap(), f64::MAX);
    assert_eq!(st.counter_f64("money").unwrap(), sum, "refused adds changed the counter");
    let mut op = State::operator();
    let mut m = op.map("avg");
    m.add_f64("x", 1.5).unwrap();
    assert_eq!(m.add_f64("x", 1.0).unwrap(), 2.5);
    st.put("money", b"text").unwrap();
    assert_eq!(st.add_f64("money", 1.0).unwrap_err().kind(), ErrorKind::NotCounter, "a put makes bytes");
}
