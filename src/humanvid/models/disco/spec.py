"""DisCo's declaration (no torch): flavors and released weights, options, stages, controls."""

from __future__ import annotations

from pydantic import Field

from humanvid.models.spec import DiffusionOptions, FlavorSpec, MethodSpec, StageSpec

DEBUG_FLAVORS = ("debug_pixel",)
"""Flavors with no released weights at their size: they train their own image-variation UNet first (stage `base`)."""

MASK_CONDITION = "alpha"
"""The human mask DisCo splits the reference into foreground and background by (a matte: `matting` or ground truth)."""


class DiscoOptions(DiffusionOptions):
    """`arch.options` of DisCo (docs/disco.md). Its `residual` is around the reference's *background* (the frame times one
    minus its human mask: what the background ControlNet reads), not the whole reference: the reference's person stands
    in another pose, and in human attribute pre-training the reference is the frame itself, whose residual would be
    zero. The untrained residual model draws the background alone."""

    reference_drop: float = Field(0.0, ge=0, lt=1)
    """Probability of replacing a training sample's reference by zeros (its foreground for CLIP, and its background
    for the background ControlNet): what classifier-free guidance contrasts with at sampling. The release: 0 for the
    plain model, 0.05 for its CFG model (`--drop_ref 0.05`, sampled at guidance 1.5)."""
    hap_unfreeze: str = Field("transblocks", pattern="^(transblocks|crossattn|crossattn-kv|all)$")
    """What of the UNet human attribute pre-training trains (the release's `--unet_unfreeze_type`): its transformer
    blocks (the release's HAP), their cross-attention, only its keys and values, or everything."""


SPEC = MethodSpec(
    name="disco",
    target="humanvid.models.disco.model:Disco",
    flavors={
        "debug_pixel": FlavorSpec(),
        "sd_image_variations": FlavorSpec(weights=("sd-image-variations",)),
        "released": FlavorSpec(weights=("sd-image-variations", "disco-tiktok"), released=True),
    },
    options=DiscoOptions,
    stages=(
        StageSpec(
            "base",
            ("disco",),
            "train the debug UNet as an image-variation model (CLIP's image embedding of the frame "
            "as its context): the stand-in for sd-image-variations-diffusers",
            flavors=DEBUG_FLAVORS,
            seeds=(4, 5),
        ),  # fmt: skip
        StageSpec(
            "hap",
            ("disco",),
            "human attribute pre-training: a frame from its foreground's CLIP tokens and its "
            "background's latents (background ControlNet, UNet transformer blocks, the token projection)",
            seeds=(6, 7),
        ),  # fmt: skip
        StageSpec(
            "finetune",
            ("disco",),
            "fine-tuning with disentangled control: pose ControlNet + background ControlNet + "
            "the whole UNet and the projection, a reference frame of the video",
            seeds=(10, 10),
        ),  # fmt: skip
    ),
    controls=lambda options: ("openpose",),
    conditions=lambda options: (MASK_CONDITION,),
    sampling_conditions=lambda options, sampler: (MASK_CONDITION,),
)
