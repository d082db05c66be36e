"""Condition estimators. Built-ins register here by import path (a module is imported when its estimator
is first looked up); other packages add theirs through the `humanvid.estimators` entry-point group."""

from humanvid.estimators.base import CONDITION_LAYOUTS, Estimator, check_conditions
from humanvid.registry import Registry, lazy_builtins

ESTIMATORS: Registry[type[Estimator]] = Registry("estimator", "humanvid.estimators")
__getattr__ = lazy_builtins(ESTIMATORS, "humanvid.estimators", {
    "groundtruth": "groundtruth:GroundTruth",
    "dwpose": "dwpose:DWPose",
    "matting": "matting:RobustVideoMatting",
    "densepose": "densepose:DensePose",
    "openpose": "openpose:OpenPoseBody",
    "openpose_wholebody": "openpose_wholebody:OpenPoseWholeBody",
    "smplx": "smplx:SMPLXMesh",
    "dpt_hybrid": "depth:DPTHybridMidas",
    "depth_anything_v2_small": "depth:DepthAnythingV2Small",
    "depth_anything_v2_base": "depth:DepthAnythingV2Base",
    "dataset_depth": "depth:DatasetDepth",
})  # fmt: skip

__all__ = ["CONDITION_LAYOUTS", "ESTIMATORS", "Estimator", "check_conditions"]
