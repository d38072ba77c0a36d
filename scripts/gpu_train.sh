#!/usr/bin/env bash
# Short real training on the device (issues 7, 10, 11), reproducible with:
#   OUT=/tmp/o BBB=.devdata/bbb bash scripts/gpu_train.sh
# BBB = all 132 Big Buck Bunny frames: python scripts/extract_sample.py --all-frames .devdata/bbb --size 640x360 --format jpg
# 1. Phase 1 (GPU 0) and Phase 2 (GPU 1) in parallel: synthetic-motion pre-training, then Big Buck Bunny
#    fine-tuning (--init_from), validated on the BBB hold-out (last 30 frames, never trained on);
#    then the hold-out benchmark for both checkpoints and the frame-average / DIS-flow baselines.
# 2. DDP: the same Phase-1 run on 2 GPUs (torchrun, NCCL) vs 1 GPU (throughput ratio, parameter
#    agreement), then the 2-GPU checkpoint resumed by 1 process.
set -uo pipefail
: "${OUT:?set OUT}"; BBB=${BBB:-.devdata/bbb}
MIN_A=${MIN_A:-1.25}; MIN_B=${MIN_B:-1.5}; DDP_STEPS=${DDP_STEPS:-300}
R=/tmp/vfi_train; rm -rf "$R"; mkdir -p "$R"
trap 'tar czf "$OUT/train_results.tgz" -C "$R" --exclude="*.pt" --exclude="events.out.*" .' EXIT
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" NCCL_NVLS_ENABLE=0
# shellcheck source=scripts/mamba_path.sh
source scripts/mamba_path.sh
COMMON="--ckpt_dir $R/ckpt --log_dir $R/log --num_workers 6 --batch_size 8 --crop_size 256 --lr 5e-4 --warmup_steps 100 --seed 0 ${EXTRA:-}"
phase() {  # $1 = phase, $2 = GPU
  local p=$1
  CUDA_VISIBLE_DEVICES=$2 python3 -m vfi_lib.train --phase "$p" --dataset synthetic --exp_name "p${p}_syn" \
    --max_minutes "$MIN_A" --max_steps 1200 --val_limit 32 --eval_interval 100 $COMMON > "$R/p${p}_syn.log" 2>&1
  CUDA_VISIBLE_DEVICES=$2 python3 -m vfi_lib.train --phase "$p" --dataset bbb --data_path "$BBB" --exp_name "p${p}_bbb" \
    --init_from "$R/ckpt/p${p}_syn/latest.pt" --max_minutes "$MIN_B" --max_steps 1500 --eval_interval 20 $COMMON \
    > "$R/p${p}_bbb.log" 2>&1
  for ck in "$R/ckpt/p${p}_syn/latest.pt" "$R/ckpt/p${p}_bbb/best.pt"; do
    CUDA_VISIBLE_DEVICES=$2 python3 -m vfi_lib.eval bbb --ckpt "$ck" --path "$BBB" --device cuda --out_dir "$R/bench" \
      --no_progress >> "$R/p${p}_eval.log" 2>&1
  done
}
work() {
phase 1 0 & phase 2 1 & wait
[ "${SKIP_BASELINES:-0}" = 1 ] || for b in average dis; do python3 -m vfi_lib.eval bbb --baseline $b --path "$BBB" --out_dir "$R/bench" --no_progress >> "$R/baselines.log" 2>&1; done
local DDP="--phase 1 --dataset synthetic --max_steps $DDP_STEPS --val_limit 16 --eval_interval 100 --log_interval 25 $COMMON"
python3 -m torch.distributed.run --standalone --nproc_per_node=2 -m vfi_lib.train $DDP --exp_name ddp2 > "$R/ddp2.log" 2>&1
cp "$R/log/ddp2/summary.json" "$R/log/ddp2/summary_2proc.json" 2>/dev/null
CUDA_VISIBLE_DEVICES=0 python3 -m vfi_lib.train $DDP --exp_name ddp1 > "$R/ddp1.log" 2>&1
CUDA_VISIBLE_DEVICES=0 python3 -m vfi_lib.train ${DDP/--max_steps $DDP_STEPS/--max_steps $((DDP_STEPS + 50))} --exp_name ddp2 \
  > "$R/ddp2_resume_1gpu.log" 2>&1
}
export -f phase work; export R BBB MIN_A MIN_B DDP_STEPS COMMON SKIP_BASELINES
timeout -k 10 "${BUDGET:-400}" bash -c work; echo "work rc=$? (124 = time budget ${BUDGET:-400}s reached)"
python3 - "$R" <<'PY'
import json, statistics, sys
from pathlib import Path
from vfi_lib.train.runlog import load_run
R = Path(sys.argv[1])
for exp in ("p1_syn", "p1_bbb", "p2_syn", "p2_bbb", "ddp1", "ddp2"):
    if not (R / "log" / exp / "metrics.jsonl").exists():
        continue
    run = load_run(R / "log" / exp)
    steps, loss = run.series("loss")
    sps = statistics.median(run.series("samples_per_s")[1][1:] or [0])
    peak = max(run.series("peak_mem_gb")[1] or [0])
    print(f"{exp:8s} steps {int(steps[-1]) if steps else 0:5d}  samples/s {sps:7.1f}  peak GB {peak:.2f}"
          f"  loss {loss[0] if loss else 0:.4f} -> {loss[-1] if loss else 0:.4f}  val PSNR {[round(v, 2) for v in run.series('val_psnr')[1]][-4:]}")
from vfi_lib.eval.benchmarks import latest_results
for d in latest_results(R / "bench"):
    print(f"holdout {d['model']:40s} PSNR {d['psnr']:.3f} SSIM {d['ssim']:.4f} n={d['n']}")
for name in ("summary_2proc.json", "summary.json"):
    p = R / "log" / "ddp2" / name
    if p.exists():
        d = json.loads(p.read_text()); print("ddp2", name, "world", d["world_size"], "step", d["step"], "resumed_from", d["resumed_from"], "checksums", d["param_checksums"])
PY
grep -h "resumed\|WARNING\|Error\|error" "$R"/ddp2_resume_1gpu.log "$R"/ddp2.log | head -8
grep -h "\[train\] exp\|done:" "$R"/*.log | head -20
