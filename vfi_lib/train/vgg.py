"""VGG-19 ``features`` (Simonyan & Zisserman 2015) with torchvision's layer indices.

Our own definition, so that no torchvision import or download is needed: ``VGG19Features().features``
is an ``nn.Sequential`` whose index ``N`` is the same layer as ``torchvision.models.vgg19().features[N]``
(conv3x3 + ReLU pairs, max-pool after each block). A torchvision-format state_dict (keys
``features.N.weight`` / ``features.N.bias``; ``classifier.*`` keys are ignored) therefore loads
directly: ``load_vgg19(path)``. ImageNet weights are never fetched: the user supplies the file
(``--vgg_weights``), e.g. torchvision's ``vgg19-dcbb9e9d.pth`` downloaded once by hand.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

# torchvision "E" configuration: channels of each conv, "M" = 2x2 max-pool.
VGG19_CFG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
    512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)  # fmt: skip
# Index of the ReLU after the first conv of each block (relu1_1 ... relu5_1) in ``features``.
RELU_X_1 = (1, 6, 11, 20, 29)


class VGGWeightsError(ValueError):
    """A VGG-19 weights file is missing, unreadable or not in torchvision's key format."""


class VGG19Features(nn.Module):
    """``features`` part of VGG-19; ``forward(x, layers)`` returns the activations after ``layers``.

    x: (B, 3, H, W), already ImageNet-normalised. Returns a list of (B, C_i, H/2^k, W/2^k).
    """

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for v in VGG19_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(c_in, int(v), kernel_size=3, padding=1), nn.ReLU(inplace=False)]
                c_in = int(v)
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, layers: tuple[int, ...] = RELU_X_1) -> list[torch.Tensor]:
        outs = []
        last = max(layers)
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in layers:
                outs.append(x)
            if i == last:
                break
        return outs


def load_vgg19(path: str | Path) -> VGG19Features:
    """Build :class:`VGG19Features` and load a torchvision-format state_dict from ``path``.

    Accepts a plain state_dict or one nested under ``"state_dict"``; a ``module.`` prefix (saved
    from DataParallel) is stripped. Raises :class:`VGGWeightsError` naming the file and the problem.
    """
    p = Path(path)
    if not p.is_file():
        raise VGGWeightsError(
            f"VGG-19 weights file {str(p)!r} does not exist; pass --vgg_weights with a torchvision "
            "vgg19 state_dict (.pth), or set --w_vgg 0"
        )
    try:
        sd = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, pickle with code objects, ...
        raise VGGWeightsError(f"VGG-19 weights file {str(p)!r} cannot be read: {type(e).__name__}: {e}") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise VGGWeightsError(f"VGG-19 weights file {str(p)!r} holds a {type(sd).__name__}, not a state_dict")
    sd = {k.removeprefix("module."): v for k, v in sd.items()}
    feats = {k: v for k, v in sd.items() if k.startswith("features.")}
    model = VGG19Features()
    expected = model.state_dict()
    missing = sorted(set(expected) - set(feats), key=_key_order)
    unexpected = sorted(set(feats) - set(expected))
    if missing or unexpected:
        raise VGGWeightsError(
            f"VGG-19 weights file {str(p)!r} is not a torchvision vgg19 state_dict: missing keys "
            f"{missing[:6]}{'...' if len(missing) > 6 else ''}, unexpected keys {unexpected[:6]}"
        )
    for k, v in feats.items():
        if tuple(v.shape) != tuple(expected[k].shape):
            raise VGGWeightsError(
                f"VGG-19 weights file {str(p)!r}: {k} has shape {tuple(v.shape)}, expected "
                f"{tuple(expected[k].shape)} (is it vgg19, not vgg16/vgg19_bn?)"
            )
    model.load_state_dict(feats)
    return model


def _key_order(k: str) -> tuple[int, str]:
    parts = k.split(".")
    return (int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1, k)
