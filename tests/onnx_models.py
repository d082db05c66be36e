"""Tiny ONNX models with the public DWPose models' signatures, built by the tests.

Their outputs are fixed tensors chosen by the test (made to depend on the input's batch size, so the
graph really consumes the input), so every step of the real pre- and post-processing has an exact,
hand-computable expectation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _const_plus_zero_input(input_name: str, input_shape: list, outputs: dict[str, np.ndarray], path: Path) -> Path:
    nodes = [
        helper.make_node("ReduceSum", [input_name, "axes"], ["s"], keepdims=0),  # (N,)
        helper.make_node("Mul", ["s", "zero"], ["z"]),
        helper.make_node("Unsqueeze", ["z", "unsq_axes"], ["z3"]),  # (N, 1, 1)
    ]
    inits = [
        numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array([1, 2], np.int64), "unsq_axes"),
    ]
    outs = []
    for name, value in outputs.items():
        inits.append(numpy_helper.from_array(value.astype(np.float32), f"{name}_const"))
        nodes.append(helper.make_node("Add", [f"{name}_const", "z3"], [name]))
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", *value.shape[1:]]))
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, input_shape)], outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def yolox_output(boxes_canvas: list[tuple[float, float, float, float]], obj: float = 0.9, cls: float = 0.95) -> np.ndarray:
    """(1, 8400, 85) raw YOLOX output holding the given xyxy canvas boxes on stride-32 anchors."""
    raw = np.zeros((1, 8400, 85), np.float32)
    for x1, y1, x2, y2 in boxes_canvas:
        cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
        gx, gy = int(cx // 32), int(cy // 32)
        i = 6400 + 1600 + gy * 20 + gx
        raw[0, i, :4] = [cx / 32 - gx, cy / 32 - gy, np.log(w / 32), np.log(h / 32)]
        raw[0, i, 4], raw[0, i, 5] = obj, cls
    return raw


def build_detector(path: Path, raw: np.ndarray) -> Path:
    return _const_plus_zero_input("images", [1, 3, 640, 640], {"output": raw}, path)


def build_pose(path: Path, simcc_x: np.ndarray, simcc_y: np.ndarray) -> Path:
    return _const_plus_zero_input("input", ["N", 3, 384, 288], {"simcc_x": simcc_x, "simcc_y": simcc_y}, path)


def peaked_simcc(bins_x: np.ndarray, bins_y: np.ndarray, peak: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    x = np.full((1, 133, 576), 0.05, np.float32)
    y = np.full((1, 133, 768), 0.05, np.float32)
    x[0, np.arange(133), bins_x] = peak
    y[0, np.arange(133), bins_y] = peak
    return x, y
