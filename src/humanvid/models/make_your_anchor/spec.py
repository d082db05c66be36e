"""Make-Your-Anchor's declaration (no torch): flavors and released weights, options, stages, controls."""

from __future__ import annotations

from humanvid.models.spec import DiffusionOptions, FlavorSpec, MethodSpec, StageSpec

DEBUG_FLAVORS = ("debug_pixel",)


class MakeYourAnchorOptions(DiffusionOptions):
    """`arch.options` of Make-Your-Anchor (docs/make_your_anchor.md). The release trains without dropping the
    reference (diffusers' ControlNet example at its defaults); its guidance contrasts with the embedding of ""
    that SD1.5 learnt in its own training. A debug model trained from scratch never saw that embedding, so its
    samplers do not guide (`guidance_scale: 1`)."""


SPEC = MethodSpec(
    name="make_your_anchor",
    target="humanvid.models.make_your_anchor.model:MakeYourAnchor",
    flavors={
        "debug_pixel": FlavorSpec(),
        "sd15": FlavorSpec(weights=("sd15", "clip-vit-base-patch32")),
    },
    options=MakeYourAnchorOptions,
    stages=(
        StageSpec("pretrain", ("make_your_anchor",), "SGDM pre-training on many identities: UNet + mesh ControlNet"),
        StageSpec("finetune", ("make_your_anchor",), "SGDM fine-tuning on one identity's video: UNet + mesh ControlNet", seeds=(10, 10)),
    ),
    controls=lambda options: ("smplx",),
)
