import numpy as np
import pytest
import torch

from humanvid.estimators.densepose import INSTALL, ChartInstance, DensePose, chart_to_iuv, densepose_condition, paste_instances

S = 8  # detectron2 gives S = 112; the decoding does not depend on it


def _instance(box, score, part_top=3, part_bottom=7, u=0.5):
    coarse = np.zeros((2, S, S), np.float32)
    coarse[1, :, : S // 2] = 5.0  # foreground: the left half of the box
    coarse[0, :, S // 2 :] = 5.0
    fine = np.zeros((25, S, S), np.float32)
    fine[part_top, : S // 2] = 5.0
    fine[part_bottom, S // 2 :] = 5.0
    uu = np.full((25, S, S), u, np.float32)
    vv = np.broadcast_to(np.linspace(0, 1, S, dtype=np.float32)[None, None, :], (25, S, S)).copy()
    return ChartInstance(np.array(box, np.float32), score, coarse, fine, uu, vv)


def test_chart_to_iuv_follows_the_chart_heads():
    iuv, (x0, y0, x1, y1) = chart_to_iuv(_instance((10, 20, 26, 36), 0.9))
    assert (x0, y0, x1, y1) == (10, 20, 26, 36) and iuv.shape == (16, 16, 3)
    assert set(np.unique(iuv[:, :8, 0])) == {3, 7} and not iuv[:, 8:, 0].any()  # parts only where coarse says person
    assert (iuv[:4, :6, 0] == 3).all() and (iuv[12:, :6, 0] == 7).all()
    assert (iuv[:, :6, 1] == 128).all()  # U = 0.5 -> 127.5 rounds to 128
    assert iuv[0, 0, 2] < iuv[0, 6, 2]  # V grows left to right as its chart does


def test_paste_by_score_and_clip_to_frame():
    low = _instance((0, 0, 16, 16), 0.5, part_top=1, part_bottom=1)
    high = _instance((4, 0, 20, 16), 0.9, part_top=2, part_bottom=2)
    out = paste_instances([high, low], height=12, width=14)  # order given does not matter
    assert out.shape == (12, 14, 3)
    assert out[5, 6, 0] == 2  # overlap: the more confident person wins
    assert out[5, 1, 0] == 1  # only the first person there
    assert not out[:, 13, 0].any()  # right halves are background in both charts


def test_magicanimate_condition_colours():
    iuv = np.zeros((2, 3, 3), np.uint8)
    iuv[0, 1, 0], iuv[0, 2, 0] = 24, 12
    img = densepose_condition(iuv)
    assert img[1, 1].tolist() == [68, 1, 84]  # background: viridis' purple
    assert img[0, 1].tolist() == [253, 231, 37]  # the last part: viridis' yellow
    assert img[0, 2].tolist() == densepose_condition(np.array([[[12, 0, 0]]], np.uint8))[0, 0].tolist()
    assert densepose_condition(np.zeros((4, 5, 6, 3), np.uint8)).shape == (4, 5, 6, 3)


def test_missing_detectron2_is_a_clear_error():
    # detectron2 is not installable here: the estimator must say how to get it.
    with pytest.raises(ImportError) as err:
        DensePose(torch.device("cpu"), torch.float32, "/nonexistent")
    assert str(err.value) == INSTALL and "subdirectory=projects/DensePose" in INSTALL
