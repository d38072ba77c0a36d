"""GPU diagnosis of torch.compile over the SSD dispatcher (issue 4): compiles ``backends.ssd`` with the
torch and auto backends and ``ssd_chunked`` directly on CUDA, prints the full traceback of any failure
and the max error against eager. Run from the repo root: ``python scripts/gpu_compile_check.py``."""

from __future__ import annotations

import traceback

import torch

from vfi_lib.ssm import backends
from vfi_lib.ssm.ssd import ssd_chunked


def main() -> None:
    dev = torch.device("cuda")
    g = torch.Generator().manual_seed(0)
    b, l, h, p, n = 2, 1000, 8, 32, 64
    x = torch.randn(b, l, h, p, generator=g).to(dev)
    dt = torch.randn(b, l, h, generator=g).to(dev)
    A = -torch.rand(h, generator=g).mul(15).add(1).to(dev)
    B, C = (torch.randn(b, l, 1, n, generator=g).to(dev) for _ in range(2))
    D, dt_bias = torch.ones(h, device=dev), torch.zeros(h, device=dev)
    z = torch.randn_like(x)
    ref = backends.ssd(x, dt, A, B, C, 128, D=D, z=z, dt_bias=dt_bias, dt_softplus=True, backend="torch")
    cases = {
        "ssd_chunked": lambda f: f(x, torch.nn.functional.softplus(dt), A, B, C, 128, D=D, z=z),
        "backends.ssd torch": lambda f: f(x, dt, A, B, C, 128, D=D, z=z, dt_bias=dt_bias, dt_softplus=True,
                                          backend="torch"),
        "backends.ssd auto": lambda f: f(x, dt, A, B, C, 128, D=D, z=z, dt_bias=dt_bias, dt_softplus=True,
                                         backend="auto"),
    }
    for name, call in cases.items():
        torch._dynamo.reset()
        fn = ssd_chunked if name == "ssd_chunked" else backends.ssd
        try:
            out = call(torch.compile(fn))
            print(f"{name}: OK, max |compiled - eager| = {(out - ref).abs().max().item():.3e}")
        except Exception:  # noqa: BLE001 - a diagnosis script: print everything
            print(f"{name}: FAILED")
            traceback.print_exc()


if __name__ == "__main__":
    main()
