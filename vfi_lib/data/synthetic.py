"""Synthetic layered motion with analytic ground truth (frames at 0, t, 1 and exact flows).

A scene is a background layer plus 1-3 foreground layers, each a textured patch cut from a real
photograph bundled with scikit-image (astronaut, coffee, chelsea, rocket, ...; no downloads),
with a hard or soft mask (ellipse, star-convex polygon, rounded rectangle). Layer k moves by an
affine pose P_k(tau) that maps texture coordinates q to screen coordinates p:

    P_k(tau) q = s(tau) R(theta(tau)) (q - q_c) + c(tau),
    c(tau) = c0 + tau v,  theta(tau) = theta0 + tau omega,  s(tau) = s0 (1 + tau sigma).

Frames are rendered at tau = 0, t, 1 with ``cv2.warpAffine`` and composited back to front.
The backward flow of the layer visible at p at time t (topmost with alpha >= 0.5) is

    flow_t0(p) = P_k(0) P_k(t)^-1 p - p,      flow_t1(p) = P_k(1) P_k(t)^-1 p - p,

in pixels (channel 0 = dx, 1 = dy, integer pixel centres), so gt(p) = img0(p + flow_t0(p))
wherever that point of layer k is also visible in img0 (``cv2.remap`` convention). With
``return_masks=True`` items carry ``valid_t0``/``valid_t1`` (1, H, W) bool: pixels where that holds
(same pure layer at both ends, inside the frame, away from soft edges). Everything is a pure
function of (seed, epoch, index). ``motion`` is the range of foreground displacement in pixels
between frame 0 and frame 1; the background moves by up to ``bg_motion`` times that.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from .base import TrainDataset
from .errors import DataError
from .item import make_item

TEXTURES = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
            "motorcycle")
_TEX_CACHE: dict[str, np.ndarray] = {}


def load_texture(name: str, rgba: bool = False) -> np.ndarray:
    """(H, W, 3) uint8 RGB photograph shipped inside scikit-image (cached per process).

    ``rgba=True`` appends an opaque alpha channel: (H, W, 4).
    """
    if rgba:
        key = name + ":rgba"
        if key not in _TEX_CACHE:
            img = load_texture(name)
            _TEX_CACHE[key] = np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])
        return _TEX_CACHE[key]
    if name not in _TEX_CACHE:
        import skimage.data

        if name == "motorcycle":
            img = skimage.data.stereo_motorcycle()[0]
        elif name in TEXTURES:
            img = getattr(skimage.data, name)()
        else:
            raise DataError(f"unknown synthetic texture {name!r}; available: {', '.join(TEXTURES)}")
        _TEX_CACHE[name] = np.ascontiguousarray(img[:, :, :3])
    return _TEX_CACHE[name]


def _pose(c0, theta0, s0, qc, v, omega, sigma, tau: float) -> np.ndarray:
    """3x3 affine P(tau): texture coords -> screen coords."""
    th, s = theta0 + tau * omega, s0 * (1.0 + tau * sigma)
    cx, cy = c0[0] + tau * v[0], c0[1] + tau * v[1]
    a, b = s * np.cos(th), s * np.sin(th)
    return np.array([[a, -b, cx - (a * qc[0] - b * qc[1])],
                     [b, a, cy - (b * qc[0] + a * qc[1])],
                     [0.0, 0.0, 1.0]])


def _mask(rng: np.random.Generator, m: int, soft: bool) -> np.ndarray:
    """(m, m) uint8 mask of a random shape inside an m x m patch."""
    mask = np.zeros((m, m), np.uint8)
    c = m / 2.0
    kind = int(rng.integers(0, 3))
    if kind == 0:  # ellipse
        axes = (int(m * rng.uniform(0.25, 0.45)), int(m * rng.uniform(0.25, 0.45)))
        cv2.ellipse(mask, (int(c), int(c)), axes, float(rng.uniform(0, 180)), 0, 360, 255, -1, cv2.LINE_8)
    elif kind == 1:  # star-convex polygon
        n = int(rng.integers(5, 10))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = m * rng.uniform(0.25, 0.45, n)
        pts = np.stack([c + rad * np.cos(ang), c + rad * np.sin(ang)], 1).astype(np.int32)
        cv2.fillPoly(mask, [pts], 255, cv2.LINE_8)
    else:  # rounded rectangle
        h, w = int(m * rng.uniform(0.25, 0.42)), int(m * rng.uniform(0.25, 0.42))
        r = max(1, int(min(h, w) * 0.3))
        cv2.rectangle(mask, (int(c) - w + r, int(c) - h), (int(c) + w - r, int(c) + h), 255, -1)
        cv2.rectangle(mask, (int(c) - w, int(c) - h + r), (int(c) + w, int(c) + h - r), 255, -1)
        for dx in (-w + r, w - r):
            for dy in (-h + r, h - r):
                cv2.circle(mask, (int(c) + dx, int(c) + dy), r, 255, -1)
    if soft:
        mask = cv2.GaussianBlur(mask, (0, 0), float(rng.uniform(1.0, 2.5)))
    return mask


def _crop_texture(rng: np.random.Generator, tex: np.ndarray, side: float) -> tuple[np.ndarray, float]:
    """Random square crop of ``side`` px (upscaled if the texture is smaller); returns (crop, zoom)."""
    th, tw = tex.shape[:2]
    side_i = int(np.ceil(side)) + 2
    zoom = 1.0
    if side_i > min(th, tw):
        zoom = side_i / min(th, tw)
        tex = cv2.resize(tex, (int(np.ceil(tw * zoom)), int(np.ceil(th * zoom))), interpolation=cv2.INTER_CUBIC)
        th, tw = tex.shape[:2]
    y, x = int(rng.integers(0, th - side_i + 1)), int(rng.integers(0, tw - side_i + 1))
    return tex[y:y + side_i, x:x + side_i], zoom


class SyntheticMotion(TrainDataset):
    """``SyntheticMotion(length=1000, size=256, motion=(0, 24), t=0.5, seed=0, ...)``.

    ``size``: int or (H, W) (``set_crop`` changes it). ``t``: float, or None for t uniform in
    ``t_range``. ``num_objects``: (lo, hi) foreground layers. ``max_rotation`` (degrees) and
    ``max_scale`` (relative) bound the frame0 -> frame1 change of each foreground layer.
    ``soft_prob``: probability that a mask has soft (blurred) edges.
    """

    def __init__(self, length: int = 1000, size: int | tuple[int, int] = 256, motion: tuple[float, float] = (0.0, 24.0),
                 t: float | None = 0.5, t_range: tuple[float, float] = (0.1, 0.9), num_objects: tuple[int, int] = (1, 3),
                 bg_motion: float = 0.5, max_rotation: float = 10.0, max_scale: float = 0.1, soft_prob: float = 0.5,
                 textures: Sequence[str] = TEXTURES, seed: int = 0, return_masks: bool = False) -> None:
        super().__init__(size, int(seed))
        if length < 1:
            raise DataError(f"SyntheticMotion length must be >= 1, got {length}")
        if not 0 <= motion[0] <= motion[1]:
            raise DataError(f"SyntheticMotion motion must be (lo, hi) with 0 <= lo <= hi, got {motion!r}")
        if t is not None and not 0.0 <= t <= 1.0:
            raise DataError(f"SyntheticMotion t must be in [0, 1] or None, got {t!r}")
        if not 0 <= num_objects[0] <= num_objects[1]:
            raise DataError(f"SyntheticMotion num_objects must be (lo, hi) with 0 <= lo <= hi, got {num_objects!r}")
        for name in textures:
            if name not in TEXTURES:
                raise DataError(f"unknown synthetic texture {name!r}; available: {', '.join(TEXTURES)}")
        self.length, self.motion, self.t, self.t_range = int(length), motion, t, t_range
        self.num_objects, self.bg_motion = num_objects, bg_motion
        self.max_rotation, self.max_scale, self.soft_prob = max_rotation, max_scale, soft_prob
        self.textures, self.return_masks = tuple(textures), return_masks

    def __len__(self) -> int:
        return self.length

    def _layers(self, rng: np.random.Generator, H: int, W: int) -> list[tuple[np.ndarray, tuple]]:
        """[(RGBA uint8 texture, pose params...)] back to front (background alpha is 255)."""
        layers = []
        # background: square texture crop large enough to cover the frame for every tau
        mag = rng.uniform(*self.motion) * self.bg_motion
        phi = rng.uniform(0, 2 * np.pi)
        v = (mag * np.cos(phi), mag * np.sin(phi))
        sigma = rng.uniform(-0.5, 0.5) * self.max_scale
        omega = np.deg2rad(rng.uniform(-0.5, 0.5) * self.max_rotation)
        s0 = rng.uniform(1.0, 1.25)
        radius = 0.5 * np.hypot(H, W) + mag + 2.0
        side = 2.0 * radius / (s0 * min(1.0, 1.0 + sigma))
        tex, _ = _crop_texture(rng, load_texture(self.textures[int(rng.integers(len(self.textures)))], rgba=True), side)
        qc = ((tex.shape[1] - 1) / 2.0, (tex.shape[0] - 1) / 2.0)
        theta0 = rng.uniform(-0.1, 0.1)
        layers.append((tex, ((W - 1) / 2.0, (H - 1) / 2.0), theta0, s0, qc, v, omega, sigma))
        # foreground objects
        for _ in range(int(rng.integers(self.num_objects[0], self.num_objects[1] + 1))):
            m_screen = rng.uniform(0.25, 0.5) * min(H, W)
            s0 = rng.uniform(0.9, 1.2)
            tex, _ = _crop_texture(rng, load_texture(self.textures[int(rng.integers(len(self.textures)))]), m_screen / s0)
            mask = _mask(rng, tex.shape[0], soft=rng.random() < self.soft_prob)
            rgba = np.dstack([tex, mask])  # (m, m, 4) uint8
            mag = rng.uniform(*self.motion)
            phi = rng.uniform(0, 2 * np.pi)
            v = (mag * np.cos(phi), mag * np.sin(phi))
            c0 = (rng.uniform(0.15, 0.85) * (W - 1), rng.uniform(0.15, 0.85) * (H - 1))
            omega = np.deg2rad(rng.uniform(-1, 1) * self.max_rotation)
            sigma = rng.uniform(-1, 1) * self.max_scale
            qc = ((tex.shape[1] - 1) / 2.0, (tex.shape[0] - 1) / 2.0)
            layers.append((rgba, c0, rng.uniform(-np.pi, np.pi), s0, qc, v, omega, sigma))
        return layers

    @staticmethod
    def _render(layers, tau: float, H: int, W: int) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        """Composite at time tau: (frame (H, W, 3) uint8, alphas [(H, W) float32 in [0, 1]], poses)."""
        poses = [_pose(*params, tau) for _, *params in layers]
        # RGBA uint8 + BORDER_CONSTANT is the fast path of warpAffine (the background covers the frame)
        out = cv2.warpAffine(layers[0][0], poses[0][:2], (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        alphas = []
        for (tex, *_), P in zip(layers[1:], poses[1:]):
            fg = cv2.warpAffine(tex, P[:2], (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            a = cv2.extractChannel(fg, 3).astype(np.float32) * np.float32(1.0 / 255.0)  # (H, W)
            # over-compositing out = a * fg + (1 - a) * out, in one rounded uint8 pass
            out = cv2.blendLinear(fg, out, a, 1.0 - a)
            alphas.append(a)
        return cv2.cvtColor(out, cv2.COLOR_RGBA2RGB), alphas, poses

    @staticmethod
    def _visible(alphas: list[np.ndarray], H: int, W: int) -> np.ndarray:
        """(H, W) int: index of the topmost layer with alpha >= 0.5 (0 = background)."""
        vis = np.zeros((H, W), np.int32)
        for k, a in enumerate(alphas, start=1):
            vis[a >= 0.5] = k
        return vis

    @staticmethod
    def _flow(vis: np.ndarray, poses_t: list[np.ndarray], poses_s: list[np.ndarray], grid) -> np.ndarray:
        """(2, H, W) backward flow from time t to time s of the visible layer."""
        xs, ys = grid
        flow = np.empty((2,) + vis.shape, np.float32)
        for k in range(len(poses_t)):
            A = (poses_s[k] @ np.linalg.inv(poses_t[k])).astype(np.float32)  # screen(t) -> screen(s), layer k
            fx = (A[0, 0] - 1) * xs + A[0, 1] * ys + A[0, 2]
            fy = A[1, 0] * xs + (A[1, 1] - 1) * ys + A[1, 2]
            if k == 0:
                flow[0], flow[1] = fx, fy
            else:
                sel = vis == k
                np.copyto(flow[0], fx, where=sel)
                np.copyto(flow[1], fy, where=sel)
        return flow

    @staticmethod
    def _interior(vis: np.ndarray, alphas: list[np.ndarray]) -> np.ndarray:
        """(H, W) uint8: 1 where one layer is fully opaque/transparent in a 3x3 neighbourhood."""
        pure = np.ones(vis.shape, np.uint8)
        for a in alphas:
            pure &= ((a <= 0.01) | (a >= 0.99)).astype(np.uint8)
        v = vis.astype(np.float32)
        k = np.ones((3, 3), np.uint8)
        same = (cv2.erode(v, k) == cv2.dilate(v, k)).astype(np.uint8)
        return cv2.erode(pure & same, k)

    def generate(self, index: int) -> dict:
        """Numpy sample: img0/gt/img1 (H, W, 3) uint8, flow_t0/flow_t1 (2, H, W), t, [valid masks]."""
        rng = self.rng(index)
        H, W = self.crop_size
        t = float(self.t) if self.t is not None else float(rng.uniform(*self.t_range))
        layers = self._layers(rng, H, W)
        f0, a0, p0 = self._render(layers, 0.0, H, W)
        ft, at, pt = self._render(layers, t, H, W)
        f1, a1, p1 = self._render(layers, 1.0, H, W)
        grid = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
        vis_t = self._visible(at, H, W)
        out = {"img0": f0, "gt": ft, "img1": f1, "t": t,
               "flow_t0": self._flow(vis_t, pt, p0, grid), "flow_t1": self._flow(vis_t, pt, p1, grid)}
        if self.return_masks:
            inner_t = self._interior(vis_t, at)
            for key, alphas in (("t0", a0), ("t1", a1)):
                vis_s = self._visible(alphas, H, W)
                inner_s = self._interior(vis_s, alphas)
                fx, fy = grid[0] + out["flow_" + key][0], grid[1] + out["flow_" + key][1]
                src_vis = cv2.remap(vis_s.astype(np.float32), fx, fy, cv2.INTER_NEAREST, borderValue=-1)
                src_in = cv2.remap(inner_s, fx, fy, cv2.INTER_NEAREST, borderValue=0)
                inside = (fx >= 0) & (fx <= W - 1) & (fy >= 0) & (fy <= H - 1)
                out["valid_" + key] = (inner_t > 0) & (src_in > 0) & (src_vis == vis_t) & inside
        return out

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(f"SyntheticMotion index {index} out of range [0, {self.length})")
        g = self.generate(index)
        import torch

        extra = {"flow_t0": torch.from_numpy(g["flow_t0"]), "flow_t1": torch.from_numpy(g["flow_t1"])}
        if self.return_masks:
            extra.update({k: torch.from_numpy(g[k][None]) for k in ("valid_t0", "valid_t1")})
        return make_item(g["img0"], g["gt"], g["img1"], g["t"], f"synthetic/{self.seed}/{self.epoch}/{index}", **extra)
