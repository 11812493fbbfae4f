;; The reference executor's convolution (conv.ts) of one image in WebAssembly (SIMD). Built into conv-wasm.ts
;; by `npm run build:wasm`; conv.ts keeps the image's input, its padded copy, the accumulator, the tap offsets,
;; the weights, the biases and the image's output in this module's memory.
;;
;; Every address is a byte offset into the memory. Bit-identical to the plain JavaScript loop
;;   acc[i] += w0·p[o0 + i] + w1·p[o1 + i] + … + w7·p[o7 + i]   (eight taps per pass, then one tap per pass)
;; because each f64x2 lane computes that same expression: f64x2.mul and f64x2.add are two IEEE double
;; multiplications and additions, summed left to right and only then added to acc (no fused multiply-add).
(module
  (import "env" "memory" (memory 1))

  ;; Copies one image's [channels, H, W] input at $x (f32 if $f32, else f64) into the zero-padded,
  ;; stride-phase-split buffer at $p (see conv.ts): padded row r = ih + padTop, column col = iw + padLeft of
  ;; channel c goes to c·channelSize + ((r mod sh)·sw + col mod sw)·phaseSize + (r div sh)·phaseW + col div sw.
  ;; Per input row, the columns of one phase are every sw-th input column and land contiguously.
  (func (export "scatter")
    (param $x i32) (param $f32 i32) (param $channels i32) (param $H i32) (param $W i32) (param $padTop i32)
    (param $padLeft i32) (param $sh i32) (param $sw i32) (param $phaseW i32) (param $phaseSize i32)
    (param $channelSize i32) (param $p i32)
    (local $c i32) (local $ih i32) (local $r i32) (local $row i32) (local $iw0 i32) (local $phases i32)
    (local $col i32) (local $d i32) (local $s i32) (local $end i32) (local $step i32)
    (local.set $phases (select (local.get $sw) (local.get $W) (i32.lt_u (local.get $sw) (local.get $W))))
    (block $doneC
      (loop $forC
        (br_if $doneC (i32.ge_u (local.get $c) (local.get $channels)))
        (local.set $ih (i32.const 0))
        (block $doneH
          (loop $forH
            (br_if $doneH (i32.ge_u (local.get $ih) (local.get $H)))
            (local.set $r (i32.add (local.get $ih) (local.get $padTop)))
            ;; Element index of the row's start in the padded buffer.
            (local.set $row
              (i32.add
                (i32.add
                  (i32.mul (local.get $c) (local.get $channelSize))
                  (i32.mul (i32.mul (i32.rem_u (local.get $r) (local.get $sh)) (local.get $sw)) (local.get $phaseSize)))
                (i32.mul (i32.div_u (local.get $r) (local.get $sh)) (local.get $phaseW))))
            (local.set $iw0 (i32.const 0))
            (block $donePhases
              (loop $forPhase
                (br_if $donePhases (i32.ge_u (local.get $iw0) (local.get $phases)))
                (local.set $col (i32.add (local.get $iw0) (local.get $padLeft)))
                (local.set $d (i32.add (local.get $p) (i32.shl
                  (i32.add
                    (local.get $row)
                    (i32.add
                      (i32.mul (i32.rem_u (local.get $col) (local.get $sw)) (local.get $phaseSize))
                      (i32.div_u (local.get $col) (local.get $sw))))
                  (i32.const 3))))
                ;; Source element (c, ih, iw0) and the row's end, as element indices.
                (local.set $s (i32.add (i32.mul (i32.add (i32.mul (local.get $c) (local.get $H)) (local.get $ih)) (local.get $W)) (local.get $iw0)))
                (local.set $end (i32.add (i32.sub (local.get $s) (local.get $iw0)) (local.get $W)))
                (if (local.get $f32)
                  (then
                    (local.set $step (i32.shl (local.get $sw) (i32.const 2)))
                    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $end) (i32.const 2))))
                    (local.set $s (i32.add (local.get $x) (i32.shl (local.get $s) (i32.const 2))))
                    (block $done32
                      (loop $copy32
                        (br_if $done32 (i32.ge_u (local.get $s) (local.get $end)))
                        (f64.store (local.get $d) (f64.promote_f32 (f32.load (local.get $s))))
                        (local.set $s (i32.add (local.get $s) (local.get $step)))
                        (local.set $d (i32.add (local.get $d) (i32.const 8)))
                        (br $copy32))))
                  (else
                    (local.set $step (i32.shl (local.get $sw) (i32.const 3)))
                    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $end) (i32.const 3))))
                    (local.set $s (i32.add (local.get $x) (i32.shl (local.get $s) (i32.const 3))))
                    (block $done64
                      (loop $copy64
                        (br_if $done64 (i32.ge_u (local.get $s) (local.get $end)))
                        (f64.store (local.get $d) (f64.load (local.get $s)))
                        (local.set $s (i32.add (local.get $s) (local.get $step)))
                        (local.set $d (i32.add (local.get $d) (i32.const 8)))
                        (br $copy64)))))
                (local.set $iw0 (i32.add (local.get $iw0) (i32.const 1)))
                (br $forPhase)))
            (local.set $ih (i32.add (local.get $ih) (i32.const 1)))
            (br $forH)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $forC))))

  ;; acc[i] += Σ_t w[t]·p[off[t] + i] for i < $length, in passes of eight taps, then one tap at a time.
  ;; $acc, $p: f64 arrays ($p already at the group's first channel); $off: i32 element offsets into $p,
  ;; $taps of them; $w: the $taps f64 weights.
  (func $accumulateTaps
    (param $acc i32) (param $length i32) (param $p i32) (param $off i32) (param $taps i32) (param $w i32)
    (local $t i32) (local $i i32) (local $end i32) (local $pairEnd i32) (local $a i32)
    (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32)
    (local $p4 i32) (local $p5 i32) (local $p6 i32) (local $p7 i32)
    (local $w0 v128) (local $w1 v128) (local $w2 v128) (local $w3 v128)
    (local $w4 v128) (local $w5 v128) (local $w6 v128) (local $w7 v128)
    (local.set $end (i32.shl (local.get $length) (i32.const 3)))
    (local.set $pairEnd (i32.and (local.get $end) (i32.const -16)))

    ;; Eight taps per pass.
    (block $doneOctets
      (loop $octets
        (br_if $doneOctets (i32.gt_u (i32.add (local.get $t) (i32.const 8)) (local.get $taps)))
        (local.set $w0 (v128.load64_splat offset=0 (local.get $w)))
        (local.set $w1 (v128.load64_splat offset=8 (local.get $w)))
        (local.set $w2 (v128.load64_splat offset=16 (local.get $w)))
        (local.set $w3 (v128.load64_splat offset=24 (local.get $w)))
        (local.set $w4 (v128.load64_splat offset=32 (local.get $w)))
        (local.set $w5 (v128.load64_splat offset=40 (local.get $w)))
        (local.set $w6 (v128.load64_splat offset=48 (local.get $w)))
        (local.set $w7 (v128.load64_splat offset=56 (local.get $w)))
        (local.set $p0 (i32.add (local.get $p) (i32.shl (i32.load offset=0 (local.get $off)) (i32.const 3))))
        (local.set $p1 (i32.add (local.get $p) (i32.shl (i32.load offset=4 (local.get $off)) (i32.const 3))))
        (local.set $p2 (i32.add (local.get $p) (i32.shl (i32.load offset=8 (local.get $off)) (i32.const 3))))
        (local.set $p3 (i32.add (local.get $p) (i32.shl (i32.load offset=12 (local.get $off)) (i32.const 3))))
        (local.set $p4 (i32.add (local.get $p) (i32.shl (i32.load offset=16 (local.get $off)) (i32.const 3))))
        (local.set $p5 (i32.add (local.get $p) (i32.shl (i32.load offset=20 (local.get $off)) (i32.const 3))))
        (local.set $p6 (i32.add (local.get $p) (i32.shl (i32.load offset=24 (local.get $off)) (i32.const 3))))
        (local.set $p7 (i32.add (local.get $p) (i32.shl (i32.load offset=28 (local.get $off)) (i32.const 3))))
        ;; Two outputs at a time: acc + ((((((w0·p0 + w1·p1) + w2·p2) + w3·p3) + w4·p4) + w5·p5) + w6·p6) + w7·p7.
        (local.set $i (i32.const 0))
        (block $donePairs
          (loop $pairs
            (br_if $donePairs (i32.ge_u (local.get $i) (local.get $pairEnd)))
            (local.set $a (i32.add (local.get $acc) (local.get $i)))
            (v128.store (local.get $a)
              (f64x2.add
                (v128.load (local.get $a))
                (f64x2.add
                  (f64x2.add
                    (f64x2.add
                      (f64x2.add
                        (f64x2.add
                          (f64x2.add
                            (f64x2.add
                              (f64x2.mul (local.get $w0) (v128.load (i32.add (local.get $p0) (local.get $i))))
                              (f64x2.mul (local.get $w1) (v128.load (i32.add (local.get $p1) (local.get $i)))))
                            (f64x2.mul (local.get $w2) (v128.load (i32.add (local.get $p2) (local.get $i)))))
                          (f64x2.mul (local.get $w3) (v128.load (i32.add (local.get $p3) (local.get $i)))))
                        (f64x2.mul (local.get $w4) (v128.load (i32.add (local.get $p4) (local.get $i)))))
                      (f64x2.mul (local.get $w5) (v128.load (i32.add (local.get $p5) (local.get $i)))))
                    (f64x2.mul (local.get $w6) (v128.load (i32.add (local.get $p6) (local.get $i)))))
                  (f64x2.mul (local.get $w7) (v128.load (i32.add (local.get $p7) (local.get $i)))))))
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (br $pairs)))
        ;; The odd last output, the same sum in scalars.
        (if (i32.lt_u (local.get $i) (local.get $end))
          (then
            (local.set $a (i32.add (local.get $acc) (local.get $i)))
            (f64.store (local.get $a)
              (f64.add
                (f64.load (local.get $a))
                (f64.add
                  (f64.add
                    (f64.add
                      (f64.add
                        (f64.add
                          (f64.add
                            (f64.add
                              (f64.mul (f64x2.extract_lane 0 (local.get $w0)) (f64.load (i32.add (local.get $p0) (local.get $i))))
                              (f64.mul (f64x2.extract_lane 0 (local.get $w1)) (f64.load (i32.add (local.get $p1) (local.get $i)))))
                            (f64.mul (f64x2.extract_lane 0 (local.get $w2)) (f64.load (i32.add (local.get $p2) (local.get $i)))))
                          (f64.mul (f64x2.extract_lane 0 (local.get $w3)) (f64.load (i32.add (local.get $p3) (local.get $i)))))
                        (f64.mul (f64x2.extract_lane 0 (local.get $w4)) (f64.load (i32.add (local.get $p4) (local.get $i)))))
                      (f64.mul (f64x2.extract_lane 0 (local.get $w5)) (f64.load (i32.add (local.get $p5) (local.get $i)))))
                    (f64.mul (f64x2.extract_lane 0 (local.get $w6)) (f64.load (i32.add (local.get $p6) (local.get $i)))))
                  (f64.mul (f64x2.extract_lane 0 (local.get $w7)) (f64.load (i32.add (local.get $p7) (local.get $i)))))))))
        (local.set $t (i32.add (local.get $t) (i32.const 8)))
        (local.set $w (i32.add (local.get $w) (i32.const 64)))
        (local.set $off (i32.add (local.get $off) (i32.const 32)))
        (br $octets)))

    ;; The remaining taps one at a time: acc + w0·p0.
    (block $doneTaps
      (loop $tapsLoop
        (br_if $doneTaps (i32.ge_u (local.get $t) (local.get $taps)))
        (local.set $w0 (v128.load64_splat (local.get $w)))
        (local.set $p0 (i32.add (local.get $p) (i32.shl (i32.load (local.get $off)) (i32.const 3))))
        (local.set $i (i32.const 0))
        (block $doneSingles
          (loop $singles
            (br_if $doneSingles (i32.ge_u (local.get $i) (local.get $pairEnd)))
            (local.set $a (i32.add (local.get $acc) (local.get $i)))
            (v128.store (local.get $a)
              (f64x2.add
                (v128.load (local.get $a))
                (f64x2.mul (local.get $w0) (v128.load (i32.add (local.get $p0) (local.get $i))))))
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (br $singles)))
        (if (i32.lt_u (local.get $i) (local.get $end))
          (then
            (local.set $a (i32.add (local.get $acc) (local.get $i)))
            (f64.store (local.get $a)
              (f64.add
                (f64.load (local.get $a))
                (f64.mul (f64x2.extract_lane 0 (local.get $w0)) (f64.load (i32.add (local.get $p0) (local.get $i))))))))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (local.set $w (i32.add (local.get $w) (i32.const 8)))
        (local.set $off (i32.add (local.get $off) (i32.const 4)))
        (br $tapsLoop))))

  ;; One image: for each output channel m < $outChannels, acc = bias[m] (0 without $hasBias), the taps of
  ;; m's weights (at $w + m·taps·8) over the padded channels of m's group (at $p + (m div $groupOut)·$groupStride)
  ;; added as above, then acc[oh·phaseW + ow] stored at $y + ((m·OH + oh)·OW + ow) as f32 ($f32, rounded to
  ;; nearest as a Float32Array store rounds) or f64.
  (func (export "convImage")
    (param $acc i32) (param $length i32) (param $p i32) (param $off i32) (param $taps i32) (param $w i32)
    (param $bias i32) (param $hasBias i32) (param $outChannels i32) (param $groupOut i32) (param $groupStride i32)
    (param $y i32) (param $OH i32) (param $OW i32) (param $phaseW i32) (param $f32 i32)
    (local $m i32) (local $init v128) (local $a i32) (local $end i32) (local $oh i32) (local $ow i32) (local $row i32)
    (local.set $end (i32.add (local.get $acc) (i32.shl (local.get $length) (i32.const 3))))
    (block $doneM
      (loop $forM
        (br_if $doneM (i32.ge_u (local.get $m) (local.get $outChannels)))
        ;; acc = bias (two at a time; the accumulator region is padded to 16 bytes).
        (local.set $init
          (if (result v128) (local.get $hasBias)
            (then (v128.load64_splat (i32.add (local.get $bias) (i32.shl (local.get $m) (i32.const 3)))))
            (else (v128.const i64x2 0 0))))
        (local.set $a (local.get $acc))
        (block $doneFill
          (loop $fill
            (br_if $doneFill (i32.ge_u (local.get $a) (local.get $end)))
            (v128.store (local.get $a) (local.get $init))
            (local.set $a (i32.add (local.get $a) (i32.const 16)))
            (br $fill)))
        (call $accumulateTaps
          (local.get $acc) (local.get $length)
          (i32.add (local.get $p) (i32.mul (i32.div_u (local.get $m) (local.get $groupOut)) (local.get $groupStride)))
          (local.get $off) (local.get $taps)
          (i32.add (local.get $w) (i32.shl (i32.mul (local.get $m) (local.get $taps)) (i32.const 3))))
        ;; The output plane: the first OW of every phaseW-wide row of acc.
        (local.set $oh (i32.const 0))
        (block $doneRows
          (loop $rows
            (br_if $doneRows (i32.ge_u (local.get $oh) (local.get $OH)))
            (local.set $row (i32.add (local.get $acc) (i32.shl (i32.mul (local.get $oh) (local.get $phaseW)) (i32.const 3))))
            (local.set $ow (i32.const 0))
            (if (local.get $f32)
              (then
                (block $doneF32
                  (loop $cols32
                    (br_if $doneF32 (i32.ge_u (local.get $ow) (local.get $OW)))
                    (f32.store (local.get $y) (f32.demote_f64 (f64.load (i32.add (local.get $row) (i32.shl (local.get $ow) (i32.const 3))))))
                    (local.set $y (i32.add (local.get $y) (i32.const 4)))
                    (local.set $ow (i32.add (local.get $ow) (i32.const 1)))
                    (br $cols32))))
              (else
                (block $doneF64
                  (loop $cols64
                    (br_if $doneF64 (i32.ge_u (local.get $ow) (local.get $OW)))
                    (f64.store (local.get $y) (f64.load (i32.add (local.get $row) (i32.shl (local.get $ow) (i32.const 3)))))
                    (local.set $y (i32.add (local.get $y) (i32.const 8)))
                    (local.set $ow (i32.add (local.get $ow) (i32.const 1)))
                    (br $cols64)))))
            (local.set $oh (i32.add (local.get $oh) (i32.const 1)))
            (br $rows)))
        (local.set $m (i32.add (local.get $m) (i32.const 1)))
        (br $forM)))))
