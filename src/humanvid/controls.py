"""Control kinds: the images a method's ControlNet (or any pose branch) sees, drawn from shard conditions.

One registry, `CONTROLS`: kind -> `Control` (the shard conditions it is drawn from and how). Methods name
the kinds they read (their spec), the config check refuses a kind whose conditions a dataset's
estimators do not provide, and training, sampling and the evaluation previews all draw through
`control_images`, so a kind is spelled once.

Built-ins:
- `openpose`: the OpenPose-18 skeleton;
- `dwpose`: the whole-body skeleton (body, feet, face, hands);
- `densepose`: MagicAnimate's visualisation (viridis of the part index);
- `dwpose+densepose`: the two images added (MagicAnimate's ablation "combines the two driving signals by
  addition"), clipped to 1;
- `smplx`: the rendered SMPL-X shaded normals (Make-Your-Anchor's 3D mesh condition).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from humanvid.conditions import crop_resize_keypoints, crop_resize_plane, densepose_condition, render_openpose18, render_wholebody
from humanvid.estimators.base import CONDITION_LAYOUTS
from humanvid.registry import Registry

Draw = Callable[[dict[str, np.ndarray], int, int, int], np.ndarray]
"""(conditions in frame pixels, height, width, size) -> float32 (T, size, size, 3) in [0, 1]."""


@dataclass(frozen=True)
class Control:
    """A control kind: drawn from `sources` (shard conditions) by `draw`, or the clipped sum of `parts`."""

    sources: tuple[str, ...]
    draw: Draw | None = None
    parts: tuple[str, ...] = ()
    flippable: bool = True
    """Whether its conditions may be mirrored after estimation (DensePose parts and SMPL-X are sided)."""


def _check(name: str, control: Control) -> None:
    if not isinstance(control, Control):
        raise TypeError(f"expected a Control, got {type(control).__name__}")
    unknown = [s for s in control.sources if s not in CONDITION_LAYOUTS]
    if unknown:
        raise ValueError(f"unknown shard conditions {unknown}; known: {', '.join(CONDITION_LAYOUTS)}")
    if (control.draw is None) == (not control.parts):
        raise ValueError("give exactly one of `draw` or `parts`")
    for part in control.parts:
        sub = CONTROLS.get(part)
        if not set(sub.sources) <= set(control.sources):
            raise ValueError(f"part {part!r} reads {sub.sources}, not all among this kind's sources {control.sources}")


CONTROLS: Registry[Control] = Registry("control kind", "humanvid.controls", check=_check)


def _openpose(conditions, height, width, size):
    kp = crop_resize_keypoints(conditions["openpose18"], height, width, size)
    return np.stack([render_openpose18(k, size, size) for k in kp]).astype(np.float32) / 255.0


def _dwpose(conditions, height, width, size):
    kp = crop_resize_keypoints(conditions["wholebody133"], height, width, size)
    return np.stack([render_wholebody(k, size, size) for k in kp]).astype(np.float32) / 255.0


def _densepose(conditions, height, width, size):
    iuv = np.stack([crop_resize_plane(np.asarray(p), size) for p in conditions["densepose"]])
    return densepose_condition(iuv).astype(np.float32) / 255.0


def _mesh_normals(conditions, height, width, size):
    return np.stack([crop_resize_plane(np.asarray(p), size) for p in conditions["mesh_normals"]]).astype(np.float32) / 255.0


CONTROLS.add("openpose", Control(("openpose18",), _openpose))
CONTROLS.add("dwpose", Control(("wholebody133",), _dwpose))
CONTROLS.add("densepose", Control(("densepose",), _densepose, flippable=False))
CONTROLS.add("dwpose+densepose", Control(("wholebody133", "densepose"), parts=("dwpose", "densepose"), flippable=False))
CONTROLS.add("smplx", Control(("mesh_normals",), _mesh_normals, flippable=False))


def control_sources(kind: str) -> tuple[str, ...]:
    """The shard conditions a control kind is drawn from."""
    return CONTROLS.get(kind).sources


def draw_control(kind: str, conditions: dict[str, np.ndarray], height: int, width: int, size: int) -> np.ndarray:
    """float32 (T, size, size, 3) in [0, 1] (see `control_images`)."""
    control = CONTROLS.get(kind)
    missing = [c for c in control.sources if c not in conditions]
    if missing:
        raise ValueError(f"control {kind!r} needs conditions {missing}; given {sorted(conditions)}")
    if control.draw is not None:
        return control.draw(conditions, height, width, size)
    return np.clip(sum(draw_control(p, conditions, height, width, size) for p in control.parts), 0.0, 1.0)


def control_images(kind: str, conditions: dict[str, np.ndarray], height: int, width: int, size: int):
    """A method's control images (T, 3, size, size) in [0, 1] from per-frame conditions in frame pixels
    (height × width; pass size × size for conditions the loader already cropped)."""
    import torch

    return torch.from_numpy(draw_control(kind, conditions, height, width, size)).permute(0, 3, 1, 2).contiguous()
