#!/usr/bin/env bash
# One device call for the speed side (issues 4, 5, 10): on a 2-GPU machine runs, in parallel,
#   GPU 0: scripts/gpu_ssm_check.sh (mamba_ssm parity tests + SSD benchmark)
#   GPU 1: python -m vfi_lib.speed (SSD backends, LGS per ablation, Phase-1/2 train + 1080p/4K) + profiler
# (on one GPU they run one after the other). Results: $OUT/results.tgz plus the tables on stdout.
#   OUT=/tmp/o bash scripts/gpu_bench.sh        # repo root; mamba_ssm sdist in .whl/ (see tests/gpu/README.md)
set -uo pipefail
: "${OUT:?set OUT}"
R=/tmp/vfi_results; mkdir -p "$R"
trap 'tar czf "$OUT/results.tgz" -C "$R" .' EXIT
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# shellcheck source=scripts/mamba_path.sh
source scripts/mamba_path.sh
ngpu=$(python3 -c "import torch; print(torch.cuda.device_count())")
echo "GPUs: $ngpu"; nvidia-smi -L
ssm() { CUDA_VISIBLE_DEVICES=0 OUT="$R/ssm" BENCH_ARGS="${SSM_BENCH_ARGS:---dstates 64}" BENCH_TIMEOUT=360 \
          bash scripts/gpu_ssm_check.sh > "$R/ssm_check.log" 2>&1; echo "ssm_check rc=$?" >> "$R/ssm_check.log"; }
stack() { CUDA_VISIBLE_DEVICES=$1 timeout 480 python3 -m vfi_lib.speed --json "$R/gpu.json" \
          --profile "$R/profile.txt" > "$R/bench.log" 2>&1; echo "bench rc=$?" >> "$R/bench.log"; }
if [ "$ngpu" -ge 2 ]; then ssm & stack 1 & wait; else ssm; stack 0; fi
grep -E "passed|failed|error|rc=" "$R/ssm_check.log" | tail -15
grep -vE "^\s*$" "$R/ssm/ssm_bench.log" 2>/dev/null | tail -30
tail -45 "$R/bench.log"
