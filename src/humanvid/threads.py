"""How many intra-op threads a stage process gives torch, and how they wait, from what the CPUs are doing.

Measured on this project's two-core machine, one debug training step (docs/benchmarks.md, "threads"):
alone, two threads with libgomp's default wait (spin a while, then sleep) take 0.095 s and a passive wait
(sleep at once) 0.20 s; beside one busy process, the default wait takes 2.7 s (the threads spin against each
other and the other process), a passive one 0.22 s and one thread 0.13 s. So: as many threads as there are
idle cores, and a passive wait whenever other work shares the cores. Nothing here imports torch: the OpenMP
runtime reads its environment once, when torch loads it, so the plan is applied to the environment first.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

PROC_STAT = Path("/proc/stat")


@dataclass(frozen=True)
class ThreadPlan:
    threads: int
    """Intra-op threads (OMP_NUM_THREADS)."""
    passive: bool
    """Threads sleep at once when idle (OMP_WAIT_POLICY=PASSIVE) instead of spinning a while."""


def plan_threads(cores: int, busy: float) -> ThreadPlan:
    """`cores` usable by this process, of which `busy` (fractional) are in use by other work -> the plan: one
    thread per idle core (at least one), passive waiting when at least half a core is busy elsewhere."""
    if cores < 1:
        raise ValueError(f"cores must be >= 1, got {cores}")
    busy = min(max(busy, 0.0), float(cores))
    return ThreadPlan(threads=max(1, round(cores - busy)), passive=busy >= 0.5)


def _cpu_times(text: str, cpus: set[int] | None = None) -> tuple[int, int]:
    """(busy, total) jiffies from /proc/stat: its aggregate `cpu` line, or the sum of the `cpuN` lines of `cpus`
    (idle and iowait count as idle)."""
    lines = text.splitlines()[:1] if cpus is None else [ln for ln in text.splitlines() if ln.split()[0] in {f"cpu{c}" for c in cpus}]
    busy = total = 0
    for line in lines:
        fields = [int(v) for v in line.split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        line_total = sum(fields[:8])  # guest time is already inside user time
        busy, total = busy + line_total - idle, total + line_total
    return busy, total


def busy_cores(cpus: set[int], interval: float = 0.2) -> float:
    """Of `cpus` (the ones this process may run on), how many cores other processes keep busy over the next
    `interval` seconds (this process sleeps meanwhile), from /proc/stat; 0.0 where there is none."""
    if not PROC_STAT.is_file():
        return 0.0
    busy0, total0 = _cpu_times(PROC_STAT.read_text(), cpus)
    time.sleep(interval)
    busy1, total1 = _cpu_times(PROC_STAT.read_text(), cpus)
    return 0.0 if total1 == total0 else len(cpus) * (busy1 - busy0) / (total1 - total0)


def apply_thread_plan(environ: dict | None = None) -> ThreadPlan | None:
    """Set OMP_NUM_THREADS and OMP_WAIT_POLICY from the CPUs' current load, before torch is imported. A user's
    own settings win: with either variable set nothing is changed (None is returned)."""
    env = os.environ if environ is None else environ
    if "OMP_NUM_THREADS" in env or "OMP_WAIT_POLICY" in env:
        return None
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    plan = plan_threads(len(cpus), busy_cores(cpus))
    env["OMP_NUM_THREADS"] = str(plan.threads)
    if plan.passive:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    return plan
