;; reentry: host test guest checking that the host never calls alloc while
;; a call is running (see host/spec_behaviour_test.go). process calls every
;; import that reads or writes guest memory; alloc traps if it runs during
;; process. The output is one record whose value is 3 bytes: how many times
;; alloc ran, the length state_get returned, and the first byte it copied.
(module
  (import "wasmstream" "set_error" (func $set_error (param i32 i32)))
  (import "wasmstream" "log" (func $log (param i32 i32 i32)))
  (import "wasmstream" "metric_add" (func $metric_add (param i32 i32 i64)))
  (import "wasmstream" "state_put" (func $put (param i32 i32 i32 i32 i32 i32 i32 i64) (result i32)))
  (import "wasmstream" "state_get" (func $get (param i32 i32 i32 i32 i32 i32 i32) (result i64)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $busy (mut i32) (i32.const 0))
  (global $allocs (mut i32) (i32.const 0))
  ;; The output frame; the value's 3 bytes are at 1034.
  (data (i32.const 1024) "\91\dd\00\00\00\01\94\c0\c4\03abc\00\c0")
  (data (i32.const 3000) "vabcd")
  (data (i32.const 3008) "hello\n")
  (data (i32.const 3016) "\c0\0b\00\00\06\00\00\00") ;; iovec: 3008, 6 bytes
  (func (export "wasmstream_abi_version") (result i32) (i32.const 1))
  (func (export "alloc") (param $n i32) (result i32)
    (local $need i32)
    (if (global.get $busy) (then unreachable))
    (global.set $allocs (i32.add (global.get $allocs) (i32.const 1)))
    (local.set $need (i32.sub (i32.shr_u (i32.add (i32.add (i32.const 65536) (local.get $n)) (i32.const 65535)) (i32.const 16)) (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then (if (i32.eq (memory.grow (local.get $need)) (i32.const -1)) (then unreachable))))
    (i32.const 65536))
  (func (export "process") (param $p i32) (param $n i32) (result i64)
    (local $len i64)
    (global.set $busy (i32.const 1))
    ;; put v = "abcd" in operator state, then get it: first with a buffer
    ;; too small (nothing is copied), then with one large enough.
    (drop (call $put (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 3000) (i32.const 1)
                     (i32.const 3001) (i32.const 4) (i64.const 0)))
    (drop (call $get (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 3000) (i32.const 1)
                     (i32.const 4096) (i32.const 2)))
    (local.set $len (call $get (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 3000) (i32.const 1)
                     (i32.const 4096) (i32.const 16)))
    (call $log (i32.const 1) (i32.const 3001) (i32.const 4))
    (call $metric_add (i32.const 3001) (i32.const 4) (i64.const 1))
    (drop (call $fd_write (i32.const 1) (i32.const 3016) (i32.const 1) (i32.const 3024)))
    (call $set_error (i32.const 3001) (i32.const 4))
    (global.set $busy (i32.const 0))
    (i32.store8 (i32.const 1034) (global.get $allocs))
    (i32.store8 (i32.const 1035) (i32.wrap_i64 (local.get $len)))
    (i32.store8 (i32.const 1036) (i32.load8_u (i32.const 4096)))
    (i64.const 4398046511119)) ;; 1024<<32 | 15
)
