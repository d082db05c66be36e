"""The Prefect flows: `reproduce(table)` runs exactly the stale stages of a table, one `dvc repro` at a time;
`stage(name)` is what a worker runs for one stage."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.workspace import WEIGHTS_ARRIVED, cache_disk_full, is_gpu_stage, open_workspace, ordered_stages, stage_status, table_stages


class StageFailed(RuntimeError):
    """A stage's command exited non-zero."""


def stage_env() -> dict[str, str]:
    # dvc.yaml says `python -m tasks...`: make that the interpreter running humanvid, venv or not.
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def repro_single(root: Path, stage: str, force: bool = False, echo: Callable[[str], None] | None = None) -> float:
    """`dvc repro --single-item <stage>` (through `flows.dvc_stage`: DVC runs the command, checks outputs, writes
    dvc.lock; none of its command-line hints). -> seconds. `force` runs it although DVC sees no change (weights that
    arrived outside the workspace). `echo` receives each complete line the stage prints (Prefect's log); the
    terminal still gets everything, a progress bar included (the stage writes to a pseudo-terminal when ours is one)."""
    start, started_at = time.perf_counter(), time.time()
    cmd = [sys.executable, "-m", "flows.dvc_stage", *(["--force"] if force else []), stage]
    returncode = run_teed(cmd, root, stage_env(), echo)
    if returncode != 0:
        if full := cache_disk_full(root, stage, started_at):
            raise StageFailed(full)
        raise StageFailed(f"stage {stage} failed (exit code {returncode}); its output is above")
    return time.perf_counter() - start


def run_teed(cmd: list[str], cwd: Path, env: dict[str, str], echo: Callable[[str], None] | None) -> int:
    """Run `cmd`, its output on our stdout as it comes and, line by line, to `echo` (a carriage-return redraw
    keeps only its last state). On a terminal the child gets a pseudo-terminal, so its progress bars stay bars."""
    if echo is None:
        return subprocess.run(cmd, cwd=cwd, env=env).returncode
    use_pty = sys.stdout.isatty() and os.name == "posix"
    if use_pty:
        import pty

        master, slave = pty.openpty()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, close_fds=True)
        os.close(slave)
        read = lambda: _read_pty(master)  # noqa: E731
    else:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        read = lambda: proc.stdout.read1(65536)  # noqa: E731
    pending = b""
    try:
        while chunk := read():
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                text = line.decode(errors="replace").rsplit("\r", 1)[-1].rstrip()
                if text:
                    echo(text)
    finally:
        if use_pty:
            os.close(master)
    if tail := pending.decode(errors="replace").rsplit("\r", 1)[-1].strip():
        echo(tail)
    return proc.wait()


def _read_pty(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO: the child closed its side
        return b""


# DVC is the cache: Prefect's own task cache and result persistence stay off.
@task(name="stage", cache_policy=NO_CACHE, persist_result=False)
def run_stage(root: str, stage: str, reasons: list[str], position: str = "") -> dict:
    logger = get_run_logger()
    logger.info("%s%s (%s)", f"stage {position}: " if position else "running ", stage, "; ".join(reasons) or "stale")
    seconds = repro_single(Path(root), stage, force=any(r.startswith(WEIGHTS_ARRIVED) for r in reasons), echo=_stage_log())
    logger.info("%s done in %.1f s", stage, seconds)
    return {"stage": stage, "seconds": round(seconds, 2), "reasons": reasons}


def _stage_log() -> Callable[[str], None]:
    """The stage's output lines into this task or flow run's Prefect log through Prefect's API handler only: the
    terminal has them already, so they skip the console handler."""
    import logging

    from prefect.logging.handlers import APILogHandler

    run_logger = get_run_logger()
    api_only = logging.getLogger("humanvid.stage_output")
    api_only.propagate = False
    api_only.setLevel(logging.INFO)
    for handler in logging.getLogger("prefect.task_runs").handlers + logging.getLogger("prefect.flow_runs").handlers:
        if isinstance(handler, APILogHandler) and handler not in api_only.handlers:
            api_only.addHandler(handler)
    extra = dict(getattr(run_logger, "extra", {}))
    return lambda line: api_only.info(line, extra=extra)


DISPATCH_ATTEMPTS = 3
"""A dispatched stage whose flow run crashed or failed (a worker killed mid-stage) is sent again, to any worker
of its pool, up to this many times in all."""


_WORKSPACE = threading.Lock()
"""One DVC operation on the orchestrator's workspace at a time (DVC keeps one lock per workspace); a dispatched
stage holds it only to publish and to restore, not while a worker runs it."""


def on_worker(root: Path, stage: str, pool: str, remote: str, logger) -> dict:
    """One stage on a worker of `pool` (flows.dispatch): published, run in the worker's own clone, pushed with the
    run cache, restored here. -> {"flow_run": id}."""
    from prefect.deployments import run_deployment

    from flows.dispatch import deployment_name, drop_snapshot, restore, snapshot

    with _WORKSPACE:
        ref = snapshot(root, stage)
    try:
        for attempt in range(1, DISPATCH_ATTEMPTS + 1):
            run = run_deployment(deployment_name(pool), parameters={"repo": str(root), "ref": ref, "stage": stage, "remote": remote},
                                 timeout=None, tags=[pool], flow_run_name=f"{stage} (attempt {attempt})")  # fmt: skip
            if run.state is not None and run.state.is_completed():
                break
            logger.warning("%s: flow run %s ended %s on pool %s (attempt %d of %d): %s", stage, run.id, run.state and run.state.type.value,
                           pool, attempt, DISPATCH_ATTEMPTS, run.state and run.state.message)  # fmt: skip
        else:
            raise StageFailed(f"stage {stage} did not complete on pool {pool} in {DISPATCH_ATTEMPTS} attempts; the worker's log is in Prefect")
    finally:
        drop_snapshot(root, stage)
    with _WORKSPACE:
        restore(root, stage)
    return {"flow_run": str(run.id)}


@task(name="stage", cache_policy=NO_CACHE, persist_result=False)
def pools_stage(root: str, stage: str, position: str, pool: str | None, remote: str) -> dict | None:
    """With `--dispatch pools`: a stage once the stages it depends on are done — checked against DVC then (None
    when fresh), sent to a worker of `pool`, or (`pool` None) run here and pushed for the workers."""
    from flows.dispatch import push

    logger = get_run_logger()
    with _WORKSPACE:
        reasons = stage_status(Path(root), [stage]).get(stage)
    if reasons is None:
        logger.info("stage %s: %s is up to date", position, stage)
        return None
    logger.info("stage %s: %s (%s)%s", position, stage, "; ".join(reasons) or "stale", f" -> pool {pool}" if pool else "")
    start = time.perf_counter()
    if pool is not None:
        record = on_worker(Path(root), stage, pool, remote, logger)
    else:
        with _WORKSPACE:
            repro_single(Path(root), stage, force=any(r.startswith(WEIGHTS_ARRIVED) for r in reasons), echo=_stage_log())
            push(Path(root), stage)  # a worker's clone pulls it as an input
        record = {}
    seconds = time.perf_counter() - start
    logger.info("%s done %sin %.1f s", stage, f"on pool {pool} " if pool else "", seconds)
    return {"stage": stage, "seconds": round(seconds, 2), "reasons": reasons, "pool": pool, **record}


@flow(name="remote-stage", persist_result=False)
def remote_stage(repo: str, ref: str, stage: str, remote: str | None = None) -> dict:
    """What a worker runs: one stage in a scratch clone of the published workspace (flows.dispatch.run_in_clone)."""
    import socket

    from flows.dispatch import run_in_clone

    get_run_logger().info("%s on %s (CUDA_VISIBLE_DEVICES=%s), in a clone of %s at %s", stage, socket.gethostname(),
                          os.environ.get("CUDA_VISIBLE_DEVICES", "unset"), repo, ref)  # fmt: skip
    return run_in_clone(repo, ref, stage, remote, echo=_stage_log())


@flow(name="reproduce", persist_result=False, log_prints=True)
def reproduce(table: str = "demo", workspace: str = ".", dispatch: str = "local") -> list[dict]:
    """Run, in dependency order, each stage of `table` that DVC finds stale at the moment it is reached.

    A stage downstream of one that re-ran is re-checked after it, so it runs only if its inputs changed.
    `dispatch`: `local` runs every stage here; `pools` sends GPU stages to the `gpu` work pool's workers
    (flows.dispatch) and runs CPU stages here, pushing their outputs to the DVC remote for the workers.
    Returns one record per stage that ran.
    """
    logger = get_run_logger()
    root, cfg = open_workspace(workspace)
    names = ordered_stages(root, table_stages(cfg, table, root))
    if dispatch == "pools":
        ran = _reproduce_on_pools(root, cfg, names)
        logger.info("table %s: %d of %d stages ran: %s", table, len(ran), len(names), ", ".join(r["stage"] for r in ran) or "none")
        _table_artifact(root, cfg, table)
        return ran
    ran, start = [], time.perf_counter()
    for k, name in enumerate(names, 1):
        reasons = stage_status(root, [name], cfg).get(name)
        position = f"{k} of {len(names)}, {time.perf_counter() - start:.0f} s elapsed"
        if reasons is None:
            logger.info("stage %s: %s is up to date", position, name)
            continue
        tags = ["gpu"] if is_gpu_stage(cfg, name) else ["cpu"]
        ran.append(run_stage.with_options(task_run_name=name, tags=tags)(str(root), name, reasons, position))
    logger.info("table %s: %d of %d stages ran in %.0f s: %s", table, len(ran), len(names), time.perf_counter() - start,
                ", ".join(r["stage"] for r in ran) or "none")  # fmt: skip
    _table_artifact(root, cfg, table)
    return ran


def _reproduce_on_pools(root: Path, cfg, names: list[str]) -> list[dict]:
    """Every stage submitted at once, each waiting for the stages of this table it depends on: independent
    branches (the models of an ablation, the samplers of a model) run concurrently, each GPU stage on its own
    worker; each is checked against DVC when its inputs are done."""
    from flows.dispatch import default_remote
    from flows.workspace import upstream_stages

    remote = default_remote(root)
    upstream = upstream_stages(root, names)
    futures = {}
    for k, name in enumerate(names, 1):
        gpu = is_gpu_stage(cfg, name)
        task_ = pools_stage.with_options(task_run_name=name, tags=["gpu" if gpu else "cpu"])
        futures[name] = task_.submit(str(root), name, f"{k} of {len(names)}", "gpu" if gpu else None, remote,
                                     wait_for=[futures[u] for u in upstream[name]])  # fmt: skip
    return [r for r in (futures[n].result() for n in names) if r is not None]


def _table_artifact(root: Path, cfg, table: str) -> None:
    """The finished report as a markdown artifact of the flow run (Prefect's UI shows it beside the run)."""
    from prefect.artifacts import create_markdown_artifact

    report = root / cfg.paths.reports / f"{table}.md"
    if report.is_file():
        key = "".join(c if c.isalnum() else "-" for c in f"table-{table}".lower())  # artifact keys: lowercase, digits, dashes
        create_markdown_artifact(report.read_text(), key=key, description=f"humanvid table {table} ({report})")


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
