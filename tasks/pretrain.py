"""pretrain@{model}: the image stage (GPU stage)."""

from __future__ import annotations

from humanvid.training.stages import pretrain
from tasks.common import progress, run_training_stage


def main(argv: list[str] | None = None) -> None:
    run_training_stage(
        "pretrain", argv, lambda ctx, cfg, out, device, dtype: pretrain(cfg, ctx.layout.shards(cfg.data), out, device, dtype, progress, ctx.cfg.weights.overrides)
    )


if __name__ == "__main__":
    main()
