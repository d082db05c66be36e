"""finetune@{model}: the video stage, temporal layers only (GPU stage)."""

from __future__ import annotations

from humanvid.training.stages import finetune
from tasks.common import progress, run_training_stage


def main(argv: list[str] | None = None) -> None:
    def run(ctx, cfg, out, device, dtype):
        finetune(cfg, ctx.layout.shards(cfg.data), ctx.layout.checkpoint(ctx.name, "pretrain"), out, device, dtype, progress,
                 ctx.cfg.weights.overrides)

    run_training_stage("finetune", argv, run)


if __name__ == "__main__":
    main()
