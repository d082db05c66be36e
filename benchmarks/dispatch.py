"""Benchmark: what sending a stage to a worker costs, against running it here — and DVC remote throughput.

Same work (the tests' tiny demo table: synthdance 32², a debug baseline with three training stages and one
sampler), two ways, each in a fresh workspace:
(a) local: `humanvid reproduce` — every stage in this process tree;
(b) dispatched: `humanvid reproduce --dispatch pools` with a real `prefect server` on loopback, one `gpu` pool
    worker (`humanvid worker --pool gpu`), a local-folder DVC remote — the GPU stages (train ×3, sample) each
    published, cloned, run, pushed and restored.
Per GPU stage: its time both ways and the difference (the dispatch overhead: publishing, the worker's pick-up,
the clone, pulling inputs, pushing the run, restoring it). Then `humanvid push` / `humanvid pull` of the whole
table between the workspace and a clone without data: MB/s through the local-folder remote.

    .venv/bin/python benchmarks/dispatch.py
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
GPU_STAGES = ["train@tiny.vae", "train@tiny.pretrain", "train@tiny.finetune", "sample@tiny_w4"]


def _run(cmd, cwd=None, env=None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr


def _stage_seconds(out: str) -> dict[str, float]:
    found = dict(re.findall(r"(\S+@\S+) done in ([\d.]+) s", out))
    found |= dict(re.findall(r"(\S+@\S+) done on pool gpu in ([\d.]+) s", out))
    return {k: float(v) for k, v in found.items()}


def _size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def main() -> None:
    from conftest import TINY_PARAMS, make_workspace

    tmp = Path(tempfile.mkdtemp(prefix="humanvid-dispatch-bench-"))
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{port.getsockname()[1]}/api"
    port.close()
    env = {**os.environ, "PREFECT_HOME": str(tmp / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    humanvid = lambda ws, *a: [sys.executable, "-m", "flows.cli", "--workspace", str(ws), *a]  # noqa: E731

    local = make_workspace(tmp / "local", TINY_PARAMS)
    t0 = time.perf_counter()
    local_times = _stage_seconds(_run(humanvid(local, "reproduce"), env=env))
    local_total = time.perf_counter() - t0

    server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", url.split(":")[2].split("/")[0]],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    worker = None
    try:
        for _ in range(360):
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        denv = {**env, "PREFECT_API_URL": url, "PREFECT_HOME": str(tmp / "client")}
        ws = make_workspace(tmp / "dispatched", TINY_PARAMS)
        git = lambda *a: _run(["git", "-c", "user.name=b", "-c", "user.email=b@b", *a], cwd=ws)  # noqa: E731
        git("init", "-q")
        _run([sys.executable, "-m", "dvc", "config", "--unset", "core.no_scm"], cwd=ws)
        _run([sys.executable, "-m", "dvc", "remote", "add", "-d", "store", str(tmp / "remote")], cwd=ws)
        git("add", "-A")
        git("commit", "-qm", "bench")
        worker = subprocess.Popen(humanvid(ws, "worker", "--pool", "gpu"), env=denv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)  # fmt: skip
        t0 = time.perf_counter()
        dispatched_times = _stage_seconds(_run(humanvid(ws, "reproduce", "--dispatch", "pools"), env=denv))
        dispatched_total = time.perf_counter() - t0

        t0 = time.perf_counter()
        _run(humanvid(ws, "push", "demo"), env=denv)
        push_s = time.perf_counter() - t0
        clone = tmp / "clone"
        shutil.copytree(ws, clone, ignore=lambda d, names: [n for n in names if Path(d) / n in (ws / "data", ws / ".dvc" / "cache")])
        t0 = time.perf_counter()
        _run(humanvid(clone, "pull", "demo"), env=denv)
        pull_s = time.perf_counter() - t0
        data_mb = _size_mb(clone / "data")
    finally:
        for proc in (worker, server):
            if proc is not None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}")
    print("| stage | here (s) | on the gpu pool's worker (s) | dispatch overhead (s) |")
    print("|---|---:|---:|---:|")
    for stage in GPU_STAGES:
        a, b = local_times.get(stage, float("nan")), dispatched_times.get(stage, float("nan"))
        print(f"| {stage} | {a:.1f} | {b:.1f} | {b - a:+.1f} |")
    print(f"| whole table (9 stages) | {local_total:.1f} | {dispatched_total:.1f} | {dispatched_total - local_total:+.1f} |")
    print(f"\npush {data_mb:.1f} MB of outputs: {push_s:.1f} s; pull into a clone without data: {pull_s:.1f} s "
          f"({data_mb / pull_s:.1f} MB/s; the local-folder remote, both commands' fixed costs included)")  # fmt: skip


if __name__ == "__main__":
    main()
