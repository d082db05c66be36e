"""Make-Your-Anchor's SMPL-X perturbation: training on imperfect fits ("perturbing the SMPL parameters
during training", Make-Your-Anchor §4, Table 1 "SMPL perturbation") — the frame's SMPL-X parameters are
perturbed and its mesh condition rendered again, so the model learns to follow meshes that are slightly off.

The paper names no magnitudes. The built-in hook `pose_noise` adds Gaussian noise to the body pose
(σ 0.05 rad per axis-angle component), the hand PCA coefficients (σ 0.1) and the jaw (σ 0.02 rad), and
keeps shape, expression, camera and translation. Other hooks register in the
`humanvid.smplx_perturbations` entry-point group: `hook(params, rng) -> params` over the per-frame
parameter dict of `humanvid.body.params.unpack`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from humanvid.registry import Registry

Hook = Callable[[dict[str, np.ndarray], np.random.Generator], dict[str, np.ndarray]]
PERTURBATIONS: Registry[Hook] = Registry("SMPL-X perturbation", "humanvid.smplx_perturbations")


@PERTURBATIONS.register("pose_noise")
def pose_noise(params: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    out = dict(params)
    for key, sigma in (("body_pose", 0.05), ("left_hand_pose", 0.1), ("right_hand_pose", 0.1), ("jaw_pose", 0.02)):
        out[key] = params[key] + rng.normal(0.0, sigma, params[key].shape).astype(np.float32)
    return out


class MeshPerturbation:
    """`(vectors (T, 119), height, width, seed) -> (perturbed vectors, mesh_normals (T, H, W, 3))`: a
    registered hook applied to each frame's parameters, the mesh posed and rendered again. Runs where the
    loader runs (its workers), on the device given — CPU by default, like the rest of the data path."""

    def __init__(self, hook: str, model_path: str | None = None, overrides: dict[str, str] | None = None, device=None) -> None:
        import torch

        from humanvid.body.model import load_smplx

        self.name = hook
        self.hook = PERTURBATIONS.get(hook)
        self.model = load_smplx(model_path, 1, device or torch.device("cpu"), torch.float32, overrides=overrides)

    def __call__(self, vectors: np.ndarray, height: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        from humanvid.body.params import pack, pose_vertices, unpack
        from humanvid.body.render import render_normals

        rng = np.random.default_rng(seed)
        clip = unpack(vectors)
        out_vectors, normals = np.empty_like(vectors), np.zeros((len(vectors), height, width, 3), np.uint8)
        for i in range(len(vectors)):
            params = self.hook({k: v[i : i + 1] for k, v in clip.items()}, rng)  # one frame, leading axis kept
            focal, center = float(clip["focal"][i]), (float(clip["center"][i, 0]), float(clip["center"][i, 1]))
            out_vectors[i] = pack(params, 1, focal, center)[0]
            normals[i] = render_normals(pose_vertices(self.model, params)[0], self.model.faces_tensor, focal, height, width, center)["normals"]
        return out_vectors, normals

