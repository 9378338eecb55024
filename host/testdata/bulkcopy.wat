;; bulkcopy: a guest whose loop body is one 1 MiB memory.copy, 65,536 times
;; the work of a plain loop iteration (see TestDeadlineWithoutLoops in
;; host/instrument_test.go). It logs "started" first, so a test can wait for it.
(module
  (import "wasmstream" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 64)
  (data (i32.const 16) "started")
  (func (export "wasmstream_abi_version") (result i32) (i32.const 1))
  (func (export "alloc") (param $n i32) (result i32) (i32.const 65536))
  (func (export "process") (param $p i32) (param $n i32) (result i64)
    (call $log (i32.const 1) (i32.const 16) (i32.const 7))
    (loop $forever
      (memory.copy (i32.const 0x100000) (i32.const 0x200000) (i32.const 0x100000))
      (br $forever))
    (i64.const 0))
)
