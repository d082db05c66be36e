"""The floors every synthdance table shows — copy the reference frame, the mean training frame — through the
real stage runner, sampler and evaluator, against a hand computation on tiny clips."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import stage_workspace, train_model
from test_loader import SIZE, _build

from humanvid.config import EvaluationConfig, SamplerConfig
from humanvid.metrics.evaluate import evaluate_samples
from humanvid.models.trivial.model import Trivial
from humanvid.sampling.clips import sample_clips
from humanvid.shards.samples import crop_conditions, to_model_frames
from humanvid.video import read_video

CPU = torch.device("cpu")
FRAMES = 6


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("trivial") / "shards", n_ids=2, per_id=2, frames=FRAMES)[0]


def _models():
    fit = {"data": "synth", "recipe": {"kind": "reference_clip", "frames": 2}, "steps": 150, "batch_size": 4, "lr": 0.05,
           "lr_schedule": "cosine", "weight_decay": 0.0, "log_every": 50}  # fmt: skip
    return {"copy": {"arch": {"method": "trivial", "flavor": "copy_reference", "resolution": SIZE}, "run": {"seed": 0, "device": "cpu"}, "stages": {}},
            "mean": {"arch": {"method": "trivial", "flavor": "mean_frame", "resolution": SIZE}, "run": {"seed": 0, "device": "cpu"},
                     "stages": {"fit": fit}}}  # fmt: skip


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2, axis=(1, 2, 3))
    return float(np.mean(10 * np.log10(255.0**2 / mse)))


def test_the_mean_frame_fitted_by_the_runner_is_the_mean_of_the_training_frames(shards, tmp_path):
    cfg, layout = stage_workspace(tmp_path, {"synth": shards.dir}, _models())
    model = Trivial.from_checkpoint(train_model(cfg, layout, "mean"), device=CPU, weight_dtype=torch.float32)
    frames = np.concatenate([shards.read_clip(c)["frames"] for c in shards.clip_ids("train")])
    mean = to_model_frames(frames, SIZE).float().mean(0)  # (3, S, S) in [-1, 1]
    err = (model.mean.image.detach() - mean).abs()
    assert float(err.mean()) < 0.02 and float(err.max()) < 0.15  # the MSE minimiser, up to the last steps' noise


def test_copy_reference_and_mean_frame_rows_score_what_a_hand_computation_gives(shards, tmp_path):
    cfg, layout = stage_workspace(tmp_path, {"synth": shards.dir}, _models())
    mean_model = Trivial.from_checkpoint(train_model(cfg, layout, "mean"), device=CPU, weight_dtype=torch.float32)
    copy_model = Trivial.create("copy_reference", resolution=SIZE, seed=0, device=CPU, weight_dtype=torch.float32)
    assert copy_model.control is None and copy_model.outputs == ("rgb",)
    sampler = SamplerConfig(model="copy", data="synth", split="train", window=FRAMES, overlap=0, steps=1)
    evaluation = EvaluationConfig(metrics=["l1", "psnr"], device="cpu")
    for model, name in ((copy_model, "copy"), (mean_model, "mean")):
        out = tmp_path / "samples" / name
        out.mkdir(parents=True)
        manifest = sample_clips(model, shards, sampler, out, lambda m: None)
        assert manifest["control"] is None and all(e["status"] == "ok" for e in manifest["clips"])
        doc, preview, _ = evaluate_samples(out, shards, evaluation)
        assert "condition" not in preview  # no control images to show
        for clip_id, clip_doc in doc["clips"].items():
            target = to_model_frames(shards.read_clip(clip_id)["frames"], SIZE)
            target = ((target.float() + 1) * 127.5).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
            generated = read_video(out / f"{clip_id}.mp4")
            if name == "copy":  # the reference frame repeated: every output frame is the first, through H.264
                assert np.abs(generated.astype(int) - target[:1].astype(int)).mean() < 2.0
            expected = _psnr(generated[: len(target)], target)
            assert clip_doc["corrected"]["psnr"] == pytest.approx(expected, abs=1e-3)
            l1 = np.abs(generated[: len(target)] / 255.0 - target / 255.0).mean()  # L1 on [0, 1]
            assert clip_doc["corrected"]["l1"] == pytest.approx(l1, rel=1e-3)


def test_copy_reference_with_depth_repeats_the_reference_frames_depth(shards, tmp_path):
    """The depth floor: the clip's first ground-truth depth map, as the sampler crops conditions, for every frame."""
    model = Trivial.create("copy_reference", Trivial.spec.parse_options({"depth": True}), resolution=SIZE, seed=0, device=CPU,
                           weight_dtype=torch.float32)  # fmt: skip
    assert model.outputs == ("rgb", "depth") and Trivial.spec.sampling_conditions(model.options, None) == ("depth",)
    sampler = SamplerConfig(model="copy", data="synth", split="train", window=FRAMES, overlap=0, steps=1)
    out = tmp_path / "samples"
    out.mkdir()
    manifest = sample_clips(model, shards, sampler, out, lambda m: None)
    doc, _, _ = evaluate_samples(out, shards, EvaluationConfig(metrics=["depth_l2"], device="cpu"))
    for entry in manifest["clips"]:
        data = shards.read_clip(entry["clip_id"], conditions=("depth",))
        h, w = data["frames"].shape[1:3]
        truth = crop_conditions({"depth": data["depth"]}, h, w, SIZE)["depth"].numpy()
        depth = np.load(out / entry["outputs"]["depth"])["depth"]
        assert depth.shape == (FRAMES, SIZE, SIZE) and np.array_equal(depth, np.repeat(truth[:1], FRAMES, axis=0))
    assert 0 < doc["overall"]["depth_l2"] < 1  # the person moves after the reference frame
    with pytest.raises(ValueError, match="no depth"):
        Trivial.create("mean_frame", Trivial.spec.parse_options({"depth": True}), resolution=SIZE, seed=0, device=CPU, weight_dtype=torch.float32)
