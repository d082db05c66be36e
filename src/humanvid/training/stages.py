"""The two training stages over any method: pretrain (image stage) and finetune (video stage)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterator

import torch

from humanvid.config import ModelConfig, TrainConfig
from humanvid.models import METHODS
from humanvid.shards import ReferenceClipSamples, SampleSpec, ShardReader
from humanvid.training.loop import TrainResult, cycle_batches, train

TRAIN_LOG = "train_log.json"


def _samples(reader: ShardReader, cfg: ModelConfig, stage: TrainConfig) -> ReferenceClipSamples:
    return ReferenceClipSamples(reader, SampleSpec(frames=stage.frames, stride=stage.stride, resolution=cfg.arch.resolution), "train", cfg.run.seed)


def _batches(reader: ShardReader, cfg: ModelConfig, stage: TrainConfig, seed: int) -> Iterator[dict]:
    """Endless training batches: the stage's paper sampler through the shard loader when `sampling` is set,
    else the baseline's reference + K frames at a stride."""
    if stage.sampling is None:
        return cycle_batches(_samples(reader, cfg, stage), stage.batch_size, seed)
    return paper_batches(reader, stage.sampling, cfg.arch.resolution, stage.batch_size, seed)


def paper_batches(reader: ShardReader, sampling, resolution: int, batch_size: int, seed: int) -> Iterator[dict]:
    """The loader's uint8 samples as model batches: reference and frames in [-1, 1], OpenPose images in [0, 1]."""
    from humanvid.shards.loader import ShardSamples, iterate
    from humanvid.shards.samples import to_pose_images

    dataset = ShardSamples(reader, sampling, resolution, "train", seed, conditions=("openpose18",))
    epoch = 0
    while True:
        dataset.set_epoch(epoch)
        for batch in iterate(dataset, batch_size):
            if "reference" not in batch:
                raise ValueError(f"sampler {sampling.kind!r} gives no reference frame; this method conditions on one")
            keypoints = batch["openpose18"].numpy()  # (B, K, 18, 3), already in the resolution's pixels
            pose = torch.stack([to_pose_images(kp, resolution, resolution, resolution) for kp in keypoints])
            yield {"reference": batch["reference"].float() / 127.5 - 1, "frames": batch["frames"].float() / 127.5 - 1, "pose": pose}
        epoch += 1


def _fit_vae(model, reader: ShardReader, cfg: ModelConfig, log: Callable[[str], None]) -> TrainResult:
    """The debug flavor has no released VAE: fit it on the training frames first, then freeze it."""
    frames = _samples(reader, cfg, TrainConfig(steps=1, frames=1))
    batches = ({"frames": b["frames"].flatten(0, 1)} for b in cycle_batches(frames, cfg.pretrain.batch_size * 2, cfg.run.seed + 1))
    model.vae.requires_grad_(True)
    result = train(model.vae.parameters(), lambda b, g: model.vae_loss(b["frames"].to(model.device, model.dtype), g),
                   batches, cfg.pretrain.vae_steps, lr=1e-3, generator=torch.Generator(model.device).manual_seed(cfg.run.seed + 2),
                   log=log, log_every=cfg.pretrain.log_every, name="vae")  # fmt: skip
    model.vae.requires_grad_(False)
    calib = next(cycle_batches(frames, min(len(frames), 32), cfg.run.seed + 3))["frames"].flatten(0, 1).to(model.device)
    log(f"vae: latent scaling factor {model.calibrate_latent_scale(calib):.4f}")
    return result


def _write_log(out_dir: Path, results: dict[str, TrainResult], extra: dict) -> None:
    data = {name: {"steps": r.steps, "seconds": round(r.seconds, 3), "final_loss": r.final_loss, "losses": r.losses} for name, r in results.items()}
    (Path(out_dir) / TRAIN_LOG).write_text(json.dumps({**extra, **data}, indent=2))


def pretrain(cfg: ModelConfig, shards_dir: Path, out_dir: Path, device: torch.device, dtype: torch.dtype,
             log: Callable[[str], None] = print) -> None:  # fmt: skip
    """Image stage: temporal layers absent; spatial UNet + ControlNet train on (reference, target) pairs."""
    reader = ShardReader(shards_dir)
    model = METHODS.get(cfg.arch.method).load().create(cfg.arch.flavor, cfg.arch.resolution, cfg.run.seed, device, dtype)
    results = {}
    if cfg.pretrain.vae_steps:
        results["vae"] = _fit_vae(model, reader, cfg, log)
    batches = _batches(reader, cfg, cfg.pretrain, cfg.run.seed)
    results["pretrain"] = train(model.trainable_parameters("pretrain"), model.diffusion_loss, batches, cfg.pretrain.steps,
                                cfg.pretrain.lr, torch.Generator(device).manual_seed(cfg.run.seed), log, cfg.pretrain.log_every, "pretrain")  # fmt: skip
    model.save(out_dir)
    _write_log(out_dir, results, {"device": str(device), "dtype": str(dtype)})


def finetune(cfg: ModelConfig, shards_dir: Path, pretrain_dir: Path, out_dir: Path, device: torch.device,
             dtype: torch.dtype, log: Callable[[str], None] = print) -> None:  # fmt: skip
    """Video stage: motion modules inserted and trained alone on K-frame clips."""
    reader = ShardReader(shards_dir)
    model = METHODS.get(cfg.arch.method).load().load(pretrain_dir, device, dtype)
    model.enter_video_stage(cfg.run.seed)
    batches = _batches(reader, cfg, cfg.finetune, cfg.run.seed + 10)
    result = train(model.trainable_parameters("finetune"), model.diffusion_loss, batches, cfg.finetune.steps, cfg.finetune.lr,
                   torch.Generator(device).manual_seed(cfg.run.seed + 10), log, cfg.finetune.log_every, "finetune")  # fmt: skip
    model.save(out_dir)
    _write_log(out_dir, {"finetune": result}, {"device": str(device), "dtype": str(dtype)})
