"""What a sampler writes per clip for each output kind (humanvid.models.spec.OUTPUT_KINDS), and how the
evaluator reads it back: one fact, spelled once for both stages.

- `rgb`: `{clip}.mp4` (H.264), frames (T, 3, S, S) in [-1, 1] -> uint8 video;
- `depth`: `{clip}_depth.npz` with `depth` float32 (T, S, S): relative depth (evaluation aligns scale and shift).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FILES = {"rgb": "{clip}.mp4", "depth": "{clip}_depth.npz"}


def output_file(kind: str, clip_id: str) -> str:
    if kind not in FILES:
        raise ValueError(f"unknown output kind {kind!r}; known: {', '.join(FILES)}")
    return FILES[kind].format(clip=clip_id)


def to_uint8(frames) -> np.ndarray:
    """(T, 3, S, S) in [-1, 1] -> uint8 (T, S, S, 3)."""
    return ((frames.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def write_outputs(out_dir: Path, clip_id: str, outputs: dict, fps: float) -> dict[str, str]:
    """Write each output of one clip into `out_dir` (atomically); -> kind -> file name."""
    from humanvid.atomic import atomic_file
    from humanvid.video import write_video

    files = {}
    for kind, value in outputs.items():
        name = output_file(kind, clip_id)
        if kind == "rgb":
            write_video(Path(out_dir) / name, to_uint8(value), fps)
        else:
            with atomic_file(Path(out_dir) / name) as tmp, open(tmp, "wb") as fh:
                np.savez_compressed(fh, depth=value.float().cpu().numpy().astype(np.float32))
        files[kind] = name
    return files


def read_depth(path: Path, frames: int) -> np.ndarray:
    """A depth output's first `frames` maps (T, S, S) float32, or a clear error naming the file."""
    with np.load(path) as npz:
        if "depth" not in npz:
            raise ValueError(f"{path}: no array 'depth' (has {', '.join(npz.files)})")
        return npz["depth"][:frames].astype(np.float32)
