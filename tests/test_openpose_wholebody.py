"""OpenPose's hand and face networks (Make-Your-Anchor's LMD estimator): the released layouts, the boxes taken
from the body, the peak rules, and the whole estimator on released-layout files."""

import numpy as np
import pytest
import torch

from humanvid.datasets import Clip
from humanvid.estimators import check_conditions
from humanvid.estimators.openpose import BodyPoseNet
from humanvid.estimators.openpose_wholebody import (
    FACE_MAPS,
    HAND_MAPS,
    KeypointNet,
    OpenPoseWholeBody,
    face_box,
    face_peaks,
    hand_boxes,
    hand_peaks,
)
from humanvid.keypoints import FACE_START, LHAND_START, RHAND_START, wholebody_from_openpose

# The standing person of test_openpose.py (OpenPose-18 order), every joint found, in a 160 x 200 frame.
PERSON = np.array([[80, 30, 1], [80, 50, 1], [65, 50, 1], [60, 75, 1], [58, 100, 1], [95, 50, 1], [100, 75, 1], [102, 100, 1],
                   [70, 100, 1], [70, 135, 1], [70, 170, 1], [90, 100, 1], [90, 135, 1], [90, 170, 1], [76, 26, 1], [84, 26, 1],
                   [72, 28, 1], [88, 28, 1]], np.float32)  # fmt: skip


def _released_layout(maps: int) -> dict[str, tuple[int, ...]]:
    """Key names and shapes of `hand_pose_model.pth` (maps 22) / `facenet.pth` (maps 71), written out from the
    public ports' layer tables, independently of the model code."""
    trunk = [("conv1_1", 3, 64), ("conv1_2", 64, 64), ("conv2_1", 64, 128), ("conv2_2", 128, 128), ("conv3_1", 128, 256),
             ("conv3_2", 256, 256), ("conv3_3", 256, 256), ("conv3_4", 256, 256), ("conv4_1", 256, 512), ("conv4_2", 512, 512),
             ("conv4_3", 512, 512), ("conv4_4", 512, 512), ("conv5_1", 512, 512), ("conv5_2", 512, 512), ("conv5_3_CPM", 512, 128)]  # fmt: skip
    layout = {}
    for name, cin, cout in trunk:
        layout |= {f"{name}.weight": (cout, cin, 3, 3), f"{name}.bias": (cout,)}
    layout |= {
        "conv6_1_CPM.weight": (512, 128, 1, 1),
        "conv6_1_CPM.bias": (512,),
        "conv6_2_CPM.weight": (maps, 512, 1, 1),
        "conv6_2_CPM.bias": (maps,),
    }
    for s in range(2, 7):
        layout |= {f"Mconv1_stage{s}.weight": (128, 128 + maps, 7, 7), f"Mconv1_stage{s}.bias": (128,)}
        for j in (2, 3, 4, 5):
            layout |= {f"Mconv{j}_stage{s}.weight": (128, 128, 7, 7), f"Mconv{j}_stage{s}.bias": (128,)}
        layout |= {f"Mconv6_stage{s}.weight": (128, 128, 1, 1), f"Mconv6_stage{s}.bias": (128,),
                   f"Mconv7_stage{s}.weight": (maps, 128, 1, 1), f"Mconv7_stage{s}.bias": (maps,)}  # fmt: skip
    return layout


def _random_state(layout: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {k: torch.randn(shape, generator=gen) * 0.01 for k, shape in layout.items()}


@pytest.mark.parametrize("maps", [HAND_MAPS, FACE_MAPS])
def test_hand_and_face_nets_take_the_released_key_names_and_shapes(maps):
    layout = _released_layout(maps)
    assert len(layout) == 104 and layout["Mconv1_stage2.weight"] == (128, 128 + maps, 7, 7)
    net = KeypointNet.build(maps, "OpenPose test")
    state = _random_state(layout)
    net.load_released(state)
    assert torch.equal(net.model1_0.conv1_1.weight, state["conv1_1.weight"]) and torch.equal(
        net.model6.Mconv7_stage6.bias, state["Mconv7_stage6.bias"]
    )
    with torch.inference_mode():
        assert net(torch.zeros(1, 3, 32, 40)).shape == (1, maps, 4, 5)
    with pytest.raises(KeyError, match="OpenPose test weights do not match the model: missing \\['conv5_1.bias'\\]"):
        net.load_released({k: v for k, v in state.items() if k != "conv5_1.bias"})
    with pytest.raises(KeyError, match="OpenPose test weight conv6_2_CPM.weight: shape"):
        net.load_released(state | {"conv6_2_CPM.weight": torch.zeros(maps + 1, 512, 1, 1)})


def test_hand_boxes_follow_the_wrist_beyond_the_forearm():
    # left: wrist (102, 100), elbow (100, 75), shoulder (95, 50): side 1.5 * |wrist - elbow| = 37.62, centre
    # wrist + 0.33 (wrist - elbow) = (102.66, 108.25) -> top-left (83.85, 89.44); the right hand mirrors it.
    assert hand_boxes(PERSON, 200, 160) == [(83, 89, 37, True), (38, 89, 37, False)]
    no_left_elbow = PERSON.copy()
    no_left_elbow[6, 2] = 0
    assert hand_boxes(no_left_elbow, 200, 160) == [(38, 89, 37, False)]
    assert hand_boxes(PERSON, 200, 110) == [(83, 89, 26, True), (38, 89, 37, False)]  # shrunk to the right edge: 110 - 83.85
    assert hand_boxes(PERSON * [0.4, 0.4, 1], 80, 64) == []  # 15 px boxes are dropped


def test_face_box_spans_the_eyes_and_ears_around_the_nose():
    # eyes 4 px from the nose (x3 = 12), ears 8 px (x1.5 = 12): a 24 px box from 12 px above-left of the nose.
    assert face_box(PERSON, 200, 160) == (68, 18, 24)
    blind = PERSON.copy()
    blind[14:18, 2] = 0
    assert face_box(blind, 200, 160) is None
    high = PERSON.copy()
    high[[0, 14, 15, 16, 17], 1] -= 25  # nose at y = 5: the box starts at the top edge, its side kept
    assert face_box(high, 200, 160) == (68, 0, 24)
    assert face_box(PERSON * [0.5, 0.5, 1], 100, 80) is None  # 12 px


def test_hand_peak_is_the_maximum_of_the_region_with_most_response():
    ys, xs = np.mgrid[0:64, 0:72]
    blob = lambda x, y, s, a: a * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * s**2))  # noqa: E731
    maps = np.zeros((64, 72, HAND_MAPS), np.float32)
    maps[:, :, 0] = blob(20, 30, 6, 0.5) + blob(55, 50, 1.5, 0.9)  # a wide blob and a higher but small one
    maps[:, :, 2] = blob(40, 10, 3, 0.6)
    out = hand_peaks(maps)
    np.testing.assert_allclose(out[0], (20, 30, 0.5), atol=1e-6)
    np.testing.assert_allclose(out[2], (40, 10, 0.6), atol=1e-6)
    assert (out[1] == 0).all() and (out[3:] == 0).all()  # nothing above threshold: not found


def test_face_peak_is_the_maximum_above_threshold():
    maps = np.zeros((FACE_MAPS, 16, 20), np.float32)
    maps[0, 4, 10] = 0.3
    maps[1, 7, 3] = 0.04
    out = face_peaks(maps)
    np.testing.assert_allclose(out[0], (10, 4, 0.3), atol=1e-6)
    assert out.shape == (68, 3) and (out[1:] == 0).all()


def test_wholebody_layout_from_openpose_parts():
    face = np.tile(np.arange(68, dtype=np.float32)[:, None], (1, 3))
    left, right = np.full((21, 3), 1.0, np.float32), np.full((21, 3), 2.0, np.float32)
    wb = wholebody_from_openpose(PERSON, face, left, right)
    assert wb.shape == (133, 3)
    np.testing.assert_array_equal(wb[0], PERSON[0])  # nose
    np.testing.assert_array_equal(wb[9], PERSON[7])  # left wrist (OpenPose 7, COCO 9)
    np.testing.assert_array_equal(wb[6], PERSON[2])  # right shoulder
    assert (wb[17:23] == 0).all()  # no feet
    np.testing.assert_array_equal(wb[FACE_START:LHAND_START], face)
    assert (wb[LHAND_START:RHAND_START] == 1).all() and (wb[RHAND_START:] == 2).all()


def test_estimator_loads_three_released_files_and_places_parts_in_their_boxes(tmp_path):
    """Real loading from released-layout files. The random nets answer ~0 everywhere, so one map of each is lifted
    by its output bias: the left wrist and face landmark 0 must then be found inside their boxes, in their slots."""
    body = BodyPoseNet.build()
    torch.save({k.split(".", 1)[1]: v for k, v in body.state_dict().items()}, tmp_path / "body.pth")
    hand, face = _random_state(_released_layout(HAND_MAPS), 1), _random_state(_released_layout(FACE_MAPS), 2)
    hand["Mconv7_stage6.bias"][0] = 0.5  # the wrist
    face["Mconv7_stage6.bias"][0] = 0.5  # the jaw's first landmark
    torch.save(hand, tmp_path / "hand.pth")
    torch.save(face, tmp_path / "face.pth")
    overrides = {
        "openpose-body": str(tmp_path / "body.pth"),
        "openpose-hand": str(tmp_path / "hand.pth"),
        "openpose-face": str(tmp_path / "face.pth"),
    }
    est = OpenPoseWholeBody(torch.device("cpu"), torch.float32, "/nonexistent", overrides=overrides)

    frame = np.random.default_rng(0).integers(0, 255, (200, 160, 3), dtype=np.uint8)
    wb = est.parts(frame, PERSON)
    for index, (x, y, side) in ((LHAND_START, (83, 89, 37)), (RHAND_START, (38, 89, 37)), (FACE_START, (68, 18, 24))):
        px, py, score = wb[index]
        assert x <= px < x + side and y <= py < y + side and score == pytest.approx(0.5, abs=0.05), index
    assert (wb[LHAND_START + 1 : RHAND_START, 2] == 0).all() and (wb[FACE_START + 1 : LHAND_START, 2] == 0).all()
    np.testing.assert_array_equal(wb[5], PERSON[5])  # the body is OpenPose's, in COCO slots

    clip = Clip("d", "c", "i", "test", 1.0, 2, 40, 48, "c.mp4")
    frames = np.zeros((2, 48, 40, 3), np.uint8)
    out = est(frames, clip)
    assert set(out) == set(OpenPoseWholeBody.provides)
    check_conditions(out, frames, "test clip")
    assert (out["wholebody133"][..., 2] == 0).all()  # no person in a black frame: no parts
