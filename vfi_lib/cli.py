"""One flag dialect for every command line, and one error wrapper.

Every CLI (``vfi_lib.train``, ``vfi_lib.eval``, ``vfi_lib.infer.video``, ``vfi_lib.infer.pair``,
``vfi_lib.speed``, ``vfi_lib.speed.timetest``, ``vfi_lib.speed.ssd``) takes its shared flags from
here, with the same names, choices and defaults:

=================  ==========================================================================
``--ckpt``         checkpoint name (``<exp>_best``, ``<exp>_latest``, ``<exp>``) or path
``--baseline``     ``average`` | ``dis`` (no weights)
``--peer``         ``rife-hdv3`` | ``rife-4.2x`` with ``--weights PATH`` (``scripts/fetch_peers.sh``)
``--phase``        an untrained preset model (speed tests only), with ``--tiny``
``--device``       ``auto`` (CUDA if available, else CPU) | ``cpu`` | ``cuda`` | ``cuda:N``
``--dtype``        ``fp32`` | ``bf16`` | ``fp16`` (autocast; fp16 needs a GPU)
``--compile``      ``off`` | ``default`` | ``cudagraphs``; a bare ``--compile`` means ``default``
``--ssm_backend``  ``auto`` | ``torch`` | ``triton``; overrides the backend saved in a checkpoint
=================  ==========================================================================

:func:`main_wrapper` turns the user errors of every layer (bad config, data, checkpoint, backend,
device, peer weights) into one line ``error: ...`` on stderr and exit status 2 (130 on Ctrl-C),
never a traceback; errors raised inside DataLoader workers are reduced to their original line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn as nn

from vfi_lib.config import SSM_BACKENDS
from vfi_lib.model.compile import COMPILE_MODES, compile_model
from vfi_lib.model.precision import DTYPES

__all__ = [
    "CliError",
    "DEVICE_HELP",
    "add_model_args",
    "add_runtime_args",
    "resolve_device",
    "load_model_from_args",
    "model_args_from_spec",
    "model_settings",
    "one_line",
    "main_wrapper",
]

DEVICE_HELP = "auto (CUDA if available, else CPU) | cpu | cuda | cuda:N"
MODEL_SOURCES = ("ckpt", "baseline", "peer", "phase")


class CliError(ValueError):
    """A command-line value cannot be used here (e.g. ``--device cuda`` without CUDA)."""


# ----------------------------------------------------------------------------- flags
def add_model_args(ap: argparse.ArgumentParser, sources: Sequence[str] = ("ckpt", "baseline", "peer"),
                   required: bool = True) -> None:
    """``--ckpt | --baseline | --peer [| --phase]`` (mutually exclusive), ``--weights``, ``--tiny``, ``--ckpt_dir``."""
    from vfi_lib.model.baselines import BASELINES
    from vfi_lib.model.peers import PEERS

    bad = sorted(set(sources) - set(MODEL_SOURCES))
    if bad:
        raise ValueError(f"add_model_args: unknown sources {bad}; choose from {MODEL_SOURCES}")
    g = ap.add_argument_group("model")
    src = g.add_mutually_exclusive_group(required=required)
    if "ckpt" in sources:
        src.add_argument("--ckpt", help="checkpoint name (<exp>_best, <exp>_latest, <exp>) or path")
    if "baseline" in sources:
        src.add_argument("--baseline", choices=BASELINES, help="a reference baseline instead of a checkpoint")
    if "peer" in sources:
        src.add_argument("--peer", choices=PEERS, help="a peer model (RIFE) with released weights (--weights)")
        g.add_argument("--weights", help="peer weights file (flownet.pkl; scripts/fetch_peers.sh fetches them)")
    if "phase" in sources:
        src.add_argument("--phase", type=int, choices=(1, 2, 3), help="an untrained preset model (speed tests)")
        g.add_argument("--tiny", action="store_true", help="with --phase: the tiny smoke-test preset")
        g.add_argument("--set", action="append", default=[], metavar="model.KEY=VALUE",
                       help="with --phase: override a model field of the preset (VALUE as JSON), e.g. "
                            "model.enc_channels=[16,32,48]; repeatable")
    if "ckpt" in sources:
        g.add_argument("--ckpt_dir", help="checkpoint root for names (default <project>/ckpt or $VFI_CKPT_DIR)")


def add_runtime_args(ap: argparse.ArgumentParser, dtype: bool = True, compile: bool = True,
                     multi_dtype: bool = False, ssm_backend: bool = True,
                     helps: dict[str, str] | None = None) -> None:
    """``--device``, ``--dtype`` (``multi_dtype``: one or more), ``--compile [MODE]``, ``--ssm_backend``
    (left out where a tool itself compares backends or compile modes). ``helps``: help texts by flag
    (e.g. ``{"--ssm_backend": ...}``) for a tool where a flag acts differently; names, choices and
    defaults stay the shared ones."""
    helps = dict(helps or {})
    unknown = set(helps) - {"--device", "--dtype", "--compile", "--ssm_backend"}
    if unknown:
        raise ValueError(f"add_runtime_args: helps for unknown flags {sorted(unknown)}")
    g = ap.add_argument_group("runtime")
    g.add_argument("--device", default="auto", help=helps.get("--device", DEVICE_HELP + " (default auto)"))
    if dtype:
        if multi_dtype:
            g.add_argument("--dtype", nargs="+", choices=DTYPES, default=["fp32", "bf16"],
                           help=helps.get("--dtype", "precisions to measure (default fp32 bf16; CPU: fp32 only)"))
        else:
            g.add_argument("--dtype", choices=DTYPES, default="fp32",
                           help=helps.get("--dtype", "autocast precision (default fp32)"))
    if compile:
        g.add_argument("--compile", nargs="?", const="default", default="off", choices=COMPILE_MODES,
                       help=helps.get("--compile", "torch.compile the model: off | default | cudagraphs "
                                      "(bare --compile: default); the first call of each input size compiles"))
    if ssm_backend:
        g.add_argument("--ssm_backend", choices=SSM_BACKENDS, default="auto",
                       help=helps.get("--ssm_backend", "SSD backend: auto (triton on CUDA when importable, else "
                                      "torch) | torch | triton; overrides the backend saved in a checkpoint "
                                      "(default auto)"))


def resolve_device(spec: str | None) -> torch.device:
    """``auto`` -> cuda if available else cpu; a CUDA device without CUDA raises :class:`CliError`."""
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(spec)
    except RuntimeError:
        raise CliError(f"--device {spec!r} is not a device; use {DEVICE_HELP}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise CliError(f"--device {spec}: CUDA is not available on this machine (torch {torch.__version__}); "
                           "use --device cpu (or auto)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise CliError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s) visible")
    elif dev.type != "cpu":
        raise CliError(f"--device {spec!r}: unsupported device type; use {DEVICE_HELP}")
    return dev


# ----------------------------------------------------------------------------- models
def load_model_from_args(args: argparse.Namespace, device: torch.device | None = None,
                         compile: bool = True) -> tuple[nn.Module, str]:
    """The model the flags name, on ``device`` (default ``--device``), eval mode, compiled per ``--compile``
    (never baselines); returns (model, label for tables and result files)."""
    device = device or resolve_device(getattr(args, "device", "auto"))
    backend = getattr(args, "ssm_backend", "auto")
    weights = getattr(args, "weights", None)
    if weights and not getattr(args, "peer", None):
        raise CliError("--weights is for --peer models; a checkpoint carries its own weights (--ckpt)")
    if getattr(args, "set", None) and not getattr(args, "phase", None):
        raise CliError("--set overrides the model fields of a --phase preset; a checkpoint, baseline or peer "
                       "brings its own")
    if getattr(args, "baseline", None):
        from vfi_lib.model.baselines import build_baseline

        return build_baseline(args.baseline).to(device), f"baseline_{args.baseline}"
    if getattr(args, "peer", None):
        from vfi_lib.model.peers import build_peer

        if not weights:
            from vfi_lib.model.peers import default_weights_hint

            raise CliError(f"--peer {args.peer} needs --weights PATH; {default_weights_hint(args.peer)}")
        model, label = build_peer(args.peer, weights, device=device), args.peer
    elif getattr(args, "ckpt", None):
        from vfi_lib.checkpoint import display_name, load_model

        ckpt_dir = getattr(args, "ckpt_dir", None)
        model = load_model(args.ckpt, device=device, ckpt_dir=ckpt_dir, ssm_backend=backend)
        label = display_name(args.ckpt, ckpt_dir)
    elif getattr(args, "phase", None):
        from vfi_lib.config import preset
        from vfi_lib.model import build_model

        tiny = bool(getattr(args, "tiny", False))
        cfg = preset(f"phase{args.phase}", tiny=tiny, ssm_backend=backend)
        sets = model_overrides(getattr(args, "set", None) or [])
        if sets:
            cfg = cfg.override(**sets)
        model = build_model(cfg).to(device).eval()
        label = f"phase{args.phase}{'_tiny' if tiny else ''}_untrained" + "".join(
            f"_{k.split('.', 1)[1]}-{_compact(v)}" for k, v in sets.items())
    else:
        raise CliError("name a model: --ckpt NAME|PATH, --baseline average|dis or --peer NAME --weights PATH")
    mode = getattr(args, "compile", "off") if compile else "off"
    if mode != "off":
        model = compile_model(model, mode)
    return model, label


def model_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``--set`` of a ``--phase`` preset: ``["model.KEY=VALUE", ...]`` -> ``{"model.KEY": value}``
    (:func:`vfi_lib.config.parse_overrides`); only model fields (a speed test has no training settings), whose
    names and values ``Config.override`` checks."""
    from vfi_lib.config import parse_overrides

    out = parse_overrides(items)
    for key in out:
        if not key.startswith("model."):
            raise CliError(f"--set {key}: only model.KEY=VALUE here (e.g. model.enc_channels=[16,32,48])")
    return out


def _compact(value: Any) -> str:
    """A config value as a short file-name-safe tag: [16, 32, 48] -> 16x32x48."""
    if isinstance(value, (list, tuple)):
        return "x".join(_compact(v) for v in value)
    return str(value).replace("/", "-").replace(" ", "")


AUTO_FLOW_SCALES = (1.0, 0.5)
"""``--scale auto``: the flow at full and at half resolution, the better-agreeing one kept per sample."""

FLOW_SCALE_HELP = ("flow scale of our Phase-2 models: a number (0.5 for 2K, 0.25 for 4K), 'auto' (= 1,0.5: both, "
                   "per frame the one whose warped inputs agree best; for large motion) or a list such as 0.5,0.25")


def flow_scale_arg(text: str) -> float | tuple[float, ...]:
    """argparse type of ``--scale``: ``"0.5"`` -> 0.5, ``"auto"`` -> :data:`AUTO_FLOW_SCALES`, ``"0.5,0.25"`` ->
    (0.5, 0.25); every scale must be > 0."""
    text = str(text).strip()
    try:
        vals = AUTO_FLOW_SCALES if text.lower() == "auto" else tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--scale {text!r}: expected a number > 0, 'auto' or a list like 0.5,0.25")
    if not vals or any(not v > 0 for v in vals):
        raise argparse.ArgumentTypeError(f"--scale {text!r}: every flow scale must be > 0")
    return vals[0] if len(vals) == 1 else vals


MODEL_SPEC_HELP = "ckpt:NAME|PATH (or a bare NAME|PATH) | baseline:average|dis | peer:NAME:WEIGHTS"


def model_args_from_spec(spec: str, **runtime: Any) -> argparse.Namespace:
    """The model flags of :func:`add_model_args` from one string, for tools that compare several models
    in one run (``--model LABEL=SPEC``): ``ckpt:NAME|PATH`` or a bare ``NAME|PATH`` -> ``--ckpt``,
    ``baseline:NAME`` -> ``--baseline``, ``peer:NAME:WEIGHTS`` -> ``--peer NAME --weights WEIGHTS``;
    ``runtime`` (``device``, ``dtype``, ``compile``, ``ssm_backend``, ``ckpt_dir``) is copied in.
    Load it with :func:`load_model_from_args`; an unknown baseline or peer raises :class:`CliError`."""
    from vfi_lib.model.baselines import BASELINES
    from vfi_lib.model.peers import PEERS

    ns = argparse.Namespace(ckpt=None, baseline=None, peer=None, weights=None, **runtime)
    kind, sep, rest = spec.partition(":")
    if sep and kind == "baseline":
        if rest not in BASELINES:
            raise CliError(f"model {spec!r}: baseline:NAME with NAME one of {', '.join(BASELINES)}")
        ns.baseline = rest
    elif sep and kind == "peer":
        name, sep, weights = rest.partition(":")
        if name not in PEERS or not weights:
            raise CliError(f"model {spec!r}: peer:NAME:WEIGHTS with NAME one of {', '.join(PEERS)} "
                           "and WEIGHTS its flownet.pkl (scripts/fetch_peers.sh)")
        ns.peer, ns.weights = name, weights
    else:
        ns.ckpt = rest if sep and kind == "ckpt" else spec
    if not (ns.ckpt or ns.baseline or ns.peer):
        raise CliError(f"model {spec!r}: name a model, {MODEL_SPEC_HELP}")
    return ns


def model_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The flags that change a result, for result files: source, weights, device, dtype, compile, backend."""
    out: dict[str, Any] = {}
    for k in ("ckpt", "baseline", "peer", "phase", "tiny", "weights", "ckpt_dir", "device", "dtype", "compile",
              "ssm_backend"):
        v = getattr(args, k, None)
        if v not in (None, False):
            out[k] = str(Path(v).resolve()) if k == "weights" else v
    if getattr(args, "set", None):
        out["set"] = model_overrides(args.set)
    return out


# ----------------------------------------------------------------------------- errors
def _user_errors() -> tuple[type[BaseException], ...]:
    from vfi_lib.checkpoint import CheckpointError
    from vfi_lib.ssm.backends import BackendError

    # ValueError covers ConfigError, DataError, CliError and the VGG/peer weight errors
    return (ValueError, TypeError, FileNotFoundError, CheckpointError, BackendError)


def one_line(exc: BaseException) -> str:
    """The user-facing line of ``exc``: its message, or, for an error re-raised from a DataLoader
    worker ("Caught DataError in DataLoader worker process 0. Original Traceback ..."), the
    original exception's message without the worker's traceback."""
    msg = str(exc).strip()
    name = type(exc).__name__
    if "Original Traceback" in msg:
        if msg.startswith("Caught "):  # "Caught DataError in DataLoader worker ...": torch may re-raise another type
            name = msg.split()[1]
        # the traceback's last line is "<module>.<Name>: <message>" (or "<Name>: <message>")
        for line in reversed(msg.splitlines()):
            head, sep, text = line.strip().partition(": ")
            if sep and (head == name or head.endswith("." + name)):
                return text
        lines = [ln.strip() for ln in msg.splitlines() if ln.strip()]
        return lines[-1] if lines else name
    return msg or name


def main_wrapper(run: Callable[[list[str] | None], Any], argv: Sequence[str] | None = None) -> int:
    """Call ``run(argv)``; user errors -> ``error: <one line>`` on stderr and 2, Ctrl-C -> 130, else 0."""
    try:
        run(list(argv) if argv is not None else None)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except _user_errors() as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    return 0
