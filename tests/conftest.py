"""Shared fixtures: tiny but real configurations and throwaway DVC workspaces (never the checkout)."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Two pytest-xdist workers share the machine's cores with each other and with the stage processes they start:
    # torch's default spin-waiting threads would fight (humanvid.threads: 12x slower per step beside one busy
    # process). One passive thread per process, set before any test imports torch; the stage processes inherit it.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# The smallest configuration that still exercises every stage for real.
TINY_PARAMS = {
    "paths": yaml.safe_load((REPO / "params.yaml").read_text())["paths"],
    "datasets": {
        "synthdance": {
            "plugin": "synthdance",
            "options": {"seed": 0, "identities": 2, "clips_per_identity": 2, "test_clips_per_identity": 1,
                        "num_frames": 12, "fps": 12, "width": 32, "height": 32},
            "shard": {"window_frames": 12, "rows_per_group": 2, "rows_per_file": 3},
        }
    },
    "estimators": {"synthdance": ["groundtruth"]},
    "models": {
        "tiny": {
            "arch": {"method": "baseline", "flavor": "debug", "resolution": 32},
            "run": {"seed": 0, "device": "cpu"},
            "stages": {
                "vae": {"data": "synthdance", "recipe": {"kind": "reference_clip"}, "steps": 3, "batch_size": 4, "lr": 1e-3, "log_every": 1},
                "pretrain": {"data": "synthdance", "recipe": {"kind": "reference_clip"}, "steps": 3, "batch_size": 2, "log_every": 1},
                "finetune": {"data": "synthdance", "recipe": {"kind": "reference_clip", "frames": 4, "stride": 2}, "steps": 2, "log_every": 1},
            },
        }
    },
    "samplers": {"tiny_w4": {"model": "tiny", "data": "synthdance", "window": 4, "overlap": 1, "steps": 2, "max_frames": 8, "device": "cpu"}},
    "evaluation": {"metrics": ["l1", "psnr", "ssim", "lpips", "fid", "fvd"], "device": "cpu"},
    "tables": {"demo": {"title": "tiny demo", "rows": {"tiny": "tiny_w4"}, "columns": ["l1", "psnr", "ssim", "fid"]}},
}  # fmt: skip


@pytest.fixture(autouse=True)
def isolated_weights(tmp_path_factory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty weight cache per test: results never depend on what this machine happens to hold."""
    path = tmp_path_factory.mktemp("weights")
    monkeypatch.setenv("HUMANVID_WEIGHTS_DIR", str(path))
    monkeypatch.setenv("HF_HUB_CACHE", str(path / "hf"))
    monkeypatch.setenv("HUMANVID_WEIGHTS_LOCK", str(path / "weights.lock"))
    return path


@pytest.fixture
def tiny_params() -> dict:
    return copy.deepcopy(TINY_PARAMS)


def config_errors(params: dict) -> str:
    """The ConfigError text `params` give (validated against the repository's files); fails if they are valid."""
    from humanvid.config import ConfigError
    from humanvid.validate import parse_config

    with pytest.raises(ConfigError) as err:
        parse_config(params, root=REPO)
    return str(err.value)


def copy_code(path: Path) -> None:
    """The stages' code dependencies (dvc.yaml lists tasks/ and src/humanvid/ paths), as in a checkout."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(REPO / "tasks", path / "tasks", ignore=ignore, dirs_exist_ok=True)
    shutil.copytree(REPO / "src" / "humanvid", path / "src" / "humanvid", ignore=ignore, dirs_exist_ok=True)
    shutil.copy(REPO / ".dvcignore", path / ".dvcignore")
    shutil.copytree(REPO / "reports" / "papers", path / "reports" / "papers", dirs_exist_ok=True)


def make_workspace(path: Path, params: dict) -> Path:
    """A fresh workspace: the project's dvc.yaml, its code dependencies, the given params and the pipeline.yaml
    they give, `dvc init --no-scm`."""
    from humanvid.pipeline import write_plan
    from humanvid.validate import parse_config

    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dvc.yaml", path / "dvc.yaml")
    copy_code(path)
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    write_plan(path, parse_config(params, root=REPO))
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=path, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "config", "core.analytics", "false"], cwd=path, check=True)
    return path


@pytest.fixture
def workspace(tmp_path: Path, tiny_params: dict, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    return make_workspace(tmp_path / "ws", tiny_params)


def stage_workspace(root: Path, shards: dict[str, Path], models: dict, samplers: dict | None = None):
    """A validated config and layout whose datasets are existing shards folders (linked into `data/shards`),
    for running training stages through the real stage runner without the DVC pipeline. -> (cfg, layout)."""
    from humanvid.paths import Layout
    from humanvid.validate import parse_config

    params = copy.deepcopy(TINY_PARAMS)
    params["datasets"] = {name: copy.deepcopy(TINY_PARAMS["datasets"]["synthdance"]) for name in shards}
    params["estimators"] = {name: ["groundtruth"] for name in shards}
    params["models"], params["samplers"], params["tables"] = models, samplers or {}, {}
    cfg = parse_config(params, root=REPO)
    layout = Layout.at(root, cfg.paths)
    for name, path in shards.items():
        layout.shards(name).parent.mkdir(parents=True, exist_ok=True)
        if not layout.shards(name).exists():
            layout.shards(name).symlink_to(Path(path).resolve())
    return cfg, layout


def train_model(cfg, layout, model: str, log=lambda m: None) -> Path:
    """Every training stage of `model`, in order, through `humanvid.training.run`; -> the last checkpoint."""
    from humanvid.training.run import placement, run_stage

    where = placement(cfg.models[model].run)
    out = None
    for stage in cfg.models[model].stages:
        out = layout.checkpoint(model, stage)
        out.mkdir(parents=True, exist_ok=True)
        run_stage(cfg, layout, model, stage, out, where, log)
    return out


def committed_spread(table: str, sampler: str, metric: str):
    """A metric of a sampler over the seeds a table runs, from the committed evidence (`reports/metrics/`, written by
    `humanvid reproduce <table>`): a `humanvid.seeds.Spread`."""
    import json

    from humanvid.seeds import Spread, seed_runs
    from humanvid.validate import load_config

    cfg = load_config(REPO / "params.yaml")
    metrics = REPO / "reports" / "metrics"
    docs = [json.loads((metrics / f"{name}.json").read_text()) for name in seed_runs(cfg, sampler, cfg.tables[table].seeds)]
    return Spread.of([d["overall"][metric] for d in docs])


def assert_row_beats(table: str, better: str, worse: str, metric: str, sign: int) -> None:
    """Sampler `better` beats sampler `worse` of `table` on `metric` (direction ±1) by more than the seed spread, on the
    committed evidence."""
    from humanvid.seeds import exceeds_spread

    row, bar = committed_spread(table, better, metric), committed_spread(table, worse, metric)
    assert sign * (row.mean - bar.mean) > 0 and exceeds_spread(row, bar), (table, better, worse, metric, row, bar)


def assert_rows_beat_the_floor(table: str, method: str, floor: str, metrics=(("l1", -1), ("psnr", 1), ("ssim", 1)),
                               skip: tuple[str, ...] = ()) -> list[str]:  # fmt: skip
    """Every row of `table` whose model is `method` beats the `floor` sampler on each metric (direction ±1) by more than
    the seed spread, on the committed evidence; returns the rows' labels."""
    from humanvid.validate import load_config

    cfg = load_config(REPO / "params.yaml")
    rows = {label: s for label, s in cfg.tables[table].rows.items()
            if cfg.models[cfg.samplers[s].model].arch.method == method and s not in skip}  # fmt: skip
    for sampler in rows.values():
        for metric, sign in metrics:
            assert_row_beats(table, sampler, floor, metric, sign)
    return list(rows)
