"""Repository rules: notebooks without outputs, environment.yml names every package, layout."""

import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

DESIGN_PACKAGES = [
    "pytorch|torch", "mamba-ssm", "causal-conv1d", "einops", "jupyterlab", "ipywidgets",
    "matplotlib", "papermill", "nbdime", "opencv-python|opencv-python-headless", "tensorboard",
    "scikit-image",
]


def _env_names() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = set()
    for dep in env["dependencies"]:
        items = dep["pip"] if isinstance(dep, dict) else [dep]
        for item in items:
            name = item.split("[")[0]
            for sep in ("=", ">", "<", " "):
                name = name.split(sep)[0]
            names.add(name.strip().lower())
    return names


def test_environment_yml_names_every_design_package():
    names = _env_names()
    missing = [p for p in DESIGN_PACKAGES if not any(alt in names for alt in p.split("|"))]
    assert not missing, f"environment.yml lacks {missing}"
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e .[notebooks,gpu]" in pip


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 1


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_committed_without_outputs_and_with_parameters(nb):
    cells = json.loads(nb.read_text())["cells"]
    for i, c in enumerate(cells):
        if c["cell_type"] == "code":
            assert not c.get("outputs"), f"{nb.name} cell {i} has outputs: strip them"
            assert c.get("execution_count") is None, f"{nb.name} cell {i} has an execution count"
    params = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, f"{nb.name} needs exactly one cell tagged 'parameters'"
    assert "smoke = True" in "".join(params[0]["source"]), f"{nb.name}: parameters cell must default smoke = True"


def test_outputs_and_runs_folders_are_kept_but_ignored():
    for d in ("outputs", "papermill_runs"):
        assert (ROOT / d / ".gitkeep").exists()
    ignore = (ROOT / ".gitignore").read_text()
    assert "/outputs/*" in ignore and "/papermill_runs/*" in ignore


def test_ci_calls_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
