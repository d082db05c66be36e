"""`reference_clip`: the baseline's own recipe — from one shard row (a clip window), a reference frame drawn
uniformly and K frames at a stride from a uniform start (or, `order: random`, K frames drawn anywhere in the window). Draws depend only on (seed, epoch, row), and an
epoch visits every row that holds the span once, in a seeded order (`humanvid.shards.samples`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from humanvid.recipes.base import Recipe


class ReferenceClip(Recipe):
    """A reference and K frames at `stride` from one clip window."""

    kind: Literal["reference_clip"] = "reference_clip"
    frames: int = Field(1, ge=1)
    """K target frames (1 for an image stage)."""
    stride: int = Field(1, ge=1)
    """Interval between target frames (`order: strided`)."""
    order: Literal["strided", "random"] = "strided"
    """`strided`: K frames at `stride` from a uniform start (a clip, as motion modules train on); `random`: K distinct
    frames drawn uniformly from the window, in time order (DiffPerformer's "randomly sample frames ... the frame number
    in each iteration is 8", read as frames rather than a clip's start: docs/diffperformer.md)."""
    flip_p: float = Field(0.0, ge=0, le=0)
    """No flips (the baseline never flipped)."""

    def span(self) -> int:
        return (self.frames - 1) * self.stride + 1

    def check(self, batch_size: int) -> list[str]:
        if self.order == "random" and self.stride != 1:
            return [f"stride: order random draws frames anywhere in the window, so stride must be 1, got {self.stride}"]
        return []

    def max_targets(self) -> int:
        return self.frames

    def pick(self, clip, rng, identity_clips=None):
        raise TypeError("reference_clip draws per shard row, not per clip: use its stream()")

    def stream(self, reader, *, resolution, split, seed, stream_seed, conditions, rank=0, world_size=1, block=1, processes=0, overrides=None,
               device=None):  # this recipe's frames are decoded on the CPU, whatever the device
        from humanvid.shards.samples import ReferenceClipSamples, SampleSpec
        from humanvid.training.streams import CycleStream

        if processes:
            raise ValueError("recipe reference_clip decodes in the training process: set loader_processes 0")
        dataset = ReferenceClipSamples(reader, SampleSpec(self.frames, self.stride, resolution, self.order), split, seed, conditions)
        return CycleStream(dataset, stream_seed, rank, world_size, block)
