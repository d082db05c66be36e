"""The `humanvid` command: reproduce a table, or say what is stale and why."""

from __future__ import annotations

import argparse
import sys

from humanvid.config import ConfigError


def _print_state(states, table: str) -> None:
    stale = [s for s in states if s.stale]
    print(f"table {table}: {len(states)} stages, {len(stale)} stale")
    for s in states:
        tag = "gpu" if s.gpu else "cpu"
        if s.stale:
            print(f"  STALE  {s.name} [{tag}]: " + "; ".join(s.reasons))
        elif s.upstream:
            print(f"  after  {s.name} [{tag}]: re-checked after {', '.join(s.upstream)} (re-runs if their outputs change)")
        else:
            print(f"  ok     {s.name} [{tag}]")


def cmd_status(args) -> int:
    from flows.workspace import open_workspace, table_state

    root, cfg = open_workspace(args.workspace)
    _print_state(table_state(root, cfg, args.table), args.table)
    return 0


def cmd_reproduce(args) -> int:
    from flows.workspace import open_workspace, stage_status, table_stages

    root, cfg = open_workspace(args.workspace)  # a config error stops here, before any work
    names = table_stages(cfg, args.table)
    stale = stage_status(root, names)
    if not stale:
        print(f"table {args.table}: nothing to do, all {len(names)} stages are up to date")
        return 0
    print(f"table {args.table}: stale: {', '.join(n for n in names if n in stale)}")
    from flows.reproduce import reproduce  # Prefect starts only when there is work

    ran = reproduce(table=args.table, workspace=str(root))
    print(f"table {args.table}: ran {len(ran)} stages: {', '.join(r['stage'] for r in ran)}")
    print(f"report: {root / cfg.paths.reports / (args.table + '.md')}")
    return 0


def cmd_stage(args) -> int:
    from flows.reproduce import stage

    record = stage(name=args.name, workspace=args.workspace)
    print(f"stage {args.name}: " + ("up to date" if record is None else f"ran in {record['seconds']} s"))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="humanvid", description="Reproduce human-video diffusion paper tables end to end.")
    parser.add_argument("--workspace", "-w", default=".", help="folder with params.yaml, dvc.yaml and .dvc/ (default: cwd)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("reproduce", help="run the stale stages of a table and write reports/{table}.md")
    p.add_argument("table", nargs="?", default="demo")
    p.set_defaults(fn=cmd_reproduce)
    p = sub.add_parser("stage", help="run one stage (e.g. sample@baseline_debug_w8) if DVC finds it stale: what a worker runs")
    p.add_argument("name")
    p.set_defaults(fn=cmd_stage)
    p = sub.add_parser("status", help="which stages of a table are stale, and why")
    p.add_argument("table", nargs="?", default="demo")
    p.set_defaults(fn=cmd_status)
    args = parser.parse_args(argv)
    from flows.workspace import WorkspaceError

    try:
        return args.fn(args)
    except (ConfigError, WorkspaceError) as exc:
        print(f"humanvid: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from flows.reproduce import StageFailed

        if isinstance(exc, StageFailed):
            print(f"humanvid: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
