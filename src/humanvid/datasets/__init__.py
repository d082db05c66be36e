"""Dataset plugins. Built-ins register here; other packages add theirs through the
`humanvid.datasets` entry-point group."""

from humanvid.datasets.base import DatasetPlugin, PluginOptions
from humanvid.datasets.clips import Clip, read_clip_table, write_clip_table
from humanvid.registry import Registry

DATASETS: Registry[type[DatasetPlugin]] = Registry("dataset plugin", "humanvid.datasets")

from humanvid.datasets.synthdance import SynthDance  # noqa: E402  (needs DATASETS defined above)

DATASETS.add("synthdance", SynthDance)

__all__ = ["DATASETS", "Clip", "DatasetPlugin", "PluginOptions", "SynthDance", "read_clip_table", "write_clip_table"]
