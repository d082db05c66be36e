import numpy as np
import pytest
import torch
from onnx_models import build_detector, build_pose, peaked_simcc, yolox_output

from humanvid.datasets import Clip
from humanvid.estimators.dwpose import DWPose, box_to_center_scale, decode_simcc, letterbox, person_boxes, to_frame, warp_matrix

CPU = torch.device("cpu")
CLIP = Clip("synthdance", "c0", "id0", "test", 12.0, 2, 400, 300, "clips/c0.mp4")
BINS_X, BINS_Y = (2 * np.arange(133)) % 576, (5 * np.arange(133)) % 768


@pytest.fixture
def models(tmp_path):
    # A person at frame box (100, 50)-(220, 290) in a 300 x 400 frame: ratio 1.6 onto the 640 canvas.
    det = build_detector(tmp_path / "yolox_l.onnx", yolox_output([(160, 80, 352, 464)]))
    pose = build_pose(tmp_path / "dw-ll_ucoco_384.onnx", *peaked_simcc(BINS_X, BINS_Y))
    empty = build_detector(tmp_path / "empty.onnx", np.zeros((1, 8400, 85), np.float32))
    return {"dwpose-yolox-l": str(det), "dwpose-ll-ucoco-384": str(pose)}, str(empty)


def test_letterbox_and_affine_geometry():
    frame = np.full((300, 400, 3), 7, np.uint8)
    canvas, ratio = letterbox(frame)
    assert ratio == pytest.approx(1.6) and canvas.shape == (3, 640, 640)
    assert canvas[0, 479, 639] == 7 and canvas[0, 480, 0] == 114  # frame in the top-left, 114 below it
    center, scale = box_to_center_scale(np.array([100, 50, 220, 290.0]))
    assert center.tolist() == [160, 170] and scale.tolist() == [225, 300]  # 1.25 padding, widened to 3:4
    m = warp_matrix(center, scale)
    corner = m @ np.array([center[0] - scale[0] / 2, center[1] - scale[1] / 2, 1])
    assert np.allclose(m @ np.array([*center, 1]), [144, 192]) and np.allclose(corner, [0, 0], atol=1e-4)
    # to_frame inverts the warp: the input-pixel image of a frame point maps back onto it.
    point = np.array([130.0, 90.0])
    assert np.allclose(to_frame((m @ np.array([*point, 1]))[None], center, scale)[0], point, atol=1e-4)


def test_decode_simcc_and_yolox():
    x, y = peaked_simcc(BINS_X, BINS_Y)
    y[0, 3] = 0.0  # a keypoint with no response
    locs, scores = decode_simcc(x, y)
    assert locs[0, 5].tolist() == [5.0, 12.5] and scores[0, 5] == pytest.approx(0.8)
    assert locs[0, 3].tolist() == [-1, -1] and scores[0, 3] == 0
    raw = yolox_output([(160, 80, 352, 464)]) + yolox_output([(196, 84, 388, 468)], obj=0.5)  # an overlapping, weaker twin
    boxes = person_boxes(raw[0], ratio=1.6)
    np.testing.assert_allclose(boxes, [[100, 50, 220, 290]], atol=1e-3)  # the overlapping twin is suppressed


def test_estimator_end_to_end_maps_keypoints_to_frame_pixels(models):
    overrides, _ = models
    est = DWPose(CPU, torch.float32, "/nonexistent", overrides=overrides)
    frames = np.random.default_rng(0).integers(0, 255, (2, 300, 400, 3), dtype=np.uint8)
    out = est(frames, CLIP)
    wb = out["wholebody133"]
    assert wb.shape == (2, 133, 3) and out["openpose18"].shape == (2, 18, 3)
    expect_x = (BINS_X / 2) / 288 * 225 + 160 - 112.5
    expect_y = (BINS_Y / 2) / 384 * 300 + 170 - 150
    np.testing.assert_allclose(wb[1, :, 0], expect_x, atol=1e-3)
    np.testing.assert_allclose(wb[1, :, 1], expect_y, atol=1e-3)
    assert np.allclose(wb[..., 2], 0.8)
    np.testing.assert_allclose(out["openpose18"][0, 1, :2], (wb[0, 5, :2] + wb[0, 6, :2]) / 2)  # neck


def test_no_person_empty_clip_and_unreadable_weights(models, tmp_path):
    overrides, empty = models
    est = DWPose(CPU, torch.float32, "/nonexistent", overrides={**overrides, "dwpose-yolox-l": empty})
    out = est(np.zeros((3, 300, 400, 3), np.uint8), CLIP)
    assert not out["wholebody133"].any()  # no person: an empty result, not an error
    with pytest.raises(ValueError, match="no frames"):
        est(np.zeros((0, 300, 400, 3), np.uint8), CLIP)
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="broken.onnx: not a loadable ONNX model"):
        DWPose(CPU, torch.float32, "/nonexistent", overrides={**overrides, "dwpose-ll-ucoco-384": str(bad)})
