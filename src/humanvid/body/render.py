"""Rendering mesh conditions headless, in plain torch on the device given (CPU here, CUDA when present).

A z-buffer rasteriser for a perspective camera at the origin (x right, y down, z forward; focal length
and principal point in pixels): every triangle tests the pixel centres of its bounding box (in passes of
growing box size, so a few large triangles do not make every triangle test a large box), keeps the
nearest depth per pixel (`scatter_reduce` amin), then interpolates the winner's vertex attributes with
perspective-correct barycentrics. Outputs: the camera-frame normal map as RGB ((n + 1) / 2, the shaded-
normal condition), the depth (metres, 0 = background) and the coverage mask.
"""

from __future__ import annotations

import numpy as np
import torch


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals (V, 3)."""
    v0, v1, v2 = (vertices[faces[:, i]] for i in range(3))
    face_n = torch.cross(v1 - v0, v2 - v0, dim=-1)  # length = 2 × area
    normals = torch.zeros_like(vertices).index_add_(0, faces.flatten(), face_n.repeat_interleave(3, dim=0))
    return torch.nn.functional.normalize(normals, dim=-1)


def _edge(ax, ay, bx, by, px, py):
    return (px - ax) * (by - ay) - (py - ay) * (bx - ax)


def rasterize(vertices: torch.Tensor, faces: torch.Tensor, focal: float, height: int, width: int,
              center: tuple[float, float] | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """-> (face index per pixel (H, W) long, -1 = none; perspective-correct barycentrics (H, W, 3); depth (H, W))."""
    device, dtype = vertices.device, vertices.dtype
    cx, cy = center if center is not None else (width / 2.0, height / 2.0)
    z = vertices[:, 2]
    xy = vertices[:, :2] / z.clamp_min(1e-6)[:, None] * focal + torch.tensor([cx, cy], device=device, dtype=dtype)
    tri_ids = torch.nonzero((z[faces] > 1e-6).all(1)).flatten()  # triangles in front of the camera
    tri = faces[tri_ids]
    p = xy[tri]  # (F, 3, 2)
    lo = torch.floor(p.amin(1) - 0.5).clamp_min(0).long()  # pixel centres at integer + 0.5
    hi = torch.ceil(p.amax(1) - 0.5).long()
    hi = torch.minimum(hi, torch.tensor([width - 1, height - 1], device=device))
    size = (hi - lo + 1).clamp_min(0).amax(1)  # box side per triangle
    zbuf = torch.full((height * width,), float("inf"), device=device, dtype=dtype)
    hits = []
    box = 4
    remaining = torch.ones(len(tri), dtype=torch.bool, device=device)
    while bool(remaining.any()):
        sel = remaining & (size <= box)
        remaining &= ~sel
        if bool(sel.any()):
            ids = torch.nonzero(sel).flatten()
            for chunk in ids.split(max(1, 2_000_000 // (box * box))):
                hits.append(_candidates(chunk, p[chunk], z[tri[chunk]], lo[chunk], box, width, height, zbuf))
        box *= 2
    face = torch.full((height * width,), -1, dtype=torch.long, device=device)
    bary = torch.zeros(height * width, 3, device=device, dtype=dtype)
    for ids, pix, w, depth in hits:
        win = depth == zbuf[pix]  # the nearest triangle at each pixel (ties: any of them)
        face[pix[win]] = tri_ids[ids[win]]
        bary[pix[win]] = w[win]
    depth_img = torch.where(torch.isfinite(zbuf), zbuf, torch.zeros_like(zbuf))
    return face.view(height, width), bary.view(height, width, 3), depth_img.view(height, width)


def _candidates(ids, p, zv, lo, box, width, height, zbuf):
    """Test each triangle's box × box pixel centres; update the z-buffer; return the inside candidates."""
    device, dtype = p.device, p.dtype
    offs = torch.arange(box, device=device)
    gx = lo[:, 0:1, None] + offs[None, None, :]  # (C, 1, box)
    gy = lo[:, 1:2, None] + offs[None, :, None]  # (C, box, 1)
    gx, gy = gx.expand(-1, box, box), gy.expand(-1, box, box)
    px, py = gx.to(dtype) + 0.5, gy.to(dtype) + 0.5
    a, b, c = (p[:, i, :, None, None] for i in range(3))  # (C, 2, 1, 1)
    area = _edge(a[:, 0], a[:, 1], b[:, 0], b[:, 1], c[:, 0], c[:, 1])  # (C, 1, 1)
    w0 = _edge(b[:, 0], b[:, 1], c[:, 0], c[:, 1], px, py) / area
    w1 = _edge(c[:, 0], c[:, 1], a[:, 0], a[:, 1], px, py) / area
    w2 = 1 - w0 - w1
    inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0) & (gx < width) & (gy < height) & (area.abs() > 1e-12)
    # Perspective-correct barycentrics: screen weights divided by depth, renormalised.
    inv = torch.stack([w0 / zv[:, 0, None, None], w1 / zv[:, 1, None, None], w2 / zv[:, 2, None, None]], -1)
    depth = 1.0 / inv.sum(-1)
    weights = inv * depth[..., None]
    pix = (gy * width + gx)[inside]
    depth = depth[inside]
    zbuf.scatter_reduce_(0, pix, depth, reduce="amin")
    owner = ids[:, None, None].expand(-1, box, box)[inside]
    return owner, pix, weights[inside], depth


def render_normals(vertices: torch.Tensor, faces: torch.Tensor, focal: float, height: int, width: int,
                   center: tuple[float, float] | None = None) -> dict[str, np.ndarray]:  # fmt: skip
    """Shaded-normal condition image: camera-frame normals as RGB uint8 (H, W, 3) (background black), the
    depth (H, W) float32 in metres (0 = background) and the mask (H, W) bool."""
    faces = faces.long()
    face, bary, depth = rasterize(vertices, faces, focal, height, width, center)
    mask = face >= 0
    normals = vertex_normals(vertices, faces)
    f = faces[face.clamp_min(0)]  # (H, W, 3) vertex ids of each pixel's triangle
    n = (normals[f] * bary[..., None]).sum(-2)
    n = torch.nn.functional.normalize(n, dim=-1)
    # Two-sided: a visible surface faces the camera, whatever the mesh's winding (view ray · n < 0).
    cx, cy = center if center is not None else (width / 2.0, height / 2.0)
    ys, xs = torch.meshgrid(torch.arange(height, device=n.device, dtype=n.dtype) + 0.5 - cy,
                            torch.arange(width, device=n.device, dtype=n.dtype) + 0.5 - cx, indexing="ij")  # fmt: skip
    ray = torch.stack([xs, ys, torch.full_like(xs, focal)], -1)  # (H, W, 3) from the camera through each pixel
    n = torch.where(((n * ray).sum(-1) > 0)[..., None], -n, n)
    # The usual normal-map encoding (x right, y up, z towards the viewer): a surface facing the camera is (128, 128, 255).
    n_view = n * torch.tensor([1.0, -1.0, -1.0], device=n.device, dtype=n.dtype)
    rgb = ((n_view + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    rgb[~mask] = 0
    return {"normals": rgb.cpu().numpy(), "depth": depth.float().cpu().numpy(), "mask": mask.cpu().numpy()}


def render_sequence(vertices: torch.Tensor, faces: torch.Tensor, focal: float, height: int, width: int,
                    center: tuple[float, float] | None = None) -> np.ndarray:  # fmt: skip
    """Shaded-normal images (T, H, W, 3) uint8 of a posed mesh sequence (T, V, 3), one frame at a time
    (a frame's rasterisation already fills the device)."""
    out = np.zeros((len(vertices), height, width, 3), np.uint8)
    for i, v in enumerate(vertices):
        out[i] = render_normals(v, faces, focal, height, width, center)["normals"]
    return out
