"""Run the numbered notebooks headlessly with papermill.

    python -m vfi_lib.notebooks run [--smoke|--full] [--only 10 11] [-p key value ...] [--run_id ID] [--stop_on_error]
    python -m vfi_lib.notebooks list

Notebooks ``notebooks/NN_name.ipynb`` run in order, each into ``papermill_runs/<run_id>/`` with
the ``smoke`` parameter set (plus any ``-p`` overrides a notebook declares in its ``parameters``
cell; parameters a notebook does not declare are not injected into it, and a ``-p`` name that no
selected notebook declares is an error listing the declared names). The kernels get
``VFI_RUN_ID=<run_id>`` (result files carry it) and, in smoke mode, ``VFI_SMOKE=1`` (outputs go
under ``outputs/smoke/``, so a smoke run never overwrites a full run's figures). A summary table
(notebook, status, seconds) is printed and saved as ``summary.json``; the exit status is non-zero
when a notebook fails, naming the notebook and the failing cell.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from vfi_lib.paths import notebooks_dir, papermill_runs_dir

KERNEL = "vfi-lib"  # registered by `make` (ipykernel install --sys-prefix); python3 is the fallback
_NAME = re.compile(r"^(\d{2})_[\w-]+\.ipynb$")


@dataclass
class NotebookResult:
    notebook: str
    status: str  # ok | failed
    seconds: float
    output: str
    error: str = ""


def discover(notebook_dir: Path | None = None, only: Sequence[str] | None = None) -> list[Path]:
    """Numbered notebooks in order; ``only`` filters by number ("10") or name prefix."""
    notebook_dir = notebook_dir or notebooks_dir()
    if not notebook_dir.is_dir():
        raise FileNotFoundError(f"notebook folder {notebook_dir} does not exist")
    found = sorted(p for p in notebook_dir.iterdir() if _NAME.match(p.name))
    if only:
        keys = [str(k).zfill(2) if str(k).isdigit() else str(k) for k in only]
        found = [p for p in found if any(p.name.startswith(k) for k in keys)]
        if not found:
            raise FileNotFoundError(f"no notebook in {notebook_dir} matches --only {' '.join(map(str, only))}")
    return found


def declared_parameters(path: Path) -> dict[str, Any]:
    """Names and default values assigned in the notebook's cell tagged ``parameters``."""
    nb = json.loads(path.read_text())
    for cell in nb.get("cells", []):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            out: dict[str, Any] = {}
            for node in ast.parse(src).body:
                if isinstance(node, ast.Assign):
                    for tgt in node.targets:
                        if isinstance(tgt, ast.Name):
                            try:
                                out[tgt.id] = ast.literal_eval(node.value)
                            except ValueError:
                                out[tgt.id] = None
            return out
    return {}


def check_parameters(notebooks: Sequence[Path], parameters: dict[str, Any]) -> None:
    """Raise ValueError for a ``-p`` name that none of ``notebooks`` declares (a typo would
    otherwise be dropped silently), suggesting the closest declared name."""
    declared: dict[str, list[str]] = {}
    for nb in notebooks:
        for name in declared_parameters(nb):
            declared.setdefault(name, []).append(nb.name[:2])
    unknown = [k for k in parameters if k not in declared]
    if unknown:
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(k, list(declared), n=1)
            hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(f"parameter {', '.join(hints)} is not declared by any selected notebook; declared: "
                         + ", ".join(f"{n} ({'/'.join(sorted(set(nbs)))})" for n, nbs in sorted(declared.items())))


def _available_kernel(name: str) -> str:
    """``name`` if that kernelspec is installed, else ``python3`` (the current interpreter's)."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        return name if name in KernelSpecManager().find_kernel_specs() else "python3"
    except Exception:
        return "python3"


def _coerce_cli_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _failing_cell(output_path: Path) -> str:
    """Index and first line of the cell that raised, read from the executed notebook."""
    try:
        nb = json.loads(output_path.read_text())
    except (OSError, json.JSONDecodeError):
        return "unknown cell"
    code_idx = 0
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code" or "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            continue
        code_idx += 1  # numbered as in the source notebook (papermill's injected cell not counted)
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                src = "".join(cell.get("source", "")).strip().splitlines()
                first = src[0] if src else ""
                return f"code cell {code_idx} ({first[:70]!r}): {out.get('ename')}: {out.get('evalue', '')[:200]}"
    return "unknown cell"


def run(
    smoke: bool = True,
    only: Sequence[str] | None = None,
    parameters: dict[str, Any] | None = None,
    run_id: str | None = None,
    notebook_dir: Path | None = None,
    runs_dir: Path | None = None,
    kernel: str = KERNEL,
    progress: bool = True,
    stop_on_error: bool = False,
    timeout: int | None = None,
) -> list[NotebookResult]:
    """Execute notebooks in one process with ``papermill.execute_notebook``; returns results."""
    import papermill as pm

    notebook_dir = notebook_dir or notebooks_dir()
    runs_dir = runs_dir or papermill_runs_dir()
    notebooks = discover(notebook_dir, only)
    check_parameters(notebooks, parameters or {})
    kernel = _available_kernel(kernel)
    run_id = run_id or time.strftime("%Y%m%d-%H%M%S") + ("-smoke" if smoke else "-full")
    out_dir = runs_dir / run_id
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[NotebookResult] = []
    env = {"MPLBACKEND": "Agg", "VFI_RUN_ID": run_id, "VFI_SMOKE": "1" if smoke else "0"}  # inherited by the kernels
    env_before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # headless: figures are saved, not shown
    try:
        for nb_path in notebooks:
            declared = declared_parameters(nb_path)
            params = {"smoke": smoke, **(parameters or {})}
            params = {k: v for k, v in params.items() if k in declared}
            out_path = out_dir / nb_path.name
            if progress:
                print(f"[{nb_path.name}] running ({'smoke' if smoke else 'full'}) ...", flush=True)
            t0 = time.perf_counter()
            try:
                pm.execute_notebook(
                    str(nb_path), str(out_path), parameters=params, kernel_name=kernel,
                    cwd=str(nb_path.parent), progress_bar=False, execution_timeout=timeout,
                )
                res = NotebookResult(nb_path.name, "ok", time.perf_counter() - t0, str(out_path))
            except Exception as e:  # papermill raises PapermillExecutionError with the cell
                err = _failing_cell(out_path) if out_path.exists() else f"{type(e).__name__}: {e}"
                res = NotebookResult(nb_path.name, "failed", time.perf_counter() - t0, str(out_path), err)
            results.append(res)
            if progress:
                print(f"[{nb_path.name}] {res.status} in {res.seconds:.1f}s" + (f" -- {res.error}" if res.error else ""), flush=True)
            if res.status != "ok" and stop_on_error:
                break
    finally:
        for k, v in env_before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    (out_dir / "summary.json").write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return results


def format_table(results: Sequence[NotebookResult]) -> str:
    w = max([len(r.notebook) for r in results] + [8])
    lines = [f"{'notebook':<{w}}  status   seconds", f"{'-' * w}  ------  --------"]
    lines += [f"{r.notebook:<{w}}  {r.status:<6}  {r.seconds:8.1f}" for r in results]
    lines.append(f"{'total':<{w}}  {'':6}  {sum(r.seconds for r in results):8.1f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vfi_lib.notebooks", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="execute notebooks with papermill")
    mode = r.add_mutually_exclusive_group()
    mode.add_argument("--smoke", dest="smoke", action="store_true", default=True, help="tiny configs, embedded sample (default)")
    mode.add_argument("--full", dest="smoke", action="store_false", help="the parameters' full settings")
    r.add_argument("--only", nargs="+", metavar="NN", help="run only these notebook numbers/prefixes")
    r.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                   help="papermill parameter (Python literal or string); only passed to notebooks declaring it")
    r.add_argument("--run_id", help="folder name under papermill_runs/ (default: timestamp)")
    r.add_argument("--stop_on_error", action="store_true", help="stop at the first failing notebook")
    # deprecated dashed spellings, hidden from --help
    r.add_argument("--run-id", dest="run_id", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    r.add_argument("--stop-on-error", dest="stop_on_error", action="store_true", default=argparse.SUPPRESS,
                   help=argparse.SUPPRESS)
    r.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")
    sub.add_parser("list", help="list the notebooks and their parameters")
    args = ap.parse_args(argv)

    if args.cmd == "list":
        for p in discover():
            print(f"{p.name}: {declared_parameters(p)}")
        return 0
    params = {k: _coerce_cli_value(v) for k, v in args.parameter}
    try:
        results = run(smoke=args.smoke, only=args.only, parameters=params, run_id=args.run_id,
                      stop_on_error=args.stop_on_error, timeout=args.timeout)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print()
    print(format_table(results))
    failed = [r for r in results if r.status != "ok"]
    for r in failed:
        print(f"FAILED {r.notebook}: {r.error} (executed copy: {r.output})", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
