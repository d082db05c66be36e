"""DisCo's released checkpoints: a DeepSpeed `mp_rank_00_model_states.pt` whose `module` is the release's `Net` state dict.

Its keys (config/ref_attn_clip_combine_controlnet/net.py of Wangt-CN/DisCo): `unet.*`, `controlnet.nets.0.*` (the pose
ControlNet), `controlnet.nets.1.*` (the background ControlNet, its condition embedding a single `conv_in`),
`refer_clip_proj.weight`, and the frozen `vae.*` / `clip_image_encoder.*`, which are sd-image-variations' own and
are read from there instead. The human-attribute pre-training checkpoint (`..._attr_pretraining/net.py`) has one
ControlNet, the background one, as `controlnet.*` (the release renames it to `controlnet.nets.1.*` when fine-tuning
starts from it, `agent.py`), and no pose ControlNet. The temporal model's keys are the same with `tem_` layers added. A pickle is not read at sampling time: `convert` turns the checkpoint into one safetensors
file per trained component once (`torch.load(weights_only=True)`, tensors only), and `load_release` reads that folder
key for key.

    python -m humanvid.models.disco.released mp_rank_00_model_states.pt path/to/disco-tiktok
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

COMPONENTS = {"unet.": "unet", "controlnet.nets.0.": "pose_controlnet", "controlnet.nets.1.": "background_controlnet",
              "refer_clip_proj.": "reference_projection"}  # fmt: skip
"""Release key prefix -> the component (and file stem) it belongs to (the fine-tuned model's layout)."""
HAP_COMPONENTS = {"unet.": "unet", "controlnet.": "background_controlnet", "refer_clip_proj.": "reference_projection"}
"""... and the human-attribute pre-training checkpoint's (its one ControlNet is the background one)."""
FROZEN_PREFIXES = ("vae.", "clip_image_encoder.", "text_encoder.")
"""Keys of frozen parts the release saves too: sd-image-variations' own weights, loaded from there."""


def split_state(state: dict[str, torch.Tensor], source: str) -> dict[str, dict[str, torch.Tensor]]:
    """The release's flat state dict -> {component: its state dict, prefix removed}, in the fine-tuned layout or, when
    no key names `controlnet.nets.`, the pre-training layout; a key of no known part is refused (a checkpoint of
    another DisCo configuration)."""
    layout = COMPONENTS if any(k.startswith("controlnet.nets.") for k in state) else HAP_COMPONENTS
    parts: dict[str, dict[str, torch.Tensor]] = {name: {} for name in layout.values()}
    for key, value in state.items():
        prefix = next((p for p in layout if key.startswith(p)), None)
        if prefix is not None:
            parts[layout[prefix]][key[len(prefix) :]] = value
        elif not key.startswith(FROZEN_PREFIXES):
            raise ValueError(f"{source}: key {key!r} belongs to no DisCo component (expected prefixes "
                             f"{', '.join(list(layout) + list(FROZEN_PREFIXES))})")  # fmt: skip
    empty = [name for name, part in parts.items() if not part]
    if empty:
        raise ValueError(f"{source}: no weights for {', '.join(empty)} (neither the fine-tuned nor the pre-training checkpoint's layout)")
    return parts


def convert(checkpoint: str | Path, out_dir: str | Path) -> list[Path]:
    """The DeepSpeed checkpoint -> `out_dir/<component>.safetensors`, one per trained component."""
    checkpoint = Path(checkpoint)
    try:
        loaded = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as exc:  # a pickle holding more than tensors and plain containers
        raise ValueError(
            f"{checkpoint}: not readable as tensors only (torch.load weights_only=True: {type(exc).__name__}: {exc})"
        ) from None
    state = loaded.get("module", loaded) if isinstance(loaded, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{checkpoint}: expected a state dict (under `module` in a DeepSpeed checkpoint)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, part in split_state(state, str(checkpoint)).items():
        path = out_dir / f"{name}.safetensors"
        save_file({k: v.contiguous() for k, v in part.items()}, str(path))
        written.append(path)
    return written


def load_component(module: torch.nn.Module, path: Path, rename: dict[str, str] | None = None) -> None:
    """Load `path` into `module` key for key: a missing or unexpected key is an error naming it."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (convert the release with `python -m humanvid.models.disco.released`)")
    state = {(rename or {}).get(k, k): v for k, v in load_file(str(path)).items()}
    own = module.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise ValueError(f"{path}: keys do not match {type(module).__name__}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    for key, value in state.items():
        if value.shape != own[key].shape:
            raise ValueError(f"{path}: {key} is {tuple(value.shape)}, the model's {tuple(own[key].shape)}")
    module.load_state_dict(state)


def load_release(model, folder: Path) -> None:
    """A converted release folder -> the model's UNet, ControlNets and reference projection. A folder without a pose
    ControlNet is the pre-training checkpoint: the model's pose ControlNet stays as it is."""
    folder = Path(folder)
    load_component(model.unet, folder / "unet.safetensors")
    if (folder / "pose_controlnet.safetensors").is_file() or not (folder / "background_controlnet.safetensors").is_file():
        load_component(model.pose_controlnet, folder / "pose_controlnet.safetensors")
    load_component(model.background_controlnet, folder / "background_controlnet.safetensors")
    load_component(model.reference_projection, folder / "reference_projection.safetensors", rename={"weight": "linear.weight"})


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m humanvid.models.disco.released <mp_rank_00_model_states.pt> <output folder>")
    try:
        for p in convert(sys.argv[1], sys.argv[2]):
            print(p)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
