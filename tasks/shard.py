"""shard@{dataset}: clips + conditions -> Parquet shards v1 with a global index."""

from __future__ import annotations

from humanvid.atomic import atomic_dir
from humanvid.datasets import read_clip_table
from humanvid.estimators.store import load_conditions, read_info, read_status
from humanvid.shards import write_shards
from humanvid.video import read_video
from tasks.common import progress, stage_context


class StageFailure(RuntimeError):
    """A clip that an earlier stage could not process."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage


def main(argv: list[str] | None = None) -> None:
    ctx = stage_context("shard", "datasets", argv)
    raw = ctx.layout.raw(ctx.name)
    clips = read_clip_table(ctx.layout.clips_table(ctx.name))
    est_dirs = {e: ctx.layout.estimator_dir(ctx.name, e) for e in ctx.cfg.estimators.get(ctx.name, [])}
    conditions, statuses = {}, {}
    for est, d in est_dirs.items():
        info = read_info(d)
        statuses[est] = read_status(d)
        for cond in info["provides"]:
            conditions[cond] = {"estimator": est, "ground_truth": bool(info["ground_truth"])}

    def read_conditions(clip):
        out = {}
        for est, d in est_dirs.items():
            status, error = statuses[est].get(clip.clip_id, ("failed", "not estimated"))
            if status != "ok":
                raise StageFailure("estimate", f"{est}: {error}")
            out.update(load_conditions(d, clip.clip_id))
        return out

    with atomic_dir(ctx.layout.shards(ctx.name)) as tmp:
        summary = write_shards(tmp, clips, lambda c: read_video(raw / c.source), read_conditions, conditions,
                               ctx.cfg.datasets[ctx.name].shard, progress)  # fmt: skip
        if summary.clips == 0:
            raise SystemExit(f"dataset {ctx.name!r}: no clip could be sharded: {summary.failed}")
    progress(f"{summary.clips} clips, {summary.rows} rows in {len(summary.files)} files; {len(summary.failed)} clips failed")
    ctx.record_timing("cpu")


if __name__ == "__main__":
    main()
