"""Dataset plugins. Built-ins register here; other packages add theirs through the
`humanvid.datasets` entry-point group."""

from humanvid.datasets.base import DatasetPlugin, PluginOptions
from humanvid.datasets.clips import Clip, read_clip_table, write_clip_table
from humanvid.registry import Registry

DATASETS: Registry[type[DatasetPlugin]] = Registry("dataset plugin", "humanvid.datasets")
_BUILTINS = {
    "synthdance": "synthdance:SynthDance",
    "tiktok": "tiktok:TikTok",
    "local": "local:LocalVideos",
    "laion_human": "laion_human:LaionHuman",
    "ntu120": "ntu120:NTU120",
    "ted": "ted:TEDTalks",
    "anchor": "anchor:Anchor",
    "talkshow": "talkshow:TalkShow",
}
for _name, _target in _BUILTINS.items():  # imported when first looked up: validating params imports only the plugins it names
    DATASETS.add_lazy(_name, f"humanvid.datasets.{_target}")


def __getattr__(name: str):  # `from humanvid.datasets import TikTok` still works, importing only that plugin
    for registered, target in _BUILTINS.items():
        if target.endswith(":" + name):
            return DATASETS.get(registered)
    raise AttributeError(f"module 'humanvid.datasets' has no attribute {name!r}")


__all__ = ["DATASETS", "Clip", "DatasetPlugin", "PluginOptions", "read_clip_table", "write_clip_table"]
