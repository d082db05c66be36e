"""Ray-cast the ellipsoid body into RGB, metric depth, alpha, DensePose-style IUV and keypoint visibility."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from humanvid.datasets.synthdance.body import KEYPOINT_PARTS, Pose

# DensePose's 24 fine parts (1-based; 0 is background). Front/back is taken from the body's facing side.
DENSEPOSE_PARTS = {
    ("torso", "back"): 1, ("torso", "front"): 2,
    ("hand_right", None): 3, ("hand_left", None): 4, ("foot_left", None): 5, ("foot_right", None): 6,
    ("upper_leg_right", "back"): 7, ("upper_leg_left", "back"): 8,
    ("upper_leg_right", "front"): 9, ("upper_leg_left", "front"): 10,
    ("lower_leg_right", "back"): 11, ("lower_leg_left", "back"): 12,
    ("lower_leg_right", "front"): 13, ("lower_leg_left", "front"): 14,
    ("upper_arm_left", "back"): 15, ("upper_arm_right", "back"): 16,
    ("upper_arm_left", "front"): 17, ("upper_arm_right", "front"): 18,
    ("lower_arm_left", "back"): 19, ("lower_arm_right", "back"): 20,
    ("lower_arm_left", "front"): 21, ("lower_arm_right", "front"): 22,
    ("head", "right"): 23, ("head", "left"): 24,
}  # fmt: skip
PART_NAMES = sorted({p for p, _ in DENSEPOSE_PARTS})


@dataclass(frozen=True)
class Camera:
    """Pinhole camera at the origin looking down +Z (image y grows downwards)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def for_size(cls, width: int, height: int, fov_scale: float = 1.3) -> "Camera":
        f = fov_scale * height
        return cls(f, f, width / 2, height / 2, width, height)

    @property
    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1.0]])

    def project(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) camera coordinates -> (..., 2) pixel coordinates (pixel centres at +0.5)."""
        x = self.fx * points[..., 0] / points[..., 2] + self.cx
        y = -self.fy * points[..., 1] / points[..., 2] + self.cy
        return np.stack([x, y], axis=-1)

    def rays(self) -> np.ndarray:
        """(H*W, 3) ray directions with z = 1, so a hit at parameter t has depth Z = t."""
        ys, xs = np.mgrid[0 : self.height, 0 : self.width].astype(np.float64) + 0.5
        d = np.stack([(xs - self.cx) / self.fx, -(ys - self.cy) / self.fy, np.ones_like(xs)], axis=-1)
        return d.reshape(-1, 3)


@dataclass(frozen=True)
class Appearance:
    """One identity's look: a colour per part group, a texture frequency, skin."""

    skin: np.ndarray
    shirt: np.ndarray
    sleeve: np.ndarray
    pants: np.ndarray
    shoes: np.ndarray
    hair: np.ndarray
    stripes: float  # texture frequency on the shirt
    checks: float  # texture frequency on the trousers

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "Appearance":
        skin = np.array([0.55, 0.4, 0.3]) * rng.uniform(0.6, 1.5) + rng.uniform(-0.04, 0.04, 3)
        colour = lambda: rng.uniform(0.05, 0.95, 3)  # noqa: E731
        return cls(np.clip(skin, 0, 1), colour(), colour(), colour(), colour() * 0.5, colour() * 0.4,
                   float(rng.uniform(2, 8)), float(rng.uniform(2, 6)))  # fmt: skip

    def colour(self, part: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """(N,) part-local U, V -> (N, 3) albedo."""
        n = len(u)
        if part == "torso":
            base = np.where((np.sin(u * np.pi * 2 * self.stripes) > 0)[:, None], self.shirt, self.shirt * 0.6)
        elif part.startswith("upper_arm"):
            base = np.broadcast_to(self.sleeve, (n, 3))
        elif part.startswith(("lower_arm", "hand")):
            base = np.broadcast_to(self.skin, (n, 3))
        elif part.startswith(("upper_leg", "lower_leg")):
            check = (np.sin(u * np.pi * 2 * self.checks) * np.sin(v * np.pi * 2 * self.checks) > 0)[:, None]
            base = np.where(check, self.pants, self.pants * 0.75)
        elif part.startswith("foot"):
            base = np.broadcast_to(self.shoes, (n, 3))
        else:  # head: hair on the top and back, skin on the face
            base = np.where((u > 0.7)[:, None] | (v < 0.25)[:, None] | (v > 0.75)[:, None], self.hair, self.skin)
        return np.asarray(base, dtype=np.float64)


def background_image(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A static room: vertical gradient wall, a floor, a few coloured blocks. float (H, W, 3) in [0, 1]."""
    top, bottom, floor = rng.uniform(0.2, 0.9, 3), rng.uniform(0.1, 0.8, 3), rng.uniform(0.1, 0.6, 3)
    ys = np.linspace(0, 1, height)[:, None, None]
    img = np.broadcast_to(top * (1 - ys) + bottom * ys, (height, width, 3)).copy()
    horizon = int(height * rng.uniform(0.72, 0.82))
    img[horizon:] = floor
    for _ in range(rng.integers(2, 5)):
        x0, y0 = rng.integers(0, width), rng.integers(0, horizon)
        w, h = rng.integers(width // 10, width // 3), rng.integers(height // 10, height // 3)
        img[y0 : min(y0 + h, horizon), x0 : x0 + w] = rng.uniform(0, 1, 3)
    return img


@dataclass(frozen=True)
class Frame:
    """Everything rendered for one frame."""

    rgb: np.ndarray  # uint8 (H, W, 3)
    depth: np.ndarray  # float32 (H, W): metres along Z on the person, 0 elsewhere
    alpha: np.ndarray  # uint8 (H, W): 255 on the person, 0 elsewhere
    iuv: np.ndarray  # uint8 (H, W, 3): DensePose part index I (0-24), U and V scaled to 0-255
    normals: np.ndarray  # uint8 (H, W, 3): the body's surface normals as a normal map (`normal_map`), 0 elsewhere
    keypoints: np.ndarray  # float32 (133, 3): x, y (pixels), visibility (0 or 1)
    joints3d: np.ndarray  # float32 (133, 3): camera coordinates in metres


def normal_map(normals: np.ndarray) -> np.ndarray:
    """Unit normals (N, 3) in camera coordinates (x right, y up, +Z into the scene) -> uint8 RGB in the usual
    normal-map encoding (x right, y up, z towards the viewer), what `humanvid.body.render.render_normals` draws for
    an SMPL-X mesh: a surface facing the camera is (128, 128, 255)."""
    towards_viewer = normals * np.array([1.0, 1.0, -1.0])
    return np.clip(np.round((towards_viewer + 1) * 127.5), 0, 255).astype(np.uint8)


LIGHT = np.array([-0.4, 0.6, -0.7]) / np.linalg.norm([-0.4, 0.6, -0.7])


def render(pose: Pose, appearance: Appearance, camera: Camera, background: np.ndarray, rays: np.ndarray | None = None) -> Frame:
    """Ray-cast every ellipsoid; the nearest hit per pixel wins."""
    rays = camera.rays() if rays is None else rays
    n = len(rays)
    best_t = np.full(n, np.inf)
    best_part = np.full(n, -1)
    local_hit = np.zeros((n, 3))
    for k, seg in enumerate(pose.segments):
        # Into the ellipsoid's unit-sphere frame: p' = R^T (p - c) / r.
        o = (seg.frame.T @ (-seg.center)) / seg.radii
        d = (rays @ seg.frame) / seg.radii
        a = np.einsum("ij,ij->i", d, d)
        b = 2 * d @ o
        c = o @ o - 1
        disc = b * b - 4 * a * c
        hit = disc > 0
        t = np.full(n, np.inf)
        t[hit] = (-b[hit] - np.sqrt(disc[hit])) / (2 * a[hit])
        closer = hit & (t > 0) & (t < best_t)
        best_t[closer] = t[closer]
        best_part[closer] = k
        local_hit[closer] = o + t[closer, None] * d[closer]

    fg = best_part >= 0
    h, w = camera.height, camera.width
    depth = np.where(fg, best_t, 0.0)
    rgb = background.reshape(-1, 3).copy()
    iuv = np.zeros((n, 3), dtype=np.uint8)
    normals = np.zeros((n, 3), dtype=np.uint8)
    for k, seg in enumerate(pose.segments):
        sel = best_part == k
        if not sel.any():
            continue
        p = local_hit[sel]
        u = (np.clip(p[:, 1], -1, 1) + 1) / 2  # along the part
        v = (np.arctan2(p[:, 2], p[:, 0]) + np.pi) / (2 * np.pi)  # around it
        normal = (p / seg.radii) @ seg.frame.T
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)
        normals[sel] = normal_map(normal)
        shade = 0.35 + 0.65 * np.clip(normal @ LIGHT, 0, 1)
        rgb[sel] = appearance.colour(seg.part, u, v) * shade[:, None]
        # Part index: one DensePose label per side of the part (left/right for the head, front/back else).
        sides, first = (("left", "right"), p[:, 0] > 0) if seg.part == "head" else (("front", "back"), p[:, 2] < 0)
        labels = [DENSEPOSE_PARTS.get((seg.part, s), DENSEPOSE_PARTS.get((seg.part, None), 0)) for s in sides]
        iuv[sel, 0] = np.where(first, labels[0], labels[1])
        iuv[sel, 1] = np.round(u * 255).astype(np.uint8)
        iuv[sel, 2] = np.round(v * 255).astype(np.uint8)

    # Keypoints: project; visible if inside the frame and not hidden by another body part. A joint
    # centre lies inside its own limb, so its own parts' surfaces never hide it.
    pts = pose.keypoints3d
    xy = camera.project(pts)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h) & (pts[:, 2] > 0)
    depth_img = depth.reshape(h, w)
    part_img = best_part.reshape(h, w)
    vis = np.zeros(len(pts))
    for i in np.flatnonzero(inside):
        py, px = int(xy[i, 1]), int(xy[i, 0])
        surface, k = depth_img[py, px], part_img[py, px]
        own = k >= 0 and pose.segments[k].part in KEYPOINT_PARTS[i]
        vis[i] = float(surface == 0 or own or pts[i, 2] <= surface + 0.02)
    keypoints = np.concatenate([xy, vis[:, None]], axis=1).astype(np.float32)

    return Frame(
        rgb=np.clip(np.round(rgb.reshape(h, w, 3) * 255), 0, 255).astype(np.uint8),
        depth=depth.reshape(h, w).astype(np.float32),
        alpha=(fg.reshape(h, w) * 255).astype(np.uint8),
        iuv=iuv.reshape(h, w, 3),
        normals=normals.reshape(h, w, 3),
        keypoints=keypoints,
        joints3d=pts.astype(np.float32),
    )
