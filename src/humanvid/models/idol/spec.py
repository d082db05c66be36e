"""IDOL's declaration (no torch): flavors, options, stages, controls, outputs (docs/idol.md lists every choice)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from humanvid.models.disco.spec import MASK_CONDITION, DiscoOptions
from humanvid.models.spec import FlavorSpec, MethodSpec, StageSpec

DEBUG_FLAVORS = ("debug_pixel",)
"""Flavors with no released weights at their size: they train their own image-variation UNet first (stage `base`)."""

DEPTH_CONDITION = "depth"
"""The shard condition the depth stream learns to generate (synthdance's exact depth, TikTok's HDNet, NTU120's MiDaS)."""

MOTION_WEIGHTS = "animatediff-v1-5-2"
"""The released motion modules `temporal_layers: animatediff` starts from at SD size."""

ALIGNMENTS = {
    "none": "none",
    "xattn": "none",
    "share_average": "average",
    "share_video": "video",
}
"""`alignment` -> how the streams' cross-attention maps relate (`humanvid.models.idol.losses.MAP_SHARING`): only
`xattn` adds L_xattn; the sharing variants replace the maps instead (supplement Table 1)."""


class DepthTargetOptions(DiscoOptions):
    """`arch.options` every DisCo-based model that learns depth shares (IDOL and the baselines it adapts, LDM3D and
    MM-Diffusion): DisCo's, how pre-training cuts the background, and how a frame's depth becomes the value its image
    encodes (humanvid.models.depth_images)."""

    haop_shift: float = Field(0.25, ge=0, le=1)
    """Human attribute outpainting (HAOP): the background the background ControlNet sees has a hole where the person
    is *and* where a copy of the person's mask, moved by up to this fraction of the image in x and y, would be —
    so the hole's shape no longer says where the person stands and the network learns to outpaint background into
    the rest (the leak HAP shows in the paper's Fig. 4). 0: DisCo's HAP (the hole is the person)."""
    depth_normalisation: Literal["minmax", "median"] = "minmax"
    """What maps a frame's depth to the encoded value (humanvid.models.depth_images.inverse_depth_value): its own
    nearest and farthest points (`minmax`, unit-free) or its median on the person and a fixed `depth_span` (`median`:
    a body part's value no longer depends on the frame's extremes; needs depth in known units)."""
    depth_span: float = Field(1.0, gt=0)
    """With `median`: the depth (in the dataset's units, metres on synthdance) spanning the encoded range."""
    depth_source: Literal["depth", "inverse_depth"] = "depth"
    """What the training data's depth condition holds (humanvid.models.depth_images.DEPTH_SOURCES): `depth` — larger is
    farther, 0 where none (synthdance's exact depth, TikTok's HDNet maps, NTU's Kinect metres); `inverse_depth` — a
    monocular estimator's relative inverse depth over the whole frame (MiDaS `dpt_hybrid` on NTU120, IDOL's NTU depth).
    Checked against the estimator that provides the condition before any work starts."""
    depth_person_weight: float = Field(1.0, ge=1)
    """The depth loss's weight on the person (where the target frame has depth) against 1 elsewhere, as a weighted mean
    over the latents (humanvid.models.idol.loss_weights; a KL VAE's latents weigh what they cover). 1: the papers'
    plain diffusion loss. Depth exists only on the person, but a plain loss is mostly the empty background and the
    silhouette's edge, whose errors swamp the body's inner depth (which side is nearer): at debug size the depth
    stream then stays near flat inside the body (docs/idol.md). IDOL and MM-Diffusion weigh their depth stream;
    LDM3D, whose latents carry RGB and depth together, its depth channels (all channels through a KL VAE). Needs a
    depth source with "none" off the person (`depth_source: depth`)."""
    control: Literal["openpose", "dwpose"] = "openpose"
    """The pose ControlNet's skeleton: OpenPose's 18 body keypoints (DisCo's and the papers' tables) or DWPose's whole
    body (body, feet, hands, face; IDOL's generalisation figures drive it with DWPose)."""

    @model_validator(mode="after")
    def _units_for_median(self):
        if self.depth_source == "inverse_depth" and self.depth_normalisation == "median":
            raise ValueError("depth_normalisation median needs depth in known units; relative inverse depth (depth_source "
                             "inverse_depth) has none: use minmax")  # fmt: skip
        if self.depth_source == "inverse_depth" and self.depth_person_weight != 1:
            raise ValueError("depth_person_weight needs depth that is 'none' off the person (depth_source depth); relative "
                             "inverse depth (depth_source inverse_depth) covers the whole frame: leave it at 1")  # fmt: skip
        return self


class JointDepthOptions(DepthTargetOptions):
    """`arch.options` of the models that denoise depth as a second stream through the same VAE (IDOL, MM-Diffusion):
    how the depth value becomes an image, and the depth stream's loss weight."""

    depth_encoding: Literal["colormap", "grey"] = "colormap"
    """How a depth map becomes the three-channel image the shared VAE encodes ("depth as a stylised video"): the
    metrics' blue→red hue ramp (`colormap`, `humanvid.metrics.depth.depth_to_rgb`, exact up to uint8 rounding) or a
    grey image (`grey`, the baseline's). Both encode the frame's normalised inverse depth on the person (near = 1)
    and 0 off it (humanvid.models.depth_images)."""
    depth_weight: float = Field(1.0, gt=0)
    """The depth stream's diffusion loss beside the video stream's, whose weight is 1 (the papers sum the two: 1)."""


class IdolOptions(JointDepthOptions):
    """`arch.options` of IDOL: the joint models' and the unified UNet's alignment terms (docs/idol.md)."""

    alignment: Literal["none", "xattn", "share_average", "share_video"] = "xattn"
    """How the video and depth streams' cross-attention maps (the UNet's attention to the reference tokens) are aligned:
    `xattn` — each stream keeps its map, L_xattn pulls them together (the paper's); `none` — neither (Table 1, row 1);
    `share_average` — both use the average of the two maps; `share_video` — both use the video stream's (rows 2, 3)."""
    xattn_weight: float = Field(0.01, ge=0)
    """w_xattn (supplement Sec. 2: 0.01, by grid search)."""
    motion_weight: float = Field(0.01, ge=0)
    """w_mo, the weight of L_mo (supplement Sec. 2: 0.01). L_mo needs consecutive frames: it applies in the video
    stage only (the image stage's samples are single frames)."""
    temporal_layers: Literal["disco", "animatediff"] = "disco"
    """What stage 2 adds for time: DisCo's temporal layers in the UNet and both ControlNets (`disco`, the supplement's
    "temporal modules" on its DisCo base) or AnimateDiff's motion modules in the UNet alone (`animatediff`, the
    generalisation the paper shows; AnimateDiff v1.5-2's released modules at SD size, fresh ones at debug size;
    humanvid.models.idol.motion)."""
    motion_layers: Literal["up", "all"] = "up"
    """Whose feature motion fields L_mo compares: the outputs of the decoder's transformer blocks (`up`: the layers
    the paper's Fig. 3 visualises at several resolutions; ours) or of every transformer block of the UNet (`all`)."""


def depth_condition_kinds(options: DepthTargetOptions) -> dict[str, str]:
    """`MethodSpec.condition_kinds` of the models that learn depth: their depth condition's source kind."""
    return {DEPTH_CONDITION: options.depth_source}


def joint_depth_stages(stage1_trains: str, stage2_losses: str) -> tuple[StageSpec, ...]:
    """The stages of a joint video-depth model built on DisCo (IDOL and its adapted baselines share their names, which
    `humanvid.models.idol.model.DISCO_STAGE` maps to DisCo's): what stage 1 trains and what stage 2 adds to the
    diffusion losses, in words, for each method's stage docs."""
    return (
        StageSpec(
            "base",
            ("disco",),
            "train the debug UNet as an image-variation model (CLIP's image embedding of the frame as its context): "
            "the stand-in for sd-image-variations-diffusers",
            flavors=DEBUG_FLAVORS,
            seeds=(4, 5),
            max_span=1,
        ),  # fmt: skip
        StageSpec(
            "haop",
            ("disco",),
            "human attribute outpainting pre-training: a frame from its foreground's CLIP tokens and a background "
            "with a hole larger than the person (the UNet's transformer blocks, the background ControlNet, the projection)",
            seeds=(6, 7),
            max_span=1,
        ),  # fmt: skip
        StageSpec(
            "image_depth",
            ("disco",),
            f"stage 1, joint image-depth denoising without temporal layers: {stage1_trains}",
            seeds=(10, 10),
            max_span=1,
        ),  # fmt: skip
        StageSpec(
            "video_depth",
            ("disco",),
            "stage 2, joint video-depth denoising with temporal layers on clips of consecutive frames: the whole "
            f"framework, {stage2_losses} (optional: a model may stop after stage 1)",
            seeds=(12, 12),
            optional=True,
        ),  # fmt: skip
    )


SPEC = MethodSpec(
    name="idol",
    target="humanvid.models.idol.model:Idol",
    flavors={
        "debug_pixel": FlavorSpec(),
        "sd_image_variations": FlavorSpec(weights=("sd-image-variations",)),
    },
    options=IdolOptions,
    stages=joint_depth_stages("the unified UNet (modality label, cross-modal attention), both ControlNets and the projection, with L_xattn",
                              "with L_mo and L_xattn"),
    controls=lambda options: (options.control,),
    outputs=lambda options: ("rgb", "depth"),
    option_weights=lambda options, flavor: (MOTION_WEIGHTS,) if options.temporal_layers == "animatediff" and flavor not in DEBUG_FLAVORS else (),
    conditions=lambda options: (MASK_CONDITION, DEPTH_CONDITION),
    condition_kinds=depth_condition_kinds,
    sampling_conditions=lambda options, sampler: (MASK_CONDITION,),
)
