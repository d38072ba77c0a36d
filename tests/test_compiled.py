"""torch.compile integration (vfi_lib.infer.compile_model, train.compile, timetest --compile).

Inductor's C++ compilation is too slow for CPU CI, so ``torch.compile`` is redirected to the cheap
"eager" / "aot_eager" backends: they run the real dynamo trace (and AOTAutograd's joint forward-
backward graph for training), which is where graph breaks, recompiles and wrong outputs show up.
The Inductor numbers themselves come from the GPU benchmark (outputs/reference/README.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vfi_lib.config import preset
from vfi_lib.infer import compile_model, predict
from vfi_lib.model import build_model
from vfi_lib.ssm.mamba2 import Mamba2, set_ssm_backend

def _backends(model):
    return {m.backend for m in model.modules() if isinstance(m, Mamba2)}


def test_compile_model_modes_backend_and_outputs(cheap_compile):
    calls = cheap_compile("eager")
    torch.manual_seed(0)
    model = build_model(preset("phase1", tiny=True, ssm_backend="auto")).eval()
    x0, x1 = torch.rand(1, 3, 40, 56), torch.rand(1, 3, 40, 56)
    ref = predict(model, x0, x1, 0.5)
    assert compile_model(model, "off") is model and _backends(model) == {"auto"} and calls == []
    fast = compile_model(model, "cudagraphs")
    assert calls[-1] == {"dynamic": False, "mode": "reduce-overhead"} and _backends(model) == {"torch"}
    torch.testing.assert_close(predict(fast, x0, x1, 0.5), ref, rtol=0, atol=1e-6)  # padding, attributes pass through
    compile_model(model, "default")
    assert calls[-1] == {"dynamic": False, "mode": None}
    with pytest.raises(ValueError, match="compile mode must be one of off, default, cudagraphs"):
        compile_model(model, "max")
    assert set_ssm_backend(model, "auto") == len([m for m in model.modules() if isinstance(m, Mamba2)]) > 0
    with pytest.raises(ValueError, match="unknown backend 'cuda'"):
        set_ssm_backend(model, "cuda")


def test_train_compile_matches_eager(cheap_compile, tmp_path):
    """train.compile: the model runs compiled (forward + backward through AOTAutograd) with the torch
    SSD, and two optimizer steps give the same losses and weights as the eager run."""
    from vfi_lib.train.trainer import Trainer

    calls = cheap_compile("aot_eager")
    common = dict(dataset="synthetic", crop_size=32, batch_size=2, max_steps=2, num_workers=0, val_limit=1,
                  seed=3, ckpt_interval=0, log_interval=1, ckpt_dir=str(tmp_path / "c"), log_dir=str(tmp_path / "l"))
    runs = {}
    for flag in (False, True):
        tr = Trainer(preset("phase1", tiny=True, exp_name=f"c{int(flag)}", compile="default" if flag else "off", **common))
        assert (tr.model is not tr.raw_model) == flag
        tr.fit()
        tr.close()
        recs = [json.loads(x) for x in (Path(tr.log_dir) / "metrics.jsonl").read_text().splitlines()]
        runs[flag] = ([r["loss"] for r in recs if r["kind"] == "train"], tr.raw_model.state_dict(), _backends(tr.raw_model))
    assert len(calls) == 1 and calls[0]["dynamic"] is False
    assert runs[True][2] == {"torch"}  # "auto" switched so the whole model is one graph
    assert runs[True][0] == pytest.approx(runs[False][0], rel=1e-5) and len(runs[True][0]) == 2
    for k, v in runs[False][1].items():
        torch.testing.assert_close(runs[True][1][k], v, rtol=1e-4, atol=1e-6, msg=k)
