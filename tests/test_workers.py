"""GPU stages on Prefect workers: a real `prefect server` on loopback, the `gpu` process pool with one worker, each
stage in the worker's own clone of the workspace, results through a local-folder DVC remote and DVC's run cache."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from conftest import make_workspace


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def prefect_server(tmp_path_factory):
    """A real Prefect server with a throw-away home; stopped by process group at the end."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    log = open(home / "server.log", "w")  # noqa: SIM115 — closed at teardown
    server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)], env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.time() + 180
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"prefect server did not start: {(home / 'server.log').read_text()[-2000:]}") from None
                time.sleep(0.5)
        yield url, {**env, "PREFECT_API_URL": url}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


def _git_workspace(tmp_path: Path, params: dict) -> Path:
    """A workspace in git with a local-folder DVC remote as its default: what `--dispatch pools` needs."""
    ws = make_workspace(tmp_path / "ws", params)
    git = lambda *a: _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *a], ws)  # noqa: E731
    git("init", "-q")
    _run([sys.executable, "-m", "dvc", "config", "--unset", "core.no_scm"], ws)
    _run([sys.executable, "-m", "dvc", "remote", "add", "-d", "store", str(tmp_path / "remote")], ws)
    git("add", "-A")
    git("commit", "-qm", "workspace")
    return ws


def _content(folder: Path) -> dict[str, object]:
    """Every file's bytes by relative path — JSON parsed, with wall-clock `seconds` dropped (two runs of a stage
    differ only there)."""
    out = {}
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        if f.suffix == ".json":
            data = json.loads(f.read_text())
            out[str(f.relative_to(folder))] = {k: v for k, v in data.items() if k != "seconds"} if isinstance(data, dict) else data
        else:
            out[str(f.relative_to(folder))] = f.read_bytes()
    return out


def _run(cmd, cwd, env=None, timeout=900) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc.stdout + proc.stderr


def test_gpu_stages_run_on_the_gpu_pools_workers_each_in_its_own_clone(tmp_path, tiny_params, prefect_server):
    """Two independent models (the rows of one table) on two workers: each GPU stage a flow run of the `gpu` pool,
    the two models' training at the same time, the workspace up to date afterwards with the workers' outputs."""
    url, env = prefect_server
    # One intra-op thread everywhere: the thread plan otherwise follows the load, and with it the float reductions.
    env = {**env, "PREFECT_HOME": str(tmp_path / "client-home"), "PREFECT_WORKER_QUERY_SECONDS": "1", "OMP_NUM_THREADS": "1"}
    tiny_params["models"]["tiny2"] = copy.deepcopy(tiny_params["models"]["tiny"]) | {"run": {"seed": 1, "device": "cpu"}}
    tiny_params["samplers"]["tiny2_w4"] = tiny_params["samplers"]["tiny_w4"] | {"model": "tiny2"}
    tiny_params["tables"]["demo"]["rows"]["tiny2"] = "tiny2_w4"
    ws = _git_workspace(tmp_path, tiny_params)
    humanvid = [sys.executable, "-m", "flows.cli", "--workspace", str(ws)]

    # Without a server the dispatch is refused before any work, naming what to do.
    no_server = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}
    proc = subprocess.run([*humanvid, "reproduce", "--dispatch", "pools"], env=no_server, capture_output=True, text=True)
    assert proc.returncode == 2 and "needs a Prefect server" in proc.stderr and not (ws / "dvc.lock").exists()

    worker = subprocess.Popen([*humanvid, "worker", "--pool", "gpu", "--gpu", "0", "--gpu", "1"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        out = _run([*humanvid, "reproduce", "--dispatch", "pools"], ws, env=env)
        gpu = [f"{kind}@{m}{s}" for m in ("tiny", "tiny2") for kind, s in (("train", ".vae"), ("train", ".pretrain"), ("train", ".finetune"))]
        gpu += ["sample@tiny_w4", "sample@tiny2_w4"]
        for stage in gpu:
            assert f"{stage} done on pool gpu" in out, out[-3000:]
        assert "evaluate@tiny_w4 done in" in out  # CPU stages run here
        assert "14 stages, 0 stale" in _run([*humanvid, "status"], ws, env=env)
        lock = yaml.safe_load((ws / "dvc.lock").read_text())["stages"]
        assert set(gpu) <= set(lock) and (ws / "data/models/tiny2/finetune").is_dir() and (ws / "reports/demo.md").is_file()
        assert (ws / "reports/training/tiny.finetune/loss.svg").is_file()  # an uncached output, through the run cache
        assert "| tiny2 |" in (ws / "reports/demo.md").read_text()
        # The same outputs as running those stages here: a copy of the workspace runs two of them again locally.
        here = tmp_path / "here"
        shutil.copytree(ws, here, symlinks=True)
        local_env = {**env, "PATH": f"{Path(sys.executable).parent}:{env['PATH']}"}
        _run([sys.executable, "-m", "flows.dvc_stage", "--force", "train@tiny.pretrain"], here, env=local_env)
        assert _content(here / "data/models/tiny/pretrain") == _content(ws / "data/models/tiny/pretrain")  # the weights, byte for byte
        # Sampling is not bit-reproducible on this CPU even between two local runs (measured up to 17, mean 0.2 grey
        # levels apart, one thread or not): the worker's videos match a local run to that order.
        _run([sys.executable, "-m", "flows.dvc_stage", "--force", "sample@tiny2_w4"], here, env=local_env)
        from humanvid.video import read_video

        for video in sorted((ws / "data/samples/tiny2_w4").glob("*.mp4")):
            a, b = read_video(video).astype(float), read_video(here / "data/samples/tiny2_w4" / video.name).astype(float)
            assert a.shape == b.shape and abs(a - b).mean() < 1.0, video.name
        assert not [r for r in _run(["git", "for-each-ref", "refs/humanvid"], ws).splitlines() if r]  # published commits are dropped

        remote = [r for r in _flow_runs(url) if r["work_pool_name"] == "gpu"]
        assert sorted(r["name"].split(" (")[0] for r in remote) == sorted(gpu)  # the GPU stages, and only they, on the gpu pool
        assert all(r["state_type"] == "COMPLETED" for r in remote)
        # A DVC experiment through `--set`: a bad value stops before any work, naming the key; a good one re-runs exactly
        # the stages it makes stale (one sampler, its evaluation, the report) and `dvc exp show` lists it.
        proc = subprocess.run([*humanvid, "reproduce", "--set", "samplers.tiny_w4.steps=-1"], env=env, capture_output=True, text=True)
        assert proc.returncode == 2 and "samplers.tiny_w4.steps" in proc.stderr
        out = _run([*humanvid, "reproduce", "--set", "samplers.tiny_w4.steps=3"], ws, env=env)
        assert sorted(re.findall(r"Running stage '([^']+)'", out)) == ["evaluate@tiny_w4", "report@demo", "sample@tiny_w4"], out[-3000:]
        assert "samplers.tiny_w4.steps" in _run([sys.executable, "-m", "dvc", "exp", "show", "--csv"], ws, env=env)
        # The two models are independent: their training ran at the same time, on the two workers.
        span = {r["name"].split(" (")[0]: (r["start_time"], r["end_time"]) for r in remote}
        assert any(span[f"train@tiny.{s}"][0] < span[f"train@tiny2.{t}"][1] and span[f"train@tiny2.{t}"][0] < span[f"train@tiny.{s}"][1]
                   for s in ("vae", "pretrain", "finetune") for t in ("vae", "pretrain", "finetune")), span  # fmt: skip
    finally:
        _stopped([worker], url)


def _processes_of(url: str) -> list[int]:
    """Live processes whose environment points at this Prefect server (workers, their flow runs)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                if f"PREFECT_API_URL={url}".encode() in open(f"/proc/{entry}/environ", "rb").read().split(b"\0"):
                    found.append(int(entry))
            except OSError:
                pass
    return found


def _stopped(procs, url: str) -> None:
    """SIGTERM to each process group, SIGKILL after 60 s; then no process of this server's may be left."""
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    deadline = time.time() + 30
    while _processes_of(url) and time.time() < deadline:
        time.sleep(0.5)
    assert not _processes_of(url), "workers outlived the test"


def _flow_runs(url: str) -> list[dict]:
    """Every flow run, from Prefect's REST API."""
    request = urllib.request.Request(f"{url}/flow_runs/filter", data=b"{}", headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request, timeout=30).read())


def _ancestors(pid: int) -> list[int]:
    chain = []
    while pid > 1:
        chain.append(pid)
        pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    return chain


def test_a_worker_killed_mid_stage_loses_nothing_and_the_stage_runs_again_elsewhere(tmp_path, tiny_params, prefect_server):
    """SIGKILL to a worker and its flow run while a training stage runs: Prefect's zombie automation marks the run
    crashed after three missed heartbeats, the orchestrator sends the stage again, the other worker runs it, and the
    workspace ends up to date — the killed clone never pushed, so nothing of it was taken."""
    url, env = prefect_server
    env = {**env, "PREFECT_HOME": str(tmp_path / "client-home"), "PREFECT_WORKER_QUERY_SECONDS": "1"}
    tiny_params["models"]["tiny"]["stages"]["vae"].update(steps=400, log_every=100)  # long enough to be killed in
    ws = _git_workspace(tmp_path, tiny_params)
    humanvid = [sys.executable, "-m", "flows.cli", "--workspace", str(ws)]
    workers = [subprocess.Popen([*humanvid, "worker", "--pool", "gpu", "--gpu", g], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True) for g in ("0", "1")]  # fmt: skip
    orchestrator = subprocess.Popen([*humanvid, "reproduce", "--dispatch", "pools"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, start_new_session=True)  # fmt: skip
    try:
        deadline = time.time() + 600
        victim = None
        while victim is None and time.time() < deadline and orchestrator.poll() is None:
            running = [r for r in _flow_runs(url) if r["name"].startswith("train@tiny.vae") and r["state_type"] == "RUNNING"]
            if running and running[0]["infrastructure_pid"]:
                victim = int(str(running[0]["infrastructure_pid"]).rsplit(":", 1)[-1])  # "pid" or "host:pid"
            time.sleep(0.5)
        assert victim is not None, "the training stage never ran on a worker"
        time.sleep(3)  # the stage is training in the worker's clone
        for pid in _ancestors(victim)[:2]:  # the flow run's process and the Prefect worker that started it
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        out = orchestrator.communicate(timeout=900)[0]
        assert orchestrator.returncode == 0, out[-4000:]
        assert "train@tiny.vae: flow run" in out and "ended CRASHED on pool gpu (attempt 1 of 3)" in out, out[-4000:]
        assert "train@tiny.vae done on pool gpu" in out
        assert "9 stages, 0 stale" in _run([*humanvid, "status"], ws, env=env)
        runs = [r for r in _flow_runs(url) if r["name"].startswith("train@tiny.vae")]
        assert sorted(r["state_type"] for r in runs) == ["COMPLETED", "CRASHED"]
    finally:
        _stopped([orchestrator, *workers], url)
