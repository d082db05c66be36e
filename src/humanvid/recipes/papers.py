"""The papers' recipes (../shared/papers; docs/loader.md gives the details):

- `magicanimate_pair` (MagicAnimate stage 1): a reference and a target frame of one video, their gap
  drawn from a Beta(a, b) distribution over the clip length ("double beta", after DIGAN/PV3D: Beta(2, 1)
  favours far-apart pairs); with probability τ0 an image-joint sample instead: one image is both
  reference and target (a frame of the clip).
- `magicanimate_video` (stage 2): a reference uniformly from the video and K = 16 frames at interval 4;
  with probability τ1 K is reduced to 1, and such a reduced sample is image-joint with probability τ2.
- `idol`: 8 consecutive frames with depth, foreground mask and pose.
- `make_your_anchor`: one frame and a random reference frame of the same identity (any of its clips),
  with an SMPL-X perturbation hook.
- `diffperformer`: 8-frame windows from the first 80 % of each video.
- `disco`: one frame with a reference whose human mask comes too — the frame itself (DisCo's human attribute
  pre-training reconstructs an image from its own foreground and background) or its video's first frame (DisCo's
  TikTok fine-tuning, `get_reference_frame_idx`).
Horizontal flips where the paper uses them (MagicAnimate flips whole videos).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np
from pydantic import Field

from humanvid.recipes.base import ClipInfo, Pick, Recipe

if TYPE_CHECKING:
    import torch


def on_black(images: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """uint8 `images` (..., 3, S, S) composited on black by their uint8 mattes `alpha` (..., S, S): each pixel times
    alpha / 255, rounded; on the images' device."""
    import torch

    if images.shape[:-3] + images.shape[-2:] != alpha.shape:
        raise ValueError(f"images {tuple(images.shape)} and mattes {tuple(alpha.shape)} differ in shape")
    weight = alpha.to(images.device).unsqueeze(-3).float() / 255
    return (images.float() * weight).round().to(torch.uint8)


class MagicAnimatePair(Recipe):
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

    def span(self) -> int:
        return 2

    def pick(self, clip, rng, identity_clips=None) -> Pick:
        self._check_span(clip)
        n = clip.num_frames
        flip = bool(rng.random() < self.flip_p)
        if rng.random() < self.image_joint_p:
            t = int(rng.integers(0, n))
            return Pick(clip.clip_id, [t], (clip.clip_id, t), flip, image_joint=True)
        gap = max(1, int(round(rng.beta(self.beta_a, self.beta_b) * (n - 1))))
        first = int(rng.integers(0, n - gap))
        ref, tgt = (first, first + gap) if rng.random() < 0.5 else (first + gap, first)
        return Pick(clip.clip_id, [tgt], (clip.clip_id, ref), flip)


class MagicAnimateVideo(Recipe):
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

    def span(self) -> int:
        return (self.frames - 1) * self.stride + 1

    def max_targets(self) -> int:
        return self.frames

    def check(self, batch_size: int) -> list[str]:
        if self.reduce_p > 0 and batch_size > 1:
            return ["reduce_p > 0 mixes K = 1 and K > 1 samples: use batch_size 1 per pass (MagicAnimate's batch of 8 is one "
                    "sample on each of 8 GPUs: grad_accum 8 here)"]  # fmt: skip
        return []

    def pick(self, clip, rng, identity_clips=None) -> Pick:
        self._check_span(clip)
        n = clip.num_frames
        flip = bool(rng.random() < self.flip_p)
        ref = int(rng.integers(0, n))
        if rng.random() < self.reduce_p:
            if rng.random() < self.image_joint_p:
                return Pick(clip.clip_id, [ref], (clip.clip_id, ref), flip, image_joint=True)
            return Pick(clip.clip_id, [int(rng.integers(0, n))], (clip.clip_id, ref), flip)
        start = int(rng.integers(0, n - self.span() + 1))
        return Pick(clip.clip_id, list(range(start, start + self.span(), self.stride)), (clip.clip_id, ref), flip)


class Idol(Recipe):
    """IDOL: consecutive frames with depth, foreground mask and pose."""

    kind: Literal["idol"] = "idol"
    frames: int = Field(8, ge=1)
    """Sequence length."""
    stride: int = Field(1, ge=1)
    """Interval between frames."""
    flip_p: float = Field(0.0, ge=0, le=1)
    """Horizontal flip probability (the paper names none)."""

    has_reference: ClassVar[bool] = False

    def span(self) -> int:
        return (self.frames - 1) * self.stride + 1

    def max_targets(self) -> int:
        return self.frames

    def pick(self, clip, rng, identity_clips=None) -> Pick:
        self._check_span(clip)
        flip = bool(rng.random() < self.flip_p)
        start = int(rng.integers(0, clip.num_frames - self.span() + 1))
        return Pick(clip.clip_id, list(range(start, start + self.span(), self.stride)), None, flip)


class MakeYourAnchor(Recipe):
    """Make-Your-Anchor: a frame and a random reference frame of the same identity."""

    kind: Literal["make_your_anchor"] = "make_your_anchor"
    perturb: str | None = None
    """Name of a registered SMPL-X perturbation hook applied to the sample's mesh condition (None: off)."""
    flip_p: float = Field(0.0, ge=0, le=1)
    """Horizontal flip probability (the paper names none)."""
    foreground_only: bool = False
    """The frame and the reference composited on black by their human matte (the shards' `alpha`): the paper's
    pre-training ("we segment the foreground human body from the target images", robust video matting). False: with
    their background, as the fine-tuning on one identity."""

    def span(self) -> int:
        return 1

    def conditions(self) -> tuple[str, ...]:
        return (("smplx", "mesh_normals") if self.perturb else ()) + (("alpha",) if self.foreground_only else ())

    def reference_conditions(self) -> tuple[str, ...]:
        return ("alpha",) if self.foreground_only else ()

    def finish(self, batch: dict) -> dict:
        if not self.foreground_only:
            return batch
        return batch | {"frames": on_black(batch["frames"], batch["alpha"]), "reference": on_black(batch["reference"], batch["reference_alpha"])}

    def check(self, batch_size: int) -> list[str]:
        from humanvid.body.perturb import PERTURBATIONS

        if self.perturb is not None and self.perturb not in PERTURBATIONS:
            return [f"perturb: unknown SMPL-X perturbation {self.perturb!r}; known: {', '.join(PERTURBATIONS.names())}"]
        return []

    def perturbation_name(self) -> str | None:
        return self.perturb

    def perturbation(self, overrides):
        if not self.perturb:
            return None
        from humanvid.body.perturb import MeshPerturbation

        return MeshPerturbation(self.perturb, overrides=overrides)

    def pick(self, clip, rng, identity_clips=None) -> Pick:
        self._check_span(clip)
        n = clip.num_frames
        flip = bool(rng.random() < self.flip_p)
        pool = identity_clips or [clip]
        other = pool[int(rng.integers(0, len(pool)))]
        extras = {"perturb": self.perturb, "perturb_seed": int(rng.integers(0, 2**31))} if self.perturb else {}
        return Pick(clip.clip_id, [int(rng.integers(0, n))], (other.clip_id, int(rng.integers(0, other.num_frames))), flip, extras=extras)


class Disco(Recipe):
    """DisCo: a frame and a reference frame with its human mask (`reference_alpha`: foreground for CLIP, background for
    the background ControlNet)."""

    kind: Literal["disco"] = "disco"
    reference: Literal["self", "first"] = "first"
    """`self`: the frame is its own reference (human attribute pre-training); `first`: the video's first frame (the
    release's fine-tuning and its test protocol)."""
    flip_p: float = Field(0.0, ge=0, le=1)
    """Horizontal flip probability (the release's augmentation is a random resized crop, no flip)."""
    frames: int = Field(1, ge=1)
    """Consecutive frames per sample: 1 for the image model's stages, 16 for the temporal stage (the release's
    `--nframe 16 --frame_interval 1`)."""

    def span(self) -> int:
        return self.frames

    def check(self, batch_size: int) -> list[str]:
        if self.frames > 1 and self.reference == "self":
            return ["reference: a clip of several frames cannot be its own reference (`self` is human attribute pre-training, one frame)"]
        return []

    def conditions(self) -> tuple[str, ...]:
        return ("alpha",)

    def reference_conditions(self) -> tuple[str, ...]:
        return ("alpha",)

    def pick(self, clip, rng, identity_clips=None) -> Pick:
        self._check_span(clip)
        flip = bool(rng.random() < self.flip_p)
        t = int(rng.integers(0, clip.num_frames - self.frames + 1))
        window = list(range(t, t + self.frames))
        if self.reference == "self":
            return Pick(clip.clip_id, window, (clip.clip_id, t), flip, image_joint=True)
        return Pick(clip.clip_id, window, (clip.clip_id, 0), flip, image_joint=window == [0])


class DiffPerformer(Recipe):
    """DiffPerformer: windows from the first part of each video (the rest is held out)."""

    kind: Literal["diffperformer"] = "diffperformer"
    frames: int = Field(8, ge=1)
    """Window length."""
    first_fraction: float = Field(0.8, gt=0, le=1)
    """Windows lie inside the first fraction of each video."""
    flip_p: float = Field(0.0, ge=0, le=1)
    """Horizontal flip probability (the paper names none)."""

    has_reference: ClassVar[bool] = False

    def span(self) -> int:
        return int(np.ceil(self.frames / self.first_fraction))

    def max_targets(self) -> int:
        return self.frames

    def sample_extras(self, clip: ClipInfo) -> dict:
        return {"usable_frames": int(np.floor(clip.num_frames * self.first_fraction))}

    def pick(self, clip, rng, identity_clips=None) -> Pick:
        self._check_span(clip)
        flip = bool(rng.random() < self.flip_p)
        usable = int(np.floor(clip.num_frames * self.first_fraction))
        start = int(rng.integers(0, usable - self.frames + 1))
        return Pick(clip.clip_id, list(range(start, start + self.frames)), None, flip)
