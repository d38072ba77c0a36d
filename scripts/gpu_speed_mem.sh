#!/usr/bin/env bash
# Issue 17 on one GPU: peak memory of eager inference with the torch SSD (before/after the SSD slicing),
# and TimeTest of our Phase 1/2 beside the RIFE peers' architectures in the same call.
#   OUT=/tmp/o bash scripts/gpu_speed_mem.sh        (needs .whl/peers/*/flownet.pkl: scripts/fetch_peers.sh)
set -uo pipefail
: "${OUT:?set OUT}"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
R="$OUT/tt"; mkdir -p "$R"
PART=${PART:-all}   # mem | tt | lat | latc | chunk | all  (latc: CHUNK, V42, REGIONAL, VARIANT, EAGER; see there)
tt() { timeout "${TT_TIMEOUT:-200}" python3 -m vfi_lib.speed.timetest --device cuda --runs 30 --warmup 5 --json "$R/$1.json" "${@:2}" 2>&1 | tail -n 1; }
mem() { timeout 120 python3 scripts/mem_check.py --device cuda "$@" 2>&1 | tail -n 2; }
if [ "$PART" = latc ]; then {  # compiled latency at the SSD chunk length CHUNK (default 64) beside the compiled peer
  # (V42=PATH: other Practical-RIFE 4.2x weights; V42=random: random ones in its format, made here: latency does not
  # depend on the weights, and the released 24.6 MB file may not fit the carry limit beside a checkpoint)
  if [ "${V42:-}" = random ]; then V42=/tmp/rand_v42.pkl; python3 -c "import torch
from vfi_lib.model.peers import build_peer, to_reference_state_dict
torch.save(to_reference_state_dict(build_peer('rife-4.2x')), '$V42')"; fi
  T=${CHUNK:-64}; P2="--phase 2 --resolution 1080p --dtype bf16 --scale 0.5 --ssm_backend torch --chunk_size $T"
  echo "== TimeTest (median of 30, batch 1): compiled Practical-RIFE 4.2x fp16 vs compiled Phase 2 bf16 torch SSD, chunk $T"
  tt v42_1080p_fp16_c --peer rife-4.2x --weights "${V42:-.whl/peers/rife-4.2x/flownet.pkl}" --resolution 1080p --dtype fp16 --compile
  tt p2_1080p_bf16_c_T$T $P2 --compile --profile "$OUT/profile_p2_1080p_compiled_T$T.txt"
  # EAGER=0 skips the eager timings (each compile takes ~3 min: a default + VARIANT A/B fits one call only so)
  [ "${EAGER:-1}" = 1 ] && tt p2_1080p_bf16_eager_T$T $P2 --conv1d shift --runs 10 --warmup 3 --breakdown "$OUT/breakdown_p2_1080p_T${T}_d6.txt" --breakdown_depth 6
  [ -n "${REGIONAL:-}" ] && tt p2_1080p_bf16_cr_T$T $P2 --compile regional
  # VARIANT="model.KEY=VALUE ...": the same preset with these model fields overridden (untrained), compiled and eager,
  # e.g. VARIANT="model.enc_channels=[16,32,48]" (the LGS stages at 1/8 and 1/16 instead of 1/4 and 1/8) or
  # VARIANT="model.ssd_half_matmuls=true" (every SSD chunk matmul on bf16 operands)
  if [ -n "${VARIANT:-}" ]; then SETS=(); for kv in $VARIANT; do SETS+=(--set "$kv"); done
    tt p2v_1080p_bf16_c_T$T $P2 "${SETS[@]}" --compile
    [ "${EAGER:-1}" = 1 ] && tt p2v_1080p_bf16_eager_T$T $P2 "${SETS[@]}" --conv1d shift --runs 10 --warmup 3 --breakdown "$OUT/breakdown_p2v_1080p_T${T}_d3.txt" --breakdown_depth 3
  fi
} > "$OUT/latency.log" 2>&1; cat "$OUT/latency.log"; tar czf "$OUT/timetest_json.tgz" -C "$R" .; exit 0; fi
if [ "$PART" = chunk ]; then {  # the SSD chunk length (exact for any value): inference 1080p / 4K and training throughput
  echo "== TimeTest, Phase 2 eager bf16 torch SSD (shift causal conv), by SSD chunk length"
  for T in 256 128 64 32; do
    B=(); case $T in 256|64) B=(--breakdown "$OUT/breakdown_p2_1080p_T$T.txt" --breakdown_depth 3);; esac
    tt p2_1080p_T$T --phase 2 --resolution 1080p --dtype bf16 --scale 0.5 --ssm_backend torch --conv1d shift --chunk_size $T "${B[@]}"
  done
  for T in 256 64; do
    tt p2_4k_T$T --phase 2 --resolution 4k --dtype bf16 --scale 0.25 --ssm_backend torch --conv1d shift --chunk_size $T --runs 5 --warmup 2
  done
  echo "== training throughput, Phase 2 eager bf16, b16 256x256 synthetic, ${TRAIN_STEPS:=100} steps, by SSD chunk length"
  for T in 256 64; do
    timeout 200 python3 -m vfi_lib.train --phase 2 --dataset synthetic --batch_size 16 --crop_size 256 --max_steps "$TRAIN_STEPS" \
      --log_interval 20 --eval_interval 1000 --val_limit 4 --num_workers 10 --ssm_backend torch --seed 0 \
      --set model.chunk_size=$T --ckpt_dir /tmp/vfi_chunk/ckpt --log_dir /tmp/vfi_chunk/log --exp_name T$T > "$OUT/train_T$T.log" 2>&1
    python3 - /tmp/vfi_chunk/log/T$T "$T" <<'PY'
import sys
from vfi_lib.train.runlog import load_run
r = load_run(sys.argv[1]); s, sps = r.series("samples_per_s"); _, mem = r.series("peak_mem_gb")
print(f"chunk {sys.argv[2]}: samples/s by log interval {[round(v, 1) for v in sps]}, after the first: "
      f"{sum(sps[1:]) / max(len(sps) - 1, 1):.1f}, peak {max(mem) if mem else float('nan'):.1f} GB")
PY
  done
} > "$OUT/chunk.log" 2>&1; cat "$OUT/chunk.log"; tar czf "$OUT/timetest_json.tgz" -C "$R" .; exit 0; fi
if [ "$PART" != tt ]; then {
  echo "== peak memory, eager, torch SSD, Phase 2 bf16"
  mem --phase 2 --resolution 1080p --dtype bf16
  mem --phase 2 --resolution 4k --dtype bf16
  mem --phase 2 --resolution 1080p --dtype bf16 --ssd_slice_mib 1000000   # unsliced SSD (the old behaviour)
  mem --phase 1 --resolution 4k --dtype bf16
} > "$OUT/memory.log" 2>&1
cat "$OUT/memory.log"; fi
[ "$PART" = mem ] && exit 0
if [ "$PART" = lat ]; then {  # the latency levers: eager causal-conv form, then compiled ours vs compiled peer
  echo "== TimeTest (median of 30, batch 1): Phase 2 bf16 torch SSD, conv1d form; compiled Phase 2 vs compiled RIFE 4.2x"
  tt p2_1080p_bf16_conv --phase 2 --resolution 1080p --dtype bf16 --scale 0.5 --ssm_backend torch --conv1d conv
  tt p2_1080p_bf16_shift --phase 2 --resolution 1080p --dtype bf16 --scale 0.5 --ssm_backend torch --conv1d shift \
    --profile "$OUT/profile_p2_1080p_eager_shift.txt" --breakdown "$OUT/breakdown_p2_1080p_eager_shift.txt" --breakdown_depth 3
  tt p2_4k_bf16_shift --phase 2 --resolution 4k --dtype bf16 --scale 0.25 --ssm_backend torch --conv1d shift
  tt v42_1080p_fp16_c --peer rife-4.2x --weights .whl/peers/rife-4.2x/flownet.pkl --resolution 1080p --dtype fp16 --compile
  tt p2_1080p_bf16_c --phase 2 --resolution 1080p --dtype bf16 --scale 0.5 --ssm_backend torch --compile \
    --profile "$OUT/profile_p2_1080p_compiled.txt"
  tt p2_1080p_bf16_cr --phase 2 --resolution 1080p --dtype bf16 --scale 0.5 --ssm_backend torch --compile regional
  echo "== peak memory, eager, torch SSD, Phase 2 bf16 4K (cost volumes on)"; mem --phase 2 --resolution 4k --dtype bf16
  if [ -n "${LAT_4K_COMPILED:-}" ]; then  # two more compiles (~4 min)
    tt v42_4k_fp16_c --peer rife-4.2x --weights .whl/peers/rife-4.2x/flownet.pkl --resolution 4k --dtype fp16 --compile
    tt p2_4k_bf16_c --phase 2 --resolution 4k --dtype bf16 --scale 0.25 --ssm_backend torch --compile
  fi
} > "$OUT/latency.log" 2>&1; cat "$OUT/latency.log"; tar czf "$OUT/timetest_json.tgz" -C "$R" .; exit 0; fi
H=.whl/peers/rife-hdv3/flownet.pkl; V=.whl/peers/rife-4.2x/flownet.pkl
{
  echo "== TimeTest (median of 30, batch 1), same process family, one GPU"
  tt v42_1080p_fp32 --peer rife-4.2x --weights $V --resolution 1080p
  tt v42_1080p_fp16_c --peer rife-4.2x --weights $V --resolution 1080p --dtype fp16 --compile
  tt v42_4k_fp32 --peer rife-4.2x --weights $V --resolution 4k
  tt hdv3_1080p_fp32 --peer rife-hdv3 --weights $H --resolution 1080p
  tt p2_1080p_bf16 --phase 2 --resolution 1080p --dtype bf16 --scale 0.5 --ssm_backend torch --profile "$OUT/profile_p2_1080p_eager.txt"
  tt p2_4k_bf16 --phase 2 --resolution 4k --dtype bf16 --scale 0.25 --ssm_backend torch
  tt p2_1080p_bf16_c --phase 2 --resolution 1080p --dtype bf16 --scale 0.5 --compile --profile "$OUT/profile_p2_1080p_compiled.txt"
  tt p1_1080p_bf16_c --phase 1 --resolution 1080p --dtype bf16 --compile
} > "$OUT/timetest.log" 2>&1
cat "$OUT/timetest.log"
tar czf "$OUT/timetest_json.tgz" -C "$R" .
