"""LGS block / stage: modes build only their branches, forward/backward, cross-frame, attention maps."""

import pytest
import torch

from vfi_lib.config import preset
from vfi_lib.modules.lgs_block import LGSStage


def _cfg(**kw):
    return preset("phase1", tiny=True, ssm_backend="torch", **kw).model  # dim 24, window 4


@pytest.mark.parametrize(
    "mode,mhc", [("hybrid", False), ("hybrid", True), ("mamba2_only", False), ("gated_attn_only", True)]
)
def test_stage_forward_backward(mode, mhc):
    torch.manual_seed(0)
    stage = LGSStage(24, 2, 2, _cfg(backbone_mode=mode, use_mhc=mhc))
    f0 = torch.randn(2, 24, 8, 12, requires_grad=True)
    f1 = torch.randn(2, 24, 8, 12, requires_grad=True)
    o0, o1 = stage(f0, f1)
    assert o0.shape == f0.shape and o1.shape == f1.shape
    (o0.square().mean() + o1.mean()).backward()
    for g in (f0.grad, f1.grad):
        assert torch.isfinite(g).all() and g.abs().sum() > 0
    no_grad = [n for n, p in stage.named_parameters() if p.grad is None]
    assert not no_grad, no_grad


def test_modes_build_only_their_branches():
    names = {m: [n for n, _ in LGSStage(24, 2, 2, _cfg(backbone_mode=m)).named_parameters()] for m in
             ("hybrid", "mamba2_only", "gated_attn_only")}
    assert not any(".attn." in n or "fusion" in n for n in names["mamba2_only"])
    assert not any(".ss2d." in n or "mamba" in n or "fusion" in n for n in names["gated_attn_only"])
    assert any(".attn." in n for n in names["hybrid"]) and any(".ss2d.mamba." in n for n in names["hybrid"])
    assert any("fusion" in n for n in names["hybrid"])


def test_shift_every_other_block_and_cross_frame_coupling():
    torch.manual_seed(0)
    for mode in ("mamba2_only", "gated_attn_only"):  # each branch alone must mix the two frames
        stage = LGSStage(24, 3, 2, _cfg(backbone_mode=mode)).eval()
        if mode == "gated_attn_only":
            assert [b.attn.shift for b in stage.blocks] == [0, 2, 0]
        f0, f1 = torch.randn(1, 24, 8, 8), torch.randn(1, 24, 8, 8)
        a0, _ = stage(f0, f1)
        b0, _ = stage(f0, f1 + torch.randn_like(f1))  # (a constant shift would vanish in LN)
        assert (a0 - b0).abs().max() > 1e-3, mode  # frame 0 sees frame 1


def test_attention_maps_and_keep_attn_toggle():
    stage = LGSStage(24, 2, 2, _cfg(), keep_attn=True)
    stage(torch.randn(1, 24, 8, 8), torch.randn(1, 24, 8, 8))
    maps = stage.attention_maps()
    assert [m["shift"] for m in maps] == [0, 2]
    n = 2 * 4 * 4  # joint window over both frames
    for m in maps:
        assert m["attn"].shape == (4, 2, n, n) and m["gate"].shape == (1, 2, 8, 8, 24)
        torch.testing.assert_close(m["attn"].sum(-1), torch.ones(4, 2, n))
    stage.keep_attn = False
    assert not stage.keep_attn and all(not b.attn.keep_attn for b in stage.blocks)
    assert LGSStage(24, 1, 2, _cfg(backbone_mode="mamba2_only")).attention_maps() == []


def test_matvlm_init_inside_block_and_errors():
    """matvlm_init copies nothing at construction (the trainer does it from train.init_from), but
    needs a Mamba2 branch to initialise."""
    for mode in ("hybrid", "mamba2_only"):
        torch.manual_seed(0)
        plain = LGSStage(24, 1, 2, _cfg(backbone_mode=mode))
        torch.manual_seed(0)
        stage = LGSStage(24, 1, 2, _cfg(backbone_mode=mode, matvlm_init=True))
        a, b = plain.state_dict(), stage.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), mode
    with pytest.raises(ValueError, match="lgs_block.py: model.matvlm_init .* backbone_mode 'hybrid' or 'mamba2_only'"):
        LGSStage(24, 1, 2, _cfg(matvlm_init=True, backbone_mode="gated_attn_only"))
    with pytest.raises(ValueError, match="lgs_block.py"):
        stage(torch.randn(1, 24, 8, 8), torch.randn(1, 24, 8, 4))
