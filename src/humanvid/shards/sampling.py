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

import numpy as np

from humanvid.config import (
    DiffPerformerConfig,
    IdolConfig,
    MagicAnimatePairConfig,
    MagicAnimateVideoConfig,
    MakeYourAnchorConfig,
    SamplingConfig,
)

__all__ = ["ClipInfo", "DiffPerformerConfig", "IdolConfig", "MagicAnimatePairConfig", "MagicAnimateVideoConfig",
           "MakeYourAnchorConfig", "Pick", "SamplingConfig", "max_targets", "pick", "span"]  # fmt: skip


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


def max_targets(cfg) -> int:
    """The most target frames one sample of this sampler holds."""
    return cfg.frames if isinstance(cfg, MagicAnimateVideoConfig | IdolConfig | DiffPerformerConfig) else 1


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
        extras = {"perturb": cfg.perturb, "perturb_seed": int(rng.integers(0, 2**31))} if cfg.perturb else {}
        return Pick(clip.clip_id, [int(rng.integers(0, n))], (other.clip_id, int(rng.integers(0, other.num_frames))), flip, extras=extras)
    if isinstance(cfg, DiffPerformerConfig):
        usable = int(np.floor(n * cfg.first_fraction))
        start = int(rng.integers(0, usable - cfg.frames + 1))
        return Pick(clip.clip_id, list(range(start, start + cfg.frames)), None, flip)
    raise TypeError(f"unknown sampling config {type(cfg).__name__}")
