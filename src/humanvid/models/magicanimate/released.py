"""MagicAnimate's released checkpoints (hf `zcxu-eric/MagicAnimate`) into humanvid's modules, by name.

The release, as its inference code reads it:

    appearance_encoder/   config.json (_class_name AppearanceEncoderModel) + diffusion_pytorch_model.safetensors
                          — a UNet2DConditionModel's keys
    densepose_controlnet/ config.json + diffusion_pytorch_model.safetensors — a diffusers ControlNetModel
    temporal_attention/temporal_attention.ckpt — AnimateDiff v1 motion modules (Vanilla, max length 24,
                          none in the mid block), possibly under `state_dict`, with `module.`/`unet.`
                          prefixes and a `global_step`

plus Stable Diffusion 1.5 (UNet, text encoder) and `stabilityai/sd-vae-ft-mse`. AnimateDiff v1 names its
motion-module tensors differently from diffusers' `MotionAdapter`; `motion_keys` maps them (the same
renaming diffusers' own conversion script applies).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from humanvid.state_dicts import load_exact, read_state_dict

APPEARANCE_DIR = "appearance_encoder"
CONTROLNET_DIR = "densepose_controlnet"
TEMPORAL_FILE = "temporal_attention/temporal_attention.ckpt"

# AnimateDiff v1 -> diffusers names, inside `{down,up}_blocks.i.motion_modules.j.`
_RENAMES = [
    (re.compile(r"\.temporal_transformer\."), "."),
    (re.compile(r"\.attention_blocks\.0\."), ".attn1."),
    (re.compile(r"\.attention_blocks\.1\."), ".attn2."),
    (re.compile(r"\.norms\.0\."), ".norm1."),
    (re.compile(r"\.norms\.1\."), ".norm2."),
    (re.compile(r"\.ff_norm\."), ".norm3."),
]
_POSITION = re.compile(r"^(.*\.transformer_blocks\.\d+)\.attention_blocks\.(\d+)\.pos_encoder\.pe$")


def unwrap(checkpoint: dict, source: str) -> dict[str, torch.Tensor]:
    """The tensors of a training checkpoint: under `state_dict` if present, `module.`/`unet.` prefixes
    removed, non-tensors (global_step) dropped."""
    state = checkpoint.get("state_dict", checkpoint)
    out = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            continue
        for prefix in ("module.", "unet."):
            key = key.removeprefix(prefix)
        if key in out:
            raise ValueError(f"{source}: key {key} appears twice after removing prefixes")
        out[key] = value
    return out


def motion_keys(state: dict[str, torch.Tensor], source: str) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Split a temporal-attention checkpoint into (motion-module tensors renamed for diffusers'
    UNetMotionModel, other tensors). Both attention blocks of an AnimateDiff v1 transformer block carry
    the same fixed sinusoidal table; diffusers keeps one per block, so they must agree."""
    motion, other = {}, {}
    for key, value in state.items():
        if "motion_modules" not in key:
            other[key] = value
            continue
        m = _POSITION.match(key)
        if m:
            new = f"{m.group(1).replace('.temporal_transformer.', '.')}.pos_embed.pe"
            if new in motion and not torch.equal(motion[new], value):
                raise ValueError(f"{source}: the two positional tables of {m.group(1)} differ")
            motion[new] = value
            continue
        for pattern, repl in _RENAMES:
            key = pattern.sub(repl, key)
        motion[key] = value
    return motion, other


def load_temporal(unet: torch.nn.Module, path: str | Path) -> int:
    """Load the motion modules of `temporal_attention.ckpt` into a UNetMotionModel, every motion-module
    key present and no key unknown. Spatial UNet tensors in the file (a full-UNet checkpoint) are loaded
    too, as the released inference code does; returns how many there were."""
    path = Path(path)
    motion, other = motion_keys(unwrap(read_state_dict(path), str(path)), str(path))
    load_exact(unet, motion, str(path), covers=lambda k: "motion_modules" in k)
    if other:
        load_exact(unet, other, f"{path} (spatial tensors)", covers=lambda k: k in other)
    return len(other)
