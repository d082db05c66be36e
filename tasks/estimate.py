"""estimate@{dataset}: run the dataset's estimators over its clips; one failed clip is recorded, not fatal."""

from __future__ import annotations

from humanvid.atomic import atomic_dir
from humanvid.datasets import read_clip_table
from humanvid.device import resolve_device, resolve_dtype
from humanvid.disk import reraise_if_disk_full
from humanvid.estimators import ESTIMATORS, check_conditions
from humanvid.estimators.store import load_conditions, save_conditions, write_info, write_status
from humanvid.video import read_video
from tasks.common import progress, stage_context


def main(argv: list[str] | None = None) -> None:
    ctx = stage_context("estimate", "estimators", argv)
    raw = ctx.layout.raw(ctx.name)
    clips = [c for c in read_clip_table(ctx.layout.clips_table(ctx.name)) if c.ok]
    device = resolve_device("auto")
    dtype = resolve_dtype("auto", device)
    with atomic_dir(ctx.layout.conditions(ctx.name)) as tmp:
        made_by: dict[str, str] = {}  # condition -> the estimator (run earlier in this stage) that wrote it
        for est_name in ctx.cfg.estimators[ctx.name]:
            cls = ESTIMATORS.get(est_name)
            sources = {cond: made_by[cond] for cond in cls.needs}  # the config check put them earlier in the list
            estimator = cls(device, dtype, raw, overrides=ctx.cfg.weights.overrides)
            out_dir = tmp / est_name
            out_dir.mkdir()
            status = []
            for n, clip in enumerate(clips, 1):
                try:
                    frames = read_video(raw / clip.source)
                    if sources:
                        inputs = {c: _input(tmp / src, clip.clip_id, c, src) for c, src in sources.items()}
                        out = estimator(frames, clip, inputs=inputs)
                    else:
                        out = estimator(frames, clip)
                    check_conditions(out, frames, f"{est_name} on clip {clip.clip_id}")
                    save_conditions(out_dir, clip.clip_id, out)
                    status.append({"clip_id": clip.clip_id, "status": "ok", "error": ""})
                except Exception as exc:  # recorded per clip; the rest completes
                    reraise_if_disk_full(exc)
                    status.append({"clip_id": clip.clip_id, "status": "failed", "error": f"{type(exc).__name__}: {exc}"})
                    progress(f"{est_name}: clip {n}/{len(clips)} {clip.clip_id} FAILED: {exc}")
                    continue
                progress(f"{est_name}: clip {n}/{len(clips)} {clip.clip_id} ok")
            write_status(out_dir, status)
            extra = {"depth_kind": cls.depth_kind} if hasattr(cls, "depth_kind") else {}  # relative inverse depth or as stored
            write_info(out_dir, {"estimator": est_name, "ground_truth": cls.is_ground_truth, "provides": list(cls.provides),
                                 "device": str(device), **extra})  # fmt: skip
            failed = sum(s["status"] != "ok" for s in status)
            if failed == len(clips):
                raise SystemExit(f"estimator {est_name!r} failed on every clip of {ctx.name!r}")
            progress(f"{est_name}: {len(clips) - failed}/{len(clips)} clips ok")
            made_by.update({cond: est_name for cond in cls.provides})
    ctx.record_timing(device)


def _input(estimator_dir, clip_id: str, condition: str, source: str):
    """One condition an earlier estimator of this stage wrote for the clip."""
    try:
        return load_conditions(estimator_dir, clip_id)[condition]
    except FileNotFoundError:
        raise ValueError(f"needs {condition} from {source}, which failed on this clip") from None


if __name__ == "__main__":
    main()
