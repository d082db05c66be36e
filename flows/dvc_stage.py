"""`python -m flows.dvc_stage [--force] STAGE`: `dvc repro --single-item STAGE` through DVC's Python API, in the
workspace that is the current directory.

What `dvc repro` does — run the stage's command, check its outputs, cache them, write `dvc.lock` — without what
its command line prints around a stage: the "Running stage" banner, the nine-line git hint after it and "Use `dvc
push`…" (humanvid prints its own line per stage). The stage's own output passes through untouched; DVC's warnings
still reach stderr; a DVC error is one line per cause, and the exit code 1.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    force = "--force" in args
    stages = [a for a in args if a != "--force"]
    if len(stages) != 1:
        print("usage: python -m flows.dvc_stage [--force] STAGE", file=sys.stderr)
        return 2
    import logging

    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    logging.getLogger("dvc").setLevel(logging.WARNING)  # `import dvc` set it to INFO: the banners and the git hint

    try:
        with Repo(".") as repo:
            repo.reproduce(targets=stages, single_item=True, force=force)
    except DvcException as exc:
        causes, cause = [], exc
        while cause is not None:
            causes.append(str(cause).strip() or type(cause).__name__)
            cause = cause.__cause__
        print("dvc: " + ": ".join(dict.fromkeys(causes)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
