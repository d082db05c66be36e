"""The `humanvid` command: reproduce a table, or say what is stale and why."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from humanvid.config import ConfigError
from humanvid.validate import load_config


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


def locked(fn):
    """Run a command that runs stages or writes the workspace under the workspace lock (flows/lock.py)."""

    def run(args) -> int:
        from flows.lock import workspace_lock

        with workspace_lock(Path(args.workspace).resolve(), "humanvid " + " ".join(sys.argv[1:]) if sys.argv[1:] else "humanvid",
                            wait=not getattr(args, "no_wait", False), say=lambda m: print(m, file=sys.stderr)):  # fmt: skip
            return fn(args)

    return run


def _experiment(args, root: Path) -> int:
    """`--set KEY=VALUE …`: DVC's own experiments — `dvc exp run -S KEY=VALUE … report@TABLE` (the table's stages
    that the change makes stale run here; `dvc exp show` lists the runs) — after checking params.yaml with the
    changes applied, so a bad key or value stops before any work."""
    import subprocess

    from flows.workspace import WorkspaceError
    from humanvid.config import read_params, safe_load_yaml
    from humanvid.validate import parse_config

    if args.dispatch != "local":
        raise WorkspaceError("--set runs a DVC experiment in this workspace; it does not combine with --dispatch pools")
    if not (root / ".git").exists():
        raise WorkspaceError(f"{root}: --set runs a DVC experiment (`dvc exp run`), which needs the workspace in git")
    params = read_params(root / "params.yaml")
    for item in args.set:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise WorkspaceError(f"--set {item!r}: expected KEY=VALUE (e.g. samplers.baseline_debug_w8.steps=4)")
        node = params
        *parents, leaf = key.split(".")
        for i, part in enumerate(parents):
            if not isinstance(node.get(part), dict):
                raise WorkspaceError(f"--set {key}: params.yaml has no mapping {'.'.join(parents[: i + 1])}")
            node = node[part]
        node[leaf] = safe_load_yaml(raw) if raw else raw
    parse_config(params, source=f"params.yaml with --set {' '.join(args.set)}", root=root)  # ConfigError names the key path
    cmd = [sys.executable, "-m", "dvc", "exp", "run", *[a for item in args.set for a in ("-S", item)], f"report@{args.table}"]
    from flows.reproduce import stage_env

    code = subprocess.run(cmd, cwd=root, env=stage_env()).returncode  # the stages' `python` is this interpreter
    if code == 0:
        print(f"table {args.table}: experiment done and applied to the workspace; `dvc exp show` compares it with the others")
    return 0 if code == 0 else 1


@locked
def cmd_reproduce(args) -> int:
    from flows.workspace import open_workspace, stage_status, table_rows, table_stages

    root, cfg = open_workspace(args.workspace)  # a config error stops here, before any work
    if args.set:
        return _experiment(args, root)
    for row in table_rows(cfg, args.table, root):
        if row.needs:
            print(f"table {args.table}: row {row.label!r} cannot run here: needs {row.needs}")
    names = table_stages(cfg, args.table, root)
    stale = stage_status(root, names, cfg)
    if not stale:
        print(f"table {args.table}: nothing to do, all {len(names)} stages are up to date")
        return 0
    print(f"table {args.table}: stale: {', '.join(n for n in names if n in stale)}")
    if args.dispatch == "pools":
        _check_dispatch(root)
    _prefect_defaults()
    from flows.reproduce import reproduce  # Prefect starts only when there is work

    ran = reproduce(table=args.table, workspace=str(root), dispatch=args.dispatch)
    print(f"table {args.table}: ran {len(ran)} stages: {', '.join(r['stage'] for r in ran)}")
    print(f"report: {root / cfg.paths.reports / (args.table + '.md')}")
    return 0


@locked
def cmd_pull(args) -> int:
    return _transfer(args, "pull")


@locked
def cmd_push(args) -> int:
    return _transfer(args, "push")


def _transfer(args, verb: str) -> int:
    """`dvc pull` / `dvc push` of the outputs of a table's stages that dvc.lock records, with the DVC remote
    (`--remote`, else the workspace's default): what a fresh clone needs to see the table's results without
    recomputing, or what it shares."""
    import subprocess

    from dvc.repo import Repo

    from flows.workspace import WorkspaceError, open_workspace, table_stages
    from humanvid.config import safe_load_yaml

    root, cfg = open_workspace(args.workspace)
    with Repo(str(root)) as repo:
        remotes, default = list(repo.config.get("remote", {})), repo.config["core"].get("remote")
    if args.remote and args.remote not in remotes:
        raise WorkspaceError(f"{root}: no DVC remote {args.remote!r}; configured: {', '.join(remotes) or 'none'}")
    if not args.remote and not default:
        raise WorkspaceError(f"{root}: no default DVC remote — add one: `dvc remote add -d storage /shared/folder` "
                             "(or s3://bucket/path with the dvc-s3 extra, ssh://host/path with dvc-ssh); docs/workers.md")  # fmt: skip
    lock = root / "dvc.lock"
    recorded = set((safe_load_yaml(lock.read_text()) or {}).get("stages", {})) if lock.is_file() else set()
    names = [n for n in table_stages(cfg, args.table, root) if n in recorded]
    if not names:
        print(f"table {args.table}: no stage of it is recorded in dvc.lock yet: nothing to {verb}")
        return 0
    print(f"table {args.table}: {verb} the outputs of {len(names)} stages ({'remote ' + args.remote if args.remote else 'default remote ' + default})")
    cmd = [sys.executable, "-m", "dvc", verb, *(["--remote", args.remote] if args.remote else []), *names]
    return 0 if subprocess.run(cmd, cwd=root).returncode == 0 else 1


def _check_dispatch(root: Path) -> None:
    """Before any work: what sending stages to workers needs — a Prefect server, the workspace in git, a DVC remote."""
    from flows.dispatch import default_remote
    from flows.workspace import WorkspaceError

    if not os.environ.get("PREFECT_API_URL"):
        raise WorkspaceError("--dispatch pools needs a Prefect server: `prefect server start`, then export "
                             "PREFECT_API_URL=http://127.0.0.1:4200/api here and where `humanvid worker` runs (docs/workers.md)")  # fmt: skip
    if not (root / ".git").exists():
        raise WorkspaceError(f"{root}: --dispatch pools needs the workspace in git (each worker clones it)")
    if default_remote(root) is None:
        raise WorkspaceError(f"{root}: --dispatch pools needs a default DVC remote the workers share: `dvc remote add -d storage "
                             "/shared/folder` (or s3://…, ssh://…; docs/workers.md)")  # fmt: skip


def cmd_worker(args) -> int:
    """Pools `cpu` and `gpu`, the `remote-stage` deployment on each, and this machine's workers for one pool; runs
    until interrupted, then stops the workers."""
    import signal
    import subprocess

    from flows.dispatch import POOLS, ensure_pools_and_deployments, worker_commands
    from flows.workspace import WorkspaceError

    if not os.environ.get("PREFECT_API_URL"):
        raise WorkspaceError("humanvid worker needs a Prefect server: `prefect server start` somewhere, then export "
                             "PREFECT_API_URL=http://HOST:4200/api (docs/workers.md)")  # fmt: skip
    if args.pool not in POOLS:
        raise WorkspaceError(f"unknown pool {args.pool!r}; pools: {', '.join(POOLS)}")
    _prefect_defaults()
    os.environ.setdefault("PREFECT_WORKER_QUERY_SECONDS", "2")  # Prefect's 10 s poll would add up to 10 s to every stage
    ensure_pools_and_deployments()
    procs = [subprocess.Popen(cmd, env=env, start_new_session=True, preexec_fn=_die_with_parent) for cmd, env in worker_commands(args.pool, args.gpu)]
    print(f"humanvid worker: {len(procs)} worker(s) on pool {args.pool}" + (f" (GPUs {', '.join(args.gpu)})" if args.gpu else "")
          + f", pids {', '.join(str(p.pid) for p in procs)}", flush=True)  # fmt: skip

    def stop(*_):
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20  # a worker's graceful shutdown; then its process group goes for good
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)

    signal.signal(signal.SIGTERM, stop)
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        stop()
        codes = [p.wait() for p in procs]
    return max(codes, default=0) if any(codes) and not all(c < 0 or c == 143 for c in codes) else 0


def _die_with_parent() -> None:
    """In a worker process before it starts (Linux): SIGTERM when `humanvid worker` ends, however it ends — a
    killed `humanvid worker` leaves no Prefect worker behind."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: `stop` still ends the workers on SIGTERM / Ctrl-C
        pass


def _prefect_defaults() -> None:
    """Settings the user did not set: on a busy 2-core machine the ephemeral API server can take longer to
    start than Prefect's 20 s default (a test run beside a training job timed out), so allow 120 s; no
    telemetry from the local server."""
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    # The local server's telemetry tries to reach Prefect's hosts (an error line on every offline run).
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@locked
def cmd_plan(args) -> int:
    from humanvid.pipeline import PLAN_FILE, stage_lineage, write_plan

    root = Path(args.workspace)
    cfg = load_config(root / "params.yaml")
    changed = write_plan(root, cfg)
    print(f"{root / PLAN_FILE}: {'updated' if changed else 'up to date'}")
    for m, model in cfg.models.items():
        print(f"  {m}: " + (" -> ".join(f"train@{a}.{s}" for a, s in stage_lineage(cfg, m)) or f"released weights ({model.arch.method}/{model.arch.flavor}), not trained here"))
    return 0


@locked
def cmd_stage(args) -> int:
    _prefect_defaults()
    from flows.reproduce import stage

    record = stage(name=args.name, workspace=args.workspace)
    print(f"stage {args.name}: " + ("up to date" if record is None else f"ran in {record['seconds']} s"))
    return 0


def cmd_datasets_new(args) -> int:
    from pathlib import Path

    from humanvid.datasets.scaffold import scaffold_plugin

    files = scaffold_plugin(args.name, Path(args.dest))
    print("wrote " + ", ".join(str(f) for f in files))
    print(f"next: pip install -e {files[0].parent}, add `datasets: {{{args.name}: {{plugin: {args.name}, ...}}}}` to params.yaml")
    return 0


def _workspace_config(args):
    """The workspace's validated config, or None when it has no params.yaml (lists then show the registries alone)."""
    params = Path(args.workspace) / "params.yaml"
    return load_config(params) if params.is_file() else None


def _first_line(cls) -> str:
    """The first line of a plugin class's docstring, else of its module's."""
    doc = cls.__doc__ if cls.__doc__ and cls.__doc__ != cls.__base__.__doc__ else sys.modules[cls.__module__].__doc__
    return ((doc or "").strip().splitlines() or [""])[0]


def cmd_datasets_list(args) -> int:
    from humanvid.datasets import DATASETS

    cfg = _workspace_config(args)
    configured = {} if cfg is None else {name: ds.plugin for name, ds in cfg.datasets.items()}
    print("| plugin | what | datasets of params.yaml using it |")
    print("| --- | --- | --- |")
    for plugin in DATASETS.names():
        used = ", ".join(n for n, p in configured.items() if p == plugin) or "—"
        print(f"| {plugin} | {_first_line(DATASETS.get(plugin))} | {used} |")
    return 0


def cmd_estimators_list(args) -> int:
    from humanvid.estimators import ESTIMATORS

    cfg = _workspace_config(args)
    configured = {} if cfg is None else cfg.estimators
    print("| estimator | provides | weights | GPU | datasets of params.yaml using it |")
    print("| --- | --- | --- | --- | --- |")
    for name in ESTIMATORS.names():
        est = ESTIMATORS.get(name)
        used = ", ".join(d for d, names in configured.items() if name in names) or "—"
        print(f"| {name} | {', '.join(est.provides)} | {', '.join(est.weights) or '—'} | {'yes' if est.needs_gpu else 'no'} | {used} |")
    return 0


def _tables_epilog(argv: list[str] | None) -> str:
    """The tables of the workspace's params.yaml (found from `--workspace`/`-w` in argv, else the current folder),
    for `humanvid reproduce --help`; read without validation, so a broken params.yaml still gets help."""
    from humanvid.config import safe_load_yaml

    args = list(sys.argv[1:] if argv is None else argv)
    root = Path(".")
    for flag in ("--workspace", "-w"):
        if flag in args and args.index(flag) + 1 < len(args):
            root = Path(args[args.index(flag) + 1])
    try:
        tables = safe_load_yaml((root / "params.yaml").read_text()).get("tables") or {}
    except Exception as exc:  # help must not fail
        return f"tables: none found ({root / 'params.yaml'}: {type(exc).__name__})"
    lines = [f"  {name:26s} {(t or {}).get('title') or (t or {}).get('paper') or ''}" for name, t in tables.items()]
    return "tables in " + str(root / "params.yaml") + ":\n" + "\n".join(lines)


def cmd_shards_verify(args) -> int:
    from humanvid.shards.verify import summary, verify_shards

    target = Path(args.name)
    if not target.is_dir():
        from humanvid.paths import Layout

        root = Path(args.workspace)
        cfg = load_config(root / "params.yaml")
        if args.name not in cfg.datasets:
            print(f"humanvid: {args.name}: neither a shards folder nor a dataset of params.yaml ({', '.join(cfg.datasets)})", file=sys.stderr)
            return 2
        target = Layout.at(root, cfg.paths).shards(args.name)
    report = verify_shards(target, progress=lambda m: print(m, file=sys.stderr))
    print(f"shards {target}: {summary(report)}")
    return 0 if report.ok else 1


def cmd_datasets_check(args) -> int:
    from humanvid.datasets.contract import check_dataset
    from humanvid.paths import Layout

    root = Path(args.workspace)
    cfg = load_config(root / "params.yaml")
    if args.name not in cfg.datasets:
        print(f"humanvid: datasets.{args.name}: not in params.yaml; known: {', '.join(cfg.datasets)}", file=sys.stderr)
        return 2
    raw = Layout.at(root, cfg.paths).raw(args.name)
    if not raw.is_dir():
        print(f"humanvid: {raw} does not exist yet: run `humanvid stage download@{args.name}` first", file=sys.stderr)
        return 2
    report = check_dataset(raw)
    print(f"dataset {args.name}: {report.checked} clips checked, {len(report.failed_clips)} failed at ingest, {len(report.problems)} problems")
    for clip_id, error in report.failed_clips:
        print(f"  failed at ingest: {clip_id}: {error}")
    for problem in report.problems:
        print(f"  PROBLEM: {problem}")
    return 0 if report.ok else 1


def cmd_weights(args) -> int:
    from humanvid import weights

    params = Path(args.workspace) / "params.yaml"
    cfg = load_config(params) if params.is_file() else None
    overrides = dict(cfg.weights.overrides) if cfg else {}  # the workspace's own copies count
    if cfg is not None:  # fetch records, verify checks, the workspace's lock
        os.environ["HUMANVID_WEIGHTS_LOCK"] = str(Path(args.workspace) / cfg.paths.weights_lock)

    if args.weights_command == "list":
        print(f"cache: {weights.cache_dir()}" + ("  (offline)" if weights.offline() else ""))
        print("| name | used by | source | sha256 | licence | here | pinned (weights.lock) |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for name, src in sorted(weights.WEIGHTS.items()):
            try:
                here = "yes" if weights.find(name, overrides) is not None else "no"
            except weights.MissingWeightsError:
                here = f"no (weights.overrides.{name} points nowhere)"
            published = "published" if src.sha256 else ("prefix published" if src.sha256_prefix else "none published")
            pinned = (weights.locked_digest(name) or "")[:12] or "not yet"
            print(f"| {name} | {src.used_by} | {src.source} | {published} | {src.licence} | {here} | {pinned} |")
        return 0
    if args.weights_command == "fetch":
        for name in args.names:
            print(f"{name}: {weights.fetch(name, progress=print)}")
        return 0
    bad = 0
    for name in args.names or sorted(weights.WEIGHTS):
        status, detail = weights.verify(name, overrides)
        bad += status == "bad" or (status == "missing" and bool(args.names))
        print(f"{status:8s} {name}: {detail}")
    return 1 if bad else 0


def cmd_estimators_validate(args) -> int:
    import json

    from humanvid.datasets import read_clip_table
    from humanvid.device import resolve_device, resolve_dtype
    from humanvid.estimators import ESTIMATORS
    from humanvid.estimators.validate import validate
    from humanvid.paths import Layout

    root = Path(args.workspace)
    cfg = load_config(root / "params.yaml")
    synth = [name for name, ds in cfg.datasets.items() if ds.plugin == "synthdance"]
    if not synth:
        print("humanvid: params.yaml has no synthdance dataset to validate against", file=sys.stderr)
        return 2
    raw = Layout.at(root, cfg.paths).raw(synth[0])
    if not (raw / "clips.parquet").is_file():
        print(f"humanvid: {raw} is not ingested yet: run `humanvid stage download@{synth[0]}` first", file=sys.stderr)
        return 2
    device = resolve_device(args.device)
    estimator = ESTIMATORS.get(args.name)(device, resolve_dtype("auto", device), raw, overrides=cfg.weights.overrides)
    clips = [c for c in read_clip_table(raw / "clips.parquet") if c.ok][: args.clips]
    result = validate(estimator, raw, clips, progress=lambda m: print(m, file=sys.stderr))
    print(f"| {args.name} on {synth[0]} ({len(clips)} clips) | value |")
    print("| --- | ---: |")
    for key, value in result["mean"].items():
        print(f"| {key} | {value:.4f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="humanvid", description="Reproduce human-video diffusion paper tables end to end.")
    parser.add_argument("--workspace", "-w", default=".", help="folder with params.yaml, dvc.yaml and .dvc/ (default: cwd)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("reproduce", help="run the stale stages of a table and write reports/{table}.md", epilog=_tables_epilog(argv),
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("table", nargs="?", default="demo", help="a table of params.yaml (listed below; default: demo)")
    p.add_argument("--no-wait", action="store_true", help="refuse at once if another humanvid command runs in this workspace")
    p.add_argument("--dispatch", choices=("local", "pools"), default="local",
                   help="local: every stage here (default); pools: GPU stages to the `gpu` pool's workers (needs PREFECT_API_URL, "
                        "git and a DVC remote; docs/workers.md)")  # fmt: skip
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="run the table as a DVC experiment with this params.yaml "
                   "change (`dvc exp run -S`; repeatable; `dvc exp show` lists experiments); the workspace must be in git")  # fmt: skip
    p.set_defaults(fn=cmd_reproduce)
    p = sub.add_parser("worker", help="Prefect workers for a pool on this machine (one per --gpu), with the pools and deployments")
    p.add_argument("--pool", default="gpu", help="cpu or gpu (default gpu)")
    p.add_argument("--gpu", action="append", help="a GPU (CUDA_VISIBLE_DEVICES value) per worker: --gpu 0 --gpu 1; --gpu 0,1 for a "
                                                   "worker whose stages train on both")  # fmt: skip
    p.set_defaults(fn=cmd_worker)
    p = sub.add_parser("plan", help="write pipeline.yaml (the training and sampling stages dvc.yaml reads) from params.yaml")
    p.set_defaults(fn=cmd_plan)
    p = sub.add_parser("stage", help="run one stage (e.g. sample@baseline_debug_w8) if DVC finds it stale: what a worker runs")
    p.add_argument("name")
    p.add_argument("--no-wait", action="store_true", help="refuse at once if another humanvid command runs in this workspace")
    p.set_defaults(fn=cmd_stage)
    p = sub.add_parser("shards", help="tools for Parquet shards")
    ssub = p.add_subparsers(dest="shards_command", required=True)
    q = ssub.add_parser("verify", help="schema version, checksums, counts against the index, every frame decodes")
    q.add_argument("name", help="a dataset of params.yaml, or a shards folder")
    q.set_defaults(fn=cmd_shards_verify)

    p = sub.add_parser("datasets", help="tools for dataset plugins")
    dsub = p.add_subparsers(dest="datasets_command", required=True)
    q = dsub.add_parser("new", help="scaffold a dataset plugin package and its contract test")
    q.add_argument("name")
    q.add_argument("--dest", default=".", help="where to create humanvid-NAME/ (default: cwd)")
    q.set_defaults(fn=cmd_datasets_new)
    q = dsub.add_parser("list", help="every dataset plugin (built-in and installed) and the datasets of params.yaml using it")
    q.set_defaults(fn=cmd_datasets_list)
    q = dsub.add_parser("check", help="check an ingested dataset against the contract and print what fails")
    q.add_argument("name")
    q.set_defaults(fn=cmd_datasets_check)
    p = sub.add_parser("estimators", help="condition estimators")
    esub = p.add_subparsers(dest="estimators_command", required=True)
    q = esub.add_parser("list", help="every condition estimator: what it provides, its weights, whether it needs a GPU")
    q.set_defaults(fn=cmd_estimators_list)
    q = esub.add_parser("validate", help="run an estimator on synthdance clips and report agreement with ground truth")
    q.add_argument("name")
    q.add_argument("--clips", type=int, default=4, help="how many clips (default 4)")
    q.add_argument("--device", default="auto")
    q.add_argument("--json", help="also write the per-clip results here")
    q.set_defaults(fn=cmd_estimators_validate)
    p = sub.add_parser("weights", help="released weights: list, fetch, verify")
    wsub = p.add_subparsers(dest="weights_command", required=True)
    q = wsub.add_parser("list", help="every known weight: source, checksum, licence, whether it is here")
    q.set_defaults(fn=cmd_weights)
    q = wsub.add_parser("fetch", help="download weights into the cache (refused in offline mode)")
    q.add_argument("names", nargs="+")
    q.set_defaults(fn=cmd_weights)
    q = wsub.add_parser("verify", help="check weights against their published checksum/size; exit 1 on a bad one")
    q.add_argument("names", nargs="*")
    q.set_defaults(fn=cmd_weights)
    for verb, what in (("pull", "fetch a table's results from the DVC remote (a fresh clone sees them without recomputing)"),
                       ("push", "send a table's results to the DVC remote")):
        p = sub.add_parser(verb, help=what)
        p.add_argument("table", nargs="?", default="demo")
        p.add_argument("--remote", "-r", help="a DVC remote of this workspace (default: its default remote)")
        p.add_argument("--no-wait", action="store_true", help="refuse at once if another humanvid command runs in this workspace")
        p.set_defaults(fn=cmd_pull if verb == "pull" else cmd_push)
    p = sub.add_parser("status", help="which stages of a table are stale, and why")
    p.add_argument("table", nargs="?", default="demo")
    p.set_defaults(fn=cmd_status)
    args = parser.parse_args(argv)
    from dvc.exceptions import DvcException

    from flows.lock import WorkspaceBusy
    from flows.workspace import WorkspaceError

    try:
        return args.fn(args)
    except (ConfigError, WorkspaceError, WorkspaceBusy, KeyError, FileNotFoundError) as exc:
        print(f"humanvid: {exc}", file=sys.stderr)
        return 2
    except DvcException as exc:  # never DVC's traceback as the only message: what failed, and what to do
        print(f"humanvid: {dvc_error(exc, Path(args.workspace))}", file=sys.stderr)
        return 2
    except Exception as exc:
        from flows.reproduce import StageFailed

        if isinstance(exc, StageFailed):
            print(f"humanvid: {exc}", file=sys.stderr)
            return 1
        raise


def dvc_error(exc, root: Path) -> str:
    """A DVC exception as one line with the remedy."""
    from dvc.lock import LockError

    if isinstance(exc, LockError):
        from flows.lock import holder

        return (f"{root.resolve()}: DVC's lock is held ({exc}); another DVC or humanvid process is using this workspace — last "
                f"humanvid holder: {holder(root.resolve())}. Run again when it has finished (`humanvid reproduce` waits for other "
                "humanvid commands by itself).")  # fmt: skip
    return f"DVC: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else exc!r} (in {root.resolve()}; `dvc doctor` and `dvc status` there say more)"


if __name__ == "__main__":
    sys.exit(main())
