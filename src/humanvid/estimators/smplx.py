"""`smplx`: SMPL-X per clip and its rendered mesh condition — Make-Your-Anchor's motion condition.

Needs the clip's COCO-WholeBody keypoints from an estimator listed before it (`dwpose`): the estimate stage
passes them in. Fits SMPL-X to them (`humanvid.body.fit.fit_smplx`: one shape per clip, per-frame pose, a
camera at the origin) and renders the posed mesh's shaded normals at the clip's resolution. Outputs:
`smplx` (T, 119) — the parameter vector of `humanvid.body.params` (pose, shape, translation, focal length,
principal point), so the mesh can be posed and rendered again (Make-Your-Anchor's perturbation does) —
and `mesh_normals` (T, H, W, 3) uint8.

Datasets that ship SMPL-X fits (TalkSHOW's SHOW parameters, kept by the `talkshow` plugin as
`annotations/{clip_id}.npz`) are not re-fitted: shape, body, hand, jaw and expression parameters are
kept as released and only the camera — global orientation and translation — is solved against the clip's
keypoints, because the clip's frames may be cropped and resized from the source video and SHOW's camera
follows pytorch3d's conventions, not this renderer's. Released arrays longer than the model's (more betas,
expression coefficients or hand components) keep their leading components; eye poses are not used.

The fit runs in float32 on the device given (the stage's half-precision dtype would stall Adam); the SMPL-X
model file is the weight registry's manual `smplx` entry (licence-gated, never downloaded).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from humanvid.datasets.clips import Clip
from humanvid.estimators.base import Estimator

SHIPPED_KEYS = {"betas": "betas", "body_pose": "body_pose_axis", "left_hand_pose": "left_hand_pose",
                "right_hand_pose": "right_hand_pose", "jaw_pose": "jaw_pose", "expression": "expression"}  # fmt: skip


class SMPLXMesh(Estimator):
    name: ClassVar[str] = "smplx"
    provides: ClassVar[tuple[str, ...]] = ("smplx", "mesh_normals")
    needs: ClassVar[tuple[str, ...]] = ("wholebody133",)
    weights: ClassVar[tuple[str, ...]] = ("smplx",)
    needs_gpu: ClassVar[bool] = True

    def __call__(self, frames: np.ndarray, clip: Clip, inputs: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        import torch  # here: config validation reads this class's attributes without torch

        from humanvid.body.fit import FitConfig, fit_smplx
        from humanvid.body.model import load_smplx
        from humanvid.body.params import pack, pose_vertices
        from humanvid.body.render import render_sequence

        if not inputs or "wholebody133" not in inputs:
            raise ValueError(f"clip {clip.clip_id}: smplx needs the clip's wholebody133 keypoints (list dwpose before smplx)")
        keypoints = inputs["wholebody133"]
        t, h, w = frames.shape[:3]
        if keypoints.shape != (t, 133, 3):
            raise ValueError(f"clip {clip.clip_id}: wholebody133 keypoints {keypoints.shape} do not match the clip's {t} frames")
        model = load_smplx(None, t, self.device, torch.float32, overrides=self.overrides)
        fixed = self.shipped(clip, t, model)
        result = fit_smplx(keypoints, h, w, model, FitConfig(), fixed=fixed)
        center = (w / 2.0, h / 2.0)
        params = result.params()
        normals = render_sequence(pose_vertices(model, params), model.faces_tensor, result.focal, h, w, center)
        return {"smplx": pack(params, t, result.focal, center), "mesh_normals": normals}

    def shipped(self, clip: Clip, frames: int, model) -> dict[str, np.ndarray] | None:
        """The SMPL-X parameters the dataset ships for this clip (see the module docstring), or None."""
        path = self.raw_dir / "annotations" / f"{clip.clip_id}.npz"
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as data:
            if "betas" not in data.files or "body_pose_axis" not in data.files:
                return None  # annotations of another kind (depth, masks): fit from keypoints
            arrays = {ours: data[theirs] for ours, theirs in SHIPPED_KEYS.items() if theirs in data.files}
        sizes = {"betas": model.num_betas, "body_pose": 63, "left_hand_pose": model.num_pca_comps, "right_hand_pose": model.num_pca_comps,
                 "jaw_pose": 3, "expression": model.num_expression_coeffs}  # fmt: skip
        out = {}
        for key, value in arrays.items():
            value = np.asarray(value, np.float32)
            value = value.reshape(1 if key == "betas" and value.ndim == 1 else len(value), -1)
            if key == "betas":
                value = value[:1]
            elif len(value) != frames:
                raise ValueError(f"clip {clip.clip_id}: {path.name}: {SHIPPED_KEYS[key]!r} holds {len(value)} frames, the clip {frames}")
            if value.shape[1] < sizes[key]:
                raise ValueError(f"clip {clip.clip_id}: {path.name}: {SHIPPED_KEYS[key]!r} has {value.shape[1]} values per frame, "
                                 f"the model needs {sizes[key]}")  # fmt: skip
            out[key] = value[:, : sizes[key]]
        return out
