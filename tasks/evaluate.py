"""evaluate@{sampler}: per-clip and overall metrics in every protocol -> reports/metrics/{sampler}.json,
plus a preview folder (image grid and short video)."""

from __future__ import annotations

import json

from PIL import Image

from humanvid.atomic import atomic_dir, write_text
from humanvid.device import pin_float32_precision, resolve_device, resolve_dtype
from humanvid.metrics.evaluate import evaluate_samples, preview_image, preview_video
from humanvid.shards import ShardReader
from humanvid.video import write_webm
from tasks.common import progress, stage_context


def main(argv: list[str] | None = None) -> None:
    ctx = stage_context("evaluate", "samplers", argv)
    cfg = ctx.cfg.samplers[ctx.name]
    ev = ctx.cfg.evaluation
    device = resolve_device(ev.device)
    dtype = resolve_dtype(ev.dtype, device)
    pin_float32_precision(dtype)
    doc, preview, per_frame = evaluate_samples(ctx.layout.samples(ctx.name), ShardReader(ctx.layout.shards(cfg.data)), ev,
                                    device, dtype, ctx.cfg.weights.overrides, progress)  # fmt: skip
    doc = {"sampler": ctx.name, "model": cfg.model, "data": cfg.data, **doc}
    with atomic_dir(ctx.layout.previews(ctx.name)) as tmp:
        if preview:
            Image.fromarray(preview_image(preview)).save(tmp / "grid.png", format="PNG")
            write_webm(tmp / "clip.webm", preview_video(preview), fps=8)
    write_text(ctx.layout.metrics(ctx.name), json.dumps(doc, indent=2, sort_keys=True, allow_nan=True) + "\n")
    write_text(ctx.layout.plot(ctx.name), json.dumps(per_frame, indent=1) + "\n")
    for metric, why in sorted(doc["needs"].items()):
        progress(f"{metric}: not computed, needs " + "; ".join(f"{p}: {w}" for p, w in why.items()))
    progress(f"{doc['frames']} frames: " + ", ".join(f"{k}={v:.4g}" for k, v in doc["overall"].items()))
    ctx.record_timing(device)


if __name__ == "__main__":
    main()
