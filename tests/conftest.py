"""Shared pytest setup: GPU tests skip cleanly without CUDA; small thread counts on CI."""

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _autograd_state_not_leaked():
    """Library calls must scope no_grad/inference_mode: a global switch breaks every later test."""
    import torch

    yield
    leaked = not torch.is_grad_enabled()
    torch.set_grad_enabled(True)
    assert not leaked, "autograd was left disabled globally (use `with torch.no_grad()` instead)"


@pytest.fixture
def cheap_compile(monkeypatch):
    """torch.compile with the given cheap backend; records the keyword arguments of every call."""
    import torch

    real_compile = torch.compile
    calls = []

    def install(backend: str):
        def fake(model, **kw):
            calls.append(kw)
            torch._dynamo.reset()
            return real_compile(model, backend=backend, dynamic=kw.get("dynamic"))
        monkeypatch.setattr(torch, "compile", fake)
        return calls
    return install
