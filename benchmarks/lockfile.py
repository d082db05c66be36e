"""Benchmark: writing one stage's entry into the project's dvc.lock — DVC's round-trip writer against
flows.lockfile's splice, on the same lock and the same entry — and reading one stage's DVC status
(flows.workspace.stage_status) with the whole lock loaded by DVC against only that stage's entry
(flows.lockfile.read_entries).

Each stage that runs writes its entry once; DVC 3.67 re-parses and re-dumps the whole lock to do it. Works on a
copy of the lock (the checkout is not touched). The flow asks each stage's status before it runs it (the status
part reads the checkout, writes nothing). Prints markdown tables for docs/benchmarks.md.

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
    status_times(name, args.repeats)


def status_times(name: str, repeats: int) -> None:
    """One stage's status, the whole lock through DVC (read_entries made to decline) against its own entry."""
    from flows import workspace
    from humanvid.validate import load_config

    cfg = load_config(REPO / "params.yaml")
    own = lockfile.read_entries
    times: dict[str, list[float]] = {"whole lock (DVC's load)": [], "the stage's own entry": []}
    answers = {}
    for label, reader in (("whole lock (DVC's load)", lambda path, names: None), ("the stage's own entry", own)):
        lockfile.read_entries = reader
        try:
            for _ in range(repeats):
                start = time.perf_counter()
                answers[label] = workspace.stage_status(REPO, [name], cfg)
                times[label].append(time.perf_counter() - start)
        finally:
            lockfile.read_entries = own
    if len({repr(a) for a in answers.values()}) != 1:
        raise SystemExit(f"the two status reads disagree: {answers}")
    answer = answers["the stage's own entry"] or "fresh"
    print(f"\nstage_status({name}) on the checkout; median of {repeats}; the same answer from both: {answer}\n")
    print("| lock read | seconds |\n| --- | ---: |")
    for label, values in times.items():
        print(f"| {label} | {statistics.median(values):.3f} |")
    whole, own_entry = (statistics.median(v) for v in times.values())
    print(f"| **ratio** | **{whole / own_entry:.1f}×** |")


if __name__ == "__main__":
    main()
