;; spec: host test guest for the ABI's edge cases (see host/spec_behaviour_test.go).
;; process picks its answer by the record count of the input frame, which
;; the host writes canonically: 0x91 0xdd then the count as u32be, whose
;; low byte is at offset 5.
(module
  (import "wasmstream" "set_error" (func $set_error (param i32 i32)))
  (memory (export "memory") 2)
  ;; 0 records: a valid frame of one record in no canonical encoding:
  ;; array16 frame and records, array16 record, str key, bin32 value,
  ;; uint64 timestamp, array32 headers with a str8 name and a str value.
  (data (i32.const 1024)
    "\dc\00\01" "\dc\00\01" "\dc\00\04"
    "\a1k" "\c6\00\00\00\02hi" "\cf\00\00\00\00\00\00\00\07"
    "\dd\00\00\00\02" "\d9\01h" "\a1v")
  ;; 1 record: a frame of 2 elements (the records, then nil) whose record
  ;; has 7 elements: key nil, value "x", timestamp 5, headers nil, output
  ;; "out", then 42 and {"a": 1}.
  (data (i32.const 2048)
    "\92" "\dd\00\00\00\01"
    "\97" "\c0" "\c4\01x" "\05" "\c0" "\a3out" "\2a" "\81\a1a\01"
    "\c0")
  (data (i32.const 3072) "first")
  (data (i32.const 3080) "second")
  (data (i32.const 3088) "ignored")
  (func (export "wasmstream_abi_version") (result i32) (i32.const 1))
  (func $alloc (export "alloc") (param $n i32) (result i32)
    ;; Buffer at 64 KiB; grow so that [65536, 65536+n) fits.
    (local $need i32)
    (local.set $need (i32.sub (i32.shr_u (i32.add (i32.add (i32.const 65536) (local.get $n)) (i32.const 65535)) (i32.const 16)) (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then (if (i32.eq (memory.grow (local.get $need)) (i32.const -1)) (then unreachable))))
    (i32.const 65536))
  (func (export "process") (param $p i32) (param $n i32) (result i64)
    (block $echo
      (block $ignored
        (block $twice
          (block $noerr
            (block $extra
              (block $noncanonical
                (br_table $noncanonical $extra $noerr $twice $ignored $echo
                  (i32.load8_u offset=5 (local.get $p))))
              ;; 0 records
              (return (i64.const 4398046511141))) ;; 1024<<32 | 37
            ;; 1 record
            (return (i64.const 8796093022231))) ;; 2048<<32 | 23
          ;; 2 records: fail without a message
          (return (i64.const -1)))
        ;; 3 records: set the message twice, then fail
        (call $set_error (i32.const 3072) (i32.const 5))
        (call $set_error (i32.const 3080) (i32.const 6))
        (return (i64.const -1)))
      ;; 4 records: set a message, then succeed
      (call $set_error (i32.const 3088) (i32.const 7)))
    ;; 4 records or more: the output is the input frame itself, in place.
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32)) (i64.extend_i32_u (local.get $n))))
)
