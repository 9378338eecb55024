;; alloczero: host test guest whose alloc fails by returning 0 (see
;; host/spec_behaviour_test.go). alloc(0) returns 0, which is allowed; an
;; input of 6 bytes (an empty frame) gets 0 at once; any other input first
;; asks for 64 MiB more memory and returns 0 when that is refused.
(module
  (memory (export "memory") 2)
  (func (export "wasmstream_abi_version") (result i32) (i32.const 1))
  (func (export "alloc") (param $n i32) (result i32)
    (if (i32.le_u (local.get $n) (i32.const 6)) (then (return (i32.const 0))))
    (if (i32.eq (memory.grow (i32.const 1024)) (i32.const -1)) (then (return (i32.const 0))))
    (i32.const 65536))
  (func (export "process") (param $p i32) (param $n i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32)) (i64.extend_i32_u (local.get $n))))
)
