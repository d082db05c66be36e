"""Condition estimators. Built-ins register here by import path (a module is imported when its estimator
is first looked up); other packages add theirs through the `humanvid.estimators` entry-point group."""

from humanvid.estimators.base import CONDITION_LAYOUTS, Estimator, check_conditions
from humanvid.registry import Registry

ESTIMATORS: Registry[type[Estimator]] = Registry("estimator", "humanvid.estimators")
_BUILTINS = {
    "groundtruth": "groundtruth:GroundTruth",
    "dwpose": "dwpose:DWPose",
    "matting": "matting:RobustVideoMatting",
    "densepose": "densepose:DensePose",
    "openpose": "openpose:OpenPoseBody",
    "smplx": "smplx:SMPLXMesh",
    "dpt_hybrid": "depth:DPTHybridMidas",
    "depth_anything_v2_small": "depth:DepthAnythingV2Small",
    "depth_anything_v2_base": "depth:DepthAnythingV2Base",
    "dataset_depth": "depth:DatasetDepth",
}
for _name, _target in _BUILTINS.items():
    ESTIMATORS.add_lazy(_name, f"humanvid.estimators.{_target}")


def __getattr__(name: str):  # `from humanvid.estimators import DWPose` still works, importing only that module
    for registered, target in _BUILTINS.items():
        if target.endswith(":" + name):
            return ESTIMATORS.get(registered)
    raise AttributeError(f"module 'humanvid.estimators' has no attribute {name!r}")


__all__ = ["CONDITION_LAYOUTS", "ESTIMATORS", "Estimator", "check_conditions"]
