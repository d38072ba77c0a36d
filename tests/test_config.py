import json

import pytest

from vfi_lib.config import ABLATIONS, PRESETS, Config, ConfigError, preset


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_round_trip_json_and_dict(name, tmp_path):
    cfg = preset(name, tiny=True, use_mhc=True)
    assert Config.from_dict(cfg.to_dict()) == cfg
    assert Config.from_json(cfg.to_json()) == cfg
    path = tmp_path / "config.json"
    cfg.to_json(path)
    assert Config.from_json(path) == cfg
    # tuples survive JSON (lists) and come back as tuples
    assert isinstance(Config.from_json(path).model.stage_dims, tuple)


def test_phase_presets_differ_where_the_plan_says():
    p1, p2, p3 = preset("phase1"), preset("phase2"), preset("phase3")
    assert (p1.model.phase, p2.model.phase, p3.model.phase) == (1, 2, 3)
    assert p3.train.dataset == "x4k_mix" and p3.train.crop_size == 256
    assert p3.train.x4k_stride == (8, 32) and p3.train.mix_ratio == (2, 1)
    assert p1.train.w_flow_smooth == 0 and p2.train.w_flow_smooth > 0


@pytest.mark.parametrize("mode", list(ABLATIONS))
def test_ablation_switches(mode):
    cfg = preset("phase1", **ABLATIONS[mode])
    assert cfg.model.backbone_mode == ABLATIONS[mode]["backbone_mode"]
    assert cfg.model.use_mhc == ABLATIONS[mode]["use_mhc"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"backbone_mode": "transformer"}, "backbone_mode must be one of hybrid, mamba2_only, gated_attn_only"),
        ({"ssm_backend": "cuda"}, "ssm_backend must be one of auto, torch, triton"),
        ({"amp": "tf32"}, "amp must be one of"),
        ({"no_such_key": 1}, "unknown config key 'no_such_key'"),
        ({"model.lr": 1.0}, "unknown config key 'model.lr'"),
        ({"batch_size": 0}, "train.batch_size must be >= 1"),
        ({"batch_size": "four"}, "train.batch_size must be an int"),
        ({"use_mhc": "maybe"}, "model.use_mhc must be a bool"),
        ({"stage_dims": (64, 96, 128)}, "must have the same length"),
        ({"x4k_stride": (32, 8)}, "x4k_stride"),
    ],
)
def test_bad_values_are_rejected_with_a_clear_message(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        preset("phase1", **overrides)


def test_unknown_keys_in_dict_and_bad_json(tmp_path):
    d = preset("phase1").to_dict()
    d["model"]["depth"] = 3
    with pytest.raises(ConfigError, match="unknown model config keys \\['depth'\\]"):
        Config.from_dict(d)
    with pytest.raises(ConfigError, match="unknown top-level"):
        Config.from_dict({"optim": {}})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        Config.from_json(bad)
    with pytest.raises(ConfigError, match="unknown preset 'phase9'"):
        preset("phase9")


def test_string_values_from_cli_are_coerced():
    cfg = preset("phase1", use_mhc="true", batch_size="8", lr="1e-3")
    assert cfg.model.use_mhc is True and cfg.train.batch_size == 8 and cfg.train.lr == 1e-3


def test_crop_curriculum():
    cfg = preset("phase1", crop_size=256, crop_schedule=((0, 128), (10, 192), (20, 256)))
    assert [cfg.train.crop_at(e) for e in (0, 9, 10, 25)] == [128, 128, 192, 256]
    assert json.loads(cfg.to_json())["train"]["crop_schedule"] == [[0, 128], [10, 192], [20, 256]]
