import numpy as np
import pytest
import torch

from humanvid.datasets import Clip
from humanvid.estimators.openpose import LIMBS, PAF_CHANNELS, BodyPoseNet, OpenPoseBody, assemble_people, connect_limbs, find_peaks

# A standing person in OpenPose-18 order (x, y), inside a 160 x 200 frame.
PERSON = np.array([[80, 30], [80, 50], [65, 50], [60, 75], [58, 100], [95, 50], [100, 75], [102, 100], [70, 100],
                   [70, 135], [70, 170], [90, 100], [90, 135], [90, 170], [76, 26], [84, 26], [72, 28], [88, 28]], np.float32)  # fmt: skip


def _maps(people, h=200, w=160):
    """Hand-made heatmaps (Gaussian peaks) and PAFs (unit vectors in a band along each limb)."""
    ys, xs = np.mgrid[0:h, 0:w]
    heat = np.zeros((h, w, 19), np.float32)
    paf = np.zeros((h, w, 38), np.float32)
    for p in people:
        for j, (x, y) in enumerate(p):
            heat[:, :, j] = np.maximum(heat[:, :, j], np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 2.0**2)))
        for (a, b), (cx, cy) in zip(LIMBS, PAF_CHANNELS, strict=True):
            pa, pb = p[a], p[b]
            v = (pb - pa) / np.linalg.norm(pb - pa)
            t = np.clip(((xs - pa[0]) * v[0] + (ys - pa[1]) * v[1]) / np.linalg.norm(pb - pa), 0, 1)
            dist = np.hypot(xs - (pa[0] + t * (pb - pa)[0]), ys - (pa[1] + t * (pb - pa)[1]))
            band = dist <= 2.5
            paf[band, cx], paf[band, cy] = v[0], v[1]
    return heat, paf


def test_grouping_recovers_each_person_from_hand_made_maps():
    second = PERSON.copy()
    second[:, 0] += 200
    heat, paf = _maps([PERSON, second], w=400)
    peaks = find_peaks(heat)
    assert all(len(p) == 2 for p in peaks)
    people = assemble_people(peaks, connect_limbs(peaks, paf, height=200))
    assert len(people) == 2
    found = sorted(people, key=lambda p: p[0, 0])
    np.testing.assert_allclose(found[0][:, :2], PERSON, atol=1.0)
    np.testing.assert_allclose(found[1][:, :2], second, atol=1.0)
    assert (found[0][:, 2] > 0.9).all()


def test_no_person_and_a_fragment_are_empty():
    heat, paf = _maps([])
    assert assemble_people(find_peaks(heat), connect_limbs(find_peaks(heat), paf, 200)) == []
    fragment = PERSON[:3].copy()  # nose, neck, one shoulder: fewer than 4 parts is dropped
    heat, paf = _maps([np.concatenate([fragment, np.full((15, 2), -100, np.float32)])])
    peaks = find_peaks(heat)
    assert assemble_people(peaks, connect_limbs(peaks, paf, 200)) == []


def _released_state(net) -> dict:
    gen = torch.Generator().manual_seed(0)
    return {k.split(".", 1)[1]: torch.randn(v.shape, generator=gen) * 0.01 for k, v in net.state_dict().items()}


def test_released_key_names_load_exactly():
    net = BodyPoseNet.build()
    state = _released_state(net)
    assert len(state) == 184 and "conv1_1.weight" in state and "Mconv7_stage6_L2.bias" in state
    assert tuple(state["Mconv1_stage2_L1.weight"].shape) == (128, 185, 7, 7)
    net.load_released(state)
    with pytest.raises(KeyError, match="missing \\['conv1_1.bias'\\]"):
        net.load_released({k: v for k, v in state.items() if k != "conv1_1.bias"})
    with pytest.raises(KeyError, match="unexpected \\['extra.weight'\\]"):
        net.load_released({**state, "extra.weight": torch.zeros(1)})


def test_estimator_runs_the_released_layout_end_to_end(tmp_path):
    path = tmp_path / "body_pose_model.pth"
    torch.save(_released_state(BodyPoseNet.build()), path)
    est = OpenPoseBody(torch.device("cpu"), torch.float32, "/nonexistent", overrides={"openpose-body": str(path)})
    heats, pafs = est.maps(np.zeros((2, 48, 40, 3), np.uint8))
    assert heats.shape == (2, 48, 40, 19) and pafs.shape == (2, 48, 40, 38)
    out = est(np.zeros((2, 48, 40, 3), np.uint8), Clip("d", "c", "i", "test", 1.0, 2, 40, 48, "c.mp4"))
    assert out["openpose18"].shape == (2, 18, 3)
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pth: not a readable PyTorch state dict"):
        OpenPoseBody(torch.device("cpu"), torch.float32, "/nonexistent", overrides={"openpose-body": str(bad)})
