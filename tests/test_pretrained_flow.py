"""Phase 2 on a pretrained flow: ``model.flow_arch = "rife4"`` (Practical-RIFE 4.2x's IFNet in place of
ours), ``train.init_flow_from`` (its released flownet.pkl), ``train.flow_lr_scale`` (the flow's own
learning rate) and ``train.w_flow_sup`` (L1 to the synthetic generator's exact flows)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vfi_lib.config import ConfigError, preset
from vfi_lib.model import build_model
from vfi_lib.model.peers import PeerWeightsError, to_reference_state_dict
from vfi_lib.model.peers.rife_hdv3 import RIFEHDv3
from vfi_lib.model.peers.rife_v4 import RIFEv4
from vfi_lib.model.rife_flow import RIFEFlow, load_rife_flow
from vfi_lib.train.checkpoint import load_checkpoint
from vfi_lib.train.losses import CompositeLoss, FlowSupervisionLoss
from vfi_lib.train.schedule import WarmupCosine
from vfi_lib.train.trainer import Trainer, param_groups, train


def _peer_file(tmp_path: Path, seed: int = 0, cls=RIFEv4) -> tuple[Path, torch.nn.Module]:
    """A random peer saved as its released file is laid out: reference key names, ``module.`` prefixes."""
    torch.manual_seed(seed)
    peer = cls().eval()
    path = tmp_path / f"{cls.__name__}_{seed}.pkl"
    torch.save(to_reference_state_dict(peer, prefix="module."), path)
    return path, peer


def test_rife4_flow_is_the_peer_after_loading_its_file(tmp_path):
    path, peer = _peer_file(tmp_path)
    model = build_model(preset("phase2", tiny=True, flow_arch="rife4")).eval()
    assert isinstance(model.flow, RIFEFlow)
    assert "initialised from Practical-RIFE" in load_rife_flow(model, path)
    keys = [k for k in model.state_dict() if k.startswith("flow.")]
    assert keys and all(k.startswith("flow.net.") for k in keys)
    g = torch.Generator().manual_seed(1)
    x0, x1 = torch.rand(2, 3, 72, 100, generator=g), torch.rand(2, 3, 72, 100, generator=g)
    t = torch.tensor([0.3, 0.7])
    with torch.no_grad():
        ref = peer.flows(x0, x1, t)
        ours = model.flow(x0, x1, t, return_levels=True)
        y0, y1 = x0[..., :64, :64], x1[..., :64, :64]  # a multiple of 64: the model's own padding is a no-op
        frame, aux = model(y0, y1, t, return_aux=True)
        ref64 = peer.flows(y0, y1, t)
    for k in ("flow_t0", "flow_t1", "mask", "mask_logit"):
        assert torch.equal(ours[k], ref[k].float()), k
    assert len(ours["flow_levels"]) == 5 and ours["flow_levels"][-1].shape == (2, 4, 72, 100)
    assert torch.equal(aux["flow_t0"], ref64["flow_t0"]) and torch.equal(aux["mask"], ref64["mask"])
    assert frame.shape == y0.shape and torch.isfinite(frame).all()


def test_load_rife_flow_refuses_our_ifnet_and_a_foreign_file(tmp_path):
    path, _ = _peer_file(tmp_path)
    with pytest.raises(ValueError, match="flow_arch 'rife4'"):
        load_rife_flow(build_model(preset("phase2", tiny=True)), path)
    hd, _ = _peer_file(tmp_path, cls=RIFEHDv3)
    with pytest.raises(PeerWeightsError, match=hd.name):
        load_rife_flow(build_model(preset("phase2", tiny=True, flow_arch="rife4")), hd)
    with pytest.raises(ConfigError, match="flow_arch"):
        preset("phase2", flow_arch="pwc")


def test_flow_lr_scale_groups_and_schedule():
    model = build_model(preset("phase2", tiny=True))
    flow_ids = {id(p) for p in model.flow.parameters()}
    plain = param_groups(model, 1e-4)
    assert len(plain) == 2 and sum(len(g["params"]) for g in plain) == len(list(model.parameters()))
    groups = param_groups(model, 1e-4, 0.1)
    assert len(groups) == 4 and [g.get("flow", False) for g in groups] == [False, False, True, True]
    assert {id(p) for g in groups[2:] for p in g["params"]} == flow_ids
    assert not flow_ids & {id(p) for g in groups[:2] for p in g["params"]}
    assert [g["weight_decay"] for g in groups] == [1e-4, 0.0, 1e-4, 0.0]
    opt = torch.optim.AdamW(groups, lr=1.0)
    sched = WarmupCosine(opt, 2e-3, 0.0, 0, 100)
    sched.step()
    lrs = [g["lr"] for g in opt.param_groups]
    assert lrs[0] == lrs[1] == pytest.approx(sched.lr()) and lrs[2] == lrs[3] == pytest.approx(0.1 * sched.lr())
    frozen = param_groups(model, 1e-4, 0.0)  # 0 freezes the flow estimator
    assert len(frozen) == 2 and not any(p.requires_grad for p in model.flow.parameters())
    assert not flow_ids & {id(p) for g in frozen for p in g["params"]}
    with pytest.raises(ConfigError, match="flow_lr_scale"):
        preset("phase2", flow_lr_scale=-1.0)


def test_flow_supervision_loss_value_and_config_errors():
    g = torch.Generator().manual_seed(0)
    gt = {k: torch.randn(2, 2, 8, 8, generator=g) * 5 for k in ("flow_t0", "flow_t1")}
    aux = {"flow_t0": gt["flow_t0"] + 1.0, "flow_t1": gt["flow_t1"] - 3.0}
    assert float(FlowSupervisionLoss()(aux, gt)) == pytest.approx(2.0)  # (1 + 3) / 2 px
    assert float(FlowSupervisionLoss()(gt, gt)) == 0.0
    with pytest.raises(KeyError, match="w_flow_sup 0"):
        FlowSupervisionLoss()({"flow_t0": gt["flow_t0"]}, gt)
    loss = CompositeLoss(preset("phase2", tiny=True, dataset="synthetic", w_flow_sup=0.5))
    assert loss.needs_aux and loss.needs_flows
    pred = torch.rand(2, 3, 8, 8)
    total, parts = loss(pred, pred, aux, gt)
    assert float(parts["flow_sup"]) == pytest.approx(2.0)
    assert float(total) == pytest.approx(sum(loss.weights[k] * float(v) for k, v in parts.items() if k != "total"))
    with pytest.raises(ConfigError, match="--dataset synthetic"):
        CompositeLoss(preset("phase2", tiny=True, dataset="video", w_flow_sup=0.5))
    with pytest.raises(ConfigError, match="phase = 1"):
        CompositeLoss(preset("phase1", tiny=True, dataset="synthetic", w_flow_sup=0.5))
    assert not CompositeLoss(preset("phase2", tiny=True, dataset="synthetic")).needs_flows


def _metrics(log_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (log_dir / "metrics.jsonl").read_text().splitlines()]


def test_trainer_pretrained_flow_run_and_flow_supervision(tmp_path):
    path, peer = _peer_file(tmp_path)
    dirs = dict(ckpt_dir=str(tmp_path / "c"), log_dir=str(tmp_path / "l"), num_workers=0, val_limit=1, crop_size=64,
                batch_size=2, max_steps=2, dataset="synthetic")
    cfg = preset("phase2", tiny=True, flow_arch="rife4", init_flow_from=str(path), flow_lr_scale=0.1, exp_name="rf",
                 **dirs)
    tr = Trainer(cfg)
    own = tr.raw_model.flow.net.state_dict()
    assert all(torch.equal(v, own[k]) for k, v in peer.state_dict().items())  # the file's weights, not the init
    lrs = [g["lr"] for g in tr.optimizer.param_groups]
    assert len(lrs) == 4 and lrs[2] == pytest.approx(0.1 * lrs[0])
    tr.close()
    with pytest.raises(ConfigError, match="flow_arch 'rife4'"):
        Trainer(preset("phase2", tiny=True, init_flow_from=str(path), exp_name="wrong", **dirs))
    s = train(preset("phase2", tiny=True, w_flow_sup=0.01, exp_name="sup", **dirs))
    rec = [r for r in _metrics(Path(s["log_dir"])) if r["kind"] == "train"][-1]
    assert rec["loss_flow_sup"] > 0 and s["step"] == 2
    # resuming it with a flow learning-rate scale (4 optimizer groups instead of 2) says what to do
    ck = Path(s["ckpt_dir"]) / "latest.pt"
    assert load_checkpoint(ck)["config"]["train"]["w_flow_sup"] == 0.01
    for scale in (0.5, 0.0):  # own flow groups (4 instead of 2), or a frozen flow (2 groups, fewer parameters)
        with pytest.raises(ConfigError, match="optimizer groups hold"):
            Trainer(preset("phase2", tiny=True, w_flow_sup=0.01, exp_name="sup", flow_lr_scale=scale,
                           **{**dirs, "max_steps": 4}))
