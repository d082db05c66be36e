"""pretrain@{model}: the image stage (GPU stage)."""

from __future__ import annotations

from humanvid.atomic import atomic_dir
from humanvid.device import resolve_device, resolve_dtype
from humanvid.training.stages import pretrain
from tasks.common import progress, stage_context


def main(argv: list[str] | None = None) -> None:
    ctx = stage_context("pretrain", "models", argv)
    cfg = ctx.cfg.models[ctx.name]
    device = resolve_device(cfg.run.device)
    dtype = resolve_dtype(cfg.run.dtype, device)
    progress(f"{cfg.arch.method}/{cfg.arch.flavor} at {cfg.arch.resolution}px on {device} ({dtype})")
    with atomic_dir(ctx.layout.checkpoint(ctx.name, "pretrain")) as tmp:
        pretrain(cfg, ctx.layout.shards(cfg.data), tmp, device, dtype, progress)


if __name__ == "__main__":
    main()
