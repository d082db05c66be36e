"""Condition estimators. Built-ins register here; other packages add theirs through the
`humanvid.estimators` entry-point group."""

from humanvid.estimators.base import CONDITION_LAYOUTS, Estimator, check_conditions
from humanvid.estimators.groundtruth import GroundTruth
from humanvid.registry import Registry

ESTIMATORS: Registry[type[Estimator]] = Registry("estimator", "humanvid.estimators")
ESTIMATORS.add("groundtruth", GroundTruth)

__all__ = ["CONDITION_LAYOUTS", "ESTIMATORS", "Estimator", "GroundTruth", "check_conditions"]
