"""Device and dtype are chosen once, at a stage's entry, and passed down: never guessed deep inside."""

from __future__ import annotations

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> the best device present (CUDA when available, else CPU); anything else as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for but CUDA is not available on this machine")
    return device


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """'auto' -> bfloat16 on CUDA, float32 on CPU; or one of float32, float16, bfloat16."""
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    table = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if name not in table:
        raise ValueError(f"unknown dtype {name!r}; choose one of: auto, {', '.join(table)}")
    return table[name]


def pin_float32_precision(dtype: torch.dtype) -> None:
    """For a stage that computes in float32, pin CUDA's float32 matmuls and cuDNN convolutions to IEEE float32.
    torch runs float32 convolutions in TF32 on Ampere and later by default (10-bit mantissa), which moves FID-type
    features and any protocol that says float32; a stage in bfloat16/float16 is left as it is. Process-wide, so
    it is called at a stage's entry, where the dtype is chosen."""
    if dtype == torch.float32:
        torch.backends.cuda.matmul.fp32_precision = "ieee"
        torch.backends.cudnn.conv.fp32_precision = "ieee"
