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


def crop_resize_plane(plane: np.ndarray, size: int) -> np.ndarray:
    """The same centre crop for a condition map (depth, mask, IUV), resized nearest-neighbour so no value
    is blended across a silhouette or part boundary."""
    top, left, side = crop_box(*plane.shape[:2])
    crop = plane[top : top + side, left : left + side]
    if side == size:
        return np.ascontiguousarray(crop)
    import cv2

    return cv2.resize(np.ascontiguousarray(crop), (size, size), interpolation=cv2.INTER_NEAREST)


def crop_resize_keypoints(keypoints: np.ndarray, height: int, width: int, size: int) -> np.ndarray:
    """Map keypoints (..., 3) through the same centre crop and resize as `crop_resize`."""
    top, left, side = crop_box(height, width)
    out = keypoints.copy()
    scale = size / side
    out[..., 0] = (keypoints[..., 0] - left) * scale
    out[..., 1] = (keypoints[..., 1] - top) * scale
    return out


def crop_resize_camera(vectors: np.ndarray, height: int, width: int, size: int) -> np.ndarray:
    """SMPL-X vectors (..., 119: `humanvid.body.params.LAYOUT`) whose camera is in frame pixels -> the same bodies seen
    through `crop_resize`'s crop: focal length and principal point scaled, the point shifted by the crop's corner, so
    every vertex projects where `crop_resize_keypoints` maps its frame-pixel projection."""
    from humanvid.body.params import CAMERA_COLUMNS

    top, left, side = crop_box(height, width)
    scale = size / side
    focal, cx, cy = CAMERA_COLUMNS
    out = np.array(vectors, np.float32, copy=True)
    out[..., focal] *= scale
    out[..., cx] = (out[..., cx] - left) * scale
    out[..., cy] = (out[..., cy] - top) * scale
    return out


def resize_to(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bicubic resize of an RGB frame to width x height."""
    if frame.shape[1] == width and frame.shape[0] == height:
        return np.ascontiguousarray(frame)
    return np.asarray(Image.fromarray(frame).resize((width, height), Image.BICUBIC))


# The 20 bones of a 21-point hand: wrist to each finger base, then along each finger.
HAND_EDGES = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10), (10, 11), (11, 12),
              (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20)]  # fmt: skip


def _hand_colour(i: int) -> tuple[int, int, int]:
    import colorsys

    r, g, b = colorsys.hsv_to_rgb(i / len(HAND_EDGES), 1.0, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def render_wholebody(keypoints: np.ndarray, height: int, width: int, min_score: float = 0.3) -> np.ndarray:
    """(133, 3) COCO-WholeBody x, y, score -> uint8 (H, W, 3): the DWPose-style condition image — the
    OpenPose-18 body, both hands (bones in a hue wheel, joints red) and the face landmarks (white)."""
    from humanvid.keypoints import FACE_START, LHAND_START, RHAND_START, openpose18_from_wholebody

    img = Image.fromarray(render_openpose18(openpose18_from_wholebody(keypoints), height, width, min_score))
    draw = ImageDraw.Draw(img)
    thick = max(1, round(min(height, width) / 128))
    for start in (LHAND_START, RHAND_START):
        hand = keypoints[start : start + 21]
        for k, (a, b) in enumerate(HAND_EDGES):
            if hand[a, 2] >= min_score and hand[b, 2] >= min_score:
                draw.line([tuple(hand[a, :2]), tuple(hand[b, :2])], fill=_hand_colour(k), width=thick)
        for x, y, s in hand:
            if s >= min_score:
                draw.ellipse([x - thick, y - thick, x + thick, y + thick], fill=(255, 0, 0))
    for x, y, s in keypoints[FACE_START:LHAND_START]:
        if s >= min_score:
            draw.point((x, y), fill=(255, 255, 255))
    return np.asarray(img)


DENSEPOSE_PARTS = 24  # DensePose's body parts; I = 0 is background


def viridis_lut() -> np.ndarray:
    """(256, 3) RGB: OpenCV's viridis, the colour map DensePose's visualiser uses."""
    import cv2

    return cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], cv2.COLORMAP_VIRIDIS)[:, 0, ::-1].copy()


def densepose_condition(iuv: np.ndarray) -> np.ndarray:
    """IUV (..., H, W, 3) -> MagicAnimate's condition image (..., H, W, 3) RGB: viridis(I * 255 / 24)."""
    scaled = np.round(iuv[..., 0].astype(np.float32) * (255.0 / DENSEPOSE_PARTS)).astype(np.uint8)
    return viridis_lut()[scaled]
