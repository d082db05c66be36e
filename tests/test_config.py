import re

import pytest
import yaml
from conftest import REPO, config_errors

from humanvid.config import ConfigError
from humanvid.validate import load_config, parse_config


def test_project_params_are_valid():
    cfg = load_config(REPO / "params.yaml")
    assert "demo" in cfg.tables
    assert cfg.samplers["baseline_debug_w8"].model in cfg.models


def test_tiny_params_are_valid(tiny_params):
    cfg = parse_config(tiny_params)
    assert cfg.models["tiny"].stages["finetune"].recipe["frames"] == 4
    assert cfg.paths.raw == "data/raw"
    assert cfg.datasets["synthdance"].shard.jpeg_quality == 95  # defaults fill in


@pytest.mark.parametrize(
    "edit, path, words",
    [
        (lambda p: p["models"]["tiny"]["stages"]["pretrain"].update(stepz=3), "models.tiny.stages.pretrain.stepz", "unknown key"),
        (lambda p: p.update(extra_section={}), "extra_section", "unknown key"),
        (lambda p: p["paths"].pop("shards"), "paths.shards", "Field required"),
        (lambda p: p["models"]["tiny"].pop("run"), "models.tiny.run", "Field required"),
        (lambda p: p["datasets"]["synthdance"].pop("shard"), "datasets.synthdance.shard", "Field required"),
        (lambda p: p["datasets"]["synthdance"].update(plugin="tiktokk"), "datasets.synthdance.plugin", "known: anchor, laion_human, local, ntu120, synthdance, talkshow, ted, tiktok"),
        (lambda p: p["datasets"]["synthdance"]["options"].update(width=33), "datasets.synthdance.options", "even"),
        (lambda p: p["datasets"]["synthdance"]["options"].update(colour="red"), "datasets.synthdance.options.colour", "unknown key"),
        (lambda p: p["estimators"].update(synthdance=["dwpoze"]), "estimators.synthdance[0]", "known: dataset_depth, densepose, depth_anything_v2_base, depth_anything_v2_small, dpt_hybrid, dwpose, groundtruth, matting, openpose, openpose_wholebody"),
        (lambda p: p["estimators"].update(tiktok=["groundtruth"]), "estimators.tiktok", "unknown dataset"),
        (lambda p: p["models"]["tiny"]["arch"].update(method="magicanimatee"), "models.tiny.arch.method", "known: baseline"),
        (lambda p: p["models"]["tiny"]["arch"].update(flavor="huge"), "models.tiny.arch.flavor", "known: debug, debug_pixel, sd15"),
        (lambda p: p["models"]["tiny"]["stages"]["pretrain"].update(data="nope"), "models.tiny.stages.pretrain.data", "unknown dataset"),
        (lambda p: p["samplers"]["tiny_w4"].update(model="ghost"), "samplers.tiny_w4.model", "unknown model 'ghost'"),
        (lambda p: p["samplers"]["tiny_w4"].update(overlap=4), "samplers.tiny_w4.overlap", "smaller than window"),
        (lambda p: p["samplers"]["tiny_w4"].update(steps=0), "samplers.tiny_w4.steps", "greater than or equal to 1"),
        (lambda p: p["samplers"]["tiny_w4"].update(face={"steps": 4}), "samplers.tiny_w4.face", "face enhancement needs a method with a `face` stage"),
        (lambda p: p["samplers"]["tiny_w4"].update(face={"guidance_scale": 0.5}), "samplers.tiny_w4.face.guidance_scale", "greater than or equal to 1"),
        (lambda p: p["tables"]["demo"]["rows"].update(extra="ghost_sampler"), "tables.demo.rows.extra", "unknown sampler"),
        (lambda p: p["tables"]["demo"].update(columns=["l1", "fvd2"]), "tables.demo.columns[1]", "unknown metric"),
        (lambda p: p["tables"]["demo"].update(paper="reports/papers/nope.yaml"), "tables.demo.paper", "paper table not found"),
        (lambda p: p["tables"]["demo"].update(columns=["l1", "fid_vid"]), "tables.demo.columns[1]", "add it to `evaluation.metrics`"),
        (lambda p: p["evaluation"].update(metrics=["l1", "fidd"]), "evaluation.metrics[1]", "unknown metric"),
        (lambda p: p["evaluation"]["fvd"].update(clips="random") if "fvd" in p["evaluation"] else p["evaluation"].update(fvd={"clips": "random"}),
         "evaluation.fvd.clips", "Input should be"),
        (lambda p: p.update(weights={"overrides": {"dwpose-xl": "/w.onnx"}}), "weights.overrides.dwpose-xl", "unknown weight"),
        # strict types: YAML's `yes`, `"3"` or `1.0` are not integers; device and dtype strings are checked at load
        (lambda p: p["models"]["tiny"]["stages"]["pretrain"].update(steps=True), "models.tiny.stages.pretrain.steps", "valid integer"),
        (lambda p: p["models"]["tiny"]["run"].update(seed="3"), "models.tiny.run.seed", "valid integer"),
        (lambda p: p["samplers"]["tiny_w4"].update(window=4.0), "samplers.tiny_w4.window", "valid integer"),
        (lambda p: p["models"]["tiny"]["run"].update(device="gpu"), "models.tiny.run.device", "should match pattern"),
        (lambda p: p["samplers"]["tiny_w4"].update(device="cuda:x"), "samplers.tiny_w4.device", "should match pattern"),
        (lambda p: p["evaluation"].update(device="CUDA"), "evaluation.device", "should match pattern"),
        (lambda p: p["samplers"]["tiny_w4"].update(dtype="fp16"), "samplers.tiny_w4.dtype", "Input should be"),
        (lambda p: p["datasets"]["synthdance"]["options"].update(width="64"), "datasets.synthdance.options.width", "valid integer"),
        # every path the config makes stays inside the workspace
        (lambda p: p["paths"].update(reports="../../elsewhere"), "paths.reports", "climbs out of the workspace"),
        (lambda p: p["paths"].update(models="/tmp/models"), "paths.models", "not relative to the workspace"),
        (lambda p: p["paths"].update(samples="~/samples"), "paths.samples", "not relative to the workspace"),
        (lambda p: p["paths"].update(shards=""), "paths.shards", "an empty path"),
        (lambda p: p["tables"]["demo"].update(paper="reports/../../x.yaml"), "tables.demo.paper", "climbs out of the workspace"),
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


def test_a_key_spelled_twice_is_refused_with_both_lines(tmp_path):
    # YAML keeps the last silently; DVC would later call the file corrupted and blame dvc.yaml
    bad = tmp_path / "params.yaml"
    bad.write_text("paths:\n  raw: data/raw\nsamplers:\n  a:\n    steps: 2\n    window: 4\n    steps: 20\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert str(err.value) == f"{bad}: line 7: duplicate key 'steps' (first at line 5)"
    # the same key in two different mappings, and a merge key's overrides, are not duplicates
    from humanvid.config import safe_load_yaml

    assert safe_load_yaml("a: {x: 1}\nb: {x: 2}\nbase: &b {x: 1}\nc: {<<: *b, x: 3}\n")["c"] == {"x": 3}


def test_method_options_stages_and_released_flavors_are_checked(tiny_params):
    p = tiny_params
    stages = p["models"]["tiny"]["stages"]
    p["models"]["tiny"]["arch"] = {"method": "magicanimate", "flavor": "debug", "resolution": 32, "options": {"fusion": "down", "colour": "x"}}
    p["models"]["rel"] = {"arch": {"method": "magicanimate", "flavor": "released", "resolution": 32}, "run": {}, "stages": {"pretrain": stages["pretrain"]}}
    p["models"]["base"] = {"arch": {"method": "baseline", "flavor": "debug", "resolution": 32}, "run": {},
                           "stages": {"pretrain": stages["pretrain"], "vae": stages["vae"], "face": stages["vae"]}}  # fmt: skip
    p["models"]["order"] = {"arch": {"method": "baseline", "flavor": "debug", "resolution": 32}, "run": {},
                            "stages": {"pretrain": stages["pretrain"], "vae": stages["vae"], "finetune": stages["finetune"]}}  # fmt: skip
    p["samplers"], p["tables"] = {}, {}
    text = config_errors(p)
    assert "models.tiny.arch.options.fusion: Input should be 'midup' or 'full'" in text
    assert "models.tiny.arch.options.colour: unknown key" in text
    assert "models.rel.stages: flavor 'released' is the released model, not trained here: set `stages: {}`" in text
    assert "models.base.stages: missing stage 'finetune' (video stage: AnimateDiff motion modules only); baseline/debug trains vae, pretrain, finetune" in text
    assert "models.base.stages.face: baseline/debug has no stage 'face'; its stages, in order: vae, pretrain, finetune" in text
    del p["models"]["tiny"], p["models"]["rel"], p["models"]["base"]
    assert list(parse_config(p, root=REPO).models["order"].stages) == ["vae", "pretrain", "finetune"]  # they run in the method's order


def test_stage_recipes_and_control_sources_are_checked(tiny_params):
    p = tiny_params
    stages = p["models"]["tiny"]["stages"]
    stages["finetune"]["recipe"] = {"kind": "idol", "frames": 4}  # the baseline's video stage does not take IDOL's recipe
    stages["pretrain"]["recipe"] = {"kind": "reference_clip", "frames": 0}
    stages["vae"]["recipe"] = {"kind": "reference_clip", "frames": 2, "stride": 3, "order": "random"}
    ma = {"arch": {"method": "magicanimate", "flavor": "debug", "resolution": 32, "options": {"control": "dwpose"}}, "run": {},
          "stages": {"vae": stages["vae"], "base": stages["vae"],
                     "pretrain": {"data": "synthdance", "recipe": {"kind": "magicanimate_pair", "flip_p": 0.5}, "steps": 1},
                     "finetune": {"data": "synthdance", "recipe": {"kind": "magicanimate_video", "reduce_p": 0.2}, "steps": 1, "batch_size": 2}}}  # fmt: skip
    p["models"]["ma"] = ma
    dense = {**ma, "arch": {**ma["arch"], "options": {"control": "densepose"}}}
    p["models"]["dense"] = dense
    mya_stage = {"data": "synthdance", "recipe": {"kind": "make_your_anchor", "foreground_only": True}, "steps": 1}
    p["models"]["mya"] = {"arch": {"method": "make_your_anchor", "flavor": "debug_pixel", "resolution": 32}, "run": {},
                          "stages": {"pretrain": mya_stage, "finetune": {**mya_stage, "recipe": {"kind": "make_your_anchor"}}}}  # fmt: skip
    p["estimators"]["synthdance"] = ["openpose"]  # OpenPose-18 only: no whole-body keypoints, no DensePose, no matte
    text = config_errors(p)
    assert "models.tiny.stages.finetune.recipe.kind: stage 'finetune' takes recipes reference_clip, magicanimate_video, got 'idol'" in text
    assert "models.tiny.stages.pretrain.recipe.frames: Input should be greater than or equal to 1" in text
    assert "models.tiny.stages.vae.recipe.stride: order random draws frames anywhere in the window, so stride must be 1, got 3" in text
    assert ("models.ma.stages.pretrain.data: control 'dwpose' needs the 'wholebody133' condition, which no estimator of dataset "
            "'synthdance' provides (its estimators: openpose; they provide: openpose18)") in text  # fmt: skip
    assert ("models.mya.stages.pretrain.data: recipe 'make_your_anchor' needs the 'alpha' condition, which no estimator of dataset "
            "'synthdance' provides") in text  # foreground-only pre-training composites by the matte
    assert "models.mya.stages.finetune.data: recipe 'make_your_anchor' needs" not in text  # with background: no matte needed
    assert "models.ma.stages.finetune.recipe: reduce_p > 0 mixes K = 1 and K > 1 samples" in text
    assert "models.dense.stages.pretrain.recipe.flip_p: control ['densepose'] cannot be mirrored after estimation" in text


def test_a_model_may_train_its_stages_on_different_datasets(tiny_params):
    p = tiny_params
    p["datasets"]["other"] = p["datasets"]["synthdance"]
    p["estimators"]["other"] = ["groundtruth"]
    stages = p["models"]["tiny"]["stages"]
    stages["pretrain"]["data"] = [{"dataset": "synthdance", "weight": 3}, {"dataset": "other", "weight": 1, "recipe": {"kind": "reference_clip"}}]
    stages["finetune"]["data"] = "other"
    cfg = parse_config(p, root=REPO)
    assert [(s.dataset, s.weight) for s in cfg.models["tiny"].stages["pretrain"].sources()] == [("synthdance", 3.0), ("other", 1.0)]
    from humanvid.pipeline import pipeline_stages, plan

    assert pipeline_stages(cfg, ["tiny_w4"])[:6] == ["download@synthdance", "estimate@synthdance", "shard@synthdance",
                                                      "download@other", "estimate@other", "shard@other"]  # fmt: skip
    entry = plan(cfg, REPO)["plan"]["train"]["tiny.pretrain"]
    assert [entry[f"in{i}"] for i in range(3)] == ["data/shards/synthdance", "data/shards/other", "data/models/tiny/vae"]
    assert plan(cfg, REPO)["plan"]["train"]["tiny.finetune"]["in0"] == "data/shards/other"


def test_a_model_may_start_from_another_models_stage(tiny_params):
    from humanvid.pipeline import pipeline_stages, plan, stage_lineage
    from humanvid.seeds import with_seed_variants

    p = tiny_params
    tiny = p["models"]["tiny"]
    p["models"]["branch"] = {**tiny, "arch": {**tiny["arch"], "options": {"l1_weight": 1.0}}, "starts_from": {"model": "tiny", "stage": "vae"},
                             "stages": {k: tiny["stages"][k] for k in ("pretrain", "finetune")}}  # fmt: skip
    p["samplers"]["branch_w4"] = {**p["samplers"]["tiny_w4"], "model": "branch"}
    p["tables"]["demo"]["rows"]["branch"] = "branch_w4"
    cfg = parse_config(p, root=REPO)
    assert stage_lineage(cfg, "branch") == [("tiny", "vae"), ("branch", "pretrain"), ("branch", "finetune")]
    train = plan(cfg, REPO)["plan"]["train"]
    assert train["branch.pretrain"]["in1"] == "data/models/tiny/vae"  # the shared checkpoint is the first stage's dependency
    assert "branch.vae" not in train
    stages = pipeline_stages(cfg, ["tiny_w4", "branch_w4"])
    assert stages.count("train@tiny.vae") == 1 and stages.index("train@tiny.vae") < stages.index("train@branch.pretrain")
    # a training-seed variant starts from the shared model's variant of the same seed
    p["tables"]["demo"].update(seeds=2, seed_scope="training")
    seeded = with_seed_variants(parse_config(p, root=REPO), REPO)
    assert seeded.models["branch~1"].starts_from.model == "tiny~1" and seeded.models["tiny~1"].run.seed == 1
    assert stage_lineage(seeded, "branch~1")[0] == ("tiny~1", "vae")

    # what is refused: an unknown model, another network, a stage that model does not train, the shared stage's
    # predecessors or the shared stage itself trained again
    bad = {
        "unknown": {"starts_from": {"model": "nope", "stage": "vae"}},
        "other_net": {"arch": {"method": "baseline", "flavor": "debug", "resolution": 64}, "starts_from": {"model": "tiny", "stage": "vae"}},
        "no_stage": {"starts_from": {"model": "tiny", "stage": "base"}},
        "again": {"starts_from": {"model": "tiny", "stage": "vae"}, "stages": tiny["stages"]},
    }
    p["tables"], p["samplers"] = {}, {}
    for name, edit in bad.items():
        p["models"][name] = {**p["models"]["branch"], **edit}
    text = config_errors(p)
    assert "models.unknown.starts_from.model: unknown model 'nope'" in text
    assert "models.other_net.starts_from.model: 'tiny' is baseline/debug at 32², this model baseline/debug at 64²" in text
    assert "models.no_stage.starts_from.stage: model 'tiny' trains no stage 'base'; its stages: vae, pretrain, finetune" in text
    assert "models.again.stages.vae: baseline/debug has no stage 'vae'; its stages, in order: pretrain, finetune" in text


def test_names_that_become_paths_are_checked(tiny_params):
    tiny_params["samplers"]["../up"] = tiny_params["samplers"]["tiny_w4"]
    tiny_params["models"]["a.b"] = tiny_params["models"]["tiny"]
    tiny_params["tables"]["../../x"] = tiny_params["tables"]["demo"]
    tiny_params["datasets"]["two words"] = tiny_params["datasets"]["synthdance"]
    tiny_params["samplers"]["at@sign"] = tiny_params["samplers"]["tiny_w4"]
    with pytest.raises(ConfigError) as err:
        parse_config(tiny_params, root=REPO)
    for key in ("tables.../../x", "datasets.two words", "samplers.at@sign"):
        assert f"{key}: names become stage names and paths" in str(err.value)
    assert "samplers.../up: names become stage names and paths" in str(err.value)
    assert "models.a.b: names become stage names and paths" in str(err.value)


def test_validation_imports_no_model_code():
    import subprocess
    import sys

    check = ("import sys; from humanvid.validate import load_config; load_config('params.yaml'); "
             "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'diffusers', 'transformers') "
             "or m.startswith(('humanvid.models.baseline.model', 'humanvid.models.magicanimate.model', 'humanvid.models.disco.model', "
             "'humanvid.models.idol.model', 'humanvid.models.mm_diffusion.model', 'humanvid.models.ldm3d.model', 'humanvid.datasets.laion_human', "
             "'humanvid.estimators.openpose_wholebody'))); "
             "print(heavy[:5]); sys.exit(1 if heavy else 0)")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_committed_pipeline_plan_is_what_params_yaml_gives():
    """dvc.yaml reads its training and sampling stages from pipeline.yaml: plain `dvc repro` on a fresh clone
    must see the stages params.yaml declares (`humanvid plan` rewrites it)."""
    from humanvid.pipeline import PLAN_FILE, render_plan

    assert (REPO / PLAN_FILE).read_text() == render_plan(load_config(REPO / "params.yaml"), REPO), "run `humanvid plan` and commit pipeline.yaml"


def test_stages_depend_on_their_methods_code_and_what_methods_share():
    """A training or sampling stage lists its method's package and those it builds on (`method_code`, found from the
    imports), in the plan's code slots, and every shared module of `humanvid/models` in dvc.yaml: none is left out."""
    from humanvid.pipeline import CODE_SLOTS, SHARED_MODEL_CODE, method_code, plan

    assert method_code("magicanimate") == ("src/humanvid/models/magicanimate",)
    assert method_code("idol") == ("src/humanvid/models/idol", "src/humanvid/models/disco")
    assert method_code("diffperformer") == ("src/humanvid/models/diffperformer", "src/humanvid/models/baseline")
    assert set(method_code("mm_diffusion")) == {f"src/humanvid/models/{p}" for p in ("mm_diffusion", "disco", "idol")}
    modules = REPO / "src" / "humanvid" / "models"
    assert set(SHARED_MODEL_CODE) == {p.name for p in modules.glob("*.py")}
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for kind in ("train", "sample"):
        deps = stages[kind]["do"]["deps"]
        assert {f"src/humanvid/models/{m}" for m in SHARED_MODEL_CODE} <= set(deps), kind
        assert [f"${{item.code{i}}}" for i in range(CODE_SLOTS)] == [d for d in deps if "item.code" in d], kind
        assert "src/humanvid/models" not in deps, kind
    entry = plan(load_config(REPO / "params.yaml"), REPO)["plan"]
    assert [entry["train"]["idol_debug_image.haop"][f"code{i}"] for i in range(CODE_SLOTS)] == [
        "src/humanvid/models/idol", "src/humanvid/models/disco", "src/humanvid/models/idol", "src/humanvid/models/idol"]
    assert entry["sample"]["copy_reference"]["code0"] == "src/humanvid/models/trivial"


def test_a_report_depends_on_its_own_tables_inputs_only():
    """`dvc dag report@demo`: the demo report's upstream is the synthdance data and the demo's own models and
    samplers — no other table's evaluation, no TikTok or TED download (it depended on whole folders before)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "dvc", "dag", "--md", "report@demo"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    stages = set(re.findall(r"[a-z_]+@[\w.~-]+", out))
    assert {"evaluate@baseline_debug_w8", "evaluate@copy_reference", "train@baseline_debug.finetune", "download@synthdance"} <= stages
    assert not any(s.startswith(("download@tiktok", "download@ted", "evaluate@magicanimate")) for s in stages), sorted(stages)


def test_an_estimator_after_the_ground_truth_replaces_its_condition_two_estimates_are_refused(tiny_params):
    tiny_params["estimators"]["synthdance"] = ["groundtruth", "dwpose"]  # run on DWPose's keypoints instead of the truth
    parse_config(tiny_params, root=REPO)
    tiny_params["estimators"]["synthdance"] = ["dwpose", "openpose_wholebody"]
    with pytest.raises(ConfigError, match=r"estimators.synthdance\[1\]: condition 'openpose18' is provided by both 'dwpose' and 'openpose_wholebody'"):
        parse_config(tiny_params, root=REPO)


def test_a_depth_models_depth_source_must_match_the_estimator_that_provides_it(tiny_params):
    """IDOL-family models read depth as the condition holds it: metres (larger farther, 0 = none) or a monocular
    estimator's relative inverse depth (MiDaS on NTU120); a mismatch stops before any work, naming both."""
    p = tiny_params
    stage = {"data": "synthdance", "recipe": {"kind": "disco", "frames": 1}, "steps": 1, "batch_size": 1}
    p["models"]["idol"] = {"arch": {"method": "idol", "flavor": "debug_pixel", "resolution": 32, "options": {"control": "dwpose"}}, "run": {},
                           "stages": {s: stage for s in ("base", "haop", "image_depth")}}  # fmt: skip
    parse_config(p, root=REPO)  # synthdance's ground truth: depth in metres, DWPose's whole body from the truth
    p["estimators"]["synthdance"] = ["openpose"]  # the `control: dwpose` option reads DWPose's whole body
    assert "models.idol.stages.base.data: control 'dwpose' needs the 'wholebody133' condition" in config_errors(p)
    p["estimators"]["synthdance"] = ["groundtruth", "dpt_hybrid"]  # MiDaS replaces the exact depth
    text = config_errors(p)
    assert ("models.idol.stages.image_depth.data: the model expects its 'depth' condition as 'depth', but dataset 'synthdance' "
            "gets it from estimator 'dpt_hybrid' as 'inverse_depth'") in text  # fmt: skip
    p["models"]["idol"]["arch"]["options"]["depth_source"] = "inverse_depth"
    parse_config(p, root=REPO)
    p["models"]["idol"]["arch"]["options"]["depth_normalisation"] = "median"  # relative inverse depth has no units
    assert "median" in config_errors(p)


def test_the_synthesized_depth_estimator_must_read_depth_off_frames(tiny_params):
    tiny_params["evaluation"]["synthesized_depth"] = {"estimator": "dpt_hybrid"}
    parse_config(tiny_params, root=REPO)
    tiny_params["evaluation"]["synthesized_depth"] = {"estimator": "dataset_depth", "rows": "all"}
    assert ("evaluation.synthesized_depth.estimator: estimator 'dataset_depth' does not predict depth from frames"
            in config_errors(tiny_params))  # fmt: skip
    tiny_params["evaluation"]["synthesized_depth"] = {"estimator": "midas"}
    assert "evaluation.synthesized_depth.estimator: unknown estimator 'midas'; known:" in config_errors(tiny_params)
