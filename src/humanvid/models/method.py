"""The model side of a method: what the stage runner, the sampler and the evaluator call, without knowing
which method it is. A method subclasses `Method` (latent methods: `humanvid.models.latent.LatentModel`)
and sets `spec` to its `MethodSpec`.

Construction: `create` (fresh components for the first stage; a released flavor: the released model),
`from_checkpoint` / `save` (a folder per stage). Training, per stage of `spec.stages`: `prepare` (e.g.
insert motion modules), `trainable_parameters` (kept in float32 under mixed precision), `batch` (a loader
batch -> model inputs), `loss` (a dict: `loss` is optimised, every term is logged), `end_stage`.
Sampling: `generate` (one clip's outputs; by default DDIM with the sliding-window fuser of
`humanvid.sampling.denoise`, which calls `latent_channels`, `sampling_scheduler`, `sampling_state`,
`begin_step`, `window_noise`, `sampled_latents` and `decode_outputs` (latents -> one tensor per declared output)).
Device and dtype are passed in, never guessed.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import torch

from humanvid.config import Section
from humanvid.controls import control_images, control_sources
from humanvid.models.spec import MethodSpec

FRAME_KEY_FIELDS = ("frame_keys", "reference_key")
"""Sample fields naming the frames (`humanvid.models.latent_cache.frame_key`): per sample a list of K target keys,
and the reference's key."""

SPEC_FILE = "humanvid.json"
"""What every checkpoint folder holds beside its components: method, flavor, resolution, stage, options."""


def read_spec(ckpt_dir: Path) -> dict:
    """The humanvid.json of a checkpoint folder, or a clear error."""
    spec_path = Path(ckpt_dir) / SPEC_FILE
    if not spec_path.is_file():
        raise FileNotFoundError(f"{spec_path}: not a humanvid checkpoint (no {SPEC_FILE})")
    return json.loads(spec_path.read_text())


def channels_last(value: torch.Tensor):
    """A loader condition as `control_images` reads it: multi-channel maps (K, C, S, S) -> (K, S, S, C)."""
    return (value.permute(0, 2, 3, 1) if value.ndim == 4 else value).numpy()


def to_unit(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 images -> float32 in [-1, 1] on `device`."""
    return images.to(device, non_blocking=True).float() / 127.5 - 1  # pinned batches copy asynchronously


class Method(ABC):
    """See the module docstring."""

    spec: ClassVar[MethodSpec]
    flavor: str
    resolution: int
    options: Section
    stage: str
    """The stage its weights come from (or are prepared for): a name of `spec.stages`, or `released`."""

    # ------------------------------------------------------------------ construction and checkpoints
    @classmethod
    @abstractmethod
    def create(cls, flavor: str, options: Section, *, resolution: int, seed: int, device: torch.device, weight_dtype: torch.dtype,
               overrides: dict[str, str] | None = None) -> "Method":  # fmt: skip
        """Fresh components for the flavor's first stage, every module in `weight_dtype` (`overrides`:
        params.yaml `weights.overrides` for the released weights it loads)."""

    @classmethod
    @abstractmethod
    def from_checkpoint(cls, path: Path, *, device: torch.device, weight_dtype: torch.dtype, options: Section | None = None) -> "Method":
        """A model saved by `save`; with `options`, those instead of the saved ones (a model whose first stage
        starts from another model's checkpoint: `ModelConfig.starts_from`)."""

    @classmethod
    def read_checkpoint(cls, path: Path, options: Section | None = None) -> tuple[dict, Section]:
        """(the checkpoint's humanvid.json, the options to build it with: `options`, else the saved ones); a clear
        error when the folder is another method's."""
        saved = read_spec(path)
        if saved.get("method") != cls.spec.name:
            raise ValueError(f"{path}: a {saved.get('method')} checkpoint, not {cls.spec.name}")
        return saved, options if options is not None else cls.spec.parse_options(saved.get("options", {}))

    @abstractmethod
    def save(self, path: Path) -> None:
        """Every component into the folder `path` (safetensors + config, and `humanvid.json`)."""

    @abstractmethod
    def modules(self) -> dict[str, torch.nn.Module]:
        """Its components by name (what `save` writes and the trainer wraps)."""

    # ------------------------------------------------------------------ what the spec says of these options
    @property
    def controls(self) -> tuple[str, ...]:
        return self.spec.controls(self.options)

    @property
    def control(self) -> str | None:
        """The control kind its pose branch reads (the first of `controls`; None for a method that reads none)."""
        return self.controls[0] if self.controls else None

    @property
    def outputs(self) -> tuple[str, ...]:
        return self.spec.outputs(self.options)

    def conditions(self) -> tuple[str, ...]:
        """Shard conditions a training or sampling batch of this model reads."""
        sources = [c for kind in self.controls for c in control_sources(kind)]
        return tuple(dict.fromkeys(sources + list(self.spec.conditions(self.options))))

    # ------------------------------------------------------------------ training
    def prepare(self, stage: str, *, seed: int, overrides: dict[str, str] | None = None) -> None:  # noqa: B027 (an optional hook)
        """Turn the model into what `stage` trains (default: nothing to do)."""

    @abstractmethod
    def trainable_parameters(self, stage: str) -> list[torch.nn.Parameter]:
        """Freeze everything but what `stage` trains; return those parameters."""

    def batch(self, sample: dict, stage: str) -> dict:
        """A loader batch (uint8 frames (B, K, 3, S, S), reference (B, 3, S, S), conditions cropped to S) -> model
        inputs on the model's device: frames and reference in [-1, 1], `control` images (B, K, 3, S, S) in [0, 1]."""
        s = self.resolution
        images = [control_images(self.control, {c: channels_last(sample[c][i]) for c in control_sources(self.control)}, s, s, s)
                  for i in range(len(sample["frames"]))]  # fmt: skip
        out = {"frames": to_unit(sample["frames"], self.device), "control": torch.stack(images).to(self.device)}
        if "reference" in sample:
            out["reference"] = to_unit(sample["reference"], self.device)
        for name in FRAME_KEY_FIELDS:  # which frames these are (a latent cache's keys), when the loader says
            if name in sample:
                out[name] = sample[name]
        return out

    @abstractmethod
    def loss(self, batch: dict, stage: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Loss terms of one batch: `loss` (what is optimised) and any others (logged)."""

    def use_latent_cache(self, budget_bytes: int):
        """Keep the autoencoder posteriors of the frames a stage encodes, up to `budget_bytes` (0: stop keeping them);
        returns the cache, or None where nothing is cached (default: a method without an autoencoder)."""
        return None

    def end_stage(self, stage: str, batch: dict | None) -> None:  # noqa: B027 (an optional hook)
        """After the stage's last step, with one batch when the stage spec asks for it (`end_batch`)."""

    def enable_gradient_checkpointing(self) -> None:
        """Recompute activations in backward wherever a component supports it (diffusers modules)."""
        for module in self.modules().values():
            if getattr(module, "_supports_gradient_checkpointing", False):
                module.enable_gradient_checkpointing()

    # ------------------------------------------------------------------ sampling
    def prepare_sampling(self, sampler, *, overrides: dict[str, str] | None = None) -> None:  # noqa: B027 (an optional hook)
        """Before `generate` runs with `sampler` (`SamplerConfig`): load what sampling reads beyond the checkpoint —
        released weights by name (`overrides`: params.yaml `weights.overrides`), kept out of checkpoints (DiffPerformer's
        SMPL-X body model, licence-gated). Default: nothing to do."""

    def generate(self, reference: torch.Tensor, control: torch.Tensor | None, frames: int, sampler, generator: torch.Generator,
                 conditions: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:  # fmt: skip
        """One clip's outputs from its reference (3, S, S) in [-1, 1] and control images (`frames`, 3, S, S) in
        [0, 1] (None for a method that reads no control), with the sampler's settings (`SamplerConfig`):
        each of `outputs`, `rgb` (T, 3, S, S) in [-1, 1]. `conditions`: what `spec.sampling_conditions` names, per
        frame in model pixels (`crop_conditions`). Default: DDIM with the sliding-window fuser."""
        from humanvid.sampling.denoise import sample_video

        return sample_video(self, reference, control, sampler.steps, sampler.window, sampler.overlap, sampler.guidance_scale,
                            generator, sampler.schedule, sampler.window_batch, clip_sample=sampler.clip_sample,
                            shared_noise=sampler.shared_noise, condition_scale=sampler.condition_scale)  # fmt: skip

    @property
    @abstractmethod
    def device(self) -> torch.device: ...

    @property
    @abstractmethod
    def dtype(self) -> torch.dtype: ...

    @abstractmethod
    def latent_channels(self) -> int:
        """Channels of the per-frame latent the sampler denoises."""

    def sampled_latents(self, state: dict, latents: torch.Tensor) -> torch.Tensor:
        """The sampler's final latents (N, C, h, w) -> what `decode_outputs` reads (default: the same)."""
        return latents

    def unsampled_latents(self, state: dict, latents: torch.Tensor) -> torch.Tensor:
        """The inverse of `sampled_latents`: latents to decode (N, C, h, w) -> the diffusion variable a sampler may start
        from (a guided start, `sample_video`'s `start`; default: the same)."""
        return latents

    @abstractmethod
    def decode_outputs(self, latents: torch.Tensor) -> dict[str, torch.Tensor]:
        """Latents (N, C, h, w) -> each of `outputs`: `rgb` (N, 3, S, S) in [-1, 1], `depth` (N, S, S) relative depth."""
