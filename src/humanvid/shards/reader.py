"""Read Parquet shards v1: random access to rows through the index, whole clips in frame order."""

from __future__ import annotations

import contextlib
import copy
import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from humanvid.shards.codec import decode_condition, decode_jpeg
from humanvid.shards.schema import (
    ARRAY_CONDITIONS,
    INDEX_FILE,
    MANIFEST_FILE,
    META_CONDITIONS,
    META_VERSION,
    SCHEMA_VERSION,
)


class ShardError(ValueError):
    """Shards that are missing, of another schema version, or inconsistent with their index."""


@contextlib.contextmanager
def _damaged(path: Path, what: str) -> Iterator[None]:
    """Whatever a damaged file makes Arrow, JSON or a decoder raise becomes a ShardError naming the file."""
    try:
        yield
    except ShardError:
        raise
    except (pa.ArrowException, OSError, ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ShardError(f"{path}: {what}: {reason} — the file is damaged; re-run its shard stage (`dvc repro --force shard@DATASET`)") from exc


class ShardReader:
    """One dataset's shards directory."""

    def __init__(self, shards_dir: str | Path) -> None:
        self.dir = Path(shards_dir)
        index_path, manifest_path = self.dir / INDEX_FILE, self.dir / MANIFEST_FILE
        for p in (index_path, manifest_path):
            if not p.is_file():
                raise ShardError(f"{p}: not found (has the shard stage run?)")
        with _damaged(manifest_path, "not a shard manifest"):
            self.manifest = json.loads(manifest_path.read_text())
            if not isinstance(self.manifest, dict):
                raise ValueError(f"a JSON {type(self.manifest).__name__}, not an object")
            if self.manifest.get("schema_version") != SCHEMA_VERSION:
                raise ShardError(f"{manifest_path}: schema version {self.manifest.get('schema_version')}, this reader reads {SCHEMA_VERSION}")
            self.conditions: dict[str, dict] = dict(self.manifest["conditions"])
        with _damaged(index_path, "not a shard index"):
            self.index = pq.read_table(index_path).to_pylist()
            for entry in self.index:
                if missing := {"clip_id", "split", "shard", "row", "row_group", "row_in_group", "frame_start"} - set(entry):
                    raise ValueError(f"entries lack {sorted(missing)}")
                if not (isinstance(entry["shard"], str) and (self.dir / entry["shard"]).parent == self.dir):
                    raise ValueError(f"an entry names shard {entry['shard']!r}")
        self._files: dict[str, pq.ParquetFile] = {}
        self._groups: OrderedDict[tuple[str, int], object] = OrderedDict()
        self._lock, self._read_lock = threading.Lock(), threading.Lock()

    def restricted(self, identities: list[str] | None = None, exclude: list[str] | tuple[str, ...] = ()) -> "ShardReader":
        """A reader of the same shards that sees only the clips of `identities` (None: every identity) minus those of
        `exclude` — a stage that pre-trains on the other subjects, a person-specific model's clips."""
        if identities is None and not exclude:
            return self
        known = sorted({r["identity"] for r in self.index})
        unknown = sorted((set(identities or ()) | set(exclude)) - set(known))
        if unknown:
            raise ValueError(f"{self.dir}: no identities {unknown} in these shards; they hold {known}")
        keep = lambda identity: (identities is None or identity in identities) and identity not in exclude  # noqa: E731
        view = copy.copy(self)
        view.index = [r for r in self.index if keep(r["identity"])]
        if not view.index:
            raise ValueError(f"{self.dir}: identities {identities} without {list(exclude)} leave no clip")
        return view

    def __getstate__(self) -> dict:  # for DataLoader workers started by spawn: locks and open files stay behind
        state = dict(self.__dict__)
        for key in ("_lock", "_read_lock", "_files", "_groups"):
            state.pop(key)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._files, self._groups = {}, OrderedDict()
        self._lock, self._read_lock = threading.Lock(), threading.Lock()

    def _file(self, name: str) -> pq.ParquetFile:
        if name in self._files:
            return self._files[name]
        with _damaged(self.dir / name, "not a readable shard"):
            pf = pq.ParquetFile(self.dir / name)
            meta = pf.schema_arrow.metadata or {}
            if meta.get(META_VERSION) != str(SCHEMA_VERSION).encode():
                raise ShardError(f"{self.dir / name}: schema version {meta.get(META_VERSION)!r}, expected {SCHEMA_VERSION}")
            if json.loads(meta[META_CONDITIONS]) != self.conditions:
                raise ShardError(f"{self.dir / name}: conditions differ from the manifest")
        self._files[name] = pf
        return pf

    def _row_group(self, name: str, group: int):
        """A row group, from a small per-reader LRU cache (consecutive reads often hit the same group).
        Thread-safe: the training loader reads from several threads."""
        key = (name, group)
        with self._lock:
            if key in self._groups:
                self._groups.move_to_end(key)
                return self._groups[key]
        with self._read_lock:  # one ParquetFile is not promised to be safe for concurrent reads
            pf = self._file(name)
            with _damaged(self.dir / name, f"row group {group}"):
                table = pf.read_row_group(group)
        with self._lock:
            self._groups[key] = table
            if len(self._groups) > 8:
                self._groups.popitem(last=False)
        return table

    def rows(self, split: str | None = None) -> list[dict]:
        """Index entries, optionally of one split."""
        return [r for r in self.index if split is None or r["split"] == split]

    def clip_ids(self, split: str | None = None) -> list[str]:
        return list(dict.fromkeys(r["clip_id"] for r in self.rows(split)))

    def read_items(self, entry: dict, columns: tuple[str, ...], offsets: list[int]) -> dict[str, list]:
        """Only the given frames of a row: column -> per-offset values (bytes for JPEG and image-condition columns, float32
        arrays for keypoints and SMPL-X parameters), without turning the rest of the row into Python objects (a training sample
        uses a few frames of a window; `read_raw` copies all of them)."""
        with _damaged(self.dir / str(entry["shard"]), f"row {entry.get('row')}"):
            table = self._row_group(entry["shard"], entry["row_group"])
            i = entry["row_in_group"]
            if table.column("clip_id")[i].as_py() != entry["clip_id"] or table.column("frame_start")[i].as_py() != entry["frame_start"]:
                raise ShardError(f"{self.dir / entry['shard']}: row {entry['row']} does not match the index")
            out = {}
            for name in columns:
                items = table.column(name)[i].values  # this row's list: one item per frame
                if name in ARRAY_CONDITIONS:
                    out[name] = [items[k].values.to_numpy(zero_copy_only=False) for k in offsets]
                else:
                    out[name] = [items[k].as_buffer().to_pybytes() for k in offsets]
            return out

    def read_raw(self, entry: dict) -> dict:
        """One row as stored (bytes and flat lists)."""
        with _damaged(self.dir / str(entry["shard"]), f"row {entry.get('row')}"):
            table = self._row_group(entry["shard"], entry["row_group"])
            row = table.slice(entry["row_in_group"], 1).to_pylist()[0]
            if row["clip_id"] != entry["clip_id"] or row["frame_start"] != entry["frame_start"]:
                raise ShardError(f"{self.dir / entry['shard']}: row {entry['row']} does not match the index")
            return row

    def decode(self, row: dict, frames: list[int] | None = None, conditions: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        """Decode a raw row — only the given frame indices and conditions (default: all) — into frames uint8
        (T, H, W, 3) and condition arrays. Undecoded conditions cost nothing, so callers name what they use."""

        def pick(values: list) -> list:
            return values if frames is None else [values[i] for i in frames]

        wanted = self.conditions if conditions is None else conditions
        missing = set(wanted) - set(self.conditions)
        if missing:
            raise ShardError(f"{self.dir}: shards have no conditions {sorted(missing)}; they have {sorted(self.conditions)}")
        out = {"frames": np.stack([decode_jpeg(b) for b in pick(row["frames"])])}
        for name in wanted:
            values = pick(row[name])
            if name in ARRAY_CONDITIONS:
                out[name] = np.asarray(values, dtype=np.float32).reshape(len(values), *ARRAY_CONDITIONS[name])
            else:
                out[name] = np.stack([decode_condition(name, b) for b in values])
        return out

    def read_clip(self, clip_id: str, conditions: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        """A whole clip in frame order (its windows concatenated), with the given conditions (default: all)."""
        entries = sorted((r for r in self.index if r["clip_id"] == clip_id), key=lambda r: r["frame_start"])
        if not entries:
            raise ShardError(f"{self.dir}: no clip {clip_id!r} in the shards")
        parts = []
        for e in entries:
            row = self.read_raw(e)
            with _damaged(self.dir / e["shard"], f"row {e['row']} does not decode"):
                parts.append(self.decode(row, conditions=conditions))
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def clip_meta(self, clip_id: str) -> dict:
        entry = next((r for r in self.index if r["clip_id"] == clip_id), None)
        if entry is None:
            raise ShardError(f"{self.dir}: no clip {clip_id!r} in the shards")
        row = self.read_raw(entry)
        with _damaged(self.dir / entry["shard"], f"row {entry['row']}"):
            return {k: row[k] for k in ("dataset", "clip_id", "identity", "split", "fps", "width", "height")}
