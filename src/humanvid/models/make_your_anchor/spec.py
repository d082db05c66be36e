"""Make-Your-Anchor's declaration (no torch): flavors and released weights, options, stages, controls."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from humanvid.models.spec import DiffusionOptions, FlavorSpec, MethodSpec, StageSpec

DEBUG_FLAVORS = ("debug_pixel",)
FACE_PARSER_WEIGHTS = "bisenet-face-parsing"
FACE_LANDMARKS = "wholebody133"
"""The condition the face stage and face enhancement align faces by (its 68 face points; COCO-WholeBody order)."""


class MakeYourAnchorOptions(DiffusionOptions):
    """`arch.options` of Make-Your-Anchor (docs/make_your_anchor.md). The release trains without dropping the
    reference (diffusers' ControlNet example at its defaults); its guidance contrasts with the embedding of ""
    that SD1.5 learnt in its own training. A debug model trained from scratch never saw that embedding, so its
    samplers do not guide (`guidance_scale: 1`)."""

    face_size: int = Field(256, ge=8)
    """Side of the aligned face crop the Face SGDM works at (the paper's 256; a multiple of the autoencoder's
    downsampling)."""
    face_mask: Literal["landmarks", "bisenet"] = "landmarks"
    """The region the Face SGDM inpaints: `bisenet` — the release's face parsing (BiSeNet's face classes, dilated; weights
    `bisenet-face-parsing`, loaded in the face stage and kept in the checkpoint); `landmarks` — the hull of the jaw
    and brows of the 68 face points (no network: the debug regime's)."""
    face_mask_margin: float = Field(0.1, ge=0)
    """The landmark mask: the hull of the jaw and brows scaled by 1 + this about its centroid."""


SPEC = MethodSpec(
    name="make_your_anchor",
    target="humanvid.models.make_your_anchor.model:MakeYourAnchor",
    flavors={
        "debug_pixel": FlavorSpec(),
        "sd15": FlavorSpec(weights=("sd15", "clip-vit-base-patch32", "sd15-inpainting")),
        "released": FlavorSpec(weights=("sd15", "clip-vit-base-patch32", "make-your-anchor-seth"), released=True),
    },
    options=MakeYourAnchorOptions,
    stages=(
        StageSpec("pretrain", ("make_your_anchor",), "SGDM pre-training on many identities: UNet + mesh ControlNet"),
        StageSpec("finetune", ("make_your_anchor",), "SGDM fine-tuning on one identity's video: UNet + mesh ControlNet", seeds=(10, 10)),
        StageSpec(
            "face",
            ("make_your_anchor",),
            "Face SGDM on an identity's aligned face crops: inpainting UNet + mesh ControlNet",
            seeds=(20, 20),
        ),
    ),
    controls=lambda options: ("smplx",),
    conditions=lambda options: (FACE_LANDMARKS,),
    option_weights=lambda options, flavor: (FACE_PARSER_WEIGHTS,) if options.face_mask == "bisenet" else (),
    sampling_conditions=lambda options, sampler: (FACE_LANDMARKS,) if sampler.face is not None else (),
)
