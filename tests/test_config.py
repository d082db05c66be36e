import pytest
import yaml
from conftest import REPO

from humanvid.config import ConfigError, load_config, parse_config


def test_project_params_are_valid():
    cfg = load_config(REPO / "params.yaml")
    assert "demo" in cfg.tables
    assert cfg.samplers["baseline_debug_w8"].model in cfg.models


def test_tiny_params_are_valid(tiny_params):
    cfg = parse_config(tiny_params)
    assert cfg.models["tiny"].finetune.frames == 4
    assert cfg.paths.raw == "data/raw"
    assert cfg.datasets["synthdance"].shard.jpeg_quality == 95  # defaults fill in


@pytest.mark.parametrize(
    "edit, path, words",
    [
        (lambda p: p["models"]["tiny"]["pretrain"].update(stepz=3), "models.tiny.pretrain.stepz", "unknown key"),
        (lambda p: p.update(extra_section={}), "extra_section", "unknown key"),
        (lambda p: p["paths"].pop("shards"), "paths.shards", "Field required"),
        (lambda p: p["models"]["tiny"].pop("run"), "models.tiny.run", "Field required"),
        (lambda p: p["datasets"]["synthdance"].pop("shard"), "datasets.synthdance.shard", "Field required"),
        (lambda p: p["datasets"]["synthdance"].update(plugin="tiktokk"), "datasets.synthdance.plugin", "known: anchor, laion_human, local, ntu120, synthdance, talkshow, ted, tiktok"),
        (lambda p: p["datasets"]["synthdance"]["options"].update(width=33), "datasets.synthdance.options", "even"),
        (lambda p: p["datasets"]["synthdance"]["options"].update(colour="red"), "datasets.synthdance.options.colour", "unknown key"),
        (lambda p: p["estimators"].update(synthdance=["dwpoze"]), "estimators.synthdance[0]", "known: dataset_depth, densepose, depth_anything_v2_base, depth_anything_v2_small, dpt_hybrid, dwpose, groundtruth, matting, openpose"),
        (lambda p: p["estimators"].update(tiktok=["groundtruth"]), "estimators.tiktok", "unknown dataset"),
        (lambda p: p["models"]["tiny"]["arch"].update(method="magicanimatee"), "models.tiny.arch.method", "known: baseline"),
        (lambda p: p["models"]["tiny"]["arch"].update(flavor="huge"), "models.tiny.arch.flavor", "known: debug, sd15"),
        (lambda p: p["models"]["tiny"].update(data="nope"), "models.tiny.data", "unknown dataset"),
        (lambda p: p["samplers"]["tiny_w4"].update(model="ghost"), "samplers.tiny_w4.model", "unknown model 'ghost'"),
        (lambda p: p["samplers"]["tiny_w4"].update(overlap=4), "samplers.tiny_w4.overlap", "smaller than window"),
        (lambda p: p["samplers"]["tiny_w4"].update(steps=0), "samplers.tiny_w4.steps", "greater than or equal to 1"),
        (lambda p: p["tables"]["demo"]["rows"].update(extra="ghost_sampler"), "tables.demo.rows.extra", "unknown sampler"),
        (lambda p: p["tables"]["demo"].update(columns=["l1", "fvd2"]), "tables.demo.columns[1]", "unknown metric"),
        (lambda p: p["tables"]["demo"].update(paper="reports/papers/nope.yaml"), "tables.demo.paper", "paper table not found"),
        (lambda p: p["tables"]["demo"].update(columns=["l1", "fid_vid"]), "tables.demo.columns[1]", "add it to `evaluation.metrics`"),
        (lambda p: p["evaluation"].update(metrics=["l1", "fidd"]), "evaluation.metrics[1]", "unknown metric"),
        (lambda p: p["evaluation"]["fvd"].update(clips="random") if "fvd" in p["evaluation"] else p["evaluation"].update(fvd={"clips": "random"}),
         "evaluation.fvd.clips", "Input should be"),
        (lambda p: p.update(weights={"overrides": {"dwpose-xl": "/w.onnx"}}), "weights.overrides.dwpose-xl", "unknown weight"),
    ],
)
def test_errors_name_the_key_path(tiny_params, edit, path, words):
    edit(tiny_params)
    with pytest.raises(ConfigError) as err:
        parse_config(tiny_params, source="params.yaml")
    message = str(err.value)
    assert f"params.yaml: {path}" in message
    assert words in message


def test_groundtruth_refuses_datasets_without_ground_truth(tiny_params):
    from humanvid.estimators import ESTIMATORS

    assert ESTIMATORS.get("groundtruth").supports("synthdance")
    assert not ESTIMATORS.get("groundtruth").supports("tiktok")


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "params.yaml")
    bad = tmp_path / "params.yaml"
    bad.write_text("datasets: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    bad.write_text(yaml.safe_dump(["a", "list"]))
    with pytest.raises(ConfigError, match="mapping at the top level"):
        load_config(bad)


def test_method_options_and_released_steps_are_checked(tiny_params):
    p = tiny_params
    p["models"]["tiny"]["arch"] = {"method": "magicanimate", "flavor": "debug", "resolution": 32, "options": {"fusion": "down", "colour": "x"}}
    p["models"]["rel"] = {"arch": {"method": "magicanimate", "flavor": "released", "resolution": 32}, "data": "synthdance", "run": {},
                          "pretrain": {"steps": 5}, "finetune": {"steps": 0}}  # fmt: skip
    p["models"]["tiny"]["finetune"]["steps"] = 0
    p["models"]["base"] = {**p["models"]["rel"], "arch": {"method": "baseline", "flavor": "debug", "resolution": 32},
                           "pretrain": {"steps": 1, "base_steps": 5}, "finetune": {"steps": 1}}  # fmt: skip
    with pytest.raises(ConfigError) as err:
        parse_config(p, root=REPO)
    text = str(err.value)
    assert "models.tiny.arch.options.fusion: unknown value 'down'; known: midup, full" in text
    assert "models.tiny.arch.options.colour: method 'magicanimate' has no option 'colour'" in text
    assert "models.tiny.finetune.steps: must be at least 1" in text
    assert "models.rel.pretrain.steps: flavor 'released' is the released model, not trained here: set 0" in text
    assert "models.base.pretrain.base_steps: method 'baseline' trains its denoiser in stage 1 itself: set 0" in text
