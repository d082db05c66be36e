"""The estimator protocol every condition estimator implements (ground truth and real models alike).

`estimator(frames, clip)` takes uint8 frames (T, H, W, 3) of one clip and returns per-frame arrays keyed
by condition name, in these layouts (the shard stage reads exactly these):

| condition | dtype, shape | meaning |
| --- | --- | --- |
| openpose18 | float32 (T, 18, 3) | x, y in pixels, score in [0, 1] (0 = missing) |
| wholebody133 | float32 (T, 133, 3) | COCO-WholeBody order; x, y, score |
| depth | float32 (T, H, W) | depth on the person (metres, or relative units for monocular estimators), 0 = none |
| alpha | uint8 (T, H, W) | foreground matte, 0-255 |
| densepose | uint8 (T, H, W, 3) | part index I (0-24), U, V scaled to 0-255 (detectron2's IUV layout) |
| smplx | float32 (T, 119) | SMPL-X parameters, camera included (`humanvid.body.params.LAYOUT`) |
| mesh_normals | uint8 (T, H, W, 3) | the posed mesh's shaded normals (x right, y up, z to the viewer; 0 = background) |

An estimator that builds on another's output (SMPL-X on whole-body keypoints) names the conditions in
`needs`; the estimate stage runs it after the estimator that provides them (the config must list that one
first) and passes them as `inputs`: `estimator(frames, clip, inputs={condition: array})`.

Device and dtype are given at construction. A failure on one clip raises; the estimate stage records
it (status, error) and carries on with the next clip.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from humanvid.datasets.clips import Clip

if TYPE_CHECKING:  # numpy and torch are imported by whoever runs an estimator, not by config validation
    import numpy as np
    import torch

CONDITION_LAYOUTS: dict[str, tuple[str, str]] = {
    "openpose18": ("float32", "T,18,3"),
    "wholebody133": ("float32", "T,133,3"),
    "depth": ("float32", "T,H,W"),
    "alpha": ("uint8", "T,H,W"),
    "densepose": ("uint8", "T,H,W,3"),
    "smplx": ("float32", "T,119"),
    "mesh_normals": ("uint8", "T,H,W,3"),
}


class Estimator(ABC):
    """A condition estimator. Subclasses set the class attributes and implement `__call__`."""

    name: ClassVar[str]
    provides: ClassVar[tuple[str, ...]]
    is_ground_truth: ClassVar[bool] = False
    """True only for `groundtruth`: reports then say "ground truth", never "estimate"."""
    weights: ClassVar[tuple[str, ...]] = ()
    """Released weights it loads (names in humanvid.weights.WEIGHTS)."""
    needs: ClassVar[tuple[str, ...]] = ()
    """Conditions of other estimators of the same stage it takes as `inputs`."""
    needs_gpu: ClassVar[bool] = False
    """A GPU stage: the orchestrator may send it to a GPU worker."""

    def __init__(self, device: "torch.device", dtype: "torch.dtype", raw_dir: Path, overrides: dict[str, str] | None = None) -> None:
        self.device = device
        self.dtype = dtype
        self.raw_dir = Path(raw_dir)
        self.overrides = dict(overrides or {})  # params.yaml weights.overrides, for estimators with weights

    @classmethod
    def supports(cls, dataset_plugin: str) -> bool:
        """Whether this estimator can run on clips of the given dataset plugin."""
        return True

    @abstractmethod
    def __call__(self, frames: "np.ndarray", clip: Clip) -> dict[str, "np.ndarray"]:
        """Per-frame conditions for one clip."""


def check_conditions(out: dict[str, "np.ndarray"], frames: "np.ndarray", where: str) -> None:
    """Raise ValueError naming `where` if an output breaks the documented layout."""
    t, h, w = frames.shape[:3]
    for key, value in out.items():
        if key not in CONDITION_LAYOUTS:
            raise ValueError(f"{where}: unknown condition {key!r}; known: {', '.join(CONDITION_LAYOUTS)}")
        dtype, layout = CONDITION_LAYOUTS[key]
        expected = tuple({"T": t, "H": h, "W": w}.get(d, None) or int(d) for d in layout.split(","))
        if str(value.dtype) != dtype or value.shape != expected:
            raise ValueError(f"{where}: condition {key!r} must be {dtype} {expected}, got {value.dtype} {value.shape}")
