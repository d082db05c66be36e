"""Stage entries: one module per stage kind, each a thin `main(argv)` over the library.

`dvc.yaml` calls `python -m tasks.<kind> <name>` in the workspace; the Prefect flows call DVC.

Every entry imports this package before torch, so the intra-op thread plan is set here, from the CPUs' load
at the stage's start (humanvid.threads: a thread per idle core; passive waiting when other work shares the
cores; a user's own OMP_NUM_THREADS / OMP_WAIT_POLICY win).
"""

from humanvid.threads import apply_thread_plan

apply_thread_plan()
