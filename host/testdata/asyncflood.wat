;; asyncflood: host test guest (see TestAsyncSubmitFlood in host/async_test.go):
;; each process call submits 200,000 requests: garbage from its memory,
;; 64 KiB at a time, and requests that lie outside its memory; then it
;; returns an empty frame.
(module
  (import "wasmstream" "async_submit" (func $submit (param i32 i32) (result i64)))
  (memory (export "memory") 2)
  (data (i32.const 70000) "\91\dd\00\00\00\00")
  (func (export "wasmstream_abi_version") (result i32) (i32.const 1))
  (func (export "alloc") (param i32) (result i32) (i32.const 80000))
  (func (export "process") (param i32 i32) (result i64)
    (local $i i32)
    (loop $l
      (drop (call $submit (i32.const 0) (i32.const 65536)))
      (drop (call $submit (i32.const 0xfffffff0) (i32.const 100)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 100000))))
    (i64.or (i64.shl (i64.const 70000) (i64.const 32)) (i64.const 6)))
)
