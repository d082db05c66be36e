"""train@{model}.{stage}: one training stage of a model (GPU stage). Under `accelerate launch` (run.gpus > 1)
every process runs this; the main one writes the checkpoint, the training log and the timing."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from tasks.common import progress, stage_context


class LiveMonitor:
    """Per-step loss terms and learning rate through DVCLive (`dvc plots show` draws them), and a loss-curve
    picture for the report when the stage ends."""

    def __init__(self, folder: Path, title: str) -> None:
        from dvclive import Live  # DVC's logger package; the library only sees the Monitor interface

        self.folder, self.title = folder, title
        self.live = Live(str(folder), save_dvc_exp=False, dvcyaml=None, report=None)

    def log(self, step: int, terms: dict[str, float], lr: float) -> None:
        self.live.step = step
        for name, value in terms.items():
            self.live.log_metric(f"train/{name}", value)
        self.live.log_metric("train/lr", lr)
        self.live.next_step()

    def on_start(self, history: dict[str, list[float]]) -> None:
        """A resumed stage: the steps before the resume (their learning rate was not kept)."""
        for i in range(len(history.get("loss", []))):
            self.log(i + 1, {k: v[i] for k, v in history.items()}, float("nan"))

    def on_step(self, step: int, terms: dict[str, float], lr: float) -> None:
        self.log(step, terms, lr)

    def on_end(self, result) -> None:
        from humanvid.atomic import write_text
        from humanvid.reports.curves import loss_curves_svg

        self.live.end()
        write_text(self.folder / "loss.svg", loss_curves_svg(result.terms, self.title))


def main(argv: list[str] | None = None) -> None:
    from humanvid.atomic import atomic_dir
    from humanvid.training.run import placement, run_stage

    ctx = stage_context("train", "models", argv, item="model.stage")
    model, stage = ctx.name.rsplit(".", 1)
    cfg = ctx.cfg.models[model]
    where = placement(cfg.run)
    main_process = where.accelerator.is_main_process
    say = progress if main_process else (lambda _m: None)
    say(f"{cfg.arch.method}/{cfg.arch.flavor} at {cfg.arch.resolution}px, stage {stage}, on {where.device} "
        f"(frozen {str(where.weight_dtype).removeprefix('torch.')}, autocast {where.mixed_precision}, {where.accelerator.num_processes} process(es))")  # fmt: skip
    log_dir = ctx.layout.training_log(model, stage)
    resume_dir = ctx.layout.resume(model, stage)
    resume_dir.mkdir(parents=True, exist_ok=True)  # not a DVC output: DVC never deletes it, so a killed stage resumes
    with atomic_dir(log_dir) if main_process else contextlib.nullcontext(log_dir) as live_dir:
        monitor = LiveMonitor(Path(live_dir), f"{model} · {stage}") if main_process else None
        with atomic_dir(ctx.layout.checkpoint(model, stage)) if main_process else contextlib.nullcontext(None) as out:
            result = run_stage(ctx.cfg, ctx.layout, model, stage, out, where, say, monitor)
    if main_process:
        say(f"{model}.{stage}: {result.steps} steps, final loss {result.final_loss:.4f} ({json.dumps({k: round(v[-1], 5) for k, v in result.terms.items()})})")
        ctx.record_timing(where.device)


if __name__ == "__main__":
    main()
