"""GPU stages on Prefect workers: a real `prefect server` on loopback, the `gpu` process pool with one worker, each
stage in the worker's own clone of the workspace, results through a local-folder DVC remote and DVC's run cache."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

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


def _run(cmd, cwd, env=None, timeout=900) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc.stdout + proc.stderr


def test_gpu_stages_run_on_the_gpu_pools_worker_each_in_its_own_clone(tmp_path, tiny_params, prefect_server):
    url, env = prefect_server
    env = {**env, "PREFECT_HOME": str(tmp_path / "client-home")}
    ws = make_workspace(tmp_path / "ws", tiny_params)
    git = lambda *a: _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *a], ws)  # noqa: E731
    git("init", "-q")
    _run([sys.executable, "-m", "dvc", "config", "--unset", "core.no_scm"], ws)
    _run([sys.executable, "-m", "dvc", "remote", "add", "-d", "store", str(tmp_path / "remote")], ws)
    git("add", "-A")
    git("commit", "-qm", "workspace")
    humanvid = [sys.executable, "-m", "flows.cli", "--workspace", str(ws)]

    # Without a server the dispatch is refused before any work, naming what to do.
    no_server = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}
    proc = subprocess.run([*humanvid, "reproduce", "--dispatch", "pools"], env=no_server, capture_output=True, text=True)
    assert proc.returncode == 2 and "needs a Prefect server" in proc.stderr and not (ws / "dvc.lock").exists()

    worker = subprocess.Popen([*humanvid, "worker", "--pool", "gpu", "--gpu", "0"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    try:
        out = _run([*humanvid, "reproduce", "--dispatch", "pools"], ws, env=env)
        gpu = ["train@tiny.vae", "train@tiny.pretrain", "train@tiny.finetune", "sample@tiny_w4"]
        for stage in gpu:
            assert f"{stage} (stale" in out or f"{stage} (" in out
            assert f"{stage} done on pool gpu" in out, out[-3000:]
        assert "9 stages, 0 stale" in _run([*humanvid, "status"], ws, env=env)
        lock = yaml.safe_load((ws / "dvc.lock").read_text())["stages"]
        assert set(gpu) <= set(lock) and (ws / "data/models/tiny/finetune").is_dir() and (ws / "reports/demo.md").is_file()
        assert (ws / "reports/training/tiny.finetune/loss.svg").is_file()  # an uncached output, through the run cache
        assert not [r for r in _run(["git", "for-each-ref", "refs/humanvid"], ws).splitlines() if r]  # published commits are dropped

        request = urllib.request.Request(f"{url}/flow_runs/filter", data=b"{}", headers={"Content-Type": "application/json"})
        flow_runs = json.loads(urllib.request.urlopen(request, timeout=30).read())  # Prefect's REST API
        remote = [r for r in flow_runs if r["work_pool_name"] == "gpu"]
        assert sorted(r["name"].split(" (")[0] for r in remote) == sorted(gpu)  # the GPU stages, and only they, on the gpu pool
        assert all(r["state_type"] == "COMPLETED" for r in remote)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
