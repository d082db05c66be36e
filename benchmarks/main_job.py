"""Benchmark: wall time of the main job, and no-op `humanvid reproduce` against plain `dvc status`.

Runs in a fresh temporary workspace made from the project's params.yaml and dvc.yaml (never the
checkout). Prints a markdown table for docs/benchmarks.md.

    .venv/bin/python benchmarks/main_job.py [--repeats 7] [--params params.yaml]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return seconds


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--params", type=Path, default=REPO / "params.yaml")
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="humanvid-bench-") as tmp:
        ws = Path(tmp)
        shutil.copy(REPO / "dvc.yaml", ws / "dvc.yaml")
        shutil.copy(args.params, ws / "params.yaml")
        shutil.copy(REPO / "pipeline.yaml", ws / "pipeline.yaml")  # the committed plan (humanvid refreshes it if params differ)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(REPO / "tasks", ws / "tasks", ignore=ignore)  # the stages' code dependencies
        shutil.copytree(REPO / "src" / "humanvid", ws / "src" / "humanvid", ignore=ignore)
        shutil.copy(REPO / ".dvcignore", ws / ".dvcignore")
        shutil.copytree(REPO / "reports" / "papers", ws / "reports" / "papers")  # read by the report stages
        env = dict(os.environ, PREFECT_HOME=str(ws / ".prefect"), PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        env.pop("PREFECT_API_URL", None)
        subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=ws, check=True)
        subprocess.run([sys.executable, "-m", "dvc", "config", "core.analytics", "false"], cwd=ws, check=True)

        full = timed([str(bin_dir / "humanvid"), "reproduce"], ws, env)
        noop = [timed([str(bin_dir / "humanvid"), "reproduce"], ws, env) for _ in range(args.repeats)]
        dvc = [timed([str(bin_dir / "dvc"), "status"], ws, env) for _ in range(args.repeats)]

    noop_med, dvc_med = statistics.median(noop), statistics.median(dvc)
    print(f"machine: {os.cpu_count()} cores, {cpu_name()}, Python {platform.python_version()}")
    print()
    print("| measurement | seconds |")
    print("| --- | ---: |")
    print(f"| main job, cold (`humanvid reproduce`, every stage of the demo) | {full:.1f} |")
    print(f"| no-op `humanvid reproduce` (median of {args.repeats}) | {noop_med:.2f} |")
    print(f"| `dvc status` on the same workspace (median of {args.repeats}) | {dvc_med:.2f} |")
    print(f"| ratio no-op reproduce / dvc status | {noop_med / dvc_med:.2f}x |")


if __name__ == "__main__":
    main()
