"""The trivial floors (see spec.py): `copy_reference` repeats the reference frame; `mean_frame` outputs the
per-pixel mean of the training frames, fitted as the minimiser of the squared error (stage `fit`).

Neither reads a control or samples noise: `generate` replaces the diffusion sampler.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from humanvid.models.method import SPEC_FILE, Method, to_unit
from humanvid.models.trivial.spec import SPEC, TrivialOptions

MEAN_FILE = "mean_frame.safetensors"


class MeanFrame(torch.nn.Module):
    """One image (3, S, S) in [-1, 1] units, starting at mid-grey."""

    def __init__(self, resolution: int) -> None:
        super().__init__()
        self.image = torch.nn.Parameter(torch.zeros(3, resolution, resolution))


class Trivial(Method):
    spec = SPEC

    def __init__(self, flavor: str, resolution: int, stage: str, mean: MeanFrame | None, device: torch.device,
                 options: TrivialOptions | None = None) -> None:  # fmt: skip
        if flavor not in self.spec.flavors:
            raise ValueError(f"unknown trivial flavor {flavor!r}; known: {', '.join(self.spec.flavors)}")
        if resolution < 1:
            raise ValueError(f"resolution must be positive, got {resolution}")
        self.flavor, self.resolution, self.stage, self.options = flavor, resolution, stage, options or TrivialOptions()
        if self.options.depth and flavor != "copy_reference":
            raise ValueError(f"trivial flavor {flavor!r} has no depth to output (only copy_reference copies the reference's)")
        self.mean = mean
        self._device = torch.device(device)

    @classmethod
    def create(cls, flavor, options=None, *, resolution, seed, device, weight_dtype, overrides=None) -> "Trivial":
        mean = MeanFrame(resolution).to(device) if flavor == "mean_frame" else None
        stage = "fit" if flavor == "mean_frame" else "released"
        return cls(flavor, resolution, stage, mean, device, options)

    @classmethod
    def from_checkpoint(cls, path: Path, *, device: torch.device, weight_dtype: torch.dtype, options: TrivialOptions | None = None) -> "Trivial":
        spec, options = cls.read_checkpoint(path, options)
        mean = None
        if spec["flavor"] == "mean_frame":
            mean = MeanFrame(spec["resolution"])
            state = load_file(str(Path(path) / MEAN_FILE))
            if set(state) != {"image"} or state["image"].shape != mean.image.shape:
                raise ValueError(f"{Path(path) / MEAN_FILE}: expected one tensor 'image' of shape {tuple(mean.image.shape)}")
            mean.load_state_dict(state)
            mean.to(device)
        return cls(spec["flavor"], spec["resolution"], spec["stage"], mean, device, options)

    def save(self, path: Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if self.mean is not None:
            save_file({"image": self.mean.image.detach().float().cpu().contiguous()}, str(path / MEAN_FILE))
        spec = {"method": "trivial", "flavor": self.flavor, "resolution": self.resolution, "stage": self.stage,
                "options": self.options.model_dump()}  # fmt: skip
        (path / SPEC_FILE).write_text(json.dumps(spec, indent=2, sort_keys=True))

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"mean": self.mean} if self.mean is not None else {}

    # ------------------------------------------------------------------ training (mean_frame)
    def trainable_parameters(self, stage: str) -> list[torch.nn.Parameter]:
        if stage != "fit" or self.mean is None:
            raise ValueError(f"the trivial flavor {self.flavor!r} trains nothing (stage {stage!r})")
        return [self.mean.image]

    def batch(self, sample: dict, stage: str) -> dict:
        """Every frame of the batch (N, 3, S, S) in [-1, 1]; no control is read."""
        return {"frames": to_unit(sample["frames"].flatten(0, 1), self.device)}

    def loss(self, batch: dict, stage: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
        frames = batch["frames"]
        mse = F.mse_loss(self.mean.image.expand_as(frames), frames)
        return {"loss": mse, "mse": mse}

    # ------------------------------------------------------------------ sampling
    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32

    def latent_channels(self) -> int:
        return 3

    def decode_outputs(self, latents: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"rgb": latents}

    @torch.no_grad()
    def generate(self, reference: torch.Tensor, control: torch.Tensor | None, frames: int, sampler, generator, conditions=None) -> dict[str, torch.Tensor]:
        """`rgb` (T, 3, S, S) in [-1, 1]: the reference, or the fitted mean frame, for each of `frames` frames; with
        `depth`, the reference's depth (the clip's first `depth` condition) for each frame."""
        image = reference.to(self._device).float() if self.flavor == "copy_reference" else self.mean.image.clamp(-1, 1)
        out = {"rgb": image[None].expand(frames, -1, -1, -1).clone()}
        if self.options.depth:
            if not conditions or "depth" not in conditions:
                raise ValueError("copying the reference's depth needs the clip's 'depth' condition")
            out["depth"] = conditions["depth"][:1].to(self._device).float().expand(frames, -1, -1).clone()
        return out
