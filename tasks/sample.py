"""sample@{sampler}: DDIM over the test clips with a sliding-window fuser; every output per clip (GPU stage)."""

from __future__ import annotations

from humanvid.atomic import atomic_dir
from humanvid.device import pin_float32_precision, resolve_device, resolve_dtype
from humanvid.models import METHODS
from humanvid.pipeline import final_stage
from humanvid.sampling.clips import sample_clips
from humanvid.shards import ShardReader
from tasks.common import progress, stage_context


def main(argv: list[str] | None = None) -> None:
    ctx = stage_context("sample", "samplers", argv)
    cfg = ctx.cfg.samplers[ctx.name]
    arch = ctx.cfg.models[cfg.model].arch
    device = resolve_device(cfg.device)
    dtype = resolve_dtype(cfg.dtype, device)
    pin_float32_precision(dtype)
    spec = METHODS.get(arch.method)
    last = final_stage(ctx.cfg, cfg.model)
    if last is None:  # a released flavor: the released weights, by name
        model = spec.load().create(arch.flavor, spec.parse_options(arch.options), resolution=arch.resolution, seed=0, device=device,
                                   weight_dtype=dtype, overrides=dict(ctx.cfg.weights.overrides))  # fmt: skip
    else:
        model = spec.load().from_checkpoint(ctx.layout.checkpoint(cfg.model, last), device=device, weight_dtype=dtype)
    model.prepare_sampling(cfg, overrides=dict(ctx.cfg.weights.overrides))
    progress(f"model {cfg.model} on {device} ({dtype}); {cfg.steps} DDIM steps, window {cfg.window}, overlap {cfg.overlap}")
    with atomic_dir(ctx.layout.samples(ctx.name)) as tmp:
        sample_clips(model, ShardReader(ctx.layout.shards(cfg.data)).restricted(cfg.identities), cfg, tmp, progress)
    ctx.record_timing(device)


if __name__ == "__main__":
    main()
