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
    with pytest.raises(ValueError, match="compile mode must be one of off, default, cudagraphs, regional"):
        compile_model(model, "max")
    assert set_ssm_backend(model, "auto") == len([m for m in model.modules() if isinstance(m, Mamba2)]) > 0
    with pytest.raises(ValueError, match="unknown backend 'cuda'"):
        set_ssm_backend(model, "cuda")


def test_regional_compile_compiles_the_blocks_in_place(cheap_compile):
    """mode "regional": every outermost LGS block / IFNet block / refinement U-Net / conv encoder is compiled
    in place (nothing inside a compiled region again), the model object, its state_dict keys and its output
    stay the same, and the SSD runs on the torch backend."""
    from vfi_lib.model.compile import region_types
    from vfi_lib.model.flow import IFBlock
    from vfi_lib.model.refine import RefineUNet
    from vfi_lib.modules.lgs_block import LGSBlock

    calls = cheap_compile("eager")
    torch.manual_seed(0)
    model = build_model(preset("phase2", tiny=True, ssm_backend="auto")).eval()
    keys = list(model.state_dict())
    x0, x1 = torch.rand(1, 3, 48, 64), torch.rand(1, 3, 48, 64)
    ref = predict(model, x0, x1, 0.5)
    assert compile_model(model, "regional") is model and _backends(model) == {"torch"}
    compiled = [n for n, m in model.named_modules() if getattr(m, "_compiled_call_impl", None) is not None]
    assert len(calls) == len(compiled) and all(c == {"dynamic": False} for c in calls)
    kinds = {type(m) for n, m in model.named_modules() if n in compiled}
    assert {LGSBlock, IFBlock, RefineUNet} <= kinds <= set(region_types())
    assert len([n for n in compiled if isinstance(model.get_submodule(n), LGSBlock)]) == sum(
        isinstance(m, LGSBlock) for m in model.modules())
    assert not any(a != b and b.startswith(a + ".") for a in compiled for b in compiled)  # outermost only
    assert list(model.state_dict()) == keys
    torch.testing.assert_close(predict(model, x0, x1, 0.5), ref, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="no LGSBlock/IFBlock"):
        compile_model(torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1)), "regional")


@pytest.mark.parametrize("mode", ["default", "regional"])
def test_train_compile_matches_eager(cheap_compile, tmp_path, mode):
    """train.compile: the model runs compiled (forward + backward through AOTAutograd) with the torch
    SSD, and two optimizer steps give the same losses and weights as the eager run ("regional": the
    blocks compiled in place, the model object itself trained)."""
    from vfi_lib.train.trainer import Trainer

    calls = cheap_compile("aot_eager")
    common = dict(dataset="synthetic", crop_size=32, batch_size=2, max_steps=2, num_workers=0, val_limit=1,
                  seed=3, ckpt_interval=0, log_interval=1, ckpt_dir=str(tmp_path / "c"), log_dir=str(tmp_path / "l"))
    runs = {}
    for flag in (False, True):
        tr = Trainer(preset("phase1", tiny=True, exp_name=f"c{int(flag)}", compile=mode if flag else "off", **common))
        assert (tr.model is not tr.raw_model) == (flag and mode == "default")
        tr.fit()
        tr.close()
        recs = [json.loads(x) for x in (Path(tr.log_dir) / "metrics.jsonl").read_text().splitlines()]
        runs[flag] = ([r["loss"] for r in recs if r["kind"] == "train"], tr.raw_model.state_dict(), _backends(tr.raw_model))
    assert (len(calls) == 1) == (mode == "default") and len(calls) >= 1 and calls[0]["dynamic"] is False
    assert runs[True][2] == {"torch"}  # "auto" switched so the whole model is one graph
    assert runs[True][0] == pytest.approx(runs[False][0], rel=1e-5) and len(runs[True][0]) == 2
    for k, v in runs[False][1].items():
        torch.testing.assert_close(runs[True][1][k], v, rtol=1e-4, atol=1e-6, msg=k)
