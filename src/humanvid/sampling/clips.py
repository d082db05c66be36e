"""Sample every selected clip of a dataset: the clip's first frame is the reference, its conditions (the
model's control kind) drive."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from humanvid.config import SamplerConfig
from humanvid.sampling.denoise import sample_video
from humanvid.shards import ShardReader
from humanvid.shards.samples import CONTROL_SOURCES, control_images, to_model_frames
from humanvid.video import write_video

MANIFEST = "manifest.json"


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """(T, 3, S, S) in [-1, 1] -> uint8 (T, S, S, 3)."""
    return ((frames.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def sample_clips(model, reader: ShardReader, cfg: SamplerConfig, out_dir: Path, log: Callable[[str], None] = print) -> dict:
    """Write `{clip_id}.mp4` per clip and a manifest (status and error per clip) into `out_dir`."""
    clip_ids = reader.clip_ids(cfg.split)[: cfg.max_clips]
    if not clip_ids:
        raise ValueError(f"{reader.dir}: no {cfg.split} clips to sample")
    entries = []
    for n, clip_id in enumerate(clip_ids, 1):
        entry = {"clip_id": clip_id, "status": "ok", "error": "", "file": f"{clip_id}.mp4"}
        try:
            data = reader.read_clip(clip_id, conditions=CONTROL_SOURCES[model.control])
            meta = reader.clip_meta(clip_id)
            frames = data["frames"][: cfg.max_frames]
            h, w = frames.shape[1:3]
            reference = to_model_frames(frames[:1], model.resolution)[0]
            control = control_images(model.control, {c: data[c][: len(frames)] for c in CONTROL_SOURCES[model.control]}, h, w, model.resolution)
            generator = torch.Generator(model.device).manual_seed(cfg.seed * 1_000_003 + n)
            video = sample_video(model, reference, control, cfg.steps, cfg.window, cfg.overlap, cfg.guidance_scale, generator,
                                 cfg.closed_loop, cfg.window_batch, clip_sample=cfg.clip_sample)  # fmt: skip
            write_video(out_dir / entry["file"], to_uint8(video), meta["fps"])
            entry.update(frames=len(frames), fps=meta["fps"])
            log(f"clip {n}/{len(clip_ids)} {clip_id}: {len(frames)} frames")
        except Exception as exc:  # one clip's failure is recorded, the rest are sampled
            entry.update(status="failed", error=f"{type(exc).__name__}: {exc}")
            log(f"clip {n}/{len(clip_ids)} {clip_id} FAILED: {exc}")
        entries.append(entry)
    manifest = {"resolution": model.resolution, "control": model.control, "clips": entries, "conditions": reader.conditions,
                "dataset_failures": reader.manifest.get("failed", [])}  # fmt: skip
    (Path(out_dir) / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    if not any(e["status"] == "ok" for e in entries):
        raise RuntimeError(f"every clip failed to sample: {entries}")
    return manifest
