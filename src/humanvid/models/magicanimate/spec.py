"""MagicAnimate's declaration (no torch): flavors and released weights, options, stages, controls."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from humanvid.config import Section
from humanvid.models.spec import DiffusionOptions, FlavorSpec, MethodSpec, StageSpec

DEBUG_FLAVORS = ("debug", "debug_pixel")
"""Flavors with no released weights at their size: they train their own denoiser first (stage `base`)."""


class AppearanceLocality(Section):
    """A fixed prior in hybrid attention (a debug-regime option; the paper has none): the logit of a reference token
    is raised by `bonus` − `falloff` × d², d its distance in tokens from the query's position on the layer's grid."""

    bonus: float = Field(0.0, ge=0)
    """Added to the logit of the reference token at the query's own position."""
    falloff: float = Field(1.0, gt=0)
    """Subtracted per squared token of distance."""


class MagicAnimateOptions(DiffusionOptions):
    """`arch.options` of MagicAnimate (docs/magicanimate.md)."""

    fusion: Literal["midup", "full"] = "midup"
    """Layers whose self-attention reads the appearance: mid + up blocks (the paper) or all (its ablation)."""
    control: Literal["densepose", "dwpose", "dwpose+densepose"] = "densepose"
    """The ControlNet's driving signal: DensePose (the paper), DWPose, or both added (its ablation)."""
    appearance: bool = True
    """Appearance through the appearance encoder's hybrid attention (the method). False: the variant without it —
    the denoiser reads no appearance (the encoder is still built and saved, but neither trained nor run); what
    the appearance encoder adds is the difference between the two rows."""
    stage1_trains_denoiser: bool = False
    """False (the paper, supplement Sec. 2: stage 1 "only optimize[s] the appearance encoder and pose ControlNet"):
    the denoiser stays frozen. True (a debug-regime option, refused for `sd15` and `released`): stage 1 trains the
    denoiser too. The paper freezes SD1.5, whose attention projections already match a frame's tokens to its
    reference's and whose DensePose ControlNet was pre-trained on LAION humans; a debug denoiser trained minutes
    earlier on unconditioned frames has neither, and frozen it left the figure in the reference's pose
    (docs/magicanimate.md, issue 17). Stage 2 is unchanged (motion modules only)."""
    appearance_locality: AppearanceLocality | None = None
    """None: hybrid attention as the paper (the reference's tokens compete on content alone). Set: each frame token
    favours the reference tokens at its own position — what Stable Diffusion's features let the released model find
    by content, and what a debug UNet trained for minutes does not find (docs/magicanimate.md, issue 17)."""


SPEC = MethodSpec(
    name="magicanimate",
    target="humanvid.models.magicanimate.model:MagicAnimate",
    flavors={
        "debug": FlavorSpec(),
        "debug_pixel": FlavorSpec(),
        "sd15": FlavorSpec(weights=("sd15", "sd-vae-ft-mse", "animatediff-v1-5")),
        "released": FlavorSpec(weights=("sd15", "sd-vae-ft-mse", "magicanimate"), released=True),
    },
    options=MagicAnimateOptions,
    stages=(
        StageSpec("vae", ("reference_clip",), "fit the debug VAE on single training frames (no released VAE at that size)",
                  flavors=("debug",), seeds=(1, 2), end_batch=32, end_seed=3),
        StageSpec("base", ("reference_clip",), "train the debug denoiser as a plain image diffusion model: the stand-in for "
                  "SD1.5's pretraining, frozen in both of MagicAnimate's stages", flavors=DEBUG_FLAVORS, seeds=(4, 5)),
        StageSpec("pretrain", ("magicanimate_pair",), "stage 1: appearance encoder + ControlNet, denoiser frozen, no temporal layers"),
        StageSpec("finetune", ("magicanimate_video",), "stage 2: the motion modules only", seeds=(10, 10)),
    ),
    controls=lambda options: (options.control,),
)
