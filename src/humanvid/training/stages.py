"""The two training stages over any method: pretrain (image stage) and finetune (video stage).

A released flavor (a model as published, e.g. `magicanimate/released`) is not trained: both stages write a
checkpoint folder that names the released weights (`stage: released` in humanvid.json), after checking
they are on this machine; loading that folder loads them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterator

import torch

from humanvid import weights
from humanvid.config import ModelConfig, TrainConfig
from humanvid.models import METHODS
from humanvid.models.latent import RELEASED_STAGE, SPEC_FILE
from humanvid.shards import ReferenceClipSamples, SampleSpec, ShardReader
from humanvid.shards.samples import CONTROL_SOURCES, control_images
from humanvid.training.loop import TrainResult, cycle_batches, train

TRAIN_LOG = "train_log.json"


def _samples(reader: ShardReader, cfg: ModelConfig, stage: TrainConfig) -> ReferenceClipSamples:
    return ReferenceClipSamples(reader, SampleSpec(frames=stage.frames, stride=stage.stride, resolution=cfg.arch.resolution), "train", cfg.run.seed)


def _batches(reader: ShardReader, cfg: ModelConfig, stage: TrainConfig, seed: int, control: str,
             overrides: dict[str, str] | None = None) -> Iterator[dict]:  # fmt: skip
    """Endless training batches: the stage's paper sampler through the shard loader when `sampling` is set,
    else the baseline's reference + K frames at a stride (OpenPose control)."""
    if stage.sampling is None:
        if control != "openpose":
            raise ValueError(f"the baseline's own sampler gives OpenPose control images; this model wants {control!r}: "
                             "set the stage's `sampling:` (docs/loader.md)")  # fmt: skip
        return cycle_batches(_samples(reader, cfg, stage), stage.batch_size, seed)
    return paper_batches(reader, stage.sampling, cfg.arch.resolution, stage.batch_size, seed, control, overrides, stage.loader_processes)


def paper_batches(reader: ShardReader, sampling, resolution: int, batch_size: int, seed: int, control: str = "openpose",
                  overrides: dict[str, str] | None = None, processes: int = 0) -> Iterator[dict]:  # fmt: skip
    """The loader's uint8 samples as model batches: reference and frames in [-1, 1], control images of the
    model's kind (`humanvid.shards.samples.control_images`) in [0, 1]. A sampler with an SMPL-X `perturb`
    hook gets the SMPL-X model (`overrides`: params.yaml `weights.overrides`) to render perturbed meshes.
    `processes`: decoding processes beside this one (the stage's `loader_processes`)."""
    from humanvid.shards.loader import ShardSamples, iterate

    sources = CONTROL_SOURCES[control]
    perturbation, loaded = None, sources
    if getattr(sampling, "perturb", None):
        from humanvid.body.perturb import MeshPerturbation

        perturbation = MeshPerturbation(sampling.perturb, overrides=overrides)
        loaded = tuple(dict.fromkeys(sources + ("smplx", "mesh_normals")))
    dataset = ShardSamples(reader, sampling, resolution, "train", seed, conditions=loaded, perturbation=perturbation)
    for batch in iterate(dataset, batch_size, processes=processes, epochs=None):
        if "reference" not in batch:
            raise ValueError(f"sampler {sampling.kind!r} gives no reference frame; this method conditions on one")
        # The loader already cropped keypoints and condition maps to the training resolution; its image
        # conditions are channels-first (K, C, S, S), control_images reads frames' maps (K, S, S, C).
        images = [control_images(control, {c: _channels_last(batch[c][i]) for c in sources}, resolution, resolution, resolution)
                  for i in range(len(batch["frames"]))]  # fmt: skip
        yield {"reference": batch["reference"].float() / 127.5 - 1, "frames": batch["frames"].float() / 127.5 - 1,
               "control": torch.stack(images)}  # fmt: skip


def _channels_last(value: torch.Tensor):
    """A sample's condition as control_images reads it: multi-channel maps (K, C, S, S) -> (K, S, S, C)."""
    return (value.permute(0, 2, 3, 1) if value.ndim == 4 else value).numpy()


def _frame_batches(frames: ReferenceClipSamples, cfg: ModelConfig, seed: int) -> Iterator[dict]:
    """Endless batches of single training frames (N, 3, S, S) for fitting a debug flavor's own parts."""
    return ({"frames": b["frames"].flatten(0, 1)} for b in cycle_batches(frames, cfg.pretrain.batch_size * 2, seed))


def _fit_vae(model, frames: ReferenceClipSamples, cfg: ModelConfig, log: Callable[[str], None]) -> TrainResult:
    """The debug flavor has no released VAE: fit it on the training frames first, then freeze it."""
    model.vae.requires_grad_(True)
    result = train(model.vae.parameters(), lambda b, g: model.vae_loss(b["frames"].to(model.device, model.dtype), g),
                   _frame_batches(frames, cfg, cfg.run.seed + 1), cfg.pretrain.vae_steps, lr=1e-3,
                   generator=torch.Generator(model.device).manual_seed(cfg.run.seed + 2), log=log, log_every=cfg.pretrain.log_every,
                   name="vae")  # fmt: skip
    model.vae.requires_grad_(False)
    calib = next(cycle_batches(frames, min(len(frames), 32), cfg.run.seed + 3))["frames"].flatten(0, 1).to(model.device)
    log(f"vae: latent scaling factor {model.calibrate_latent_scale(calib):.4f}")
    return result


def _fit_base(model, frames: ReferenceClipSamples, cfg: ModelConfig, log: Callable[[str], None]) -> TrainResult:
    """A debug flavor has no released base denoiser (MagicAnimate's is SD1.5, frozen in both of its stages):
    train it first as a plain image diffusion model on the training frames — the stand-in for Stable
    Diffusion's pretraining — then the method's own stage 1 starts from it."""
    return train(model.trainable_parameters("base"), model.base_loss, _frame_batches(frames, cfg, cfg.run.seed + 4), cfg.pretrain.base_steps,
                 cfg.pretrain.lr, torch.Generator(model.device).manual_seed(cfg.run.seed + 5), log, cfg.pretrain.log_every, "base")  # fmt: skip


def _write_log(out_dir: Path, results: dict[str, TrainResult], extra: dict) -> None:
    data = {name: {"steps": r.steps, "seconds": round(r.seconds, 3), "final_loss": r.final_loss, "losses": r.losses} for name, r in results.items()}
    (Path(out_dir) / TRAIN_LOG).write_text(json.dumps({**extra, **data}, indent=2))


def _released(cfg: ModelConfig) -> bool:
    return cfg.arch.flavor in METHODS.get(cfg.arch.method).released


def write_release_pointer(cfg: ModelConfig, out_dir: Path, overrides: dict[str, str] | None, log: Callable[[str], None]) -> None:
    """A released flavor's checkpoint: the weights it loads, by name, once they are all here."""
    names = METHODS.get(cfg.arch.method).weights.get(cfg.arch.flavor, ())
    missing = weights.missing(names, overrides)
    if missing:
        raise weights.MissingWeightsError(f"{cfg.arch.method}/{cfg.arch.flavor} needs {weights.fetch_hint(missing)}")
    spec = {"method": cfg.arch.method, "flavor": cfg.arch.flavor, "resolution": cfg.arch.resolution, "stage": RELEASED_STAGE,
            "options": dict(cfg.arch.options), "overrides": dict(overrides or {}),
            "weights": {n: str(weights.find(n, overrides)) for n in names}}  # fmt: skip
    (Path(out_dir) / SPEC_FILE).write_text(json.dumps(spec, indent=2, sort_keys=True))
    log(f"{cfg.arch.method}/{cfg.arch.flavor}: the released weights, not trained here ({', '.join(names)})")


def pretrain(cfg: ModelConfig, shards_dir: Path, out_dir: Path, device: torch.device, dtype: torch.dtype,
             log: Callable[[str], None] = print, overrides: dict[str, str] | None = None) -> None:  # fmt: skip
    """Image stage: temporal layers absent; what the method trains in its stage 1, on (reference, target) pairs."""
    if _released(cfg):
        return write_release_pointer(cfg, out_dir, overrides, log)
    reader = ShardReader(shards_dir)
    model = METHODS.get(cfg.arch.method).load().create(cfg.arch.flavor, cfg.arch.resolution, cfg.run.seed, device, dtype,
                                                       overrides=overrides, **cfg.arch.options)  # fmt: skip
    results = {}
    if cfg.pretrain.vae_steps or cfg.pretrain.base_steps:
        frames = _samples(reader, cfg, TrainConfig(steps=1, frames=1))  # single frames, read once for both fits
        if cfg.pretrain.vae_steps:
            results["vae"] = _fit_vae(model, frames, cfg, log)
        if cfg.pretrain.base_steps:
            results["base"] = _fit_base(model, frames, cfg, log)
    batches = _batches(reader, cfg, cfg.pretrain, cfg.run.seed, model.control, overrides)
    results["pretrain"] = train(model.trainable_parameters("pretrain"), model.diffusion_loss, batches, cfg.pretrain.steps,
                                cfg.pretrain.lr, torch.Generator(device).manual_seed(cfg.run.seed), log, cfg.pretrain.log_every, "pretrain",
                                cfg.pretrain.grad_accum)  # fmt: skip
    model.save(out_dir)
    _write_log(out_dir, results, {"device": str(device), "dtype": str(dtype)})


def finetune(cfg: ModelConfig, shards_dir: Path, pretrain_dir: Path, out_dir: Path, device: torch.device,
             dtype: torch.dtype, log: Callable[[str], None] = print, overrides: dict[str, str] | None = None) -> None:  # fmt: skip
    """Video stage: motion modules inserted and trained alone on K-frame clips."""
    if _released(cfg):
        return write_release_pointer(cfg, out_dir, overrides, log)
    reader = ShardReader(shards_dir)
    model = METHODS.get(cfg.arch.method).load().load(pretrain_dir, device, dtype)
    model.enter_video_stage(cfg.run.seed, overrides)
    batches = _batches(reader, cfg, cfg.finetune, cfg.run.seed + 10, model.control, overrides)
    result = train(model.trainable_parameters("finetune"), model.diffusion_loss, batches, cfg.finetune.steps, cfg.finetune.lr,
                   torch.Generator(device).manual_seed(cfg.run.seed + 10), log, cfg.finetune.log_every, "finetune", cfg.finetune.grad_accum)  # fmt: skip
    model.save(out_dir)
    _write_log(out_dir, {"finetune": result}, {"device": str(device), "dtype": str(dtype)})
