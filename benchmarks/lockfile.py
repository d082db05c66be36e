"""Benchmark: writing one stage's entry into the project's dvc.lock — DVC's round-trip writer against
flows.lockfile's splice, on the same lock and the same entry.

Each stage that runs writes its entry once; DVC 3.67 re-parses and re-dumps the whole lock to do it. Works on a
copy of the lock (the checkout is not touched). Prints a markdown table for docs/benchmarks.md.

    .venv/bin/python benchmarks/lockfile.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from flows import lockfile  # noqa: E402


def dvc_write(path: Path, name: str, data: dict) -> None:
    """What DVC's `Lockfile.dump_stages` does to the file: load for update, set the entry, dump."""
    from dvc.utils.serialize import modify_yaml

    with modify_yaml(str(path)) as lock:
        lock["stages"][name] = data


def splice_write(path: Path, name: str, data: dict) -> None:
    lockfile.write_entries(path, [lockfile.stage_entry(name, data)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from dvc.utils.serialize._yaml import parse_yaml

    source = REPO / "dvc.lock"
    stages = parse_yaml(source.read_text(), str(source))["stages"]
    name = next(n for n in stages if n.startswith("evaluate@"))
    changed = dict(stages[name], cmd=stages[name]["cmd"] + " ")  # a changed entry, so both write
    times: dict[str, list[float]] = {"DVC round trip": [], "splice": []}
    results = {}
    with tempfile.TemporaryDirectory(prefix="humanvid-lock-") as tmp:
        for label, write in (("DVC round trip", dvc_write), ("splice", splice_write)):
            for _ in range(args.repeats):
                path = Path(tmp) / "dvc.lock"
                shutil.copy(source, path)
                start = time.perf_counter()
                write(path, name, changed)
                times[label].append(time.perf_counter() - start)
            results[label] = path.read_bytes()
    if results["DVC round trip"] != results["splice"]:
        raise SystemExit("the two writers wrote different bytes")
    size = source.stat().st_size
    print(f"dvc.lock: {len(stages)} stages, {size / 1e6:.2f} MB; entry {name}; median of {args.repeats}; same bytes written\n")
    print("| writer | seconds |\n| --- | ---: |")
    for label, values in times.items():
        print(f"| {label} | {statistics.median(values):.3f} |")
    print(f"| **ratio DVC / splice** | **{statistics.median(times['DVC round trip']) / statistics.median(times['splice']):.0f}×** |")


if __name__ == "__main__":
    main()
