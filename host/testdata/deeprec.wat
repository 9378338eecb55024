;; deeprec: unbounded recursion, each frame holding a few live values (see
;; TestStackBounded in host/instrument_test.go).
(module
  (memory (export "memory") 2)
  (func (export "wasmstream_abi_version") (result i32) (i32.const 1))
  (func (export "alloc") (param $n i32) (result i32) (i32.const 65536))
  (func $down (param $n i64) (result i64)
    (local $a i64) (local $b i64)
    (local.set $a (i64.mul (local.get $n) (i64.const 3)))
    (local.set $b (i64.add (local.get $a) (local.get $n)))
    (i64.add (call $down (i64.add (local.get $n) (i64.const 1)))
             (i64.add (local.get $a) (local.get $b))))
  (func (export "process") (param $p i32) (param $n i32) (result i64)
    (call $down (i64.const 0)))
)
