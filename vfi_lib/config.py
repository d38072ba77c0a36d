"""One typed configuration for model and training, with phase presets and ablation switches.

``preset("phase1", backbone_mode="hybrid", use_mhc=True)`` returns a :class:`Config`; keyword
overrides are looked up in :class:`ModelConfig` first, then :class:`TrainConfig` (or given dotted,
``**{"train.lr": 1e-4}``). Unknown keys and bad values raise :class:`ConfigError` naming the key
and the allowed values. ``Config.to_dict()`` / ``Config.from_dict()`` (and the JSON helpers)
round-trip exactly; this is what is saved beside every checkpoint and run.

Phases (thesis plan, "Research Phases"):
  phase1  hybrid LGS backbone, direct synthesis (~1.26M params), Vimeo90K.
  phase2  + IFNet-style flow with timestep, pre-warping, U-Net refinement (~9.0M params).
  phase3  phase-2 model, Vimeo90K + X4K1000FPS 2:1 mix, 256x256 crops, stride 8..32.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

BACKBONE_MODES = ("hybrid", "mamba2_only", "gated_attn_only")
SSM_BACKENDS = ("auto", "torch", "triton")
AMP_MODES = ("auto", "bf16", "fp16", "off")
COMPILE_MODES = ("off", "default", "cudagraphs", "regional")
DATASETS = ("vimeo90k", "x4k_mix", "synthetic", "sample", "bbb", "video")
FLOW_ARCHS = ("ifnet", "rife4")
# Model fields a flow architecture does not read (our IFNet's): between two configs of that architecture
# they do not change the weights, so checkpoints do not compare them (vfi_lib.checkpoint.model_config_diff).
FLOW_ARCH_UNUSED_FIELDS: dict[str, frozenset[str]] = {
    "ifnet": frozenset(),
    "rife4": frozenset({"flow_channels", "flow_depth", "flow_use_features", "flow_feat_channels", "flow_corr_radius",
                        "flow_corr_channels", "flow_corr_stride", "flow_corr_refine_radius"}),
}


class ConfigError(ValueError):
    """A configuration key or value is not valid; the message names it and what is allowed."""


@dataclass
class ModelConfig:
    """Architecture. Shapes are (B, C, H, W); images RGB in [0, 1]."""

    phase: int = 1  # 1: direct synthesis; 2/3: flow-guided model (same architecture for 2 and 3)
    backbone_mode: str = "hybrid"  # hybrid | mamba2_only | gated_attn_only (ablation switch)
    use_mhc: bool = False  # manifold-constrained hyper-connections around the branch fusion
    mhc_n: int = 4  # width of the mHC residual stream (copies), 4 as in the mHC paper
    mhc_sinkhorn_iters: int = 20  # log-space Sinkhorn-Knopp iterations for H_res
    ssm_backend: str = "auto"  # auto | torch | triton (mamba_ssm kernels, CUDA only)
    # --- shallow conv encoder (shared by both frames) ---
    enc_channels: tuple[int, ...] = (16, 32)  # channels per stride-2 stage; features at 1/2**len
    # --- LGS stages (cross-frame) ---
    stage_dims: tuple[int, ...] = (64, 96)  # channels of each LGS stage
    depths: tuple[int, ...] = (2, 2)  # LGS blocks per stage
    num_heads: tuple[int, ...] = (2, 3)  # attention heads per stage
    window_size: int = 8  # gated window attention window (Swin-style, shifted every other block)
    d_state: int = 64  # Mamba2 SSM state size N
    headdim: int = 32  # Mamba2 head dimension P
    expand: int = 2  # Mamba2 inner expansion
    d_conv: int = 4  # Mamba2 causal depthwise conv width
    chunk_size: int = 64  # SSD chunk length: exact for any value (speed and memory only); 64 beat 256 eager on an H200 (1080p 97 vs 124 ms, training 1.24x)
    ssd_half_matmuls: bool = False  # torch SSD: C B^T, chunk states and C h on half operands too (see vfi_lib.ssm.ssd.ssd_chunked; compiled 1080p on an H100 39.7 ms without, 77.9 ms with, in two runs)
    cross_frame_scan: bool = True  # interleaved f0/f1 tokens (VFIMamba) instead of per-frame scans
    ecab_ratio: float = 1.0  # ECAB hidden width / C (conv3x3-GELU-conv3x3); 1.0 keeps phase 1 at ~1.26M (2.0 gave 1.84M)
    matvlm_init: bool = False  # with train.init_from: every LGS block's Mamba2 x/B/C/out from the checkpoint's trained attention (MaTVLM)
    # --- phase 1: direct synthesis head ---
    synth_channels: int = 16  # decoder width at full resolution (coarser levels reuse the stage/encoder widths)
    # --- phase 2/3: flow, warping, refinement ---
    # ifnet: our 3-block IFNet conditioned on LGS features (below); rife4: Practical-RIFE 4.2x's 5-block IFNet
    # (vfi_lib.model.peers.rife_v4; no LGS features), to start from its released weights (train.init_flow_from)
    flow_arch: str = "ifnet"
    flow_channels: tuple[int, ...] = (192, 128, 96)  # IFNet block widths, coarse -> fine
    flow_scales: tuple[int, ...] = (4, 2, 1)  # downscale of each IFNet block
    flow_depth: int = 8  # residual 3x3 convs per IFNet block, at 1/4 of the block's resolution (RIFE 4.x: 8)
    flow_use_features: bool = True  # condition the flow blocks on LGS features
    flow_feat_channels: int = 16  # LGS features are 1x1-projected to this many channels per frame for the flow blocks
    flow_corr_radius: int = 4  # > 0: the IFNet starts from a symmetric cost volume's soft-argmin flow (vfi_lib.model.cost_volume), +-sR px of the first block's grid; 0: off (checkpoints before 2026-12-07)
    flow_corr_channels: int = 32  # feature channels of the cost volume's encoder
    flow_corr_stride: int = 2  # the cost volume's grid: 1/stride of the first block's grid (1, 2 or 4)
    flow_corr_refine_radius: int = 3  # > 0 (with flow_corr_radius): a local volume around the running flow before every later block, +-4r px of its grid
    feature_prewarp: bool = True  # warp backbone features to time t before synthesis
    refine_channels: tuple[int, ...] = (32, 64, 160, 256)  # U-Net widths, fine -> coarse (level 2 = 1/4 also takes the pre-warped LGS features); phase 2 at ~9.0M

    def __post_init__(self) -> None:
        _check_choice("model.backbone_mode", self.backbone_mode, BACKBONE_MODES)
        _check_choice("model.ssm_backend", self.ssm_backend, SSM_BACKENDS)
        _check_choice("model.flow_arch", self.flow_arch, FLOW_ARCHS)
        if self.phase not in (1, 2, 3):
            raise ConfigError(f"model.phase must be 1, 2 or 3, got {self.phase!r}")
        if not (len(self.stage_dims) == len(self.depths) == len(self.num_heads)):
            raise ConfigError(
                "model.stage_dims, model.depths and model.num_heads must have the same length, got "
                f"{self.stage_dims}, {self.depths}, {self.num_heads}"
            )
        for d, h in zip(self.stage_dims, self.num_heads):
            if d % h:
                raise ConfigError(f"model.stage_dims entry {d} is not divisible by num_heads {h}")
        if len(self.flow_channels) != len(self.flow_scales):
            raise ConfigError("model.flow_channels and model.flow_scales must have the same length")
        if self.synth_channels < 1:
            raise ConfigError(f"model.synth_channels must be >= 1, got {self.synth_channels}")
        if self.flow_depth < 0 or self.flow_feat_channels < 1:
            raise ConfigError(
                f"model.flow_depth must be >= 0 and model.flow_feat_channels >= 1, got {self.flow_depth}, "
                f"{self.flow_feat_channels}"
            )
        if (self.flow_corr_radius < 0 or self.flow_corr_channels < 2 or self.flow_corr_stride not in (1, 2, 4)
                or self.flow_corr_refine_radius < 0):
            raise ConfigError(
                f"model.flow_corr_radius and model.flow_corr_refine_radius must be >= 0 (0: off), "
                f"model.flow_corr_channels >= 2 and model.flow_corr_stride 1, 2 or 4, got {self.flow_corr_radius}, "
                f"{self.flow_corr_refine_radius}, {self.flow_corr_channels}, {self.flow_corr_stride}"
            )
        if self.mhc_n < 1:
            raise ConfigError(f"model.mhc_n must be >= 1, got {self.mhc_n}")
        for name in ("window_size", "d_state", "headdim", "expand", "d_conv", "chunk_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")

    @property
    def pad_multiple(self) -> int:
        """Inputs are padded to a multiple of this (encoder stride x attention window)."""
        return 2 ** len(self.enc_channels) * self.window_size * (2 ** (len(self.stage_dims) - 1))


@dataclass
class TrainConfig:
    """Optimisation, data and run bookkeeping. Every field is a CLI flag of ``vfi_lib.train``."""

    exp_name: str = "phase1_hybrid"  # run name: ckpt/<exp_name>/, log/<exp_name>/
    dataset: str = "vimeo90k"  # vimeo90k | x4k_mix (phase 3) | synthetic | sample | bbb | video (your own footage)
    data_path: str = ""  # Vimeo90K triplet root (tri_trainlist.txt, sequences/); bbb: frame directory; video: folder of video files and/or frame folders (searched recursively)
    video_max_gap: int = 2  # --dataset video: frame gap k drawn in 1..G (triplets i, i+k, i+2k; arbitrary-t spans 2..2G)
    video_val_fraction: float = 0.1  # --dataset video: the last fraction of every clip is held out for validation (never trained on)
    video_cut_threshold: float = 0.15  # --dataset video: scene-cut threshold on 32x32 thumbnails (fraction of 255, as the video demo)
    video_index: str = ""  # --dataset video: index cache file or directory ("" = DATA_PATH/.vfi_video_index.json, or ~/.cache/vfi_lib if read-only)
    x4k_path: str = ""  # X4K1000FPS root (phase 3 mix)
    x4k_stride: tuple[int, int] = (8, 32)  # temporal stride range sampled uniformly (phase 3)
    mix_ratio: tuple[int, int] = (2, 1)  # Vimeo : X4K samples per batch stream (phase 3)
    epochs: int = 300
    batch_size: int = 4  # per process
    grad_accum: int = 1  # micro-batches per optimizer step
    lr: float = 2e-4  # peak AdamW learning rate
    min_lr: float = 2e-6  # cosine floor
    weight_decay: float = 1e-4
    warmup_steps: int = -1  # linear warmup steps, then cosine to min_lr (-1: auto = min(2000, 10% of the run's steps))
    grad_clip: float = 1.0  # max grad norm
    amp: str = "auto"  # auto (bf16 if supported, else fp16+GradScaler; off on CPU) | bf16 | fp16 | off
    ema: bool = False  # keep an exponential moving average of the weights
    compile: str = "off"  # torch.compile the training step: off | default | cudagraphs | regional (the blocks only; the first steps pay the compile)
    device: str = "auto"  # auto (CUDA if available; under torchrun cuda:LOCAL_RANK) | cpu | cuda
    ema_decay: float = 0.999
    crop_size: int = 256  # random crop (final size of the curriculum)
    crop_schedule: tuple[tuple[int, int], ...] = ()  # ((start_epoch, crop), ...) curriculum
    num_workers: int = -1  # data loader workers per process (-1: auto = min(4, CPU cores - 1))
    persistent_workers: bool = True  # keep the training loader's workers across epochs (each item carries its epoch); a 4-step BBB epoch restarted them every 4 steps
    seed: int = 1234
    eval_interval: int = 1  # validate every N epochs
    val_interval_steps: int = 0  # also validate every N optimizer steps (0: at epoch ends only); curves for long epochs / short runs
    ckpt_interval: int = 1000  # also checkpoint every N optimizer steps (0: epochs only)
    keep_epoch_ckpts: int = 0  # keep only the newest N epoch_NNN.pt files (0: keep all) [train engineer]
    log_interval: int = 50  # TensorBoard scalars every N steps
    max_steps: int = 0  # stop after N optimizer steps (0: no limit), for smoke runs
    max_minutes: float = 0.0  # stop (checkpoint + validate) after N minutes of wall time (0: no limit)
    val_limit: int = 0  # evaluate on the first N validation samples (0: all)
    dry_run: bool = False  # a few steps of train and eval, then exit 0
    ckpt_dir: str = "ckpt"
    log_dir: str = "log"
    resume: str = ""  # explicit checkpoint to resume from ("" = ckpt/<exp>/latest.pt if present)
    no_resume: bool = False  # start fresh even if a latest checkpoint exists
    init_from: str = ""  # fresh run initialised from a checkpoint's matching weights (phase 1 -> 2 -> 3)
    init_flow_from: str = ""  # fresh run: the flow estimator from Practical-RIFE 4.2x's released flownet.pkl (needs model.flow_arch rife4)
    flow_lr_scale: float = 1.0  # learning rate of the flow estimator = lr x this (e.g. 0.1 to fine-tune pretrained flow; 0 freezes it)
    vgg_weights: str = ""  # torchvision-format VGG-19 state_dict (.pth); required if w_vgg > 0
    # loss weights (phase-aware: presets set them)
    w_lap: float = 1.0  # Laplacian-pyramid L1
    # census / ternary (0..255 intensities, UnFlow). Weight from the gradient balance on the 6 embedded
    # real triplets (448x256), prediction = the 0.5/0.5 blend: ||d LapLoss/d pred||_2 = 1.15e-3,
    # ||d Ternary/d pred||_2 = 4.47e-2 (loss 0.0207 vs 0.136), so 0.025 x Ternary pulls like LapLoss
    # (1.12e-3). The old [0, 1]-intensity Ternary at weight 1.0 had 4.5e-4 (~100x below the x255 form).
    w_ternary: float = 0.025
    w_vgg: float = 0.0  # VGG-19 perceptual
    w_flow_smooth: float = 0.0  # edge-aware flow smoothness (phase 2+)
    w_flow_sup: float = 0.0  # L1 to the ground-truth flows of --dataset synthetic, px (phase 2+; RIFE's flow distillation uses 0.01)

    def __post_init__(self) -> None:
        _check_choice("train.amp", self.amp, AMP_MODES)
        _check_choice("train.dataset", self.dataset, DATASETS)
        for name in ("epochs", "batch_size", "grad_accum", "crop_size", "eval_interval"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("ckpt_interval", "max_steps", "val_limit", "keep_epoch_ckpts", "val_interval_steps"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.{name} must be >= 0, got {getattr(self, name)}")
        if self.warmup_steps < -1:
            raise ConfigError(f"train.warmup_steps must be >= 0, or -1 for auto; got {self.warmup_steps}")
        if self.num_workers < -1:
            raise ConfigError(f"train.num_workers must be >= 0, or -1 for auto; got {self.num_workers}")
        if isinstance(self.compile, bool):  # configs saved before compile took a mode
            self.compile = "default" if self.compile else "off"
        _check_choice("train.compile", self.compile, COMPILE_MODES)
        if self.device != "auto" and not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ConfigError(f"train.device must be auto, cpu, cuda or cuda:N; got {self.device!r}")
        lo, hi = self.x4k_stride
        if not 1 <= lo <= hi:
            raise ConfigError(f"train.x4k_stride must be (lo, hi) with 1 <= lo <= hi, got {self.x4k_stride}")
        if self.video_max_gap < 1 or not 0.0 <= self.video_val_fraction < 1.0:
            raise ConfigError(f"train.video_max_gap must be >= 1 and train.video_val_fraction in [0, 1), got "
                              f"{self.video_max_gap}, {self.video_val_fraction}")
        if self.max_minutes < 0:
            raise ConfigError(f"train.max_minutes must be >= 0, got {self.max_minutes}")
        if self.lr <= 0:
            raise ConfigError(f"train.lr must be > 0, got {self.lr}")
        if self.flow_lr_scale < 0:
            raise ConfigError(f"train.flow_lr_scale must be >= 0 (0 freezes the flow estimator), got {self.flow_lr_scale}")

    def crop_at(self, epoch: int) -> int:
        """Crop size of the curriculum at ``epoch`` (last schedule entry whose start <= epoch)."""
        size = self.crop_size
        for start, crop in sorted(self.crop_schedule):
            if epoch >= start:
                size = crop
        return size


@dataclass
class Config:
    """The whole configuration saved with every run and checkpoint."""

    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    preset: str = "phase1"  # name of the preset this was built from (informational)

    def to_dict(self) -> dict[str, Any]:
        return {"preset": self.preset, "model": _to_plain(self.model), "train": _to_plain(self.train)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Config":
        if not isinstance(d, dict):
            raise ConfigError(f"config must be a dict, got {type(d).__name__}")
        unknown = set(d) - {"model", "train", "preset"}
        if unknown:
            raise ConfigError(f"unknown top-level config keys {sorted(unknown)}; allowed: model, train, preset")
        return cls(
            model=_from_plain(ModelConfig, d.get("model", {}), "model"),
            train=_from_plain(TrainConfig, d.get("train", {}), "train"),
            preset=str(d.get("preset", "custom")),
        )

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> "Config":
        p = Path(text_or_path)
        text = p.read_text() if (isinstance(text_or_path, Path) or not str(text_or_path).lstrip().startswith("{")) else str(text_or_path)
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"config JSON {text_or_path!s:.80} is not valid JSON: {e}") from None
        return cls.from_dict(d)

    def override(self, **overrides: Any) -> "Config":
        """Return a copy with ``key=value`` overrides (model field, train field, or dotted)."""
        d = self.to_dict()
        model_keys = {f.name for f in dataclasses.fields(ModelConfig)}
        train_keys = {f.name for f in dataclasses.fields(TrainConfig)}
        for key, value in overrides.items():
            if "." in key:
                section, name = key.split(".", 1)
                if section not in ("model", "train"):
                    raise ConfigError(f"unknown config section {section!r} in {key!r}; use model.* or train.*")
                keys = model_keys if section == "model" else train_keys
                if name not in keys:
                    raise ConfigError(f"unknown config key {key!r}; {section} keys: {', '.join(sorted(keys))}")
            elif key in model_keys:
                section, name = "model", key
            elif key in train_keys:
                section, name = "train", key
            else:
                raise ConfigError(
                    f"unknown config key {key!r}. Model keys: {', '.join(sorted(model_keys))}. "
                    f"Train keys: {', '.join(sorted(train_keys))}"
                )
            d[section][name] = _to_plain(value)
        return Config.from_dict(d)


# Model fields added after checkpoints had been written, with the value that rebuilds those checkpoints'
# architecture. A saved config lists every field of its time, so a missing one means "before the field".
LEGACY_MODEL_VALUES: dict[str, Any] = {"flow_corr_radius": 0}


def upgrade_saved_config(d: dict[str, Any]) -> dict[str, Any]:
    """A config dict read from a checkpoint or run directory, with :data:`LEGACY_MODEL_VALUES` for the
    fields it predates (the rest of the dict unchanged)."""
    model = dict(d.get("model", {}))
    for k, v in LEGACY_MODEL_VALUES.items():
        model.setdefault(k, v)
    return {**d, "model": model}


# ----------------------------------------------------------------------------- presets
# Each preset is a small override of the dataclass defaults (the defaults are phase 1).
PRESETS: dict[str, dict[str, Any]] = {
    "phase1": {},
    "phase2": {
        "model.phase": 2,
        "train.exp_name": "phase2_hybrid",
        "train.w_flow_smooth": 0.01,
    },
    "phase3": {
        "model.phase": 3,
        "train.exp_name": "phase3_hybrid",
        "train.dataset": "x4k_mix",
        "train.crop_size": 256,
        "train.w_flow_smooth": 0.01,
        "train.w_vgg": 0.0,
    },
}
# Ablation grid of the thesis plan (exp1a/exp1b/exp1h).
ABLATIONS: dict[str, dict[str, Any]] = {
    "hybrid": {"backbone_mode": "hybrid", "use_mhc": False},
    "mamba2_only": {"backbone_mode": "mamba2_only", "use_mhc": False},
    "gated_attn_only": {"backbone_mode": "gated_attn_only", "use_mhc": False},
    "hybrid_mhc": {"backbone_mode": "hybrid", "use_mhc": True},
}
# Tiny model for smoke runs and tests (CPU, seconds); keeps every component switched on.
TINY: dict[str, Any] = {
    "model.enc_channels": (8, 16),
    "model.stage_dims": (24,),
    "model.depths": (2,),
    "model.num_heads": (2,),
    "model.window_size": 4,
    "model.d_state": 16,
    "model.headdim": 8,
    "model.chunk_size": 64,
    "model.flow_channels": (32, 24, 16),
    "model.flow_corr_channels": 8,
    "model.refine_channels": (8, 16, 24, 32),
}


def parse_overrides(items: Sequence[str], flag: str = "--set") -> dict[str, Any]:
    """``["section.key=VALUE", ...]`` (command-line ``--set``) -> ``{"section.key": value}``, VALUE parsed as JSON
    when it can be (``[16,32,48]``, ``4``, ``true``), else kept as text; :meth:`Config.override` checks the keys."""
    out: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"{flag} expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = json.loads(value.strip())
        except json.JSONDecodeError:
            out[key.strip()] = value.strip()
    return out


def preset(name: str = "phase1", *, tiny: bool = False, **overrides: Any) -> Config:
    """Build a config from a preset name plus overrides.

    ``preset("phase1", backbone_mode="mamba2_only")``, ``preset("phase2", tiny=True)``.
    ``tiny=True`` shrinks the model for smoke runs (every component stays on).
    """
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}")
    cfg = Config(preset=name).override(**PRESETS[name])
    if tiny:
        cfg = cfg.override(**TINY)
    return cfg.override(**overrides) if overrides else cfg


# ----------------------------------------------------------------------------- helpers
def _check_choice(key: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {', '.join(allowed)}; got {value!r}")


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [_to_plain(v) for v in obj]
    return obj


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list/tuple, got {value!r}")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, key) for v in value)
        if len(args) != len(value):
            raise ConfigError(f"{key} must have {len(args)} entries, got {value!r}")
        return tuple(_coerce(a, v, key) for a, v in zip(args, value))
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{key} must be a bool, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ConfigError(f"{key} must be an int, got {value!r}")
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{key} must be an int, got {value!r}") from None
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"{key} must be a number, got {value!r}") from None
    if tp is str:
        if key == "train.compile" and isinstance(value, bool):  # saved before compile took a mode
            return "default" if value else "off"
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    return value


def _from_plain(cls: type, d: Any, section: str) -> Any:
    if not isinstance(d, dict):
        raise ConfigError(f"config section {section!r} must be a dict, got {type(d).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise ConfigError(
            f"unknown {section} config keys {sorted(unknown)}; allowed: {', '.join(sorted(names))}"
        )
    kwargs = {k: _coerce(hints[k], v, f"{section}.{k}") for k, v in d.items()}
    return cls(**kwargs)
