"""Named released weights: where they come from and where they are found locally.

Nothing here downloads. A weight is found, in order, at `HUMANVID_WEIGHTS_DIR/<name>` (a directory laid
out as the hub repository), or in the Hugging Face cache (`local_files_only`). A missing weight raises
`MissingWeightsError` saying exactly what to fetch and where to put it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


class MissingWeightsError(FileNotFoundError):
    """A released weight that is not on this machine."""


@dataclass(frozen=True)
class WeightSource:
    name: str
    repo: str
    licence: str
    used_by: str


WEIGHTS: dict[str, WeightSource] = {
    w.name: w
    for w in [
        WeightSource("sd15", "stable-diffusion-v1-5/stable-diffusion-v1-5", "CreativeML OpenRAIL-M", "baseline/sd15: vae, unet"),
        WeightSource("animatediff-v1-5-2", "guoyww/animatediff-motion-adapter-v1-5-2", "Apache-2.0", "baseline/sd15: motion modules"),
        WeightSource("controlnet-openpose", "lllyasviel/control_v11p_sd15_openpose", "CreativeML OpenRAIL-M", "baseline/sd15: pose ControlNet"),
        WeightSource("clip-vit-large-patch14", "openai/clip-vit-large-patch14", "MIT", "baseline/sd15: reference image tokens"),
    ]
}


def weights_dir() -> Path | None:
    value = os.environ.get("HUMANVID_WEIGHTS_DIR")
    return Path(value) if value else None


def resolve(name: str) -> str:
    """A path or repo id that `from_pretrained(..., local_files_only=True)` can load, or MissingWeightsError."""
    if name not in WEIGHTS:
        raise KeyError(f"unknown weight {name!r}; known: {', '.join(sorted(WEIGHTS))}")
    src = WEIGHTS[name]
    root = weights_dir()
    if root is not None and (root / name).is_dir():
        return str(root / name)
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(src.repo, local_files_only=True)
    except Exception:
        pass
    where = str(root / name) if root is not None else f"$HUMANVID_WEIGHTS_DIR/{name} (set HUMANVID_WEIGHTS_DIR first)"
    raise MissingWeightsError(
        f"weight {name!r} ({src.used_by}) is not on this machine. Fetch the hub repository {src.repo!r} "
        f"(licence: {src.licence}), e.g. `huggingface-cli download {src.repo} --local-dir {where}`, "
        f"or into the Hugging Face cache."
    )
