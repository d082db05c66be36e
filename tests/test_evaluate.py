"""evaluate_samples end to end on real shards and real videos: every metric is a number in both
protocols or a stated need, with the networks loaded from the weight cache when present."""

import json
import math

import metric_weights
import numpy as np
import pytest

from humanvid.conditions import crop_resize, crop_resize_plane
from humanvid.config import EvaluationConfig, ShardConfig
from humanvid.datasets import Clip
from humanvid.datasets.synthdance import SynthDanceOptions, render_clip
from humanvid.metrics import PROTOCOLS
from humanvid.metrics.evaluate import evaluate_samples
from humanvid.sampling.clips import MANIFEST
from humanvid.shards import ShardReader, write_shards
from humanvid.video import write_video

CONDITIONS = {c: {"estimator": "groundtruth", "ground_truth": True} for c in ("openpose18", "wholebody133", "depth", "alpha", "densepose")}
ALL = ["l1", "psnr", "ssim", "tl1", "lpips", "fid", "fid_vid", "fvd", "depth_l2", "depth_absrel", "depth_delta1", "depth_fid", "lmd_body"]
SIZE, FRAMES = 32, 17


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    """Two test clips sharded, and 'generated' videos: the ground truth plus noise, with a depth
    prediction that is an affine transform of the true depth."""
    root = tmp_path_factory.mktemp("eval")
    data, clips = {}, []
    for i in range(2):
        d = render_clip(SynthDanceOptions(width=SIZE, height=SIZE, num_frames=FRAMES), identity=i, clip=0)
        data[f"c{i}"] = d
        clips.append(Clip("synth", f"c{i}", f"id{i}", "test", 12.0, FRAMES, SIZE, SIZE, f"clips/c{i}.mp4"))
    conds = lambda c: {"openpose18": data[c.clip_id]["openpose18"], "wholebody133": data[c.clip_id]["wholebody133"],  # noqa: E731
                       "depth": data[c.clip_id]["depth"], "alpha": data[c.clip_id]["alpha"], "densepose": data[c.clip_id]["iuv"]}  # fmt: skip
    (root / "shards").mkdir()
    write_shards(root / "shards", clips, lambda c: data[c.clip_id]["rgb"], conds, CONDITIONS,
                 ShardConfig(window_frames=FRAMES, jpeg_quality=95, rows_per_group=2, rows_per_file=2), lambda m: None)  # fmt: skip
    out = root / "samples"
    out.mkdir()
    rng = np.random.default_rng(0)
    entries = []
    for cid, d in data.items():
        frames = np.stack([crop_resize(f, SIZE) for f in d["rgb"]]).astype(int)
        write_video(out / f"{cid}.mp4", np.clip(frames + rng.integers(-12, 13, frames.shape), 0, 255).astype(np.uint8), 12.0)
        depth = np.stack([crop_resize_plane(z, SIZE) for z in d["depth"]])
        np.savez(out / f"{cid}_depth.npz", depth=(depth - 0.3) / 2.0)  # relative depth: affine in the truth
        entries.append({"clip_id": cid, "status": "ok", "error": "", "outputs": {"rgb": f"{cid}.mp4", "depth": f"{cid}_depth.npz"}})
    entries.append({"clip_id": "c9", "status": "failed", "error": "RuntimeError: boom"})
    (out / MANIFEST).write_text(json.dumps({"resolution": SIZE, "clips": entries, "conditions": CONDITIONS, "dataset_failures": []}))
    return out, ShardReader(root / "shards")


def test_without_weights_every_network_metric_states_its_need(samples):
    out, reader = samples
    doc, preview, per_frame = evaluate_samples(out, reader, EvaluationConfig(metrics=ALL))
    for m in ("lpips", "fid", "fid_vid", "fvd", "depth_fid"):
        assert m not in doc["overall"]
        assert set(doc["needs"][m]) == set(PROTOCOLS)
    assert "weights fid-inception (humanvid weights fetch fid-inception)" == doc["needs"]["fid"]["corrected"]
    assert "i3d-kinetics400" in doc["needs"]["fvd"]["disco"]
    assert "dwpose-yolox-l" in doc["needs"]["lmd_body"]["corrected"]
    assert "openpose-hand" in doc["needs"]["lmd_body"]["openpose-lmd"] and "dwpose" not in doc["needs"]["lmd_body"]["openpose-lmd"]
    corrected, disco, fixed = (doc["protocols"][p]["overall"] for p in ("corrected", "disco", "disco@2024-04"))
    assert corrected["psnr"] != pytest.approx(disco["psnr"]) and 0 < corrected["ssim"] < 1 and 0 < disco["ssim"] < 1
    assert fixed["psnr"] != pytest.approx(disco["psnr"]) and (fixed["l1"], fixed["ssim"]) == (disco["l1"], disco["ssim"])
    assert {p: doc["protocols"][p]["size"] for p in PROTOCOLS} == {"corrected": SIZE, "disco": 256, "disco@2024-04": 256, "openpose-lmd": SIZE}
    assert doc["overall"] == corrected and doc["protocol"] == "corrected"
    assert corrected["depth_l2"] < 1e-6 and corrected["depth_delta1"] == 1.0  # affine depth aligns exactly
    assert doc["frames"] == 2 * FRAMES and set(doc["clips"]) == {"c0", "c1"}
    assert doc["failed"] == [{"clip_id": "c9", "stage": "sample", "error": "RuntimeError: boom"}]
    assert preview["generated"].shape == (FRAMES, SIZE, SIZE, 3)
    assert len(per_frame) == 2 * FRAMES and per_frame[0]["clip"] == "c0" and per_frame[0]["frame"] == 0
    assert np.mean([r["psnr"] for r in per_frame]) == pytest.approx(corrected["psnr"])
    # tl1 (temporal): none for each clip's first frame, the same definition in every protocol at its size
    assert per_frame[0]["tl1"] is None and per_frame[1]["tl1"] is not None
    assert np.mean([r["tl1"] for r in per_frame if r["tl1"] is not None]) == pytest.approx(corrected["tl1"])
    assert all(0 <= doc["protocols"][p]["overall"]["tl1"] < 1 for p in PROTOCOLS)


def test_disco_protocols_evaluate_at_256_as_disco_code_would(samples):
    """The DisCo protocols compare at 256²: the ground truth through the model inputs' crop and bicubic resize, the
    generated frames resized with OpenCV's bilinear default — computed here by hand from the files."""
    import cv2

    from humanvid.metrics import disco
    from humanvid.video import read_video

    out, reader = samples
    doc, _, _ = evaluate_samples(out, reader, EvaluationConfig(metrics=["l1", "psnr"]))
    l1s, psnrs = [], []
    for cid in ("c0", "c1"):
        pred = read_video(out / f"{cid}.mp4")
        gt = reader.read_clip(cid, conditions=())["frames"]
        for p, g in zip(pred, gt, strict=True):
            a, b = cv2.resize(p, (256, 256), interpolation=cv2.INTER_LINEAR), crop_resize(g, 256)
            l1s.append(np.abs(a.astype(float) - b.astype(float)).mean() / 256**2)
            psnrs.append(10 * math.log10(255**2 / ((a - b) ** 2).mean()))  # uint8 arithmetic: wraps, as DisCo did
    assert doc["protocols"]["disco"]["overall"]["l1"] == pytest.approx(np.mean(l1s), rel=1e-9)
    assert doc["protocols"]["disco"]["overall"]["psnr"] == pytest.approx(np.mean(psnrs), rel=1e-9)
    assert disco.l1(pred[0], crop_resize(gt[0], 256)) == pytest.approx(l1s[-FRAMES], rel=1e-9)  # DisCo's own resize path


def test_with_weights_every_network_metric_is_computed_in_both_protocols(samples, isolated_weights):
    metric_weights.write_all(isolated_weights)
    out, reader = samples
    cfg = EvaluationConfig(metrics=[m for m in ALL if m != "lmd_body"], batch_size=8)
    doc, _, _ = evaluate_samples(out, reader, cfg)
    assert doc["needs"] == {}  # two videos: 2 samples for every Fréchet distance in both protocols
    assert doc["samples"]["fid_vid"] == {"corrected": 2, "disco": 2, "disco@2024-04": 2, "openpose-lmd": 2}
    for protocol in PROTOCOLS:
        overall = doc["protocols"][protocol]["overall"]
        for m in ("lpips", "fid", "fvd", "depth_fid"):
            assert math.isfinite(overall[m]) and overall[m] >= -1e-6, (protocol, m, overall[m])
    assert doc["samples"]["fid"] == dict.fromkeys(PROTOCOLS, 2 * FRAMES)
    assert doc["samples"]["fvd"] == {"corrected": 2, "disco": 4, "disco@2024-04": 4, "openpose-lmd": 2}  # first clip vs every window (2 each)
    # Every Fréchet distance here has fewer samples than feature dimensions: each one is flagged.
    assert {"metric": "fvd", "protocol": "corrected", "samples": 2, "features": 400} in doc["warnings"]
    assert len(doc["warnings"]) == 4 * len(PROTOCOLS)  # fid, fid_vid, fvd, depth_fid
    assert doc["settings"]["fvd"] == {"weights": "i3d-400", "clips": "styleganv"}


def test_landmark_distances_run_the_pose_estimator_on_both_videos(samples, isolated_weights):
    """DWPose's real load-and-predict path with tiny ONNX models (tests/onnx_models.py) that answer the same
    pose for every frame: generated and ground truth then agree exactly."""
    from onnx_models import build_detector, build_pose, peaked_simcc, yolox_output

    (isolated_weights / "dwpose-yolox-l").mkdir()
    (isolated_weights / "dwpose-ll-ucoco-384").mkdir()
    build_detector(isolated_weights / "dwpose-yolox-l" / "yolox_l.onnx", yolox_output([(160, 80, 352, 464)]))
    build_pose(isolated_weights / "dwpose-ll-ucoco-384" / "dw-ll_ucoco_384.onnx", *peaked_simcc((2 * np.arange(133)) % 576, (5 * np.arange(133)) % 768))
    out, reader = samples
    lmd = ["lmd_face", "lmd_body", "lmd_hand", "lmd_missing"]
    doc, _, _ = evaluate_samples(out, reader, EvaluationConfig(metrics=["l1", *lmd]))
    # The protocol chooses the estimator: OpenPose's protocol states its own missing weights, DWPose's compute.
    assert doc["needs"] == {m: {"openpose-lmd": "weights openpose-body, openpose-hand, openpose-face (humanvid weights fetch openpose-body "
                                                "openpose-hand openpose-face)"} for m in lmd}  # fmt: skip
    assert doc["missing_weights"] == ["openpose-body", "openpose-face", "openpose-hand"]
    assert set(doc["protocols"]["openpose-lmd"]["overall"]) == {"l1"}
    for protocol in (p for p in PROTOCOLS if p != "openpose-lmd"):
        overall = doc["protocols"][protocol]["overall"]
        assert overall["lmd_body"] == 0.0 and overall["lmd_face"] == 0.0 and overall["lmd_missing"] == 0.0
    assert set(doc["clips"]["c0"]["corrected"]) == {"l1", "lmd_face", "lmd_body", "lmd_hand", "lmd_missing"}


def test_the_preview_shows_the_models_own_control_images(samples, tmp_path):
    """The sample manifest names the model's control kind; the preview's condition row draws exactly that
    (a DensePose model's preview showed an OpenPose skeleton before)."""
    import shutil

    from humanvid.controls import control_images

    out, reader = samples
    dense = tmp_path / "samples"
    shutil.copytree(out, dense)
    manifest = json.loads((dense / MANIFEST).read_text())
    (dense / MANIFEST).write_text(json.dumps(manifest | {"control": "densepose"}))
    _, preview, _ = evaluate_samples(dense, reader, EvaluationConfig(metrics=["l1"]))
    data = reader.read_clip("c0", ("densepose",))
    expected = control_images("densepose", {"densepose": data["densepose"]}, SIZE, SIZE, SIZE).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(preview["condition"], (expected * 255).round().astype(np.uint8))
    _, pose_preview, _ = evaluate_samples(out, reader, EvaluationConfig(metrics=["l1"]))  # no control named: OpenPose
    assert not np.array_equal(pose_preview["condition"], preview["condition"])


def test_a_network_that_cannot_load_fails_its_metric_alone(samples, tmp_path):
    """A bad weight file fails the metrics that need it — said in `needs`, naming the override and the file —
    and every other metric of every clip is still computed."""
    out, reader = samples
    bad = tmp_path / "fid.pth"
    bad.write_bytes(b"not a checkpoint at all")
    doc, _, _ = evaluate_samples(out, reader, EvaluationConfig(metrics=["l1", "psnr", "ssim", "fid"]), overrides={"fid-inception": str(bad)})
    assert set(doc["overall"]) == {"l1", "psnr", "ssim"} and all(np.isfinite(v) for v in doc["overall"].values())
    assert set(doc["clips"]) == {"c0", "c1"} and not any(f["stage"] == "evaluate" for f in doc["failed"])
    why = doc["needs"]["fid"]["corrected"]
    assert why.startswith("failed: WeightFileError: weights.overrides.fid-inception: ") and str(bad) in why


def test_synthesized_depth_reads_depth_off_the_generated_frames(samples, tmp_path):
    """IDOL's "‡" (`evaluation.synthesized_depth`): a monocular estimator (a tiny DPT-Hybrid through the real load and
    predict path) reads depth off the generated frames, scored against the truth as the sample's depth — for samples
    without depth (`missing`) or every sample (`all`); the report marks those cells ‡."""
    import shutil

    import torch
    from test_depth import tiny_dpt_hybrid_checkpoint

    from humanvid.estimators.depth import DPTHybridMidas
    from humanvid.metrics.depth import depth_errors
    from humanvid.reports.table import RowResult, TableSpec, caveat_lines, cell
    from humanvid.video import read_video

    out, reader = samples
    overrides = {"dpt-hybrid-midas": str(tiny_dpt_hybrid_checkpoint(tmp_path / "dpt"))}
    rgb_only = tmp_path / "rgb_only"  # the same videos from a model that generates no depth
    shutil.copytree(out, rgb_only)
    manifest = json.loads((rgb_only / MANIFEST).read_text())
    for e in manifest["clips"]:
        e.get("outputs", {}).pop("depth", None)
    (rgb_only / MANIFEST).write_text(json.dumps(manifest))
    option = {"estimator": "dpt_hybrid"}
    metrics = ["psnr", "depth_l2"]

    plain, _, _ = evaluate_samples(rgb_only, reader, EvaluationConfig(metrics=metrics))
    assert "depth_l2" not in plain["overall"] and plain["depth_source"] is None
    assert plain["needs"]["depth_l2"]["corrected"].startswith("a model that generates depth")
    unfetched, _, _ = evaluate_samples(rgb_only, reader, EvaluationConfig(metrics=metrics, synthesized_depth=option))
    assert "dpt-hybrid-midas" in unfetched["needs"]["depth_l2"]["corrected"] and "dpt-hybrid-midas" in unfetched["missing_weights"]

    doc, _, _ = evaluate_samples(rgb_only, reader, EvaluationConfig(metrics=metrics, synthesized_depth=option), overrides=overrides)
    assert doc["depth_source"] == "dpt_hybrid on the synthesized frames"
    estimator = DPTHybridMidas(torch.device("cpu"), torch.float32, reader.dir, overrides)
    for cid in ("c0", "c1"):
        gen = estimator.estimate(read_video(out / f"{cid}.mp4"), cid)
        truth = reader.read_clip(cid, conditions=("depth", "alpha"))
        gt = np.stack([crop_resize_plane(z, SIZE) for z in truth["depth"]])
        mask = np.stack([crop_resize_plane(a, SIZE) for a in truth["alpha"]]) > 127
        by_hand = np.mean([depth_errors(g, t, m & (t > 0))["depth_l2"] for g, t, m in zip(gen, gt, mask, strict=True) if (m & (t > 0)).sum() >= 2])
        assert doc["clips"][cid]["corrected"]["depth_l2"] == pytest.approx(by_hand, rel=1e-6)
    assert doc["overall"]["depth_l2"] > 1e-3  # a random network's reading, not the exact depth the samples carry

    own, _, _ = evaluate_samples(out, reader, EvaluationConfig(metrics=metrics, synthesized_depth=option), overrides=overrides)
    assert own["depth_source"] == "model" and own["overall"]["depth_l2"] < 1e-6  # `missing`: the model's own depth stays
    every = {**option, "rows": "all"}
    replaced, _, _ = evaluate_samples(out, reader, EvaluationConfig(metrics=metrics, synthesized_depth=every), overrides=overrides)
    assert replaced["depth_source"] == doc["depth_source"]
    assert replaced["overall"]["depth_l2"] == pytest.approx(doc["overall"]["depth_l2"], rel=1e-6)

    spec = TableSpec("t", "t", metrics, "corrected")
    assert cell(spec, RowResult("DisCo", "s", doc), "depth_l2").endswith(" ‡")
    assert not cell(spec, RowResult("IDOL", "s", own), "depth_l2").endswith("‡")
    assert caveat_lines([RowResult("DisCo", "s", doc)]) == ["‡ depth: dpt_hybrid on the synthesized frames (IDOL's ‡), not the model's"]
