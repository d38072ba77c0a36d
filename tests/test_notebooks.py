"""Every notebook runs in smoke mode through the papermill runner (one Python process)."""

import json
from pathlib import Path

import nbformat
import pytest

from vfi_lib import notebooks as runner

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_in_smoke_mode(nb, tmp_path):
    results = runner.run(smoke=True, only=[nb.name[:2]], runs_dir=tmp_path, run_id="t", progress=False)
    assert [r.notebook for r in results] == [nb.name]
    assert results[0].status == "ok", results[0].error
    executed = json.loads((tmp_path / "t" / nb.name).read_text())
    injected = [c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and "smoke = True" in "".join(injected[0]["source"])
    summary = json.loads((tmp_path / "t" / "summary.json").read_text())
    assert summary[0]["status"] == "ok"


def _make_notebook(path: Path, cells: list[str], params: str = "smoke = True  # tiny run\nx = 1  # a value") -> None:
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p] + [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_runner_orders_reports_failures_and_passes_only_declared_parameters(tmp_path, capsys):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    _make_notebook(nbdir / "02_bad.ipynb", ["# boom\nraise ValueError('broken on purpose')"])
    _make_notebook(nbdir / "01_ok.ipynb", ["assert x == 5, x"])
    _make_notebook(nbdir / "10_other.ipynb", ["assert 'x' not in dir()"], params="smoke = True  # tiny")
    (nbdir / "README.ipynb").write_text("{}")  # not numbered: ignored
    assert [p.name for p in runner.discover(nbdir)] == ["01_ok.ipynb", "02_bad.ipynb", "10_other.ipynb"]
    res = runner.run(smoke=True, parameters={"x": 5}, notebook_dir=nbdir,
                     runs_dir=tmp_path / "runs", run_id="r", progress=False)
    assert [r.status for r in res] == ["ok", "failed", "ok"]
    assert "code cell 2" in res[1].error and "ValueError: broken on purpose" in res[1].error
    table = runner.format_table(res)
    assert "02_bad.ipynb" in table and "failed" in table
    with pytest.raises(FileNotFoundError, match="matches --only 99"):
        runner.discover(nbdir, only=["99"])
    # a mistyped -p name is an error naming the closest declared parameter, not silently dropped
    with pytest.raises(ValueError, match=r"parameter 'xx' \(did you mean 'x'\?\) is not declared.*declared: smoke"):
        runner.run(smoke=True, parameters={"xx": 5}, notebook_dir=nbdir, runs_dir=tmp_path / "runs", progress=False)


def test_runner_gives_the_kernels_the_run_id_and_smoke_flag(tmp_path):
    """Result files carry the run id; smoke runs write under outputs/smoke (VFI_SMOKE in the kernel)."""
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    _make_notebook(nbdir / "01_env.ipynb", ["import os\nassert os.environ['VFI_RUN_ID'] == 'rid'\n"
                                            "assert os.environ['VFI_SMOKE'] == ('1' if smoke else '0'), smoke\n"
                                            "from vfi_lib.paths import outputs_root\n"
                                            "assert outputs_root().name == ('smoke' if smoke else 'outputs')"])
    for smoke in (True, False):
        res = runner.run(smoke=smoke, notebook_dir=nbdir, runs_dir=tmp_path / "runs", run_id="rid", progress=False)
        assert res[0].status == "ok", res[0].error


def test_cli_exit_code_names_the_failing_notebook(tmp_path, monkeypatch, capsys):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    _make_notebook(nbdir / "05_fails.ipynb", ["1/0"])
    (tmp_path / "pyproject.toml").write_text("")
    monkeypatch.setenv("VFI_HOME", str(tmp_path))  # notebooks/ and papermill_runs/ of this project root
    assert runner.main(["run", "--smoke"]) == 1
    err = capsys.readouterr().err
    assert "FAILED 05_fails.ipynb" in err and "ZeroDivisionError" in err
    assert list((tmp_path / "papermill_runs").glob("*-smoke/05_fails.ipynb"))
    assert runner.main(["run", "-p", "smok", "1"]) == 2
    assert "did you mean 'smoke'" in capsys.readouterr().err


MAX_CELL_LINES = 15  # notebook-only logic lives in the library (vfi_lib.notebooks.experiments, viz), with tests


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_code_cells_are_short(nb):
    """Every code cell but the ``parameters`` cell has at most 15 lines (blank lines and comments count)."""
    cells = nbformat.read(nb, as_version=4).cells
    long = [(i, len(c.source.splitlines()), c.source.splitlines()[0][:60]) for i, c in enumerate(cells)
            if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])
            and len(c.source.splitlines()) > MAX_CELL_LINES]
    assert not long, f"code cells over {MAX_CELL_LINES} lines (cell index, lines, first line): {long}"


def test_cli_flags_use_underscores_with_the_dashed_spellings_hidden(monkeypatch, capsys):
    """``run --run_id ID --stop_on_error``; ``--run-id`` / ``--stop-on-error`` still parse but are not shown."""
    seen = []
    monkeypatch.setattr("vfi_lib.notebooks.runner.run",
                        lambda **kw: seen.append((kw["run_id"], kw["stop_on_error"])) or [])
    assert runner.main(["run", "--run_id", "a", "--stop_on_error"]) == 0
    assert runner.main(["run", "--run-id", "b", "--stop-on-error"]) == 0
    assert runner.main(["run"]) == 0
    assert seen == [("a", True), ("b", True), (None, False)]
    capsys.readouterr()
    with pytest.raises(SystemExit):
        runner.main(["run", "--help"])
    shown = capsys.readouterr().out
    assert "--run_id" in shown and "--stop_on_error" in shown and "--run-id" not in shown and "-on-error" not in shown
