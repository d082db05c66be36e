"""download@{dataset}: a dataset plugin writes canonical clips (mp4 + clips.parquet)."""

from __future__ import annotations

from humanvid.atomic import atomic_dir
from humanvid.datasets import DATASETS, write_clip_table
from humanvid.datasets.clips import check_clip_ids
from tasks.common import progress, stage_context


def main(argv: list[str] | None = None) -> None:
    ctx = stage_context("download", "datasets", argv)
    ds = ctx.cfg.datasets[ctx.name]
    plugin = DATASETS.get(ds.plugin)(ctx.name, ds.options)
    with atomic_dir(ctx.layout.raw(ctx.name)) as tmp:
        clips = plugin.ingest(tmp, progress, ctx.layout.download_cache(ctx.name))
        try:
            check_clip_ids(clips, ctx.name)  # nothing is published when two clips wrote one file
        except ValueError as exc:
            raise SystemExit(str(exc)) from None
        write_clip_table(tmp / "clips.parquet", clips)
        ok = sum(c.ok for c in clips)
        for c in clips:
            if not c.ok:
                progress(f"clip {c.clip_id} FAILED: {c.error}")
        if ok == 0:
            raise SystemExit(f"dataset {ctx.name!r}: no clip could be ingested ({len(clips)} failed)")
    progress(f"{ok}/{len(clips)} clips ok -> {ctx.layout.raw(ctx.name)}")
    ctx.record_timing("cpu")


if __name__ == "__main__":
    main()
