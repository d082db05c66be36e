"""`python -m flows.dvc_stage [--force | --pull | --restore] STAGE`: `dvc repro --single-item STAGE` through DVC's Python API, in the
workspace that is the current directory.

What `dvc repro` does — run the stage's command, check its outputs, cache them, write `dvc.lock` — without what
its command line prints around a stage: the "Running stage" banner, the nine-line git hint after it and "Use `dvc
push`…" (humanvid prints its own line per stage). The stage's own output passes through untouched; DVC's warnings
still reach stderr; a DVC error is one line per cause, and the exit code 1.
"""

from __future__ import annotations

import sys

FLAGS = ("--force", "--pull", "--restore", "--push")


def main(argv: list[str] | None = None) -> int:
    """Flags: `--force` runs a stage DVC finds fresh; `--pull` first pulls missing dependencies from the DVC remote
    (a worker's fresh clone); `--push` sends the stage's last run to the
    remote (`push_run`); `--restore` never runs the command — the stage's outputs come from DVC's run cache
    (fetched from the remote by `dvc fetch --run-cache`), pulled and checked out, and dvc.lock records them; no
    entry for these inputs is an error."""
    args = list(sys.argv[1:] if argv is None else argv)
    flags = {a for a in args if a in FLAGS}
    stages = [a for a in args if a not in FLAGS]
    if len(stages) != 1:
        print(f"usage: python -m flows.dvc_stage [{' | '.join(FLAGS)}] STAGE", file=sys.stderr)
        return 2
    import logging

    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    from flows import lockfile

    logging.getLogger("dvc").setLevel(logging.WARNING)  # `import dvc` set it to INFO: the banners and the git hint
    lockfile.install()  # the stage's dvc.lock entry spliced in, not the whole lock re-parsed (3.6 s a stage)

    try:
        with Repo(".") as repo:
            if "--restore" in flags:
                from dvc.stage.cache import RunCacheNotFoundError

                (stage,) = repo.stage.collect(stages[0])
                try:  # checks out the cached run's outputs (pulled from the remote), or raises: nothing runs here
                    with repo.lock:
                        repo.stage_cache.restore(stage, pull=True)
                except RunCacheNotFoundError:
                    print(f"dvc: {stages[0]}: no run of these inputs in the run cache (did the worker push it?)", file=sys.stderr)
                    return 1
            if "--push" in flags:
                push_run(repo, stages[0])
                return 0
            repo.reproduce(targets=stages, single_item=True, force="--force" in flags, pull="--pull" in flags or "--restore" in flags)
    except DvcException as exc:
        causes, cause = [], exc
        while cause is not None:
            causes.append(str(cause).strip() or type(cause).__name__)
            cause = cause.__cause__
        print("dvc: " + ": ".join(dict.fromkeys(causes)), file=sys.stderr)
        return 1
    return 0


def push_run(repo, name: str) -> None:
    """Send a stage's last run to the default remote: its run-cache entry (these inputs -> these outputs) and every
    object of its outputs, including the run cache's copies of uncached ones (plots, metrics). `dvc push --run-cache`
    sends the entry but only the workspace's cached outputs (DVC 3.67), so a restore elsewhere missed the rest."""
    from dvc.exceptions import DvcException

    (stage,) = repo.stage.collect(name)
    stage.save_deps()
    entry = repo.stage_cache._load(stage)  # the entry DVC saved when the stage ran here
    if not entry:
        raise DvcException(f"{name}: no run of these inputs in this workspace's run cache")
    repo.stage_cache.push(None)
    objects = set().union(*repo.stage_cache._create_stage(entry).get_used_objs().values())
    failed = repo.cloud.push(objects).failed
    if failed:
        raise DvcException(f"{name}: {len(failed)} output objects did not reach the remote")


if __name__ == "__main__":
    sys.exit(main())
