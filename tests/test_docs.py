"""The commands the docs tell a user to type still work.

Every ``python -m vfi_lib...`` (also ``python3``, ``$(PY)``, ``torchrun ... -m``) in README.md,
CONTRIBUTING.md, the Makefile, scripts/*.sh and outputs/reference/README.md names a module that
exists and can be run (a package needs ``__main__.py``, a module an ``if __name__ == "__main__"``
block). In the markdown files' code (fenced blocks and inline spans), every long flag written after
such a command must be one of that command's flags: the ``--help`` texts come from one subprocess
that runs each module's ``__main__`` with ``--help`` (after the command's leading positional words,
so subcommands such as ``notebooks run`` are checked against their own flags).
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MARKDOWN = ["README.md", "CONTRIBUTING.md", "outputs/reference/README.md"]
DOC_FILES = MARKDOWN + ["Makefile"] + sorted(str(p.relative_to(ROOT)) for p in (ROOT / "scripts").glob("*.sh"))

COMMAND = re.compile(r"(?<![\w-])-m\s+(vfi_lib(?:\.\w+)*)")
FLAG = re.compile(r"(?<![\w-])--[A-Za-z][\w-]*")
END = re.compile(r"\s#|;|&&|\|\||\||>|<")  # a comment, a chain, a pipe or a redirection ends a command
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
SPAN = re.compile(r"`([^`\n]*(?:\n[^`\n]*)?)`")  # inline code, possibly wrapped onto a second line

# The README's "--ssm_backend on every CLI that runs a model" (the SSD benchmark, vfi_lib.speed.ssd,
# times every backend itself).
SSM_BACKEND_CLIS = ["vfi_lib.train", "vfi_lib.eval", "vfi_lib.infer.video", "vfi_lib.infer.pair",
                    "vfi_lib.speed.timetest", "vfi_lib.speed"]

HELP_SCRIPT = r"""
import contextlib, io, json, runpy, sys, warnings
out = {}
for key in json.loads(sys.argv[1]):
    mod, *words = key.split(" ")
    buf, err = io.StringIO(), io.StringIO()
    sys.argv = [mod, *words, "--help"]
    code = None
    with warnings.catch_warnings(), contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):
        warnings.simplefilter("ignore")
        try:
            runpy.run_module(mod, run_name="__main__", alter_sys=True)
        except SystemExit as e:
            code = e.code
        except BaseException as e:  # noqa: BLE001 - reported, not raised
            code = f"{type(e).__name__}: {e}"
    out[key] = {"code": code, "help": buf.getvalue(), "stderr": err.getvalue()[-2000:]}
sys.stdout.write(json.dumps(out))
"""


def _lines(rel: str) -> list[str]:
    return (ROOT / rel).read_text().splitlines()


def documented_modules() -> dict[str, list[str]]:
    """module -> ["file:line", ...] of every ``-m vfi_lib...`` command in the docs."""
    found: dict[str, list[str]] = {}
    for rel in DOC_FILES:
        for i, line in enumerate(_lines(rel), 1):
            for m in COMMAND.finditer(line):
                found.setdefault(m.group(1), []).append(f"{rel}:{i}")
    return found


def _code_texts(rel: str) -> list[tuple[int, str]]:
    """(line, code) of the fenced blocks (backslash continuations joined) and inline spans of a markdown file."""
    text = (ROOT / rel).read_text()
    out: list[tuple[int, str]] = []
    for block in FENCE.finditer(text):
        first = text.count("\n", 0, block.start(1)) + 1
        pending, start = "", None
        for j, line in enumerate(block.group(1).splitlines()):
            start = first + j if start is None else start
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            out.append((start, pending + line))
            pending, start = "", None
    prose = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)  # keep line numbers
    for span in SPAN.finditer(prose):
        out.append((prose.count("\n", 0, span.start()) + 1, span.group(1).replace("\n", " ")))
    return out


def documented_commands() -> list[tuple[str, str, list[str], list[str]]]:
    """(where, module, leading positional words, long flags) of each command in the markdown code."""
    cmds = []
    for rel in MARKDOWN:
        for line, code in _code_texts(rel):
            matches = list(COMMAND.finditer(code))
            for k, m in enumerate(matches):
                rest = code[m.end(): matches[k + 1].start() if k + 1 < len(matches) else len(code)]
                end = END.search(rest)
                rest = rest[: end.start()] if end else rest
                words = []
                for tok in rest.split():
                    if tok.startswith("-"):
                        break
                    words.append(tok)
                cmds.append((f"{rel}:{line}", m.group(1), words, FLAG.findall(rest)))
    return cmds


def _spec(name: str):
    try:
        return importlib.util.find_spec(name)
    except ModuleNotFoundError:  # a parent package is missing
        return None


def _runnable(name: str) -> bool:
    spec = _spec(name)
    if spec is None:
        return False
    if spec.submodule_search_locations is not None:  # a package: `python -m` runs its __main__
        return _spec(name + ".__main__") is not None
    return spec.origin is not None and re.search(r"""__name__\s*==\s*["']__main__["']""",
                                                 Path(spec.origin).read_text()) is not None


@lru_cache(maxsize=1)
def help_texts() -> dict[str, dict]:
    """``--help`` of every (module, leading words) the docs use, plus the model CLIs, from one subprocess."""
    cmds = [(mod, words) for _, mod, words, flags in documented_commands() if flags and _runnable(mod)]
    keys = {mod for mod, _ in cmds} | {" ".join([mod, *words]) for mod, words in cmds if words}
    keys |= set(SSM_BACKEND_CLIS)
    res = subprocess.run([sys.executable, "-c", HELP_SCRIPT, json.dumps(sorted(keys))], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout)


def test_docs_name_some_commands():
    mods = documented_modules()
    assert {"vfi_lib.train", "vfi_lib.eval", "vfi_lib.speed"} <= set(mods), sorted(mods)
    assert any(flags for *_, flags in documented_commands())


@pytest.mark.parametrize("module", sorted(documented_modules()))
def test_documented_module_exists_and_runs(module):
    where = ", ".join(documented_modules()[module])
    assert _spec(module) is not None, f"{where}: `python -m {module}`: no such module"
    assert _runnable(module), (f"{where}: `python -m {module}` does nothing: a package needs __main__.py, "
                               "a module an `if __name__ == \"__main__\"` block")


def test_documented_flags_exist():
    helps = help_texts()
    bad = []
    for where, mod, words, flags in documented_commands():
        if not flags or not _runnable(mod):
            continue  # missing modules fail test_documented_module_exists_and_runs
        top = helps[mod]
        sub = helps.get(" ".join([mod, *words]), {}) if words else {}
        assert top["code"] == 0, f"{where}: `python -m {mod} --help` failed: {top['code']} {top['stderr']}"
        text = top["help"] + (sub.get("help", "") if sub.get("code") == 0 else "")
        for flag in flags:
            if not re.search(r"(?<![\w-])" + re.escape(flag) + r"(?![\w-])", text):
                bad.append(f"{where}: python -m {mod} {' '.join(words)} has no flag {flag}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("module", SSM_BACKEND_CLIS)
def test_model_clis_take_ssm_backend(module):
    h = help_texts()[module]
    assert h["code"] == 0, h["stderr"]
    assert "--ssm_backend" in h["help"], f"README: `--ssm_backend` on every model CLI, but not on {module}"
