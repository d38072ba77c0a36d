"""Per-benchmark evaluation protocols, as data.

Each entry reproduces the peer script behind the seed's SOTA numbers (EMA-VFI, CVPR 2023 and
VFIMamba, NeurIPS 2024: ``benchmark/*.py``; both repositories use the same protocol; SoftSplat's
``benchmark_xiph.py`` for Xiph). Fields:

- ``round``: predictions rounded to uint8 before the metrics (clamp, round(255 x), / 255).
- ``scale``: the ``scale`` passed to the model (flow estimated at that fraction of the resolution;
  EMA-VFI ``down_scale``, VFIMamba ``scale``).
- ``pad``: explicit centred replicate padding multiple applied before the model, cropped after
  (the peers' ``InputPadder``); 0 = none (the model still pads itself to its own multiple).
- ``resize`` / ``resize_space``: (W, H) cv2.INTER_AREA resize of inputs and GT, done on the float
  [0, 1] images (XTest) or on uint8 (Xiph); ``crop``: centre crop (top, bottom, left, right).
- ``metrics``: "psnr" + "ssim" (our ``psnr`` / ``ssim_matlab``), "ie" (Middlebury), or
  "psnr_skimage" + "ssim_skimage" (SoftSplat).
- ``tta``: what the peers' large models used (EMA-VFI / VFIMamba: 180-degree flip average); our
  runner uses TTA only with ``--tta`` and records it.

| key | peer script | round | scale | pad | extra | metrics |
|---|---|---|---|---|---|---|
| vimeo90k | Vimeo90K.py | no (RIFE: yes, ``--round``) | 1.0 | 0 | 3782 triplets, tri_testlist | psnr, ssim |
| ucf101 | UCF101.py | yes | 1.0 | 0 | 379 triplets (sorted) | psnr, ssim |
| middlebury | MiddleBury.py | yes | 1.0 | 32 | other-data, 12 sequences | ie |
| snu_film | SNU_FILM.py | no | 0.5 | 32 | levels easy/medium/hard/extreme | psnr, ssim |
| xtest_2k | XTest_8X.py / XTEST.py | yes | 0.5 | 32 | float INTER_AREA to 2048x1080; t = k/8 | psnr, ssim |
| xtest_4k | XTest_8X.py / XTEST.py | yes | 0.25 | 32 | native 4096x2160; t = k/8 | psnr, ssim |
| xiph_2k | Xiph.py (SoftSplat) | yes | 0.5 | 16 | uint8 INTER_AREA to 2048x1080 | psnr_skimage, ssim_skimage |
| xiph_4k | Xiph.py (SoftSplat) | yes | 0.5 | 16 | centre crop [540:-540, 1024:-1024] | psnr_skimage, ssim_skimage |

XTest: EMA-VFI calls the model once per target with t = k/8 (``--recursive`` off, our default);
VFIMamba's XTEST.py builds t = k/8 by three levels of recursive 2x on float frames (``--recursive``).
SoftSplat's own Xiph script truncates (``astype(uint8)``) where EMA-VFI/VFIMamba round; we round.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

BENCHMARKS = ("vimeo90k", "ucf101", "middlebury", "snu_film", "xtest", "xiph", "bbb", "clips")
SNU_LEVELS = ("easy", "medium", "hard", "extreme")
RESOLUTIONS = ("2k", "4k")


@dataclass(frozen=True)
class Protocol:
    """How one benchmark is evaluated (see the module table)."""

    key: str  # protocol id, e.g. "xtest_4k"
    benchmark: str  # one of BENCHMARKS
    peer_script: str  # the script reproduced
    round: bool  # round predictions to uint8 before the metrics
    scale: float  # model flow scale
    pad: int  # explicit centred replicate pad multiple (0 = none)
    metrics: tuple[str, ...]  # metric names, see module doc
    peer_tta: bool = True  # TTA used by the peers' large models (our default: off)
    resize: tuple[int, int] | None = None  # (W, H) INTER_AREA resize of inputs and GT
    resize_space: str | None = None  # "float" (XTest) | "uint8" (Xiph)
    crop: tuple[int, int, int, int] | None = None  # centre crop margins (top, bottom, left, right)
    multiple: int | None = None  # XTest: 8 (t = k / 8)
    notes: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


PROTOCOLS: dict[str, Protocol] = {
    p.key: p
    for p in [
        Protocol("vimeo90k", "vimeo90k", "EMA-VFI/VFIMamba benchmark/Vimeo90K.py", False, 1.0, 0,
                 ("psnr", "ssim"), notes="float prediction; RIFE's Vimeo90K.py rounds (use --round)"),
        Protocol("bbb", "bbb", "ours: Big Buck Bunny hold-out (last 30 frames), Vimeo90K protocol", False, 1.0, 0,
                 ("psnr", "ssim"), notes="consecutive triplets of the last 30 frames; --path = frame dir or empty"),
        Protocol("clips", "clips", "ours: your own footage (any folder of videos / frame folders), UCF101-style "
                 "rounding", True, 1.0, 0, ("psnr", "ssim"),
                 notes="every clean triplet (i, i+g, i+2g) of every clip, --gap g (2 = large motion), full frames"),
        Protocol("ucf101", "ucf101", "EMA-VFI/VFIMamba benchmark/UCF101.py", True, 1.0, 0, ("psnr", "ssim"),
                 notes="PSNR and SSIM on the rounded prediction; folders sorted (peers: os.listdir order)"),
        Protocol("middlebury", "middlebury", "EMA-VFI benchmark/MiddleBury.py", True, 1.0, 32, ("ie",),
                 notes="IE = mean |round(255 pred) - gt| per sequence, averaged over sequences"),
        Protocol("snu_film", "snu_film", "EMA-VFI/VFIMamba benchmark/SNU_FILM.py", False, 0.5, 32,
                 ("psnr", "ssim"), notes="float prediction; replicate pad to 32 (centred), crop back"),
        Protocol("xtest_2k", "xtest", "EMA-VFI benchmark/XTest_8X.py, VFIMamba benchmark/XTEST.py", True, 0.5, 32,
                 ("psnr", "ssim"), resize=(2048, 1080), resize_space="float", multiple=8,
                 notes="inputs and GT resized as float32 [0, 1] (GT stays unrounded)"),
        Protocol("xtest_4k", "xtest", "EMA-VFI benchmark/XTest_8X.py, VFIMamba benchmark/XTEST.py", True, 0.25, 32,
                 ("psnr", "ssim"), multiple=8, notes="native 4096x2160"),
        Protocol("xiph_2k", "xiph", "SoftSplat benchmark_xiph.py as in EMA-VFI/VFIMamba benchmark/Xiph.py", True,
                 0.5, 16, ("psnr_skimage", "ssim_skimage"), resize=(2048, 1080), resize_space="uint8",
                 notes="skimage PSNR/SSIM(data_range=255, multichannel) on uint8"),
        Protocol("xiph_4k", "xiph", "SoftSplat benchmark_xiph.py as in EMA-VFI/VFIMamba benchmark/Xiph.py", True,
                 0.5, 16, ("psnr_skimage", "ssim_skimage"), crop=(540, 540, 1024, 1024),
                 notes="skimage PSNR/SSIM(data_range=255, multichannel) on uint8"),
    ]
}


def get_protocol(benchmark: str, resolution: str | None = None) -> Protocol:
    """The protocol of ``benchmark`` (``resolution`` "2k" | "4k" for xtest and xiph, default 4k)."""
    if benchmark not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {benchmark!r}; choose one of {BENCHMARKS}")
    if benchmark in ("xtest", "xiph"):
        res = (resolution or "4k").lower()
        if res not in RESOLUTIONS:
            raise ValueError(f"{benchmark}: resolution must be one of {RESOLUTIONS}, got {resolution!r}")
        return PROTOCOLS[f"{benchmark}_{res}"]
    if resolution is not None:
        raise ValueError(f"{benchmark}: --resolution applies to xtest and xiph only, got {resolution!r}")
    return PROTOCOLS[benchmark]


def protocol_table_markdown() -> str:
    """The protocol table as markdown (for notebooks and the report)."""
    from vfi_lib.viz.tables import markdown_table

    rows = []
    for p in PROTOCOLS.values():
        extra = f"resize {p.resize[0]}x{p.resize[1]} ({p.resize_space})" if p.resize else (
            f"crop {p.crop}" if p.crop else "-")
        rows.append({"key": p.key, "peer script": p.peer_script, "round": p.round, "scale": p.scale, "pad": p.pad,
                     "resize/crop": extra, "metrics": ", ".join(p.metrics)})
    return markdown_table(rows, floatfmt="g")
