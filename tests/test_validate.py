import json
import subprocess
import sys

import numpy as np
import pytest
import yaml
from conftest import make_workspace
from onnx_models import build_detector, build_pose, peaked_simcc, yolox_output

from humanvid.estimators.validate import iou, part_miou, pck
from tasks import download


def test_pck_and_iou_hand_values():
    gt = np.zeros((1, 4, 3), np.float32)
    gt[0, :, :2] = [[0, 0], [100, 0], [0, 50], [100, 50]]  # person box 100 wide: threshold 0.05 * 100 = 5 px
    gt[0, :, 2] = [1, 1, 1, 0]  # the last keypoint is not visible: not judged
    pred = gt.copy()
    pred[0, :, 2] = 1
    pred[0, 1, 0] += 4.9  # inside
    pred[0, 2, 1] += 5.1  # outside
    pred[0, 3, 0] += 999  # invisible in truth: ignored
    assert pck(pred, gt) == (pytest.approx(2 / 3), 3)
    a = np.zeros((4, 4), bool)
    a[:2] = True
    b = np.zeros((4, 4), bool)
    b[1:3] = True
    assert iou(a, b) == pytest.approx(4 / 12)
    parts = np.array([[1, 1, 2, 0]])
    assert part_miou(parts, np.array([[1, 2, 2, 0]])) == pytest.approx((1 / 2 + 1 / 2) / 2)


def test_validate_cli_groundtruth_is_exact_and_dwpose_harness_runs(tmp_path, tiny_params):
    ws = make_workspace(tmp_path / "ws", tiny_params)
    download.main(["synthdance", "--workspace", str(ws)])
    cmd = [sys.executable, "-m", "flows.cli", "--workspace", str(ws), "estimators", "validate"]
    out = subprocess.run(cmd + ["groundtruth", "--clips", "2", "--json", str(tmp_path / "gt.json")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    mean = json.loads((tmp_path / "gt.json").read_text())["mean"]
    assert mean["pck@0.05/wholebody133"] == 1.0 and mean["iou/alpha"] == 1.0 and mean["miou/densepose_parts"] == 1.0
    assert "| pck@0.05/openpose18 | 1.0000 |" in out.stdout
    # DWPose through the same harness on tiny models with the real signatures (overrides in params.yaml).
    det = build_detector(tmp_path / "det.onnx", yolox_output([(100, 60, 420, 600)]))
    pose = build_pose(tmp_path / "pose.onnx", *peaked_simcc(np.full(133, 288), np.full(133, 384)))  # every keypoint at the crop centre
    params = yaml.safe_load((ws / "params.yaml").read_text())
    params["weights"] = {"overrides": {"dwpose-yolox-l": str(det), "dwpose-ll-ucoco-384": str(pose)}}
    (ws / "params.yaml").write_text(yaml.safe_dump(params))
    out = subprocess.run(cmd + ["dwpose", "--clips", "1", "--json", str(tmp_path / "dw.json")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    result = json.loads((tmp_path / "dw.json").read_text())["mean"]
    assert 0.0 <= result["pck@0.05/wholebody133"] < 0.2  # a constant model is (measurably) poor
    assert set(result) >= {"pck@0.05/body", "pck@0.05/face", "pck@0.05/hands", "pck@0.05/openpose18"}
