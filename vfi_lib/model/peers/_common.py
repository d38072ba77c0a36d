"""Shared pieces of the RIFE peer re-implementations: input checks, RIFE's ``--scale`` and padding
rules, resizing by a factor (as RIFE's blocks do), and reference <-> our state_dict key maps.

RIFE's blocks resize by a *factor* (``F.interpolate(x, scale_factor=1/s)``), not to a target size,
so a frame only round-trips through the coarse levels when H and W are multiples of what the
coarsest level needs. The peers' inference scripts therefore zero-pad the right and bottom edges
to ``max(m, int(m / scale))`` (m = 32 for RIFE-HDv3's ``inference_video.py``, m = 128 for
Practical-RIFE 4.2x's engine) and crop the result back. :func:`pad_bottom_right` and
:func:`multiple_for` reproduce that rule.
"""

from __future__ import annotations

import re
from typing import Sequence

import torch
import torch.nn.functional as F

# The --scale values RIFE's inference scripts accept (``assert args.scale in [...]``): powers of two,
# for which every level's resize factor is exact and the coarse grids tile the padded frame.
RIFE_SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)


def check_scale(scale: float, who: str) -> float:
    """RIFE's ``--scale`` as a float; anything outside :data:`RIFE_SCALES` raises ValueError."""
    s = float(scale)
    if s not in RIFE_SCALES:
        raise ValueError(
            f"{who}: scale must be one of {RIFE_SCALES} (RIFE's --scale: 0.5 for 4K, 0.25 for 8K; "
            f"the flow levels only tile the frame for these powers of two), got {scale}"
        )
    return s


def multiple_for(base: int, scale: float) -> int:
    """The padding multiple of RIFE's scripts at ``scale``: ``max(base, int(base / scale))``."""
    return max(int(base), int(base / float(scale)))


def check_pair(img0: torch.Tensor, img1: torch.Tensor, who: str) -> None:
    """Both inputs float (B, 3, H, W) of the same shape, else TypeError / ValueError naming the problem."""
    for name, x in (("img0", img0), ("img1", img1)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{who}: {name} must be a torch.Tensor (B, 3, H, W), got {type(x).__name__}")
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"{who}: {name} must be (B, 3, H, W) RGB in [0, 1], got shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"{who}: {name} has dtype {x.dtype}; expected float in [0, 1] (uint8: x.float() / 255)")
    if img0.shape != img1.shape:
        raise ValueError(f"{who}: img0 {tuple(img0.shape)} and img1 {tuple(img1.shape)} must have the same shape")


def pad_bottom_right(x: torch.Tensor, multiple: int, mode: str = "constant") -> torch.Tensor:
    """Pad (B, C, H, W) on the right and bottom to H, W multiples of ``multiple`` (zeros by default,
    as RIFE's ``F.pad(img, (0, pw - w, 0, ph - h))``)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def padded_pair(img0: torch.Tensor, img1: torch.Tensor, min_multiple: int, pad_to: int | None, scale: float,
                who: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The peers' ``flows`` input step: :func:`check_pair`, then both frames zero-padded right/bottom to
    ``pad_to`` (default ``min_multiple``, what the architecture needs at ``scale``; a ``pad_to`` that is
    not a multiple of it raises ValueError)."""
    check_pair(img0, img1, who)
    m = min_multiple if pad_to is None else int(pad_to)
    if m % min_multiple:
        raise ValueError(f"{who}.flows: pad_to={m} must be a multiple of {min_multiple} at scale {scale}")
    return pad_bottom_right(img0, m), pad_bottom_right(img1, m)


AUX_KEYS = ("flow_t0", "flow_t1", "mask", "mask_logit", "warped0", "warped1")


def blend_frame(out: dict, return_aux: bool):
    """The peers' ``forward`` output from a ``flows`` dict: the frame ``mask * warped0 + (1 - mask) *
    warped1`` clamped to [0, 1], with the :data:`AUX_KEYS` entries when ``return_aux``."""
    mask = out["mask"]
    frame = (mask * out["warped0"] + (1 - mask) * out["warped1"]).clamp(0, 1)
    if not return_aux:
        return frame
    return frame, {k: out[k] for k in AUX_KEYS}


def resize_by(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Bilinear resize of (B, C, h, w) by ``factor`` (output floor(h * factor)), the coordinate map
    using ``factor`` itself (``recompute_scale_factor=False``), as RIFE's IFBlocks; identity at 1."""
    if factor == 1.0:
        return x
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False, recompute_scale_factor=False)


def rife_warp(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp (B, C, H, W) by pixel flow (B, 2, H, W): out(p) = img(p + flow(p)), bilinear,
    border padding, ``align_corners=True`` -- the convention of :func:`vfi_lib.model.warp.warp`,
    with the sampling grid computed as RIFE computes it (a ``linspace(-1, 1, n)`` base grid in the
    coordinate dtype plus ``flow / ((n - 1) / 2)``), so that the peers reproduce the reference
    IFNets bit for bit. It differs from our ``warp`` (float64-built grid) by float rounding only
    (~1e-7 in normalised coordinates), which the 4.2x net amplifies to ~1e-4 at ``scale=0.5``.
    Coordinates are at least float32 (under autocast too); the output has ``img``'s dtype.
    """
    b, _, h, w = flow.shape
    cdtype = torch.promote_types(flow.dtype, torch.float32)
    f = flow.to(cdtype)
    gx = torch.linspace(-1.0, 1.0, w, device=flow.device, dtype=cdtype).view(1, 1, w).expand(b, h, w)
    gy = torch.linspace(-1.0, 1.0, h, device=flow.device, dtype=cdtype).view(1, h, 1).expand(b, h, w)
    grid = torch.stack((gx + f[:, 0] / ((w - 1.0) / 2.0), gy + f[:, 1] / ((h - 1.0) / 2.0)), dim=-1)  # (B, H, W, 2)
    src = img if img.dtype == cdtype else img.to(cdtype)
    out = F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out if out.dtype == img.dtype else out.to(img.dtype)


def swap_pair(flow: torch.Tensor) -> torch.Tensor:
    """(F_a | F_b) stacked as (B, 4, H, W) -> (F_b | F_a)."""
    return torch.cat((flow[:, 2:4], flow[:, 0:2]), 1)


def time_tensor(t: float | torch.Tensor, b: int, like: torch.Tensor) -> torch.Tensor:
    """Timestep as a (B,) tensor on ``like``'s device and dtype; accepts a float, 0-d, (B,) or
    (B, 1, 1, 1) tensor (a single value is broadcast to the batch)."""
    tt = torch.as_tensor(t, dtype=like.dtype, device=like.device).reshape(-1)
    if tt.numel() == 1:
        return tt.expand(b)
    if tt.numel() != b:
        raise ValueError(f"t must be a float or hold one value per sample ({b}), got {tt.numel()} values")
    return tt


class KeyMap:
    """Bidirectional renaming between a reference checkpoint's keys and our parameter names.

    ``rules``: (reference template, our template) pairs such as
    ``("block{i}.conv0.{j}.0.{p}", "blocks.{i}.down.{j}.conv.{p}")``, tried in order; a ``{name}``
    placeholder stands for one dotted component. ``dropped``: prefixes of reference keys that hold
    training-only modules (teacher blocks, ...), skipped when loading.
    """

    _FIELD = re.compile(r"\{(\w+)\}")

    def __init__(self, rules: Sequence[tuple[str, str]], dropped: Sequence[str] = ()) -> None:
        self.dropped = tuple(dropped)
        self._fwd = [(self._regex(ref), ours) for ref, ours in rules]
        self._bwd = [(self._regex(ours), ref) for ref, ours in rules]

    @classmethod
    def _regex(cls, template: str) -> re.Pattern:
        parts, pos = [], 0
        for m in cls._FIELD.finditer(template):
            parts += [re.escape(template[pos : m.start()]), f"(?P<{m.group(1)}>[^.]+)"]
            pos = m.end()
        parts.append(re.escape(template[pos:]))
        return re.compile("^" + "".join(parts) + "$")

    def is_dropped(self, ref_key: str) -> bool:
        return ref_key.startswith(self.dropped)

    def to_ours(self, ref_key: str) -> str | None:
        """Our name of a reference key; None when no rule matches."""
        for rx, tpl in self._fwd:
            m = rx.match(ref_key)
            if m:
                return tpl.format(**m.groupdict())
        return None

    def to_reference(self, our_key: str) -> str:
        """The reference name of one of our keys (KeyError when no rule produces it)."""
        for rx, tpl in self._bwd:
            m = rx.match(our_key)
            if m:
                return tpl.format(**m.groupdict())
        raise KeyError(f"no reference name for parameter {our_key!r}")
