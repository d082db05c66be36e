"""What every stage entry shares: parse its one argument, load the validated config, log progress."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from humanvid.config import Config
from humanvid.paths import Layout

log = logging.getLogger("humanvid")


@dataclass(frozen=True)
class StageContext:
    kind: str  # download, estimate, ... report
    name: str  # the stage's item: a dataset, model, sampler or table name
    cfg: Config
    layout: Layout
    started: float  # time.time() at entry

    def record_timing(self, device: object = "cpu") -> None:
        """Write this stage's wall time and device for the reports (GPU-hours = wall time on CUDA)."""
        import json

        from humanvid.atomic import write_text

        seconds = time.time() - self.started
        on_gpu = str(device).startswith("cuda")
        doc = {"stage": f"{self.kind}@{self.name}", "seconds": round(seconds, 2), "device": str(device),
               "gpu_hours": round(seconds / 3600, 4) if on_gpu else 0.0,
               "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}  # fmt: skip
        write_text(self.layout.timing(f"{self.kind}@{self.name}"), json.dumps(doc, indent=2, sort_keys=True) + "\n")


def stage_context(kind: str, section: str, argv: list[str] | None, item: str = "name") -> StageContext:
    """Parse `<name>` (for training stages `<model>.<stage>`), load and validate params.yaml from the workspace
    (cwd) and check the name exists in `section`."""
    from humanvid.validate import load_config

    parser = argparse.ArgumentParser(prog=f"python -m tasks.{kind}", description=f"Run one {kind} stage.")
    parser.add_argument("name", metavar=item, help=f"a key of `{section}` in params.yaml" + (" and one of its stages" if "." in item else ""))
    parser.add_argument("--workspace", default=".", help="workspace holding params.yaml (default: cwd)")
    args = parser.parse_args(argv)
    started = time.time()
    _one_line_errors(f"{kind}@{args.name}")
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {kind}@{args.name} %(message)s", stream=sys.stderr, force=True)
    root = Path(args.workspace)
    cfg = load_config(root / "params.yaml")
    names = getattr(cfg, section)
    key, _, sub = args.name.rpartition(".") if "." in item else (args.name, "", "")
    if key not in names:
        raise SystemExit(f"params.yaml: {section}.{key}: not defined; known: {', '.join(names) or '(none)'}")
    if "." in item and sub not in names[key].stages:
        raise SystemExit(f"params.yaml: {section}.{key}.stages.{sub}: not defined; known: {', '.join(names[key].stages) or '(none)'}")
    os.environ["HUMANVID_WEIGHTS_LOCK"] = str(root / cfg.paths.weights_lock)  # every weight this stage loads is checked against it
    return StageContext(kind, args.name, cfg, Layout.at(root, cfg.paths), started)


def _one_line_errors(stage: str) -> None:
    """A full disk ends the stage with one line naming what was being written, not a traceback through the
    writer that met it (DVC prints that line as the stage's failure)."""
    from humanvid.disk import DiskFull

    previous = sys.excepthook

    def hook(kind, exc, tb):
        if isinstance(exc, DiskFull):
            print(f"{stage}: {exc}", file=sys.stderr)
        else:
            previous(kind, exc, tb)

    sys.excepthook = hook


def progress(message: str) -> None:
    log.info(message)
