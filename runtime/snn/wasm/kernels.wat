;; The simulator's hot loops in WebAssembly (SIMD): the neuron update of a population, the delivery of spikes
;; through a conv table's compact twin (conv-table.ts), a dense route or a table; and the virtual chip's (targets/chip/
;; simulate.ts): its IF update counted per core, conv twins with weights per core, synapse lists. Built
;; into kernels-wasm.ts by `npm run build:wasm`; the engine (engine.ts) keeps its state in this module's memory, so JavaScript and
;; these kernels read and write the same arrays.
;;
;; Every address is a byte offset into the memory; every float is a double, added in the same order as the
;; plain JavaScript loops they replace (f64x2.add is two IEEE double additions), so results are bit-identical.
(module
  (import "env" "memory" (memory 1 65536 shared))
  ;; $integrateRange's count of non-spiking neurons that had a non-zero current.
  (global $active (mut i32) (i32.const 0))

  ;; THE NEURON UPDATE of neurons [from, end), one rule for IF, LIF, signed IF and bursts (compiler/ir/types.ts IfNode):
  ;; v = λ·v + I; I = base; spike if v >= θ (list i − from); v −= θ ($subtract) or v = 0. λ is per neuron
  ;; at $leak (f64; 1 for IF, where λ·v is exactly v, so IF spikes are those of v + I); $unit = 1 says every λ of
  ;; [from, end) is 1, and the leak is then not read.
  ;; Graded populations ($burst > 1 or $signed) send n spikes at once, n the payload (i32 at $payload, one per
  ;; listed neuron): n = min(floor(v/th), burst, t - S) when v >= th; n = -min(ceil(-v/th), burst, S) when signed, v < 0
  ;; and S > 0; v -= n*th; the tracer S (f64 per neuron at $tracer: net spikes sent) += n, so 0 <= S <= t.
  ;; With burst 1 and no sign this is the plain rule (n = 1, v - 1*th = v - th), which runs here; graded
  ;; populations run in $integrateGraded.
  ;; Returns the spike count; stores at $out (f64) the non-spiking neurons that had a non-zero current.
  ;; Two neurons per f64x2 (the same IEEE operations per lane) and without branches (spikes are too
  ;; irregular to predict): four neurons' spiking indices are packed through a table (16 masks × 4 lanes of
  ;; i32 at byte 0 of the memory: kernels.ts KERNEL_TABLES), a pair's both written at the list's end, which
  ;; advances past each spiking one. An odd last neuron runs as a pair of two copies of itself, stored from
  ;; the first lane only.
  (func (export "integrate")
    (param $cur i32) (param $base i32) (param $v i32) (param $theta i32) (param $leak i32) (param $unit i32) (param $subtract i32)
    (param $from i32) (param $end i32) (param $list i32) (param $out i32)
    (param $tracer i32) (param $payload i32) (param $burst i32) (param $signed i32) (param $t i32) (result i32)
    (local $ns i32)
    (if (i32.or (local.get $signed) (i32.gt_u (local.get $burst) (i32.const 1)))
      (then (return (call $integrateGraded
        (local.get $cur) (local.get $base) (local.get $v) (local.get $theta) (local.get $leak)
        (local.get $from) (local.get $end) (local.get $list) (local.get $out)
        (local.get $tracer) (local.get $payload) (local.get $burst) (local.get $signed) (local.get $t)))))
    (local.set $ns (call $integrateRange
      (local.get $cur) (local.get $base) (local.get $v) (local.get $theta) (local.get $leak) (local.get $unit) (local.get $subtract)
      (local.get $from) (local.get $end) (local.get $list) (local.get $from)))
    (f64.store (local.get $out) (f64.convert_i32_u (global.get $active)))
    (local.get $ns))

  ;; integrate's plain rule on neurons [from, end), listing spiking neurons as i − $origin from $list on;
  ;; returns the spikes and leaves the non-spiking neurons with a non-zero current in $active.
  (func $integrateRange
    (param $cur i32) (param $base i32) (param $v i32) (param $theta i32) (param $leak i32) (param $unit i32) (param $subtract i32)
    (param $from i32) (param $end i32) (param $list i32) (param $origin i32) (result i32)
    (local $i i32) (local $e i32) (local $ns i32) (local $active i32) (local $bits i32) (local $pairEnd i32)
    (local $c v128) (local $vi v128) (local $th v128) (local $fire v128) (local $keep v128)
    (local $c2 v128) (local $vi2 v128) (local $th2 v128) (local $fire2 v128) (local $quadEnd i32) (local $k i32) (local $act v128)
    ;; All ones where the reset subtracts θ, all zeros where it sets v to 0.
    (local.set $keep (i64x2.splat (i64.sub (i64.const 0) (i64.extend_i32_u (i32.ne (local.get $subtract) (i32.const 0))))))
    (local.set $i (local.get $from))
    (local.set $quadEnd (i32.add (local.get $from) (i32.and (i32.sub (local.get $end) (local.get $from)) (i32.const -4))))
    (local.set $pairEnd (i32.add (local.get $from) (i32.and (i32.sub (local.get $end) (local.get $from)) (i32.const -2))))
    (if (local.get $unit)
      (then
            ;; IF populations ($unit: every λ is 1, and 1·v is exactly v) skip the leak's loads and multiplies.
            (block $doneUnitQuads
              (loop $unitQuads
                (br_if $doneUnitQuads (i32.ge_u (local.get $i) (local.get $quadEnd)))
                (local.set $e (i32.shl (local.get $i) (i32.const 3)))
                (local.set $c (v128.load (i32.add (local.get $cur) (local.get $e))))
                (local.set $c2 (v128.load offset=16 (i32.add (local.get $cur) (local.get $e))))
                ;; THE NEURON RULE, as in the pair loop below, on two pairs, with λ = 1.
                (local.set $vi (f64x2.add (v128.load (i32.add (local.get $v) (local.get $e))) (local.get $c)))
                (local.set $vi2 (f64x2.add (v128.load offset=16 (i32.add (local.get $v) (local.get $e))) (local.get $c2)))
                (local.set $th (v128.load (i32.add (local.get $theta) (local.get $e))))
                (local.set $th2 (v128.load offset=16 (i32.add (local.get $theta) (local.get $e))))
                (local.set $fire (f64x2.ge (local.get $vi) (local.get $th)))
                (local.set $fire2 (f64x2.ge (local.get $vi2) (local.get $th2)))
                (local.set $vi (v128.bitselect
                  (v128.and (f64x2.sub (local.get $vi) (local.get $th)) (local.get $keep))
                  (local.get $vi)
                  (local.get $fire)))
                (local.set $vi2 (v128.bitselect
                  (v128.and (f64x2.sub (local.get $vi2) (local.get $th2)) (local.get $keep))
                  (local.get $vi2)
                  (local.get $fire2)))
                (v128.store (i32.add (local.get $v) (local.get $e)) (local.get $vi))
                (v128.store offset=16 (i32.add (local.get $v) (local.get $e)) (local.get $vi2))
                (v128.store (i32.add (local.get $cur) (local.get $e)) (v128.load (i32.add (local.get $base) (local.get $e))))
                (v128.store offset=16 (i32.add (local.get $cur) (local.get $e)) (v128.load offset=16 (i32.add (local.get $base) (local.get $e))))
                (local.set $bits (i32.or (i64x2.bitmask (local.get $fire)) (i32.shl (i64x2.bitmask (local.get $fire2)) (i32.const 2))))
                ;; The spiking ones' indices, packed: the table at byte 0 (kernels.ts KERNEL_TABLES) lists the set bits of each
                ;; 4-bit mask; all four lanes are written, the list advances by the spikes.
                (v128.store (i32.add (local.get $list) (i32.shl (local.get $ns) (i32.const 2)))
                  (i32x4.add (i32x4.splat (i32.sub (local.get $i) (local.get $origin))) (v128.load (i32.shl (local.get $bits) (i32.const 4)))))
                (local.set $ns (i32.add (local.get $ns) (i32.popcnt (local.get $bits))))
                ;; Non-spiking neurons with a current, counted per lane (all-ones lanes: −1 each).
                (local.set $act (i64x2.sub (local.get $act) (v128.andnot (f64x2.ne (local.get $c) (f64x2.splat (f64.const 0))) (local.get $fire))))
                (local.set $act (i64x2.sub (local.get $act) (v128.andnot (f64x2.ne (local.get $c2) (f64x2.splat (f64.const 0))) (local.get $fire2))))
                (local.set $i (i32.add (local.get $i) (i32.const 4)))
                (br $unitQuads))))
      (else
            ;; Four neurons at a time (two pairs: fewer loop and address instructions), then a pair, then an odd one.
            (block $doneQuads
              (loop $quads
                (br_if $doneQuads (i32.ge_u (local.get $i) (local.get $quadEnd)))
                (local.set $e (i32.shl (local.get $i) (i32.const 3)))
                (local.set $c (v128.load (i32.add (local.get $cur) (local.get $e))))
                (local.set $c2 (v128.load offset=16 (i32.add (local.get $cur) (local.get $e))))
                ;; THE NEURON RULE, as in the pair loop below, on two pairs.
                (local.set $vi (f64x2.add
                  (f64x2.mul (v128.load (i32.add (local.get $leak) (local.get $e))) (v128.load (i32.add (local.get $v) (local.get $e))))
                  (local.get $c)))
                (local.set $vi2 (f64x2.add
                  (f64x2.mul (v128.load offset=16 (i32.add (local.get $leak) (local.get $e))) (v128.load offset=16 (i32.add (local.get $v) (local.get $e))))
                  (local.get $c2)))
                (local.set $th (v128.load (i32.add (local.get $theta) (local.get $e))))
                (local.set $th2 (v128.load offset=16 (i32.add (local.get $theta) (local.get $e))))
                (local.set $fire (f64x2.ge (local.get $vi) (local.get $th)))
                (local.set $fire2 (f64x2.ge (local.get $vi2) (local.get $th2)))
                (local.set $vi (v128.bitselect
                  (v128.and (f64x2.sub (local.get $vi) (local.get $th)) (local.get $keep))
                  (local.get $vi)
                  (local.get $fire)))
                (local.set $vi2 (v128.bitselect
                  (v128.and (f64x2.sub (local.get $vi2) (local.get $th2)) (local.get $keep))
                  (local.get $vi2)
                  (local.get $fire2)))
                (v128.store (i32.add (local.get $v) (local.get $e)) (local.get $vi))
                (v128.store offset=16 (i32.add (local.get $v) (local.get $e)) (local.get $vi2))
                (v128.store (i32.add (local.get $cur) (local.get $e)) (v128.load (i32.add (local.get $base) (local.get $e))))
                (v128.store offset=16 (i32.add (local.get $cur) (local.get $e)) (v128.load offset=16 (i32.add (local.get $base) (local.get $e))))
                (local.set $bits (i32.or (i64x2.bitmask (local.get $fire)) (i32.shl (i64x2.bitmask (local.get $fire2)) (i32.const 2))))
                ;; The spiking ones' indices, packed: the table at byte 0 (kernels.ts KERNEL_TABLES) lists the set bits of each
                ;; 4-bit mask; all four lanes are written, the list advances by the spikes.
                (v128.store (i32.add (local.get $list) (i32.shl (local.get $ns) (i32.const 2)))
                  (i32x4.add (i32x4.splat (i32.sub (local.get $i) (local.get $origin))) (v128.load (i32.shl (local.get $bits) (i32.const 4)))))
                (local.set $ns (i32.add (local.get $ns) (i32.popcnt (local.get $bits))))
                ;; Non-spiking neurons with a current, counted per lane (all-ones lanes: −1 each).
                (local.set $act (i64x2.sub (local.get $act) (v128.andnot (f64x2.ne (local.get $c) (f64x2.splat (f64.const 0))) (local.get $fire))))
                (local.set $act (i64x2.sub (local.get $act) (v128.andnot (f64x2.ne (local.get $c2) (f64x2.splat (f64.const 0))) (local.get $fire2))))
                (local.set $i (i32.add (local.get $i) (i32.const 4)))
                (br $quads)))))
    (local.set $active (i32.wrap_i64 (i64.add (i64x2.extract_lane 0 (local.get $act)) (i64x2.extract_lane 1 (local.get $act)))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $pairEnd)))
        (local.set $e (i32.shl (local.get $i) (i32.const 3)))
        (local.set $c (v128.load (i32.add (local.get $cur) (local.get $e))))
        ;; THE NEURON RULE (the quad loop above and the odd tail below repeat it; $integrateGraded is the graded one, integrateCores the chip's copy):
        ;; v = λ·v + I; fire where v >= θ; there v = v − θ (subtract) or 0.
        (local.set $vi (f64x2.add
          (f64x2.mul (v128.load (i32.add (local.get $leak) (local.get $e))) (v128.load (i32.add (local.get $v) (local.get $e))))
          (local.get $c)))
        (local.set $th (v128.load (i32.add (local.get $theta) (local.get $e))))
        (local.set $fire (f64x2.ge (local.get $vi) (local.get $th)))
        (local.set $vi (v128.bitselect
          (v128.and (f64x2.sub (local.get $vi) (local.get $th)) (local.get $keep))
          (local.get $vi)
          (local.get $fire)))
        (v128.store (i32.add (local.get $cur) (local.get $e)) (v128.load (i32.add (local.get $base) (local.get $e))))
        (v128.store (i32.add (local.get $v) (local.get $e)) (local.get $vi))
        (local.set $bits (i64x2.bitmask (local.get $fire)))
        (i32.store (i32.add (local.get $list) (i32.shl (local.get $ns) (i32.const 2))) (i32.sub (local.get $i) (local.get $origin)))
        (local.set $ns (i32.add (local.get $ns) (i32.and (local.get $bits) (i32.const 1))))
        (i32.store (i32.add (local.get $list) (i32.shl (local.get $ns) (i32.const 2))) (i32.add (i32.sub (local.get $i) (local.get $origin)) (i32.const 1)))
        (local.set $ns (i32.add (local.get $ns) (i32.shr_u (local.get $bits) (i32.const 1))))
        (local.set $active (i32.add (local.get $active)
          (i32.popcnt (i64x2.bitmask (v128.andnot (f64x2.ne (local.get $c) (f64x2.splat (f64.const 0))) (local.get $fire))))))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $next)))
    (if (i32.lt_u (local.get $i) (local.get $end))
      (then
        (local.set $e (i32.shl (local.get $i) (i32.const 3)))
        (local.set $c (v128.load64_splat (i32.add (local.get $cur) (local.get $e))))
        ;; THE NEURON RULE, as above.
        (local.set $vi (f64x2.add
          (f64x2.mul (v128.load64_splat (i32.add (local.get $leak) (local.get $e))) (v128.load64_splat (i32.add (local.get $v) (local.get $e))))
          (local.get $c)))
        (local.set $th (v128.load64_splat (i32.add (local.get $theta) (local.get $e))))
        (local.set $fire (f64x2.ge (local.get $vi) (local.get $th)))
        (local.set $vi (v128.bitselect
          (v128.and (f64x2.sub (local.get $vi) (local.get $th)) (local.get $keep))
          (local.get $vi)
          (local.get $fire)))
        (f64.store (i32.add (local.get $cur) (local.get $e)) (f64.load (i32.add (local.get $base) (local.get $e))))
        (v128.store64_lane 0 (i32.add (local.get $v) (local.get $e)) (local.get $vi))
        (local.set $bits (i32.and (i64x2.bitmask (local.get $fire)) (i32.const 1)))
        (i32.store (i32.add (local.get $list) (i32.shl (local.get $ns) (i32.const 2))) (i32.sub (local.get $i) (local.get $origin)))
        (local.set $ns (i32.add (local.get $ns) (local.get $bits)))
        (local.set $active (i32.add (local.get $active)
          (i32.and (i32.const 1) (i64x2.bitmask (v128.andnot (f64x2.ne (local.get $c) (f64x2.splat (f64.const 0))) (local.get $fire))))))))
    (global.set $active (local.get $active))
    (local.get $ns))

  ;; THE NEURON RULE of graded populations (see integrate), one neuron at a time; they reset by subtraction.
  (func $integrateGraded
    (param $cur i32) (param $base i32) (param $v i32) (param $theta i32) (param $leak i32)
    (param $from i32) (param $end i32) (param $list i32) (param $out i32)
    (param $tracer i32) (param $payload i32) (param $burst i32) (param $signed i32) (param $t i32) (result i32)
    (local $i i32) (local $e i32) (local $c f64) (local $vi f64) (local $th f64) (local $ns i32) (local $active i32)
    (local $k f64) (local $n f64) (local $s f64)
    (local.set $k (f64.convert_i32_u (local.get $burst)))
    (local.set $i (local.get $from))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $e (i32.shl (local.get $i) (i32.const 3)))
        (local.set $c (f64.load (i32.add (local.get $cur) (local.get $e))))
        (local.set $vi (f64.add
          (f64.mul (f64.load (i32.add (local.get $leak) (local.get $e))) (f64.load (i32.add (local.get $v) (local.get $e))))
          (local.get $c)))
        (f64.store (i32.add (local.get $cur) (local.get $e)) (f64.load (i32.add (local.get $base) (local.get $e))))
        (local.set $th (f64.load (i32.add (local.get $theta) (local.get $e))))
        (local.set $s (f64.load (i32.add (local.get $tracer) (local.get $e))))
        (local.set $n (f64.const 0))
        (if (f64.ge (local.get $vi) (local.get $th))
          (then (local.set $n (f64.min
            (f64.min (f64.floor (f64.div (local.get $vi) (local.get $th))) (local.get $k))
            (f64.sub (f64.convert_i32_u (local.get $t)) (local.get $s)))))
          (else (if (i32.and (local.get $signed) (i32.and (f64.lt (local.get $vi) (f64.const 0)) (f64.gt (local.get $s) (f64.const 0))))
            (then (local.set $n (f64.neg (f64.min
              (f64.min (f64.ceil (f64.div (f64.neg (local.get $vi)) (local.get $th))) (local.get $k))
              (local.get $s))))))))
        (if (f64.ne (local.get $n) (f64.const 0))
          (then
            (local.set $vi (f64.sub (local.get $vi) (f64.mul (local.get $n) (local.get $th))))
            (f64.store (i32.add (local.get $tracer) (local.get $e)) (f64.add (local.get $s) (local.get $n)))
            (i32.store
              (i32.add (local.get $list) (i32.shl (local.get $ns) (i32.const 2)))
              (i32.sub (local.get $i) (local.get $from)))
            (i32.store
              (i32.add (local.get $payload) (i32.shl (local.get $ns) (i32.const 2)))
              (i32.trunc_f64_s (local.get $n)))
            (local.set $ns (i32.add (local.get $ns) (i32.const 1))))
          (else
            (if (f64.ne (local.get $c) (f64.const 0))
              (then (local.set $active (i32.add (local.get $active) (i32.const 1)))))))
        (f64.store (i32.add (local.get $v) (local.get $e)) (local.get $vi))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (f64.store (local.get $out) (f64.convert_i32_u (local.get $active)))
    (local.get $ns))

  ;; acc[p·cout + o] = cur[o·outPlane + p] (to = 1) or back (to = 0), for o < cout, p < outPlane.
  ;; $cur points at the target population's first current.
  ;; Two channels at a time: one 16-byte access on the channel-last side, two 8-byte ones on the other.
  (func $stage (export "stage") (param $cur i32) (param $acc i32) (param $cout i32) (param $outPlane i32) (param $to i32)
    (local $o i32) (local $p i32) (local $a i32) (local $b i32) (local $b2 i32) (local $step i32) (local $row i32) (local $x v128)
    (local.set $step (i32.shl (local.get $cout) (i32.const 3)))
    (local.set $row (i32.shl (local.get $outPlane) (i32.const 3)))
    (block $doneO
      (loop $forO
        (br_if $doneO (i32.ge_u (i32.add (local.get $o) (i32.const 1)) (local.get $cout)))
        (local.set $a (i32.add (local.get $acc) (i32.shl (local.get $o) (i32.const 3))))
        (local.set $b (i32.add (local.get $cur) (i32.mul (local.get $o) (local.get $row))))
        (local.set $b2 (i32.add (local.get $b) (local.get $row)))
        (local.set $p (i32.const 0))
        (if (local.get $to)
          (then
            (block $doneP
              (loop $forP
                (br_if $doneP (i32.ge_u (local.get $p) (local.get $outPlane)))
                (v128.store (local.get $a) (v128.load64_lane 1 (local.get $b2) (v128.load64_zero (local.get $b))))
                (local.set $a (i32.add (local.get $a) (local.get $step)))
                (local.set $b (i32.add (local.get $b) (i32.const 8)))
                (local.set $b2 (i32.add (local.get $b2) (i32.const 8)))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $forP))))
          (else
            (block $doneP
              (loop $forP
                (br_if $doneP (i32.ge_u (local.get $p) (local.get $outPlane)))
                (local.set $x (v128.load (local.get $a)))
                (v128.store64_lane 0 (local.get $b) (local.get $x))
                (v128.store64_lane 1 (local.get $b2) (local.get $x))
                (local.set $a (i32.add (local.get $a) (local.get $step)))
                (local.set $b (i32.add (local.get $b) (i32.const 8)))
                (local.set $b2 (i32.add (local.get $b2) (i32.const 8)))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $forP)))))
        (local.set $o (i32.add (local.get $o) (i32.const 2)))
        (br $forO)))
    ;; An odd last channel.
    (if (i32.lt_u (local.get $o) (local.get $cout))
      (then
        (local.set $a (i32.add (local.get $acc) (i32.shl (local.get $o) (i32.const 3))))
        (local.set $b (i32.add (local.get $cur) (i32.mul (local.get $o) (local.get $row))))
        (local.set $p (i32.const 0))
        (block $doneP
          (loop $forP
            (br_if $doneP (i32.ge_u (local.get $p) (local.get $outPlane)))
            (if (local.get $to)
              (then (f64.store (local.get $a) (f64.load (local.get $b))))
              (else (f64.store (local.get $b) (f64.load (local.get $a)))))
            (local.set $a (i32.add (local.get $a) (local.get $step)))
            (local.set $b (i32.add (local.get $b) (i32.const 8)))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $forP))))))

  ;; $bytes bytes from $src to $dst (regions that do not overlap).
  (func (export "copy") (param $dst i32) (param $src i32) (param $bytes i32)
    (memory.copy (local.get $dst) (local.get $src) (local.get $bytes)))

  ;; Delivers n spikes (ascending neuron indices at $spikes) of a [C, H, W] population through a conv twin:
  ;; per spike (c, s), per pair q of its position, adds the cpg weights at
  ;; $weights + ((c·taps + posTap[q])·cpg) to the cpg currents of output position posOut[q] and c's group.
  ;; The target currents are staged channel-last in $acc, so those cpg additions are contiguous (SIMD);
  ;; each target still receives its sources' weights in ascending source order, as from the CSR.
  (func (export "deliverConv")
    (param $spikes i32) (param $n i32) (param $cur i32) (param $acc i32)
    (param $posPtr i32) (param $posOut i32) (param $posTap i32) (param $weights i32)
    (param $plane i32) (param $outPlane i32) (param $cinPerGroup i32) (param $cpg i32) (param $cout i32) (param $taps i32)
    (call $deliverConvBanked
      (local.get $spikes) (local.get $n) (local.get $cur) (local.get $acc)
      (local.get $posPtr) (local.get $posOut) (local.get $posTap) (local.get $weights)
      (local.get $plane) (local.get $outPlane) (local.get $cinPerGroup) (local.get $cpg) (local.get $cout) (local.get $taps)
      (i32.const -1)))

  ;; As deliverConv, with one weight table per bank: output position p reads its weights at $weights plus
  ;; the byte offset $banks[p] (i32 per output position; $banks = -1: one table). The virtual chip's
  ;; quantised weights differ by the core (exponent group) that holds the target.
  (func $deliverConvBanked (export "deliverConvBanked")
    (param $spikes i32) (param $n i32) (param $cur i32) (param $acc i32)
    (param $posPtr i32) (param $posOut i32) (param $posTap i32) (param $weights i32)
    (param $plane i32) (param $outPlane i32) (param $cinPerGroup i32) (param $cpg i32) (param $cout i32) (param $taps i32)
    (param $banks i32)
    (call $stage (local.get $cur) (local.get $acc) (local.get $cout) (local.get $outPlane) (i32.const 1))
    (call $scatterConv
      (local.get $spikes) (local.get $n) (local.get $acc)
      (local.get $posPtr) (local.get $posOut) (local.get $posTap) (local.get $weights)
      (local.get $plane) (local.get $cinPerGroup) (local.get $cpg) (local.get $cout) (local.get $taps) (local.get $banks))
    (call $stage (local.get $cur) (local.get $acc) (local.get $cout) (local.get $outPlane) (i32.const 0)))

  ;; deliverConv's additions into currents already held channel-last at $acc ([position][cout]): the simulator
  ;; keeps a conv's only target that way between steps, so it needs no staging (integrate reads it in place).
  (func $scatterConv (export "scatterConv")
    (param $spikes i32) (param $n i32) (param $acc i32)
    (param $posPtr i32) (param $posOut i32) (param $posTap i32) (param $weights i32)
    (param $plane i32) (param $cinPerGroup i32) (param $cpg i32) (param $cout i32) (param $taps i32)
    (param $banks i32)
    (local $o i32)
    (local $k i32) (local $i i32) (local $c i32) (local $s i32) (local $q i32) (local $qEnd i32)
    (local $a i32) (local $w i32) (local $pairEnd i32) (local $end i32) (local $group i32) (local $end8 i32)
    (local $cw i32)
    (block $doneK
      (loop $forK
        (br_if $doneK (i32.ge_u (local.get $k) (local.get $n)))
        (local.set $i (i32.load (i32.add (local.get $spikes) (i32.shl (local.get $k) (i32.const 2)))))
        (local.set $c (i32.div_u (local.get $i) (local.get $plane)))
        (local.set $s (i32.sub (local.get $i) (i32.mul (local.get $c) (local.get $plane))))
        ;; Offset of c's group among the output channels; c's weights start at $cw.
        (local.set $group (i32.mul (i32.div_u (local.get $c) (local.get $cinPerGroup)) (local.get $cpg)))
        (local.set $cw (i32.mul (local.get $c) (local.get $taps)))
        (local.set $q (i32.load (i32.add (local.get $posPtr) (i32.shl (local.get $s) (i32.const 2)))))
        (local.set $qEnd (i32.load (i32.add (local.get $posPtr) (i32.shl (i32.add (local.get $s) (i32.const 1)) (i32.const 2)))))
        (block $doneQ
          (loop $forQ
            (br_if $doneQ (i32.ge_u (local.get $q) (local.get $qEnd)))
            (local.set $o (i32.load (i32.add (local.get $posOut) (i32.shl (local.get $q) (i32.const 2)))))
            (local.set $a (i32.add (local.get $acc) (i32.shl
              (i32.add (i32.mul (local.get $o) (local.get $cout)) (local.get $group))
              (i32.const 3))))
            (local.set $w (i32.add (local.get $weights) (i32.shl
              (i32.mul
                (i32.add (local.get $cw) (i32.load (i32.add (local.get $posTap) (i32.shl (local.get $q) (i32.const 2)))))
                (local.get $cpg))
              (i32.const 3))))
            (if (i32.ne (local.get $banks) (i32.const -1))
              (then (local.set $w (i32.add (local.get $w)
                (i32.load (i32.add (local.get $banks) (i32.shl (local.get $o) (i32.const 2))))))))
            (local.set $end (i32.add (local.get $a) (i32.shl (local.get $cpg) (i32.const 3))))
            (local.set $end8 (i32.add (local.get $a) (i32.shl (i32.and (local.get $cpg) (i32.const -8)) (i32.const 3))))
            (local.set $pairEnd (i32.add (local.get $a) (i32.shl (i32.and (local.get $cpg) (i32.const -2)) (i32.const 3))))
            ;; Eight doubles at a time (fewer loop branches), then two at a time, then the odd one.
            (block $doneEights
              (loop $eights
                (br_if $doneEights (i32.ge_u (local.get $a) (local.get $end8)))
                (v128.store (local.get $a) (f64x2.add (v128.load (local.get $a)) (v128.load (local.get $w))))
                (v128.store offset=16 (local.get $a) (f64x2.add (v128.load offset=16 (local.get $a)) (v128.load offset=16 (local.get $w))))
                (v128.store offset=32 (local.get $a) (f64x2.add (v128.load offset=32 (local.get $a)) (v128.load offset=32 (local.get $w))))
                (v128.store offset=48 (local.get $a) (f64x2.add (v128.load offset=48 (local.get $a)) (v128.load offset=48 (local.get $w))))
                (local.set $a (i32.add (local.get $a) (i32.const 64)))
                (local.set $w (i32.add (local.get $w) (i32.const 64)))
                (br $eights)))
            (block $donePairs
              (loop $pairs
                (br_if $donePairs (i32.ge_u (local.get $a) (local.get $pairEnd)))
                (v128.store (local.get $a) (f64x2.add (v128.load (local.get $a)) (v128.load (local.get $w))))
                (local.set $a (i32.add (local.get $a) (i32.const 16)))
                (local.set $w (i32.add (local.get $w) (i32.const 16)))
                (br $pairs)))
            (if (i32.lt_u (local.get $a) (local.get $end))
              (then (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64.load (local.get $w))))))
            (local.set $q (i32.add (local.get $q) (i32.const 1)))
            (br $forQ)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $forK))))

  ;; scatterConv with the twin's pairs as byte offsets, computed once (engine.ts): output position q's
  ;; currents at $acc + $posOutB[q] (posOut·cout·8) and tap q's weights at posTapB[q] (posTap·cpg·8) from its
  ;; channel's; $cpg a multiple of 8 runs eight doubles at a time only.
  (func (export "scatterConvB")
    (param $spikes i32) (param $n i32) (param $acc i32)
    (param $posPtr i32) (param $posOutB i32) (param $posTapB i32) (param $weights i32)
    (param $plane i32) (param $cinPerGroup i32) (param $cpg i32) (param $taps i32)
    (local $k i32) (local $i i32) (local $c i32) (local $s i32) (local $q i32) (local $qEnd i32)
    (local $a i32) (local $w i32) (local $end i32) (local $pairEnd i32) (local $end8 i32) (local $accG i32) (local $cw i32)
    (local $bytes i32) (local $bytes8 i32) (local $bytes2 i32)
    (local.set $bytes (i32.shl (local.get $cpg) (i32.const 3)))
    (local.set $bytes8 (i32.and (local.get $bytes) (i32.const -64)))
    (local.set $bytes2 (i32.and (local.get $bytes) (i32.const -16)))
    (block $doneK
      (loop $forK
        (br_if $doneK (i32.ge_u (local.get $k) (local.get $n)))
        (local.set $i (i32.load (i32.add (local.get $spikes) (i32.shl (local.get $k) (i32.const 2)))))
        (local.set $c (i32.div_u (local.get $i) (local.get $plane)))
        (local.set $s (i32.sub (local.get $i) (i32.mul (local.get $c) (local.get $plane))))
        (local.set $accG (i32.add (local.get $acc)
          (i32.mul (i32.div_u (local.get $c) (local.get $cinPerGroup)) (local.get $bytes))))
        (local.set $cw (i32.add (local.get $weights) (i32.mul (i32.mul (local.get $c) (local.get $taps)) (local.get $bytes))))
        (local.set $q (i32.shl (i32.load (i32.add (local.get $posPtr) (i32.shl (local.get $s) (i32.const 2)))) (i32.const 2)))
        (local.set $qEnd (i32.shl (i32.load (i32.add (local.get $posPtr) (i32.shl (i32.add (local.get $s) (i32.const 1)) (i32.const 2)))) (i32.const 2)))
        (block $doneQ
          (loop $forQ
            (br_if $doneQ (i32.ge_u (local.get $q) (local.get $qEnd)))
            (local.set $a (i32.add (local.get $accG) (i32.load (i32.add (local.get $posOutB) (local.get $q)))))
            (local.set $w (i32.add (local.get $cw) (i32.load (i32.add (local.get $posTapB) (local.get $q)))))
            (local.set $end8 (i32.add (local.get $a) (local.get $bytes8)))
            (block $doneEights
              (loop $eights
                (br_if $doneEights (i32.ge_u (local.get $a) (local.get $end8)))
                (v128.store (local.get $a) (f64x2.add (v128.load (local.get $a)) (v128.load (local.get $w))))
                (v128.store offset=16 (local.get $a) (f64x2.add (v128.load offset=16 (local.get $a)) (v128.load offset=16 (local.get $w))))
                (v128.store offset=32 (local.get $a) (f64x2.add (v128.load offset=32 (local.get $a)) (v128.load offset=32 (local.get $w))))
                (v128.store offset=48 (local.get $a) (f64x2.add (v128.load offset=48 (local.get $a)) (v128.load offset=48 (local.get $w))))
                (local.set $a (i32.add (local.get $a) (i32.const 64)))
                (local.set $w (i32.add (local.get $w) (i32.const 64)))
                (br $eights)))
            (if (i32.ne (local.get $bytes8) (local.get $bytes))
              (then
                (local.set $end (i32.add (local.get $a) (i32.sub (local.get $bytes) (local.get $bytes8))))
                (local.set $pairEnd (i32.add (local.get $a) (i32.sub (local.get $bytes2) (local.get $bytes8))))
                (block $donePairs
                  (loop $pairs
                    (br_if $donePairs (i32.ge_u (local.get $a) (local.get $pairEnd)))
                    (v128.store (local.get $a) (f64x2.add (v128.load (local.get $a)) (v128.load (local.get $w))))
                    (local.set $a (i32.add (local.get $a) (i32.const 16)))
                    (local.set $w (i32.add (local.get $w) (i32.const 16)))
                    (br $pairs)))
                (if (i32.lt_u (local.get $a) (local.get $end))
                  (then (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64.load (local.get $w))))))))
            (local.set $q (i32.add (local.get $q) (i32.const 4)))
            (br $forQ)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $forK))))

  ;; scatterConvB's additions target-stationary, for a twin of one group: a step's spikes are first bucketed
  ;; per output position (each bucket lists, in the spike list's order, the addresses of the weight rows
  ;; its spikes add), then each position's currents are held in registers, sixteen channels at a time,
  ;; while its bucket's rows are added: one load and one add per two synaptic operations instead of two loads,
  ;; an add and a store. The currents stay channel-first at $cur (the target's first), read and written a
  ;; channel pair at a time, so nothing is staged. Each target still receives its sources' weights in the
  ;; list's order (ascending sources), so the sums are bit-identical to scatterConvB's.
  ;; Source position s's pairs are q = s·maxq + j, j < maxq: $posOut4[q] = posOut·4 (a byte offset into $ptrs),
  ;; $posTapB[q] = posTap·cout·8 and $posInc[q] = 4, or padding (see below). $ptrs holds an i32 per output position
  ;; (its bucket's next free entry) and maxq more; $bucket $cap bytes per output position (4 per spike that can
  ;; reach it) and 4 more.
  (func (export "gatherConv")
    (param $spikes i32) (param $n i32) (param $cur i32)
    (param $posOut4 i32) (param $posTapB i32) (param $posInc i32) (param $maxq i32) (param $weights i32)
    (param $plane i32) (param $cout i32) (param $taps i32) (param $outPlane i32)
    (param $ptrs i32) (param $bucket i32) (param $cap i32)
    (local $k i32) (local $cEnd i32) (local $cwStep i32) (local $qStep i32) (local $i i32) (local $c i32) (local $s i32) (local $q i32) (local $qEnd i32) (local $cw i32)
    (local $o i32) (local $p i32) (local $pa i32) (local $start i32) (local $end i32) (local $e i32)
    (local $a i32) (local $b i32) (local $bytes i32) (local $w i32) (local $col i32) (local $t i32) (local $row i32) (local $row2 i32)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128)
    (local $x4 v128) (local $x5 v128) (local $x6 v128) (local $x7 v128)
    (local.set $bytes (i32.shl (local.get $cout) (i32.const 3)))
    ;; Empty buckets.
    (local.set $p (local.get $bucket))
    (block $doneInit
      (loop $init
        (br_if $doneInit (i32.ge_u (local.get $o) (local.get $outPlane)))
        (i32.store (i32.add (local.get $ptrs) (i32.shl (local.get $o) (i32.const 2))) (local.get $p))
        (local.set $p (i32.add (local.get $p) (local.get $cap)))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $init)))
    ;; Bucket the spikes in list order. Every source position has $maxq pairs, so the pair loop's count never
    ;; varies (a varying one is mispredicted about once a spike): padding pair j lands in the dummy bucket
    ;; $ptrs[outPlane + j] (one per j, so that they do not wait on each other) and does not advance it (posInc 0).
    (local.set $o (local.get $outPlane))
    (block $doneD (loop $dummies
      (br_if $doneD (i32.ge_u (local.get $o) (i32.add (local.get $outPlane) (local.get $maxq))))
      (i32.store (i32.add (local.get $ptrs) (i32.shl (local.get $o) (i32.const 2))) (local.get $p))
      (local.set $o (i32.add (local.get $o) (i32.const 1)))
      (br $dummies)))
    (local.set $c (i32.const 0))
    (local.set $cEnd (local.get $plane))
    (local.set $cw (local.get $weights))
    (local.set $cwStep (i32.mul (local.get $taps) (local.get $bytes)))
    (local.set $qStep (i32.shl (local.get $maxq) (i32.const 2)))
    (block $doneK
      (loop $forK
        (br_if $doneK (i32.ge_u (local.get $k) (local.get $n)))
        (local.set $i (i32.load (i32.add (local.get $spikes) (i32.shl (local.get $k) (i32.const 2)))))
        ;; The spike's channel c, found from the last one's (lists are ascending, or nearly: a remap may step back).
        (if (i32.lt_u (local.get $i) (i32.sub (local.get $cEnd) (local.get $plane)))
          (then
            (local.set $c (i32.const 0))
            (local.set $cEnd (local.get $plane))
            (local.set $cw (local.get $weights))))
        (block $found
          (loop $nextC
            (br_if $found (i32.lt_u (local.get $i) (local.get $cEnd)))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (local.set $cEnd (i32.add (local.get $cEnd) (local.get $plane)))
            (local.set $cw (i32.add (local.get $cw) (local.get $cwStep)))
            (br $nextC)))
        (local.set $s (i32.sub (local.get $i) (i32.sub (local.get $cEnd) (local.get $plane))))
        (local.set $q (i32.mul (local.get $s) (local.get $qStep)))
        (local.set $qEnd (i32.add (local.get $q) (local.get $qStep)))
        (loop $forQ
          (local.set $pa (i32.add (local.get $ptrs) (i32.load (i32.add (local.get $posOut4) (local.get $q)))))
          (local.set $p (i32.load (local.get $pa)))
          (i32.store (local.get $p) (i32.add (local.get $cw) (i32.load (i32.add (local.get $posTapB) (local.get $q)))))
          (i32.store (local.get $pa) (i32.add (local.get $p) (i32.load (i32.add (local.get $posInc) (local.get $q)))))
          (local.set $q (i32.add (local.get $q) (i32.const 4)))
          (br_if $forQ (i32.lt_u (local.get $q) (local.get $qEnd))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $forK)))
    ;; Per output position, add its bucket's rows to its currents, held channel-first at $cur (channel ch of
    ;; position o at $cur + (ch·outPlane + o)·8): each pair of channels is gathered into one f64x2 and scattered back.
    ;; Positions no spike reaches are not touched.
    (local.set $o (i32.const 0))
    (local.set $start (local.get $bucket))
    (local.set $col (local.get $cur))
    (local.set $row (i32.shl (local.get $outPlane) (i32.const 3)))
    (local.set $row2 (i32.shl (local.get $outPlane) (i32.const 4)))
    (block $doneO
      (loop $forO
        (br_if $doneO (i32.ge_u (local.get $o) (local.get $outPlane)))
        (local.set $end (i32.load (i32.add (local.get $ptrs) (i32.shl (local.get $o) (i32.const 2)))))
        (if (i32.gt_u (local.get $end) (local.get $start))
          (then
            (local.set $b (i32.const 0))
            (local.set $a (local.get $col))
            ;; Sixteen channels at a time ($b: their first one's byte offset in a weight row; $a: its current).
            (block $doneBlocks
              (loop $blocks
                (br_if $doneBlocks (i32.gt_u (i32.add (local.get $b) (i32.const 128)) (local.get $bytes)))
                (local.set $t (local.get $a))
                (local.set $x0 (v128.load64_lane 1 (i32.add (local.get $t) (local.get $row)) (v128.load64_zero (local.get $t))))
                (local.set $t (i32.add (local.get $t) (local.get $row2)))
                (local.set $x1 (v128.load64_lane 1 (i32.add (local.get $t) (local.get $row)) (v128.load64_zero (local.get $t))))
                (local.set $t (i32.add (local.get $t) (local.get $row2)))
                (local.set $x2 (v128.load64_lane 1 (i32.add (local.get $t) (local.get $row)) (v128.load64_zero (local.get $t))))
                (local.set $t (i32.add (local.get $t) (local.get $row2)))
                (local.set $x3 (v128.load64_lane 1 (i32.add (local.get $t) (local.get $row)) (v128.load64_zero (local.get $t))))
                (local.set $t (i32.add (local.get $t) (local.get $row2)))
                (local.set $x4 (v128.load64_lane 1 (i32.add (local.get $t) (local.get $row)) (v128.load64_zero (local.get $t))))
                (local.set $t (i32.add (local.get $t) (local.get $row2)))
                (local.set $x5 (v128.load64_lane 1 (i32.add (local.get $t) (local.get $row)) (v128.load64_zero (local.get $t))))
                (local.set $t (i32.add (local.get $t) (local.get $row2)))
                (local.set $x6 (v128.load64_lane 1 (i32.add (local.get $t) (local.get $row)) (v128.load64_zero (local.get $t))))
                (local.set $t (i32.add (local.get $t) (local.get $row2)))
                (local.set $x7 (v128.load64_lane 1 (i32.add (local.get $t) (local.get $row)) (v128.load64_zero (local.get $t))))
                (local.set $e (local.get $start))
                (loop $rows
                  (local.set $w (i32.add (i32.load (local.get $e)) (local.get $b)))
                  (local.set $x0 (f64x2.add (local.get $x0) (v128.load (local.get $w))))
                  (local.set $x1 (f64x2.add (local.get $x1) (v128.load offset=16 (local.get $w))))
                  (local.set $x2 (f64x2.add (local.get $x2) (v128.load offset=32 (local.get $w))))
                  (local.set $x3 (f64x2.add (local.get $x3) (v128.load offset=48 (local.get $w))))
                  (local.set $x4 (f64x2.add (local.get $x4) (v128.load offset=64 (local.get $w))))
                  (local.set $x5 (f64x2.add (local.get $x5) (v128.load offset=80 (local.get $w))))
                  (local.set $x6 (f64x2.add (local.get $x6) (v128.load offset=96 (local.get $w))))
                  (local.set $x7 (f64x2.add (local.get $x7) (v128.load offset=112 (local.get $w))))
                  (local.set $e (i32.add (local.get $e) (i32.const 4)))
                  (br_if $rows (i32.lt_u (local.get $e) (local.get $end))))
                (local.set $t (local.get $a))
                (v128.store64_lane 0 (local.get $t) (local.get $x0))
                (v128.store64_lane 1 (i32.add (local.get $t) (local.get $row)) (local.get $x0))
                (local.set $t (i32.add (local.get $t) (local.get $row2)))
                (v128.store64_lane 0 (local.get $t) (local.get $x1))
                (v128.store64_lane 1 (i32.add (local.get $t) (local.get $row)) (local.get $x1))
                (local.set $t (i32.add (local.get $t) (local.get $row2)))
                (v128.store64_lane 0 (local.get $t) (local.get $x2))
                (v128.store64_lane 1 (i32.add (local.get $t) (local.get $row)) (local.get $x2))
                (local.set $t (i32.add (local.get $t) (local.get $row2)))
                (v128.store64_lane 0 (local.get $t) (local.get $x3))
                (v128.store64_lane 1 (i32.add (local.get $t) (local.get $row)) (local.get $x3))
                (local.set $t (i32.add (local.get $t) (local.get $row2)))
                (v128.store64_lane 0 (local.get $t) (local.get $x4))
                (v128.store64_lane 1 (i32.add (local.get $t) (local.get $row)) (local.get $x4))
                (local.set $t (i32.add (local.get $t) (local.get $row2)))
                (v128.store64_lane 0 (local.get $t) (local.get $x5))
                (v128.store64_lane 1 (i32.add (local.get $t) (local.get $row)) (local.get $x5))
                (local.set $t (i32.add (local.get $t) (local.get $row2)))
                (v128.store64_lane 0 (local.get $t) (local.get $x6))
                (v128.store64_lane 1 (i32.add (local.get $t) (local.get $row)) (local.get $x6))
                (local.set $t (i32.add (local.get $t) (local.get $row2)))
                (v128.store64_lane 0 (local.get $t) (local.get $x7))
                (v128.store64_lane 1 (i32.add (local.get $t) (local.get $row)) (local.get $x7))
                (local.set $a (i32.add (local.get $t) (local.get $row2)))
                (local.set $b (i32.add (local.get $b) (i32.const 128)))
                (br $blocks)))
            ;; Then two channels at a time.
            (block $donePairs
              (loop $pairs
                (br_if $donePairs (i32.gt_u (i32.add (local.get $b) (i32.const 16)) (local.get $bytes)))
                (local.set $x0 (v128.load64_lane 1 (i32.add (local.get $a) (local.get $row)) (v128.load64_zero (local.get $a))))
                (local.set $e (local.get $start))
                (loop $rows
                  (local.set $x0 (f64x2.add (local.get $x0) (v128.load (i32.add (i32.load (local.get $e)) (local.get $b)))))
                  (local.set $e (i32.add (local.get $e) (i32.const 4)))
                  (br_if $rows (i32.lt_u (local.get $e) (local.get $end))))
                (v128.store64_lane 0 (local.get $a) (local.get $x0))
                (v128.store64_lane 1 (i32.add (local.get $a) (local.get $row)) (local.get $x0))
                (local.set $a (i32.add (local.get $a) (local.get $row2)))
                (local.set $b (i32.add (local.get $b) (i32.const 16)))
                (br $pairs)))
            ;; Then an odd last channel.
            (if (i32.lt_u (local.get $b) (local.get $bytes))
              (then
                (local.set $e (local.get $start))
                (loop $rows
                  (f64.store (local.get $a)
                    (f64.add (f64.load (local.get $a)) (f64.load (i32.add (i32.load (local.get $e)) (local.get $b)))))
                  (local.set $e (i32.add (local.get $e) (i32.const 4)))
                  (br_if $rows (i32.lt_u (local.get $e) (local.get $end))))))))
        (local.set $start (i32.add (local.get $start) (local.get $cap)))
        (local.set $col (i32.add (local.get $col) (i32.const 8)))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $forO))))

  ;; The virtual chip's neuron update of neurons [from, end): THE NEURON RULE of `integrate` (λ at $leak, $unit, reset by
  ;; subtraction ($subtract) or to zero), counted per core ($coreOf: i32 per neuron): a spike adds 1 to the core's $spk and $act
  ;; (f64 per core), a non-spiking neuron with a non-zero current 1 to its $act. A core's neurons come in runs of
  ;; consecutive ones (a slice's rows); each run is updated by $integrateRange (four neurons per iteration, SIMD)
  ;; and counted once. Returns the spikes, listed as i − $from.
  (func (export "integrateCores")
    (param $cur i32) (param $base i32) (param $v i32) (param $theta i32) (param $leak i32) (param $from i32) (param $end i32)
    (param $list i32) (param $coreOf i32) (param $act i32) (param $spk i32) (param $subtract i32) (param $unit i32) (result i32)
    (local $i i32) (local $j i32) (local $core i32) (local $ns i32) (local $fired i32)
    (local.set $i (local.get $from))
    (block $done
      (loop $runs
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        ;; The run of neurons [i, j) on one core.
        (local.set $core (i32.load (i32.add (local.get $coreOf) (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $j (i32.add (local.get $i) (i32.const 1)))
        (block $runEnd
          (loop $scan
            (br_if $runEnd (i32.ge_u (local.get $j) (local.get $end)))
            (br_if $runEnd (i32.ne (i32.load (i32.add (local.get $coreOf) (i32.shl (local.get $j) (i32.const 2)))) (local.get $core)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $scan)))
        (local.set $fired (call $integrateRange
          (local.get $cur) (local.get $base) (local.get $v) (local.get $theta) (local.get $leak) (local.get $unit) (local.get $subtract)
          (local.get $i) (local.get $j) (i32.add (local.get $list) (i32.shl (local.get $ns) (i32.const 2))) (local.get $from)))
        (call $count (local.get $act) (local.get $spk) (local.get $core) (i32.add (global.get $active) (local.get $fired)) (local.get $fired))
        (local.set $ns (i32.add (local.get $ns) (local.get $fired)))
        (local.set $i (local.get $j))
        (br $runs)))
    (local.get $ns))

  ;; act[core] += active; spk[core] += fired (f64 counters).
  (func $count (param $act i32) (param $spk i32) (param $core i32) (param $active i32) (param $fired i32)
    (local $a i32)
    (local.set $a (i32.add (local.get $act) (i32.shl (local.get $core) (i32.const 3))))
    (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64.convert_i32_u (local.get $active))))
    (local.set $a (i32.add (local.get $spk) (i32.shl (local.get $core) (i32.const 3))))
    (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64.convert_i32_u (local.get $fired)))))

  ;; Delivers n spikes (source rows at $spikes) through synapse lists: row i's synapses are the 8-byte
  ;; entries $rowPtr[i] .. $rowPtr[i+1] at $entries, each the byte address of its target current (i32) and
  ;; its weight (f32, widened exactly to f64 as JavaScript does). In list order, so each target receives
  ;; its sources' weights in ascending source order.
  (func (export "addEntries") (param $spikes i32) (param $n i32) (param $rowPtr i32) (param $entries i32)
    (local $k i32) (local $r i32) (local $e i32) (local $end i32) (local $a i32)
    (block $doneK
      (loop $forK
        (br_if $doneK (i32.ge_u (local.get $k) (local.get $n)))
        (local.set $r (i32.add (local.get $rowPtr)
          (i32.shl (i32.load (i32.add (local.get $spikes) (i32.shl (local.get $k) (i32.const 2)))) (i32.const 2))))
        (local.set $e (i32.add (local.get $entries) (i32.shl (i32.load (local.get $r)) (i32.const 3))))
        (local.set $end (i32.add (local.get $entries) (i32.shl (i32.load offset=4 (local.get $r)) (i32.const 3))))
        (block $doneE
          (loop $forE
            (br_if $doneE (i32.ge_u (local.get $e) (local.get $end)))
            (local.set $a (i32.load (local.get $e)))
            (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64.promote_f32 (f32.load offset=4 (local.get $e)))))
            (local.set $e (i32.add (local.get $e) (i32.const 8)))
            (br $forE)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $forK))))

  ;; addEntries with entries that hold byte offsets from $cur instead of addresses: one table serves every
  ;; engine (each worker's currents sit elsewhere in a shared memory).
  (func (export "addEntriesAt") (param $spikes i32) (param $n i32) (param $rowPtr i32) (param $entries i32) (param $cur i32)
    (local $k i32) (local $r i32) (local $e i32) (local $end i32) (local $a i32)
    (block $doneK
      (loop $forK
        (br_if $doneK (i32.ge_u (local.get $k) (local.get $n)))
        (local.set $r (i32.add (local.get $rowPtr)
          (i32.shl (i32.load (i32.add (local.get $spikes) (i32.shl (local.get $k) (i32.const 2)))) (i32.const 2))))
        (local.set $e (i32.add (local.get $entries) (i32.shl (i32.load (local.get $r)) (i32.const 3))))
        (local.set $end (i32.add (local.get $entries) (i32.shl (i32.load offset=4 (local.get $r)) (i32.const 3))))
        (block $doneE
          (loop $forE
            (br_if $doneE (i32.ge_u (local.get $e) (local.get $end)))
            (local.set $a (i32.add (local.get $cur) (i32.load (local.get $e))))
            (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64.promote_f32 (f32.load offset=4 (local.get $e)))))
            (local.set $e (i32.add (local.get $e) (i32.const 8)))
            (br $forE)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $forK))))

  ;; A dense route's delivery: for each listed element m = row·inner + j, cur[row·out + o] += w[j·out + o]
  ;; for o < out ($weights: f32, widened exactly; zero weights added too, as the JavaScript loop did).
  (func (export "deliverDense") (param $list i32) (param $n i32) (param $inner i32) (param $out i32) (param $weights i32) (param $cur i32)
    (local $k i32) (local $m i32) (local $row i32) (local $a i32) (local $w i32) (local $end i32) (local $pairEnd i32)
    (block $doneK
      (loop $forK
        (br_if $doneK (i32.ge_u (local.get $k) (local.get $n)))
        (local.set $m (i32.load (i32.add (local.get $list) (i32.shl (local.get $k) (i32.const 2)))))
        (local.set $row (i32.div_u (local.get $m) (local.get $inner)))
        (local.set $w (i32.add (local.get $weights) (i32.shl
          (i32.mul (i32.sub (local.get $m) (i32.mul (local.get $row) (local.get $inner))) (local.get $out)) (i32.const 2))))
        (local.set $a (i32.add (local.get $cur) (i32.shl (i32.mul (local.get $row) (local.get $out)) (i32.const 3))))
        (local.set $end (i32.add (local.get $a) (i32.shl (local.get $out) (i32.const 3))))
        (local.set $pairEnd (i32.add (local.get $a) (i32.shl (i32.and (local.get $out) (i32.const -2)) (i32.const 3))))
        (block $donePairs
          (loop $pairs
            (br_if $donePairs (i32.ge_u (local.get $a) (local.get $pairEnd)))
            (v128.store (local.get $a) (f64x2.add (v128.load (local.get $a))
              (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $w)))))
            (local.set $a (i32.add (local.get $a) (i32.const 16)))
            (local.set $w (i32.add (local.get $w) (i32.const 8)))
            (br $pairs)))
        (if (i32.lt_u (local.get $a) (local.get $end))
          (then (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64.promote_f32 (f32.load (local.get $w)))))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $forK))))

  ;; Sum of $table[i] (i32) over the n listed i: a stream's SOPs (each spike's fan-out).
  (func (export "sumAt") (param $list i32) (param $n i32) (param $table i32) (result f64)
    (local $k i32) (local $sum i64)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $k) (local.get $n)))
        (local.set $sum (i64.add (local.get $sum) (i64.extend_i32_u (i32.load (i32.add (local.get $table)
          (i32.shl (i32.load (i32.add (local.get $list) (i32.shl (local.get $k) (i32.const 2)))) (i32.const 2)))))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $next)))
    (f64.convert_i64_u (local.get $sum)))

  ;; out ← $remap[i] for the n listed i, skipping −1 (elements that reach nothing); returns how many.
  (func (export "remapList") (param $list i32) (param $n i32) (param $remap i32) (param $out i32) (result i32)
    (local $k i32) (local $m i32) (local $kept i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $k) (local.get $n)))
        (local.set $m (i32.load (i32.add (local.get $remap)
          (i32.shl (i32.load (i32.add (local.get $list) (i32.shl (local.get $k) (i32.const 2)))) (i32.const 2)))))
        (i32.store (i32.add (local.get $out) (i32.shl (local.get $kept) (i32.const 2))) (local.get $m))
        (local.set $kept (i32.add (local.get $kept) (i32.ge_s (local.get $m) (i32.const 0))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $next)))
    (local.get $kept))

;; The analog input through a conv twin (routes.ts addValues, in its order): for each input element i < $rows
  ;; with x = $x[i] (f32) ≠ 0 that the remap ($remap = −1: none) sends to twin element m = c·plane + s,
  ;; a = x / $divisor ($divisor 1: x), and acc[posOut[q]·cout + group(c)·cpg + o] += a·w for each pair q of s and
  ;; each non-zero f32 weight w = weights[(c·taps + posTap[q])·cpg + o]. The currents are staged channel-last at
  ;; $acc (as for the spikes' deliveries), so the cpg outputs of a pair are contiguous: two per f64x2, each lane
  ;; the scalar's multiply then add; a lane whose weight is 0 keeps its current (bitselect), as the scalar skips it.
  (func (export "addConvValues")
    (param $x i32) (param $rows i32) (param $divisor f64) (param $remap i32) (param $weights i32)
    (param $posPtr i32) (param $posOut i32) (param $posTap i32)
    (param $plane i32) (param $cinPerGroup i32) (param $cpg i32) (param $cout i32) (param $taps i32) (param $acc i32)
    (local $i i32) (local $m i32) (local $c i32) (local $s i32) (local $q i32) (local $qEnd i32) (local $o i32)
    (local $group i32) (local $wb i32) (local $tb i32) (local $pairs i32)
    (local $xi f64) (local $a f64) (local $w f64) (local $a2 v128) (local $w2 v128) (local $t v128)
    (local.set $pairs (i32.and (local.get $cpg) (i32.const -2)))
    (block $doneI
      (loop $forI
        (br_if $doneI (i32.ge_u (local.get $i) (local.get $rows)))
        (local.set $xi (f64.promote_f32 (f32.load (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 2))))))
        (local.set $m (local.get $i))
        (if (i32.ne (local.get $remap) (i32.const -1))
          (then (local.set $m (i32.load (i32.add (local.get $remap) (i32.shl (local.get $i) (i32.const 2)))))))
        (if (i32.and (f64.ne (local.get $xi) (f64.const 0)) (i32.ge_s (local.get $m) (i32.const 0)))
          (then
            (local.set $a (select (local.get $xi) (f64.div (local.get $xi) (local.get $divisor)) (f64.eq (local.get $divisor) (f64.const 1))))
            (local.set $a2 (f64x2.splat (local.get $a)))
            (local.set $c (i32.div_u (local.get $m) (local.get $plane)))
            (local.set $s (i32.sub (local.get $m) (i32.mul (local.get $c) (local.get $plane))))
            (local.set $group (i32.shl (i32.mul (i32.div_u (local.get $c) (local.get $cinPerGroup)) (local.get $cpg)) (i32.const 3)))
            (local.set $q (i32.load (i32.add (local.get $posPtr) (i32.shl (local.get $s) (i32.const 2)))))
            (local.set $qEnd (i32.load (i32.add (local.get $posPtr) (i32.shl (i32.add (local.get $s) (i32.const 1)) (i32.const 2)))))
            (block $doneQ
              (loop $forQ
                (br_if $doneQ (i32.ge_u (local.get $q) (local.get $qEnd)))
                (local.set $wb (i32.add (local.get $weights) (i32.shl
                  (i32.mul
                    (i32.add (i32.mul (local.get $c) (local.get $taps)) (i32.load (i32.add (local.get $posTap) (i32.shl (local.get $q) (i32.const 2)))))
                    (local.get $cpg))
                  (i32.const 2))))
                (local.set $tb (i32.add (i32.add (local.get $acc) (local.get $group))
                  (i32.shl (i32.mul (i32.load (i32.add (local.get $posOut) (i32.shl (local.get $q) (i32.const 2)))) (local.get $cout)) (i32.const 3))))
                (local.set $o (i32.const 0))
                (block $doneO
                  (loop $forO
                    (br_if $doneO (i32.ge_u (local.get $o) (local.get $pairs)))
                    (local.set $w2 (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $wb) (i32.shl (local.get $o) (i32.const 2))))))
                    (local.set $t (v128.load (local.get $tb)))
                    (v128.store (local.get $tb) (v128.bitselect
                      (f64x2.add (local.get $t) (f64x2.mul (local.get $a2) (local.get $w2)))
                      (local.get $t)
                      (f64x2.ne (local.get $w2) (f64x2.splat (f64.const 0)))))
                    (local.set $tb (i32.add (local.get $tb) (i32.const 16)))
                    (local.set $o (i32.add (local.get $o) (i32.const 2)))
                    (br $forO)))
                (if (i32.lt_u (local.get $o) (local.get $cpg))
                  (then
                    (local.set $w (f64.promote_f32 (f32.load (i32.add (local.get $wb) (i32.shl (local.get $o) (i32.const 2))))))
                    (if (f64.ne (local.get $w) (f64.const 0))
                      (then (f64.store (local.get $tb)
                        (f64.add (f64.load (local.get $tb)) (f64.mul (local.get $a) (local.get $w))))))))
                (local.set $q (i32.add (local.get $q) (i32.const 1)))
                (br $forQ)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $forI)))))
