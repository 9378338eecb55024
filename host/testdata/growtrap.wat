;; growtrap: host test guest (see host/hostile_test.go). What process does
;; depends on the number of records in its input frame:
;;   1: memory.grow past any limit (refused), then return an empty frame;
;;   2: trap with unreachable, without growing;
;;   3: memory.grow (refused), then divide by zero;
;;   4: memory.grow (refused), then unreachable, as a guest that gives up.
(module
  (memory (export "memory") 2)
  (data (i32.const 0) "\91\dd\00\00\00\00")
  (func (export "wasmstream_abi_version") (result i32) (i32.const 1))
  (func $alloc (export "alloc") (param $n i32) (result i32)
    (local $need i32)
    (local.set $need (i32.sub (i32.shr_u (i32.add (i32.add (i32.const 65536) (local.get $n)) (i32.const 65535)) (i32.const 16)) (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then (if (i32.eq (memory.grow (local.get $need)) (i32.const -1)) (then unreachable))))
    (i32.const 65536))
  (func (export "process") (param $p i32) (param $n i32) (result i64)
    (local $count i32)
    (local.set $count (i32.load8_u (i32.add (local.get $p) (i32.const 5))))
    (if (i32.eq (local.get $count) (i32.const 2)) (then unreachable))
    (drop (memory.grow (i32.const 60000)))
    (if (i32.eq (local.get $count) (i32.const 3))
      (then (drop (i32.div_s (i32.const 1) (i32.sub (local.get $count) (i32.const 3))))))
    (if (i32.eq (local.get $count) (i32.const 4)) (then unreachable))
    (i64.const 6))
)
