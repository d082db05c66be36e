"""Dataset plugins. Built-ins register here; other packages add theirs through the
`humanvid.datasets` entry-point group."""

from humanvid.datasets.base import DatasetPlugin, PluginOptions
from humanvid.datasets.clips import Clip, read_clip_table, write_clip_table
from humanvid.registry import Registry

DATASETS: Registry[type[DatasetPlugin]] = Registry("dataset plugin", "humanvid.datasets")

from humanvid.datasets.anchor import Anchor  # noqa: E402  (needs DATASETS defined above)
from humanvid.datasets.laion_human import LaionHuman  # noqa: E402
from humanvid.datasets.local import LocalVideos  # noqa: E402
from humanvid.datasets.ntu120 import NTU120  # noqa: E402
from humanvid.datasets.synthdance import SynthDance  # noqa: E402
from humanvid.datasets.talkshow import TalkShow  # noqa: E402
from humanvid.datasets.ted import TEDTalks  # noqa: E402
from humanvid.datasets.tiktok import TikTok  # noqa: E402

DATASETS.add("synthdance", SynthDance)
DATASETS.add("tiktok", TikTok)
DATASETS.add("local", LocalVideos)
DATASETS.add("laion_human", LaionHuman)
DATASETS.add("ntu120", NTU120)
DATASETS.add("ted", TEDTalks)
DATASETS.add("anchor", Anchor)
DATASETS.add("talkshow", TalkShow)

__all__ = ["DATASETS", "Anchor", "Clip", "DatasetPlugin", "LaionHuman", "LocalVideos", "NTU120", "PluginOptions", "SynthDance", "TalkShow", "TEDTalks", "TikTok", "read_clip_table", "write_clip_table"]
