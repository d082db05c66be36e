"""The VAE posteriors of training frames, each frame encoded once per stage.

A stage whose autoencoder is frozen (every stage after a debug VAE's fit; every stage of a released-VAE flavor)
encodes the same frames again each time the loader draws them: at SD1.5 size the VAE encoder is a third of a
MagicAnimate image-stage step's FLOPs (docs/benchmarks.md). The cache keeps each frame's posterior parameters
(mean ‖ log-variance, what `DiagonalGaussianDistribution` is built from) under the frame's key (`humanvid.shards.samples.frame_key`:
dataset, clip, frame index, mirrored or not), on the training device in the dtype the encoder produced, until its byte
budget is spent; later frames are encoded every time. The training noise is unchanged: a posterior sample is still
drawn from the stage's generator each step (what `AutoencoderKL.encode(...).latent_dist.sample` draws), so a
stage with the cache computes what one without it computes, up to the floating-point differences of encoding a
frame in another batch.

Not a DVC output and not resume state: a resumed stage starts with an empty cache and fills it again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


class LatentCache:
    """Posterior parameters by frame key, up to `budget_bytes`; `stats()` says how it went."""

    def __init__(self, budget_bytes: int) -> None:
        if budget_bytes <= 0:
            raise ValueError(f"a latent cache needs a positive byte budget, got {budget_bytes}")
        self.budget_bytes = int(budget_bytes)
        self._store: dict[str, torch.Tensor] = {}
        self.bytes = self.hits = self.misses = self.dropped = 0

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, key: str) -> bool:
        return key in self._store

    def parameters(self, keys: Sequence[str], encode: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Posterior parameters (N, 2C, h, w) of N frames named by `keys`: stored ones from the cache, the others
        from `encode(indices)` — called once, with the positions (into `keys`) of the distinct keys not stored,
        returning their parameters in that order — and stored while the budget lasts."""
        missing: dict[str, int] = {}
        for i, key in enumerate(keys):
            if key not in self._store and key not in missing:
                missing[key] = i
        fresh: dict[str, torch.Tensor] = {}
        if missing:
            encoded = encode(torch.tensor(list(missing.values()), dtype=torch.long))
            if encoded.shape[0] != len(missing):
                raise ValueError(f"the encoder returned {encoded.shape[0]} posteriors for {len(missing)} frames")
            for row, key in zip(encoded, missing, strict=True):
                fresh[key] = row
                size = row.numel() * row.element_size()
                if self.bytes + size <= self.budget_bytes:
                    self._store[key] = row.clone()  # not a view: the batch's tensor is freed
                    self.bytes += size
                else:
                    self.dropped += 1
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        return torch.stack([fresh[k] if k in fresh else self._store[k] for k in keys])

    def stats(self) -> dict:
        """What the stage's train log records: lookups served from the cache, frames encoded, frames held, bytes."""
        lookups = self.hits + self.misses
        return {"hits": self.hits, "encoded": self.misses, "hit_rate": round(self.hits / lookups, 4) if lookups else None,
                "frames_held": len(self._store), "bytes_held": self.bytes, "budget_bytes": self.budget_bytes,
                "not_held_over_budget": self.dropped}  # fmt: skip
