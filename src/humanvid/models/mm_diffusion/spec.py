"""MM-Diffusion as IDOL adapts it for joint video and depth (no torch): flavors, options, stages (docs/mm_diffusion.md)."""

from __future__ import annotations

from pydantic import field_validator

from humanvid.models.disco.spec import MASK_CONDITION
from humanvid.models.idol.spec import DEPTH_CONDITION, JointDepthOptions, depth_condition_kinds, joint_depth_stages
from humanvid.models.spec import FlavorSpec, MethodSpec


class MMDiffusionOptions(JointDepthOptions):
    """`arch.options` of the adapted MM-Diffusion: the joint models' (DisCo's, the depth image, the pre-training hole)
    and its random-shift multimodal attention's."""

    coupling_windows: list[int] = [1, 4, 8]
    """Frames of the other stream each frame attends to, per U-Net resolution from the finest (a list; the last value
    holds for every coarser one): MM-Diffusion's `cross_attention_windows 1,4,8`."""
    coupling_shift: bool = True
    """Shift each window at random in training (MM-Diffusion's `cross_attention_shift True`); off, the windows stay
    centred on their frame."""

    @field_validator("coupling_windows")
    @classmethod
    def _windows(cls, value: list[int]) -> list[int]:
        if not value or any(w < 1 for w in value):
            raise ValueError(f"coupling windows are frame counts of at least 1, got {list(value)}")
        return value


SPEC = MethodSpec(
    name="mm_diffusion",
    target="humanvid.models.mm_diffusion.model:MMDiffusion",
    flavors={
        "debug_pixel": FlavorSpec(),
        "sd_image_variations": FlavorSpec(weights=("sd-image-variations",)),
    },
    options=MMDiffusionOptions,
    stages=joint_depth_stages("the depth U-Net (a copy of the video one sharing no parameters) and the RS-MMA blocks "
                              "coupling the two appear; both U-Nets, both ControlNets and the projection", "its two diffusion losses"),  # fmt: skip
    controls=lambda options: (options.control,),
    outputs=lambda options: ("rgb", "depth"),
    conditions=lambda options: (MASK_CONDITION, DEPTH_CONDITION),
    condition_kinds=depth_condition_kinds,
    sampling_conditions=lambda options, sampler: (MASK_CONDITION,),
)
