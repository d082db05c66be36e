"""Which frames each paper trains on: pure samplers from a clip's length (and its identity's other
clips) and a seeded generator to frame indices, so every choice is reproducible and testable without
decoding anything. Read from the papers in ../shared/papers (docs/loader.md gives the details):

- `magicanimate_pair` (MagicAnimate stage 1): a reference and a target frame of one video, their gap
  drawn from a Beta(a, b) distribution over the clip length ("double beta", after DIGAN/PV3D: Beta(2, 1)
  favours far-apart pairs); with probability τ0 an image-joint sample instead: one image is both
  reference and target (LAION humans when an image set is given, else a frame of the clip).
- `magicanimate_video` (stage 2): a reference uniformly from the video and K = 16 frames at interval 4;
  with probability τ1 K is reduced to 1, and such a reduced sample is image-joint with probability τ2.
- `idol`: 8 consecutive frames with depth, foreground mask and pose.
- `make_your_anchor`: one frame and a random reference frame of the same identity (any of its clips),
  with an optional face crop and an SMPL-X perturbation hook.
- `diffperformer`: 8-frame windows from the first 80 % of each video.
Horizontal flips where the paper uses them (MagicAnimate flips whole videos).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class _Cfg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MagicAnimatePairConfig(_Cfg):
    """MagicAnimate stage 1: reference/target pairs of one video, image-joint with probability τ0."""

    kind: Literal["magicanimate_pair"] = "magicanimate_pair"
    beta_a: float = Field(2.0, gt=0)
    """Beta distribution of the pair's gap as a fraction of the clip length: a."""
    beta_b: float = Field(1.0, gt=0)
    """... and b (Beta(2, 1) makes distant pairs likelier, as in DIGAN)."""
    image_joint_p: float = Field(0.2, ge=0, le=1)
    """τ0: probability of an image-joint (reconstruction) sample."""
    flip_p: float = Field(0.5, ge=0, le=1)
    """Horizontal flip probability (whole sample)."""


class MagicAnimateVideoConfig(_Cfg):
    """MagicAnimate stage 2: reference + K frames at an interval, K reduced to 1 with probability τ1."""

    kind: Literal["magicanimate_video"] = "magicanimate_video"
    frames: int = Field(16, ge=1)
    """K."""
    stride: int = Field(4, ge=1)
    """Interval between the K frames."""
    reduce_p: float = Field(0.2, ge=0, le=1)
    """τ1: probability of reducing K to 1 (TikTok 0.2, TED-talks 0.2)."""
    image_joint_p: float = Field(0.2, ge=0, le=1)
    """τ2: probability that a reduced sample is image-joint (TikTok 0.2, TED-talks 0.36)."""
    flip_p: float = Field(0.5, ge=0, le=1)
    """Horizontal flip probability."""


class IdolConfig(_Cfg):
    """IDOL: consecutive frames with depth, foreground mask and pose."""

    kind: Literal["idol"] = "idol"
    frames: int = Field(8, ge=1)
    """Sequence length."""
    stride: int = Field(1, ge=1)
    """Interval between frames."""
    flip_p: float = Field(0.0, ge=0, le=1)
    """Horizontal flip probability (the paper names none)."""


class MakeYourAnchorConfig(_Cfg):
    """Make-Your-Anchor: a frame and a random reference frame of the same identity."""

    kind: Literal["make_your_anchor"] = "make_your_anchor"
    face_crop: bool = False
    """Also return a face crop (the face model's input), from the whole-body face keypoints."""
    face_size: int = Field(128, ge=16)
    """Face crop size in pixels."""
    perturb: str | None = None
    """Name of a registered SMPL-X perturbation hook applied to the sample's mesh condition (None: off)."""
    flip_p: float = Field(0.0, ge=0, le=1)
    """Horizontal flip probability (the paper names none)."""


class DiffPerformerConfig(_Cfg):
    """DiffPerformer: windows from the first part of each video (the rest is held out)."""

    kind: Literal["diffperformer"] = "diffperformer"
    frames: int = Field(8, ge=1)
    """Window length."""
    first_fraction: float = Field(0.8, gt=0, le=1)
    """Windows lie inside the first fraction of each video."""
    flip_p: float = Field(0.0, ge=0, le=1)
    """Horizontal flip probability (the paper names none)."""


SamplingConfig = Annotated[
    Union[MagicAnimatePairConfig, MagicAnimateVideoConfig, IdolConfig, MakeYourAnchorConfig, DiffPerformerConfig],
    Field(discriminator="kind"),
]


@dataclass(frozen=True)
class ClipInfo:
    clip_id: str
    identity: str
    num_frames: int


@dataclass(frozen=True)
class Pick:
    """One training sample's frames: indices into clips (reference may come from another clip)."""

    clip_id: str
    targets: list[int]
    reference: tuple[str, int] | None  # (clip_id, frame) or None for samplers without a reference
    flip: bool = False
    image_joint: bool = False  # reference == target: a reconstruction sample
    extras: dict = field(default_factory=dict)


def span(cfg) -> int:
    """Frames a clip needs to hold for this sampler."""
    if isinstance(cfg, MagicAnimateVideoConfig | IdolConfig):
        return (cfg.frames - 1) * cfg.stride + 1
    if isinstance(cfg, DiffPerformerConfig):
        return int(np.ceil(cfg.frames / cfg.first_fraction))
    return 1 if isinstance(cfg, MakeYourAnchorConfig) else 2


def pick(cfg, clip: ClipInfo, rng: np.random.Generator, identity_clips: list[ClipInfo] | None = None) -> Pick:
    """Frame indices for one sample of `clip` (which must hold `span(cfg)` frames)."""
    n = clip.num_frames
    if n < span(cfg):
        raise ValueError(f"clip {clip.clip_id}: {n} frames, sampler {cfg.kind} needs {span(cfg)}")
    flip = bool(rng.random() < cfg.flip_p)
    if isinstance(cfg, MagicAnimatePairConfig):
        if rng.random() < cfg.image_joint_p:
            t = int(rng.integers(0, n))
            return Pick(clip.clip_id, [t], (clip.clip_id, t), flip, image_joint=True)
        gap = max(1, int(round(rng.beta(cfg.beta_a, cfg.beta_b) * (n - 1))))
        first = int(rng.integers(0, n - gap))
        ref, tgt = (first, first + gap) if rng.random() < 0.5 else (first + gap, first)
        return Pick(clip.clip_id, [tgt], (clip.clip_id, ref), flip)
    if isinstance(cfg, MagicAnimateVideoConfig):
        ref = int(rng.integers(0, n))
        if rng.random() < cfg.reduce_p:
            if rng.random() < cfg.image_joint_p:
                return Pick(clip.clip_id, [ref], (clip.clip_id, ref), flip, image_joint=True)
            return Pick(clip.clip_id, [int(rng.integers(0, n))], (clip.clip_id, ref), flip)
        start = int(rng.integers(0, n - span(cfg) + 1))
        return Pick(clip.clip_id, list(range(start, start + span(cfg), cfg.stride)), (clip.clip_id, ref), flip)
    if isinstance(cfg, IdolConfig):
        start = int(rng.integers(0, n - span(cfg) + 1))
        return Pick(clip.clip_id, list(range(start, start + span(cfg), cfg.stride)), None, flip)
    if isinstance(cfg, MakeYourAnchorConfig):
        pool = identity_clips or [clip]
        other = pool[int(rng.integers(0, len(pool)))]
        extras = {"perturb": cfg.perturb} if cfg.perturb else {}
        return Pick(clip.clip_id, [int(rng.integers(0, n))], (other.clip_id, int(rng.integers(0, other.num_frames))), flip, extras=extras)
    if isinstance(cfg, DiffPerformerConfig):
        usable = int(np.floor(n * cfg.first_fraction))
        start = int(rng.integers(0, usable - cfg.frames + 1))
        return Pick(clip.clip_id, list(range(start, start + cfg.frames)), None, flip)
    raise TypeError(f"unknown sampling config {type(cfg).__name__}")
