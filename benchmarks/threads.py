"""Intra-op thread policies for a debug training step, alone and beside one busy process (docs/benchmarks.md).

Each policy runs in a fresh process (OpenMP reads its environment once, when torch loads it): the demo's
baseline (`debug_pixel`, reference concatenated, residual prediction) takes 3 warm-up and `--steps` timed
AdamW steps on random batches of 4 frames. Policies: libgomp's default wait (spin a while, then sleep),
passive wait, one thread, and `humanvid.threads`' plan (what every stage entry applies).

    .venv/bin/python benchmarks/threads.py [--steps 20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEP = """
import time, torch
from humanvid.models.baseline.model import Baseline
from humanvid.models.baseline.spec import BaselineOptions
m = Baseline.create("debug_pixel", BaselineOptions(reference_concat=True, prediction="residual"), resolution=64, seed=0,
                    device=torch.device("cpu"), weight_dtype=torch.float32)
params = m.trainable_parameters("pretrain")
opt = torch.optim.AdamW(params, 1e-3)
g = torch.Generator().manual_seed(0)
batch = {"frames": torch.rand(4, 1, 3, 64, 64) * 2 - 1, "reference": torch.rand(4, 3, 64, 64) * 2 - 1, "control": torch.rand(4, 1, 3, 64, 64)}
def step():
    loss = m.loss(batch, "pretrain", g)["loss"]; opt.zero_grad(); loss.backward(); opt.step()
for _ in range(3): step()
t = time.perf_counter()
for _ in range({steps}): step()
print((time.perf_counter() - t) / {steps})
"""
POLICIES = {
    "default wait, all cores": {},
    "passive wait, all cores": {"OMP_WAIT_POLICY": "PASSIVE"},
    "one thread": {"OMP_NUM_THREADS": "1"},
    "humanvid.threads plan": None,  # the plan applied in the child, as tasks/__init__.py does
}
PLAN = "from humanvid.threads import apply_thread_plan; print(apply_thread_plan(), file=__import__('sys').stderr)\n"


def time_step(policy: dict | None, steps: int) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    env.update(policy or {})
    code = (PLAN if policy is None else "") + STEP.replace("{steps}", str(steps))
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    print(f"cores: {len(os.sched_getaffinity(0))}; seconds per training step (4 frames, 64², debug_pixel)")
    print("| policy | alone | beside one busy process |\n| --- | ---: | ---: |")
    for name, policy in POLICIES.items():
        alone = time_step(policy, args.steps)
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            loaded = time_step(policy, args.steps)
        finally:
            busy.kill()
            busy.wait()
        print(f"| {name} | {alone:.3f} | {loaded:.3f} |", flush=True)


if __name__ == "__main__":
    main()
