;; tablegrow: grows tables by 64Ki elements at a time until table.grow
;; fails or the tables are large, and returns their size (see
;; TestTableGrowBounded in host/instrument_test.go; not an operator module).
(module
  (table $t 1 funcref)
  (table $u 1 externref)
  ;; $t alone, up to 4Mi elements.
  (func (export "grow") (result i32)
    (block $done
      (loop $more
        (br_if $done (i32.eq (table.grow $t (ref.null func) (i32.const 65536)) (i32.const -1)))
        (br_if $more (i32.lt_u (table.size $t) (i32.const 0x400000)))))
    (table.size $t))
  ;; $t and $u in turn, up to 2Mi elements each; the sum of their sizes.
  (func (export "grow_both") (result i32)
    (block $done
      (loop $more
        (br_if $done (i32.eq (table.grow $t (ref.null func) (i32.const 65536)) (i32.const -1)))
        (br_if $done (i32.eq (table.grow $u (ref.null extern) (i32.const 65536)) (i32.const -1)))
        (br_if $more (i32.lt_u (table.size $t) (i32.const 0x200000)))))
    (i32.add (table.size $t) (table.size $u)))
)
