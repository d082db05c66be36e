"""`humanvid datasets new NAME`: a working plugin package to adapt, with its contract test.

The generated plugin ingests a folder of frame folders (one folder of images per clip) — a real,
runnable starting point — registered through the `humanvid.datasets` entry-point group, so installing
the package is all it takes for `params.yaml` to use it.
"""

from __future__ import annotations

import re
from pathlib import Path

PYPROJECT = '''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "humanvid-{name}"
version = "0.1.0"
description = "humanvid dataset plugin: {name}"
requires-python = ">=3.11"
dependencies = ["humanvid"]

[project.entry-points."humanvid.datasets"]
{name} = "humanvid_{name}:{cls}"
'''

PLUGIN = '''"""`{name}`: a humanvid dataset plugin.

Adapt `ingest`: it must write each clip as `clips/{{clip_id}}.mp4` under `out_dir` and return one
`Clip` per clip; a clip that fails is returned with `status="failed"` and its error, never raised.
This starting point reads a folder of frame folders: `<path>/<clip_id>/*.png|jpg`, where the clip id's
part before the first `_` is the identity. Check the result with `humanvid datasets check {name}`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from humanvid.datasets import Clip, DatasetPlugin, PluginOptions
from humanvid.datasets.transcode import FrameFormat, shape_frame, write_clip
from humanvid.disk import reraise_if_disk_full  # a full disk stops the ingest; it is no clip's fault


class {cls}Options(PluginOptions):
    path: str
    """Folder of frame folders."""
    fps: float = Field(25.0, gt=0)
    """Frame rate of the frames."""
    test_clips: list[str] = []
    """Clip ids that form the test split."""
    format: FrameFormat = Field(default_factory=FrameFormat)
    """Crop/resize of the frames."""


class {cls}(DatasetPlugin):
    Options = {cls}Options

    def ingest(self, out_dir: Path, progress=print, cache_dir: Path | None = None) -> list[Clip]:
        import numpy as np
        from PIL import Image

        o = self.options
        root = Path(o.path).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"datasets.{{self.name}}.options.path: folder {{root}} does not exist")
        clips = []
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            clip_id, identity = folder.name, folder.name.split("_")[0]
            split = "test" if clip_id in o.test_clips else "train"
            rel = f"clips/{{clip_id}}.mp4"
            try:
                images = sorted(p for p in folder.iterdir() if p.suffix.lower() in {{".png", ".jpg", ".jpeg"}})
                frames = (shape_frame(np.asarray(Image.open(p).convert("RGB")), o.format) for p in images)
                w = write_clip(out_dir / rel, frames, o.fps, crf=12)
                clips.append(Clip(self.name, clip_id, identity, split, o.fps, w.frames, w.width, w.height, rel))
            except Exception as exc:  # recorded; the other clips complete
                reraise_if_disk_full(exc)
                clips.append(Clip(self.name, clip_id, identity, split, o.fps, 0, 0, 0, rel, status="failed", error=str(exc)))
            progress(f"{{self.name}}: {{clip_id}} {{clips[-1].status}}")
        return clips
'''

TEST = '''import numpy as np
from PIL import Image

from humanvid.datasets import write_clip_table
from humanvid.datasets.contract import check_dataset
from humanvid_{name} import {cls}


def test_ingest_meets_the_contract(tmp_path):
    src = tmp_path / "src"
    for clip_id in ("alice_walk", "alice_run", "bob_jump"):
        (src / clip_id).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((16, 20, 3), 40 * i, np.uint8)).save(src / clip_id / f"{{i:04d}}.png")
    out = tmp_path / "out"
    clips = {cls}("{name}", {{"path": str(src), "test_clips": ["bob_jump"]}}).ingest(out, progress=lambda m: None)
    write_clip_table(out / "clips.parquet", clips)
    report = check_dataset(out)
    assert report.ok, report.problems
    assert report.checked == 3 and {{c.split for c in clips}} == {{"train", "test"}}
'''


def class_name(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[_-]+", name)) or "Dataset"


def scaffold_plugin(name: str, dest: Path) -> list[Path]:
    """Write `humanvid-{name}/` under `dest`; refuses to overwrite an existing folder."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"dataset name {name!r}: use lower-case letters, digits and '_' (a Python identifier)")
    root = Path(dest) / f"humanvid-{name}"
    if root.exists():
        raise FileExistsError(f"{root} exists; not overwriting it")
    cls = class_name(name)
    files = {
        root / "pyproject.toml": PYPROJECT.format(name=name, cls=cls),
        root / f"humanvid_{name}" / "__init__.py": PLUGIN.format(name=name, cls=cls),
        root / "tests" / f"test_{name}.py": TEST.format(name=name, cls=cls),
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)
