# Sourced by the GPU scripts: puts mamba_ssm's sources (pure Python + Triton, no CUDA build) on
# PYTHONPATH when the sdist .whl/mamba_ssm-*.tar.gz is present (see tests/gpu/README.md).
tarball=$(ls .whl/mamba_ssm-*.tar.gz 2>/dev/null | head -n1 || true)
if [ -n "$tarball" ]; then
  mkdir -p /tmp/mamba_src && tar xzf "$tarball" -C /tmp/mamba_src
  PYTHONPATH="$(ls -d /tmp/mamba_src/mamba_ssm-*/ | head -n1):${PYTHONPATH:-}"
  export PYTHONPATH="${PYTHONPATH%:}"
fi
