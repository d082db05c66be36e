"""Compare a sampler's videos with the ground-truth frames they re-create; write metrics and a preview."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image

from humanvid.conditions import crop_resize
from humanvid.metrics import METRICS, evaluate_frames
from humanvid.sampling.clips import MANIFEST
from humanvid.shards import ShardReader
from humanvid.shards.samples import to_pose_images
from humanvid.video import read_video

PROTOCOL = "corrected"


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def evaluate_samples(samples_dir: Path, reader: ShardReader, metric_names: list[str] | None = None) -> tuple[dict, dict]:
    """-> (metrics document, preview arrays of the first ok clip)."""
    samples_dir = Path(samples_dir)
    manifest = json.loads((samples_dir / MANIFEST).read_text())
    size = manifest["resolution"]
    names = metric_names or list(METRICS)
    per_clip, pooled, failed, preview = {}, {n: [] for n in names}, [], {}
    for entry in manifest["clips"]:
        cid = entry["clip_id"]
        if entry["status"] != "ok":
            failed.append({"clip_id": cid, "stage": "sample", "error": entry["error"]})
            continue
        try:
            pred = read_video(samples_dir / entry["file"])
            data = reader.read_clip(cid, conditions=("openpose18",))
            target = np.stack([crop_resize(f, size) for f in data["frames"][: len(pred)]])
            values = evaluate_frames(pred, target, names)
        except Exception as exc:  # recorded, the other clips still count
            failed.append({"clip_id": cid, "stage": "evaluate", "error": f"{type(exc).__name__}: {exc}"})
            continue
        per_clip[cid] = {n: _mean(v) for n, v in values.items()} | {"frames": len(pred)}
        for n, v in values.items():
            pooled[n].extend(v)
        if not preview:
            h, w = data["frames"].shape[1:3]
            pose = to_pose_images(data["openpose18"][: len(pred)], h, w, size)
            preview = {"generated": pred, "ground_truth": target, "condition": (pose.permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)}
    if not per_clip:
        raise RuntimeError(f"{samples_dir}: no clip could be evaluated: {failed}")
    doc = {
        "protocol": PROTOCOL,
        "overall": {n: _mean(v) for n, v in pooled.items()},
        "frames": len(pooled[names[0]]) if names else 0,
        "clips": per_clip,
        "failed": manifest.get("dataset_failures", []) + failed,
        "conditions": manifest["conditions"],
    }
    return doc, preview


def preview_image(preview: dict[str, np.ndarray], columns: int = 8, min_size: int = 128) -> np.ndarray:
    """Rows generated | ground truth | condition, `columns` frames evenly spaced, upscaled for viewing."""
    rows = []
    for key in ("generated", "ground_truth", "condition"):
        frames = preview[key]
        idx = np.linspace(0, len(frames) - 1, min(columns, len(frames))).round().astype(int)
        rows.append(np.concatenate([frames[i] for i in idx], axis=1))
    grid = np.concatenate(rows, axis=0)
    scale = max(1, int(np.ceil(min_size / preview["generated"].shape[1])))
    return np.asarray(Image.fromarray(grid).resize((grid.shape[1] * scale, grid.shape[0] * scale), Image.NEAREST))
