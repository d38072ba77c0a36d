"""vfi_lib.eval: metrics with the peers' definitions, benchmark protocols and runner, baselines,
TimeTest and the checkpoint registry. ``python -m vfi_lib.eval --help`` runs a benchmark."""

from vfi_lib.eval.metrics import interpolation_error, psnr, ssim_matlab

__all__ = ["psnr", "ssim_matlab", "interpolation_error", "run_benchmark"]


def __getattr__(name: str):  # lazy: keep `import vfi_lib.eval` light (no cv2/tqdm/data imports)
    if name == "run_benchmark":
        from vfi_lib.eval.benchmarks import run_benchmark

        return run_benchmark
    raise AttributeError(f"module 'vfi_lib.eval' has no attribute {name!r}")
