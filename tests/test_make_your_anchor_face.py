"""Make-Your-Anchor's face crop-and-blend geometry (humanvid.models.make_your_anchor.face): FFHQ alignment from 68
landmarks, its round trip, the landmark mask and the paste-back."""

from __future__ import annotations

import math

import pytest
import torch

from humanvid.datasets.synthdance.body import FACE_TEMPLATE
from humanvid.models.make_your_anchor import face


def _landmarks(cx: float, cy: float, radius: float, angle: float) -> torch.Tensor:
    """synthdance's face template (u right in the image for a frontal face, v up) placed at (cx, cy) in pixels,
    `radius` pixels per template unit, turned by `angle` radians."""
    uv = torch.tensor(FACE_TEMPLATE, dtype=torch.float64)
    xy = torch.stack([uv[:, 0], -uv[:, 1]], 1) * radius
    rot = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], dtype=torch.float64)
    return xy @ rot.T + torch.tensor([cx, cy], dtype=torch.float64)


def _blob(size: tuple[int, int], at: torch.Tensor, sigma: float) -> torch.Tensor:
    h, w = size
    v, u = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    return torch.exp(-((u - at[0]) ** 2 + (v - at[1]) ** 2) / (2 * sigma**2))[None, None]


def _centroid(image: torch.Tensor) -> torch.Tensor:
    h, w = image.shape[-2:]
    v, u = torch.meshgrid(torch.arange(h, dtype=image.dtype), torch.arange(w, dtype=image.dtype), indexing="ij")
    m = image[0, 0]
    return torch.stack([(m * u).sum() / m.sum(), (m * v).sum() / m.sum()])


def test_the_aligned_face_does_not_depend_on_where_the_face_was():
    """FFHQ alignment is a similarity: the same face moved, scaled and turned lands on the same crop pixels, eyes level."""
    size = 64
    reference = None
    for cx, cy, radius, angle in ((60, 50, 20, 0.0), (80, 70, 31, 0.4), (40, 90, 12, -0.9)):
        lm = _landmarks(cx, cy, radius, angle)
        matrix = face.crop_to_frame(face.ffhq_quad(lm), size)
        in_crop = face.apply_affine(face.invert_affine(matrix), lm)
        if reference is None:
            reference = in_crop
        torch.testing.assert_close(in_crop, reference, atol=1e-6, rtol=0)
    eye_right, eye_left = reference[36:42].mean(0), reference[42:48].mean(0)
    assert float(eye_right[1]) == pytest.approx(float(eye_left[1]), abs=1e-6) and eye_right[0] < eye_left[0]
    assert 0 < reference[:, 0].min() and reference[:, 0].max() < size and 0 < reference[:, 1].min() and reference[:, 1].max() < size


def test_ffhq_quad_hand_computed_for_a_level_face():
    """A level face: eyes at (±e, 0), mouth corners at (±m, d): x = (2e, 0) scaled to max(2·2e, 1.8·d), centre 0.1·d
    below the eyes; the quad's side is twice that."""
    lm = torch.zeros(68, 2, dtype=torch.float64)
    lm[36:42] = torch.tensor([-10.0, 0.0])
    lm[42:48] = torch.tensor([10.0, 0.0])
    lm[48], lm[54] = torch.tensor([-6.0, 30.0]), torch.tensor([6.0, 30.0])
    quad = face.ffhq_quad(lm)
    half = max(2 * 20.0, 1.8 * 30.0)  # 54
    c = torch.tensor([0.0, 3.0], dtype=torch.float64)
    expected = torch.stack([c + torch.tensor(d, dtype=torch.float64) * half for d in ((-1, -1), (-1, 1), (1, 1), (1, -1))])
    torch.testing.assert_close(quad, expected)


def test_a_landmark_round_trips_through_crop_and_back_within_a_pixel():
    """A bright spot at a landmark, warped into the aligned crop and back into the frame, is found where the alignment
    matrix says (in the crop) and where it started (in the frame), each within a pixel."""
    frame_size, size = (120, 140), 96
    lm = _landmarks(75, 60, 22, 0.35)
    matrix = face.crop_to_frame(face.ffhq_quad(lm), size)
    for index in (30, 36, 48, 8):  # nose tip, an eye corner, a mouth corner, the chin
        frame = _blob(frame_size, lm[index], sigma=2.0)
        crop = face.warp(frame, matrix, (size, size))
        expected_in_crop = face.apply_affine(face.invert_affine(matrix), lm[index : index + 1])[0]
        assert (_centroid(crop) - expected_in_crop).norm() < 1.0
        back = face.warp(crop, face.invert_affine(matrix), frame_size)
        assert (_centroid(back) - lm[index]).norm() < 1.0


def test_the_landmark_mask_covers_the_face_and_not_the_corners():
    size = 64
    lm = _landmarks(60, 50, 20, 0.2)
    matrix = face.crop_to_frame(face.ffhq_quad(lm), size)
    in_crop = face.apply_affine(face.invert_affine(matrix), lm)
    mask = face.landmark_mask(in_crop, size)
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    for x, y in in_crop[:27].round().long().tolist():  # the hull's own points (margin 0.1 keeps them inside)
        assert mask[y, x] == 1
    for x, y in in_crop[36:68].round().long().tolist():  # eyes, mouth
        assert mask[y, x] == 1
    assert mask[0, 0] == 0 and mask[0, -1] == 0 and mask[-1, 0] == 0 and mask[-1, -1] == 0


def test_blending_leaves_every_pixel_outside_the_mask_unchanged():
    torch.manual_seed(0)
    frame_size, size = (96, 112), 64
    lm = _landmarks(56, 44, 16, -0.3)
    matrix = face.crop_to_frame(face.ffhq_quad(lm), size)
    mask = face.landmark_mask(face.apply_affine(face.invert_affine(matrix), lm), size)[None, None]
    frame = torch.rand(1, 3, *frame_size, dtype=torch.float64)
    crop = torch.rand(1, 3, size, size, dtype=torch.float64)
    out = face.blend(frame, crop, mask, matrix[None])
    reach = face.warp(mask, face.invert_affine(matrix), frame_size)[0, 0] > 0
    assert reach.any() and (~reach).any()
    assert torch.equal(out[..., ~reach], frame[..., ~reach])
    inside = face.warp(mask, face.invert_affine(matrix), frame_size)[0, 0] >= 1 - 1e-9
    pasted = face.warp(crop, face.invert_affine(matrix), frame_size)
    torch.testing.assert_close(out[..., inside], pasted[..., inside])
    assert not torch.allclose(out[..., inside], frame[..., inside])


def test_malformed_landmarks_are_refused_by_shape():
    with pytest.raises(ValueError, match=r"\(\.\.\., 68, 2\).*\(17, 2\)"):
        face.ffhq_quad(torch.zeros(17, 2))
    with pytest.raises(ValueError, match="crop size"):
        face.crop_to_frame(torch.zeros(4, 2), 0)


def test_a_quad_on_an_image_s_pixel_edges_crops_the_image_itself():
    """Pixel-area convention: the quad along the edges of an s × s image (index coordinates −0.5 … s − 0.5) maps crop
    pixel (u, v) to frame pixel (u, v); half of it (twice the pixels) maps pixel centres half a source pixel in."""
    s = 8
    edges = torch.tensor([[-0.5, -0.5], [-0.5, s - 0.5], [s - 0.5, s - 0.5], [s - 0.5, -0.5]], dtype=torch.float64)
    torch.testing.assert_close(face.crop_to_frame(edges, s), torch.tensor([[1.0, 0, 0], [0, 1.0, 0]], dtype=torch.float64))
    image = torch.rand(1, 2, s, s, dtype=torch.float64)
    torch.testing.assert_close(face.warp(image, face.crop_to_frame(edges, s), (s, s)), image)
    upsampled = face.crop_to_frame(edges, 2 * s)
    torch.testing.assert_close(face.apply_affine(upsampled, torch.tensor([[0.0, 0.0]], dtype=torch.float64)), torch.tensor([[-0.25, -0.25]], dtype=torch.float64))
