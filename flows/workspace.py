"""What a table needs and what DVC says is stale, for one workspace (params.yaml + dvc.yaml + .dvc/)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from dvc.exceptions import DvcException
from dvc.repo import Repo

from flows import lockfile
from humanvid.config import Config, safe_load_yaml
from humanvid.estimators import ESTIMATORS
from humanvid.pipeline import PLAN_FILE, pipeline_stages, redact_urls, write_plan
from humanvid.validate import load_config

# Stage kinds whose work is GPU work; a later issue sends these to a GPU work pool.
GPU_KINDS = frozenset({"train", "sample"})


class WorkspaceError(RuntimeError):
    """The folder is not a usable workspace, or dvc.yaml and params.yaml disagree."""


@dataclass(frozen=True)
class StageState:
    name: str
    stale: bool
    reasons: list[str]  # why DVC says it must run ("" when fresh)
    upstream: list[str]  # stale stages it depends on (it re-runs if their outputs change)
    gpu: bool


def open_workspace(root: str | Path) -> tuple[Path, Config]:
    """Validate params.yaml before anything else; check the DVC files are there; bring pipeline.yaml (the
    training and sampling stages dvc.yaml reads) up to date with params.yaml."""
    root = Path(root).resolve()
    cfg = load_config(root / "params.yaml")  # ConfigError names the key path
    for needed in ("dvc.yaml", ".dvc"):
        if not (root / needed).exists():
            hint = "`dvc init` (or `dvc init --no-scm` outside git)" if needed == ".dvc" else "the project's dvc.yaml"
            raise WorkspaceError(f"{root}: no {needed}; a workspace needs params.yaml, dvc.yaml and .dvc/ ({hint})")
    if write_plan(root, cfg):
        print(f"humanvid: pipeline.yaml updated from params.yaml ({sum(len(m.stages) for m in cfg.models.values())} training stages)")
    return root, cfg


def table_rows(cfg: Config, table: str, root: Path):
    """The table's rows, each with its sampler and what it needs if it cannot run here."""
    from humanvid.reports.papers import resolve_rows

    if table not in cfg.tables:
        raise WorkspaceError(f"unknown table {table!r}; tables in params.yaml: {', '.join(cfg.tables) or '(none)'}")
    return resolve_rows(cfg, table, root)


def table_stages(cfg: Config, table: str, root: Path) -> list[str]:
    """The stages a table needs, from the config: runnable rows -> samplers -> models -> datasets. Rows
    that cannot run here (no sampler, missing weights) add nothing; the report shows what they need."""
    samplers = [r.sampler for r in table_rows(cfg, table, root) if r.needs is None]
    return pipeline_stages(cfg, samplers) + [f"report@{table}"]


def is_gpu_stage(cfg: Config, stage: str) -> bool:
    kind, _, item = stage.partition("@")
    if kind == "estimate":
        return any(ESTIMATORS.get(e).needs_gpu for e in cfg.estimators.get(item, []))
    return kind in GPU_KINDS


def _flatten(value, prefix: str) -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}"))
        return out
    return {prefix: value}


def _lookup(data: dict, dotted: str):
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _param_leaves(key: str, old, new) -> list[str]:
    """Which leaf keys under a changed param section differ between dvc.lock and params.yaml (URLs redacted)."""
    a, b = _flatten(redact_urls(old), key), _flatten(redact_urls(new), key)
    return [f"param {k}: {a.get(k, '(absent)')} -> {b.get(k, '(absent)')}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def _describe(stage: str, change: dict, lock: dict, params: dict[str, dict]) -> list[str]:
    """DVC status entries -> short human reasons, params down to the leaf key that changed (`params`: each
    params file's content by path)."""
    out = []
    for key, detail in change.items():
        if not isinstance(detail, dict):
            out.append(f"{key}: {detail}")
            continue
        for path, what in detail.items():
            if path in params and what == "new":
                if "never run (no dvc.lock entry)" not in out:
                    out.append("never run (no dvc.lock entry)")
            elif isinstance(what, dict):  # params: key -> modified/new/deleted
                old = ((lock.get("stages", {}).get(stage) or {}).get("params") or {}).get(path, {})
                for k, v in what.items():
                    out += _param_leaves(k, old.get(k), _lookup(params.get(path, {}), k)) or [f"param {k} {v}"]
            else:
                out.append(f"{key.replace('changed ', '')} {path} {redact_urls(what) if isinstance(what, str) else what}")
    return out


def _graph(repo: Repo):
    try:
        return repo.index.graph
    except DvcException as exc:  # e.g. dvc.yaml interpolating a key params.yaml lacks
        raise WorkspaceError(f"{repo.root_dir}/dvc.yaml: {exc}") from None


def ordered_stages(root: Path, names: list[str]) -> list[str]:
    """`names` in dependency order according to DVC's own graph."""
    import networkx as nx  # only here and in table_state: the no-op path needs no graph
    repo = Repo(str(root))
    try:
        graph = _graph(repo)
        by_name = {s.name: s for s in graph.nodes}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise WorkspaceError(f"dvc.yaml does not define stages {missing}; does it match params.yaml?")
        sub = graph.subgraph([by_name[n] for n in names])
        # Edges point from a stage to what it depends on: reverse for execution order; ties keep `names` order.
        rank = {n: i for i, n in enumerate(names)}
        return [s.name for s in nx.lexicographical_topological_sort(sub.reverse(), key=lambda s: rank[s.name])]
    finally:
        repo.close()


def upstream_stages(root: Path, names: list[str]) -> dict[str, list[str]]:
    """For each of `names`, the others it depends on (directly or through stages outside `names`), by DVC's graph."""
    import networkx as nx

    repo = Repo(str(root))
    try:
        graph = _graph(repo)
        by_name = {s.name: s for s in graph.nodes}
        return {n: [u for u in names if u != n and by_name[u] in nx.descendants(graph, by_name[n])] for n in names}
    finally:
        repo.close()


def stage_status(root: Path, names: list[str], cfg: Config | None = None) -> dict[str, list[str]]:
    """DVC's status of exactly these stages, plus evaluations whose missing weights have arrived:
    name -> reasons (only the stale ones appear). `cfg`: the validated params, if the caller has them."""
    repo = Repo(str(root))
    try:
        # dvc.yaml and dvc.lock parsed once, and only the wanted stages built: DVC's stage loader resolves one
        # `foreach` entry at a time, where `repo.index` builds every stage's dependencies and outputs (about 320
        # stages here: twice the time of one stage's status), and a `status(targets=...)` re-parses per target.
        from dvc.dvcfile import load_file

        status: dict[str, list] = {}
        lock_path = Path(repo.root_dir) / "dvc.lock"
        try:
            project = load_file(repo, str(Path(repo.root_dir) / "dvc.yaml"))
            # Only the asked stages' lock entries, parsed and validated as DVC would the whole lock (flows/lockfile.py);
            # a layout it does not recognise (or no lock) through DVC's own load of the whole file.
            lock = lockfile.read_entries(lock_path, names) if lock_path.is_file() else None
            if lock is None:
                lock = project.lockfile_contents
            loader = project.LOADER(project, project.contents, lock)
            stages = [loader[name] for name in dict.fromkeys(names)]
        except DvcException as exc:
            raise WorkspaceError(f"{repo.root_dir}/dvc.yaml: {exc}") from None
        with repo.lock:
            for stage in stages:
                status.update(stage.status())
    finally:
        repo.close()
    reasons = _weights_arrived(root, cfg or load_config(root / "params.yaml"), [n for n in names if n.startswith("evaluate@") and not any(a.endswith(":" + n) or a == n for a in status)])
    if not status:
        return reasons
    params = {f: safe_load_yaml((root / f).read_text()) for f in ("params.yaml", PLAN_FILE) if (root / f).is_file()}
    for address, changes in status.items():
        name = address.rpartition(":")[2]
        reasons[name] = [r for c in changes for r in (_describe(name, c, lock, params) if isinstance(c, dict) else [str(c)])]
    return reasons


WEIGHTS_ARRIVED = "weights now on this machine, evaluated without them: "


def _weights_arrived(root: Path, cfg: Config, evaluate_stages: list[str]) -> dict[str, list[str]]:
    """Evaluate stages whose metrics were computed without weights that are now present. DVC cannot see
    this (the weight cache is outside the workspace), so the stage is re-run with --force."""
    if not evaluate_stages:
        return {}
    from humanvid import weights
    from humanvid.paths import Layout

    layout = Layout.at(root, cfg.paths)
    out = {}
    for name in evaluate_stages:
        path = layout.metrics(name.partition("@")[2])
        if not path.is_file():
            continue
        known = [w for w in json.loads(path.read_text()).get("missing_weights", []) if w in weights.WEIGHTS]
        still_missing = weights.missing(known, cfg.weights.overrides)
        # Here and loadable: a file that is present but cannot be read is not an arrival.
        arrived = [w for w in known if w not in still_missing and weights.loadable(w, cfg.weights.overrides) is None]
        if arrived:
            out[name] = [WEIGHTS_ARRIVED + ", ".join(arrived)]
    return out


def table_state(root: Path, cfg: Config, table: str) -> list[StageState]:
    """Every stage of the table in order, with DVC's verdict and the stale stages upstream of it."""
    import networkx as nx
    names = ordered_stages(root, table_stages(cfg, table, root))
    stale = stage_status(root, names, cfg)
    repo = Repo(str(root))
    try:
        graph = _graph(repo)
        by_name = {s.name: s for s in graph.nodes}
        deps = {n: {d.name for d in nx.descendants(graph, by_name[n])} for n in names}
    finally:
        repo.close()
    return [
        StageState(n, n in stale, stale.get(n, []), [u for u in names if u in stale and u in deps[n]], is_gpu_stage(cfg, n))
        for n in names
    ]


def _tree_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else 0


def cache_disk_full(root: Path, stage: str, since: float) -> str | None:
    """After `stage` failed: when its outputs are in the workspace but do not fit into DVC's cache (DVC then
    says "No possible cache link types" or "failed to transfer … No space left on device" and leaves partial
    `.tmp` files there), remove those partial files (written since `since`, a time.time()) and say so in one
    line with the sizes; otherwise None."""
    from humanvid.disk import MARGIN, DiskFull, free_bytes

    repo = Repo(str(root))
    try:
        cache = Path(repo.cache.local.path)
        links = list(repo.config["cache"].get("type") or ["reflink", "copy"])
        by_name = {s.name: s for s in _graph(repo).nodes}
        outs = [Path(o.fs_path) for o in by_name[stage].outs if o.use_cache] if stage in by_name else []
    finally:
        repo.close()
    partial = [f for f in cache.rglob(".*.tmp") if f.is_file() and f.stat().st_mtime >= since - 1] if cache.is_dir() else []
    for f in partial:
        f.unlink(missing_ok=True)
    needed, free = sum(_tree_bytes(o) for o in outs), free_bytes(cache)
    if not outs or not all(o.exists() for o in outs) or needed * MARGIN <= free:
        return None
    what = f"stage {stage}'s outputs into DVC's cache at {cache} (cache.type {','.join(links)})"
    removed = "its partial cache files were removed; " if partial else ""
    return str(DiskFull(what, free, needed, f"{removed}free some space, or move the cache (`dvc cache dir PATH`), and run again"))
