"""DiffPerformer's 3D-aware human flow (3DHF) and the flow loss L_flow on the IVR's video.

The supplement says what 3DHF is for — the correspondence between the driving poses and the performer's appearance,
built from the 3D body — and not how; ours (docs/diffperformer.md): the fitted body mesh of frame n is rasterised
(`humanvid.body.render.rasterize`: which triangle each pixel sees, with perspective-correct barycentrics); each visible
surface point is carried to frame n+1 by the same barycentrics on that triangle's vertices there, and projected with
the same camera. The flow of a pixel is where its surface point lands minus where it was: exact mesh correspondence,
zero for a body that does not move, f·Δx/Z for a body translated by Δx at depth Z. Pixels the mesh does not cover
have no flow (mask 0). Occlusion at frame n+1 is not tested (a point hidden there still gets its flow).

L_flow warps frame n+1 of the IVR's video back along that flow and compares it with frame n on the covered pixels
(an L1 photometric term): the IVR must move the performer's appearance the way the body moved.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from humanvid.body.render import rasterize


def surface_flow(vertices: torch.Tensor, faces: torch.Tensor, focal: float, height: int, width: int,
                 center: tuple[float, float] | None = None) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Posed meshes (T, V, 3) in camera space (x right, y down, z forward), triangles (F, 3) -> forward flow from each
    frame to the next (T-1, H, W, 2) in pixels (x, y) and the pixels it is defined on (T-1, H, W) bool."""
    if vertices.ndim != 3 or vertices.shape[0] < 2:
        raise ValueError(f"3D human flow needs a mesh sequence (T >= 2, V, 3), got {tuple(vertices.shape)}")
    faces = faces.long()
    cx, cy = center if center is not None else (width / 2.0, height / 2.0)
    ys, xs = torch.meshgrid(torch.arange(height, device=vertices.device, dtype=vertices.dtype) + 0.5,
                            torch.arange(width, device=vertices.device, dtype=vertices.dtype) + 0.5, indexing="ij")  # fmt: skip
    flows, masks = [], []
    for now, later in zip(vertices[:-1], vertices[1:], strict=True):
        face, bary, _ = rasterize(now, faces, focal, height, width, center)
        mask = face >= 0
        corners = later[faces[face.clamp_min(0)]]  # (H, W, 3, 3): the seen triangle's vertices at the next frame
        point = (corners * bary[..., None]).sum(-2)  # the same surface point there
        z = point[..., 2].clamp_min(1e-6)
        u, v = point[..., 0] / z * focal + cx, point[..., 1] / z * focal + cy
        flow = torch.stack([u - xs, v - ys], dim=-1)
        flows.append(torch.where(mask[..., None], flow, torch.zeros_like(flow)))
        masks.append(mask)
    return torch.stack(flows), torch.stack(masks)


def surface_coordinate_flow(iuv: torch.Tensor, max_uv_distance: float = 8.0) -> tuple[torch.Tensor, torch.Tensor]:
    """3DHF from DensePose-style surface coordinates (T, H, W, 3) uint8 — part index I (0 = background), U and V in
    0-255 — when no fitted mesh is at hand (synthdance's exact IUV, or the `densepose` estimator's): each body pixel of
    frame n goes to the pixel of frame n+1 on the same part whose (U, V) is nearest, if within `max_uv_distance` (in
    0-255 units), -> flow (T-1, H, W, 2) in pixels and its mask (T-1, H, W). The body surface's own parameterisation
    gives the correspondence, as the mesh's barycentrics do in `surface_flow`."""
    if iuv.ndim != 4 or iuv.shape[-1] != 3 or iuv.shape[0] < 2:
        raise ValueError(f"surface-coordinate flow needs IUV maps (T >= 2, H, W, 3), got {tuple(iuv.shape)}")
    t, h, w, _ = iuv.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=iuv.device), torch.arange(w, device=iuv.device), indexing="ij")
    pos = torch.stack([xs, ys], -1).reshape(-1, 2).float()
    flows = torch.zeros(t - 1, h * w, 2, device=iuv.device)
    masks = torch.zeros(t - 1, h * w, dtype=torch.bool, device=iuv.device)
    flat = iuv.reshape(t, -1, 3).long()
    for n in range(t - 1):
        now, later = flat[n], flat[n + 1]
        for part in torch.unique(now[:, 0]).tolist():
            if part == 0:
                continue
            src = torch.nonzero(now[:, 0] == part).flatten()
            dst = torch.nonzero(later[:, 0] == part).flatten()
            if len(dst) == 0:
                continue
            dist = torch.cdist(now[src, 1:].float(), later[dst, 1:].float())  # (S, D) in UV units
            best, j = dist.min(dim=1)
            ok = best <= max_uv_distance
            flows[n, src[ok]] = pos[dst[j[ok]]] - pos[src[ok]]
            masks[n, src[ok]] = True
    return flows.reshape(t - 1, h, w, 2), masks.reshape(t - 1, h, w)


def warp_back(frames: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Frames (T-1, C, H, W) of time n+1 sampled at each pixel's flow target: what frame n would look like if every
    pixel moved along the flow (bilinear, border values outside)."""
    _, _, h, w = frames.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=frames.device, dtype=frames.dtype) + 0.5,
                            torch.arange(w, device=frames.device, dtype=frames.dtype) + 0.5, indexing="ij")  # fmt: skip
    target_x, target_y = xs + flow[..., 0], ys + flow[..., 1]
    grid = torch.stack([target_x / w * 2 - 1, target_y / h * 2 - 1], dim=-1)  # align_corners=False: pixel centres
    return F.grid_sample(frames, grid.to(frames.dtype), mode="bilinear", padding_mode="border", align_corners=False)


def flow_loss(video: torch.Tensor, flow: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L_flow: mean |frame n − frame n+1 warped back along the 3DHF| over the covered pixels of every frame pair.
    `video` (T, C, H, W), `flow` (T-1, H, W, 2), `mask` (T-1, H, W)."""
    if flow.shape[0] != video.shape[0] - 1 or flow.shape[1:3] != video.shape[2:]:
        raise ValueError(f"flow {tuple(flow.shape)} does not pair the frames of a video {tuple(video.shape)}")
    diff = (video[:-1] - warp_back(video[1:], flow)).abs().mean(1)  # (T-1, H, W)
    m = mask.to(diff.dtype)
    return (diff * m).sum() / m.sum().clamp_min(1)
