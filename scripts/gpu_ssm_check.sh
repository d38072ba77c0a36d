#!/usr/bin/env bash
# GPU check of the SSM core: mamba_ssm parity tests + SSD benchmark (see tests/gpu/README.md).
#
#   OUT=/path/for/logs bash scripts/gpu_ssm_check.sh      # from the repo root, on a CUDA machine
#
# mamba_ssm is taken from .whl/ when it is not installed: an unpacked source dir .whl/mamba_ssm-*/
# or the sdist .whl/mamba_ssm-*.tar.gz (MAMBA_MODE=path: unpacked and put on PYTHONPATH, the default;
# MAMBA_MODE=pip: installed with the CUDA build skipped). Knobs: BENCH_ARGS (default "--dstates 64"),
# BENCH_TIMEOUT (s, default 420), SKIP_TESTS=1, SKIP_BENCH=1, PYTHON (default python3).
# Exit status: non-zero if a test failed or the benchmark failed.
set -uo pipefail
: "${OUT:?set OUT to the folder for logs and JSON}"
mkdir -p "$OUT"
PY=${PYTHON:-python3}
MAMBA_MODE=${MAMBA_MODE:-path}
BENCH_ARGS=${BENCH_ARGS:---dstates 64}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-420}
export PYTHONUNBUFFERED=1
status=0

has_mamba() { "$PY" -c "import importlib.util as u, sys; sys.exit(u.find_spec('mamba_ssm') is None)"; }

# 1. make mamba_ssm importable (pure Python + Triton; no CUDA compilation)
if ! has_mamba; then
  src=$(ls -d .whl/mamba_ssm-*/ 2>/dev/null | head -n1 || true)
  tarball=$(ls .whl/mamba_ssm-*.tar.gz 2>/dev/null | head -n1 || true)
  if [ -z "$src" ] && [ -n "$tarball" ]; then
    if [ "$MAMBA_MODE" = pip ]; then
      MAMBA_SKIP_CUDA_BUILD=TRUE MAMBA_FORCE_BUILD=TRUE "$PY" -m pip install -q --no-index --no-build-isolation \
        --no-deps --target /tmp/mamba_site "$tarball" 2>&1 | tee "$OUT/pip_mamba.log"
      export PYTHONPATH="/tmp/mamba_site${PYTHONPATH:+:$PYTHONPATH}"
    else
      mkdir -p /tmp/mamba_src && tar xzf "$tarball" -C /tmp/mamba_src
      src=$(ls -d /tmp/mamba_src/mamba_ssm-*/ | head -n1)
    fi
  fi
  if [ -n "$src" ]; then export PYTHONPATH="${src%/}${PYTHONPATH:+:$PYTHONPATH}"; fi
fi

{
  echo "== $(date -u +%FT%TZ) $(hostname)"
  nvidia-smi -L || true
  echo "PYTHONPATH=${PYTHONPATH:-}"
  "$PY" - <<'EOF'
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    print("device", torch.cuda.get_device_name(0))
try:
    import triton
    print("triton", triton.__version__)
except ImportError as err:
    print("triton missing:", err)
from vfi_lib.ssm import backends
try:
    fn = backends.load_triton_ssd()
    import sys
    m = sys.modules["mamba_ssm"]
    print("mamba_ssm Triton SSD ok:", fn.__module__, "from", list(m.__path__),
          "(package __init__ bypassed)" if getattr(m, "__vfi_bare__", False) else "")
    print("auto backend on cuda ->", backends.resolve_backend("auto", "cuda"))
except backends.BackendError as err:
    print("mamba_ssm Triton SSD NOT available:", err)
EOF
} 2>&1 | tee "$OUT/env.txt"

# 2. tests: the GPU parity tests, then the CPU SSM tests on this machine as a sanity check
if [ "${SKIP_TESTS:-0}" != 1 ]; then
  "$PY" -m pytest tests/gpu -m gpu -v -rs -p no:cacheprovider 2>&1 | tee "$OUT/pytest_gpu.log" || status=1
  "$PY" -m pytest tests/test_ssd.py tests/test_mamba2.py -q -p no:cacheprovider 2>&1 \
    | tee "$OUT/pytest_cpu_ssm.log" || status=1
fi

# 3. benchmark (JSON is rewritten after every row, so a timeout keeps the rows measured so far)
if [ "${SKIP_BENCH:-0}" != 1 ]; then
  # shellcheck disable=SC2086  # BENCH_ARGS is a list of arguments
  timeout "$BENCH_TIMEOUT" "$PY" -m vfi_lib.speed.ssd --json "$OUT/ssm_bench.json" $BENCH_ARGS 2>&1 \
    | tee "$OUT/ssm_bench.log" || status=1
fi
exit "$status"
