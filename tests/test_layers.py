"""The layering of vfi_lib (CONTRIBUTING.md "Layers"), enforced on the source: every ``import`` of a
``vfi_lib`` module, at module level or inside a function, must go to a layer the importer may use.

    config, paths                      (base: import no other vfi_lib layer)
    ssm  <-  modules  <-  model         (the network; model/ holds baselines, peers, compile, precision)
    data, viz                          (stand apart: base only; viz draws what its callers pass in: scan
                                        orders, masks, attention maps, PSNR values or a psnr_fn)
    checkpoint <- cli                  (one checkpoint home; one flag dialect)
    infer, eval, train, speed          (applications; eval never imports train)
    notebooks                          (the notebooks' runner and launcher: anything)
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "vfi_lib"
ALLOWED: dict[str, set[str]] = {
    "config": set(),
    "paths": set(),
    "__init__": set(),
    "ssm": {"config"},
    "modules": {"config", "ssm"},
    "model": {"config", "ssm", "modules", "paths"},
    "data": {"config", "paths"},
    "viz": {"config", "paths"},
    "checkpoint": {"config", "paths", "ssm", "modules", "model"},
    "cli": {"config", "paths", "ssm", "modules", "model", "checkpoint"},
    "infer": {"config", "paths", "ssm", "modules", "model", "checkpoint", "cli", "data"},
    "eval": {"config", "paths", "ssm", "modules", "model", "checkpoint", "cli", "data", "infer", "viz"},
    "train": {"config", "paths", "ssm", "modules", "model", "checkpoint", "cli", "data", "viz", "eval.metrics"},
    "speed": {"config", "paths", "ssm", "modules", "model", "checkpoint", "cli", "data", "infer"},
    "notebooks": {"config", "paths", "ssm", "modules", "model", "checkpoint", "cli", "data", "infer", "eval", "train",
                  "viz", "speed"},
}


def _layer(module: str) -> str:
    """``vfi_lib.model.flow`` -> ``model``; ``vfi_lib.paths`` -> ``paths``; ``vfi_lib`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute vfi_lib module) of every import in ``path`` (relative imports resolved)."""
    rel = path.relative_to(PKG.parent).with_suffix("")
    here = list(rel.parts)
    if here[-1] == "__init__":
        here = here[:-1]
    package = here if path.name == "__init__.py" else here[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.startswith("vfi_lib"):
                if mod == "vfi_lib":  # "from vfi_lib import sota": a submodule, or an attribute of __init__
                    names = [f"vfi_lib.{a.name}" if (PKG / a.name).is_dir() or (PKG / f"{a.name}.py").is_file()
                             else "vfi_lib" for a in node.names]
                else:
                    names = [mod]
                out += [(node.lineno, m) for m in names]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("vfi_lib")]
    return out


def _violations() -> list[str]:
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        src_layer = _layer(".".join(path.relative_to(PKG.parent).with_suffix("").parts))
        for line, mod in _imports(path):
            dst = _layer(mod)
            if dst in (src_layer, "__init__"):  # within a layer; the package root holds only __version__
                continue
            allowed = ALLOWED[src_layer]
            sub = ".".join(mod.split(".")[1:3])  # e.g. "eval.metrics"
            if dst not in allowed and sub not in allowed:
                bad.append(f"{path.relative_to(PKG.parent)}:{line}: {src_layer} imports {mod}")
    return bad


def test_every_layer_is_known():
    layers = {_layer(".".join(p.relative_to(PKG.parent).with_suffix("").parts)) for p in PKG.rglob("*.py")}
    assert layers <= set(ALLOWED), f"new top-level module(s) {sorted(layers - set(ALLOWED))}: add them to ALLOWED"


def test_imports_follow_the_layers():
    assert _violations() == []


def test_importing_viz_loads_only_the_base_layers():
    """viz stands apart at run time too: ``import vfi_lib.viz`` loads no model, ssm or eval code."""
    code = "import sys, vfi_lib.viz; print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('vfi_lib.')}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PKG.parent).stdout
    assert set(ast.literal_eval(out.strip().splitlines()[-1])) <= {"viz", "config", "paths"}


def test_eval_never_imports_train():
    assert "train" not in ALLOWED["eval"] and "train" not in ALLOWED["infer"] and "train" not in ALLOWED["speed"]


def test_the_checker_catches_a_violation(tmp_path, monkeypatch):
    """A planted upward import (data -> model) is reported: the rule test can fail."""
    fake = tmp_path / "vfi_lib"
    (fake / "data").mkdir(parents=True)
    (fake / "data" / "bad.py").write_text("from vfi_lib.model import build_model\nfrom .io import x\n")
    monkeypatch.setattr(__import__(__name__), "PKG", fake, raising=False)
    globals()["PKG"] = fake
    try:
        assert _violations() == ["vfi_lib/data/bad.py:1: data imports vfi_lib.model"]
    finally:
        globals()["PKG"] = Path(__file__).resolve().parents[1] / "vfi_lib"


@pytest.mark.parametrize("mod,layer", [("vfi_lib.model.flow", "model"), ("vfi_lib.paths", "paths"), ("vfi_lib", "__init__")])
def test_layer_names(mod, layer):
    assert _layer(mod) == layer
