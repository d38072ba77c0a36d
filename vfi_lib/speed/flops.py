"""Multiply-accumulate (MAC) accounting per module: what a forward pass costs, and where.

:class:`MacCounter` is a ``TorchDispatchMode`` over the aten ops of a forward pass. Each matrix
product or convolution is charged to the **innermost** module running at the time (tracked with
forward pre/post hooks on every submodule of ``root``), so the counts per module are exclusive and
add up to the total without double counting; :meth:`MacCount.inclusive` sums a subtree. This also
handles a module that calls a sibling inside its own forward (an mHC connection calling its block's
``ss2d``): the sibling's ops are charged to the sibling.

Counted ops and their MACs (one multiply-add = 1 MAC = 2 FLOPs; bias adds, element-wise ops,
softmax, norms, exp and ``grid_sample`` are not counted):

- ``mm``/``addmm`` (n, k) x (k, m): n k m; ``bmm``/``baddbmm`` (b, n, k) x (b, k, m): b n k m.
  ``F.linear`` lowers to these (its ops are labelled kind ``linear``), as do ``einsum`` and ``@``
  (kind ``matmul``), and so do the SSD's chunked einsums, including the quadratic intra-chunk form:
  they are charged to the module that runs the SSD (``...ss2d``).
- ``convolution`` (kind ``conv``): out_numel * C_in/groups * prod(kernel); transposed convolutions
  in_numel * C_out/groups * prod(kernel).
- ``F.scaled_dot_product_attention`` (kind ``sdpa``): q (..., L, E), k (..., S, E), v (..., S, Ev):
  prod(batch dims) * L * S * (E + Ev), whether the call lowers to two ``bmm`` (the math path, as
  under a dispatch mode on CPU/meta) or to a fused kernel (flash / efficient / cuDNN).

Runs on any device, including ``meta`` (no memory, no compute): :func:`model_cost` builds a model
from a config on the meta device and counts one forward at S x S, in a second at full size.

    count = count_macs(model, img0, img1, 0.5)       # under no_grad
    count.total, count.flops, count.by_kind(), count.inclusive("backbone")
    component_macs(count)                            # {"SS2D-Mamba2": ..., "window attention": ..., ...}
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["COMPONENT_RULES", "MacCount", "MacCounter", "component_macs", "count_macs", "model_cost", "ModelCost"]

_aten = torch.ops.aten
KINDS = ("conv", "linear", "matmul", "sdpa")

# module-path segment -> component label, first match wins (notebook 05's breakdown)
COMPONENT_RULES: tuple[tuple[str, str], ...] = (
    ("mhc_mixer", "mHC"), ("mhc_ecab", "mHC"), ("ss2d", "SS2D-Mamba2"), ("attn", "window attention"),
    ("fusion", "fusion"), ("ecab", "ECAB"), ("flow", "flow (IFNet)"), ("refine", "refine U-Net"),
    ("synthesis", "synthesis head"), ("encoder", "encoder"),
)


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(x.shape)


def _mm(a, b, *_, **__) -> int:
    (n, k), m = _shape(a), _shape(b)[-1]
    return n * k * m


def _addmm(_bias, a, b, *_, **__) -> int:
    return _mm(a, b)


def _bmm(a, b, *_, **__) -> int:
    (bs, n, k), m = _shape(a), _shape(b)[-1]
    return bs * n * k * m


def _baddbmm(_bias, a, b, *_, **__) -> int:
    return _bmm(a, b)


def _conv(x, w, _bias, stride, padding, dilation, transposed, *_, out=None, **__) -> int:
    ws = _shape(w)  # (C_out, C_in/g, *k) or, transposed, (C_in, C_out/g, *k)
    per = math.prod(ws[1:])  # C_in/g * prod(k)  |  transposed: C_out/g * prod(k)
    if transposed:
        return math.prod(_shape(x)) * per
    return math.prod(_shape(out)) * per


def _sdpa_qkv(q, k, v, *_, **__) -> int:
    *batch, L, E = _shape(q)
    S, Ev = _shape(k)[-2], _shape(v)[-1]
    return math.prod(batch) * L * S * (E + Ev)


_OPS: dict[Any, Callable[..., int]] = {
    _aten.mm.default: _mm,
    _aten.addmm.default: _addmm,
    _aten.bmm.default: _bmm,
    _aten.baddbmm.default: _baddbmm,
    _aten.convolution.default: _conv,
}
_SDPA_OPS = tuple(
    getattr(_aten, name).default
    for name in ("_scaled_dot_product_flash_attention", "_scaled_dot_product_efficient_attention",
                 "_scaled_dot_product_cudnn_attention", "_scaled_dot_product_flash_attention_for_cpu")
    if hasattr(_aten, name)
)


@dataclass
class MacCount:
    """MACs of one counted region: ``entries[(module path, kind)]`` (exclusive; path "" = outside any module)."""

    entries: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.entries.values())

    @property
    def flops(self) -> int:
        """2 x MACs (one multiply-add = 2 FLOPs, the convention of ``torch.utils.flop_counter``)."""
        return 2 * self.total

    def by_module(self) -> dict[str, int]:
        """Exclusive MACs per module path (ops charged to the innermost running module)."""
        out: dict[str, int] = defaultdict(int)
        for (path, _), v in self.entries.items():
            out[path] += v
        return dict(out)

    def by_kind(self) -> dict[str, int]:
        """MACs per op kind: ``conv``, ``linear``, ``matmul`` (einsum, @, the SSD), ``sdpa``."""
        out = dict.fromkeys(KINDS, 0)
        for (_, kind), v in self.entries.items():
            out[kind] += v
        return out

    def inclusive(self, path: str) -> int:
        """MACs of module ``path`` and all its submodules ("" = everything)."""
        return sum(v for (p, _), v in self.entries.items() if not path or p == path or p.startswith(path + "."))


class _KindMode(TorchFunctionMode):
    """Labels the aten ops of ``F.linear`` calls (kind ``linear``) and charges each
    ``F.scaled_dot_product_attention`` call by its formula (kind ``sdpa``, inner ops muted)."""

    def __init__(self, counter: "MacCounter") -> None:
        super().__init__()
        self.counter = counter

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        kind = "sdpa" if func is F.scaled_dot_product_attention else "linear" if func is F.linear else None
        if kind is None or self.counter._kind is not None:
            return func(*args, **kwargs)
        self.counter._kind = kind
        try:
            if kind == "sdpa":  # charged once here, by formula; its inner ops are not counted again
                q, k, v = (args[i] if len(args) > i else kwargs[n] for i, n in enumerate(("query", "key", "value")))
                self.counter._charge("sdpa", _sdpa_qkv(q, k, v))
                self.counter._muted += 1
            return func(*args, **kwargs)
        finally:
            if kind == "sdpa":
                self.counter._muted -= 1
            self.counter._kind = None


class MacCounter(TorchDispatchMode):
    """Context manager counting MACs of everything run inside it, per module of ``root`` (module doc).

    ``with MacCounter(model) as c: model(x)``, then ``c.count`` (:class:`MacCount`). Without ``root``
    every op is charged to the path "".
    """

    def __init__(self, root: nn.Module | None = None) -> None:
        super().__init__()
        self.root = root
        self.count = MacCount()
        self._stack: list[str] = []
        self._handles: list[Any] = []
        self._kind: str | None = None
        self._muted = 0
        self._kind_mode = _KindMode(self)

    def _charge(self, kind: str, macs: int) -> None:
        key = (self._stack[-1] if self._stack else "", kind)
        self.count.entries[key] = self.count.entries.get(key, 0) + int(macs)

    def _pre_hook(self, name: str):
        def hook(module, args) -> None:
            self._stack.append(name)

        return hook

    def _post_hook(self, module, args, output) -> None:  # must return None (else it replaces the output)
        self._stack.pop()

    def __enter__(self):
        if self.root is not None:
            for name, mod in self.root.named_modules():
                self._handles.append(mod.register_forward_pre_hook(self._pre_hook(name)))
                self._handles.append(mod.register_forward_hook(self._post_hook, always_call=True))
        self._kind_mode.__enter__()
        return super().__enter__()

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            self._kind_mode.__exit__(*exc)
            for h in self._handles:
                h.remove()
            self._handles.clear()
            self._stack.clear()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self._muted:
            return out
        if func in _OPS:
            kind = "conv" if func is _aten.convolution.default else (self._kind if self._kind == "linear" else "matmul")
            if func is _aten.convolution.default:
                macs = _conv(*args, out=out, **kwargs)
            else:
                macs = _OPS[func](*args, **kwargs)
            self._charge(kind, macs)
        elif func in _SDPA_OPS:  # a fused SDPA reached without going through F.scaled_dot_product_attention
            self._charge("sdpa", _sdpa_qkv(*args[:3]))
        return out


def count_macs(model: nn.Module, *args: Any, **kwargs: Any) -> MacCount:
    """MACs of one ``model(*args, **kwargs)`` call under ``torch.no_grad`` (module doc)."""
    with MacCounter(model) as counter, torch.no_grad():
        model(*args, **kwargs)
    return counter.count


def component_macs(count: MacCount, rules: Sequence[tuple[str, str]] = COMPONENT_RULES) -> dict[str, int]:
    """Exclusive MACs per component: a module path belongs to the label of the first rule whose
    segment occurs in it (``COMPONENT_RULES``: SS2D-Mamba2, window attention, fusion, ECAB, mHC, flow,
    refine, synthesis, encoder), else to ``other``. The values sum to ``count.total``."""
    labels = list(dict.fromkeys(lab for _, lab in rules)) + ["other"]
    out = dict.fromkeys(labels, 0)
    for path, v in count.by_module().items():
        segs = path.split(".")
        out[next((lab for seg, lab in rules if seg in segs), "other")] += v
    return out


@dataclass
class ModelCost:
    """Parameters and MACs of one forward of a model built from a config."""

    params: int
    count: MacCount
    size: tuple[int, int]

    @property
    def macs(self) -> int:
        return self.count.total

    @property
    def flops(self) -> int:
        return self.count.flops


def model_cost(cfg, size: int | tuple[int, int] = 256, device: str | torch.device = "meta") -> ModelCost:
    """Build ``build_model(cfg)`` on ``device`` (default ``meta``: nothing allocated or computed) and count
    one forward of a (1, 3, H, W) frame pair at t = 0.5. ``size``: S or (H, W). The model runs in train
    mode, which skips the input value-range check (meta tensors have no values); the forward is the
    same computation. If some op of the forward has no meta implementation, the count is repeated on
    the CPU with random inputs (same shapes, so the same MACs) and a warning says so."""
    from vfi_lib.model import build_model, count_parameters

    h, w = (size, size) if isinstance(size, int) else size
    device = torch.device(device)
    with torch.device(device):
        net = build_model(cfg)
    net.train()
    x = torch.rand(1, 3, h, w, device=device) if device.type != "meta" else torch.empty(1, 3, h, w, device=device)
    try:
        count = count_macs(net, x, x, 0.5)
    except (RuntimeError, NotImplementedError) as e:
        if device.type != "meta":
            raise
        warnings.warn(f"model_cost: the forward does not run on the meta device ({type(e).__name__}: "
                      f"{str(e).splitlines()[0] if str(e) else ''}); counting on the CPU instead", stacklevel=2)
        return model_cost(cfg, (h, w), device="cpu")
    return ModelCost(params=count_parameters(net), count=count, size=(h, w))
