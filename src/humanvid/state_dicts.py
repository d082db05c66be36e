"""Reading released weight files safely and loading them key for key.

`read_state_dict` opens `.safetensors` or a tensors-only `.pth/.pt/.ckpt` (`weights_only=True`);
`load_exact` refuses missing, unexpected or mis-shaped keys and names the file and the keys — a released
checkpoint that does not fit is an error, never a partly random model."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from torch import nn


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a `.pth/.pt/.ckpt` (tensors and plain values only: `weights_only=True`) or
    `.safetensors` file."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(obj).__name__}")
    return obj


def load_exact(module: nn.Module, state: dict[str, torch.Tensor], source: str, ignore_prefixes: tuple[str, ...] = (),
               covers: Callable[[str], bool] | None = None) -> None:  # fmt: skip
    """Load `state` into `module`, requiring the same key set and shapes (BatchNorm's
    `num_batches_tracked` may be absent: old files predate it). Keys under `ignore_prefixes` are dropped
    first (e.g. a classifier head a metric does not use). `covers`: the file is expected to hold only the
    module keys it accepts (e.g. a UNet's motion modules); the others keep their values."""
    state = {k: v for k, v in state.items() if not k.startswith(ignore_prefixes)}
    own = module.state_dict()
    expected = [k for k in own if covers is None or covers(k)]
    missing = sorted(k for k in expected if k not in state and not k.endswith("num_batches_tracked"))
    unexpected = sorted(k for k in state if k not in own)
    wrong = sorted(f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                   for k in state if k in own and state[k].shape != own[k].shape)  # fmt: skip
    if missing or unexpected or wrong:
        def head(items: list[str]) -> str:
            return ", ".join(items[:5]) + (f" … (+{len(items) - 5})" if len(items) > 5 else "")

        problems = [f"{len(missing)} missing ({head(missing)})" if missing else "",
                    f"{len(unexpected)} unexpected ({head(unexpected)})" if unexpected else "",
                    f"{len(wrong)} mis-shaped ({head(wrong)})" if wrong else ""]  # fmt: skip
        raise ValueError(f"{source}: does not match {type(module).__name__}: " + "; ".join(p for p in problems if p))
    module.load_state_dict(state, strict=False)
