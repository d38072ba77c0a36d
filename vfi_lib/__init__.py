"""Thesis-VFI library: Mamba2 (SSD) + gated window attention video frame interpolation.

Conventions (all modules): tensors are (B, C, H, W), float in [0, 1], RGB; timestep ``t`` in
(0, 1) is the fraction of the way from frame 0 to frame 1; flows are named ``flow_t0`` (from the
target time t to frame 0) and ``flow_t1``, in pixels, (dx, dy) channel order, backward-warping.
"""

__version__ = "0.1.0"
