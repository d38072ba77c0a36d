"""Benchmark runner: the peers' protocols (:mod:`vfi_lib.eval.protocols`) on our datasets.

``run_benchmark(model, "snu_film", path, level="hard")`` returns a summary dict and (unless
``write=False``) writes under ``out_dir`` (default ``outputs/benchmarks/``)

- ``<stem>__<run id>.csv``: one row per sample (index, name, t, metrics);
- ``<stem>__<run id>.json``: means, n, the dataset path, and every setting that changes the number
  (rounding, TTA, scale, padding, limit, recursive, dtype, device, peer script, ``settings`` of the
  command line: checkpoint/peer weights, compile, SSM backend);
- ``<stem>__<run id>.md``: a markdown table row for the thesis results table;

with ``stem = <benchmark>[_<level>][_gap<g>][_<resolution>][_<data folder>-<hash>]_<model name>
[_tta][_round|_float][_s<scale>][_lim<N>][_recursive][_<dtype>][_compile-<mode>][_<ssm backend>]``
(the non-default settings and, for ``clips``/``bbb`` with a ``--path``, that folder;
:func:`result_stem`) and the run id of :func:`vfi_lib.paths.run_id` (``-2``, ``-3``, ... when
taken), so no run overwrites another's files. :func:`latest_results`
reads back the newest file of each stem. Samples run one at a time
(batch 1, as the peers) in the dataset's deterministic order; ``limit`` keeps the first N.
Images are RGB here, BGR in the peers' cv2 code: PSNR, IE, the per-channel skimage SSIM and the
3-D ``ssim_matlab`` (symmetric window and padding along the channel axis) are all invariant to
reversing the channel order, so the numbers compare directly.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn as nn
from tqdm.auto import tqdm

from vfi_lib.eval.metrics import interpolation_error, psnr, quantize, skimage_psnr_ssim, ssim_matlab
from vfi_lib.eval.protocols import SNU_LEVELS, Protocol, get_protocol
from vfi_lib.infer.interpolate import predict, predict_multi
from vfi_lib.infer.tiling import crop_pads, pad_to_multiple
from vfi_lib.paths import outputs_dir, path_tag, project_path, result_path, run_id, safe_stem

METRIC_LABELS = {"psnr": "PSNR", "ssim": "SSIM", "ie": "IE", "psnr_skimage": "PSNR", "ssim_skimage": "SSIM"}


def open_dataset(benchmark: str, path: str | Path, level: str | None, protocol: Protocol, gap: int = 1):
    """The test set of ``benchmark`` in its on-disk layout (``vfi_lib.data`` classes).

    XTest is read at native 4K; the 2K protocol resizes the float images itself (as the peers do).
    """
    if benchmark == "vimeo90k":
        from vfi_lib.data.vimeo90k import Vimeo90K

        return Vimeo90K(path, split="test")
    if benchmark == "bbb":  # our hold-out: the last 30 Big Buck Bunny frames (never trained on)
        from vfi_lib.data.bbb import BBBSequence

        return BBBSequence(str(path) or None, "val")
    if benchmark == "clips":  # your own footage: never trained on, every clean triplet at one gap
        from vfi_lib.data.video_clips import VideoClips

        return VideoClips(path, "test", crop_size=None, val_fraction=0.0, test_gap=gap, progress=False)
    if benchmark == "ucf101":
        from vfi_lib.data.ucf101 import UCF101

        return UCF101(path)
    if benchmark == "middlebury":
        from vfi_lib.data.middlebury import Middlebury

        return Middlebury(path)
    if benchmark == "snu_film":
        from vfi_lib.data.snu_film import SNUFilm

        return SNUFilm(path, level=level)
    if benchmark == "xtest":
        from vfi_lib.data.xtest import XTest

        return XTest(path, resolution="4k", multiple=protocol.multiple or 8)
    if benchmark == "xiph":
        from vfi_lib.data.xtest import Xiph

        return Xiph(path, resolution="2k" if protocol.resize else "4k")
    raise ValueError(f"unknown benchmark {benchmark!r}")


def protocol_input(x: torch.Tensor, protocol: Protocol, device) -> torch.Tensor:
    """uint8 (3, H, W) -> float (1, 3, H', W') in [0, 1], with the protocol's float-space resize."""
    if protocol.resize_space == "float":
        a = x.permute(1, 2, 0).numpy().astype(np.float32) * (1.0 / 255.0)  # as the peers
        a = cv2.resize(a, protocol.resize, interpolation=cv2.INTER_AREA)  # (H', W', 3)
        return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].to(device)
    return (x.float() / 255.0)[None].to(device)


class _Predictor:
    """Protocol padding + model call (+ recursive 2x with a one-pair cache for XTest)."""

    def __init__(self, model: nn.Module, protocol: Protocol, tta: bool, dtype: str | None, recursive: bool):
        self.model, self.p, self.tta, self.dtype, self.recursive = model, protocol, tta, dtype, recursive
        self._cache: tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]] | None = None

    def __call__(self, x0: torch.Tensor, x1: torch.Tensor, t: float) -> torch.Tensor:
        x0p, pads = pad_to_multiple(x0, self.p.pad)  # peers' InputPadder (centred, replicate)
        x1p, _ = pad_to_multiple(x1, self.p.pad)
        kw = dict(scale=self.p.scale, tta=self.tta, dtype=self.dtype)
        if not self.recursive:
            return crop_pads(predict(self.model, x0p, x1p, t, **kw), pads)
        n = self.p.multiple or 2
        k = round(t * n)
        if abs(k / n - t) > 1e-6:
            raise ValueError(f"--recursive needs t = k/{n}, got t = {t}")
        if self._cache is None or not (torch.equal(self._cache[0], x0) and torch.equal(self._cache[1], x1)):
            n_exp = int(round(np.log2(n)))
            self._cache = (x0, x1, predict_multi(self.model, x0p, x1p, n_exp, recursive=True, **kw))
        return crop_pads(self._cache[2][k - 1], pads)


def _sample_metrics(pred: torch.Tensor, gt: torch.Tensor, gt_u8: torch.Tensor, p: Protocol, rounded: bool) -> dict:
    """Metrics of one sample: pred float (1, 3, H, W); gt float (1, 3, H, W); gt_u8 (3, H, W)."""
    out = {}
    pm = quantize(pred) if rounded else pred
    if "psnr" in p.metrics:
        out["psnr"] = float(psnr(pm, gt)[0])
    if "ssim" in p.metrics:
        out["ssim"] = float(ssim_matlab(pm, gt, val_range=1.0)[0])
    if "ie" in p.metrics:
        out["ie"] = float(interpolation_error(pred, gt)[0])
    if "psnr_skimage" in p.metrics:
        pu8 = (pred[0].clamp(0, 1) * 255.0).round().byte().permute(1, 2, 0).cpu().numpy()
        out["psnr_skimage"], out["ssim_skimage"] = skimage_psnr_ssim(pu8, gt_u8.permute(1, 2, 0).numpy())
    return out


def run_benchmark(
    model: nn.Module,
    name: str,
    path: str | Path,
    *,
    level: str | None = None,
    resolution: str | None = None,
    tta: bool = False,
    round: bool | None = None,
    scale: float | None = None,
    limit: int | None = None,
    recursive: bool = False,
    device: str | torch.device | None = None,
    dtype: str | None = None,
    model_name: str | None = None,
    out_dir: str | Path | None = None,
    write: bool = True,
    progress: bool = True,
    settings: dict | None = None,
    gap: int | None = None,
) -> dict:
    """Evaluate ``model`` on benchmark ``name`` with the peer protocol; returns the summary dict
    (``summary["samples"]`` holds the per-sample rows).

    round: None = the protocol's rounding, True/False = force (recorded). scale: None = protocol.
    level: SNU-FILM level (default "extreme"); resolution: "2k" | "4k" for xtest / xiph.
    recursive: XTest t = k/8 by recursive 2x (VFIMamba) instead of direct t (EMA-VFI).
    gap: clips only, the frame gap g of the triplets (i, i+g, i+2g) (default 1).
    out_dir: result folder (default ``outputs[/smoke]/benchmarks``). settings: extra settings to
    record (the CLI passes its model flags: checkpoint, peer weights, compile, SSM backend).
    """
    protocol = get_protocol(name, resolution)
    if name == "snu_film":
        level = level or "extreme"
        if level not in SNU_LEVELS:
            raise ValueError(f"snu_film: level must be one of {SNU_LEVELS}, got {level!r}")
    elif level is not None:
        raise ValueError(f"{name}: --level applies to snu_film only, got {level!r}")
    if recursive and name != "xtest":
        raise ValueError(f"{name}: --recursive applies to xtest only")
    if gap is not None and name != "clips":
        raise ValueError(f"{name}: --gap applies to clips only")
    gap = int(gap or 1) if name == "clips" else None
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    rounded = protocol.round if round is None else bool(round)
    if scale is not None:  # a float, or several (per-sample choice: ThesisModel.forward)
        protocol = replace(protocol, scale=tuple(float(x) for x in scale) if isinstance(scale, (tuple, list))
                           else float(scale))
    if device is None:
        p0 = next(iter(model.parameters()), None)
        device = p0.device if p0 is not None else torch.device("cpu")
    device = torch.device(device)
    model = model.to(device).eval()
    model_name = model_name or getattr(model, "name", None) or type(model).__name__

    dataset = open_dataset(name, path, level, protocol, gap=gap or 1)
    n = len(dataset) if limit is None else min(limit, len(dataset))
    run = _Predictor(model, protocol, tta, dtype, recursive)
    rows: list[dict] = []
    start = time.perf_counter()
    desc = "-".join(x for x in (name, level, resolution, f"gap{gap}" if gap else None) if x)
    with torch.no_grad():
        for i in tqdm(range(n), desc=desc, disable=not progress, dynamic_ncols=True):
            item = dataset[i]
            x0, x1 = protocol_input(item["img0"], protocol, device), protocol_input(item["img1"], protocol, device)
            gt = protocol_input(item["gt"], protocol, device)
            t = float(item["t"])
            pred = run(x0, x1, t)  # (1, 3, H, W) float
            rows.append({"index": i, "name": item["name"], "t": round_t(t),
                         **_sample_metrics(pred, gt, item["gt"], protocol, rounded)})
    elapsed = time.perf_counter() - start

    metric_keys = list(protocol.metrics)
    summary = {
        "key": "_".join(x for x in (name, level, resolution.lower() if resolution else None) if x),  # vfi_lib.eval.sota keys
        "benchmark": name,
        "protocol": protocol.key,
        "peer_script": protocol.peer_script,
        "level": level,
        "gap": gap,
        "resolution": resolution.lower() if resolution else None,
        "model": model_name,
        "n": len(rows),
        "n_total": len(dataset),
        **{m: float(np.mean([r[m] for r in rows])) for m in metric_keys},
        "rounding": "uint8" if rounded else "float",
        "tta": bool(tta),
        "scale": protocol.scale,
        "padding": protocol.pad,
        "resize": list(protocol.resize) if protocol.resize else None,
        "crop": list(protocol.crop) if protocol.crop else None,
        "limit": limit,
        "recursive": bool(recursive) if name == "xtest" else None,
        "dtype": dtype or "fp32",
        "model_pad_multiple": int(getattr(model, "pad_multiple", 1) or 1),
        "device": str(device),
        "path": str(Path(path).resolve()) if str(path) else "",
        "settings": dict(settings or {}),
        "run_id": run_id(),
        "elapsed_s": float(f"{elapsed:.3f}"),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    summary["stem"] = result_stem(summary, rounded_default=protocol.round)
    if write:
        summary["files"] = _write_results(summary, rows, metric_keys, out_dir)
    summary["samples"] = rows
    return summary


def round_t(t: float) -> float:
    return float(f"{t:.6f}")


# benchmarks whose data is whatever folder --path names (not one fixed test set): the folder is in the name
PATH_NAMED = ("clips", "bbb")


def result_stem(summary: dict, rounded_default: bool | None = None) -> str:
    """``<benchmark>[_<level>][_gap<g>][_<resolution>][_<data>]_<model>`` plus every non-default setting
    that changes the number: ``_tta``, ``_round``/``_float`` (rounding other than the protocol's),
    ``_s<scale>`` (flow scale other than the protocol's), ``_lim<N>``, ``_recursive``, ``_<dtype>``
    (not fp32), and the compile mode / SSM backend when the command line set them.

    ``<data>``: for ``clips`` and ``bbb`` (:data:`PATH_NAMED`) given a ``--path``, the folder's last
    name and a short hash of its resolved path (:func:`vfi_lib.paths.path_tag`, e.g.
    ``footage-3f9a1c``), so runs on different footage never share a name."""
    data = path_tag(summary["path"]) if summary["benchmark"] in PATH_NAMED and summary.get("path") else None
    parts = [summary["benchmark"], summary.get("level"), f"gap{summary['gap']}" if summary.get("gap") else None,
             summary.get("resolution"), data, summary["model"]]
    if summary.get("tta"):
        parts.append("tta")
    if rounded_default is not None and (summary.get("rounding") == "uint8") != rounded_default:
        parts.append("round" if summary.get("rounding") == "uint8" else "float")
    default_scale = get_protocol(summary["benchmark"], summary.get("resolution")).scale
    sc = summary.get("scale")
    if sc is not None and sc != default_scale:
        parts.append("s" + ("-".join(f"{x:g}" for x in sc) if isinstance(sc, (tuple, list)) else f"{sc:g}"))
    if summary.get("limit"):
        parts.append(f"lim{summary['limit']}")
    if summary.get("recursive"):
        parts.append("recursive")
    if summary.get("dtype") not in (None, "fp32"):
        parts.append(summary["dtype"])
    st = summary.get("settings") or {}
    if st.get("compile") not in (None, "off"):
        parts.append(f"compile-{st['compile']}")
    if st.get("ssm_backend") not in (None, "auto"):
        parts.append(st["ssm_backend"])
    return safe_stem("_".join(str(p) for p in parts if p))


def markdown_row(summary: dict) -> tuple[str, str]:
    """(header, row) of the markdown results table."""
    from vfi_lib.viz.tables import markdown_table

    metrics = [k for k in ("psnr", "ssim", "ie", "psnr_skimage", "ssim_skimage") if k in summary]
    bench = summary["benchmark"] + "".join(f" {summary[k]}" for k in ("level", "resolution") if summary.get(k)) + (
        f" gap {summary['gap']}" if summary.get("gap") else "")
    fmt = {"psnr": "{:.2f}", "psnr_skimage": "{:.2f}", "ssim": "{:.4f}", "ssim_skimage": "{:.4f}", "ie": "{:.3f}"}
    row = {"model": summary["model"], "benchmark": bench, **{METRIC_LABELS[m]: fmt[m].format(summary[m]) for m in metrics},
           "n": summary["n"], "rounding": summary["rounding"], "TTA": summary["tta"], "scale": summary["scale"],
           "pad": summary["padding"], "limit": summary["limit"] if summary["limit"] is not None else "all"}
    lines = markdown_table([row], floatfmt="g").splitlines()
    return "\n".join(lines[:2]), lines[2]


def latest_results(out_dir: str | Path | None = None) -> list[dict]:
    """The newest summary JSON of each result stem under ``out_dir`` (default ``outputs[/smoke]/benchmarks``)."""
    d = project_path(out_dir) if out_dir is not None else outputs_dir("benchmarks", create=False)
    newest: dict[str, tuple[float, dict]] = {}
    for f in sorted(d.glob("*__*.json")) if d.is_dir() else []:
        try:
            res = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if not isinstance(res, dict) or "benchmark" not in res:
            continue
        stem = res.get("stem") or f.name.split("__")[0]
        mtime = f.stat().st_mtime
        if stem not in newest or mtime >= newest[stem][0]:
            newest[stem] = (mtime, res)
    return [v[1] for _, v in sorted(newest.items())]


def _write_results(summary: dict, rows: list[dict], metric_keys: list[str], out_dir: str | Path | None) -> dict:
    stem = summary["stem"]
    csv_path, json_path, md_path = (result_path("benchmarks", stem, ext, out_dir) for ext in ("csv", "json", "md"))
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["index", "name", "t", *metric_keys])
        w.writeheader()
        w.writerows(rows)
    files = {"csv": str(csv_path), "json": str(json_path), "md": str(md_path)}
    json_path.write_text(json.dumps({**summary, "files": files}, indent=2) + "\n")
    header, row = markdown_row(summary)
    md_path.write_text(f"{header}\n{row}\n")
    return files
