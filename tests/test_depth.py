"""Depth estimators: tiny random DPT-Hybrid and Depth Anything V2 checkpoints (the real config classes,
saved as transformers folders with their image processors) through the real load-and-predict path, and
the datasets' own depth behind the same interface."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import (
    BitConfig,
    DepthAnythingConfig,
    DepthAnythingForDepthEstimation,
    Dinov2Config,
    DPTConfig,
    DPTForDepthEstimation,
    DPTImageProcessor,
)

from humanvid.datasets import Clip
from humanvid.estimators import ESTIMATORS, check_conditions
from humanvid.estimators.depth import DatasetDepth, DepthAnythingV2Small, DPTHybridMidas

CPU = torch.device("cpu")


def _tiny_dpt_hybrid():
    bit = BitConfig(layer_type="bottleneck", global_padding="same", depths=[1, 1, 1], hidden_sizes=[8, 16, 32], embedding_size=8,
                    num_groups=2, out_features=["stage1", "stage2", "stage3"])  # fmt: skip
    return DPTForDepthEstimation(DPTConfig(is_hybrid=True, backbone_config=bit, hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                                           intermediate_size=37, image_size=32, patch_size=16, neck_hidden_sizes=[8, 16, 32, 32],
                                           fusion_hidden_size=16, backbone_out_indices=[0, 1, 2, 3], readout_type="project",
                                           backbone_featmap_shape=[1, 32, 2, 2]))  # fmt: skip


def _tiny_depth_anything():
    dino = Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=37, image_size=28, patch_size=14,
                        out_features=["stage1", "stage2", "stage3", "stage4"], reshape_hidden_states=False)  # fmt: skip
    return DepthAnythingForDepthEstimation(DepthAnythingConfig(backbone_config=dino, neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16,
                                                               reassemble_hidden_size=32, reassemble_factors=[4, 2, 1, 0.5],
                                                               head_hidden_size=8, patch_size=14))  # fmt: skip


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Folders laid out like the hub repositories: config.json, model.safetensors, preprocessor_config.json."""
    root = tmp_path_factory.mktemp("depth")
    out = {"dpt": tiny_dpt_hybrid_checkpoint(root / "dpt")}
    _tiny_depth_anything().save_pretrained(root / "da")
    _processor(28, 14).save_pretrained(root / "da")
    return out | {"da": root / "da"}


def tiny_dpt_hybrid_checkpoint(path):
    """A tiny random DPT-Hybrid folder laid out like Intel/dpt-hybrid-midas (seed 0)."""
    torch.manual_seed(0)
    _tiny_dpt_hybrid().save_pretrained(path)
    _processor(32, 32).save_pretrained(path)
    return path


def _processor(size: int, multiple: int) -> DPTImageProcessor:
    return DPTImageProcessor(size={"height": size, "width": size}, keep_aspect_ratio=True, ensure_multiple_of=multiple, do_pad=False,
                             image_mean=[0.5] * 3, image_std=[0.5] * 3)  # fmt: skip


def _frames(t=5, h=40, w=56):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("cls, key, weight", [(DPTHybridMidas, "dpt", "dpt-hybrid-midas"), (DepthAnythingV2Small, "da", "depth-anything-v2-small")])
def test_monocular_depth_through_the_real_load_and_predict_path(checkpoints, tmp_path, cls, key, weight):
    est = cls(CPU, torch.float32, tmp_path, overrides={weight: str(checkpoints[key])})
    frames = _frames()
    clip = Clip("d", "c0", "p", "test", 10.0, len(frames), frames.shape[2], frames.shape[1], "clips/c0.mp4")
    est.batch = 2  # 5 frames: batches of 2, 2, 1
    out = est(frames, clip)
    check_conditions(out, frames, "test")  # float32 (T, H, W): resized back to the frames
    assert np.isfinite(out["depth"]).all() and out["depth"].std() > 0
    est.batch = 1  # batching does not change a frame's depth
    assert np.allclose(est(frames, clip)["depth"], out["depth"], atol=1e-4)
    assert ESTIMATORS.get(cls.name) is cls and cls.depth_kind == "relative_inverse"


def test_missing_depth_weights_name_what_to_fetch(tmp_path):
    from humanvid.weights import MissingWeightsError

    with pytest.raises(MissingWeightsError, match="humanvid weights fetch dpt-hybrid-midas"):
        DPTHybridMidas(CPU, torch.float32, tmp_path)


def test_dataset_depth_serves_what_the_dataset_ships(tmp_path):
    frames = _frames(3, 8, 10)
    clip = Clip("tiktok", "00001", "p", "train", 30.0, 3, 10, 8, "clips/00001.mp4")
    est = DatasetDepth(CPU, torch.float32, tmp_path)
    assert DatasetDepth.supports("tiktok") and DatasetDepth.supports("ntu120") and not DatasetDepth.supports("synthdance")
    with pytest.raises(FileNotFoundError, match="clip 00001: no annotations file"):
        est(frames, clip)
    (tmp_path / "annotations").mkdir()
    depth = np.random.default_rng(1).uniform(0, 5, (3, 8, 10)).astype(np.float32)
    np.savez(tmp_path / "annotations" / "00001.npz", alpha=np.zeros((3, 8, 10), np.uint8))
    with pytest.raises(ValueError, match="has no depth maps"):
        est(frames, clip)
    np.savez(tmp_path / "annotations" / "00001.npz", depth=depth)
    assert np.array_equal(est(frames, clip)["depth"], depth)
    np.savez(tmp_path / "annotations" / "00001.npz", depth=depth[:2])
    with pytest.raises(ValueError, match="does not match the video's frames"):
        est(frames, clip)


def _ntu_annotations(flip_width=None, noise=0.5, frames=3):
    """Kinect-like depth (424 × 512 mm) of a standing box at 2.5 m with a nearer box (1.5 m) in front of it,
    the depth -> RGB map of a 1920 × 1080 camera (x 2.5 + 100, y 2.5 - 50), and the skeleton's joint pairs."""
    from humanvid.datasets.ntu120 import rgb_to_clip

    rng = np.random.default_rng(0)
    depth = np.zeros((frames, 424, 512), np.uint16)
    depth[:, 100:300, 200:300] = 2500
    depth[:, 150:200, 240:280] = 1500
    jd = np.stack([rng.uniform(200, 300, (frames, 25)), rng.uniform(100, 300, (frames, 25))], -1)
    jr = jd * 2.5 + np.array([100.0, -50.0]) + rng.normal(0, noise, jd.shape)
    jd[1, :5] = np.nan  # untracked joints are NaN
    return {"depth_mm": depth, "joints_depth": jd.astype(np.float32), "joints_rgb": jr.astype(np.float32),
            "frame_index": np.arange(frames, dtype=np.int32), "rgb_to_clip": rgb_to_clip(1080, 1920, 256, flip_width)}  # fmt: skip


def test_ntu_kinect_depth_is_registered_to_the_clip_frames(tmp_path):
    (tmp_path / "annotations").mkdir()
    est = DatasetDepth(CPU, torch.float32, tmp_path)
    frames = np.zeros((3, 256, 256, 3), np.uint8)
    clips = {cid: Clip("ntu120", cid, "P001", "train", 30.0, 3, 256, 256, f"clips/{cid}.mp4") for cid in ("s", "s_flip")}
    np.savez(tmp_path / "annotations" / "s.npz", **_ntu_annotations())
    np.savez(tmp_path / "annotations" / "s_flip.npz", **_ntu_annotations(flip_width=256))
    out = est(frames, clips["s"])["depth"]
    check_conditions({"depth": out}, frames, "ntu")
    # Where the boxes land: depth px -> RGB px (x 2.5 + 100, y 2.5 - 50) -> clip (crop left 420, scale 256/1080).
    s = 256 / 1080
    ys, xs = np.mgrid[0:256, 0:256] + 0.5
    def box(x0, x1, y0, y1):
        return (xs >= ((x0 * 2.5 + 100) - 420) * s) & (xs < ((x1 * 2.5 + 100) - 420) * s) & (ys >= (y0 * 2.5 - 50) * s) & (ys < (y1 * 2.5 - 50) * s)
    far, near = box(200, 300, 100, 300), box(240, 280, 150, 200)
    for t in range(3):
        got = out[t] > 0
        assert (got & far).sum() / (got | far).sum() > 0.95
        inner_far, inner_near = far & ~near, near
        assert np.median(out[t][inner_far & got]) == pytest.approx(2.5) and np.median(out[t][inner_near & got]) == pytest.approx(1.5)
    flipped = est(frames, clips["s_flip"])["depth"]
    assert ((flipped[0] > 0) & (out[0][:, ::-1] > 0)).sum() / ((flipped[0] > 0) | (out[0][:, ::-1] > 0)).sum() > 0.97
    # A skeleton whose RGB and depth positions disagree is refused, naming the clip and the residual.
    np.savez(tmp_path / "annotations" / "s.npz", **_ntu_annotations(noise=40.0))
    with pytest.raises(ValueError, match=r"clip s: depth -> RGB registration_px \d+"):
        est(frames, clips["s"])
    bad = _ntu_annotations()
    bad["depth_mm"] = bad["depth_mm"][:2]
    np.savez(tmp_path / "annotations" / "s.npz", **bad)
    with pytest.raises(ValueError, match="clip s: 2 depth frames do not cover"):
        est(frames, clips["s"])
