"""IDOL's alignment terms: the feature motion field, L_mo, L_xattn and the map-sharing variants of supplement Table 1."""

from __future__ import annotations

import pytest
import torch

from humanvid.models.idol.losses import motion_consistency_loss, motion_field, shared_maps, xattn_consistency_loss


def _moving_square(shift: tuple[int, int], frames: int = 3, size: int = 12) -> torch.Tensor:
    """Features of a 4×4 square moving by `shift` (dx, dy) pixels per frame over a zero background; each texel its own
    channel (orthogonal features: a texel's best match is itself)."""
    texture = torch.eye(16).reshape(16, 4, 4) * 6
    out = torch.zeros(1, frames, 16, size, size)
    for t in range(frames):
        x, y = 3 + shift[0] * t, 3 + shift[1] * t
        out[0, t, :, y : y + 4, x : x + 4] = texture
    return out


def test_the_motion_field_follows_a_translated_texture():
    features = _moving_square((1, 2))
    field = motion_field(features, temperature=1.0)  # sharp enough to pick the matching position
    assert field.shape == (1, 2, 12, 12, 2)
    inside = field[0, 0, 4:6, 4:6]  # positions inside the square in frame 0 (away from its edges)
    torch.testing.assert_close(inside, torch.tensor([1.0, 2.0]).expand_as(inside), rtol=0, atol=1e-3)
    static = motion_field(_moving_square((0, 0)), temperature=1.0)[0, 0, 4:6, 4:6]
    torch.testing.assert_close(static, torch.zeros_like(static), rtol=0, atol=1e-3)
    with pytest.raises(ValueError, match="at least two frames"):
        motion_field(features[:, :1])


def test_l_mo_is_zero_for_the_same_motion_and_positive_for_different_motion():
    video = _moving_square((1, 0))
    depth = video[:, :, torch.randperm(16, generator=torch.Generator().manual_seed(2))]  # other features, the same motion
    assert motion_consistency_loss(video, video) == 0
    assert motion_consistency_loss(video, depth) < 1e-10
    assert motion_consistency_loss(video, _moving_square((0, 1)), temperature=1.0) > 0.1
    # the default temperature is 1/sqrt(channels), the supplement's
    torch.testing.assert_close(motion_field(video), motion_field(video, temperature=1 / 16**0.5))


def test_l_xattn_and_the_map_sharing_variants():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(4, 6, 5, generator=g).softmax(-1)
    b = torch.randn(4, 6, 5, generator=g).softmax(-1)
    assert xattn_consistency_loss(a, a) == 0 and xattn_consistency_loss(a, b) > 0
    torch.testing.assert_close(xattn_consistency_loss(a, b), ((a - b) ** 2).mean())
    assert shared_maps(a, b, "none") == (a, b)
    avg_v, avg_d = shared_maps(a, b, "average")
    assert torch.equal(avg_v, avg_d) and torch.equal(avg_v, (a + b) / 2)
    vid_v, vid_d = shared_maps(a, b, "video")
    assert vid_v is a and vid_d is a
    with pytest.raises(ValueError, match="map sharing 'depth'"):
        shared_maps(a, b, "depth")
