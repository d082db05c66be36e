"""LDM3D as IDOL adapts it for joint human video and depth (no torch): flavors, options, stages (docs/ldm3d.md)."""

from __future__ import annotations

from typing import Literal

from humanvid.models.disco.spec import MASK_CONDITION
from humanvid.models.idol.spec import DEPTH_CONDITION, DepthTargetOptions, depth_condition_kinds
from humanvid.models.spec import FlavorSpec, MethodSpec, StageSpec

DEBUG_FLAVORS = ("debug_pixel",)
"""Flavors with no released weights at their size: a fixed patch autoencoder, their own image-variation UNet (`base`)."""
PACKING_OF_FLAVOR = {"ldm3d": "6c", "ldm3d_4c": "4c"}
"""The RGBD packing each released autoencoder was trained on."""


class Ldm3dOptions(DepthTargetOptions):
    """`arch.options` of the adapted LDM3D: DisCo's (the video LDM IDOL aligns every baseline to), the pre-training hole
    and depth value IDOL's models share (IDOL processes foreground and background alike for every compared method), and
    its RGBD autoencoder's."""

    rgbd: Literal["4c", "6c"] = "4c"
    """How depth joins RGB in the autoencoder's input and output (humanvid.models.depth_images.RGBD_PACKINGS): one
    channel (`4c`, Intel/ldm3d-4c) or a 16-bit value packed into three (`6c`, Intel/ldm3d, the paper's). The flavor's
    released autoencoder fixes it."""


def _stage(name: str, doc: str, **kwargs) -> StageSpec:
    return StageSpec(name, ("disco",), doc, **kwargs)


SPEC = MethodSpec(
    name="ldm3d",
    target="humanvid.models.ldm3d.model:Ldm3d",
    flavors={
        "debug_pixel": FlavorSpec(),
        "ldm3d": FlavorSpec(weights=("ldm3d", "sd-image-variations")),
        "ldm3d_4c": FlavorSpec(weights=("ldm3d-4c", "sd-image-variations")),
    },
    options=Ldm3dOptions,
    stages=(
        _stage("autoencoder", "fine-tune the released RGBD autoencoder on the target frames and their depth (IDOL: LDM3D's "
               "autoencoder fine-tuned); the debug flavor's patch autoencoder is exact and has nothing to fit",
               flavors=("ldm3d", "ldm3d_4c"), seeds=(2, 3)),  # fmt: skip
        _stage("base", "train the debug UNet as an image-variation model over RGBD latents (CLIP's image embedding of the "
               "frame as its context)", flavors=DEBUG_FLAVORS, seeds=(4, 5), max_span=1),  # fmt: skip
        _stage("haop", "pre-training with IDOL's outpainting hole: an RGBD frame from its foreground's CLIP tokens and a "
               "background with a hole larger than the person (transformer blocks, background ControlNet, projection)",
               seeds=(6, 7), max_span=1),  # fmt: skip
        _stage("finetune", "fine-tuning with pose and background ControlNets, the whole UNet and the projection, a reference "
               "frame of the video: one latent denoises into RGB and depth at once", seeds=(10, 10), max_span=1),  # fmt: skip
        _stage("temporal", "the UNet inflated to 3D (DisCo's temporal layers in the UNet and both ControlNets), trained on "
               "clips of consecutive frames", seeds=(12, 12), optional=True),  # fmt: skip
    ),
    controls=lambda options: (options.control,),
    outputs=lambda options: ("rgb", "depth"),
    conditions=lambda options: (MASK_CONDITION, DEPTH_CONDITION),
    condition_kinds=depth_condition_kinds,
    sampling_conditions=lambda options, sampler: (MASK_CONDITION,),
)
