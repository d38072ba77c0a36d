"""Training losses: Laplacian-pyramid L1, census (ternary), VGG-19 perceptual, flow smoothness.

All image arguments are (B, 3, H, W) float in [0, 1]; every loss returns a scalar (mean over the
batch), so that averaging micro-batch losses equals the loss of the joined batch.

- :class:`LapLoss` (Burt & Adelson 1983; used by RIFE / EMA-VFI): sum over pyramid bands of the L1
  distance, bands ``L_k = G_k - up(down(G_k))`` with a 5x5 binomial ("Gaussian") kernel
  ``[1 4 6 4 1]^T [1 4 6 4 1] / 256`` and reflect padding. RIFE/EMA-VFI use ``levels`` band-pass
  bands and drop the low-pass residual, so a global brightness offset costs nothing; by default we
  keep the residual as the last band (``include_lowpass=True``): ``levels=1`` is then plain L1, and
  ``levels=5`` is 4 band-pass bands + the 1/16-resolution residual. ``include_lowpass=False`` is
  RIFE's loss exactly.
- :class:`TernaryLoss` (census transform, Meister et al. 2018 "UnFlow", Sec. 3.2; as DDFlow, UFlow
  and RIFE's ``Ternary``): on the grey intensity ``I = 255 * (0.2989 R + 0.5870 G + 0.1140 B)``
  (0..255 units, as UnFlow's ``rgb_to_grayscale(image) * 255``), for each pixel p and each offset
  d of a 7x7 patch, ``c_d(p) = (I(p+d) - I(p)) / sqrt(0.81 + (I(p+d) - I(p))^2)``; the soft
  Hamming distance is ``mean_d  D / (0.1 + D)`` with ``D = (c_d - c'_d)^2``, averaged over pixels
  whose whole patch lies inside the image (RIFE masks only a 1-pixel border; we mask the full
  patch radius so zero padding never enters the loss). The constants 0.81 (= 0.9^2) and 0.1 are in
  0..255 units: a one-grey-level difference already gives |c| ~ 0.74. RIFE's PyTorch port drops
  the x255 and applies them to [0, 1] intensities, where every real difference (< 1) sits in the
  near-linear part of the transform (|c| <= 0.74 only at a full-range edge) and the loss and its
  gradient are two to three orders of magnitude smaller than intended; ``scale=1`` reproduces that
  port.
- :class:`VGGPerceptualLoss` (Johnson et al. 2016; RIFE's weights): weighted L1 between VGG-19
  relu{1..5}_1 activations of ImageNet-normalised images.
- :func:`edge_aware_smoothness` (Godard et al. 2017, first order): ``mean |d_x F| exp(-alpha
  mean_c |d_x I|) + mean |d_y F| exp(-alpha mean_c |d_y I|)``, on the aux flows (phase 2+).
- :class:`FlowSupervisionLoss`: ``mean |F_t0 - F*_t0| + mean |F_t1 - F*_t1|`` / 2 in pixels against
  the exact flows of the synthetic generator (phase 2+); the L1 flow term RIFE uses for its
  privileged distillation (Huang et al. 2022, Eq. 5, weight 0.01), with the generator's flows as
  the teacher.
- :class:`CompositeLoss` combines them with the config's phase-aware weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from vfi_lib.config import ConfigError
from vfi_lib.train.vgg import RELU_X_1, load_vgg19

if TYPE_CHECKING:
    from vfi_lib.config import Config

_BINOMIAL_5 = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])
RGB_TO_GREY = (0.2989, 0.5870, 0.1140)  # ITU-R BT.601 luma, as RIFE's Ternary


# ----------------------------------------------------------------------------- Laplacian pyramid
def gaussian_kernel_5x5() -> torch.Tensor:
    """The 5x5 binomial kernel (outer product of [1 4 6 4 1]) / 256, shape (5, 5), sums to 1."""
    return torch.outer(_BINOMIAL_5, _BINOMIAL_5) / 256.0


def _blur(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Depthwise 5x5 convolution with reflect padding; x (B, C, H, W), kernel (5, 5)."""
    c = x.shape[1]
    w = kernel.to(dtype=x.dtype).expand(c, 1, 5, 5)
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), w, groups=c)


def _pyr_down(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    return _blur(x, kernel)[:, :, ::2, ::2]  # (B, C, ceil(H/2), ceil(W/2))


def _pyr_up(x: torch.Tensor, kernel: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Zero-insert to twice the size, blur with 4 x kernel (keeps the mean), crop to ``size``."""
    b, c, h, w = x.shape
    up = x.new_zeros(b, c, 2 * h, 2 * w)
    up[:, :, ::2, ::2] = x
    return _blur(up, 4.0 * kernel)[:, :, : size[0], : size[1]]


def laplacian_pyramid(
    img: torch.Tensor, levels: int = 5, include_lowpass: bool = True, kernel: torch.Tensor | None = None
) -> list[torch.Tensor]:
    """Bands fine -> coarse of (B, C, H, W) ``img``.

    With ``include_lowpass`` the list is ``levels - 1`` band-pass bands plus the low-pass
    residual (so ``sum`` of the upsampled bands reconstructs ``img``); without, ``levels``
    band-pass bands (RIFE). Decomposition stops early when a level gets smaller than 3 pixels
    (reflect padding needs it), so small crops get fewer bands.
    """
    if levels < 1:
        raise ValueError(f"laplacian_pyramid: levels must be >= 1, got {levels}")
    k = gaussian_kernel_5x5().to(img.device) if kernel is None else kernel
    n_bandpass = levels - 1 if include_lowpass else levels
    bands, cur = [], img
    for _ in range(n_bandpass):
        if min(cur.shape[-2:]) < 3:
            break
        down = _pyr_down(cur, k)
        bands.append(cur - _pyr_up(down, k, cur.shape[-2:]))
        cur = down
    if include_lowpass:
        bands.append(cur)
    return bands


class LapLoss(nn.Module):
    """Sum over pyramid bands of the mean absolute difference (pred, gt (B, 3, H, W)) -> scalar."""

    def __init__(self, levels: int = 5, include_lowpass: bool = True) -> None:
        super().__init__()
        self.levels = levels
        self.include_lowpass = include_lowpass
        self.register_buffer("kernel", gaussian_kernel_5x5(), persistent=False)

    def forward(self, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        pa = laplacian_pyramid(pred, self.levels, self.include_lowpass, self.kernel)
        pb = laplacian_pyramid(gt, self.levels, self.include_lowpass, self.kernel)
        return sum(F.l1_loss(a, b) for a, b in zip(pa, pb))  # type: ignore[return-value]


# ----------------------------------------------------------------------------- census / ternary
class TernaryLoss(nn.Module):
    """Soft census loss on the grey image; pred, gt (B, 3, H, W) -> scalar (see module docstring)."""

    def __init__(self, patch_size: int = 7, eps_transform: float = 0.81, eps_hamming: float = 0.1,
                 scale: float = 255.0) -> None:
        super().__init__()
        if patch_size % 2 != 1:
            raise ValueError(f"TernaryLoss: patch_size must be odd, got {patch_size}")
        if scale <= 0:
            raise ValueError(f"TernaryLoss: scale must be > 0 (255 for UnFlow's 0..255 intensities), got {scale}")
        self.patch_size = patch_size
        self.scale = float(scale)  # [0, 1] images -> 0..255 intensities, the units of eps_transform
        self.eps_transform = eps_transform
        self.eps_hamming = eps_hamming
        n = patch_size * patch_size
        # one-hot 7x7 filters: output channel d copies the neighbour at offset d
        self.register_buffer("neighbours", torch.eye(n).view(n, 1, patch_size, patch_size), persistent=False)
        self.register_buffer("grey", torch.tensor(RGB_TO_GREY).view(1, 3, 1, 1), persistent=False)

    def transform(self, img: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, P*P, H, W) normalised differences c_d to each patch neighbour."""
        g = (img * (self.scale * self.grey).to(img.dtype)).sum(1, keepdim=True)  # (B, 1, H, W) grey, 0..255
        patches = F.conv2d(g, self.neighbours.to(g.dtype), padding=self.patch_size // 2)  # (B, P*P, H, W)
        diff = patches - g
        return diff / torch.sqrt(self.eps_transform + diff * diff)

    def valid_mask(self, h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """(1, 1, H, W): 1 where the whole patch is inside the image."""
        r = self.patch_size // 2
        if h <= 2 * r or w <= 2 * r:
            raise ValueError(f"TernaryLoss: image {h}x{w} is too small for a {self.patch_size}x{self.patch_size} patch")
        m = torch.zeros(1, 1, h, w, device=device, dtype=dtype)
        m[:, :, r : h - r, r : w - r] = 1.0
        return m

    def forward(self, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        d = (self.transform(pred) - self.transform(gt)) ** 2  # (B, P*P, H, W)
        ham = (d / (self.eps_hamming + d)).mean(1, keepdim=True)  # (B, 1, H, W) soft Hamming
        mask = self.valid_mask(pred.shape[-2], pred.shape[-1], pred.device, pred.dtype)
        return (ham * mask).sum() / (mask.sum() * pred.shape[0])


# ----------------------------------------------------------------------------- VGG perceptual
class VGGPerceptualLoss(nn.Module):
    """sum_i w_i mean|phi_i(pred) - phi_i(gt)|, phi_i = VGG-19 relu{i}_1 (RIFE's weights, x 0.1).

    ImageNet mean/std are registered buffers (move with ``.to(device)``, no per-step transfer);
    the VGG weights are frozen and the network is kept in eval mode.
    """

    layer_weights = (1.0 / 2.6, 1.0 / 4.8, 1.0 / 3.7, 1.0 / 5.6, 10.0 / 1.5)

    def __init__(self, weights_path: str, scale: float = 0.1) -> None:
        super().__init__()
        self.vgg = load_vgg19(weights_path)
        self.vgg.requires_grad_(False)
        self.vgg.eval()
        self.scale = scale
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> "VGGPerceptualLoss":
        super().train(mode)
        self.vgg.eval()  # frozen feature extractor, always in eval mode
        return self

    def forward(self, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        n = pred.shape[0]
        x = (torch.cat([pred, gt]) - self.mean) / self.std  # one pass for both: (2B, 3, H, W)
        feats = self.vgg(x, RELU_X_1)
        loss = pred.new_zeros(())
        for w, f in zip(self.layer_weights, feats):
            loss = loss + w * (f[:n] - f[n:].detach()).abs().mean()
        return self.scale * loss


# ----------------------------------------------------------------------------- flow smoothness
def edge_aware_smoothness(flow: torch.Tensor, img: torch.Tensor, alpha: float = 10.0) -> torch.Tensor:
    """First-order edge-aware smoothness. flow (B, 2, H, W) pixels, img (B, 3, H, W) -> scalar.

    ``mean |F(x+1,y) - F(x,y)| w_x + mean |F(x,y+1) - F(x,y)| w_y``,
    ``w = exp(-alpha * mean_c |I(neighbour) - I|)`` (Godard et al. 2017, Eq. 3, first order).
    """
    if flow.shape[-2:] != img.shape[-2:]:
        raise ValueError(f"edge_aware_smoothness: flow {tuple(flow.shape)} and image {tuple(img.shape)} sizes differ")
    wx = torch.exp(-alpha * (img[..., :, 1:] - img[..., :, :-1]).abs().mean(1, keepdim=True))  # (B, 1, H, W-1)
    wy = torch.exp(-alpha * (img[..., 1:, :] - img[..., :-1, :]).abs().mean(1, keepdim=True))  # (B, 1, H-1, W)
    dx = (flow[..., :, 1:] - flow[..., :, :-1]).abs()
    dy = (flow[..., 1:, :] - flow[..., :-1, :]).abs()
    return (dx * wx).mean() + (dy * wy).mean()


class FlowSmoothnessLoss(nn.Module):
    """Mean of :func:`edge_aware_smoothness` over the aux flows ``flow_t0``/``flow_t1`` guided by gt."""

    flow_keys = ("flow_t0", "flow_t1")

    def __init__(self, alpha: float = 10.0) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, aux: dict[str, Any], gt: torch.Tensor) -> torch.Tensor:
        flows = [aux[k] for k in self.flow_keys if k in aux and aux[k] is not None]
        if not flows:
            raise KeyError(
                f"flow smoothness needs aux flows {self.flow_keys}, the model returned {sorted(aux)}; "
                "set w_flow_smooth 0 for a phase-1 model"
            )
        return sum(edge_aware_smoothness(f.float(), gt, self.alpha) for f in flows) / len(flows)  # type: ignore[return-value]


class FlowSupervisionLoss(nn.Module):
    """``(mean |F_t0 - F*_t0| + mean |F_t1 - F*_t1|) / 2``: aux flows vs ground truth, (B, 2, H, W) px."""

    flow_keys = ("flow_t0", "flow_t1")

    def forward(self, aux: dict[str, Any], flows_gt: dict[str, torch.Tensor]) -> torch.Tensor:
        missing = [k for k in self.flow_keys if aux.get(k) is None or flows_gt.get(k) is None]
        if missing:
            raise KeyError(f"flow supervision needs {missing} in both the model's aux (phase 2+) and the batch "
                           "(--dataset synthetic); set w_flow_sup 0")
        terms = []
        for k in self.flow_keys:
            f, g = aux[k].float(), flows_gt[k].float()
            if f.shape != g.shape:
                raise ValueError(f"flow supervision: model {k} {tuple(f.shape)} vs ground truth {tuple(g.shape)}")
            terms.append((f - g).abs().mean())
        return (terms[0] + terms[1]) / 2


# ----------------------------------------------------------------------------- composite
class CompositeLoss(nn.Module):
    """``w_lap Lap + w_ternary Ternary + w_vgg VGG + w_flow_smooth Smoothness + w_flow_sup FlowSup`` (``cfg.train``).

    ``forward(pred, gt, aux=None, flows_gt=None) -> (total, parts)``: total is a scalar with grad; parts maps
    ``lap``/``ternary``/``vgg``/``flow_smooth``/``flow_sup`` (the unweighted terms with a non-zero weight) and
    ``total`` to detached scalars. Terms with weight 0 are not built (no VGG file needed).
    Configuration problems (w_vgg > 0 without ``vgg_weights``, flow smoothness on a phase-1
    model, negative or all-zero weights) raise :class:`~vfi_lib.config.ConfigError`.
    """

    def __init__(self, cfg: "Config") -> None:
        super().__init__()
        tc = cfg.train
        self.weights = {"lap": tc.w_lap, "ternary": tc.w_ternary, "vgg": tc.w_vgg, "flow_smooth": tc.w_flow_smooth,
                        "flow_sup": tc.w_flow_sup}
        for name, w in self.weights.items():
            if w < 0:
                raise ConfigError(f"loss weight w_{name} must be >= 0, got {w}")
        if not any(w > 0 for w in self.weights.values()):
            raise ConfigError("all loss weights (w_lap, w_ternary, w_vgg, w_flow_smooth, w_flow_sup) are 0: nothing to train")
        self.terms = nn.ModuleDict()
        if tc.w_lap > 0:
            self.terms["lap"] = LapLoss()
        if tc.w_ternary > 0:
            self.terms["ternary"] = TernaryLoss()
        if tc.w_vgg > 0:
            if not tc.vgg_weights:
                raise ConfigError(
                    f"w_vgg = {tc.w_vgg} > 0 needs ImageNet VGG-19 weights: pass --vgg_weights PATH "
                    "(a torchvision vgg19 state_dict, e.g. vgg19-dcbb9e9d.pth) or set --w_vgg 0"
                )
            self.terms["vgg"] = VGGPerceptualLoss(tc.vgg_weights)
        if tc.w_flow_smooth > 0:
            if cfg.model.phase < 2:
                raise ConfigError(
                    f"w_flow_smooth = {tc.w_flow_smooth} > 0 needs a flow model (phase 2/3), "
                    f"but model.phase = {cfg.model.phase}; set --w_flow_smooth 0"
                )
            self.terms["flow_smooth"] = FlowSmoothnessLoss()
        if tc.w_flow_sup > 0:
            if cfg.model.phase < 2 or tc.dataset != "synthetic":
                raise ConfigError(
                    f"w_flow_sup = {tc.w_flow_sup} > 0 needs a flow model (phase 2/3) and ground-truth flows "
                    f"(--dataset synthetic), but model.phase = {cfg.model.phase}, train.dataset = {tc.dataset!r}; "
                    "set --w_flow_sup 0"
                )
            self.terms["flow_sup"] = FlowSupervisionLoss()

    @property
    def needs_aux(self) -> bool:
        """Whether forward needs the model's aux dict (flow smoothness, flow supervision)."""
        return "flow_smooth" in self.terms or "flow_sup" in self.terms

    @property
    def needs_flows(self) -> bool:
        """Whether forward needs the batch's ground-truth flows (``flows_gt``)."""
        return "flow_sup" in self.terms

    def forward(
        self, pred: torch.Tensor, gt: torch.Tensor, aux: dict[str, Any] | None = None,
        flows_gt: dict[str, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        pred, gt = pred.float(), gt.float()  # losses in fp32 even under autocast
        total = pred.new_zeros(())
        parts: dict[str, torch.Tensor] = {}
        for name, term in self.terms.items():
            if name == "flow_smooth":
                if aux is None:
                    raise ValueError("CompositeLoss: w_flow_smooth > 0 but no aux dict given (call the model with return_aux=True)")
                value = term(aux, gt)
            elif name == "flow_sup":
                if aux is None or flows_gt is None:
                    raise ValueError("CompositeLoss: w_flow_sup > 0 needs the aux dict and the batch's flows_gt")
                value = term(aux, flows_gt)
            else:
                value = term(pred, gt)
            parts[name] = value.detach()
            total = total + self.weights[name] * value
        parts["total"] = total.detach()
        return total, parts
