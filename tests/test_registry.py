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


def test_lazy_entries_import_on_first_lookup_and_are_checked_then():
    checked = []

    def check(name, obj):
        checked.append(name)
        if obj == "bad":
            raise ValueError("not a widget")

    reg: Registry = Registry("widget", "humanvid.test-widgets", check=check)
    reg.add_lazy("json", "json:dumps")
    reg.add_lazy("bad", "humanvid.registry:RegistryError")
    assert reg.names() == ["bad", "json"] and checked == []  # listed, not imported
    import json

    assert reg.get("json") is json.dumps and checked == ["json"]
    reg.add_lazy("broken", "json:nonexistent")
    with pytest.raises(AttributeError):
        reg.get("broken")
    with pytest.raises(RegistryError, match="widget 'y': not a widget"):
        reg.add("y", "bad")


def test_recipes_controls_and_methods_are_checked_at_registration():
    from typing import Literal

    from humanvid.controls import CONTROLS, Control
    from humanvid.models import METHODS
    from humanvid.models.spec import MethodSpec, StageSpec
    from humanvid.recipes import RECIPES, Recipe

    class Misnamed(Recipe):
        kind: Literal["other"] = "other"

    with pytest.raises(RegistryError, match="training-sample recipe 'mine': Misnamed.kind must default to 'mine'"):
        RECIPES.add("mine", Misnamed)
    with pytest.raises(RegistryError, match="control kind 'heat': unknown shard conditions \\['heatmaps'\\]"):
        CONTROLS.add("heat", Control(("heatmaps",), lambda *a: None))
    base = METHODS.get("baseline")
    bad = MethodSpec("mine", base.target, base.flavors, base.options, (StageSpec("pretrain", ("no_such_recipe",), "x"),), base.controls)
    with pytest.raises(RegistryError, match="method 'mine': stage 'pretrain' accepts unknown recipes \\['no_such_recipe'\\]"):
        METHODS.add("mine", bad)
    assert "mine" not in RECIPES and "heat" not in CONTROLS and "mine" not in METHODS
