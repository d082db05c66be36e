"""Estimator outputs on disk: `{estimator_dir}/{clip_id}.npz` per clip plus `status.parquet`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from humanvid.atomic import atomic_file

STATUS_FILE = "status.parquet"
INFO_FILE = "estimator.json"


def save_conditions(estimator_dir: Path, clip_id: str, conditions: dict[str, np.ndarray]) -> None:
    with atomic_file(Path(estimator_dir) / f"{clip_id}.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **conditions)


def load_conditions(estimator_dir: Path, clip_id: str) -> dict[str, np.ndarray]:
    path = Path(estimator_dir) / f"{clip_id}.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no conditions for clip {clip_id!r}")
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def write_status(estimator_dir: Path, rows: list[dict]) -> None:
    """rows: clip_id, status ("ok" | "failed"), error."""
    table = pa.Table.from_pylist(rows, schema=pa.schema([("clip_id", pa.string()), ("status", pa.string()), ("error", pa.string())]))
    with atomic_file(Path(estimator_dir) / STATUS_FILE) as tmp:
        pq.write_table(table, tmp)


def read_status(estimator_dir: Path) -> dict[str, tuple[str, str]]:
    path = Path(estimator_dir) / STATUS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: estimator status not found (has the estimate stage run?)")
    return {r["clip_id"]: (r["status"], r["error"]) for r in pq.read_table(path).to_pylist()}


def write_info(estimator_dir: Path, info: dict) -> None:
    with atomic_file(Path(estimator_dir) / INFO_FILE) as tmp:
        tmp.write_text(json.dumps(info, indent=2, sort_keys=True))


def read_info(estimator_dir: Path) -> dict:
    return json.loads((Path(estimator_dir) / INFO_FILE).read_text())
