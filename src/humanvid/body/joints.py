"""SMPL-X joints without skinning the whole mesh.

Fitting needs the 55 skeleton joints, the 21 vertices smplx reads as joints (nose, eyes, ears, feet,
fingertips) and the 51 face landmarks (barycentric points of 51 triangles) — 174 vertices, against 10475
skinned by `smplx.SMPLX.forward` on every step. The skeleton joints come from the joint regressor applied
to the template and shape directions (precomputed: J = J_reg·v_template + (J_reg·S)·β, linear), and only
the needed vertices are posed and skinned, with smplx's own `batch_rodrigues` and `batch_rigid_transform`.
Same numbers as the full forward (tests/test_body.py).
"""

from __future__ import annotations

import torch
from smplx.lbs import batch_rigid_transform, batch_rodrigues


class SMPLXJoints(torch.nn.Module):
    """`forward(**params) -> joints (B, 127, 3)` equal to `smplx.SMPLX(...)(**params).joints` (no face contour)."""

    def __init__(self, model) -> None:
        super().__init__()
        if getattr(model, "use_face_contour", False):
            raise ValueError("SMPLXJoints follows a model built without the face contour")
        extra = model.vertex_joint_selector.extra_joints_idxs  # (21,)
        lmk_vertices = model.faces_tensor[model.lmk_faces_idx]  # (51, 3) vertex ids
        selected = torch.cat([extra, lmk_vertices.flatten()])
        shapedirs = torch.cat([model.shapedirs, model.expr_dirs], dim=-1)  # (V, 3, betas + expression)
        self.register_buffer("joint_template", model.J_regressor @ model.v_template)  # (55, 3)
        self.register_buffer("joint_dirs", torch.einsum("jv,vcl->jcl", model.J_regressor, shapedirs))  # (55, 3, L)
        self.register_buffer("v_template", model.v_template[selected])  # (S, 3)
        self.register_buffer("shapedirs", shapedirs[selected])  # (S, 3, L)
        cols = (selected[:, None] * 3 + torch.arange(3, device=selected.device)).flatten()
        self.register_buffer("posedirs", model.posedirs[:, cols])  # (486, S*3)
        self.register_buffer("lbs_weights", model.lbs_weights[selected])  # (S, 55)
        self.register_buffer("parents", model.parents)
        self.register_buffer("pose_mean", model.pose_mean)
        self.register_buffer("left_hand_components", model.left_hand_components)
        self.register_buffer("right_hand_components", model.right_hand_components)
        self.register_buffer("lmk_bary_coords", model.lmk_bary_coords)  # (51, 3)
        self.n_extra = len(extra)
        self.num_betas, self.num_expression_coeffs = model.num_betas, model.num_expression_coeffs
        self.num_pca_comps, self.batch_size = model.num_pca_comps, model.batch_size

    def forward(self, betas, global_orient, body_pose, left_hand_pose, right_hand_pose, jaw_pose, expression, transl):
        b = global_orient.shape[0]
        zeros = torch.zeros(b, 3, device=global_orient.device, dtype=global_orient.dtype)  # eyes
        left = left_hand_pose @ self.left_hand_components
        right = right_hand_pose @ self.right_hand_components
        full_pose = torch.cat([global_orient, body_pose, jaw_pose, zeros, zeros, left, right], dim=1) + self.pose_mean  # (B, 165)
        shape = torch.cat([betas.expand(b, -1), expression], dim=-1)  # (B, L)
        rot = batch_rodrigues(full_pose.view(-1, 3)).view(b, -1, 3, 3)  # (B, 55, 3, 3)
        joints = self.joint_template + torch.einsum("bl,jcl->bjc", shape, self.joint_dirs)  # (B, 55, 3)
        ident = torch.eye(3, dtype=rot.dtype, device=rot.device)
        pose_feature = (rot[:, 1:] - ident).view(b, -1)  # (B, 486)
        v = self.v_template + torch.einsum("bl,scl->bsc", shape, self.shapedirs) + (pose_feature @ self.posedirs).view(b, -1, 3)
        posed_joints, transforms = batch_rigid_transform(rot, joints, self.parents, dtype=rot.dtype)  # A: (B, 55, 4, 4)
        t = torch.einsum("sj,bjxy->bsxy", self.lbs_weights, transforms)  # (B, S, 4, 4)
        v = (t[..., :3, :3] @ v[..., None])[..., 0] + t[..., :3, 3]  # (B, S, 3)
        extra, lmk = v[:, : self.n_extra], v[:, self.n_extra :].view(b, 51, 3, 3)
        landmarks = (lmk * self.lmk_bary_coords[None, :, :, None]).sum(2)
        return torch.cat([posed_joints, extra, landmarks], dim=1) + transl[:, None]
