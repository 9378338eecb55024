;; renumber: every kind of function reference instrument renumbers, for the
;; differential test in host/instrument_test.go (not an operator module).
(module
  (import "env" "add" (func $add (param i32 i32) (result i32)))
  (import "genv" "g" (global $g0 i32))
  (type $unary (func (param i32) (result i32)))
  (table $t 4 funcref)
  (elem (table $t) (i32.const 0) func $double $triple)
  (elem (table $t) (i32.const 2) funcref (ref.func $square) (ref.null func))
  (elem declare func $inc)
  (global $started (mut i32) (i32.const 0))
  (global $fref funcref (ref.func $inc))
  (global $counter (mut i64) (i64.const 0))
  (start $init)
  (func $init (global.set $started (i32.const 42)))
  (func $double (type $unary) (i32.mul (local.get 0) (i32.const 2)))
  (func $triple (type $unary) (i32.mul (local.get 0) (i32.const 3)))
  (func $square (type $unary) (i32.mul (local.get 0) (local.get 0)))
  (func $inc (type $unary) (i32.add (local.get 0) (i32.const 1)))
  ;; sum over k in [0, n) of table[k % 3](k), through call_indirect, plus the
  ;; imported global and the start function's mark.
  (func (export "indirect") (param $n i32) (result i32)
    (local $k i32) (local $sum i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $k) (local.get $n)))
        (local.set $sum (call $add (local.get $sum)
          (call_indirect (type $unary) (local.get $k) (i32.rem_u (local.get $k) (i32.const 3)))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $next)))
    (i32.add (i32.add (local.get $sum) (global.get $g0)) (global.get $started)))
  ;; nested loops: n*n iterations, counted in a mutable i64 global.
  (func (export "nested") (param $n i32) (result i64)
    (local $i i32) (local $j i32)
    (loop $outer
      (local.set $j (i32.const 0))
      (loop $inner
        (global.set $counter (i64.add (global.get $counter) (i64.const 1)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $inner (i32.lt_u (local.get $j) (local.get $n))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $outer (i32.lt_u (local.get $i) (local.get $n))))
    (global.get $counter))
  ;; ref.func in code and in a global, called through the table.
  (func (export "refs") (param $x i32) (result i32)
    (table.set $t (i32.const 3) (ref.func $inc))
    (i32.add
      (call_indirect (type $unary) (local.get $x) (i32.const 3))
      (call $square (local.get $x))))
  (func (export "fref_is_set") (result i32)
    (i32.eqz (ref.is_null (global.get $fref))))
  (export "double" (func $double))
)
