"""Endless, resumable streams of training batches (uint8 samples as the loader gives them).

Every stream yields collated batches without end and says where it is: `state_dict()` is the position of
the next batch, `load_state_dict` continues from there, so a resumed stage reads exactly the batches an
uninterrupted one would. Three kinds:
- `ShardStream`: the shard loader (`humanvid.shards.loader.iterate`) over one recipe's `ShardSamples`;
- `CycleStream`: a map-style dataset visited in a seeded order per epoch (the baseline's `reference_clip`);
- `MixStream`: several streams, each batch from one of them drawn by weight from (seed, batch index).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Protocol

import numpy as np
import torch


class SampleStream(Protocol):
    def batches(self, batch_size: int) -> Iterator[dict]: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...

    def epoch_size(self) -> int:
        """Samples per epoch of this rank."""
        ...


def stack(items: list[dict]) -> dict:
    """Tensors stacked per key, everything else as lists."""
    return {k: (torch.stack([it[k] for it in items]) if torch.is_tensor(items[0][k]) else [it[k] for it in items]) for k in items[0]}


class ShardStream:
    """`ShardSamples` through `iterate` (in this process, or `processes` decoding processes), across epochs. For a
    CUDA `device` batches are pinned, and a dataset that keeps its JPEGs (`keep_jpeg`) has them decoded there
    (`decode_on_device`: nvJPEG)."""

    def __init__(self, dataset, processes: int = 0, device: torch.device | None = None) -> None:
        self.dataset, self.processes, self.device = dataset, processes, device
        if dataset.keep_jpeg and device is None:
            raise ValueError("a dataset that keeps its JPEGs needs the device that decodes them")

    def batches(self, batch_size: int) -> Iterator[dict]:
        from humanvid.shards.loader import decode_on_device, iterate

        pin = self.device is not None and self.device.type == "cuda"
        batches = iterate(self.dataset, batch_size, processes=self.processes, epochs=None, pin_memory=pin)
        if self.dataset.keep_jpeg:
            batches = (decode_on_device(b, self.device, self.dataset.resolution) for b in batches)
        return map(self.dataset.cfg.finish, batches)

    def state_dict(self) -> dict:
        return self.dataset.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.dataset.load_state_dict(state)

    def epoch_size(self) -> int:
        return self.dataset.per_rank()


class CycleStream:
    """A map-style dataset, every item once per epoch in the order `randperm(seed · 100003 + epoch)`, in batches
    of consecutive items (the last of an epoch may be smaller); the dataset is told its epoch
    (`set_epoch`). With W ranks each epoch's order is padded by wrap-around to a multiple of W × block and
    rank r takes blocks r, r + W, ... — the batches one process would read, dealt to the ranks."""

    def __init__(self, dataset, seed: int, rank: int = 0, world_size: int = 1, block: int = 1) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.dataset, self.seed, self.rank, self.world_size = dataset, seed, rank, world_size
        self.block = block if world_size > 1 else 1
        self.epoch, self.position = 0, 0

    def order(self, epoch: int) -> list[int]:
        order = torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(self.seed * 100003 + epoch)).tolist()
        if self.world_size == 1:
            return order
        unit = self.world_size * self.block
        padded = [order[i % len(order)] for i in range(math.ceil(len(order) / unit) * unit)]
        return [padded[j + i] for j in range(self.rank * self.block, len(padded), unit) for i in range(self.block)]

    def epoch_size(self) -> int:
        return len(self.order(0))

    def batches(self, batch_size: int) -> Iterator[dict]:
        while True:
            if hasattr(self.dataset, "set_epoch"):
                self.dataset.set_epoch(self.epoch)
            order = self.order(self.epoch)
            while self.position < len(order):
                chunk = order[self.position : self.position + batch_size]
                batch = stack([self.dataset[j] for j in chunk])
                self.position += len(chunk)
                yield batch
            self.epoch, self.position = self.epoch + 1, 0

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        if state.get("seed", self.seed) != self.seed:
            raise ValueError(f"resume state was made with seed {state['seed']}, this stream has seed {self.seed}")
        self.epoch, self.position = int(state["epoch"]), int(state["position"])


class MixStream:
    """Batches from several streams: batch j comes from stream `choice(weights)` drawn with (seed, j). With
    several ranks each rank draws for its own batches (the proportions hold; the order is not one process's)."""

    def __init__(self, streams: list[SampleStream], weights: list[float], seed: int) -> None:
        if len(streams) != len(weights) or not streams:
            raise ValueError("a mix needs one weight per stream")
        total = float(sum(weights))
        self.streams, self.p, self.seed, self.count = streams, [w / total for w in weights], seed, 0

    def batches(self, batch_size: int) -> Iterator[dict]:
        iterators = [None] * len(self.streams)
        while True:
            i = int(np.random.default_rng([self.seed, self.count]).choice(len(self.streams), p=self.p))
            if iterators[i] is None:
                iterators[i] = self.streams[i].batches(batch_size)
            batch = next(iterators[i])
            self.count += 1
            yield batch

    def state_dict(self) -> dict:
        return {"count": self.count, "streams": [s.state_dict() for s in self.streams]}

    def load_state_dict(self, state: dict) -> None:
        self.count = int(state["count"])
        for s, st in zip(self.streams, state["streams"], strict=True):
            s.load_state_dict(st)

    def epoch_size(self) -> int:
        return sum(s.epoch_size() for s in self.streams)
