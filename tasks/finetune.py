"""finetune@{model}: the video stage, temporal layers only (GPU stage)."""

from __future__ import annotations

from humanvid.atomic import atomic_dir
from humanvid.device import resolve_device, resolve_dtype
from humanvid.training.stages import finetune
from tasks.common import progress, stage_context


def main(argv: list[str] | None = None) -> None:
    ctx = stage_context("finetune", "models", argv)
    cfg = ctx.cfg.models[ctx.name]
    device = resolve_device(cfg.run.device)
    dtype = resolve_dtype(cfg.run.dtype, device)
    progress(f"{cfg.arch.method}/{cfg.arch.flavor} at {cfg.arch.resolution}px on {device} ({dtype})")
    with atomic_dir(ctx.layout.checkpoint(ctx.name, "finetune")) as tmp:
        finetune(cfg, ctx.layout.shards(cfg.data), ctx.layout.checkpoint(ctx.name, "pretrain"), tmp, device, dtype, progress)


if __name__ == "__main__":
    main()
