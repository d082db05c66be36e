"""Sample every selected clip of a dataset: the clip's first frame is the reference, its conditions (the
model's control kind) drive; every output the model declares is written (humanvid.sampling.outputs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import torch

from humanvid.config import SamplerConfig
from humanvid.controls import control_images, control_sources
from humanvid.disk import reraise_if_disk_full
from humanvid.sampling.outputs import write_outputs
from humanvid.shards import ShardReader
from humanvid.shards.samples import crop_conditions, to_model_frames

MANIFEST = "manifest.json"


def sample_clip(model, reader: ShardReader, clip_id: str, cfg: SamplerConfig, n: int) -> dict[str, torch.Tensor]:
    """The outputs of clip number `n` (1-based: it seeds the noise) of the sampler: `rgb` (T, 3, S, S) in [-1, 1] ..."""
    sources = control_sources(model.control) if model.control else ()
    extra = model.spec.sampling_conditions(model.options, cfg)
    data = reader.read_clip(clip_id, conditions=tuple(dict.fromkeys((*sources, *extra))))
    frames = data["frames"][: cfg.max_frames]
    h, w = frames.shape[1:3]
    reference = to_model_frames(frames[:1], model.resolution)[0]
    control = control_images(model.control, {c: data[c][: len(frames)] for c in sources}, h, w, model.resolution) if model.control else None
    conditions = crop_conditions({c: data[c][: len(frames)] for c in extra}, h, w, model.resolution) if extra else None
    generator = torch.Generator(model.device).manual_seed(cfg.seed * 1_000_003 + n)
    return model.generate(reference, control, len(frames), cfg, generator, conditions)


def sample_clips(model, reader: ShardReader, cfg: SamplerConfig, out_dir: Path, log: Callable[[str], None] = print) -> dict:
    """Write each clip's outputs into `out_dir` and a manifest (status, error and output files per clip)."""
    clip_ids = reader.clip_ids(cfg.split)[: cfg.max_clips]
    if not clip_ids:
        raise ValueError(f"{reader.dir}: no {cfg.split} clips to sample")
    entries = []
    for n, clip_id in enumerate(clip_ids, 1):
        entry = {"clip_id": clip_id, "status": "ok", "error": "", "outputs": {}}
        try:
            outputs = sample_clip(model, reader, clip_id, cfg, n)
            meta = reader.clip_meta(clip_id)
            entry["outputs"] = write_outputs(out_dir, clip_id, outputs, meta["fps"])
            entry.update(frames=len(outputs["rgb"]), fps=meta["fps"])
            log(f"clip {n}/{len(clip_ids)} {clip_id}: {len(outputs['rgb'])} frames ({', '.join(outputs)})")
        except Exception as exc:  # one clip's failure is recorded, the rest are sampled
            reraise_if_disk_full(exc)
            entry.update(status="failed", error=f"{type(exc).__name__}: {exc}")
            log(f"clip {n}/{len(clip_ids)} {clip_id} FAILED: {exc}")
        entries.append(entry)
    manifest = {"resolution": model.resolution, "control": model.control, "outputs": list(model.outputs), "clips": entries,
                "conditions": reader.conditions, "dataset_failures": reader.manifest.get("failed", [])}  # fmt: skip
    (Path(out_dir) / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    if not any(e["status"] == "ok" for e in entries):
        raise RuntimeError(f"every clip failed to sample: {entries}")
    return manifest
