"""evaluate@{sampler}: per-clip and overall metrics -> reports/metrics/{sampler}.json, plus a preview image."""

from __future__ import annotations

import json

from PIL import Image

from humanvid.atomic import atomic_file, write_text
from humanvid.metrics.evaluate import evaluate_samples, preview_image
from humanvid.shards import ShardReader
from tasks.common import progress, stage_context


def main(argv: list[str] | None = None) -> None:
    ctx = stage_context("evaluate", "samplers", argv)
    cfg = ctx.cfg.samplers[ctx.name]
    doc, preview = evaluate_samples(ctx.layout.samples(ctx.name), ShardReader(ctx.layout.shards(cfg.data)))
    doc = {"sampler": ctx.name, "model": cfg.model, "data": cfg.data, **doc}
    if preview:
        with atomic_file(ctx.layout.preview(ctx.name)) as tmp:
            Image.fromarray(preview_image(preview)).save(tmp, format="PNG")
    write_text(ctx.layout.metrics(ctx.name), json.dumps(doc, indent=2, sort_keys=True) + "\n")
    progress(f"{doc['frames']} frames: " + ", ".join(f"{k}={v:.4f}" for k, v in doc["overall"].items()))


if __name__ == "__main__":
    main()
