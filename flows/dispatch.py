"""Stages on workers, with Prefect's and DVC's own machinery.

- Pools: Prefect work pools `cpu` and `gpu` of type `process` (another pool type later needs no code change here).
- Deployments: the `remote-stage` flow, deployed to each pool from this project's folder (`flow.from_source`).
- Workers: `prefect worker start --pool P --limit 1` processes, one per GPU (`CUDA_VISIBLE_DEVICES`), so a GPU never
  runs two stages; `humanvid worker` starts them.
- Each stage in its own workspace: DVC allows one `dvc repro` per workspace, so the orchestrator publishes the
  workspace as the worker must see it — a commit of HEAD plus the changes to tracked files and the DVC files, made
  with a temporary index and kept under `refs/humanvid/dispatch/…` — and the worker clones that commit into a scratch
  folder, pulls the stage's inputs from the DVC remote, runs the stage, and pushes its outputs with the run cache
  (`dvc push --run-cache`). The orchestrator then takes the result from DVC's run cache (`dvc fetch --run-cache`,
  `flows.dvc_stage --restore`): nothing runs twice, and a worker that died before its push published nothing.

Module-level code imports no Prefect: the CLI imports it to start workers.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

POOLS = ("cpu", "gpu")
REMOTE_FLOW = "remote-stage"
DISPATCH_REFS = "refs/humanvid/dispatch"
PROJECT = Path(__file__).resolve().parent.parent  # where the flows are deployed from


def deployment_name(pool: str) -> str:
    return f"{REMOTE_FLOW}/{pool}"


def _git(root: Path, *args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=root, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} in {root}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip()


def _ref(stage: str) -> str:
    return f"{DISPATCH_REFS}/{re.sub(r'[^A-Za-z0-9._-]', '-', stage)}"


def snapshot(root: Path, stage: str) -> str:
    """Publish the workspace as a worker must see it for `stage`: HEAD plus every change to tracked files and the DVC
    files (dvc.lock, pipeline.yaml, params.yaml), committed with a temporary index — the user's index, branches and
    working tree are untouched — under a ref of its own. -> the ref."""
    if not (root / ".git").exists():
        raise RuntimeError(f"{root}: dispatching stages to workers needs the workspace in git (workers clone it)")
    env = dict(os.environ)
    for key, value in (("GIT_AUTHOR_NAME", "humanvid"), ("GIT_AUTHOR_EMAIL", "humanvid@localhost"),
                       ("GIT_COMMITTER_NAME", "humanvid"), ("GIT_COMMITTER_EMAIL", "humanvid@localhost")):  # fmt: skip
        env.setdefault(key, value)
    with tempfile.TemporaryDirectory(prefix="humanvid-index-") as tmp:
        env["GIT_INDEX_FILE"] = str(Path(tmp) / "index")
        _git(root, "read-tree", "HEAD", env=env)
        _git(root, "add", "-u", env=env)
        present = [f for f in ("dvc.lock", "pipeline.yaml", "params.yaml", "dvc.yaml") if (root / f).is_file()]
        _git(root, "add", "-f", "--", *present, env=env)
        tree = _git(root, "write-tree", env=env)
        commit = _git(root, "commit-tree", tree, "-p", "HEAD", "-m", f"humanvid: the workspace for {stage}", env=env)
    ref = _ref(stage)
    _git(root, "update-ref", ref, commit)
    return ref


def drop_snapshot(root: Path, stage: str) -> None:
    subprocess.run(["git", "update-ref", "-d", _ref(stage)], cwd=root, capture_output=True)


def _clone_env(scratch: Path) -> dict[str, str]:
    from flows.reproduce import stage_env

    env = stage_env()
    # The clone's own code: its tasks/ (cwd) and its library (src/), ahead of any installed copy.
    env["PYTHONPATH"] = os.pathsep.join([str(scratch / "src"), str(scratch), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _checked(args: list[str], cwd: Path, env: dict[str, str], failure: str) -> None:
    """`python -m <args>` quietly; on failure StageFailed(`failure`: its stderr)."""
    from flows.reproduce import StageFailed

    proc = subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise StageFailed(f"{failure}: {proc.stderr.strip() or proc.stdout.strip()}")


def run_in_clone(repo: str, ref: str, stage: str, remote: str | None, echo=None) -> dict:
    """What a worker does for one stage (the `remote-stage` flow's body): clone the published commit into a scratch
    workspace, run the stage there with its inputs pulled from the DVC remote, push its outputs and run-cache entry."""
    from flows.reproduce import StageFailed, run_teed

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="humanvid-stage-") as tmp:
        scratch = Path(tmp) / "ws"
        _git(Path(tmp), "clone", "-q", "--shared", "--no-checkout", repo, str(scratch))
        _git(scratch, "fetch", "-q", "origin", ref)
        _git(scratch, "checkout", "-q", "--detach", "FETCH_HEAD")
        env = _clone_env(scratch)
        if remote:  # the orchestrator's remote, for this clone only
            _checked(["dvc", "remote", "add", "--local", "-d", "-f", "dispatch", remote], scratch, env, f"{stage}: DVC remote {remote}")
        code = run_teed([sys.executable, "-m", "flows.dvc_stage", "--pull", stage], scratch, env, echo)
        if code != 0:
            raise StageFailed(f"stage {stage} failed on {socket.gethostname()} (exit code {code})")
        _checked(["flows.dvc_stage", "--push", stage], scratch, env, f"stage {stage} ran on {socket.gethostname()} but its outputs did not reach the DVC remote")
    return {"stage": stage, "seconds": round(time.perf_counter() - start, 2), "host": socket.gethostname(),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}  # fmt: skip


def restore(root: Path, stage: str) -> None:
    """Take a stage a worker ran from the DVC remote's run cache into this workspace (outputs and dvc.lock)."""
    from flows.reproduce import StageFailed, stage_env

    env = stage_env()
    _checked(["dvc", "fetch", "--run-cache", "-q"], root, env, f"{stage}: fetching the run cache from the DVC remote failed")
    if subprocess.run([sys.executable, "-m", "flows.dvc_stage", "--restore", stage], cwd=root, env=env).returncode != 0:
        raise StageFailed(f"{stage}: the worker's result could not be restored from the DVC remote (its output is above)")


def push(root: Path, stage: str) -> None:
    """Send the cached outputs of a stage this workspace ran to the DVC remote (`dvc push STAGE`), so a worker's
    clone can pull them as inputs."""
    from flows.reproduce import stage_env

    _checked(["dvc", "push", "-q", stage], root, stage_env(), f"{stage}: pushing its outputs to the DVC remote failed")


def default_remote(root: Path) -> str | None:
    """The workspace's default DVC remote URL (what workers push to and pull from), or None."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        name = repo.config["core"].get("remote")
        return repo.config["remote"][name]["url"] if name else None


# -- pools, deployments, workers ----------------------------------------------------------------------------------


def ensure_pools_and_deployments(pools: tuple[str, ...] = POOLS) -> None:
    """Create the process work pools that are missing and (re)deploy the `remote-stage` flow to each."""
    import asyncio
    import contextlib
    import io

    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    async def create() -> None:
        async with get_client() as client:
            for pool in pools:
                try:
                    await client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
                except ObjectAlreadyExists:
                    pass

    asyncio.run(create())
    remote = flow.from_source(source=str(PROJECT), entrypoint="flows/reproduce.py:remote_stage")
    env = {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_S)}
    for pool in pools:
        with contextlib.redirect_stdout(io.StringIO()):  # deploy() prints a table and next steps
            remote.deploy(name=pool, work_pool_name=pool, print_next_steps=False, job_variables={"env": env})
    ensure_zombie_automation()


HEARTBEAT_S = 30
"""Seconds between a dispatched flow run's heartbeats (Prefect's minimum); three missed ones mark it crashed."""
ZOMBIE_AUTOMATION = "humanvid: crash flow runs whose worker died"


def ensure_zombie_automation() -> None:
    """Prefect's documented zombie-flow automation: a flow run that sent a heartbeat and then neither another one
    nor a final state within three heartbeats is set CRASHED — a killed worker's stage is then sent again by the
    orchestrator (flows.reproduce.DISPATCH_ATTEMPTS)."""
    from datetime import timedelta

    from prefect.automations import Automation, ChangeFlowRunState, EventTrigger, Posture, ResourceSpecification
    from prefect.client.schemas.objects import StateType

    try:
        Automation.read(name=ZOMBIE_AUTOMATION)
        return
    except ValueError:  # not there yet
        pass
    Automation(
        name=ZOMBIE_AUTOMATION,
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Completed", "prefect.flow-run.Failed", "prefect.flow-run.Cancelled",
                    "prefect.flow-run.Crashed"},  # fmt: skip
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=3 * HEARTBEAT_S),
        ),
        actions=[ChangeFlowRunState(state=StateType.CRASHED, message="no heartbeat from its worker: the worker died")],
    ).create()


def worker_commands(pool: str, gpus: list[str] | None) -> list[tuple[list[str], dict[str, str]]]:
    """`prefect worker start` for a pool: one per entry of `gpus` (`"0"`, or `"0,1"` for a stage that trains on two),
    each seeing only its GPUs and taking one flow run at a time; one worker when `gpus` is None."""
    base = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process", "--limit", "1"]
    host = socket.gethostname()
    if not gpus:
        return [(base + ["--name", f"{host}-{pool}-{os.getpid()}"], dict(os.environ))]
    return [(base + ["--name", f"{host}-{pool}-gpu{g.replace(',', '+')}"], {**os.environ, "CUDA_VISIBLE_DEVICES": g}) for g in gpus]
