"""The dataset plugin interface: every source becomes canonical clips (mp4 + clips.parquet)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable, ClassVar

from pydantic import BaseModel, ConfigDict

from humanvid.datasets.clips import Clip

Progress = Callable[[str], None]


class PluginOptions(BaseModel):
    """Base for a plugin's options schema: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True, strict=True)


class DatasetPlugin(ABC):
    """A dataset source.

    `ingest(out_dir, progress, cache_dir)` writes each clip as `clips/{clip_id}.mp4` (H.264) under
    `out_dir`, plus any annotations the source ships under `annotations/`, and returns one `Clip` per
    clip. A clip that fails comes back with `status="failed"` and the error; the others still complete.
    `out_dir` is a scratch folder published atomically; downloads go to `cache_dir`, which survives
    re-runs, so a re-run fetches only what is missing or failed.
    """

    Options: ClassVar[type[PluginOptions]] = PluginOptions

    def __init__(self, name: str, options: dict[str, Any] | None = None) -> None:
        self.name = name
        self.options = self.Options.model_validate(options or {})

    @abstractmethod
    def ingest(self, out_dir: Path, progress: Progress = print, cache_dir: Path | None = None) -> list[Clip]:
        """Write the clips and return their metadata."""
