"""Methods: one subpackage each. A method class builds its components for a flavor, trains in two
stages and samples; the pipeline finds it by name in METHODS.

Entries are light (flavors + an import path) so validating params.yaml does not import diffusers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module

from humanvid.registry import Registry


@dataclass(frozen=True)
class MethodEntry:
    FLAVORS: tuple[str, ...]
    target: str  # "module:Class"
    weights: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """flavor -> released weights it loads (names in humanvid.weights.WEIGHTS); none for trained-here flavors."""
    options: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """`arch.options` the method takes -> allowed values (the first is the default)."""
    released: tuple[str, ...] = ()
    """Flavors that are a released model as published: no training (pretrain/finetune steps 0)."""
    base_stage: bool = False
    """Stage 1 freezes a pretrained base denoiser, which a debug flavor trains first (`pretrain.base_steps`)."""

    def load(self) -> type:
        module, attr = self.target.split(":")
        return getattr(import_module(module), attr)


METHODS: Registry[MethodEntry] = Registry("method", "humanvid.methods")
METHODS.add("baseline", MethodEntry(("debug", "sd15"), "humanvid.models.baseline.model:Baseline",
                                    {"sd15": ("sd15", "controlnet-openpose", "clip-vit-large-patch14", "animatediff-v1-5-2")}))
METHODS.add("magicanimate", MethodEntry(
    ("debug", "sd15", "released"), "humanvid.models.magicanimate.model:MagicAnimate",
    {"sd15": ("sd15", "sd-vae-ft-mse", "animatediff-v1-5"), "released": ("sd15", "sd-vae-ft-mse", "magicanimate")},
    options={"fusion": ("midup", "full"), "control": ("densepose", "dwpose", "dwpose+densepose")},
    released=("released",), base_stage=True,
))  # fmt: skip

__all__ = ["METHODS", "MethodEntry"]
