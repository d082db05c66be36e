"""Orchestration: Prefect flows over DVC stages, and the `humanvid` command.

DVC decides what is stale; Prefect runs, retries, dispatches and shows. The library (src/humanvid)
never imports either.
"""
