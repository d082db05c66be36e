"""One training loop for every stage of every method: AdamW over the parameters the method marks trainable,
on one process or data-parallel over several (accelerate: DDP), with gradient accumulation, mixed
precision, gradient clipping, an LR schedule, optional EMA, resume and progress.

Randomness is drawn per *lane*: a step of W processes × A accumulated micro-batches has W·A lanes, and
micro-batch a of rank r is lane a·W + r with its own generator (lane 0's seed is the stage's noise seed).
The batch a lane reads is the same one too (the loaders deal batches to ranks in that order), so W
processes with A micro-batches compute the step one process computes with W·A micro-batches, up to the
order of floating-point sums.

Mixed precision as the reference trainers do it: trained weights and the optimizer state are float32, the
forward pass runs under autocast (bf16, or fp16 with loss scaling); frozen modules may be bf16.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from humanvid.training.resume import ResumeStore
from humanvid.training.streams import SampleStream

SCHEDULES = {"constant": "constant", "linear": "linear", "cosine": "cosine"}


@dataclass(frozen=True)
class LoopSettings:
    """What `train` needs of a stage's config (humanvid.config.TrainStage holds the documented fields)."""

    steps: int
    lr: float
    batch_size: int = 1
    grad_accum: int = 1
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    weight_decay: float = 1e-2
    max_grad_norm: float = 1.0
    fused_adamw: bool | None = None
    ema_decay: float | None = None
    log_every: int = 10
    checkpoint_every: int = 0
    mixed_precision: str = "no"  # no | bf16 | fp16

    @classmethod
    def of(cls, stage, mixed_precision: str) -> "LoopSettings":
        fields = {f: getattr(stage, f) for f in cls.__dataclass_fields__ if f != "mixed_precision"}
        return cls(**fields, mixed_precision=mixed_precision)


@dataclass
class TrainResult:
    steps: int
    losses: list[float] = field(default_factory=list)
    terms: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    resumed_from: int = 0

    @property
    def final_loss(self) -> float:
        tail = self.losses[-10:]
        return sum(tail) / len(tail) if tail else float("nan")


class Monitor:
    """What a stage entry watches: every step's loss terms and learning rate (main process only)."""

    def on_start(self, history: dict[str, list[float]]) -> None:
        """Before the first step; a resumed stage passes the loss terms of the steps it had done."""

    def on_step(self, step: int, terms: dict[str, float], lr: float) -> None:
        pass

    def on_end(self, result: TrainResult) -> None:
        pass


def lane_seed(seed: int, lane: int) -> int:
    """Lane 0 draws from `seed` itself; the others from seeds derived from (seed, lane)."""
    return seed if lane == 0 else int(np.random.SeedSequence([seed, lane]).generate_state(1, np.uint32)[0])


def lane_generators(seed: int, device: torch.device, grad_accum: int, rank: int = 0, world_size: int = 1) -> list[torch.Generator]:
    """This rank's generator for each of its micro-batches: lane a·W + r."""
    return [torch.Generator(device).manual_seed(lane_seed(seed, a * world_size + rank)) for a in range(grad_accum)]


class StageModule(torch.nn.Module):
    """A method's components as one module whose forward is the stage's loss: what DDP wraps (its gradient
    hooks sit on every trainable parameter of every component)."""

    def __init__(self, method, stage: str) -> None:
        super().__init__()
        self.parts = torch.nn.ModuleDict(method.modules())
        self._method, self._stage = method, stage

    def forward(self, batch: dict, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return self._method.loss(batch, self._stage, generator)


def _schedule(optimizer, s: LoopSettings):
    from diffusers.optimization import get_scheduler

    name = "constant_with_warmup" if s.lr_schedule == "constant" and s.warmup_steps else SCHEDULES[s.lr_schedule]
    return get_scheduler(name, optimizer, num_warmup_steps=s.warmup_steps, num_training_steps=s.steps)


class _Progress:
    """A bar with loss, lr, steps/s and ETA on a terminal; a line every `log_every` steps otherwise."""

    def __init__(self, name: str, steps: int, start: int, log_every: int, log: Callable[[str], None], enabled: bool) -> None:
        self.name, self.steps, self.log_every, self.log, self.enabled = name, steps, log_every, log, enabled
        self.start, self.t0 = start, time.perf_counter()
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=steps, initial=start, desc=name, unit="step", dynamic_ncols=True, file=sys.stderr)

    def update(self, step: int, loss: float, lr: float) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", refresh=False)
            self.bar.update(1)
        elif step % self.log_every == 0 or step == self.steps:
            rate = (step - self.start) / max(time.perf_counter() - self.t0, 1e-9)
            eta = (self.steps - step) / rate if rate > 0 else float("nan")
            self.log(f"{self.name}: step {step}/{self.steps} loss {loss:.4f} lr {lr:.3g} ({rate:.2f} steps/s, ETA {eta:.0f} s)")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def train(
    accelerator,
    device: torch.device,
    method,
    stage: str,
    params: list[torch.nn.Parameter],
    stream: SampleStream,
    settings: LoopSettings,
    noise_seed: int,
    name: str = "train",
    log: Callable[[str], None] = print,
    monitor: Monitor | None = None,
    resume: ResumeStore | None = None,
) -> TrainResult:
    """Run `settings.steps` optimizer steps of `method.loss(method.batch(b, stage), stage, g)` over `stream` on
    `device` (this process's); with `resume`, continue from its last checkpoint and write one every
    `checkpoint_every` steps."""
    s = settings
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError(f"{name}: nothing to train (no parameter requires grad)")
    if any(p.dtype != torch.float32 for p in params):
        raise ValueError(f"{name}: trained parameters must be float32 (cast them before training; frozen ones may be bf16)")
    rank, world = accelerator.process_index, accelerator.num_processes
    module = StageModule(method, stage)
    if world > 1:
        module = accelerator.prepare_model(module, device_placement=False)  # DDP
    fused = s.fused_adamw if s.fused_adamw is not None else (True if device.type == "cuda" else None)
    optimizer = torch.optim.AdamW(params, lr=s.lr, weight_decay=s.weight_decay, fused=fused)
    scheduler = _schedule(optimizer, s)
    scaler = torch.amp.GradScaler(device.type) if s.mixed_precision == "fp16" else None
    ema = None
    if s.ema_decay is not None:
        from diffusers.training_utils import EMAModel

        ema = EMAModel(params, decay=s.ema_decay)
    generators = lane_generators(noise_seed, device, s.grad_accum, rank, world)
    result = TrainResult(steps=s.steps)
    start = 0
    if resume is not None:
        state = resume.load(rank)
        if state is not None:
            start = resume.restore(state, method, params, optimizer, scheduler, scaler, ema, generators, stream, result)
            log(f"{name}: resumed at step {start}/{s.steps} from {resume.path}")
    result.resumed_from = start
    if monitor is not None and accelerator.is_main_process:
        monitor.on_start(result.terms)
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16 if s.mixed_precision == "bf16" else torch.float16)
                if s.mixed_precision != "no" else contextlib.nullcontext())  # fmt: skip
    batches: Iterator[dict] = stream.batches(s.batch_size)
    progress = _Progress(name, s.steps, start, s.log_every, log, accelerator.is_main_process)
    began = time.perf_counter()
    try:
        for step in range(start + 1, s.steps + 1):
            optimizer.zero_grad(set_to_none=True)
            totals: dict[str, float] = {}
            for a in range(s.grad_accum):
                batch = method.batch(next(batches), stage)
                sync = contextlib.nullcontext() if world == 1 or a == s.grad_accum - 1 else module.no_sync()
                with sync:
                    with autocast:
                        terms = module(batch, generators[a])
                    loss = terms["loss"]
                    if not torch.isfinite(loss):
                        raise FloatingPointError(f"{name}: loss is {loss.item()} at step {step} (rank {rank}, micro-batch {a})")
                    scaled = loss / s.grad_accum
                    (scaler.scale(scaled) if scaler is not None else scaled).backward()
                for k, v in terms.items():
                    totals[k] = totals.get(k, 0.0) + float(v.detach()) / s.grad_accum
            if scaler is not None:
                scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, s.max_grad_norm)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            lr = scheduler.get_last_lr()[0]
            scheduler.step()
            if ema is not None:
                ema.step(params)
            if world > 1:  # the logged terms: the mean over ranks (training itself never needs it)
                totals = dict(zip(totals, accelerator.reduce(torch.tensor(list(totals.values()), device=device), "mean").tolist(), strict=True))
            result.losses.append(totals["loss"])
            for k, v in totals.items():
                result.terms.setdefault(k, []).append(v)
            progress.update(step, totals["loss"], lr)
            if monitor is not None and accelerator.is_main_process:
                monitor.on_step(step, totals, lr)
            if resume is not None and s.checkpoint_every and step % s.checkpoint_every == 0 and step < s.steps:
                resume.save(step, accelerator, method, params, optimizer, scheduler, scaler, ema, generators, stream, result)
    finally:
        progress.close()
    result.seconds = time.perf_counter() - began
    if ema is not None:
        ema.copy_to(params)  # the saved weights are the average
    if monitor is not None and accelerator.is_main_process:
        monitor.on_end(result)
    if not math.isfinite(result.final_loss):
        raise FloatingPointError(f"{name}: final loss is {result.final_loss}")
    return result
