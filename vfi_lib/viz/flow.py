"""Optical flow as colour: the Middlebury colour wheel (Baker et al., IJCV 2011, fig. 6).

Direction is hue, magnitude is saturation: zero flow is white, a flow of the normalising magnitude
is the fully saturated wheel colour, and flows beyond it (only when ``max_flow`` is given and
exceeded) are darkened to 75 %. The wheel has 55 hues in six segments
red→yellow (15), yellow→green (6), green→cyan (4), cyan→blue (11), blue→magenta (13),
magenta→red (6), following the Middlebury ``flowToColor`` code. With image coordinates (y down),
+x (rightward) flow is red, +y (downward) orange-yellow, −x cyan-blue and −y blue-violet.
One deliberate difference from the original code: the hue index is ``(angle/π + 1)/2 · 55`` taken
modulo 55, so the wheel closes continuously at ±π (the original scales by 54, which puts the
seam between indices 54 and 0 and makes +x depend on the sign of a zero dy).

Flows follow the library convention: channel 0 = dx, channel 1 = dy, in pixels.
"""

from __future__ import annotations

import numpy as np

__all__ = ["make_colorwheel", "flow_to_color", "flow_wheel", "flow_to_numpy"]

# (segment length, start colour, end colour) of the six wheel segments
_SEGMENTS = (
    (15, (255, 0, 0), (255, 255, 0)),  # red -> yellow
    (6, (255, 255, 0), (0, 255, 0)),  # yellow -> green
    (4, (0, 255, 0), (0, 255, 255)),  # green -> cyan
    (11, (0, 255, 255), (0, 0, 255)),  # cyan -> blue
    (13, (0, 0, 255), (255, 0, 255)),  # blue -> magenta
    (6, (255, 0, 255), (255, 0, 0)),  # magenta -> red
)


def make_colorwheel() -> np.ndarray:
    """The 55 Middlebury wheel colours, (55, 3) float in [0, 255], starting at red."""
    cols = []
    for n, start, end in _SEGMENTS:
        frac = np.floor(255.0 * np.arange(n) / n) / 255.0  # the integer ramp of the original code
        s, e = np.array(start, float), np.array(end, float)
        cols.append(s[None] + frac[:, None] * (e - s)[None])
    return np.concatenate(cols, axis=0)


def flow_to_numpy(flow) -> np.ndarray:
    """Accept (H, W, 2) numpy or a (2, H, W) / (1, 2, H, W) tensor/array; return (H, W, 2) float64."""
    if hasattr(flow, "detach"):  # torch tensor, without importing torch here
        flow = flow.detach().float().cpu().numpy()
    f = np.asarray(flow, dtype=np.float64)
    if f.ndim == 4 and f.shape[0] == 1:
        f = f[0]
    if f.ndim == 3 and f.shape[-1] == 2:
        return f
    if f.ndim == 3 and f.shape[0] == 2:
        return np.moveaxis(f, 0, -1)
    raise ValueError(
        f"flow_to_color: flow must be (H, W, 2) or (2, H, W) (or (1, 2, H, W)), got shape {f.shape}"
    )


def flow_to_color(flow, max_flow: float | None = None, bgr: bool = False) -> np.ndarray:
    """Colour-code a flow field; returns (H, W, 3) uint8 RGB (BGR if ``bgr``).

    flow: (H, W, 2) or (2, H, W) (numpy or torch), channel 0 = dx, 1 = dy, pixels.
    max_flow: magnitude that maps to full saturation; None = the field's own max magnitude.
    Non-finite vectors are drawn black.
    """
    f = flow_to_numpy(flow)
    u, v = f[..., 0].copy(), f[..., 1].copy()
    bad = ~(np.isfinite(u) & np.isfinite(v))
    u[bad] = 0.0
    v[bad] = 0.0
    rad = np.sqrt(u**2 + v**2)
    if max_flow is None:
        norm = float(rad.max()) if rad.size else 0.0
    else:
        if not max_flow > 0:
            raise ValueError(f"flow_to_color: max_flow must be > 0, got {max_flow}")
        norm = float(max_flow)
    eps = 1e-8
    rad = rad / (norm + eps) if norm > 0 else rad * 0.0
    wheel = make_colorwheel() / 255.0  # (K, 3)
    K = wheel.shape[0]
    # angle measured so that +x lands on hue index 0 (red); the fraction wraps continuously at 0/K
    ang = np.arctan2(-v, -u) / np.pi  # (-1, 1]
    fk = ((ang + 1.0) / 2.0 * K) % K
    k0 = np.floor(fk).astype(np.int64) % K
    k1 = (k0 + 1) % K
    w = (fk - np.floor(fk))[..., None]
    col = (1.0 - w) * wheel[k0] + w * wheel[k1]  # (H, W, 3) hue at full saturation
    inside = (rad <= 1.0)[..., None]
    r = rad[..., None]
    col = np.where(inside, 1.0 - r * (1.0 - col), col * 0.75)  # desaturate towards white inside
    col[bad] = 0.0
    img = np.clip(np.round(col * 255.0), 0, 255).astype(np.uint8)
    return img[..., ::-1].copy() if bgr else img


def flow_wheel(size: int = 128, white_outside: bool = True) -> np.ndarray:
    """The colour key: a disc of radius ``size/2`` whose pixel at offset (dx, dy) from the centre
    shows the colour of flow (dx, dy) normalised by the radius. Returns (size, size, 3) uint8 RGB.
    """
    if size < 3:
        raise ValueError(f"flow_wheel: size must be >= 3, got {size}")
    c = (size - 1) / 2.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    flow = np.stack([xx - c, yy - c], axis=-1)  # (size, size, 2)
    img = flow_to_color(flow, max_flow=c)
    if white_outside:
        img[np.hypot(xx - c, yy - c) > c] = 255
    return img
