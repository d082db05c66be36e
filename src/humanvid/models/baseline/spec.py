"""The baseline's declaration (no torch): flavors, options, stages, control and outputs."""

from __future__ import annotations

from humanvid.models.spec import DiffusionOptions, FlavorSpec, MethodSpec, StageSpec


class BaselineOptions(DiffusionOptions):
    """`arch.options` of the baseline."""

    depth: bool = False
    """Also generate depth (LDM3D's way, at debug scale: the frame's depth as a grey image through the same VAE,
    its latents beside the RGB latents along channels; trained on the dataset's `depth` condition)."""
    reference_concat: bool = False
    """Also give the UNet and the ControlNet the reference frame's latents, concatenated to the noisy latents
    along channels (a spatial path for appearance beside the CLIP tokens; the new input channels of a
    pretrained UNet start from zero). The debug flavors' CLIP is random and frozen: it carries no appearance."""


SPEC = MethodSpec(
    name="baseline",
    target="humanvid.models.baseline.model:Baseline",
    flavors={
        "debug": FlavorSpec(),
        "debug_pixel": FlavorSpec(),
        "sd15": FlavorSpec(weights=("sd15", "controlnet-openpose", "clip-vit-large-patch14", "animatediff-v1-5-2")),
    },
    options=BaselineOptions,
    stages=(
        StageSpec("vae", ("reference_clip",), "fit the debug VAE on single training frames (no released VAE at that size)",
                  flavors=("debug",), seeds=(1, 2), end_batch=32, end_seed=3),  # debug_pixel's space-to-depth map is fixed
        StageSpec("pretrain", ("reference_clip", "magicanimate_pair", "make_your_anchor"), "image stage: spatial UNet + pose ControlNet"),
        StageSpec("finetune", ("reference_clip", "magicanimate_video"), "video stage: AnimateDiff motion modules only", seeds=(10, 10)),
    ),
    controls=lambda options: ("openpose",),
    outputs=lambda options: ("rgb", "depth") if options.depth else ("rgb",),
    conditions=lambda options: ("depth",) if options.depth else (),
)
