"""SSD backends: ``torch`` (our chunked scan, any device) and ``triton`` (mamba_ssm's fused kernels, CUDA).

``resolve_backend(name, device)`` turns "auto" | "torch" | "triton" into the backend to run:
``auto`` takes triton when the tensors are on CUDA and mamba_ssm's Triton SSD imports, else torch,
and logs its choice once (logger "vfi_lib"); asking for ``triton`` where it cannot run raises
:class:`BackendError` with the install line. ``ssd(...)`` is the functional entry point that
Mamba2 and the SS2D scan call. Under torch.compile the torch backend traces into one graph (no
breaks, "auto" included: its choice is made eagerly); the triton call is kept out of the graph
(``torch.compiler.disable``, one break per call), so compile with backend="torch" to compare them.

mamba_ssm is never imported at module import. :func:`import_mamba_ssm` loads it on demand and works
with a source-only install (``MAMBA_SKIP_CUDA_BUILD=TRUE``, or the unpacked sdist on PYTHONPATH):

* the package ``__init__`` imports the Mamba-1 CUDA extension ``selective_scan_cuda``; when that
  module does not exist we register an empty stub module under that name (only if it is missing;
  the Mamba-1 selective scan then cannot run, the Mamba2 Triton kernels are unaffected);
* the package ``__init__`` also imports the language-model head (transformers, huggingface_hub);
  if that import fails (missing or incompatible), we load the package without running its ``__init__`` (a bare package
  module whose ``__path__`` is the installed directory) and import the submodule from there.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
import types
from typing import Callable

import torch
from torch import Tensor

from .ssd import check_ssd_inputs, compute_dtype, ssd_chunked

__all__ = [
    "BACKENDS",
    "BackendError",
    "INSTALL_HINT",
    "import_mamba_ssm",
    "load_triton_ssd",
    "resolve_backend",
    "triton_available",
    "ssd",
]

log = logging.getLogger("vfi_lib")

BACKENDS = ("auto", "torch", "triton")

INSTALL_HINT = (
    "install mamba_ssm's Triton kernels without compiling CUDA: "
    "`MAMBA_SKIP_CUDA_BUILD=TRUE MAMBA_FORCE_BUILD=TRUE pip install --no-build-isolation --no-deps "
    "mamba-ssm==2.3.1` (needs torch, triton, einops on a CUDA machine; offline: see tests/gpu/README.md), "
    "or use backend='torch'"
)


class BackendError(RuntimeError):
    """A requested SSM backend cannot run here; the message says why and how to install it."""


_TRITON_FN: Callable | None = None
_TRITON_ERROR: str | None = None
_LOGGED: set[tuple[str, str]] = set()


def _ensure_selective_scan_stub() -> None:
    """Register an empty ``selective_scan_cuda`` module if the Mamba-1 CUDA extension is absent."""
    if "selective_scan_cuda" in sys.modules:
        return
    if importlib.util.find_spec("selective_scan_cuda") is None:
        stub = types.ModuleType("selective_scan_cuda")
        stub.__doc__ = "vfi_lib stub: mamba_ssm installed without its CUDA extension (Mamba-1 scan unavailable)"
        sys.modules["selective_scan_cuda"] = stub


def _drop_partial_mamba_ssm() -> None:
    for name in [m for m in sys.modules if m == "mamba_ssm" or m.startswith("mamba_ssm.")]:
        del sys.modules[name]


def import_mamba_ssm(submodule: str = "mamba_ssm.ops.triton.ssd_combined") -> types.ModuleType:
    """Import a mamba_ssm submodule, tolerating a source-only install (see the module docstring).

    Raises ImportError when mamba_ssm (or triton) is not installed. The stub and the bare package
    are documented in the module docstring and tests/gpu/README.md.
    """
    if not submodule.startswith("mamba_ssm"):
        raise ValueError(f"import_mamba_ssm: {submodule!r} is not a mamba_ssm module")
    _ensure_selective_scan_stub()
    try:
        return importlib.import_module(submodule)
    except Exception as first:  # ImportError, or an incompatible transformers raising something else
        if isinstance(sys.modules.get("mamba_ssm"), types.ModuleType) and getattr(
            sys.modules["mamba_ssm"], "__vfi_bare__", False
        ):
            raise  # already bare: the submodule itself cannot import
        _drop_partial_mamba_ssm()
        spec = importlib.util.find_spec("mamba_ssm")
        if spec is None or not spec.submodule_search_locations:
            raise
        # the package __init__ failed (typically transformers/huggingface_hub for the LM head):
        # load the package without it and import only what was asked for.
        pkg = importlib.util.module_from_spec(spec)
        pkg.__vfi_bare__ = True
        sys.modules["mamba_ssm"] = pkg
        try:
            module = importlib.import_module(submodule)
        except Exception as second:
            _drop_partial_mamba_ssm()
            raise ImportError(f"{first}; without the package __init__: {second}") from second
        log.debug("mamba_ssm imported without its package __init__ (%s)", first)
        return module


def load_triton_ssd() -> Callable:
    """Return ``mamba_chunk_scan_combined`` from mamba_ssm; BackendError with the install line if it fails."""
    global _TRITON_FN, _TRITON_ERROR
    if _TRITON_FN is not None:
        return _TRITON_FN
    if _TRITON_ERROR is None:
        try:
            _TRITON_FN = import_mamba_ssm("mamba_ssm.ops.triton.ssd_combined").mamba_chunk_scan_combined
            return _TRITON_FN
        except Exception as err:  # ImportError, or triton failing to initialise
            _TRITON_ERROR = f"{type(err).__name__}: {err}"
    raise BackendError(f"SSM backend 'triton': cannot import mamba_ssm's Triton SSD ({_TRITON_ERROR}); {INSTALL_HINT}")


def triton_available(device: torch.device | str | None = None) -> bool:
    """True when ``device`` is CUDA (default: any visible CUDA device) and mamba_ssm's Triton SSD imports."""
    dev = torch.device(device) if device is not None else None
    if dev is not None and dev.type != "cuda":
        return False
    if dev is None and not torch.cuda.is_available():
        return False
    try:
        load_triton_ssd()
    except BackendError:
        return False
    return True


def resolve_backend(name: str, device: torch.device | str | None) -> str:
    """Map "auto" | "torch" | "triton" to "torch" | "triton" for tensors on ``device``.

    Raises ValueError for an unknown name, BackendError when "triton" is asked for off CUDA or
    without mamba_ssm (the message has the pip line).
    """
    if name == "torch":
        return "torch"
    if name not in BACKENDS:
        raise ValueError(f"ssm backend: unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if name == "triton":
        if dev.type != "cuda":
            raise BackendError(
                f"SSM backend 'triton' needs CUDA tensors, got device {dev}; on this device use --ssm_backend "
                f"auto|torch (Python: ssm_backend='auto', or load_model(..., ssm_backend='auto')). To get the "
                f"kernels on a CUDA machine: {INSTALL_HINT}"
            )
        load_triton_ssd()
        return "triton"
    return _auto_choice(dev.type)


@torch._dynamo.assume_constant_result
def _auto_choice(device_type: str) -> str:
    """The "auto" choice for a device type, logged once. Run eagerly even under torch.compile
    (dynamo takes the result as a constant), so the import attempt and the log cause no graph break."""
    chosen = "triton" if device_type == "cuda" and triton_available("cuda") else "torch"
    key = (chosen, device_type)
    if key not in _LOGGED:
        _LOGGED.add(key)
        why = "" if chosen == "triton" else (
            f" (device {device_type})" if device_type != "cuda"
            else f" (mamba_ssm Triton SSD not importable: {_TRITON_ERROR})"
        )
        log.info("SSM backend 'auto' -> %s%s", chosen, why)
    return chosen


def ssd(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    chunk_size: int,
    D: Tensor | None = None,
    z: Tensor | None = None,
    dt_bias: Tensor | None = None,
    dt_softplus: bool = False,
    dt_limit: tuple[float, float] = (0.0, float("inf")),
    initial_state: Tensor | None = None,
    return_final_state: bool = False,
    backend: str = "torch",
    half_matmuls: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """SSD scan with the chosen backend: mamba_ssm's ``mamba_chunk_scan_combined`` semantics.

    x (b, l, h, p), dt (b, l, h), A (h,), B/C (b, l, g, n), D (h,) | (h, p), z (b, l, h, p) gate,
    dt_bias (h,), initial_state (b, h, p, n). dt is first made ``softplus(dt + dt_bias)`` when
    ``dt_softplus`` (in float32), then clamped to ``dt_limit``; the output is
    ``ssd_chunked(...) * silu(z)`` (gate applied after the D skip). Returns y (b, l, h, p) in
    x.dtype, plus the final state (b, h, p, n) if ``return_final_state``. ``half_matmuls``: the torch
    backend's ``ssd_chunked`` option (mamba_ssm's kernels always take half operands for half inputs).
    """
    which = resolve_backend(backend, x.device)
    if which == "triton":
        return _triton_ssd(x, dt, A, B, C, chunk_size, D, z, dt_bias, dt_softplus, dt_limit, initial_state,
                           return_final_state)
    check_ssd_inputs(x, dt, A, B, C, D, initial_state, z)
    if dt_bias is not None or dt_softplus or dt_limit != (0.0, float("inf")):
        dt = dt.to(compute_dtype(x.dtype))
        if dt_bias is not None:
            dt = dt + dt_bias.to(dt.dtype)
        if dt_softplus:
            dt = torch.nn.functional.softplus(dt)
        if dt_limit != (0.0, float("inf")):
            dt = dt.clamp(min=dt_limit[0], max=dt_limit[1])
    return ssd_chunked(x, dt, A, B, C, chunk_size, D=D, initial_state=initial_state,
                       return_final_state=return_final_state, z=z, half_matmuls=half_matmuls)


@torch.compiler.disable
def _triton_ssd(x, dt, A, B, C, chunk_size, D, z, dt_bias, dt_softplus, dt_limit, initial_state, return_final_state):
    """mamba_ssm's fused kernels, kept out of torch.compile graphs (one clean graph break per call)."""
    return load_triton_ssd()(
        x, dt, A, B, C, chunk_size, D=D, z=z, dt_bias=dt_bias, initial_states=initial_state,
        dt_softplus=dt_softplus, dt_limit=dt_limit, return_final_states=return_final_state,
    )
