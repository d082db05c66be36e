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
    temporal_unfreeze: str = Field("all", pattern="^(all|temporal)$")
    """What the temporal stage trains: everything, the new temporal layers included (the release's README command,
    `--unet_unfreeze_type all`), or the temporal layers alone (of the UNet and both ControlNets: ours, cheaper, the
    image model kept as it was)."""
    temporal_norm: str = Field("shared", pattern="^(shared|own)$")
    """What normalises the temporal attention's input: the transformer block's `norm2` (`shared`, the release's
    forward, whose `tem_norm` is created but unused) or the block's own `tem_norm` (humanvid.models.disco.temporal)."""


SPEC = MethodSpec(
    name="disco",
    target="humanvid.models.disco.model:Disco",
    flavors={
        "debug_pixel": FlavorSpec(),
        "sd_image_variations": FlavorSpec(weights=("sd-image-variations",)),
        "released_hap": FlavorSpec(weights=("sd-image-variations", "disco-hap")),
        "released": FlavorSpec(weights=("sd-image-variations", "disco-tiktok"), released=True),
        "released_cfg": FlavorSpec(weights=("sd-image-variations", "disco-tiktok-cfg"), released=True),
        "released_temporal": FlavorSpec(weights=("sd-image-variations", "disco-tiktok-temporal"), released=True),
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
            max_span=1,
        ),  # fmt: skip
        StageSpec(
            "hap",
            ("disco",),
            "human attribute pre-training: a frame from its foreground's CLIP tokens and its "
            "background's latents (background ControlNet, UNet transformer blocks, the token projection)",
            flavors=(*DEBUG_FLAVORS, "sd_image_variations"),
            seeds=(6, 7),
            max_span=1,
        ),  # fmt: skip
        StageSpec(
            "finetune",
            ("disco",),
            "fine-tuning with disentangled control: pose ControlNet + background ControlNet + "
            "the whole UNet and the projection, a reference frame of the video",
            seeds=(10, 10),
            max_span=1,
        ),  # fmt: skip
        StageSpec(
            "temporal",
            ("disco",),
            "temporal layers (a temporal convolution in every ResNet block, a temporal attention in every "
            "transformer block, of the UNet and both ControlNets) trained on clips of consecutive frames",
            seeds=(12, 12),
            optional=True,
        ),  # fmt: skip
    ),
    controls=lambda options: ("openpose",),
    conditions=lambda options: (MASK_CONDITION,),
    sampling_conditions=lambda options, sampler: (MASK_CONDITION,),
)
