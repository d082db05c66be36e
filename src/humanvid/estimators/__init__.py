"""Condition estimators. Built-ins register here; other packages add theirs through the
`humanvid.estimators` entry-point group."""

from humanvid.estimators.base import CONDITION_LAYOUTS, Estimator, check_conditions
from humanvid.estimators.densepose import DensePose
from humanvid.estimators.depth import DatasetDepth, DepthAnythingV2Base, DepthAnythingV2Small, DPTHybridMidas
from humanvid.estimators.dwpose import DWPose
from humanvid.estimators.groundtruth import GroundTruth
from humanvid.estimators.matting import RobustVideoMatting
from humanvid.estimators.openpose import OpenPoseBody
from humanvid.estimators.smplx import SMPLXMesh
from humanvid.registry import Registry

ESTIMATORS: Registry[type[Estimator]] = Registry("estimator", "humanvid.estimators")
ESTIMATORS.add("groundtruth", GroundTruth)
ESTIMATORS.add("dwpose", DWPose)
ESTIMATORS.add("matting", RobustVideoMatting)
ESTIMATORS.add("densepose", DensePose)
ESTIMATORS.add("openpose", OpenPoseBody)
ESTIMATORS.add("smplx", SMPLXMesh)
for _cls in (DPTHybridMidas, DepthAnythingV2Small, DepthAnythingV2Base, DatasetDepth):
    ESTIMATORS.add(_cls.name, _cls)

__all__ = ["CONDITION_LAYOUTS", "DPTHybridMidas", "DWPose", "DatasetDepth", "DepthAnythingV2Base", "DepthAnythingV2Small", "DensePose", "ESTIMATORS", "Estimator", "GroundTruth", "OpenPoseBody", "RobustVideoMatting", "SMPLXMesh", "check_conditions"]
