;; initloop: an operator whose init export never returns.
(module
  (memory (export "memory") 1)
  (func (export "wasmstream_abi_version") (result i32) (i32.const 1))
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "init") (param i32 i32) (result i32) (loop $l (br $l)) (i32.const 0))
  (func (export "process") (param i32 i32) (result i64) (i64.const 0)))
