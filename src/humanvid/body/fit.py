"""Fitting SMPL-X to a clip's DWPose whole-body keypoints (COCO-WholeBody, 133 points).

Per clip: one shape (betas); per frame: global orientation, body pose, hand pose (PCA coefficients), jaw
pose, expression and translation; a perspective camera at the origin (focal length given, principal point
at the image centre). The loss is the confidence-weighted, robust (Geman-McClure) reprojection error of
the SMPL-X joints that correspond to the keypoints, plus L2 priors on pose, hands, jaw, expression and
shape (SMPLify-X's VPoser/GMM priors need further licence-gated files), plus a temporal term on joint
positions and parameters between consecutive frames. The optimisation is staged: camera and global
orientation on the torso, then the body and shape, then hands and face — all frames at once, on the
device given.

Frames whose keypoints are all missing get no data term: the temporal term carries them between their
neighbours, and the result lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from humanvid.body.joints import SMPLXJoints

# COCO-WholeBody index -> SMPL-X output joint index (smplx's joint order: 55 skeleton joints, 21 vertex
# joints, 51 face landmarks = the 68-point landmarks 17..67). The 17 face-contour points are not used.
_BODY = {0: 55, 1: 57, 2: 56, 3: 59, 4: 58, 5: 16, 6: 17, 7: 18, 8: 19, 9: 20, 10: 21, 11: 1, 12: 2, 13: 4, 14: 5, 15: 7, 16: 8}
_FEET = {17: 60, 18: 61, 19: 62, 20: 63, 21: 64, 22: 65}
_FACE = {23 + 17 + i: 76 + i for i in range(51)}
# Hands: wrist, then thumb, index, middle, ring, pinky × (3 joints, tip).
_LEFT = [20, 37, 38, 39, 66, 25, 26, 27, 67, 28, 29, 30, 68, 34, 35, 36, 69, 31, 32, 33, 70]
_RIGHT = [21, 52, 53, 54, 71, 40, 41, 42, 72, 43, 44, 45, 73, 49, 50, 51, 74, 46, 47, 48, 75]
_HANDS = {91 + i: j for i, j in enumerate(_LEFT)} | {112 + i: j for i, j in enumerate(_RIGHT)}
WHOLEBODY_TO_SMPLX: dict[int, int] = _BODY | _FEET | _FACE | _HANDS
PARTS = {"body": sorted(_BODY), "feet": sorted(_FEET), "face": sorted(_FACE), "hands": sorted(_HANDS)}
TORSO = [5, 6, 11, 12]  # shoulders, hips


@dataclass(frozen=True)
class FitConfig:
    """Weights and schedule of the fit (pixels for distances)."""

    focal: float | None = None
    """Focal length in pixels; None: the longer image side (≈ 53° field of view)."""
    iterations: tuple[int, int, int] = (60, 150, 100)
    """Adam steps of the three stages: camera/orientation, body + shape, hands + face."""
    lr: float = 0.05
    robust_sigma: float = 50.0
    """Geman-McClure scale in pixels: residuals beyond it count less and less."""
    min_score: float = 0.3
    """Keypoints below this confidence are missing."""
    part_weights: dict[str, float] = field(default_factory=lambda: {"body": 1.0, "feet": 0.5, "face": 0.5, "hands": 0.5})
    pose_prior: float = 10.0
    """× mean squared body pose (axis-angle) — pulls towards the rest pose; the data term is in px²."""
    shape_prior: float = 10.0
    hand_prior: float = 1.0
    face_prior: float = 1.0
    """× mean squared jaw pose and expression."""
    smooth: float = 1e4
    """× mean squared frame-to-frame change of joints (metres) and pose parameters; 0 turns it off."""


@dataclass
class FitResult:
    betas: np.ndarray  # (10,)
    global_orient: np.ndarray  # (T, 3)
    body_pose: np.ndarray  # (T, 63)
    left_hand_pose: np.ndarray  # (T, n_pca)
    right_hand_pose: np.ndarray  # (T, n_pca)
    jaw_pose: np.ndarray  # (T, 3)
    expression: np.ndarray  # (T, 10)
    transl: np.ndarray  # (T, 3)
    focal: float
    joints: np.ndarray  # (T, J, 3) SMPL-X joints in the camera frame
    reprojection_px: np.ndarray  # (T,) mean error over the frame's visible keypoints (nan: none visible)
    missing_frames: list[int]
    losses: dict[str, float]

    def params(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in ("betas", "global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose",
                                              "expression", "transl")}  # fmt: skip


def project(points: torch.Tensor, focal: float, center: tuple[float, float]) -> torch.Tensor:
    """Camera-frame points (..., 3) -> pixels (..., 2): x right, y down, z forward."""
    z = points[..., 2:3].clamp_min(1e-3)
    return points[..., :2] / z * focal + torch.tensor(center, device=points.device, dtype=points.dtype)


def gmof(residual_sq: torch.Tensor, sigma: float) -> torch.Tensor:
    """Geman-McClure on squared residuals: sigma² r² / (sigma² + r²)."""
    return sigma**2 * residual_sq / (sigma**2 + residual_sq)


def _targets(keypoints: np.ndarray, cfg: FitConfig, device, dtype):
    """(T, 133, 3) -> joint indices (K,), targets (T, K, 2), weights (T, K) and the part of each."""
    idx = sorted(WHOLEBODY_TO_SMPLX)
    part_of = {k: p for p, ks in PARTS.items() for k in ks}
    kp = torch.as_tensor(keypoints[:, idx], device=device, dtype=dtype)
    conf = torch.where(kp[..., 2] >= cfg.min_score, kp[..., 2], torch.zeros_like(kp[..., 2]))
    part_w = torch.tensor([cfg.part_weights[part_of[k]] for k in idx], device=device, dtype=dtype)
    smplx_idx = torch.tensor([WHOLEBODY_TO_SMPLX[k] for k in idx], device=device)
    return idx, smplx_idx, kp[..., :2], conf * part_w


def fit_smplx(keypoints: np.ndarray, height: int, width: int, model, cfg: FitConfig = FitConfig(),
              log=lambda _m: None, fixed: dict[str, np.ndarray] | None = None) -> FitResult:  # fmt: skip
    """Fit `model` (an smplx.SMPLX with batch_size = T) to keypoints (T, 133, 3) in pixels of an image of
    height × width. See the module docstring. `fixed`: parameters known already (betas (1, n) or (n,); the
    rest (T, n)), kept as given while the others — at least the camera's orientation and translation — are
    fitted around them."""
    if keypoints.ndim != 3 or keypoints.shape[1:] != (133, 3):
        raise ValueError(f"keypoints must be (T, 133, 3) COCO-WholeBody, got {keypoints.shape}")
    t = len(keypoints)
    if model.batch_size != t:
        raise ValueError(f"the SMPL-X model was built for {model.batch_size} frames, the clip has {t}")
    device, dtype = model.shapedirs.device, model.shapedirs.dtype
    body = SMPLXJoints(model)  # the joints the fit needs, without skinning the whole mesh
    focal = float(cfg.focal or max(height, width))
    center = (width / 2.0, height / 2.0)
    wb_idx, smplx_idx, target, weight = _targets(keypoints, cfg, device, dtype)
    visible = weight > 0
    missing = [i for i in range(t) if not bool(visible[i].any())]
    if len(missing) == t:
        raise ValueError("no frame has a visible keypoint: nothing to fit")

    def zeros(*shape):
        return torch.zeros(*shape, device=device, dtype=dtype, requires_grad=True)

    p = {"betas": zeros(1, model.num_betas), "body_pose": zeros(t, 63), "left_hand_pose": zeros(t, model.num_pca_comps),
         "right_hand_pose": zeros(t, model.num_pca_comps), "jaw_pose": zeros(t, 3), "expression": zeros(t, model.num_expression_coeffs)}  # fmt: skip
    for key, value in (fixed or {}).items():
        if key not in p:  # the camera (global_orient, transl) is always fitted
            raise ValueError(f"cannot hold {key!r} fixed; fixable: {', '.join(p)}")
        value = torch.as_tensor(np.asarray(value), device=device, dtype=dtype).reshape(-1, p[key].shape[1])
        if len(value) != len(p[key]):
            raise ValueError(f"fixed {key!r}: expected {len(p[key])} rows of {p[key].shape[1]}, got {tuple(value.shape)}")
        p[key] = value
    # Initial camera: rotate the model (y up, facing +z) to face the camera (y down); depth from the torso's size.
    orient = torch.zeros(t, 3, device=device, dtype=dtype)
    orient[:, 0] = np.pi
    p["global_orient"] = orient.requires_grad_(True)
    with torch.no_grad():
        still = {k: v.detach() for k, v in p.items() if k != "global_orient"}
        rest = body(**still, global_orient=orient, transl=torch.zeros(t, 3, device=device, dtype=dtype))[:, smplx_idx]
        torso = [wb_idx.index(k) for k in TORSO]
        size_3d = (rest[0, torso].amax(0) - rest[0, torso].amin(0))[:2].norm()
        tw = weight[:, torso] > 0
        pts = target[:, torso]
        size_2d = torch.stack([(pts[i][tw[i]].amax(0) - pts[i][tw[i]].amin(0)).norm() if tw[i].sum() >= 2 else torch.tensor(float("nan"), device=device)
                               for i in range(t)])  # fmt: skip
        depth = focal * size_3d / size_2d
        depth = torch.where(torch.isfinite(depth), depth, torch.nanmedian(depth) if torch.isfinite(depth).any() else torch.tensor(3.0))
        mean_2d = torch.stack([pts[i][tw[i]].mean(0) if tw[i].any() else torch.tensor(center, device=device) for i in range(t)])
        xy = (mean_2d - torch.tensor(center, device=device)) / focal * depth[:, None] - rest[:, torso, :2].mean(1)
        transl = torch.cat([xy, (depth - rest[:, torso, 2].mean(1))[:, None]], 1)
    p["transl"] = transl.clone().requires_grad_(True)

    def forward():
        return body(**p)  # (T, 127, 3)

    # Keypoint weights per stage, built once: the torso, then body and feet, then everything.
    is_torso = torch.tensor([k in TORSO for k in wb_idx], device=device)
    body_feet = torch.tensor([k in PARTS["body"] or k in PARTS["feet"] for k in wb_idx], device=device)
    stage_weights = [weight * is_torso, weight * body_feet, weight]

    def loss_terms(stage: int) -> dict[str, torch.Tensor]:
        joints = forward()
        px = project(joints[:, smplx_idx], focal, center)
        w = stage_weights[stage]
        data = (w * gmof(((px - target) ** 2).sum(-1), cfg.robust_sigma)).sum() / w.sum().clamp_min(1e-6)
        terms = {"data": data, "pose": cfg.pose_prior * p["body_pose"].pow(2).mean(), "shape": cfg.shape_prior * p["betas"].pow(2).mean(),
                 "hands": cfg.hand_prior * (p["left_hand_pose"].pow(2).mean() + p["right_hand_pose"].pow(2).mean()),
                 "face": cfg.face_prior * (p["jaw_pose"].pow(2).mean() + p["expression"].pow(2).mean())}  # fmt: skip
        if cfg.smooth > 0 and t > 1:
            params = torch.cat([p[k] for k in ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "expression")], 1)
            terms["smooth"] = cfg.smooth * ((joints[1:] - joints[:-1]).pow(2).mean() + 1e-2 * (params[1:] - params[:-1]).pow(2).mean())
        return terms

    stages = [("camera", ["global_orient", "transl"]), ("body", ["global_orient", "transl", "body_pose", "betas"]),
              ("hands+face", list(p))]  # fmt: skip
    terms: dict[str, torch.Tensor] = {}
    for s, ((name, keys), steps) in enumerate(zip(stages, cfg.iterations, strict=True)):
        opt = torch.optim.Adam([p[k] for k in keys if p[k].requires_grad], lr=cfg.lr)
        for _ in range(steps):
            terms = loss_terms(s)
            loss = sum(terms.values())
            opt.zero_grad()
            loss.backward()
            opt.step()
        log(f"smplx fit: {name} stage, {steps} steps, loss {float(loss.detach()):.3f} (data {float(terms['data'].detach()):.3f})")

    with torch.no_grad():
        joints = forward()
        err = ((project(joints[:, smplx_idx], focal, center) - target).norm(dim=-1) * visible).sum(1) / visible.sum(1).clamp_min(1)
        err[torch.tensor([i in missing for i in range(t)], device=device)] = float("nan")
    def arr(x):
        return x.detach().cpu().numpy().astype(np.float32)

    if missing:
        log(f"smplx fit: {len(missing)} of {t} frames had no visible keypoint; carried by the temporal term: {missing}")
    return FitResult(betas=arr(p["betas"][0]), global_orient=arr(p["global_orient"]), body_pose=arr(p["body_pose"]),
                     left_hand_pose=arr(p["left_hand_pose"]), right_hand_pose=arr(p["right_hand_pose"]), jaw_pose=arr(p["jaw_pose"]),
                     expression=arr(p["expression"]), transl=arr(p["transl"]), focal=focal, joints=arr(joints), reprojection_px=arr(err),
                     missing_frames=missing, losses={k: float(v.detach()) for k, v in terms.items()})  # fmt: skip
