"""vfi_lib.speed.flops: MACs per op against hand counts, exclusive attribution per module, model costs."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from vfi_lib.speed import flops
from vfi_lib.speed.flops import MacCounter, component_macs, count_macs, model_cost


def test_linear_macs_by_hand():
    lin = nn.Linear(7, 5)
    count = count_macs(lin, torch.randn(3, 4, 7))
    assert count.total == 3 * 4 * 7 * 5  # every output element: 7 multiply-adds (bias adds not counted)
    assert count.flops == 2 * count.total
    assert count.by_kind() == {"conv": 0, "linear": 420, "matmul": 0, "sdpa": 0}
    assert count.by_module() == {"": 420}  # the root module itself


def test_conv2d_and_transposed_conv_macs_by_hand():
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)
    x = torch.randn(2, 4, 9, 11)
    out = conv(x)
    assert out.shape == (2, 6, 5, 6)
    count = count_macs(conv, x)
    assert count.total == 2 * 6 * 5 * 6 * (4 // 2) * 3 * 3  # out elements x (C_in/groups x k x k)
    assert count.by_kind()["conv"] == count.total
    up = nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1)
    y = torch.randn(1, 4, 5, 5)
    assert count_macs(up, y).total == (1 * 4 * 5 * 5) * 6 * 4 * 4  # every input element hits C_out x k x k
    # torch's own counter agrees on convolutions (2 FLOPs per MAC)
    fc = FlopCounterMode(display=False)
    with fc, torch.no_grad():
        conv(x)
        up(y)
    assert fc.get_total_flops() == 2 * (count.total + count_macs(up, y).total)


@pytest.mark.parametrize("masked", [False, True])
def test_sdpa_macs_by_hand(masked):
    q, k, v = torch.randn(2, 3, 5, 4), torch.randn(2, 3, 6, 4), torch.randn(2, 3, 6, 7)
    mask = torch.zeros(2, 3, 5, 6) if masked else None
    with MacCounter() as c:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert out.shape == (2, 3, 5, 7)
    expected = 2 * 3 * 5 * 6 * (4 + 7)  # Q K^T: L S E, then A V: L S Ev, per batch and head
    assert c.count.total == expected and c.count.by_kind()["sdpa"] == expected
    # keyword arguments, and a fused kernel reached directly at the aten level, count the same
    with MacCounter() as c2:
        F.scaled_dot_product_attention(query=q, key=k, value=v)
        torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, k)  # Ev = E = 4 (a fused kernel)
    assert c2.count.by_kind()["sdpa"] == expected + 2 * 3 * 5 * 6 * (4 + 4)


def test_einsum_is_a_matmul_and_elementwise_ops_are_free():
    a, b = torch.randn(2, 3, 4), torch.randn(2, 4, 5)
    with MacCounter() as c:
        torch.einsum("bij,bjk->bik", a, b)
        (a.exp() * 2).softmax(-1)
    assert c.count.total == 2 * 3 * 4 * 5 and c.count.by_kind()["matmul"] == 120


class _Mixed(nn.Module):
    """conv -> tokens -> linear -> one attention call in its own forward: the three counted op kinds."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.proj = nn.Linear(4, 6)

    def forward(self, x):
        y = self.conv(x)  # (B, 4, H, W)
        tok = self.proj(y.flatten(2).transpose(1, 2))  # (B, HW, 6)
        q, k, v = tok[:, None].chunk(3, dim=-1)  # (B, 1, HW, 2) each
        return F.scaled_dot_product_attention(q, k, v)


def test_module_total_by_hand_and_torch_agrees_on_conv_and_linear():
    net = _Mixed()
    x = torch.randn(2, 3, 4, 5)
    count = count_macs(net, x)
    conv = 2 * 4 * 4 * 5 * (3 * 3 * 3)  # out elements x C_in k k = 4320
    lin = 2 * 20 * 4 * 6  # tokens x in x out = 960
    sdpa = 2 * 1 * 20 * 20 * (2 + 2)  # batch x heads x L x S x (E + Ev) = 3200
    assert count.by_module() == {"conv": conv, "proj": lin, "": sdpa}  # the attention runs in the root's forward
    assert count.total == conv + lin + sdpa == 8480 and count.inclusive("") == count.total
    assert count.by_kind() == {"conv": conv, "linear": lin, "matmul": 0, "sdpa": sdpa}
    assert component_macs(count, rules=(("conv", "convs"), ("proj", "projection"))) == {
        "convs": conv, "projection": lin, "other": sdpa}
    fc = FlopCounterMode(display=False)
    with fc, torch.no_grad():
        net(x)
    torch_counts = {k: sum(v.values()) for k, v in fc.get_flop_counts().items()}
    assert torch_counts["_Mixed.conv"] == 2 * conv and torch_counts["_Mixed.proj"] == 2 * lin  # 2 FLOPs per MAC


class _Conn(nn.Module):
    """Like an mHC connection: mixes its input, then calls a sibling module passed in."""

    def __init__(self) -> None:
        super().__init__()
        self.mix = nn.Parameter(torch.randn(4, 4))

    def forward(self, x, fn):
        return fn(x @ self.mix)


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 4)
        self.conn = _Conn()
        self.head = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))

    def forward(self, x):
        return self.head(self.conn(x, self.layer))


def test_ops_are_charged_to_the_innermost_module_and_outputs_are_unchanged():
    torch.manual_seed(0)
    blk = _Block()
    x = torch.randn(10, 4)
    ref = blk(x)
    with MacCounter(blk) as c:
        out = blk(x)
    torch.testing.assert_close(out, ref)  # the hooks do not touch outputs
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in blk.modules())  # hooks removed
    count = c.count
    assert count.by_module() == {"conn": 10 * 4 * 4, "layer": 10 * 4 * 4, "head.0": 10 * 4 * 8, "head.2": 10 * 8 * 2}
    assert count.inclusive("head") == 10 * 4 * 8 + 10 * 8 * 2 and count.inclusive("") == count.total
    assert count.by_kind() == {"conv": 0, "linear": 160 + 320 + 160, "matmul": 160, "sdpa": 0}


def test_component_breakdown_of_a_tiny_hybrid_model_sums_to_the_total():
    from vfi_lib.config import preset
    from vfi_lib.model import build_model

    cfg = preset("phase1", tiny=True, use_mhc=True, ssm_backend="torch")
    net = build_model(cfg).eval()
    x = torch.rand(1, 3, 64, 64)
    count = count_macs(net, x, x, 0.5)
    parts = component_macs(count)
    assert sum(parts.values()) == count.total
    for label in ("SS2D-Mamba2", "window attention", "fusion", "ECAB", "mHC", "synthesis head", "encoder"):
        assert parts[label] > 0, label
    assert parts["flow (IFNet)"] == 0 and parts["refine U-Net"] == 0  # phase 1 has neither
    # the attention blocks' SDPA and the SSD's einsums are where they should be
    kinds = count.by_kind()
    assert kinds["sdpa"] > 0 and kinds["matmul"] > 0
    matmul = {p: v for (p, k), v in count.entries.items() if k == "matmul"}
    ssd = sum(v for p, v in matmul.items() if p.endswith(".ss2d"))  # the chunked SSD's einsums
    mix = sum(v for p, v in matmul.items() if p.split(".")[-1] in ("mhc_mixer", "mhc_ecab"))  # H_res X etc.
    assert ssd > 0 and mix > 0 and ssd + mix == kinds["matmul"]  # no other matmuls in phase 1


def test_model_cost_on_meta_equals_the_cpu_count():
    from vfi_lib.config import preset
    from vfi_lib.model import build_model, count_parameters

    # the hybrid phase-2 model too: the SSD and Sinkhorn disable autocast, which the meta device lacks
    for cfg in (preset("phase1", tiny=True, backbone_mode="gated_attn_only", ssm_backend="torch"),
                preset("phase2", tiny=True, ssm_backend="torch")):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # runs on meta: no fallback
            meta = model_cost(cfg, (64, 96))
        cpu = model_cost(cfg, (64, 96), device="cpu")
        assert meta.macs == cpu.macs > 0 and meta.size == (64, 96)
        assert meta.params == cpu.params == count_parameters(build_model(cfg))


def test_model_cost_falls_back_to_the_cpu_with_a_warning(monkeypatch):
    from vfi_lib.config import preset

    real = flops.count_macs

    def no_meta(model, *args, **kwargs):
        if args[0].device.type == "meta":
            raise RuntimeError("unsupported scalarType")
        return real(model, *args, **kwargs)

    monkeypatch.setattr(flops, "count_macs", no_meta)
    cfg = preset("phase1", tiny=True, backbone_mode="gated_attn_only", ssm_backend="torch")
    with pytest.warns(UserWarning, match="counting on the CPU"):
        cost = model_cost(cfg, 64)
    assert cost.macs == real(*_cpu_net_and_inputs(cfg, 64)).total


def _cpu_net_and_inputs(cfg, s):
    from vfi_lib.model import build_model

    x = torch.rand(1, 3, s, s)
    return build_model(cfg).train(), x, x, 0.5
