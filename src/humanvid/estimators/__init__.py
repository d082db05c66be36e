"""Condition estimators. Built-ins register here; other packages add theirs through the
`humanvid.estimators` entry-point group."""

from humanvid.estimators.base import CONDITION_LAYOUTS, Estimator, check_conditions
from humanvid.estimators.densepose import DensePose
from humanvid.estimators.dwpose import DWPose
from humanvid.estimators.groundtruth import GroundTruth
from humanvid.estimators.matting import RobustVideoMatting
from humanvid.estimators.openpose import OpenPoseBody
from humanvid.registry import Registry

ESTIMATORS: Registry[type[Estimator]] = Registry("estimator", "humanvid.estimators")
ESTIMATORS.add("groundtruth", GroundTruth)
ESTIMATORS.add("dwpose", DWPose)
ESTIMATORS.add("matting", RobustVideoMatting)
ESTIMATORS.add("densepose", DensePose)
ESTIMATORS.add("openpose", OpenPoseBody)

__all__ = ["CONDITION_LAYOUTS", "DWPose", "DensePose", "ESTIMATORS", "Estimator", "GroundTruth", "OpenPoseBody", "RobustVideoMatting", "check_conditions"]
