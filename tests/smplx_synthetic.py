"""A synthetic SMPL-X model file: the real keys, array layouts and 55-joint kinematic tree, a stick-figure
body instead of the scanned one. Vertices sit in small clusters around the joints (skinned rigidly to
them); the joint regressor averages each cluster; the vertices smplx reads as extra joints (nose, eyes,
ears, toes, heels, fingertips — `smplx.vertex_ids`) and the 51 face landmarks sit where they belong on
the figure. The vertex count is the smallest that holds smplx's fixed vertex ids (9930, against 10475)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from smplx.vertex_ids import vertex_ids

V = 9930
# Parent and offset from the parent (metres; y up, subject's left = +x, facing +z) of the 55 joints.
_BODY = [(-1, (0, 0.95, 0)), (0, (0.09, -0.07, 0)), (0, (-0.09, -0.07, 0)), (0, (0, 0.11, 0)), (1, (0, -0.40, 0)), (2, (0, -0.40, 0)),
         (3, (0, 0.14, 0)), (4, (0, -0.42, 0)), (5, (0, -0.42, 0)), (6, (0, 0.06, 0)), (7, (0, -0.06, 0.12)), (8, (0, -0.06, 0.12)),
         (9, (0, 0.21, 0)), (9, (0.07, 0.12, 0)), (9, (-0.07, 0.12, 0)), (12, (0, 0.09, 0.03)), (13, (0.11, 0.03, 0)), (14, (-0.11, 0.03, 0)),
         (16, (0.26, 0, 0)), (17, (-0.26, 0, 0)), (18, (0.25, 0, 0)), (19, (-0.25, 0, 0)), (15, (0, -0.02, 0.05)), (15, (0.03, 0.05, 0.08)),
         (15, (-0.03, 0.05, 0.08))]  # fmt: skip
# Fingers in SMPL-X order: index, middle, pinky, ring, thumb; three joints each (left hand; the right mirrors x).
_FINGER_BASE = {"index": (0.09, 0, 0.02), "middle": (0.095, 0, 0), "pinky": (0.08, 0, -0.04), "ring": (0.09, 0, -0.02), "thumb": (0.03, -0.01, 0.03)}
_FINGER_STEP = {"thumb": (0.025, 0, 0.015)}


def _tree() -> tuple[np.ndarray, np.ndarray]:
    parents, offsets = [p for p, _ in _BODY], [np.array(o, float) for _, o in _BODY]
    for wrist, sign in ((20, 1), (21, -1)):
        for name in ("index", "middle", "pinky", "ring", "thumb"):
            step = np.array(_FINGER_STEP.get(name, (0.03, 0, 0)), float) * [sign, 1, 1]
            for k in range(3):
                parents.append(wrist if k == 0 else len(parents) - 1)
                offsets.append(np.array(_FINGER_BASE[name], float) * [sign, 1, 1] if k == 0 else step)
    joints = np.zeros((55, 3))
    for j, (p, o) in enumerate(zip(parents, offsets, strict=True)):
        joints[j] = o if p < 0 else joints[p] + o
    return np.array(parents), joints


def write_smplx_npz(path: Path, seed: int = 0, shape_dims: int = 20) -> Path:
    """Write SMPLX_NEUTRAL.npz-like arrays to `path`; `shape_dims` = 10 shape + 10 expression directions."""
    rng = np.random.default_rng(seed)
    parents, joints = _tree()
    owner = np.arange(V) % 55  # the joint each vertex is skinned to
    v = joints[owner] + rng.normal(0, 0.01, (V, 3))
    special = {}  # vertex id -> (joint, position)
    head, jaw = joints[15], joints[22]
    ids = vertex_ids["smplx"]
    special[ids["nose"]] = (15, head + (0, 0, 0.10))
    special[ids["leye"]], special[ids["reye"]] = (15, head + (0.03, 0.04, 0.09)), (15, head + (-0.03, 0.04, 0.09))
    special[ids["lear"]], special[ids["rear"]] = (15, head + (0.08, 0.02, 0)), (15, head + (-0.08, 0.02, 0))
    for side, ankle, foot, sign in (("L", 7, 10, 1), ("R", 8, 11, -1)):
        special[ids[f"{side}BigToe"]] = (foot, joints[foot] + (-0.02 * sign, -0.02, 0.06))
        special[ids[f"{side}SmallToe"]] = (foot, joints[foot] + (0.04 * sign, -0.02, 0.04))
        special[ids[f"{side}Heel"]] = (ankle, joints[ankle] + (0, -0.07, -0.05))
    for side, first in (("l", 25), ("r", 40)):
        for f, name in enumerate(("index", "middle", "pinky", "ring", "thumb")):
            tip_joint = first + 3 * f + 2
            special[ids[f"{side}{name}"]] = (tip_joint, joints[tip_joint] + (joints[tip_joint] - joints[tip_joint - 1]))
    for vid, (j, pos) in special.items():
        owner[vid], v[vid] = j, pos
    ordinary = np.ones(V, bool)
    ordinary[list(special)] = False
    # Face: 51 landmark triangles on the head (brows, nose, eyes) and the jaw (mouth), made of their own vertices.
    face_vertices = [i for i in range(V) if ordinary[i] and owner[i] in (15, 22)][: 51 * 3]
    faces, lmk_faces = [], []
    for n in range(51):
        tri = face_vertices[3 * n : 3 * n + 3]
        j = 22 if n >= 31 else 15  # mouth landmarks (68-point 48..67) move with the jaw
        centre = (jaw if j == 22 else head) + (0.05 * np.cos(n), 0.05 * np.sin(n) * 0.6, 0.09)
        for i in tri:
            owner[i], v[i], ordinary[i] = j, centre + rng.normal(0, 0.003, 3), False
        lmk_faces.append(len(faces))
        faces.append(tri)
    for j in range(55):  # a few triangles per joint cluster, for the renderer
        members = [i for i in np.flatnonzero(owner == j) if ordinary[i]][:30]
        faces += [members[k : k + 3] for k in range(0, len(members) - 2, 3)]
    # Regressor: the mean of each joint's ordinary cluster, after centring the cluster on its joint.
    regressor = np.zeros((55, V))
    for j in range(55):
        members = np.flatnonzero((owner == j) & ordinary)
        v[members] += joints[j] - v[members].mean(0)
        regressor[j, members] = 1.0 / len(members)
    weights = np.zeros((V, 55))
    weights[np.arange(V), owner] = 1.0
    shapedirs = np.zeros((V, 3, shape_dims))
    shapedirs[:, :, :10] = rng.normal(0, 0.01, (55, 3, 10))[owner]  # betas move whole clusters: bone lengths
    is_face = np.isin(owner, (15, 22)) & ~ordinary
    shapedirs[:, :, 10:] = rng.normal(0, 0.004, (V, 3, shape_dims - 10)) * is_face[:, None, None]  # expressions move the face
    q = np.linalg.qr(rng.normal(size=(45, 45)))[0]
    np.savez(path, v_template=v.astype(np.float32), f=np.array(faces, np.int64), J_regressor=regressor.astype(np.float32),
             kintree_table=np.stack([parents, np.arange(55)]).astype(np.int64), weights=weights.astype(np.float32),
             posedirs=np.zeros((V, 3, 486), np.float32), shapedirs=shapedirs.astype(np.float32),
             hands_componentsl=q.astype(np.float32), hands_componentsr=q[:, ::-1].copy().astype(np.float32),
             hands_meanl=np.zeros(45, np.float32), hands_meanr=np.zeros(45, np.float32),
             lmk_faces_idx=np.array(lmk_faces, np.int64), lmk_bary_coords=np.full((51, 3), 1 / 3, np.float32))  # fmt: skip
    return path
