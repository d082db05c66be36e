"""Every path in a workspace, derived from `params.yaml: paths` (which dvc.yaml interpolates too)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from humanvid.config import PathsConfig


@dataclass(frozen=True)
class Layout:
    """Paths of one workspace. Each method is the one place that path is spelled."""

    root: Path
    paths: PathsConfig

    @classmethod
    def at(cls, root: str | os.PathLike, paths: PathsConfig) -> "Layout":
        return cls(Path(root), paths)

    def _p(self, base: str, *parts: str) -> Path:
        return self.root / base / Path(*parts) if parts else self.root / base

    # download@{dataset}
    def raw(self, dataset: str) -> Path:
        return self._p(self.paths.raw, dataset)

    def download_cache(self, dataset: str) -> Path:
        return self._p(self.paths.cache, dataset)

    def clips_table(self, dataset: str) -> Path:
        return self.raw(dataset) / "clips.parquet"

    # estimate@{dataset}
    def conditions(self, dataset: str) -> Path:
        return self._p(self.paths.conditions, dataset)

    def estimator_dir(self, dataset: str, estimator: str) -> Path:
        return self.conditions(dataset) / estimator

    # shard@{dataset}
    def shards(self, dataset: str) -> Path:
        return self._p(self.paths.shards, dataset)

    # train@{model}.{stage}
    def checkpoint(self, model: str, stage: str) -> Path:
        return self._p(self.paths.models, model, stage)

    def resume(self, model: str, stage: str) -> Path:
        """The stage's resume state (DVC keeps it across runs: `persist`)."""
        return self._p(self.paths.models, model, f"{stage}.resume")

    def training_log(self, model: str, stage: str) -> Path:
        """DVCLive's folder of the stage (per-step loss terms under plots/metrics) and its loss-curve picture."""
        return self._p(self.paths.training, f"{model}.{stage}")

    # sample@{sampler}
    def samples(self, sampler: str) -> Path:
        return self._p(self.paths.samples, sampler)

    # evaluate@{sampler}
    def metrics(self, sampler: str) -> Path:
        return self._p(self.paths.metrics, f"{sampler}.json")

    def plot(self, sampler: str) -> Path:
        """Per-frame values of the frame metrics (DVC plots data)."""
        return self._p(self.paths.metrics, "frames", f"{sampler}.json")

    def previews(self, sampler: str) -> Path:
        """A folder: `grid.png` (generated | ground truth | condition) and `clip.webm` of the first clip."""
        return self._p(self.paths.previews, sampler)

    # report@{table}
    def report(self, table: str) -> Path:
        return self._p(self.paths.reports, f"{table}.md")

    def report_html(self, table: str) -> Path:
        return self._p(self.paths.reports, f"{table}.html")

    # every stage: wall time and device, read by the reports
    def timing(self, stage: str) -> Path:
        return self._p(self.paths.metrics, "timings", f"{stage}.json")

