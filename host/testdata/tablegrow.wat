;; tablegrow: grows a table by 64Ki elements at a time until table.grow
;; fails or the table holds 4Mi elements, and returns its size (see
;; TestTableGrowBounded in host/instrument_test.go; not an operator module).
(module
  (table $t 1 funcref)
  (func (export "grow") (result i32)
    (block $done
      (loop $more
        (br_if $done (i32.eq (table.grow $t (ref.null func) (i32.const 65536)) (i32.const -1)))
        (br_if $more (i32.lt_u (table.size $t) (i32.const 0x400000)))))
    (table.size $t))
)
