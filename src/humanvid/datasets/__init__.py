"""Dataset plugins. Built-ins register here by import path; other packages add theirs through the
`humanvid.datasets` entry-point group."""

from humanvid.datasets.base import DatasetPlugin, PluginOptions
from humanvid.datasets.clips import Clip, read_clip_table, write_clip_table
from humanvid.registry import Registry, lazy_builtins

DATASETS: Registry[type[DatasetPlugin]] = Registry("dataset plugin", "humanvid.datasets")
# Imported when first looked up: validating params imports only the plugins it names.
__getattr__ = lazy_builtins(DATASETS, "humanvid.datasets", {
    "synthdance": "synthdance:SynthDance",
    "tiktok": "tiktok:TikTok",
    "local": "local:LocalVideos",
    "laion_human": "laion_human:LaionHuman",
    "ntu120": "ntu120:NTU120",
    "ted": "ted:TEDTalks",
    "anchor": "anchor:Anchor",
    "talkshow": "talkshow:TalkShow",
})  # fmt: skip

__all__ = ["DATASETS", "Clip", "DatasetPlugin", "PluginOptions", "read_clip_table", "write_clip_table"]
