;; fib: a guest without a single loop that runs for seconds: process
;; computes fib(50) by double recursion (see TestDeadlineWithoutLoops in
;; host/instrument_test.go). It logs "started" first, so a test can wait for it.
(module
  (import "wasmstream" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 2)
  (data (i32.const 16) "started")
  (func (export "wasmstream_abi_version") (result i32) (i32.const 1))
  (func (export "alloc") (param $n i32) (result i32) (i32.const 65536))
  (func $fib (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func (export "process") (param $p i32) (param $n i32) (result i64)
    (call $log (i32.const 1) (i32.const 16) (i32.const 7))
    (i64.extend_i32_u (call $fib (i32.const 50))))
)
