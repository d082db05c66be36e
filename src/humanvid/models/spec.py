"""What a method declares about itself, read by config validation without importing torch.

A method is a folder under `humanvid/models/` holding `spec.py` (a `MethodSpec`: flavors and the
released weights each loads, typed options, training stages, the control kinds it reads, its outputs)
and the model code its `target` names (a `humanvid.models.method.Method` subclass). `METHODS` (the
package's `__init__`) maps names to specs: one registry line per method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from humanvid.config import Section
from humanvid.registry import import_target


class DiffusionOptions(Section):
    """Options every latent diffusion method has (its `arch.options` class derives from this one)."""

    prediction: Literal["epsilon", "residual", "sample"] = "epsilon"
    """What the diffusion runs on and the network predicts: `epsilon` — the frame's latents, the network predicting
    the noise (Stable Diffusion's objective, the methods' own); `residual` — the frame's latents minus its reference
    frame's, the network predicting them clean (DDIM steps with `prediction_type="sample"`), the reference added
    back before decoding. A frame is its reference plus what the pose changed: with the output layer starting at
    zero the untrained model is the copy-reference floor, and the static background is exact from the first step.
    The debug regime's choice (docs/baseline.md); `sample` — the frame's latents, predicted clean (the same DDIM
    steps, nothing subtracted): for a model that reads no reference pixels, whose residual would have to erase a
    pose it cannot see (Make-Your-Anchor's debug flavor, docs/make_your_anchor.md). The released methods are
    `epsilon`."""
    l1_weight: float = Field(0.0, ge=0)
    """Weight of an L1 term beside the MSE of the prediction (0: the methods' own MSE). Under uncertainty MSE's
    optimum is the mean — a blurred person and a faint halo over the background — and L1's the median, which for
    a residual is exactly zero wherever the frame most likely did not change. L1 alone left the model at the
    copy floor (early on the median residual is zero everywhere); beside MSE it cleans the static background
    (docs/baseline.md)."""


OUTPUT_KINDS = ("rgb", "depth")
"""What a method can generate: `rgb` video (an mp4 per clip) and `depth` (an npz beside it; relative depth,
evaluated after a least-squares scale and shift)."""


@dataclass(frozen=True)
class StageSpec:
    """One training stage a method runs (`train@{model}.{name}` in the pipeline)."""

    name: str
    """The key under `models.{m}.stages` in params.yaml."""
    recipes: tuple[str, ...]
    """Training-sample recipes it accepts (kinds in humanvid.recipes.RECIPES)."""
    doc: str
    """What it trains, in a line (shown in errors and docs)."""
    flavors: tuple[str, ...] | None = None
    """The flavors that have this stage (None: every flavor that is trained here)."""
    seeds: tuple[int, int] = (0, 0)
    """Offsets from `run.seed` of the stage's data-stream and noise seeds: each stage draws its own streams."""
    end_batch: int = 0
    """After its steps, `Method.end_stage` gets one batch of up to this many samples (the VAE stage calibrates the
    latent scale on it); 0: none."""
    end_seed: int = 0
    """Offset from `run.seed` of that batch's stream."""
    optional: bool = False
    """A model may stop before this stage (DisCo's temporal stage); the stages before it stay required."""
    max_span: int | None = None
    """The most frames one training sample may hold in this stage (a recipe's `span()`); None: any."""


@dataclass(frozen=True)
class FlavorSpec:
    """A size of a method."""

    weights: tuple[str, ...] = ()
    """Released weights it loads (names in humanvid.weights.WEIGHTS)."""
    released: bool = False
    """A released model as published: no training stages (its `stages` in params.yaml are `{}`)."""


@dataclass(frozen=True)
class MethodSpec:
    """The light half of a method. See the module docstring."""

    name: str
    target: str
    """"module:Class" of its `Method` subclass (imported only when a stage runs)."""
    flavors: dict[str, FlavorSpec]
    options: type[Section]
    """Its `arch.options` schema (every field with a default)."""
    stages: tuple[StageSpec, ...]
    """Every training stage, in order; a flavor has the subset `stages_for(flavor)`."""
    controls: Callable[[Section], tuple[str, ...]]
    """Options -> the control kinds its batches read (humanvid.controls.CONTROLS)."""
    outputs: Callable[[Section], tuple[str, ...]] = lambda options: ("rgb",)
    """Options -> what it generates (OUTPUT_KINDS)."""
    conditions: Callable[[Section], tuple[str, ...]] = lambda options: ()
    """Options -> shard conditions its training batches need beyond its controls (e.g. depth to learn to generate it)."""
    condition_kinds: Callable[[Section], dict[str, str]] = lambda options: {}
    """Options -> the kind a condition it reads must be where kinds differ (`depth`: humanvid.models.depth_images
    .DEPTH_SOURCES), checked against the estimator that provides it in each training dataset (`depth_kind`); the option
    that sets it is named `<condition>_source`."""
    option_weights: Callable[[Section, str], tuple[str, ...]] = lambda options, flavor: ()
    """Options and the flavor -> released weights they add to the flavor's (Make-Your-Anchor's BiSeNet face parser; IDOL's
    AnimateDiff modules at SD size)."""
    sampling_conditions: Callable[[Section, Any], tuple[str, ...]] = lambda options, sampler: ()
    """Options and a `SamplerConfig` -> shard conditions sampling reads beyond its controls (Make-Your-Anchor's face
    landmarks when the sampler enhances faces); `Method.generate` gets them in model pixels."""
    seed_free: bool = False
    """Its sampling draws no random numbers (the floors): a sampler's noise-seed variants would repeat its output, so
    a table with `seeds: N` runs it once and counts that output for every seed (humanvid.seeds.seed_runs)."""
    sampler_sections: tuple[str, ...] = ()
    """Method-specific sections of a `SamplerConfig` its `generate` reads (`joint`: DiffPerformer's joint optimisation);
    a sampler that sets one for another method is a config error."""

    def parse_options(self, options: dict) -> Section:
        return self.options.model_validate(options)

    def stages_for(self, flavor: str) -> tuple[StageSpec, ...]:
        if self.flavors[flavor].released:
            return ()
        return tuple(s for s in self.stages if s.flavors is None or flavor in s.flavors)

    def stage(self, name: str) -> StageSpec:
        for s in self.stages:
            if s.name == name:
                return s
        raise ValueError(f"method {self.name!r} has no training stage {name!r}; its stages: {', '.join(s.name for s in self.stages)}")

    def load(self) -> type:
        """The model class."""
        return import_target(self.target)


def check_spec(name: str, spec: MethodSpec) -> None:
    """What registration checks: a wrong spec fails when it is first looked up, not halfway through a run."""
    from humanvid.controls import CONTROLS
    from humanvid.recipes import RECIPES

    if not isinstance(spec, MethodSpec):
        raise TypeError(f"expected a MethodSpec, got {type(spec).__name__}")
    if spec.name != name:
        raise ValueError(f"spec is named {spec.name!r}")
    if not spec.flavors:
        raise ValueError("no flavors")
    if not (isinstance(spec.options, type) and issubclass(spec.options, Section)):
        raise TypeError("options must be a config Section")
    defaults = spec.parse_options({})  # every option has a default
    names = [s.name for s in spec.stages]
    if len(set(names)) != len(names):
        raise ValueError(f"stage names repeat: {names}")
    for s in spec.stages:
        unknown = [r for r in s.recipes if r not in RECIPES]
        if unknown:
            raise ValueError(f"stage {s.name!r} accepts unknown recipes {unknown}")
        bad = [f for f in s.flavors or () if f not in spec.flavors]
        if bad:
            raise ValueError(f"stage {s.name!r} names unknown flavors {bad}")
    for flavor, fs in spec.flavors.items():
        if not fs.released and not spec.stages_for(flavor):
            raise ValueError(f"flavor {flavor!r} is trained here but has no stages")
    for kind in spec.controls(defaults):
        CONTROLS.get(kind)
    unknown = [o for o in spec.outputs(defaults) if o not in OUTPUT_KINDS]
    if unknown or "rgb" not in spec.outputs(defaults):
        raise ValueError(f"outputs must include 'rgb' and be among {OUTPUT_KINDS}, got {spec.outputs(defaults)}")
