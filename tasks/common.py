"""What every stage entry shares: parse its one argument, load the validated config, log progress."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from humanvid.config import Config, load_config
from humanvid.paths import Layout

log = logging.getLogger("humanvid")


@dataclass(frozen=True)
class StageContext:
    name: str  # the stage's item: a dataset, model, sampler or table name
    cfg: Config
    layout: Layout


def stage_context(kind: str, section: str, argv: list[str] | None) -> StageContext:
    """Parse `<name>`, load params.yaml from the workspace (cwd) and check the name exists in `section`."""
    parser = argparse.ArgumentParser(prog=f"python -m tasks.{kind}", description=f"Run one {kind} stage.")
    parser.add_argument("name", help=f"a key of `{section}` in params.yaml")
    parser.add_argument("--workspace", default=".", help="workspace holding params.yaml (default: cwd)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {kind}@{args.name} %(message)s", stream=sys.stderr, force=True)
    root = Path(args.workspace)
    cfg = load_config(root / "params.yaml")
    names = getattr(cfg, section)
    if args.name not in names:
        raise SystemExit(f"params.yaml: {section}.{args.name}: not defined; known: {', '.join(names) or '(none)'}")
    return StageContext(args.name, cfg, Layout.at(root, cfg.paths))


def progress(message: str) -> None:
    log.info(message)


def run_training_stage(kind: str, argv: list[str] | None, train_fn) -> None:
    """pretrain@m / finetune@m: resolve the device once, then `train_fn(ctx, cfg, out_dir, device, dtype)`
    writes the checkpoint into a scratch dir published atomically."""
    from humanvid.atomic import atomic_dir
    from humanvid.device import resolve_device, resolve_dtype

    ctx = stage_context(kind, "models", argv)
    cfg = ctx.cfg.models[ctx.name]
    device = resolve_device(cfg.run.device)
    dtype = resolve_dtype(cfg.run.dtype, device)
    progress(f"{cfg.arch.method}/{cfg.arch.flavor} at {cfg.arch.resolution}px on {device} ({dtype})")
    with atomic_dir(ctx.layout.checkpoint(ctx.name, kind)) as tmp:
        train_fn(ctx, cfg, tmp, device, dtype)
