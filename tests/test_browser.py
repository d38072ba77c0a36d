"""Real-browser test: notebook 31's frame scrubber works in JupyterLab in headless Chromium.

Starts JupyterLab (subprocess, 127.0.0.1, free port, token) over a *temporary copy* of
``notebooks/31_frame_scrubber.ipynb`` (JupyterLab autosaves outputs; the committed notebook must
stay output-free), opens it with Playwright's sync API in the system Chromium, runs all cells from
the Run menu, waits for the widget's image, moves the index and t sliders with the keyboard and
checks that the displayed frame changes each time. Skips when ``/usr/bin/chromium`` or the ``playwright`` package is missing
(never ``playwright install``: it downloads a browser).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "31_frame_scrubber.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
SERVER_START_S = 45  # JupyterLab answering /api/status
RUN_ALL_S = 90  # kernel start + all cells + first widget render (2 busy CPU cores)
CHANGE_S = 30  # slider move -> new image


def _requirements() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not found (install the distribution's chromium package)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install playwright; no browser download needed)"
    try:
        import jupyterlab  # noqa: F401
        import ipywidgets  # noqa: F401
    except ImportError as e:
        return f"{e.name} is not installed (pip install -e .[notebooks])"
    if not NOTEBOOK.is_file():
        return f"{NOTEBOOK} does not exist"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"JupyterLab did not answer {url.split('?')[0]} within {timeout} s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (the server then shuts its kernels down); SIGKILL after 10 s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _kernel_name() -> str:
    """The project's kernelspec (``vfi-lib``) if installed for this interpreter, else ``python3``."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        return "vfi-lib" if "vfi-lib" in KernelSpecManager().find_kernel_specs() else "python3"
    except Exception:
        return "python3"


def _wait_kernel_idle(page, timeout: float, settle: float = 1.5) -> None:
    """Wait until the notebook's kernel has been idle for ``settle`` seconds."""
    deadline, idle_since = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        if page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count():
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= settle:
                return
        else:
            idle_since = None
        page.wait_for_timeout(250)
    raise AssertionError(f"the notebook's kernel did not become idle within {timeout} s")


def _run_all(page) -> None:
    """Run > Run All Cells from JupyterLab's menu bar."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


def _run_all_until_visible(page, target, timeout: float) -> None:
    """Run all cells and wait for ``target``; accepts JupyterLab's "Select Kernel" dialog (its
    preselected choice is the notebook's kernelspec) and re-issues Run All if nothing started."""
    _run_all(page)
    deadline, retry_at = time.monotonic() + timeout, None
    started = page.locator(".jp-InputPrompt", has_text=re.compile(r"\[(\*|\d+)\]"))
    while time.monotonic() < deadline:
        if target.count() and target.first.is_visible():
            return
        accept = page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept")
        if accept.count():
            accept.first.click()
            retry_at = time.monotonic() + 3.0
        elif retry_at is not None and time.monotonic() > retry_at:
            retry_at = None
            if not started.count():
                _run_all(page)
        page.wait_for_timeout(300)
    raise AssertionError(f"the scrubber's image did not appear within {timeout} s of Run All Cells")


def _image_digest(page, locator) -> tuple[str, str]:
    """(src, sha1 of the element screenshot) of the scrubber's image."""
    src = locator.get_attribute("src") or ""
    return src, hashlib.sha1(locator.screenshot()).hexdigest()


def _wait_image_change(page, locator, before: tuple[str, str], timeout: float) -> tuple[str, str]:
    deadline = time.monotonic() + timeout
    now = before
    while time.monotonic() < deadline:
        page.wait_for_timeout(300)
        now = _image_digest(page, locator)
        if now[0] != before[0] and now[1] != before[1]:
            return now
    return now


def test_frame_scrubber_slider_changes_the_frame_in_jupyterlab(tmp_path):
    reason = _requirements()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    root = tmp_path / "lab"
    root.mkdir()
    nb = root / NOTEBOOK.name
    content = json.loads(NOTEBOOK.read_text())
    kernel = _kernel_name()
    content["metadata"]["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    nb.write_text(json.dumps(content))
    committed = NOTEBOOK.read_bytes()
    port, token = _free_port(), hashlib.sha1(os.urandom(16)).hexdigest()
    env = {**os.environ,
           "VFI_OUTPUTS": str(tmp_path / "outputs"),  # the notebook's static figure goes here
           "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"]
    log = tmp_path / "jupyterlab.log"
    t0 = time.monotonic()
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for_server(f"{base}/api/status?token={token}", proc, log, SERVER_START_S)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            try:
                page.goto(f"{base}/lab/tree/{nb.name}?token={token}", timeout=SERVER_START_S * 1000)
                page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=SERVER_START_S * 1000)
                _wait_kernel_idle(page, SERVER_START_S)
                image = page.locator(".jp-OutputArea-output img.widget-image")
                _run_all_until_visible(page, image, RUN_ALL_S)
                image = image.first
                page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                                       timeout=RUN_ALL_S * 1000, state="attached")
                errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'] "
                                      ":text('Traceback')")
                assert errors.count() == 0, errors.first.inner_text()
                image.scroll_into_view_if_needed()
                before = _image_digest(page, image)

                # move the index slider one step with the keyboard on its focused handle
                handle = page.locator(".widget-slider .noUi-handle").first
                handle.focus()
                page.keyboard.press("ArrowRight")
                after = _wait_image_change(page, image, before, CHANGE_S)
                assert after[0] != before[0], "the image widget's src did not change after moving the slider"
                assert after[1] != before[1], "the displayed frame (screenshot) did not change after moving the slider"

                # the t slider (arbitrary-time interpolation) changes it too
                t_handle = page.locator(".widget-slider", has=page.locator(".widget-label", has_text=re.compile(r"^t$"))) \
                    .locator(".noUi-handle").last
                t_handle.focus()
                page.keyboard.press("ArrowLeft")
                after_t = _wait_image_change(page, image, after, CHANGE_S)
                assert after_t[1] != after[1], "moving the t slider did not change the displayed frame"
            except Exception:
                shot = tmp_path / "failure.png"
                page.screenshot(path=str(shot))
                print(f"screenshot of the failure: {shot}; JupyterLab log: {log}")
                raise
            finally:
                browser.close()
    finally:
        _stop(proc)
    assert NOTEBOOK.read_bytes() == committed, "the committed notebook was modified by the browser test"
    print(f"browser test took {time.monotonic() - t0:.1f} s")
