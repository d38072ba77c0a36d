"""Practical-RIFE 4.2x's IFNet as the Phase-2/3 flow estimator (``model.flow_arch = "rife4"``).

The ``ifnet`` flow (:class:`vfi_lib.model.flow.IFNet`) is ours and learns from scratch. This adapter
puts the five-block 4.x IFNet of :class:`vfi_lib.model.peers.rife_v4.RIFEv4` (our re-implementation)
in its place, with the same call and outputs, so that a run can start from the released
``flownet.pkl`` (``train.init_flow_from``, :func:`load_rife_flow`) and fine-tune it under our LGS
backbone and refinement U-Net (RIFE's flow is trained for frame synthesis at time t, Huang et al.
ECCV 2022 Sec. 3; its fusion mask M = sigmoid(m) plays the role of our IFNet's mask). The LGS
features are not fed to these blocks (the released weights expect RIFE's 28 input channels); the
backbone still drives the pre-warped features and the refinement.

State-dict names: ``flow.net.<our RIFEv4 names>`` (a checkpoint reloads without the peer loader).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from vfi_lib.model.peers.rife_v4 import RIFEv4

__all__ = ["RIFEFlow", "load_rife_flow"]


class RIFEFlow(nn.Module):
    """``forward(img0, img1, t, feat0=None, feat1=None, scale=1.0, return_levels=False)`` as IFNet.

    img0, img1 (B, 3, H, W) in [0, 1] (any H, W: padded to ``net.min_multiple(scale)`` inside and
    cropped back); t (B,). Returns ``flow_t0``, ``flow_t1`` (B, 2, H, W) float32 pixels, ``mask``
    (B, 1, H, W) in (0, 1), ``mask_logit``; with ``return_levels`` also ``flow_levels`` (one
    (B, 4, H, W) estimate per block, coarse to fine). ``feat0``/``feat1`` are accepted and ignored.
    """

    def __init__(self) -> None:
        super().__init__()
        self.net = RIFEv4()

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, t: torch.Tensor, feat0=None, feat1=None,
                scale: float = 1.0, return_levels: bool = False) -> dict[str, torch.Tensor]:
        out = self.net.flows(img0, img1, t, scale=scale)
        res = {"flow_t0": out["flow_t0"], "flow_t1": out["flow_t1"], "mask": out["mask"].float(),
               "mask_logit": out["mask_logit"].float()}
        if return_levels:
            res["flow_levels"] = out["flow_levels"]
        return res


def load_rife_flow(model: nn.Module, weights: str | Path) -> str:
    """Load Practical-RIFE 4.2x's released ``flownet.pkl`` into ``model.flow`` (a :class:`RIFEFlow`).

    Raises ValueError when the model's flow is not ``rife4``, and the peer loader's
    :class:`~vfi_lib.model.peers.PeerWeightsError` (naming the file) when the file does not match.
    Returns a one-line log message.
    """
    from vfi_lib.model.peers import load_peer_weights

    flow = getattr(model, "flow", None)
    if not isinstance(flow, RIFEFlow):
        arch = getattr(getattr(model, "cfg", None), "model", None)
        raise ValueError(
            f"init_flow_from {weights}: the model's flow estimator is "
            f"{getattr(arch, 'flow_arch', type(flow).__name__)!r}; Practical-RIFE weights need model.flow_arch "
            "'rife4' (--set model.flow_arch=rife4)"
        )
    load_peer_weights(flow.net, weights)
    n = sum(p.numel() for p in flow.parameters())
    return f"[train] flow estimator initialised from Practical-RIFE 4.2x weights {weights} ({n / 1e6:.2f}M parameters)"
