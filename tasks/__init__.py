"""Stage entries: one module per stage kind, each a thin `main(argv)` over the library.

`dvc.yaml` calls `python -m tasks.<kind> <name>` in the workspace; the Prefect flows call DVC.
"""
