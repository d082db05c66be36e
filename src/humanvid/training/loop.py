"""A plain, deterministic training loop: AdamW over the parameters a method marks trainable."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import torch


@dataclass
class TrainResult:
    steps: int
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def final_loss(self) -> float:
        tail = self.losses[-10:]
        return sum(tail) / len(tail) if tail else float("nan")


def cycle_batches(dataset: torch.utils.data.Dataset, batch_size: int, seed: int) -> Iterator[dict]:
    """Endless shuffled batches; each epoch reshuffles with (seed, epoch) and tells the dataset its epoch."""
    epoch = 0
    while True:
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed * 100003 + epoch)).tolist()
        for i in range(0, len(order), batch_size):
            items = [dataset[j] for j in order[i : i + batch_size]]
            yield {k: (torch.stack([it[k] for it in items]) if torch.is_tensor(items[0][k]) else [it[k] for it in items]) for k in items[0]}
        epoch += 1


def train(
    params: Iterable[torch.nn.Parameter],
    loss_fn: Callable[[dict, torch.Generator], torch.Tensor],
    batches: Iterator[dict],
    steps: int,
    lr: float,
    generator: torch.Generator,
    log: Callable[[str], None] = print,
    log_every: int = 10,
    name: str = "train",
    grad_accum: int = 1,
) -> TrainResult:
    """Run `steps` optimizer steps of `loss_fn` on `batches` (`grad_accum` batches, losses averaged, per
    step); progress every `log_every` steps."""
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError(f"{name}: nothing to train (no parameter requires grad)")
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=1e-2)
    result = TrainResult(steps=steps)
    start = time.perf_counter()
    for step in range(1, steps + 1):
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for _ in range(grad_accum):
            loss = loss_fn(next(batches), generator)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{name}: loss is {loss.item()} at step {step}")
            (loss / grad_accum).backward()
            total += float(loss.detach()) / grad_accum
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        result.losses.append(total)
        if step % log_every == 0 or step == steps:
            rate = step / (time.perf_counter() - start)
            log(f"{name}: step {step}/{steps} loss {result.final_loss:.4f} ({rate:.1f} steps/s)")
    result.seconds = time.perf_counter() - start
    return result
