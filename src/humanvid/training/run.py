"""One training stage of one model, for any method: `train@{model}.{stage}`.

1. The model: fresh (`Method.create`) for the method's first stage, else the previous stage's checkpoint;
   `prepare(stage)` (e.g. motion modules inserted); the stage's trainable parameters cast to float32
   (frozen ones stay in `run.weight_dtype`); gradient checkpointing if asked for.
2. The data: each dataset of the stage's mix through its recipe's stream, this process's share of it.
3. The loop (humanvid.training.loop) with resume from the stage's resume folder; a frozen VAE's posteriors of the
   frames it reads kept in a latent cache (`run.latent_cache_gb`), its hit counts in the train log.
4. `end_stage` (with one batch when the stage spec asks for it), then the checkpoint and a train log.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from humanvid.config import Config
from humanvid.models import METHODS
from humanvid.paths import Layout
from humanvid.recipes import parse_recipe
from humanvid.training.loop import LoopSettings, Monitor, TrainResult, train
from humanvid.training.resume import ResumeStore, fingerprint
from humanvid.training.streams import MixStream, SampleStream

TRAIN_LOG = "train_log.json"


@dataclass(frozen=True)
class Placement:
    """Where a stage computes: chosen once at the entry and passed down."""

    accelerator: object  # accelerate.Accelerator: this process's index and count, collectives
    device: torch.device
    weight_dtype: torch.dtype
    mixed_precision: str  # no | bf16 | fp16


def placement(run) -> Placement:
    """A model's `run` section -> this process's accelerator (`accelerate launch` sets up the process group for
    `gpus` > 1), its device (one process: `run.device` as given; several: the GPU of its local rank), the
    frozen modules' dtype and the autocast dtype, resolved for the device."""
    from accelerate import Accelerator, DistributedDataParallelKwargs

    from humanvid.device import resolve_device, resolve_dtype

    single = resolve_device(run.device) if run.gpus == 1 else None
    cpu = single.type == "cpu" if single is not None else (run.device == "cpu" or (run.device == "auto" and not torch.cuda.is_available()))
    # Unused trained parameters (an appearance encoder's layers past its last recorded block) must not stall DDP.
    accelerator = Accelerator(cpu=cpu, kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    if accelerator.num_processes != run.gpus:
        raise ValueError(f"run.gpus is {run.gpus} but this stage runs in {accelerator.num_processes} processes "
                         f"({'start it with `accelerate launch --num_processes ' + str(run.gpus) + '`' if run.gpus > 1 else 'not under a launcher'})")  # fmt: skip
    device = single if single is not None else accelerator.device
    mp = run.mixed_precision if run.mixed_precision != "auto" else ("bf16" if device.type == "cuda" else "no")
    return Placement(accelerator, device, resolve_dtype(run.weight_dtype, device), mp)


def stage_inputs(cfg: Config, layout: Layout, model: str, stage: str) -> list[Path]:
    """What the stage reads: each dataset's shards index and manifest, and the previous stage's checkpoint."""
    from humanvid.shards.schema import INDEX_FILE, MANIFEST_FILE

    st = cfg.models[model].stages[stage]
    out = [layout.shards(d) / f for d in dict.fromkeys(s.dataset for s in st.sources()) for f in (INDEX_FILE, MANIFEST_FILE)]
    previous = previous_stage(cfg, model, stage)
    if previous is not None:
        out.append(layout.checkpoint(*previous))
    return out


def previous_stage(cfg: Config, model: str, stage: str) -> tuple[str, str] | None:
    """(model, stage) whose checkpoint `stage` starts from: the model's stage before it, for its first stage the
    stage it `starts_from` (another model's), else None (created fresh)."""
    m = cfg.models[model]
    names = list(m.stages)
    i = names.index(stage)
    if i:
        return model, names[i - 1]
    return (m.starts_from.model, m.starts_from.stage) if m.starts_from is not None else None


def stage_stream(cfg: Config, layout: Layout, model: str, stage: str, conditions: tuple[str, ...], where: Placement, seed_offset: int,
                 whole: bool = False) -> SampleStream:  # fmt: skip
    """The stage's batches: one recipe stream per dataset of its mix (a `MixStream` for several); this process's
    share, or (`whole`) every sample as one process reads them."""
    from humanvid.shards import ShardReader

    m = cfg.models[model]
    st = m.stages[stage]
    rank, world = (0, 1) if whole else (where.accelerator.process_index, where.accelerator.num_processes)
    streams, weights = [], []
    for src in st.sources():
        recipe = parse_recipe(src.recipe if src.recipe is not None else st.recipe)
        reader = ShardReader(layout.shards(src.dataset)).restricted(src.identities, src.exclude_identities)
        streams.append(recipe.stream(reader, resolution=m.arch.resolution, split="train", seed=m.run.seed,
                                     stream_seed=m.run.seed + seed_offset, conditions=conditions, rank=rank, world_size=world,
                                     block=st.batch_size, processes=0 if whole else st.loader_processes,
                                     overrides=dict(cfg.weights.overrides), device=where.accelerator.device))  # fmt: skip
        weights.append(src.weight)
    return streams[0] if len(streams) == 1 else MixStream(streams, weights, m.run.seed + seed_offset)


def build_model(cfg: Config, layout: Layout, model: str, stage: str, where: Placement):
    """The model as the stage starts it: created for the first stage, else loaded from the previous one (with this
    model's options: the previous checkpoint may be another model's, `starts_from`)."""
    m = cfg.models[model]
    spec = METHODS.get(m.arch.method)
    cls = spec.load()
    options = spec.parse_options(m.arch.options)
    previous = previous_stage(cfg, model, stage)
    if previous is None:
        return cls.create(m.arch.flavor, options, resolution=m.arch.resolution, seed=m.run.seed,
                          device=where.device, weight_dtype=where.weight_dtype, overrides=dict(cfg.weights.overrides))  # fmt: skip
    return cls.from_checkpoint(layout.checkpoint(*previous), device=where.device, weight_dtype=where.weight_dtype, options=options)


def set_modes(method) -> None:
    """Components with trained parameters in train mode, frozen ones in eval mode (as the reference trainers
    keep them: a frozen feature extractor runs as at inference)."""
    for module in method.modules().values():
        module.train(any(p.requires_grad for p in module.parameters()))


def run_stage(cfg: Config, layout: Layout, model: str, stage: str, out_dir: Path, where: Placement,
              log: Callable[[str], None] = print, monitor: Monitor | None = None) -> TrainResult:  # fmt: skip
    """Train `stage` of `model` and write its checkpoint into `out_dir` (main process)."""
    m = cfg.models[model]
    spec = METHODS.get(m.arch.method)
    st, sspec = m.stages[stage], spec.stage(stage)
    method = build_model(cfg, layout, model, stage, where)
    method.prepare(stage, seed=m.run.seed, overrides=dict(cfg.weights.overrides))
    params = method.trainable_parameters(stage)
    for p in params:  # trained weights and their optimizer state in float32, whatever the frozen modules' dtype
        p.data = p.data.float()
    set_modes(method)
    cache = method.use_latent_cache(int(m.run.latent_cache_gb * 2**30))
    if st.gradient_checkpointing:
        method.enable_gradient_checkpointing()
    conditions = method.conditions()
    stream = stage_stream(cfg, layout, model, stage, conditions, where, sspec.seeds[0])
    settings = LoopSettings.of(st, where.mixed_precision)
    acc = where.accelerator
    config = {"arch": m.arch.model_dump(), "run": m.run.model_dump(), "stage": st.model_dump(), "processes": acc.num_processes}
    store = ResumeStore(layout.resume(model, stage), fingerprint(config, stage_inputs(cfg, layout, model, stage)), log)
    result = train(acc, where.device, method, stage, params, stream, settings, m.run.seed + sspec.seeds[1], f"{model}.{stage}", log,
                   monitor, store)  # fmt: skip
    cached = cache.stats() if cache is not None else None
    method.use_latent_cache(0)  # its memory back before the end batch and the checkpoint
    end = None
    if sspec.end_batch:  # the same batch on every process
        end_stream = stage_stream(cfg, layout, model, stage, conditions, where, sspec.end_seed, whole=True)
        end = method.batch(next(end_stream.batches(min(end_stream.epoch_size(), sspec.end_batch))), stage)
    method.end_stage(stage, end)
    if acc.is_main_process:
        method.save(out_dir)
        doc = {"model": model, "stage": stage, "device": str(where.device), "weight_dtype": str(where.weight_dtype),
               "mixed_precision": where.mixed_precision, "processes": acc.num_processes, "steps": result.steps,
               "resumed_from": result.resumed_from, "seconds": round(result.seconds, 3), "final_loss": result.final_loss,
               "losses": result.losses, "terms": result.terms, "latent_cache": cached}  # fmt: skip
        (Path(out_dir) / TRAIN_LOG).write_text(json.dumps(doc, indent=2))
    acc.wait_for_everyone()
    return result
