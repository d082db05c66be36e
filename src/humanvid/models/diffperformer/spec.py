"""DiffPerformer's declaration (no torch): flavors, options, stages, controls, what sampling reads (docs/diffperformer.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from humanvid.models.baseline.spec import SPEC as BASELINE
from humanvid.models.baseline.spec import BaselineOptions
from humanvid.models.spec import FlavorSpec, MethodSpec, StageSpec

FLOW_CONDITIONS = {"densepose": "densepose", "smplx": "smplx"}
"""`flow_source` -> the shard condition the 3D-aware human flow is computed from at sampling."""


class DiffPerformerOptions(BaselineOptions):
    """`arch.options` of DiffPerformer: its pose-guided diffusion model D_p's (the baseline's: SD1.5, the OpenPose
    ControlNet and AnimateDiff's motion modules at full size) and where the 3D-aware human flow comes from. The joint
    optimisation's settings are the sampler's (`joint`): each Table 2 row is a sampler."""

    flow_source: Literal["densepose", "smplx"] = "densepose"
    """What gives 3DHF its pixel correspondences: `densepose` — DensePose-style surface coordinates (synthdance's exact
    IUV, the `densepose` estimator's on real videos; `humanvid.models.diffperformer.flow.surface_coordinate_flow`);
    `smplx` — the `smplx` estimator's fitted meshes, each visible surface point carried by its barycentrics to the next
    frame's mesh (`surface_flow`, the supplement's "3D human" literally; needs the licence-gated SMPL-X model file at
    sampling: weights `smplx`)."""

    @model_validator(mode="after")
    def _video_only(self):
        if self.depth:
            raise ValueError("DiffPerformer generates video only: the baseline's `depth` option does not apply")
        return self


def reads_flow(sampler) -> bool:
    """Whether sampling with `sampler` computes 3DHF: the IVR rows (IVR and Noisy-Image Opt.) with a flow term."""
    joint = getattr(sampler, "joint", None)
    return joint is not None and joint.mode in ("ivr", "noisy_image") and joint.flow_weight > 0


def _sampling_conditions(options: DiffPerformerOptions, sampler) -> tuple[str, ...]:
    return (FLOW_CONDITIONS[options.flow_source],) if reads_flow(sampler) else ()


SPEC = MethodSpec(
    name="diffperformer",
    target="humanvid.models.diffperformer.model:DiffPerformer",
    flavors={"debug_pixel": FlavorSpec(), "sd15": BASELINE.flavors["sd15"]},
    options=DiffPerformerOptions,
    stages=(
        StageSpec("pretrain", ("reference_clip",), "D_p's image stage on many people: spatial UNet + pose ControlNet"),
        StageSpec("finetune", ("reference_clip",), "D_p's video stage on many people: AnimateDiff motion modules only",
                  seeds=(10, 10)),  # fmt: skip
        StageSpec("autoencoder", ("reference_clip",), "fine-tune the autoencoder E on the performer's training frames",
                  flavors=("sd15",), seeds=(20, 21)),  # fmt: skip
        StageSpec("performer", ("reference_clip",), "fine-tune D_p's temporal layers alone on the performer's video (batch 1, "
                  "8 random frames)", seeds=(30, 30)),  # fmt: skip
    ),
    controls=lambda options: ("openpose",),
    sampling_conditions=_sampling_conditions,
    option_weights=lambda options, flavor: ("smplx",) if options.flow_source == "smplx" else (),
    sampler_sections=("joint",),
)
