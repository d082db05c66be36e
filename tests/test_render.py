"""The mesh renderer: exact depth and coverage on analytic triangles, occlusion, and a golden normal map.
Regenerate the golden image with HUMANVID_UPDATE_GOLDEN=1 after an intended change, and look at it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from humanvid.body.render import rasterize, render_normals

GOLDEN = Path(__file__).parent / "golden"


def _inside(px, py, tri):
    """Independent point-in-triangle (same-sign edge functions) on pixel centres."""
    (ax, ay), (bx, by), (cx, cy) = tri
    d = [(px - x1) * (y2 - y1) - (py - y1) * (x2 - x1) for (x1, y1), (x2, y2) in (((ax, ay), (bx, by)), ((bx, by), (cx, cy)), ((cx, cy), (ax, ay)))]
    return (np.stack(d) >= 0).all(0) | (np.stack(d) <= 0).all(0)


def test_a_triangle_facing_the_camera_covers_exactly_its_pixels_at_its_depth():
    z, f, size = 2.0, 50.0, 40
    verts = torch.tensor([[-0.5, -0.4, z], [0.6, -0.1, z], [-0.1, 0.55, z]], dtype=torch.float64)
    faces = torch.tensor([[0, 1, 2]])
    out = render_normals(verts, faces, f, size, size)
    projected = verts[:, :2].numpy() / z * f + size / 2
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    expected = _inside(xs, ys, projected)
    assert expected.sum() > 100 and np.array_equal(out["mask"], expected)
    assert np.allclose(out["depth"][expected], z, atol=1e-6) and (out["depth"][~expected] == 0).all()
    assert (out["normals"][expected] == [128, 128, 255]).all()  # facing the viewer, whatever the winding
    assert (out["normals"][~expected] == 0).all()


def test_the_nearer_triangle_wins_and_barycentrics_are_perspective_correct():
    far = [[-1, -1, 4.0], [1, -1, 4.0], [0, 1, 4.0]]
    near = [[-0.2, -0.2, 2.0], [0.2, -0.2, 2.0], [0, 0.2, 2.0]]
    slanted = [[-1, 1, 2.0], [1, 1, 2.0], [0, 1.5, 6.0]]  # depth varies across it
    verts = torch.tensor(far + near + slanted, dtype=torch.float64)
    face, bary, depth = rasterize(verts, torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8]]), 40.0, 64, 64)
    assert face[32, 32] == 1 and abs(depth[32, 32] - 2.0) < 1e-9  # the near triangle hides the far one
    assert face[25, 32] == 0 and abs(depth[25, 32] - 4.0) < 1e-9  # the far one shows where the near one is not
    assert (face == 2).sum() > 50
    rows = torch.nonzero(face == 2)
    for y, x in rows[:: max(1, len(rows) // 20)].tolist():  # interpolated depth = 1 / (Σ w_i / z_i): the true plane depth
        w, d = bary[y, x], depth[y, x]
        point = (w[:, None] * verts[6:9]).sum(0)
        assert abs(point[2] - d) < 1e-9
        assert abs(point[0] / point[2] * 40 + 32 - (x + 0.5)) < 1e-6 and abs(point[1] / point[2] * 40 + 32 - (y + 0.5)) < 1e-6


def test_sphere_normal_map_golden():
    n, m = 24, 12
    th, ph = torch.linspace(0, np.pi, m + 1, dtype=torch.float64), torch.linspace(0, 2 * np.pi, n + 1, dtype=torch.float64)[:-1]
    v = torch.stack([torch.sin(th)[:, None] * torch.cos(ph)[None], torch.cos(th)[:, None].expand(-1, n),
                     torch.sin(th)[:, None] * torch.sin(ph)[None]], -1).reshape(-1, 3) + torch.tensor([0.3, -0.2, 4.0], dtype=torch.float64)  # fmt: skip
    faces = [[i * n + j, (i + 1) * n + j, i * n + (j + 1) % n] for i in range(m) for j in range(n)]
    faces += [[i * n + (j + 1) % n, (i + 1) * n + j, (i + 1) * n + (j + 1) % n] for i in range(m) for j in range(n)]
    out = render_normals(v, torch.tensor(faces), 100.0, 64, 80)
    img = np.concatenate([out["normals"], np.repeat((out["depth"] * 50).clip(0, 255).astype(np.uint8)[..., None], 3, -1)], 1)
    path = GOLDEN / "mesh_normals.png"
    if os.environ.get("HUMANVID_UPDATE_GOLDEN") == "1":
        Image.fromarray(img).save(path)
    golden = np.asarray(Image.open(path).convert("RGB"))
    assert golden.shape == img.shape
    differ = np.abs(golden.astype(int) - img).max(-1) > 1  # float rounding may move a channel by one level
    assert differ.mean() < 0.002, f"{differ.sum()} pixels differ from {path}"
    centre = out["normals"][32 - 8, 40 + 6]  # the sphere's centre projects near (48, 24): facing the camera
    assert centre[2] > 240
