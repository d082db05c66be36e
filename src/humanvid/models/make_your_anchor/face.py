"""Make-Your-Anchor's face crop-and-blend (paper Sec. 3.3, 4.1): the geometry around the Face SGDM.

The paper aligns and crops faces "by the FFHQ preprocess method" at 256 × 256 and inpaints the region a facial
mask covers; the release (`face_alignment.py`, `get_mask.py`, `face_blending.py`) crops with insightface,
masks with BiSeNet and pastes back with the alignment matrices. Here, from 68 iBUG face landmarks (COCO-WholeBody
points 23–90, as the `wholebody133` condition holds them):

- `ffhq_quad`: FFHQ's oriented square (Karras et al.'s `recreate_aligned_images`): from the eye centres and the
  mouth corners, a square of side max(2 × eye distance, 1.8 × eye-to-mouth distance) × 2, centred 0.1 eye-to-mouth
  below the eyes, turned with the eyes;
- `crop_to_frame`: the affine map from crop pixels to frame pixels that sends the crop's square onto that quad;
- `warp`: resampling through such a map (bilinear, zeros outside the source), used both ways: frame → crop
  (alignment) and crop → frame (the inverse, for pasting back);
- `landmark_mask`: the convex hull of the jaw line and the brows (points 0–26) raised by a margin, rasterised in
  the crop — a mask that needs no weights (the release's BiSeNet is the alternative);
- `blend`: the enhanced crop pasted into the frame where the warped-back mask is; every pixel the mask does not
  reach keeps the frame's value bit for bit.

Coordinates are pixel indices (x right, y down; pixel i's centre at i), as keypoints are stored. Pure tensor
functions; device and dtype follow the inputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

FACE_POINTS = 68
JAW_AND_BROWS = slice(0, 27)
"""iBUG points 0–16 (jaw line) and 17–26 (brows): their hull covers the face from brow to chin."""


def _check_landmarks(landmarks: torch.Tensor, what: str = "face landmarks") -> None:
    if landmarks.shape[-2:] != (FACE_POINTS, 2):
        raise ValueError(f"{what}: expected (..., {FACE_POINTS}, 2) x/y pixel coordinates, got {tuple(landmarks.shape)}")


def ffhq_quad(landmarks: torch.Tensor) -> torch.Tensor:
    """FFHQ's crop quad from 68 landmarks (…, 68, 2) -> (…, 4, 2) corners in frame pixels: top-left, bottom-left,
    bottom-right, top-right of the aligned face (top-left = centre − x − y, x along the eyes, y down the face)."""
    _check_landmarks(landmarks)
    lm = landmarks if landmarks.is_floating_point() else landmarks.float()
    eye_left, eye_right = lm[..., 36:42, :].mean(-2), lm[..., 42:48, :].mean(-2)
    eye_avg = (eye_left + eye_right) / 2
    eye_to_eye = eye_right - eye_left
    mouth_avg = (lm[..., 48, :] + lm[..., 54, :]) / 2
    eye_to_mouth = mouth_avg - eye_avg
    # x: the eye direction, tilted by the eye-to-mouth direction turned a quarter (flipud(v) * [-1, 1] = (-v_y, v_x)).
    turned = torch.stack([-eye_to_mouth[..., 1], eye_to_mouth[..., 0]], -1)
    x = eye_to_eye - turned
    x = x / x.norm(dim=-1, keepdim=True)
    half = torch.maximum(eye_to_eye.norm(dim=-1) * 2.0, eye_to_mouth.norm(dim=-1) * 1.8)[..., None]
    x = x * half
    y = torch.stack([-x[..., 1], x[..., 0]], -1)
    c = eye_avg + eye_to_mouth * 0.1
    return torch.stack([c - x - y, c - x + y, c + x + y, c + x - y], -2)


def crop_to_frame(quad: torch.Tensor, size: int) -> torch.Tensor:
    """(…, 4, 2) quad -> (…, 2, 3) affine matrix A with frame_xy = A @ [u, v, 1] for crop pixel (u, v) of a
    `size` × `size` crop. Pixel-area convention (as PIL's QUAD transform FFHQ uses): the crop's square [0, size]²
    of pixel edges goes onto the quad's edges, so pixel centres sit half a pixel inside on both sides."""
    if size < 1:
        raise ValueError(f"crop size must be positive, got {size}")
    top_left, bottom_left, top_right = quad[..., 0, :], quad[..., 1, :], quad[..., 3, :]
    du = (top_right - top_left) / size  # frame displacement per crop pixel along u
    dv = (bottom_left - top_left) / size
    # FFHQ hands PIL quad + 0.5 (PIL's pixel centres sit at +0.5) and PIL sends the crop's edge point (s, t) to
    # quad_TL + 0.5 + s du + t dv; crop pixel (u, v) is edge point (u + 0.5, v + 0.5), and −0.5 returns to indices.
    offset = top_left + 0.5 * (du + dv)
    return torch.stack(
        [torch.stack([du[..., 0], dv[..., 0], offset[..., 0]], -1), torch.stack([du[..., 1], dv[..., 1], offset[..., 1]], -1)], -2
    )


def invert_affine(matrix: torch.Tensor) -> torch.Tensor:
    """(…, 2, 3) -> its inverse (…, 2, 3)."""
    linear, shift = matrix[..., :2], matrix[..., 2:]
    inv = torch.linalg.inv(linear)
    return torch.cat([inv, -inv @ shift], -1)


def apply_affine(matrix: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """(…, 2, 3) matrix on (…, P, 2) points."""
    return points @ matrix[..., :2].transpose(-1, -2) + matrix[..., None, :, 2]


def warp(image: torch.Tensor, out_to_in: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
    """Resample `image` (N, C, H, W) at out_to_in @ [u, v, 1] for every output pixel (u, v) -> (N, C, h, w),
    bilinear, zeros where the point falls outside the image. `out_to_in`: (N, 2, 3) or (2, 3)."""
    if image.ndim != 4:
        raise ValueError(f"warp expects (N, C, H, W) images, got {tuple(image.shape)}")
    n, _, height, width = image.shape
    h, w = out_size
    matrix = out_to_in.to(image.dtype).expand(n, 2, 3)
    v, u = torch.meshgrid(torch.arange(h, dtype=image.dtype, device=image.device), torch.arange(w, dtype=image.dtype, device=image.device),
                          indexing="ij")  # fmt: skip
    pixels = torch.stack([u.flatten(), v.flatten()], -1)  # (h·w, 2)
    source = apply_affine(matrix, pixels.expand(n, -1, -1))  # (N, h·w, 2) in input pixel indices
    size = torch.tensor([width, height], dtype=image.dtype, device=image.device)
    grid = ((source + 0.5) / size * 2 - 1).reshape(n, h, w, 2)  # align_corners=False: edges at ±1
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _convex_hull(points: torch.Tensor) -> torch.Tensor:
    """Andrew's monotone chain on (P, 2) points -> the hull's vertices, counter-clockwise in (x, y)."""
    pts = sorted({(float(x), float(y)) for x, y in points.tolist()})
    if len(pts) < 3:
        raise ValueError("a face mask needs at least three distinct landmarks")

    def cross(o, a, b) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    def half(seq):
        chain: list[tuple[float, float]] = []
        for p in seq:
            while len(chain) >= 2 and cross(chain[-2], chain[-1], p) <= 0:
                chain.pop()
            chain.append(p)
        return chain[:-1]

    return torch.tensor(half(pts) + half(pts[::-1]), dtype=points.dtype)


def landmark_mask(landmarks: torch.Tensor, size: int, margin: float = 0.1) -> torch.Tensor:
    """A (size, size) float {0, 1} mask of the face in crop pixels: the hull of the jaw and brow landmarks (68, 2,
    crop coordinates), scaled about its centroid by 1 + `margin` (the brows sit below the forehead)."""
    _check_landmarks(landmarks)
    hull = _convex_hull(landmarks[JAW_AND_BROWS].double().cpu())
    hull = hull.mean(0) + (hull - hull.mean(0)) * (1 + margin)
    v, u = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij")
    inside = torch.ones(size, size, dtype=torch.bool)
    for a, b in zip(hull, hull.roll(-1, 0), strict=True):  # left of every counter-clockwise edge (x right, y down)
        inside &= (b[0] - a[0]) * (v - a[1]) - (b[1] - a[1]) * (u - a[0]) >= 0
    return inside.float().to(landmarks.device)


def blend(frame: torch.Tensor, crop: torch.Tensor, mask: torch.Tensor, crop_to_frame_matrix: torch.Tensor) -> torch.Tensor:
    """Paste `crop` (N, C, s, s) into `frame` (N, C, H, W) through its alignment (N, 2, 3) where the crop's `mask`
    (N, 1, s, s) in [0, 1] lands: frame × (1 − m) + crop × m with m the mask warped back (bilinear, so its edge is
    soft). A pixel the warped mask does not reach (m = 0) keeps its value exactly."""
    if frame.ndim != 4 or crop.ndim != 4 or mask.ndim != 4:
        raise ValueError("blend expects (N, C, H, W) frame, crop and mask")
    size = frame.shape[-2:]
    frame_to_crop = invert_affine(crop_to_frame_matrix)
    pasted = warp(crop, frame_to_crop, size)
    m = warp(mask.to(frame.dtype), frame_to_crop, size).clamp(0, 1)
    return torch.where(m > 0, frame * (1 - m) + pasted * m, frame)
