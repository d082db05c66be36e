"""MM-Diffusion adapted to joint human video and depth generation, as IDOL's comparison builds it (docs/mm_diffusion.md).

IDOL (supplement Sec. 2): "we replace the audio U-Net with a duplicate of the video U-Net (without sharing parameters,
unlike in our IDOL) and retain the rest of the structure unchanged", on the same video LDM baseline as IDOL, with a pose
ControlNet and IDOL's handling of foreground and background. So this model is IDOL's frame (humanvid.models.idol: DisCo's
reference tokens, ControlNets and temporal layers; depth images through the same VAE; the joint latents; the stages)
with IDOL's unified U-Net swapped for MM-Diffusion's coupling (humanvid.models.mm_diffusion.coupling): at stage 1 a depth
U-Net appears as a parameter copy of the video one, and RS-MMA blocks join the two. No modality label (each U-Net knows
its stream), no L_xattn, no L_mo: the loss is the two streams' diffusion losses. The ControlNets, as in IDOL, run on both
streams' rows.

MM-Diffusion's own checkpoints (`AIST++.pt`, `Landscape.pt`) hold a pixel-space video U-Net and a 1-D audio U-Net: no
part of them fits a latent video-depth model, and IDOL's adaptation starts both U-Nets from its video LDM. So do we.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import UNet2DConditionModel

from humanvid.models.disco.model import Disco, load_strict
from humanvid.models.disco.temporal import FrameCount, add_temporal_layers, temporal_parameters
from humanvid.models.idol.model import JOINT_STAGES, Idol, disco_stage_of
from humanvid.models.mm_diffusion.coupling import CoupledUNets
from humanvid.models.mm_diffusion.spec import SPEC, MMDiffusionOptions

DEPTH_UNET = "depth_unet"
"""The depth U-Net's component (and checkpoint folder) name."""


class MMDiffusion(Idol):
    """IDOL's joint video-depth frame with two coupled, unshared U-Nets."""

    spec = SPEC
    options: MMDiffusionOptions
    dual: CoupledUNets | None

    @staticmethod
    def new_dual(options: MMDiffusionOptions, frames: FrameCount | None = None) -> CoupledUNets:
        """The coupling for `options`; its windows read `frames`, the model's clip length (a checkpoint's model gets its
        count after construction: `from_checkpoint` hands it over)."""
        return CoupledUNets(options.coupling_windows, options.coupling_shift, frames)

    @property
    def depth_unet(self) -> UNet2DConditionModel | None:
        return None if self.dual is None else self.dual.depth_unet

    def stream_labels(self, streams: list[str]) -> None:
        """None: each U-Net knows its own stream."""
        return None

    def modules(self) -> dict[str, torch.nn.Module]:
        parts = super().modules()
        return parts | {DEPTH_UNET: self.depth_unet} if self.depth_unet is not None else parts

    @classmethod
    def motion_modules(cls, options) -> bool:
        """DisCo's temporal layers only: AnimateDiff's modules are IDOL's generalisation, not the coupled U-Nets'."""
        return False

    def add_temporal_layers(self) -> None:
        """DisCo's temporal layers in the video U-Net and both ControlNets, and the depth U-Net's own, paired again."""
        super().add_temporal_layers()
        if self.dual is not None:
            add_temporal_layers(self.depth_unet, self.frames, self.options.temporal_norm)
            self.dual.pair(self.unet)

    def trainable_parameters(self, stage: str) -> list[torch.nn.Parameter]:
        """IDOL's (DisCo's for the stage it extends) and the depth U-Net's counterpart of what the video U-Net trains."""
        params = super().trainable_parameters(stage)
        if stage not in JOINT_STAGES:
            return params
        temporal_only = disco_stage_of(stage) == "temporal" and self.options.temporal_unfreeze == "temporal"
        depth = temporal_parameters(self.depth_unet) if temporal_only else list(self.depth_unet.parameters())
        for p in depth:
            p.requires_grad_(True)
        return params + depth

    def loss(self, batch: dict, stage: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """The two streams' diffusion losses (IDOL's alignment terms are IDOL's own)."""
        if stage not in JOINT_STAGES:
            return super().loss(batch, stage, generator)
        if "depth" not in batch:
            raise ValueError(f"stage {stage}: the batch has no depth (IDOL.batch adds it)")
        out = Disco.loss(self, batch, disco_stage_of(stage), generator)
        return {**out, **self._stream_losses}

    # ------------------------------------------------------------------ checkpoints
    @classmethod
    def add_saved_layers(cls, unet, additions: dict) -> None:
        if "dual" in additions:
            additions["dual"].couple(unet)  # the depth U-Net and the pairing follow in `from_checkpoint`

    @classmethod
    def from_checkpoint(cls, path: Path, *, device: torch.device, weight_dtype: torch.dtype,
                        options: MMDiffusionOptions | None = None) -> "MMDiffusion":  # fmt: skip
        """IDOL's checkpoint, and from stage 1 on the depth U-Net's folder (its RS-MMA halves and, after stage 2, its
        temporal layers in it), coupled to the video U-Net again."""
        model = super().from_checkpoint(path, device=device, weight_dtype=weight_dtype, options=options)
        if model.dual is None:
            return model
        folder = Path(path) / DEPTH_UNET
        depth = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder))
        model.dual.frames = model.frames
        model.dual.add_halves(depth)
        adder = model.temporal_adder("unet", model.options) if model.temporal else None  # the depth U-Net's are the video U-Net's
        load_strict(depth, folder, None if adder is None else lambda net: adder(net, model.frames))
        model.dual.set_depth(depth.to(device, weight_dtype))
        model.dual.pair(model.unet)
        for net in (model.unet, depth):
            net.eval()
        return model


__all__ = ["MMDiffusion"]
