;; badimports: host test guest (see host/host_test.go).
(module
  (import "wasmstream" "state_get" (func (param i32 i32 i32) (result i64)))
  (import "wasmstream" "timer_set" (func (param i32 i32 i64) (result i32)))
  (import "env" "now" (func (result i64)))
  (memory (export "memory") 2)
  (func (export "wasmstream_abi_version") (result i32) (i32.const 1))
  (func $alloc (export "alloc") (param $n i32) (result i32)
    ;; Buffer at 64 KiB; grow so that [65536, 65536+n) fits.
    (local $need i32)
    (local.set $need (i32.sub (i32.shr_u (i32.add (i32.add (i32.const 65536) (local.get $n)) (i32.const 65535)) (i32.const 16)) (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then (if (i32.eq (memory.grow (local.get $need)) (i32.const -1)) (then unreachable))))
    (i32.const 65536))
  (func (export "process") (param $p i32) (param $n i32) (result i64) (i64.const 0))
)
