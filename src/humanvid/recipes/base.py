"""What a training-sample recipe is: a typed config that owns its frame choice.

A recipe is a `Recipe` subclass (a config section keyed by `kind`) with pure functions from a clip's length
(and its identity's other clips) and a seeded generator to frame indices — so every choice is
reproducible and testable without decoding anything — plus what its samples need beyond frames
(`conditions`) and the stream that delivers them (`stream`: the shard loader unless a recipe brings its
own). Registered in `humanvid.recipes.RECIPES` by kind; the config check validates a stage's `recipe`
mapping with the registered class, so a new recipe is one class and one registry line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from pydantic import Field

from humanvid.config import Section

if TYPE_CHECKING:
    from humanvid.shards.reader import ShardReader
    from humanvid.training.streams import SampleStream


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
    reference: tuple[str, int] | None  # (clip_id, frame) or None for recipes without a reference
    flip: bool = False
    image_joint: bool = False  # reference == target: a reconstruction sample
    extras: dict = field(default_factory=dict)


class Recipe(Section):
    """Base of every recipe. Subclasses set `kind: Literal["name"] = "name"` and implement `span` and `pick`."""

    kind: str
    flip_p: float = Field(0.0, ge=0, le=1)
    """Horizontal flip probability (whole sample)."""

    has_reference: ClassVar[bool] = True
    """Whether its samples carry a reference frame."""

    def span(self) -> int:
        """Frames a clip needs to hold for this recipe."""
        raise NotImplementedError

    def max_targets(self) -> int:
        """The most target frames one sample holds."""
        return 1

    def pick(self, clip: ClipInfo, rng: np.random.Generator, identity_clips: list[ClipInfo] | None = None) -> Pick:
        """Frame indices for one sample of `clip` (which must hold `span()` frames)."""
        raise NotImplementedError

    def conditions(self) -> tuple[str, ...]:
        """Shard conditions its samples need beyond those the model's control reads."""
        return ()

    def reference_conditions(self) -> tuple[str, ...]:
        """Image conditions read for the reference frame too (among the loaded ones), delivered as
        `reference_{name}` (S, S) beside `reference` (DisCo splits its reference by the human mask)."""
        return ()

    def sample_extras(self, clip: ClipInfo) -> dict:
        """Per-sample values beyond frames and conditions (e.g. DiffPerformer's usable frame count)."""
        return {}

    def finish(self, batch: dict) -> dict:
        """A collated batch once its frames are decoded (uint8; on the training device where they are decoded there),
        before the model reads it: where a recipe changes pixels (Make-Your-Anchor's foreground-only pre-training)."""
        return batch

    def check(self, batch_size: int) -> list[str]:
        """Problems with this recipe at this batch size (config errors without the key path; one that starts with
        `field: ` is reported at that field of the recipe)."""
        return []

    def _check_span(self, clip: ClipInfo) -> None:
        if clip.num_frames < self.span():
            raise ValueError(f"clip {clip.clip_id}: {clip.num_frames} frames, recipe {self.kind} needs {self.span()}")

    def stream(self, reader: ShardReader, *, resolution: int, split: str, seed: int, stream_seed: int, conditions: tuple[str, ...],
               rank: int = 0, world_size: int = 1, block: int = 1, processes: int = 0,
               overrides: dict[str, str] | None = None, device=None) -> SampleStream:  # fmt: skip
        """The endless, resumable stream of this recipe's samples from one dataset's shards (`seed`: the
        model's seed; `stream_seed`: the stage's own; `block`: samples per batch, dealt to ranks together;
        `device`: where training runs — on CUDA the frames are decoded there, with nvJPEG)."""
        from humanvid.shards.loader import ShardSamples
        from humanvid.training.streams import ShardStream

        dataset = ShardSamples(reader, self, resolution, split, stream_seed, conditions=tuple(dict.fromkeys(conditions + self.conditions())),
                               rank=rank, world_size=world_size, block=block, perturbation=self.perturbation(overrides),
                               keep_jpeg=device is not None and device.type == "cuda")  # fmt: skip
        return ShardStream(dataset, processes, device)

    def perturbation_name(self) -> str | None:
        """The SMPL-X perturbation hook its samples go through (Make-Your-Anchor), or None."""
        return None

    def perturbation(self, overrides: dict[str, str] | None):
        """That hook, built (it renders meshes: the SMPL-X model from `overrides`), or None."""
        return None
