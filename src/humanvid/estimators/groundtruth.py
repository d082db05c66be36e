"""`groundtruth`: the synthetic dataset's exact annotations, served through the estimator protocol.

It exists so the pipeline and the real estimators can be checked against truth. It is named
"ground truth" in every report, never "estimate", and refuses any dataset without ground truth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from humanvid.datasets.clips import Clip
from humanvid.estimators.base import Estimator

if TYPE_CHECKING:
    import numpy as np


class GroundTruth(Estimator):
    name: ClassVar[str] = "groundtruth"
    provides: ClassVar[tuple[str, ...]] = ("openpose18", "wholebody133", "depth", "alpha", "densepose", "mesh_normals")
    is_ground_truth: ClassVar[bool] = True

    @classmethod
    def supports(cls, dataset_plugin: str) -> bool:
        return dataset_plugin == "synthdance"

    def __call__(self, frames: "np.ndarray", clip: Clip) -> dict[str, "np.ndarray"]:
        import numpy as np

        from humanvid.datasets.synthdance import load_annotations

        gt = load_annotations(self.raw_dir, clip.clip_id)
        if len(gt["depth"]) != len(frames):
            raise ValueError(f"clip {clip.clip_id}: video has {len(frames)} frames, ground truth {len(gt['depth'])}")
        return {
            "openpose18": gt["openpose18"].astype(np.float32),
            "wholebody133": gt["wholebody133"].astype(np.float32),
            "depth": gt["depth"].astype(np.float32),
            "alpha": gt["alpha"].astype(np.uint8),
            "densepose": gt["iuv"].astype(np.uint8),
            # The synthetic body's own surface normals, drawn as the SMPL-X renderer draws a mesh's (its body is
            # ellipsoids, not SMPL-X: there are no SMPL-X parameters to serve).
            "mesh_normals": gt["normals"].astype(np.uint8),
        }
