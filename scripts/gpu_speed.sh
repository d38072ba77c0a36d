#!/usr/bin/env bash
# One device call for the speed issues (4, 10); on a 2-GPU machine the two halves run in parallel:
#   GPU 0 (SSM): torch.compile diagnosis of the SSD dispatcher, the bf16 Mamba2 triton-vs-torch GPU test
#                (faulthandler dump if it stalls), the other GPU tests, and the SSD benchmark with a
#                chunk-length sweep for our torch scan (python -m vfi_lib.speed.ssd).
#   GPU 1 (models): python -m vfi_lib.speed --only models --compile (eager vs torch.compile vs CUDA graphs)
#                and the profiler summary of the compiled training step ("after").
#   OUT=/tmp/o bash scripts/gpu_speed.sh      # repo root; mamba_ssm sdist in .whl/ (tests/gpu/README.md)
# MODELS_SPLIT=1: only the model bench, phase 1 on GPU 1 and phase 2 on GPU 0.
# Knobs: SSM_BENCH_ARGS, MODEL_ARGS, SSM_TIMEOUT, MODEL_TIMEOUT, PROFILE_TIMEOUT, SKIP_SSM=1, SKIP_MODELS=1.
set -uo pipefail
: "${OUT:?set OUT}"
R=$OUT; mkdir -p "$R"
export PYTHONUNBUFFERED=1 TORCHINDUCTOR_COMPILE_THREADS=${TORCHINDUCTOR_COMPILE_THREADS:-12} PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# shellcheck source=scripts/mamba_path.sh
source scripts/mamba_path.sh
ngpu=$(python3 -c "import torch; print(torch.cuda.device_count())")
echo "GPUs: $ngpu"; nvidia-smi -L
SSM_BENCH_ARGS=${SSM_BENCH_ARGS:---lengths 4096 16384 --dstates 64 --torch_chunk_sizes 64 128 256 --tf32}
ssm() {
  export CUDA_VISIBLE_DEVICES=0
  [ "${SKIP_DIAG:-0}" = 1 ] || timeout 90 python3 scripts/gpu_compile_check.py > "$R/compile_check.log" 2>&1; echo "rc=$?" >> "$R/compile_check.log"
  timeout 125 python3 -m pytest tests/gpu -m gpu -v -rs -p no:cacheprovider -o faulthandler_timeout=95 \
    -k "triton_backend_matches_torch_backend and dtype1" > "$R/pytest_bf16.log" 2>&1; echo "rc=$?" >> "$R/pytest_bf16.log"
  if [ "${SSM_TESTS:-0}" = 1 ]; then
    timeout 240 python3 -m pytest tests/gpu -m gpu -v -rs -p no:cacheprovider \
      -k "not (triton_backend_matches_torch_backend and dtype1)" > "$R/pytest_gpu.log" 2>&1; echo "rc=$?" >> "$R/pytest_gpu.log"
  fi
  # shellcheck disable=SC2086
  timeout "${SSM_TIMEOUT:-330}" python3 -m vfi_lib.speed.ssd --json "$R/ssm_bench.json" $SSM_BENCH_ARGS \
    > "$R/ssm_bench.log" 2>&1; echo "rc=$?" >> "$R/ssm_bench.log"
}
models() {
  export CUDA_VISIBLE_DEVICES=$1
  # shellcheck disable=SC2086
  timeout "${MODEL_TIMEOUT:-400}" python3 -m vfi_lib.speed --only models --compile --json "$R/gpu_models.json" \
    ${MODEL_ARGS:-} > "$R/bench_models.log" 2>&1; echo "rc=$?" >> "$R/bench_models.log"
  timeout "${PROFILE_TIMEOUT:-140}" python3 -m vfi_lib.speed --only --compile --phase 1 \
    --profile "$R/profile_after.txt" --json "$R/profile_run.json" > "$R/profile.log" 2>&1; echo "rc=$?" >> "$R/profile.log"
}
if [ "${MODELS_SPLIT:-0}" = 1 ] && [ "$ngpu" -ge 2 ]; then  # phase 1 on GPU 1, phase 2 on GPU 0 (no SSM half)
  for g in 0 1; do
    ( export CUDA_VISIBLE_DEVICES=$g; p=$((2 - g))
      # shellcheck disable=SC2086
      timeout "${MODEL_TIMEOUT:-400}" python3 -m vfi_lib.speed --only models --compile --phase "$p" \
        --json "$R/gpu_models_p$p.json" ${MODEL_ARGS:-} > "$R/bench_models_p$p.log" 2>&1
      echo "rc=$?" >> "$R/bench_models_p$p.log" ) &
  done
  wait
elif [ "$ngpu" -ge 2 ]; then
  [ "${SKIP_SSM:-0}" = 1 ] || ssm &
  [ "${SKIP_MODELS:-0}" = 1 ] || models 1 &
  wait
else
  [ "${SKIP_SSM:-0}" = 1 ] || ssm
  [ "${SKIP_MODELS:-0}" = 1 ] || models 0
fi
for f in compile_check pytest_bf16 pytest_gpu ssm_bench bench_models bench_models_p1 bench_models_p2 profile; do
  [ -f "$R/$f.log" ] && { echo "===== $f"; tail -40 "$R/$f.log"; }
done
