"""LGS (Local-Global Synergistic) block and stage over two frames.

One block (thesis plan, "LGS Block"):
    x_n = LN(x)
    F(x) = Fusion( SS2D-Mamba2(x_n)  ||  GatedWindowAttention(x_n, gate from x_n) )   global || local
    x   <- x + F(x)                        (or the mHC update of the widened stream)
    x   <- x + ECAB(LN(x))                 (or the mHC update of the widened stream)
Fusion is a learned linear map of the concatenated branches (a 1x1 conv 2C -> C). ``backbone_mode``
``mamba2_only`` / ``gated_attn_only`` build only that branch (and no fusion). The attention windows
are shifted by w/2 in every other block. Both frames are processed jointly: the Mamba branch scans
them interleaved (VFIMamba) and the attention attends over the (2, w, w) window of both frames.

With ``cfg.use_mhc`` the stage keeps an n-copy residual stream (mHC): the stage copies x into n
streams at entry, each sub-layer (mixer F and ECAB) is wrapped in an :class:`MHCConnection`, and the
stage returns the mean of the copies. At init this equals the plain residual path (see mhc.py).

Internally tensors are channels-last (B, T, H, W, C) with T = 2 frames; the stage interface is the
project contract: ``LGSStage(dim, depth, num_heads, cfg)``, ``forward(f0, f1) -> (f0, f1)`` with each
(B, C, H, W). H, W need not be multiples of the window (attention pads), but the model pads anyway.
"""

from __future__ import annotations

import torch
from torch import nn

from vfi_lib.config import ModelConfig
from vfi_lib.modules.ecab import ECAB
from vfi_lib.modules.gated_window_attention import GatedWindowAttention
from vfi_lib.modules.mhc import MHCConnection, collapse_stream, expand_stream
from vfi_lib.modules.scan import SS2D

NUM_FRAMES = 2


class LGSBlock(nn.Module):
    """One LGS block. forward(x): (B, T, H, W, C) -> same, or the mHC stream (B, n, T, H, W, C)."""

    def __init__(self, dim: int, num_heads: int, cfg: ModelConfig, shift: bool = False, keep_attn: bool = False) -> None:
        super().__init__()
        mode = cfg.backbone_mode
        self.use_mamba = mode in ("hybrid", "mamba2_only")
        self.use_attn = mode in ("hybrid", "gated_attn_only")
        self.use_mhc = cfg.use_mhc
        self.norm1 = nn.LayerNorm(dim)
        self.ss2d = SS2D(dim, cfg) if self.use_mamba else None
        self.attn = (
            GatedWindowAttention(
                dim, num_heads, cfg.window_size, shift=cfg.window_size // 2 if shift else 0,
                num_frames=NUM_FRAMES, keep_attn=keep_attn,
            )
            if self.use_attn
            else None
        )
        self.fusion = nn.Linear(2 * dim, dim) if (self.use_mamba and self.use_attn) else None  # 1x1 conv 2C -> C
        self.norm2 = nn.LayerNorm(dim)
        self.ecab = ECAB(dim, cfg.ecab_ratio)
        if self.use_mhc:
            self.mhc_mixer = MHCConnection(dim, cfg.mhc_n, cfg.mhc_sinkhorn_iters)
            self.mhc_ecab = MHCConnection(dim, cfg.mhc_n, cfg.mhc_sinkhorn_iters)
        if cfg.matvlm_init and self.ss2d is None:  # the init itself runs in the trainer (train.init_from)
            raise ValueError(
                "vfi_lib/modules/lgs_block.py: model.matvlm_init initialises the Mamba2 branch from a trained "
                f"attention, so it needs backbone_mode 'hybrid' or 'mamba2_only', got {mode!r}"
            )

    def mixer(self, x: torch.Tensor) -> torch.Tensor:
        """F: LN -> (SS2D-Mamba2 || gated window attention) -> fusion. (B, T, H, W, C) -> same."""
        xn = self.norm1(x)
        outs = []
        if self.ss2d is not None:
            outs.append(self.ss2d(xn))
        if self.attn is not None:
            outs.append(self.attn(xn, gate_input=xn))
        return self.fusion(torch.cat(outs, dim=-1)) if self.fusion is not None else outs[0]

    def channel(self, x: torch.Tensor) -> torch.Tensor:
        """LN -> ECAB, per frame. (B, T, H, W, C) -> same."""
        b, t, h, w, c = x.shape
        y = self.norm2(x).reshape(b * t, h, w, c).permute(0, 3, 1, 2)  # (B*T, C, H, W), channels_last memory
        return self.ecab(y).permute(0, 2, 3, 1).reshape(b, t, h, w, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_mhc:
            x = self.mhc_mixer(x, self.mixer)
            return self.mhc_ecab(x, self.channel)
        x = x + self.mixer(x)
        return x + self.channel(x)


class LGSStage(nn.Module):
    """``depth`` LGS blocks over both frames (shifted windows in odd blocks).

    forward(f0, f1): each (B, C, H, W) -> (f0, f1), each (B, C, H, W).
    ``keep_attn`` (constructor or attribute) makes the attention branches store their last maps;
    :meth:`attention_maps` returns them.
    """

    def __init__(self, dim: int, depth: int, num_heads: int, cfg: ModelConfig, keep_attn: bool = False) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"vfi_lib/modules/lgs_block.py: depth must be >= 1, got {depth}")
        if dim % num_heads:
            raise ValueError(f"vfi_lib/modules/lgs_block.py: dim {dim} not divisible by num_heads {num_heads}")
        self.dim, self.cfg = dim, cfg
        self.blocks = nn.ModuleList(
            LGSBlock(dim, num_heads, cfg, shift=bool(i % 2), keep_attn=keep_attn) for i in range(depth)
        )

    @property
    def keep_attn(self) -> bool:
        return any(b.attn is not None and b.attn.keep_attn for b in self.blocks)

    @keep_attn.setter
    def keep_attn(self, value: bool) -> None:
        for b in self.blocks:
            if b.attn is not None:
                b.attn.keep_attn = bool(value)

    def attention_maps(self) -> list[dict[str, torch.Tensor | None]]:
        """Per block with attention: {'attn': (B*nW, heads, N, N), 'gate': (B, T, H, W, C), 'shift': int}.

        N = 2*w*w tokens of the joint window (frame 0 tokens first, each row-major in the window).
        Empty list in mamba2_only mode; entries are None until a forward ran with ``keep_attn``.
        """
        return [
            {"attn": b.attn.last_attn, "gate": b.attn.last_gate, "shift": b.attn.shift}
            for b in self.blocks
            if b.attn is not None
        ]

    def forward(self, f0: torch.Tensor, f1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if f0.dim() != 4 or f0.shape != f1.shape or f0.shape[1] != self.dim:
            raise ValueError(
                f"vfi_lib/modules/lgs_block.py: f0, f1 must both be (B, {self.dim}, H, W), got "
                f"{tuple(f0.shape)} and {tuple(f1.shape)}"
            )
        x = torch.stack([f0, f1], dim=1).permute(0, 1, 3, 4, 2)  # (B, 2, H, W, C)
        if self.cfg.use_mhc:
            x = expand_stream(x, self.cfg.mhc_n)  # (B, n, 2, H, W, C)
        for blk in self.blocks:
            x = blk(x)
        if self.cfg.use_mhc:
            x = collapse_stream(x)
        x = x.permute(0, 1, 4, 2, 3)  # (B, 2, C, H, W)
        return x[:, 0], x[:, 1]
