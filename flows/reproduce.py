"""The Prefect flows: `reproduce(table)` runs exactly the stale stages of a table, one `dvc repro` at a time;
`stage(name)` is what a worker runs for one stage."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.workspace import WEIGHTS_ARRIVED, cache_disk_full, is_gpu_stage, open_workspace, ordered_stages, stage_status, table_stages


class StageFailed(RuntimeError):
    """A stage's command exited non-zero."""


def _stage_env() -> dict[str, str]:
    # dvc.yaml says `python -m tasks...`: make that the interpreter running humanvid, venv or not.
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def repro_single(root: Path, stage: str, force: bool = False) -> float:
    """`dvc repro --single-item <stage>`: DVC runs the command, checks outputs, writes dvc.lock. -> seconds.
    `force` runs it although DVC sees no change (weights that arrived outside the workspace)."""
    start, started_at = time.perf_counter(), time.time()
    cmd = [sys.executable, "-m", "dvc", "repro", "--single-item", *(["--force"] if force else []), stage]
    proc = subprocess.run(cmd, cwd=root, env=_stage_env())
    if proc.returncode != 0:
        if full := cache_disk_full(root, stage, started_at):
            raise StageFailed(full)
        raise StageFailed(f"stage {stage} failed (exit code {proc.returncode}); its output is above")
    return time.perf_counter() - start


# DVC is the cache: Prefect's own task cache and result persistence stay off.
@task(name="stage", cache_policy=NO_CACHE, persist_result=False)
def run_stage(root: str, stage: str, reasons: list[str]) -> dict:
    logger = get_run_logger()
    logger.info("running %s (%s)", stage, "; ".join(reasons) or "stale")
    seconds = repro_single(Path(root), stage, force=any(r.startswith(WEIGHTS_ARRIVED) for r in reasons))
    logger.info("%s done in %.1f s", stage, seconds)
    return {"stage": stage, "seconds": round(seconds, 2), "reasons": reasons}


@flow(name="reproduce", persist_result=False, log_prints=True)
def reproduce(table: str = "demo", workspace: str = ".") -> list[dict]:
    """Run, in dependency order, each stage of `table` that DVC finds stale at the moment it is reached.

    A stage downstream of one that re-ran is re-checked after it, so it runs only if its inputs changed.
    Returns one record per stage that ran.
    """
    logger = get_run_logger()
    root, cfg = open_workspace(workspace)
    names = ordered_stages(root, table_stages(cfg, table, root))
    ran = []
    for name in names:
        reasons = stage_status(root, [name], cfg).get(name)
        if reasons is None:
            logger.info("%s is up to date", name)
            continue
        tags = ["gpu"] if is_gpu_stage(cfg, name) else ["cpu"]
        ran.append(run_stage.with_options(task_run_name=name, tags=tags)(str(root), name, reasons))
    logger.info("table %s: %d of %d stages ran: %s", table, len(ran), len(names), ", ".join(r["stage"] for r in ran) or "none")
    return ran


@flow(name="stage", persist_result=False)
def stage(name: str, workspace: str = ".") -> dict | None:
    """One stage, as a worker runs it: only if DVC finds it stale."""
    root, _ = open_workspace(workspace)
    ordered_stages(root, [name])  # an unknown stage name is a clear error
    reasons = stage_status(root, [name]).get(name)
    if reasons is None:
        get_run_logger().info("%s is up to date", name)
        return None
    return run_stage.with_options(task_run_name=name)(str(root), name, reasons)
