"""GPU tests: report the torch / triton / mamba_ssm setup in pytest's header (skipping is done in
tests/conftest.py for CUDA and by fixtures in test_ssm_gpu.py for mamba_ssm)."""

import importlib.util


def pytest_report_header(config):
    import torch

    lines = [f"torch {torch.__version__}, cuda available: {torch.cuda.is_available()}"]
    if torch.cuda.is_available():
        lines.append(f"device: {torch.cuda.get_device_name(0)}")
    for name in ("triton", "mamba_ssm", "causal_conv1d", "selective_scan_cuda"):
        spec = importlib.util.find_spec(name)
        lines.append(f"{name}: {spec.origin if spec else 'not found'}")
    return lines
