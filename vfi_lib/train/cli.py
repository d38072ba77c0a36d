"""Command line of ``python -m vfi_lib.train`` / ``torchrun -m vfi_lib.train`` and :func:`launch`.

Every :class:`~vfi_lib.config.TrainConfig` field is a flag (``--batch_size 8``, ``--ema``,
``--ema false``, ``--x4k_stride 8 32``, ``--crop_schedule 0:128 50:256``), plus:

``--phase N``      preset ``phaseN`` (default 1)     ``--tiny``       the tiny smoke/test model
``--backbone_mode``, ``--use_mhc``, ``--ssm_backend`` model ablation switches
``--device``, ``--dtype``, ``--compile [MODE]``, ``--ssm_backend``: the shared flags of every CLI
(:mod:`vfi_lib.cli`); ``--dtype fp32|bf16|fp16`` sets ``--amp off|bf16|fp16``
``--config PATH``  start from a saved Config JSON instead of a preset
``--set KEY=VALUE`` any other config key (``model.d_state=128``), VALUE parsed as JSON if it can be

Only flags that are given override the preset. :func:`config_to_argv` writes the flags that
reproduce a Config (``config_from_args(config_to_argv(cfg)) == cfg``), which :func:`launch` uses to
start ``torchrun`` from a notebook.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any, Sequence

from vfi_lib.config import (AMP_MODES, BACKBONE_MODES, COMPILE_MODES, DATASETS, SSM_BACKENDS, TINY, Config, ConfigError,
                            ModelConfig, TrainConfig, parse_overrides, preset)
from vfi_lib.model.precision import DTYPES

MODEL_FLAGS = ("backbone_mode", "use_mhc", "ssm_backend")
CHOICES = {"ssm_backend": SSM_BACKENDS, "backbone_mode": BACKBONE_MODES, "amp": AMP_MODES, "dataset": DATASETS}


def _bool(v: str) -> bool:
    s = str(v).lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false), got {v!r}")


def _schedule_entry(v: str) -> list[int]:
    try:
        a, b = v.split(":")
        return [int(a), int(b)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"crop_schedule entries are START_EPOCH:CROP, got {v!r}") from None


def _field_comment(cls: type, name: str) -> str:
    """The trailing ``# comment`` of a dataclass field in config.py (used as the flag's help)."""
    import inspect

    try:
        src = inspect.getsource(cls)
    except (OSError, TypeError):
        return ""
    for line in src.splitlines():
        s = line.strip()
        if s.startswith(f"{name}:") and "#" in s:
            return s.split("#", 1)[1].strip()
    return ""


def _add_field(parser: argparse.ArgumentParser, cls: type, f: dataclasses.Field) -> None:
    tp = typing.get_type_hints(cls)[f.name]
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
    help_ = f"{_field_comment(cls, f.name)} (default {default!r})".replace("%", "%%")
    kw: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": help_}
    if f.name == "compile":  # one dialect with the other CLIs: a bare --compile means "default"
        kw.update(nargs="?", const="default", choices=COMPILE_MODES)
    elif tp is bool:
        kw.update(nargs="?", const=True, type=_bool, metavar="BOOL")
    elif typing.get_origin(tp) is tuple:
        args = typing.get_args(tp)
        if f.name == "crop_schedule":
            kw.update(nargs="*", type=_schedule_entry, metavar="EPOCH:CROP")
        elif len(args) == 2 and args[1] is Ellipsis:
            kw.update(nargs="+", type=args[0])
        else:
            kw.update(nargs=len(args), type=args[0])
    else:
        kw.update(type=tp)
        if f.name in CHOICES:
            kw.update(choices=CHOICES[f.name])
    parser.add_argument(f"--{f.name}", **kw)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m vfi_lib.train",
        description="Train the Thesis-VFI model (also under torchrun --nproc_per_node=N -m vfi_lib.train).",
    )
    g = p.add_argument_group("preset and model")
    g.add_argument("--phase", type=int, choices=(1, 2, 3), default=None, help="preset phaseN (default 1)")
    g.add_argument("--tiny", nargs="?", const=True, type=_bool, default=False, metavar="BOOL", help="tiny smoke/test model")
    g.add_argument("--config", default=None, metavar="JSON", help="start from a saved Config JSON instead of a preset")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override any config key, e.g. model.d_state=128")
    fields = {f.name: f for f in dataclasses.fields(ModelConfig)}
    for name in MODEL_FLAGS:
        _add_field(g, ModelConfig, fields[name])
    g.add_argument("--dtype", choices=DTYPES, default=argparse.SUPPRESS, dest="dtype",
                   help="training precision, as the other CLIs' --dtype: fp32 (= --amp off) | bf16 | fp16 (default: --amp auto)")
    t = p.add_argument_group("training (TrainConfig)")
    for f in dataclasses.fields(TrainConfig):
        _add_field(t, TrainConfig, f)
    return p


def config_from_args(argv: Sequence[str] | None = None) -> Config:
    """Parse ``argv`` (default ``sys.argv[1:]``) into a :class:`Config`; ConfigError on bad values."""
    ns = vars(build_parser().parse_args(argv))
    phase, tiny, config_path, sets = ns.pop("phase"), ns.pop("tiny"), ns.pop("config"), ns.pop("set")
    if config_path:
        if phase is not None:
            raise ConfigError("give either --config or --phase, not both (the config file fixes the phase)")
        if not Path(config_path).is_file():
            raise ConfigError(f"--config {config_path!r}: file does not exist")
        cfg = Config.from_json(Path(config_path))
        if tiny:
            cfg = cfg.override(**TINY)
    else:
        cfg = preset(f"phase{phase or 1}", tiny=bool(tiny))
    overrides: dict[str, Any] = parse_overrides(sets)
    dtype = ns.pop("dtype", None)
    if dtype is not None:
        if "amp" in ns and ns["amp"] != {"fp32": "off"}.get(dtype, dtype):
            raise ConfigError(f"--dtype {dtype} and --amp {ns['amp']} disagree; give one of them")
        ns["amp"] = {"fp32": "off"}.get(dtype, dtype)
    for name, value in ns.items():
        overrides[f"model.{name}" if name in MODEL_FLAGS else f"train.{name}"] = value
    return cfg.override(**overrides) if overrides else cfg


def config_to_argv(cfg: Config) -> list[str]:
    """Flags that rebuild ``cfg``: ``--phase N`` plus every field that differs from that preset."""
    base = preset(cfg.preset if cfg.preset in ("phase1", "phase2", "phase3") else f"phase{cfg.model.phase}")
    argv = ["--phase", base.preset.removeprefix("phase")]
    have, want = base.to_dict(), cfg.to_dict()
    for key, value in want["model"].items():
        if value != have["model"][key]:
            if key in MODEL_FLAGS:
                argv += [f"--{key}", json.dumps(value) if isinstance(value, bool) else str(value)]
            else:
                argv += ["--set", f"model.{key}={json.dumps(value)}"]
    for key, value in want["train"].items():
        if value != have["train"][key]:
            argv += ["--set", f"train.{key}={json.dumps(value)}"]
    return argv


def launch(
    cfg: Config, nproc: int = 1, *, env: dict[str, str] | None = None, echo: bool = True, timeout_s: float | None = None
) -> dict[str, Any]:
    """Run ``torchrun --standalone --nproc_per_node=nproc -m vfi_lib.train <flags of cfg>`` and wait.

    Streams the output (``echo``); raises RuntimeError with the output tail when training fails or
    runs past ``timeout_s`` (then the whole process group, workers included, is killed). Returns
    the run's ``summary.json`` (same keys as :func:`vfi_lib.train.train`).
    """
    import signal
    import threading

    if nproc < 1:
        raise ValueError(f"launch: nproc must be >= 1, got {nproc}")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "vfi_lib.train", *config_to_argv(cfg)]
    if echo:
        print(" ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                            env={**os.environ, **(env or {})}, start_new_session=True)
    tail: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line)
            del tail[:-80]
            if echo:
                print(line, end="", flush=True)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        rc = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # torchrun and its workers share the new session
        proc.wait()
        reader.join(5)
        raise RuntimeError(f"training did not finish within {timeout_s} s; killed. Output tail:\n{''.join(tail)}") from None
    reader.join(30)
    if rc != 0:
        raise RuntimeError(f"training exited with code {rc}:\n{''.join(tail)}")
    from vfi_lib.paths import log_root
    from vfi_lib.train.runlog import SUMMARY_FILE

    exp = cfg.train.exp_name + ("_dryrun" if cfg.train.dry_run else "")
    return json.loads((log_root(cfg.train.log_dir) / exp / SUMMARY_FILE).read_text())
