"""sample@{sampler}: DDIM over the test clips with a sliding-window fuser; one mp4 per clip (GPU stage)."""

from __future__ import annotations

from humanvid.atomic import atomic_dir
from humanvid.device import resolve_device, resolve_dtype
from humanvid.models import METHODS
from humanvid.sampling.clips import sample_clips
from humanvid.shards import ShardReader
from tasks.common import progress, stage_context


def main(argv: list[str] | None = None) -> None:
    ctx = stage_context("sample", "samplers", argv)
    cfg = ctx.cfg.samplers[ctx.name]
    model_cfg = ctx.cfg.models[cfg.model]
    device = resolve_device(cfg.device)
    dtype = resolve_dtype(cfg.dtype, device)
    model = METHODS.get(model_cfg.arch.method).load().load(ctx.layout.checkpoint(cfg.model, "finetune"), device, dtype)
    progress(f"model {cfg.model} on {device} ({dtype}); {cfg.steps} DDIM steps, window {cfg.window}, overlap {cfg.overlap}")
    with atomic_dir(ctx.layout.samples(ctx.name)) as tmp:
        sample_clips(model, ShardReader(ctx.layout.shards(cfg.data)), cfg, tmp, progress)
    ctx.record_timing(device)


if __name__ == "__main__":
    main()
