"""Condition images: what a ControlNet sees, drawn from estimator outputs."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from humanvid.keypoints import OPENPOSE18_LIMBS

# The OpenPose body renderer's 18 colours (RGB), one per keypoint and per limb.
OPENPOSE_COLOURS = [
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
]  # fmt: skip


def render_openpose18(keypoints: np.ndarray, height: int, width: int, min_score: float = 0.3) -> np.ndarray:
    """(18, 3) x, y, score -> uint8 (H, W, 3) skeleton on black, limbs and joints in OpenPose colours."""
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    thick = max(1, round(min(height, width) / 64))
    for k, (a, b) in enumerate(OPENPOSE18_LIMBS):
        if keypoints[a, 2] >= min_score and keypoints[b, 2] >= min_score:
            draw.line([tuple(keypoints[a, :2]), tuple(keypoints[b, :2])], fill=OPENPOSE_COLOURS[k % 18], width=2 * thick)
    for k, (x, y, s) in enumerate(keypoints):
        if s >= min_score:
            draw.ellipse([x - thick, y - thick, x + thick, y + thick], fill=OPENPOSE_COLOURS[k])
    return np.asarray(img)


def crop_box(height: int, width: int) -> tuple[int, int, int]:
    """Centre square crop of a frame: (top, left, side)."""
    side = min(height, width)
    return (height - side) // 2, (width - side) // 2, side


def crop_resize(frame: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop to a square and resize (bicubic for images) to size x size."""
    top, left, side = crop_box(*frame.shape[:2])
    crop = frame[top : top + side, left : left + side]
    if side == size:
        return np.ascontiguousarray(crop)
    return np.asarray(Image.fromarray(crop).resize((size, size), Image.BICUBIC))


def crop_resize_keypoints(keypoints: np.ndarray, height: int, width: int, size: int) -> np.ndarray:
    """Map keypoints (..., 3) through the same centre crop and resize as `crop_resize`."""
    top, left, side = crop_box(height, width)
    out = keypoints.copy()
    scale = size / side
    out[..., 0] = (keypoints[..., 0] - left) * scale
    out[..., 1] = (keypoints[..., 1] - top) * scale
    return out


def resize_to(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bicubic resize of an RGB frame to width x height."""
    if frame.shape[1] == width and frame.shape[0] == height:
        return np.ascontiguousarray(frame)
    return np.asarray(Image.fromarray(frame).resize((width, height), Image.BICUBIC))
