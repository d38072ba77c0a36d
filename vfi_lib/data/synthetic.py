"""Synthetic layered motion with analytic ground truth (frames at 0, t, 1 and exact flows).

A scene is a background layer plus 1-3 foreground layers composited back to front. Each layer is
a texture patch: a real photograph (scikit-image's astronaut, coffee, chelsea, ...), a real video
frame (the embedded Big Buck Bunny frames, training-side only: clip frames before the hold-out),
or a procedural pattern (multi-scale noise, gratings, checkers, random shapes); foreground
patches get a hard or soft mask (ellipse, star-convex polygon, rounded rectangle).

**Motion.** Layer k maps texture coordinates q to screen coordinates p at time tau by

    X_k(tau, q) = P_k(tau) q + (tau - t) w_k(P_k(t) q),
    P_k(tau) q  = L(tau) (q - q_c) + c(tau),   L(tau) = s(tau) R(theta(tau)) (I + tau E),
    c(tau) = c0 + tau v + tau (tau - 1) a,     theta(tau) = theta0 + tau omega + tau (tau - 1) alpha,

so v is the displacement from frame 0 to frame 1, a bends the path (the frame at t is *not* at the
linear midpoint: non-linear motion), E is a random shear/stretch (non-rigid affine), s(tau) =
s0 (1 + tau sigma) a zoom, and w_k (probability ``elastic_prob``) a smooth random displacement
field over the screen at time t (elastic deformation, probability ``bg_elastic_prob`` for the
background; bilinear on an 8-px grid, at most
``elastic`` px and Lipschitz <= 0.15, so X_k is invertible). Displacement magnitudes |v| are
uniform in ``motion`` and, with probability ``large_prob``, log-uniform in ``large_motion`` (a
heavy tail of large motion, capped at half the crop side); the background moves by
``bg_motion`` times such a draw. With probability ``cross_prob`` a foreground layer is aimed at
another one so that they overlap at time t (occlusions and disocclusions).

**Rendering.** Frame t is ``cv2.warpAffine`` of every layer (the elastic term vanishes at t).
Frames 0 and 1 of an elastic layer invert X_k per pixel by a fixed-point iteration
(p_t = B^-1 (p - (tau - t) w(p_t)), B = P(tau) P(t)^-1; 3 iterations, residual < 0.03 px) and
``cv2.remap`` the texture. Foreground layers are rendered inside their bounding boxes.

**Flows.** The backward flow of the layer visible at p at time t (topmost with alpha >= 0.5) is
exact, no inversion needed:

    flow_t0(p) = X_k(0, X_k(t)^-1 p) - p = B_0 p - t w_k(p) - p,   flow_t1(p) = B_1 p + (1 - t) w_k(p) - p,

in pixels (channel 0 = dx, 1 = dy, integer pixel centres), so gt(p) = img0(p + flow_t0(p))
wherever that point of layer k is also visible in img0 (``cv2.remap`` convention). With
``return_masks=True`` items carry ``valid_t0``/``valid_t1`` (1, H, W) bool: pixels where that holds
(same pure layer at both ends, inside the frame, away from soft edges; False at occlusions), and
``layers_t`` (1, H, W) int: the visible layer (0 = background) whose flow is given.

**Photometry** (drawn from a separate stream, so switching it off leaves the geometry and flows
of a seed unchanged): with probability ``photometric`` a per-channel gain, a bias and a gamma
that drift linearly from frame 0 to frame 1 (the target at t gets the interpolated values); with
probability ``noise`` independent Gaussian sensor noise per frame (sigma 1-4 grey levels); with
probability ``blur`` the same Gaussian blur (sigma 0.4-1.2) on all three frames.

Everything is a pure function of (seed, epoch, index). ``generate(i)`` returns numpy arrays.
"""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

from .base import TrainDataset
from .errors import DataError
from .item import make_item

PHOTO_TEXTURES = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
                  "motorcycle")  # scikit-image photographs
SAMPLE_TEXTURES = ("bbb_012", "bbb_022", "bbb_036", "bbb_042", "bbb_048", "bbb_064", "bbb_096", "bbb_099")
PROCEDURAL_TEXTURES = ("proc_noise", "proc_stripes", "proc_checker", "proc_cells")
TEXTURES = PHOTO_TEXTURES + SAMPLE_TEXTURES + PROCEDURAL_TEXTURES
ELASTIC_STEP = 8  # grid spacing (px) of the elastic displacement fields
ELASTIC_LIPSCHITZ = 0.15  # bound on |dw/dp| (keeps X invertible; the fixed point contracts by <= ~0.15)
ELASTIC_ITERS = 3  # fixed-point iterations; residual <= max|w| * 0.15**3 (< 0.03 px)
_TEX_CACHE: dict[str, np.ndarray] = {}
_NOISE_BANK: dict[str, np.ndarray] = {}


# ----------------------------------------------------------------------------- textures
def _procedural(name: str, side: int = 512) -> np.ndarray:
    """Deterministic (side, side, 3) uint8 procedural texture."""
    rng = np.random.default_rng(PROCEDURAL_TEXTURES.index(name) + 9001)
    yy, xx = np.mgrid[:side, :side].astype(np.float32)
    if name == "proc_noise":  # multi-octave value noise, coloured
        img = np.zeros((side, side, 3), np.float32)
        for o in range(6):
            cells = 4 * 2 ** o
            z = rng.random((cells, cells, 3), dtype=np.float32)
            img += cv2.resize(z, (side, side), interpolation=cv2.INTER_CUBIC) * 0.6 ** o
    elif name == "proc_stripes":  # two oriented gratings (aperture problem) over a colour ramp
        img = np.zeros((side, side, 3), np.float32)
        for lam, ang in ((rng.uniform(6, 14), rng.uniform(0, np.pi)), (rng.uniform(20, 48), rng.uniform(0, np.pi))):
            g = np.sin(2 * np.pi * (xx * np.cos(ang) + yy * np.sin(ang)) / lam)
            img += g[..., None] * rng.uniform(0.3, 1.0, 3).astype(np.float32)
        img += (xx / side)[..., None] * np.array([0.8, 0.2, -0.5], np.float32)
    elif name == "proc_checker":  # coloured checkerboard with fine noise
        cell = 24
        colours = rng.random((side // cell + 1, side // cell + 1, 3), dtype=np.float32)
        img = colours[(yy // cell).astype(int), (xx // cell).astype(int)]
        img = img * (0.5 + 0.5 * (((yy // cell) + (xx // cell)) % 2))[..., None]
        img += 0.08 * rng.standard_normal((side, side, 3), dtype=np.float32)
    elif name == "proc_cells":  # random overlapping shapes
        img8 = np.full((side, side, 3), rng.integers(0, 256, 3), np.uint8)
        for _ in range(300):
            col = tuple(int(c) for c in rng.integers(0, 256, 3))
            cx, cy = (int(v) for v in rng.integers(0, side, 2))
            r = int(rng.integers(3, 40))
            if rng.random() < 0.5:
                cv2.circle(img8, (cx, cy), r, col, -1, cv2.LINE_AA)
            else:
                cv2.rectangle(img8, (cx - r, cy - r // 2), (cx + r, cy + r // 2), col, -1, cv2.LINE_AA)
        return img8
    else:
        raise DataError(f"unknown procedural texture {name!r}; available: {', '.join(PROCEDURAL_TEXTURES)}")
    lo, hi = np.percentile(img, (1, 99))
    return np.clip((img - lo) * (255.0 / max(hi - lo, 1e-6)), 0, 255).astype(np.uint8)


def _sample_frame(name: str) -> np.ndarray:
    """An embedded Big Buck Bunny frame (training side of the clip's hold-out only)."""
    from .embedded import SAMPLE_DIR, sample_manifest
    from .io import load_image

    man = sample_manifest()
    n = int(name.split("_")[1])
    if n >= man["clip_frames"] - man["holdout"]:
        raise DataError(f"synthetic texture {name!r} is a held-out Big Buck Bunny frame; use frames before "
                        f"{man['clip_frames'] - man['holdout']}")
    for tri in man["triplets"]:
        if tri["name"] == name:
            return load_image(SAMPLE_DIR / "triplets" / name / tri["files"][1])
    if n in man["sequence"]["frames"]:
        return load_image(SAMPLE_DIR / man["sequence"]["pattern"].format(n))
    raise DataError(f"synthetic texture {name!r}: no such embedded frame")


def load_texture(name: str, rgba: bool = False) -> np.ndarray:
    """(H, W, 3) uint8 RGB texture by name (see :data:`TEXTURES`; cached per process).

    ``rgba=True`` appends an opaque alpha channel: (H, W, 4).
    """
    if rgba:
        key = name + ":rgba"
        if key not in _TEX_CACHE:
            img = load_texture(name)
            _TEX_CACHE[key] = np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])
        return _TEX_CACHE[key]
    if name not in _TEX_CACHE:
        if name in PROCEDURAL_TEXTURES:
            img = _procedural(name)
        elif name in SAMPLE_TEXTURES:
            img = _sample_frame(name)
        elif name in PHOTO_TEXTURES:
            import skimage.data

            img = skimage.data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skimage.data, name)()
        else:
            raise DataError(f"unknown synthetic texture {name!r}; available: {', '.join(TEXTURES)}")
        _TEX_CACHE[name] = np.ascontiguousarray(img[:, :, :3])
    return _TEX_CACHE[name]


def _noise_bank() -> np.ndarray:
    """(512, 512, 3) float32 standard normal noise, fixed (per-frame noise = a random window of it)."""
    if "n" not in _NOISE_BANK:
        _NOISE_BANK["n"] = np.random.default_rng(77).standard_normal((512, 512, 3), dtype=np.float32)
    return _NOISE_BANK["n"]


# ----------------------------------------------------------------------------- geometry
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
    """Random square crop covering ``side`` texture px; returns (crop, zoom). A texture smaller than
    ``side`` is not resized: the crop is its largest square and ``zoom`` (> 1) the magnification
    the pose must apply so that the crop still covers ``side``."""
    th, tw = tex.shape[:2]
    want = int(np.ceil(side)) + 2
    crop = min(want, th, tw)
    zoom = want / crop
    y, x = int(rng.integers(0, th - crop + 1)), int(rng.integers(0, tw - crop + 1))
    return tex[y:y + crop, x:x + crop], zoom


def _rot(th: float) -> np.ndarray:
    c, s = np.cos(th), np.sin(th)
    return np.array([[c, -s], [s, c]])


def _affine_inv(P: np.ndarray) -> np.ndarray:
    """Inverse of a 3x3 affine matrix (closed form)."""
    a, b, c, d = P[0, 0], P[0, 1], P[1, 0], P[1, 1]
    det = a * d - b * c
    out = np.empty((3, 3))
    out[0, 0], out[0, 1], out[1, 0], out[1, 1] = d / det, -b / det, -c / det, a / det
    out[0, 2] = -(out[0, 0] * P[0, 2] + out[0, 1] * P[1, 2])
    out[1, 2] = -(out[1, 0] * P[0, 2] + out[1, 1] * P[1, 2])
    out[2] = (0.0, 0.0, 1.0)
    return out


class _Layer:
    """Texture patch + motion parameters (see the module docstring)."""

    def __init__(self, tex, qc, c0, v, acc, theta0, omega, alpha, s0, sigma, E, bg=False) -> None:
        self.tex, self.qc, self.c0 = tex, np.asarray(qc, float), np.asarray(c0, float)
        self.v, self.acc = np.asarray(v, float), np.asarray(acc, float)
        self.theta0, self.omega, self.alpha, self.s0, self.sigma = theta0, omega, alpha, s0, sigma
        self.E, self.bg = np.asarray(E, float), bg
        self.w: tuple[np.ndarray, np.ndarray] | None = None  # elastic field (wx, wy) on the ELASTIC_STEP grid
        self.wmax = 0.0
        self._poses: dict[float, np.ndarray] = {}

    def linear(self, tau: float) -> np.ndarray:
        th = self.theta0 + tau * self.omega + tau * (tau - 1) * self.alpha
        return self.s0 * (1.0 + tau * self.sigma) * _rot(th) @ (np.eye(2) + tau * self.E)

    def centre(self, tau: float) -> np.ndarray:
        return self.c0 + tau * self.v + tau * (tau - 1) * self.acc

    def pose(self, tau: float) -> np.ndarray:
        """3x3 affine P(tau): texture -> screen (memoised; the texture and q_c must be final)."""
        P = self._poses.get(tau)
        if P is None:
            L = self.linear(tau)
            P = np.eye(3)
            P[:2, :2] = L
            P[:2, 2] = self.centre(tau) - L @ self.qc
            self._poses[tau] = P
        return P

    def w_at(self, x: np.ndarray, y: np.ndarray, scaled: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Elastic displacement at screen(t) points (bilinear on the grid, replicated outside);
        ``scaled``: x, y are already in grid units (divided by ELASTIC_STEP)."""
        if not scaled:
            inv = np.float32(1.0 / ELASTIC_STEP)
            x, y = x * inv, y * inv
        return (cv2.remap(self.w[0], x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE),
                cv2.remap(self.w[1], x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))


def _elastic_field(rng: np.random.Generator, H: int, W: int, amp: float) -> tuple[tuple[np.ndarray, np.ndarray], float]:
    """Smooth random displacement (wx, wy) on the ELASTIC_STEP grid of an H x W screen, |w| <= amp,
    Lipschitz <= ELASTIC_LIPSCHITZ (px per px); returns (field, max |w|)."""
    gh, gw = (H - 1) // ELASTIC_STEP + 2, (W - 1) // ELASTIC_STEP + 2
    nodes = int(rng.integers(2, 5))
    coarse = rng.standard_normal((nodes, nodes, 2)).astype(np.float32)
    f = cv2.resize(coarse, (gw, gh), interpolation=cv2.INTER_CUBIC)
    f *= np.float32(amp / max(float(np.abs(f).max()), 1e-6))
    lip = max(float(np.abs(np.diff(f, axis=0)).max(initial=0.0)), float(np.abs(np.diff(f, axis=1)).max(initial=0.0))) \
        / ELASTIC_STEP
    if lip > ELASTIC_LIPSCHITZ:
        f *= np.float32(ELASTIC_LIPSCHITZ / lip)
    return (np.ascontiguousarray(f[..., 0]), np.ascontiguousarray(f[..., 1])), float(np.abs(f).max())


def _affine_apply(M: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """M applied to points (x, y); x, y may be a row (1, w) and a column (h, 1) of a regular grid
    (broadcast: one full-size operation per output)."""
    a, b, c, d, e, f = (np.float32(v) for v in (M[0, 0], M[0, 1], M[0, 2], M[1, 0], M[1, 1], M[1, 2]))
    return a * x + (b * y + c), d * x + (e * y + f)


class _Grid:
    """Pixel coordinates of an H x W screen: rows/columns for broadcasting, full maps for remap."""

    def __init__(self, H: int, W: int) -> None:
        self.xr = np.arange(W, dtype=np.float32)[None, :]
        self.yc = np.arange(H, dtype=np.float32)[:, None]
        self.X, self.Y = np.meshgrid(self.xr[0], self.yc[:, 0])
        inv = np.float32(1.0 / ELASTIC_STEP)
        self.Xs, self.Ys = self.X * inv, self.Y * inv  # remap coordinates of the elastic grid

    def rows(self, box):
        y0, y1, x0, x1 = box
        return self.xr[:, x0:x1], self.yc[y0:y1]


# ----------------------------------------------------------------------------- dataset
class SyntheticMotion(TrainDataset):
    """``SyntheticMotion(length=1000, size=256, motion=(0, 24), t=0.5, seed=0, ...)``.

    ``size``: int or (H, W) (``set_crop`` changes it). ``t``: float, or None for t uniform in
    ``t_range``. ``num_objects``: (lo, hi) foreground layers. ``motion``/``large_motion``/
    ``large_prob``: displacement magnitudes (px, frame 0 -> frame 1); ``bg_motion`` scales the
    background's. ``max_rotation`` (degrees) and ``max_scale`` (relative) bound the frame0 -> frame1
    rotation and zoom of each foreground layer, ``affine`` its shear/stretch, ``nonlinear`` the
    path curvature (|a| <= nonlinear |v|). ``elastic_prob`` (foreground) / ``bg_elastic_prob``
    (background) / ``elastic`` (max px): elastic layers.
    ``cross_prob``: foreground layers aimed at each other. ``photometric``/``noise``/``blur``:
    probabilities of brightness/contrast/gamma drift, sensor noise and blur. ``soft_prob``:
    probability that a mask has soft (blurred) edges.
    """

    def __init__(self, length: int = 1000, size: int | tuple[int, int] = 256, motion: tuple[float, float] = (0.0, 24.0),
                 t: float | None = 0.5, t_range: tuple[float, float] = (0.1, 0.9), num_objects: tuple[int, int] = (1, 3),
                 bg_motion: float = 0.5, max_rotation: float = 10.0, max_scale: float = 0.1, soft_prob: float = 0.5,
                 textures: Sequence[str] = TEXTURES, seed: int = 0, return_masks: bool = False,
                 large_motion: tuple[float, float] = (24.0, 128.0), large_prob: float = 0.3, nonlinear: float = 0.5,
                 affine: float = 0.05, elastic_prob: float = 0.5, bg_elastic_prob: float = 0.3, elastic: float = 6.0,
                 cross_prob: float = 0.5,
                 photometric: float = 0.5, noise: float = 0.3, blur: float = 0.2) -> None:
        super().__init__(size, int(seed))
        if length < 1:
            raise DataError(f"SyntheticMotion length must be >= 1, got {length}")
        for key, rng_ in (("motion", motion), ("large_motion", large_motion)):
            if not 0 <= rng_[0] <= rng_[1]:
                raise DataError(f"SyntheticMotion {key} must be (lo, hi) with 0 <= lo <= hi, got {rng_!r}")
        if t is not None and not 0.0 <= t <= 1.0:
            raise DataError(f"SyntheticMotion t must be in [0, 1] or None, got {t!r}")
        if not 0 <= num_objects[0] <= num_objects[1]:
            raise DataError(f"SyntheticMotion num_objects must be (lo, hi) with 0 <= lo <= hi, got {num_objects!r}")
        probs = dict(large_prob=large_prob, elastic_prob=elastic_prob, bg_elastic_prob=bg_elastic_prob,
                     cross_prob=cross_prob, photometric=photometric, noise=noise, blur=blur, soft_prob=soft_prob)
        for key, value in probs.items():
            if not 0.0 <= value <= 1.0:
                raise DataError(f"SyntheticMotion {key} is a probability in [0, 1], got {value!r}")
        for name in textures:
            if name not in TEXTURES:
                raise DataError(f"unknown synthetic texture {name!r}; available: {', '.join(TEXTURES)}")
        if not textures:
            raise DataError("SyntheticMotion needs at least one texture")
        self.length, self.motion, self.t, self.t_range = int(length), motion, t, t_range
        self.num_objects, self.bg_motion = num_objects, bg_motion
        self.max_rotation, self.max_scale, self.soft_prob = max_rotation, max_scale, soft_prob
        self.textures, self.return_masks = tuple(textures), return_masks
        self.large_motion, self.large_prob, self.nonlinear, self.affine = large_motion, large_prob, nonlinear, affine
        self.elastic_prob, self.bg_elastic_prob, self.elastic = elastic_prob, bg_elastic_prob, elastic
        self.cross_prob = cross_prob
        self.photometric, self.noise, self.blur = photometric, noise, blur

    def __len__(self) -> int:
        return self.length

    def _grid(self, H: int, W: int) -> _Grid:
        cache = self.__dict__.setdefault("_grids", {})
        if (H, W) not in cache:
            cache.clear()
            cache[(H, W)] = _Grid(H, W)
        return cache[(H, W)]

    # -- scene
    def _magnitude(self, rng: np.random.Generator, H: int, W: int) -> float:
        """|v|: uniform in ``motion``, or (probability large_prob) log-uniform in ``large_motion``
        capped at half the crop side."""
        if rng.random() < self.large_prob:
            hi = min(self.large_motion[1], 0.5 * min(H, W))
            lo = min(self.large_motion[0], hi)
            return float(np.exp(rng.uniform(np.log(max(lo, 1.0)), np.log(max(hi, 1.0)))))
        return float(rng.uniform(*self.motion))

    def _texture(self, rng: np.random.Generator, rgba: bool = False) -> np.ndarray:
        return load_texture(self.textures[int(rng.integers(len(self.textures)))], rgba=rgba)

    def _layers(self, rng: np.random.Generator, H: int, W: int, t: float) -> list[_Layer]:
        """Layers back to front (the background covers the frame at tau = 0, t, 1)."""
        layers = []
        # background: drawn so that a square crop covers the frame at every rendered time
        mag = self._magnitude(rng, H, W) * self.bg_motion
        phi = rng.uniform(0, 2 * np.pi)
        v = (mag * np.cos(phi), mag * np.sin(phi))
        acc = rng.uniform(0, self.nonlinear) * mag * _rot(rng.uniform(0, 2 * np.pi))[:, 0]
        sigma = rng.uniform(-0.5, 0.5) * self.max_scale
        omega = np.deg2rad(rng.uniform(-0.5, 0.5) * self.max_rotation)
        E = rng.uniform(-0.5, 0.5, (2, 2)) * self.affine
        s0 = rng.uniform(1.0, 1.25)
        bg = _Layer(None, (0.0, 0.0), ((W - 1) / 2.0, (H - 1) / 2.0), v, acc, rng.uniform(-0.1, 0.1), omega,
                    rng.uniform(-1, 1) * self.nonlinear * omega, s0, sigma, E, bg=True)
        if rng.random() < self.bg_elastic_prob:
            bg.w, bg.wmax = _elastic_field(rng, H, W, rng.uniform(0.3, 1.0) * self.elastic)
        corners = np.array([[-1.0, -1.0], [W, -1.0], [-1.0, H], [W, H]])
        reach = 0.0
        for tau in (0.0, t, 1.0):  # texture extent needed (relative to q_c) for the frame corners
            Linv = np.linalg.inv(bg.linear(tau))  # (q_c is not known yet: poses are built after the crop)
            q = (corners - bg.centre(tau)) @ Linv.T
            reach = max(reach, float(np.abs(q).max()) + bg.wmax * float(np.abs(Linv).sum(1).max()))
        tex, zoom = _crop_texture(rng, self._texture(rng, rgba=True), 2.0 * reach + 2.0)
        bg.tex, bg.s0 = tex, bg.s0 * zoom
        bg.qc = np.array([(tex.shape[1] - 1) / 2.0, (tex.shape[0] - 1) / 2.0])
        layers.append(bg)
        # foreground objects
        for k in range(int(rng.integers(self.num_objects[0], self.num_objects[1] + 1))):
            m_screen = rng.uniform(0.25, 0.5) * min(H, W)
            s0 = rng.uniform(0.9, 1.2)
            tex, zoom = _crop_texture(rng, self._texture(rng), m_screen / s0)
            mask = _mask(rng, tex.shape[0], soft=rng.random() < self.soft_prob)
            rgba = cv2.cvtColor(tex, cv2.COLOR_RGB2RGBA)  # (m, m, 4) uint8
            rgba[:, :, 3] = mask
            mag = self._magnitude(rng, H, W)
            phi = rng.uniform(0, 2 * np.pi)
            v = np.array([mag * np.cos(phi), mag * np.sin(phi)])
            acc = rng.uniform(0, self.nonlinear) * mag * _rot(rng.uniform(0, 2 * np.pi))[:, 0]
            c0 = np.array([rng.uniform(0.15, 0.85) * (W - 1), rng.uniform(0.15, 0.85) * (H - 1)])
            if k > 0 and rng.random() < self.cross_prob:  # meet an earlier foreground layer at time t
                other = layers[1 + int(rng.integers(k))]
                ct = other.centre(t) + rng.uniform(-0.25, 0.25, 2) * m_screen
                c0 = ct - t * v - t * (t - 1) * acc
            omega = np.deg2rad(rng.uniform(-1, 1) * self.max_rotation)
            layer = _Layer(rgba, ((tex.shape[1] - 1) / 2.0, (tex.shape[0] - 1) / 2.0), c0, v, acc,
                           rng.uniform(-np.pi, np.pi), omega, rng.uniform(-1, 1) * self.nonlinear * omega,
                           s0 * zoom, rng.uniform(-1, 1) * self.max_scale, rng.uniform(-1, 1, (2, 2)) * self.affine)
            if rng.random() < self.elastic_prob:
                layer.w, layer.wmax = _elastic_field(rng, H, W, rng.uniform(0.3, 1.0) * self.elastic)
            layers.append(layer)
        return layers

    # -- rendering
    @staticmethod
    def _bbox(layer: _Layer, tau: float, H: int, W: int) -> tuple[int, int, int, int] | None:
        """(y0, y1, x0, x1) screen box covering the layer at tau, or None if off screen."""
        m = layer.tex.shape[0]
        q = np.array([[-1.0, -1.0, 1.0], [m, -1.0, 1.0], [-1.0, m, 1.0], [m, m, 1.0]])
        p = q @ layer.pose(tau)[:2].T
        pad = 2.0 + layer.wmax  # the elastic term moves points by at most wmax
        x0, y0 = max(0, int(np.floor(p[:, 0].min() - pad))), max(0, int(np.floor(p[:, 1].min() - pad)))
        x1, y1 = min(W, int(np.ceil(p[:, 0].max() + pad)) + 1), min(H, int(np.ceil(p[:, 1].max() + pad)) + 1)
        return (y0, y1, x0, x1) if x1 > x0 and y1 > y0 else None

    @staticmethod
    def _warp(layer: _Layer, tau: float, t: float, box: tuple[int, int, int, int], grid) -> np.ndarray:
        """The layer's RGBA pixels inside ``box`` at time tau."""
        y0, y1, x0, x1 = box
        if layer.w is None or tau == t:
            M = layer.pose(tau)[:2].copy()
            M[0, 2] -= x0
            M[1, 2] -= y0
            return cv2.warpAffine(layer.tex, M, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT)
        Pt_inv = _affine_inv(layer.pose(t))
        Binv = _affine_inv(layer.pose(tau) @ Pt_inv)  # screen(tau) -> screen(t), affine part
        # the fixed point runs in elastic-grid units (p / ELASTIC_STEP), the texture map is affine in it
        S = ELASTIC_STEP
        G = np.diag([1.0 / S, 1.0 / S, 1.0]) @ Binv
        bx, by = _affine_apply(G, *grid.rows(box))
        c = (tau - t) / S
        k00, k01, k10, k11 = (np.float32(c * v) for v in Binv[:2, :2].ravel())
        px, py = bx, by
        for _ in range(ELASTIC_ITERS):  # p_t = B^-1 (p - c w(p_t))
            wx, wy = layer.w_at(px, py, scaled=True)
            px, py = bx - (k00 * wx + k01 * wy), by - (k10 * wx + k11 * wy)
        qx, qy = _affine_apply(Pt_inv @ np.diag([S, S, 1.0]), px, py)
        return cv2.remap(layer.tex, qx, qy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    def _render(self, layers: list[_Layer], tau: float, t: float, H: int, W: int, grid):
        """Composite at tau: (frame (H, W, 3) uint8, [(alpha (h, w) float32 in [0, 1], box) per foreground layer])."""
        out = self._warp(layers[0], tau, t, (0, H, 0, W), grid)
        alphas = []
        for layer in layers[1:]:
            box = self._bbox(layer, tau, H, W)
            if box is None:
                alphas.append(None)
                continue
            fg = self._warp(layer, tau, t, box, grid)
            a = cv2.extractChannel(fg, 3).astype(np.float32) * np.float32(1.0 / 255.0)
            y0, y1, x0, x1 = box
            roi = out[y0:y1, x0:x1]
            roi[...] = cv2.blendLinear(fg, roi, a, 1.0 - a)  # over-compositing in one rounded uint8 pass
            alphas.append((a, box))
        return cv2.cvtColor(out, cv2.COLOR_RGBA2RGB), alphas

    @staticmethod
    def _visible(alphas, H: int, W: int) -> np.ndarray:
        """(H, W) int32: index of the topmost layer with alpha >= 0.5 (0 = background)."""
        vis = np.zeros((H, W), np.int32)
        for k, entry in enumerate(alphas, start=1):
            if entry is not None:
                a, (y0, y1, x0, x1) = entry
                np.copyto(vis[y0:y1, x0:x1], k, where=a >= 0.5)
        return vis

    @staticmethod
    def _interior(vis: np.ndarray, alphas) -> np.ndarray:
        """(H, W) uint8: 1 where one layer is fully opaque/transparent in a 3x3 neighbourhood."""
        pure = np.ones(vis.shape, np.uint8)
        for entry in alphas:
            if entry is not None:
                a, (y0, y1, x0, x1) = entry
                pure[y0:y1, x0:x1] &= ((a <= 0.01) | (a >= 0.99)).astype(np.uint8)
        v = vis.astype(np.float32)
        k = np.ones((3, 3), np.uint8)
        same = (cv2.erode(v, k) == cv2.dilate(v, k)).astype(np.uint8)
        return cv2.erode(pure & same, k)

    @staticmethod
    def _flows(layers: list[_Layer], vis: np.ndarray, t: float, grid, boxes) -> tuple[np.ndarray, np.ndarray]:
        """(2, H, W) backward flows t -> 0 and t -> 1 of the layer visible at each pixel."""
        H, W = vis.shape
        f0, f1 = np.empty((2, H, W), np.float32), np.empty((2, H, W), np.float32)
        for k, layer in enumerate(layers):
            box = (0, H, 0, W) if k == 0 else boxes[k - 1]
            if box is None:
                continue
            y0, y1, x0, x1 = box
            sel = None if k == 0 else vis[y0:y1, x0:x1] == k
            if sel is not None and not sel.any():
                continue
            Pt_inv = _affine_inv(layer.pose(t))
            w = layer.w_at(grid.Xs[y0:y1, x0:x1], grid.Ys[y0:y1, x0:x1], scaled=True) if layer.w is not None else None
            for flow, s in ((f0, 0.0), (f1, 1.0)):
                fx, fy = _affine_apply(layer.pose(s) @ Pt_inv - np.eye(3), *grid.rows(box))
                if w is not None:
                    fx, fy = fx + np.float32(s - t) * w[0], fy + np.float32(s - t) * w[1]
                if sel is None:
                    flow[0], flow[1] = fx, fy
                else:
                    np.copyto(flow[0, y0:y1, x0:x1], fx, where=sel)
                    np.copyto(flow[1, y0:y1, x0:x1], fy, where=sel)
        return f0, f1

    # -- photometry
    def _photometry(self, prng: np.random.Generator, frames: list[np.ndarray], taus: tuple[float, ...]) -> list[np.ndarray]:
        H, W = frames[0].shape[:2]
        if prng.random() < self.photometric:
            dg = prng.uniform(-0.12, 0.12, 3)  # log gain drift per channel
            db = prng.uniform(-12.0, 12.0)  # bias drift (grey levels)
            dgam = prng.uniform(-0.15, 0.15)  # log gamma drift
            x = np.arange(256, dtype=np.float64) / 255.0
            out = []
            for f, tau in zip(frames, taus):
                lut = np.stack([255.0 * x ** np.exp(tau * dgam) * np.exp(tau * g) + tau * db for g in dg], 1)
                lut = np.clip(np.round(lut), 0, 255).astype(np.uint8).reshape(256, 1, 3)
                out.append(cv2.LUT(f, lut))
            frames = out
        if prng.random() < self.noise:
            sigma = prng.uniform(1.0, 4.0)
            bank = _noise_bank()
            out = []
            for f in frames:
                if H <= bank.shape[0] and W <= bank.shape[1]:
                    y, x = int(prng.integers(0, bank.shape[0] - H + 1)), int(prng.integers(0, bank.shape[1] - W + 1))
                    n = bank[y:y + H, x:x + W]
                else:
                    n = prng.standard_normal((H, W, 3), dtype=np.float32)
                out.append(cv2.addWeighted(f, 1.0, n, float(sigma), 0.0, dtype=cv2.CV_8U))  # rounded, saturated
            frames = out
        if prng.random() < self.blur:
            s = float(prng.uniform(0.4, 1.2))
            frames = [cv2.GaussianBlur(f, (0, 0), s) for f in frames]
        return frames

    def generate(self, index: int) -> dict:
        """Numpy sample: img0/gt/img1 (H, W, 3) uint8, flow_t0/flow_t1 (2, H, W), t, [masks]."""
        rng = self.rng(index)
        prng = np.random.default_rng(int(rng.integers(0, 2**63)))  # photometry: its own stream
        H, W = self.crop_size
        t = float(self.t) if self.t is not None else float(rng.uniform(*self.t_range))
        layers = self._layers(rng, H, W, t)
        grid = self._grid(H, W)
        f0, a0 = self._render(layers, 0.0, t, H, W, grid)
        ft, at = self._render(layers, t, t, H, W, grid)
        f1, a1 = self._render(layers, 1.0, t, H, W, grid)
        vis_t = self._visible(at, H, W)
        flow_t0, flow_t1 = self._flows(layers, vis_t, t, grid, [None if e is None else e[1] for e in at])
        f0, ft, f1 = self._photometry(prng, [f0, ft, f1], (0.0, t, 1.0))
        out = {"img0": f0, "gt": ft, "img1": f1, "t": t, "flow_t0": flow_t0, "flow_t1": flow_t1}
        if self.return_masks:
            inner_t = self._interior(vis_t, at)
            for key, alphas in (("t0", a0), ("t1", a1)):
                vis_s = self._visible(alphas, H, W)
                inner_s = self._interior(vis_s, alphas)
                fx, fy = grid.X + out["flow_" + key][0], grid.Y + out["flow_" + key][1]
                src_vis = cv2.remap(vis_s.astype(np.float32), fx, fy, cv2.INTER_NEAREST, borderValue=-1)
                src_in = cv2.remap(inner_s, fx, fy, cv2.INTER_NEAREST, borderValue=0)
                inside = (fx >= 0) & (fx <= W - 1) & (fy >= 0) & (fy <= H - 1)
                out["valid_" + key] = (inner_t > 0) & (src_in > 0) & (src_vis == vis_t) & inside
            out["layers_t"] = vis_t
        return out

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(f"SyntheticMotion index {index} out of range [0, {self.length})")
        g = self.generate(index)
        import torch

        extra = {"flow_t0": torch.from_numpy(g["flow_t0"]), "flow_t1": torch.from_numpy(g["flow_t1"])}
        if self.return_masks:
            extra.update({k: torch.from_numpy(g[k][None]) for k in ("valid_t0", "valid_t1", "layers_t")})
        return make_item(g["img0"], g["gt"], g["img1"], g["t"], f"synthetic/{self.seed}/{self.epoch}/{index}", **extra)
