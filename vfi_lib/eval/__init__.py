"""vfi_lib.eval: metrics with the peers' definitions (:mod:`.metrics`), benchmark protocols
(:mod:`.protocols`), the benchmark runner (:mod:`.benchmarks`) and its CLI (``python -m
vfi_lib.eval --help``), and the thesis plan's SOTA reference and per-phase target tables
(:mod:`.sota`). Baselines and the model registry live in :mod:`vfi_lib.model`, checkpoint names in
:mod:`vfi_lib.checkpoint`, TimeTest in :mod:`vfi_lib.speed.timetest`."""

from vfi_lib.eval.metrics import interpolation_error, psnr, ssim_matlab

__all__ = ["psnr", "ssim_matlab", "interpolation_error", "run_benchmark"]


def __getattr__(name: str):  # lazy: keep `import vfi_lib.eval` light (no cv2/tqdm/data imports)
    if name == "run_benchmark":
        from vfi_lib.eval.benchmarks import run_benchmark

        return run_benchmark
    raise AttributeError(f"module 'vfi_lib.eval' has no attribute {name!r}")
