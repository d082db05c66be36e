"""Seed variants (`tables.X.seeds`): the config gains `M~k`/`S~k`, DVC gets their stages, and the report shows
mean ± spread and the row differences that exceed it."""

from __future__ import annotations

import dataclasses
import math

import pytest
from conftest import REPO, make_workspace

from humanvid.pipeline import REPORT_SLOTS, pipeline_stages, plan
from humanvid.reports.table import RowResult, TableSpec, render_html, render_markdown
from humanvid.seeds import Spread, exceeds_spread, sampler_variants, split_variant, variant_name
from humanvid.validate import parse_config


def test_spread_arithmetic_against_hand_values():
    s = Spread.of([1.0, 2.0, 4.0])
    assert s.n == 3 and s.mean == pytest.approx(7 / 3)
    assert s.sd == pytest.approx(math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2))  # sample sd: n − 1
    assert Spread.of([5.0]) == Spread(5.0, 0.0, 1)
    assert Spread.of([None, float("nan"), 3.0, 5.0]) == Spread(4.0, math.sqrt(2), 2)  # a seed whose metric failed is left out
    assert Spread.of([None]) is None
    a, b = Spread(10.0, 0.5, 3), Spread(11.2, 0.6, 3)
    assert exceeds_spread(a, b) and exceeds_spread(b, a)  # 1.2 > 0.5 + 0.6
    assert not exceeds_spread(a, Spread(11.0, 0.6, 3))  # 1.0 < 1.1
    assert not exceeds_spread(Spread(10.0, 0.0, 1), Spread(20.0, 0.0, 1))  # one seed: no spread to compare against


def test_names_round_trip():
    assert variant_name("m", 0) == "m" and variant_name("m", 2) == "m~2"
    assert split_variant("m~2") == ("m", 2) and split_variant("m") == ("m", 0) and split_variant("m~x") == ("m~x", 0)


def test_a_seeded_table_adds_variants_with_offset_seeds(tiny_params):
    assert set(parse_config(tiny_params, root=REPO).samplers) == {"tiny_w4"}  # one seed: nothing added
    tiny_params["tables"]["demo"]["seeds"] = 3
    tiny_params["samplers"]["tiny_w4"]["seed"] = 5
    cfg = parse_config(tiny_params, root=REPO)
    assert sampler_variants(cfg, "tiny_w4") == ["tiny_w4", "tiny_w4~1", "tiny_w4~2"]
    assert [cfg.models[m].run.seed for m in ("tiny", "tiny~1", "tiny~2")] == [0, 1, 2]
    assert [(cfg.samplers[s].model, cfg.samplers[s].seed) for s in ("tiny_w4~1", "tiny_w4~2")] == [("tiny~1", 6), ("tiny~2", 7)]
    p = plan(cfg, REPO)["plan"]
    # params are the base entry's; outputs, inputs and the command are the variant's
    assert p["train"]["tiny~1.pretrain"] | {"cmd": None} == {
        "model": "tiny", "name": "tiny~1", "stage": "pretrain", "cmd": None, "in0": "data/shards/synthdance",
        "in1": "data/models/tiny~1/vae", **{f"in{i}": "data/shards/synthdance" for i in range(2, 6)},
        **{f"code{i}": "src/humanvid/models/baseline" for i in range(4)}}  # fmt: skip
    assert p["train"]["tiny~1.pretrain"]["cmd"] == "python -m tasks.train tiny~1.pretrain"
    assert p["sample"]["tiny_w4~2"] == {"sampler": "tiny_w4", "model": "tiny", "data": "synthdance", "checkpoint": "data/models/tiny~2/finetune",
                                        **{f"code{i}": "src/humanvid/models/baseline" for i in range(4)}}  # fmt: skip
    stages = pipeline_stages(cfg, ["tiny_w4"])
    assert {"train@tiny~2.finetune", "sample@tiny_w4~1", "evaluate@tiny_w4~2", "train@tiny.vae"} <= set(stages)
    # the report reads every seed's metrics, the row's previews and its model's training logs, nothing else
    inputs = list(dict.fromkeys(p["report"]["demo"].values()))
    assert inputs == ["reports/metrics/tiny_w4.json", "reports/metrics/tiny_w4~1.json", "reports/metrics/tiny_w4~2.json",
                      "reports/previews/tiny_w4"] + [f"reports/training/tiny.{s}" for s in cfg.models["tiny"].stages]  # fmt: skip
    assert len(p["report"]["demo"]) == REPORT_SLOTS


def test_noise_scope_samples_one_model_with_each_noise_seed(tiny_params):
    tiny_params["tables"]["demo"].update(seeds=3, seed_scope="noise")
    tiny_params["samplers"]["tiny_w4"]["seed"] = 5
    cfg = parse_config(tiny_params, root=REPO)
    assert set(cfg.models) == {"tiny"}  # no model is retrained
    assert [(cfg.samplers[s].model, cfg.samplers[s].seed) for s in ("tiny_w4", "tiny_w4~1", "tiny_w4~2")] == [("tiny", 5), ("tiny", 6), ("tiny", 7)]
    p = plan(cfg, REPO)["plan"]
    assert p["sample"]["tiny_w4~2"]["checkpoint"] == p["sample"]["tiny_w4"]["checkpoint"] == "data/models/tiny/finetune"
    # a second table that shows the same row over training seeds retrains it for both
    tiny_params["tables"]["again"] = {"title": "t", "rows": {"tiny": "tiny_w4"}, "columns": ["psnr"], "seeds": 2}
    cfg = parse_config(tiny_params, root=REPO)
    assert [cfg.samplers[s].model for s in ("tiny_w4~1", "tiny_w4~2")] == ["tiny~1", "tiny~2"]


def test_dvc_defines_every_variant_stage(tmp_path, tiny_params):
    from flows.workspace import ordered_stages

    tiny_params["tables"]["demo"]["seeds"] = 2
    root = make_workspace(tmp_path / "ws", tiny_params)
    cfg = parse_config(tiny_params, root=REPO)
    order = ordered_stages(root, pipeline_stages(cfg, ["tiny_w4"]))  # raises if dvc.yaml lacks one
    assert order.index("train@tiny~1.finetune") < order.index("sample@tiny_w4~1") < order.index("evaluate@tiny_w4~1")


def _doc(psnr: float, l1: float) -> dict:
    return {"protocols": {"corrected": {"overall": {"psnr": psnr, "l1": l1}}}, "failed": [], "clips": {}, "frames": 1}


def test_the_report_shows_mean_and_spread_and_the_differences_beyond_it():
    spec = TableSpec(name="t", title="t", columns=["psnr", "l1"], protocol="corrected")
    rows = [RowResult("floor", "a", _doc(20.0, 0.10), seed_metrics=[_doc(20.0, 0.10), _doc(20.0, 0.12), _doc(20.0, 0.11)]),
            RowResult("model", "b", _doc(21.0, 0.10), seed_metrics=[_doc(21.0, 0.10), _doc(22.0, 0.11), _doc(23.0, 0.12)])]  # fmt: skip
    md = render_markdown(spec, rows)
    assert "| floor | 20.00 ± 0.00 | 0.11 ± 0.01 |" in md
    assert "| model | 22.00 ± 1.00 | 0.11 ± 0.01 |" in md
    assert "Every row ran with 3 seeds (training seed and noise seed offset by 0…2)" in md
    noise = render_markdown(dataclasses.replace(spec, seed_scope="noise"), rows)
    assert "Every row ran with 3 seeds (noise seed offset by 0…2, one trained model per row)" in noise
    assert "- PSNR ↑: model vs floor (+2)" in md  # 2 > 0 + 1
    assert "- L1 ↓: none" in md  # equal means
    assert "model vs floor (+2)" in render_html(spec, rows)


def test_rows_that_draw_no_random_numbers_run_once_and_count_for_every_seed(tiny_params):
    """The floors (`MethodSpec.seed_free`): a seeded table makes no variants of copy reference (released) nor, over noise
    seeds, of the mean frame; over training seeds the mean frame is refitted (its fit draws its data order). The report
    counts the one run for every seed, spread 0, and says so."""
    from humanvid.seeds import seed_runs

    tiny_params["models"]["copy"] = {"arch": {"method": "trivial", "flavor": "copy_reference", "resolution": 32}, "run": {}, "stages": {}}
    tiny_params["models"]["mean"] = {"arch": {"method": "trivial", "flavor": "mean_frame", "resolution": 32}, "run": {},
                                     "stages": {"fit": {"data": "synthdance", "recipe": {"kind": "reference_clip"}, "steps": 2}}}  # fmt: skip
    for name in ("copy", "mean"):
        tiny_params["samplers"][name] = {"model": name, "data": "synthdance", "split": "test", "window": 4, "overlap": 0, "steps": 1}
    tiny_params["tables"]["demo"].update(seeds=3, seed_scope="noise")
    tiny_params["tables"]["demo"]["rows"].update({"copy": "copy", "mean": "mean"})
    cfg = parse_config(tiny_params, root=REPO)
    assert sampler_variants(cfg, "copy") == ["copy"] and sampler_variants(cfg, "mean") == ["mean"]
    assert seed_runs(cfg, "copy", 3) == ["copy"] * 3 and seed_runs(cfg, "tiny_w4", 3) == ["tiny_w4", "tiny_w4~1", "tiny_w4~2"]
    assert not {"evaluate@copy~1", "sample@mean~2"} & set(pipeline_stages(cfg, ["copy", "mean"]))
    tiny_params["tables"]["demo"]["seed_scope"] = "training"
    cfg = parse_config(tiny_params, root=REPO)
    assert sampler_variants(cfg, "copy") == ["copy"] and sampler_variants(cfg, "mean") == ["mean", "mean~1", "mean~2"]
    with pytest.raises(ValueError, match="no seed variants"):
        seed_runs(parse_config({**tiny_params, "tables": {}}, root=REPO), "tiny_w4", 3)

    spec = TableSpec(name="t", title="t", columns=["psnr"], protocol="corrected", seed_scope="noise")
    rows = [RowResult("floor", "copy", _doc(20.0, 0.1), seed_metrics=[_doc(20.0, 0.1)] * 3, ran_once=True),
            RowResult("model", "tiny_w4", _doc(21.0, 0.1), seed_metrics=[_doc(21.0, 0.1), _doc(21.2, 0.1), _doc(21.4, 0.1)])]  # fmt: skip
    md = render_markdown(spec, rows)
    assert "| floor | 20.00 ± 0.00 |" in md and "- PSNR ↑: model vs floor (+1.2)" in md
    assert "(rows that draw no random numbers ran once, their output counting for every seed with spread 0: floor):" in md
