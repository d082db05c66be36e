"""The floors every table shows (no torch): outputs that need no learning, through the same sample and
evaluate stages as every method, so a model's numbers can be read against what it must beat."""

from __future__ import annotations

from humanvid.config import Section
from humanvid.models.spec import FlavorSpec, MethodSpec, StageSpec


class TrivialOptions(Section):
    """`arch.options` of the trivial method."""

    depth: bool = False
    """Also output depth: `copy_reference` repeats the reference frame's depth (the clip's first ground-truth depth
    map: the "copy reference depth" floor of the depth metrics)."""


SPEC = MethodSpec(
    name="trivial",
    target="humanvid.models.trivial.model:Trivial",
    flavors={
        # the reference frame (the clip's first, as every method gets it) repeated for every output frame
        "copy_reference": FlavorSpec(released=True),
        # the per-pixel mean of the training frames, for every output frame
        "mean_frame": FlavorSpec(),
    },
    options=TrivialOptions,
    stages=(
        StageSpec("fit", ("reference_clip",), "fit the mean training frame: the image that minimises the squared error to the "
                  "training frames, by gradient descent through the same runner as every method", flavors=("mean_frame",)),
    ),
    controls=lambda options: (),
    outputs=lambda options: ("rgb", "depth") if options.depth else ("rgb",),
    sampling_conditions=lambda options, sampler: ("depth",) if options.depth else (),
    seed_free=True,
)
