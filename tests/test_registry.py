import pytest

from humanvid.datasets import DATASETS, SynthDance
from humanvid.estimators import ESTIMATORS, GroundTruth
from humanvid.registry import Registry, RegistryError


def test_duplicate_and_unknown_names():
    reg: Registry[int] = Registry("widget", "humanvid.test-widgets")
    reg.add("a", 1)
    reg.add("a", 1)  # the same object again is harmless
    with pytest.raises(RegistryError, match="registered twice"):
        reg.add("a", 2)
    with pytest.raises(RegistryError, match="unknown widget 'b'; known: a"):
        reg.get("b")


def test_builtins_are_registered_and_entry_points_agree():
    assert DATASETS.get("synthdance") is SynthDance
    assert ESTIMATORS.get("groundtruth") is GroundTruth
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group="humanvid.datasets")}
    assert "synthdance" in names  # what an external plugin package would use
