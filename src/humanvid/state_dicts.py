"""Reading released weight files safely and loading them key for key.

`read_state_dict` opens `.safetensors` or a tensors-only `.pth/.pt/.ckpt` (`weights_only=True`);
`load_exact` refuses missing, unexpected or mis-shaped keys and names the file and the keys — a released
checkpoint that does not fit is an error, never a partly random model."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from torch import nn


class WeightFileError(ValueError):
    """A weight file that cannot be read safely or does not hold what its loader expects; names the file."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a `.pth/.pt/.ckpt` (tensors and plain values only: `weights_only=True`) or
    `.safetensors` file; a file that is empty, truncated, not a checkpoint, or a pickle holding more than
    tensors (one that could run code) is a `WeightFileError` naming it — never the reader's own message."""
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise WeightFileError(f"{path} is empty")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise WeightFileError(f"{path}: not a readable safetensors file ({_first_line(exc)})") from None
    import pickle

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "GLOBAL" in str(exc) or "Unsupported global" in str(exc):  # torch's weights_only unpickler refused to build an object
            raise WeightFileError(f"{path}: holds Python objects besides tensors (a pickle that could run code), refused; save it as "
                                  "safetensors or a tensors-only state dict") from None  # fmt: skip
        raise WeightFileError(f"{path}: not a readable torch checkpoint — truncated, corrupt, or a pickle of something else; refused "
                              "(a weight file is a tensors-only .pth/.pt or a .safetensors)") from None  # fmt: skip
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise WeightFileError(
            f"{path}: not a readable torch checkpoint — truncated or corrupt ({_first_line(exc) or type(exc).__name__})"
        ) from None
    if not isinstance(obj, dict):
        raise WeightFileError(f"{path}: expected a state dict, got {type(obj).__name__}")
    return obj


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else ""


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
        raise WeightFileError(f"{source}: does not match {type(module).__name__}: " + "; ".join(p for p in problems if p))
    module.load_state_dict(state, strict=False)


MODEL_WEIGHT_FILES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")
"""What a diffusers model folder holds its weights in, in the order they are looked for."""


def model_weight_file(folder: Path) -> Path:
    for name in MODEL_WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"{folder}: no {' or '.join(MODEL_WEIGHT_FILES)}")


def load_model_folder(cls, folder: str | Path):
    """A released diffusers model folder (config.json + weights) as `cls`, built from its config and loaded key for
    key (`load_exact`: a missing, unexpected or mis-shaped key is an error naming it; a `.bin` is read tensors-only).
    Config keys that start with `_` (class name, library version) are not `cls`'s: a folder whose config names
    another class with the same keys (MagicAnimate's AppearanceEncoderModel) loads as `cls`."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder}: no config.json")
    config = {k: v for k, v in cls.load_config(folder).items() if not k.startswith("_")}
    model = cls.from_config(config)
    path = model_weight_file(folder)
    load_exact(model, read_state_dict(path), str(path))
    return model
