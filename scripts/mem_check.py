"""Peak memory of one eager inference of the full model with the torch SSD backend (issue 17).

    python scripts/mem_check.py --device cuda --phase 2 --resolution 4k --dtype bf16
    python scripts/mem_check.py --device cuda --phase 2 --resolution 1080p --dtype bf16
    python scripts/mem_check.py --device cpu --phase 2 --resolution 480x270 --dtype fp32   # CPU, small

Builds ``preset(f"phase{N}", ssm_backend="torch")`` (random weights), runs ``model(img0, img1, 0.5,
scale=s)`` once under ``torch.inference_mode`` (and bf16 autocast with ``--dtype bf16``), with the
flow scale of the benchmarks (``vfi_lib.speed.stack``: 0.5 up to 1100 rows, 0.25 above; 1.0 for
Phase 1), and prints:

* on CUDA: ``torch.cuda.max_memory_allocated`` (the goal of issue 17: 4K < 16 GB, 1080p < 6 GB);
* with ``--track`` (default on CPU): the peak of live tensor bytes and the largest single tensors,
  counted by a ``TorchDispatchMode`` over every aten op (storage bytes, views not counted twice;
  weights and inputs excluded; kernel workspaces and allocator caching are not seen, so this is a
  lower bound of what the CUDA allocator reports). Deterministic: bytes, not timings.

``--ssd_slice_mib`` overrides ``vfi_lib.ssm.ssd.SSD_SLICE_BYTES`` (the SSD's per-intermediate budget).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import weakref
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing



class LiveTensorBytes(TorchDispatchMode):
    """Tracks the bytes of the tensor storages that aten ops create while the mode is active.

    ``peak``: the largest sum of live storages; ``largest``: the biggest single storages as
    (bytes, op, shape, dtype), largest first. Storages in ``exclude`` (weights, inputs) are skipped.
    """

    def __init__(self, exclude: tuple[torch.Tensor, ...] = (), keep: int = 8) -> None:
        super().__init__()
        self.where: list[str] = []  # module path stack (filled by :meth:`watch`)
        self.peak_at = ""
        self.peak_live: list[tuple[int, str, tuple[int, ...]]] = []
        self._exclude = {t.untyped_storage().data_ptr() for t in exclude}
        self._live: dict[int, list[int]] = {}  # data_ptr -> [nbytes, python references]
        self.current = 0
        self.peak = 0
        self.largest: list[tuple[int, str, tuple[int, ...], torch.dtype]] = []
        self._keep = keep

    def watch(self, model: torch.nn.Module) -> list:
        """Forward hooks that keep the name of the running module (for the line "peak inside")."""
        def enter(name: str) -> None:
            self.where.append(name)

        def leave() -> None:
            self.where.pop()

        handles = []
        for name, mod in model.named_modules():
            handles.append(mod.register_forward_pre_hook(lambda m, a, name=name: enter(name)))
            handles.append(mod.register_forward_hook(lambda m, a, o: leave()))
        return handles

    def _release(self, key: int) -> None:
        rec = self._live.get(key)
        if rec is None:
            return
        rec[1] -= 1
        if rec[1] == 0:
            del self._live[key]
            self.current -= rec[0]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if not isinstance(t, torch.Tensor):
                continue
            st = t.untyped_storage()
            key, nbytes = st.data_ptr(), st.nbytes()
            if nbytes == 0 or key in self._exclude:
                continue
            rec = self._live.get(key)
            if rec is None:
                rec = self._live[key] = [nbytes, 0, str(func), tuple(t.shape)]
                self.current += nbytes
                if self.current > self.peak:
                    self.peak = self.current
                    self.peak_at = self.where[-1] if self.where else ""
                    self.peak_live = sorted(((v[0], v[2], v[3]) for v in self._live.values() if len(v) > 2),
                                            key=lambda r: -r[0])[:6]
                entry = (nbytes, str(func), tuple(t.shape), t.dtype)
                if entry not in self.largest:  # one line per distinct (size, op, shape)
                    self.largest = sorted([*self.largest, entry], key=lambda r: -r[0])[: self._keep]
            rec[1] += 1
            weakref.finalize(t, self._release, key)
        return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto", help="auto (cuda when available) | cpu | cuda[:N]")
    ap.add_argument("--phase", type=int, default=2, choices=(1, 2, 3))
    ap.add_argument("--resolution", default="1080p", help="1080p | 2k | 4k | 720p | 480p | WxH (as timetest)")
    ap.add_argument("--dtype", default="bf16", choices=("bf16", "fp32"))
    ap.add_argument("--scale", type=float, default=None, help="flow scale (default: 0.5 up to 1100 rows, else 0.25)")
    ap.add_argument("--tiny", action="store_true", help="the tiny test model (smoke runs)")
    ap.add_argument("--mhc", action="store_true", help="use_mhc=True")
    ap.add_argument("--track", action=argparse.BooleanOptionalAction, default=None,
                    help="count live tensor bytes with a dispatch mode (default: on for CPU, off for CUDA)")
    ap.add_argument("--ssd_slice_mib", type=float, default=None, help="override ssd.SSD_SLICE_BYTES (MiB)")
    args = ap.parse_args(argv)

    from vfi_lib.cli import resolve_device
    from vfi_lib.config import preset
    from vfi_lib.model import build_model
    from vfi_lib.speed.stack import default_flow_scale
    from vfi_lib.speed.timer import GIB, peak_memory_gib
    from vfi_lib.speed.timetest import parse_resolution
    from vfi_lib.ssm import ssd as ssd_mod

    if args.ssd_slice_mib is not None:
        ssd_mod.SSD_SLICE_BYTES = int(args.ssd_slice_mib * 2**20)
    dev = resolve_device(args.device)
    try:
        w, h = parse_resolution(args.resolution)
    except ValueError as e:
        raise SystemExit(f"mem_check: {e}") from None
    scale = args.scale if args.scale is not None else default_flow_scale(args.phase, h)
    track = (dev.type == "cpu") if args.track is None else args.track
    torch.manual_seed(0)
    model = build_model(preset(f"phase{args.phase}", tiny=args.tiny, ssm_backend="torch", use_mhc=args.mhc))
    model = model.to(dev).eval()
    x0 = torch.rand(1, 3, h, w, device=dev)
    x1 = torch.rand(1, 3, h, w, device=dev)
    amp = (torch.autocast(device_type=dev.type, dtype=torch.bfloat16) if args.dtype == "bf16"
           else contextlib.nullcontext())
    exclude = (*model.parameters(), *model.buffers(), x0, x1)
    tracker = LiveTensorBytes(exclude) if track else None
    if tracker is not None:
        tracker.watch(model)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
    with torch.inference_mode(), amp, (tracker if tracker is not None else contextlib.nullcontext()):
        out = model(x0, x1, 0.5, scale=scale)
    print(f"phase {args.phase}{' tiny' if args.tiny else ''}{' mhc' if args.mhc else ''}, {h}x{w}, {args.dtype}, "
          f"flow scale {scale}, device {dev}, ssd slice budget {ssd_mod.SSD_SLICE_BYTES / 2**20:.0f} MiB, "
          f"output {tuple(out.shape)}")
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        peak = peak_memory_gib(dev) * GIB
        print(f"peak GPU memory (max_memory_allocated): {peak / GIB:.2f} GiB ({peak / 1e9:.2f} GB), "
              f"of which weights+inputs {base / GIB:.2f} GiB")
    if tracker is not None:
        print(f"peak live tensor bytes (dispatch-mode count): {tracker.peak / GIB:.3f} GiB ({tracker.peak / 1e9:.3f} GB)")
        print(f"peak reached inside module {tracker.peak_at!r}; largest tensors live then:")
        for nbytes, op, shape in tracker.peak_live:
            print(f"  {nbytes / 2**20:10.1f}  {op:<40} {shape}")
        print("largest single tensors:")
        print(f"  {'MiB':>10}  {'op':<40} {'dtype':<15} shape")
        for nbytes, op, shape, dtype in tracker.largest:
            print(f"  {nbytes / 2**20:10.1f}  {op:<40} {str(dtype):<15} {shape}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
