"""IDOL (Zhai et al., ECCV 2024): unified dual-modal latent diffusion for joint human video and depth generation.

IDOL builds on DisCo: the same reference foreground tokens, pose and background ControlNets and temporal layers
(`humanvid.models.disco`). What it adds (no code was released; docs/idol.md lists every choice):

- **Depth through the same VAE**: each frame's depth becomes an image (`depth_encoding`, humanvid.models.depth_images)
  and its latents a second stream. The diffusion runs on both streams stacked on the channel axis (video latents, then
  depth latents), one timestep per sample for both; the network sees them as one batch of video rows then depth rows.
- **The unified UNet** (humanvid.models.idol.unet): one set of weights for both streams, a one-hot modality label
  added to the timestep embedding, a cross-modal attention in every transformer block, the reference cross-attention's
  maps shared or kept per stream (`alignment`). The ControlNets are DisCo's, run on both streams' rows with the same
  pose and background.
- **Losses**: each stream's diffusion loss (summed), w_xattn · L_xattn over the UNet's reference cross-attention maps
  (`alignment: xattn`), and in the video stage w_mo · L_mo over the feature motion fields of the chosen layers.
- **Stages**: `base` (debug flavors: the image-variation UNet, as DisCo's), `haop` (DisCo's HAP with the
  outpainting hole, humanvid.models.idol.haop), `image_depth` (stage 1: the unified UNet appears; joint image-depth
  denoising on single frames), `video_depth` (stage 2: DisCo's temporal layers; clips of consecutive frames).
"""

from __future__ import annotations

import torch

from humanvid.models.depth_images import depth_from_image, depth_image
from humanvid.models.disco.model import Disco
from humanvid.models.disco.temporal import FrameCount
from humanvid.models.idol.haop import outpainting_hole
from humanvid.models.idol.loss_weights import latent_weights, person_weights, weighted_prediction_loss
from humanvid.models.idol.losses import motion_consistency_loss, xattn_consistency_loss
from humanvid.models.idol.motion import attach_motion_modules, fresh_motion_adapter
from humanvid.models.idol.spec import ALIGNMENTS, DEBUG_FLAVORS, DEPTH_CONDITION, MOTION_WEIGHTS, SPEC, IdolOptions
from humanvid.models.idol.unet import DualModal, has_modality_label, modality_labels
from humanvid.models.latent import flat_keys, latent_geometry

DISCO_STAGE = {"base": "base", "haop": "hap", "image_depth": "finetune", "video_depth": "temporal"}
"""Each IDOL stage and the DisCo stage it extends (what DisCo trains in it, which conditions it reads)."""
JOINT_STAGES = ("image_depth", "video_depth")


def disco_stage_of(stage: str, stages: dict[str, str] = DISCO_STAGE) -> str:
    """The DisCo stage a stage of a DisCo-based method extends (IDOL's by default), or a clear error for a name the
    method does not have."""
    if stage not in stages:
        raise ValueError(f"unknown stage {stage!r}; known: {', '.join(stages)}")
    return stages[stage]


class Idol(Disco):
    """DisCo's components, the unified UNet's additions, and what each IDOL stage does with them."""

    spec = SPEC
    options: IdolOptions

    def __init__(self, *args, dual: DualModal | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.dual = dual
        """The unified UNet's state and layers: None until stage 1 (`image_depth`) adds them."""
        self._depth_loss_weights: torch.Tensor | None = None
        """The current batch's depth-stream loss weights (`depth_loss_weights`), set with its target latents."""

    # ------------------------------------------------------------------ stages
    def prepare(self, stage: str, *, seed: int, overrides: dict[str, str] | None = None) -> None:
        """DisCo's preparation of the stage IDOL's extends; from stage 1 on, the unified UNet's layers appear (before
        the temporal layers, whose branch then follows the cross-modal attention's)."""
        disco_stage = disco_stage_of(stage)
        if stage in JOINT_STAGES and self.dual is None:
            if self.pose_controlnet is None:
                raise ValueError("the unified UNet joins DisCo's ControlNets: train the haop stage first")
            device, dtype = self.device, self.dtype
            torch.manual_seed(seed)
            self.dual = self.new_dual(self.options, self.frames)
            self.dual.attach(self.unet)
            self.to(device, dtype)
        if disco_stage == "temporal" and self.motion_modules(self.options) and not self.temporal and self.flavor not in DEBUG_FLAVORS:
            from diffusers import MotionAdapter

            from humanvid import weights

            adapter = MotionAdapter.from_pretrained(weights.resolve(MOTION_WEIGHTS, overrides), local_files_only=True)
            device, dtype = self.device, self.dtype
            attach_motion_modules(self.unet, adapter, self.frames)  # DisCo's prepare then finds the model temporal
            self.to(device, dtype)
        super().prepare(disco_stage, seed=seed, overrides=overrides)
        self.stage = stage

    @classmethod
    def motion_modules(cls, options: IdolOptions) -> bool:
        """Whether stage 2 adds AnimateDiff's motion modules instead of DisCo's temporal layers (`temporal_layers`)."""
        return options.temporal_layers == "animatediff"

    @classmethod
    def temporal_adder(cls, name: str, options: IdolOptions):
        """`temporal_layers: animatediff`: fresh AnimateDiff modules in the UNet (a checkpoint's, or a debug model's
        stage 2), nothing in the ControlNets; else DisCo's temporal layers."""
        if not cls.motion_modules(options):
            return super().temporal_adder(name, options)
        return (lambda net, frames: attach_motion_modules(net, fresh_motion_adapter(net), frames)) if name == "unet" else None

    @staticmethod
    def new_dual(options: IdolOptions, frames: FrameCount | None = None) -> DualModal:
        """The unified UNet's state and layers for `options` (`frames`: the clip length the passes read; the unified
        UNet's layers do not need it)."""
        return DualModal(ALIGNMENTS[options.alignment], options.motion_layers)

    def trainable_parameters(self, stage: str) -> list[torch.nn.Parameter]:
        """DisCo's for the stage IDOL's extends (stage 1 trains all of DisCo's fine-tuning set, the unified UNet's new
        layers being part of its UNet; stage 2 as DisCo's temporal stage, `temporal_unfreeze`)."""
        disco_stage = disco_stage_of(stage)
        if stage in JOINT_STAGES and self.dual is None:
            raise ValueError(f"stage {stage}: the unified UNet is not there yet (prepare the stage first)")
        return super().trainable_parameters(disco_stage)

    # ------------------------------------------------------------------ the two streams
    @property
    def image_channels(self) -> int:
        """Latent channels of one stream (the VAE's)."""
        return latent_geometry(self.vae)[0]

    def latent_channels(self) -> int:
        """What the sampler draws: both streams' latents stacked on the channel axis."""
        return 2 * self.image_channels

    def predict(self, latents, t, context, background, pose, scales=(1.0, 1.0), frames=1, class_labels=None) -> torch.Tensor:
        """DisCo's network on N rows of one stream (C channels: the video stream, labelled as video once the unified
        UNet exists) or of both (2C channels: video latents then depth latents, run as 2N rows in one joint pass, the
        conditions repeated for the depth rows) -> predictions of the same shape."""
        c = self.image_channels
        if latents.shape[1] == c:
            labels = self.stream_labels(["video"] * len(latents)) if self.dual is not None else None
            return super().predict(latents, t, context, background, pose, scales, frames, labels)
        if latents.shape[1] != 2 * c:
            raise ValueError(f"IDOL predicts {c} (video) or {2 * c} (video and depth) latent channels, got {latents.shape[1]}")
        if self.dual is None:
            raise ValueError("joint video-depth denoising needs the unified UNet (stage image_depth)")
        n = len(latents)

        def both(x: torch.Tensor | None) -> torch.Tensor | None:
            return None if x is None else torch.cat([x, x])

        labels = self.stream_labels(["video"] * n + ["depth"] * n)
        self.dual.streams.joint = True
        try:
            out = super().predict(torch.cat([latents[:, :c], latents[:, c:]]), both(t), both(context), both(background), both(pose),
                                  scales, frames, labels)  # fmt: skip
        finally:
            self.dual.streams.joint = False
        return torch.cat([out[:n], out[n:]], dim=1)

    def stream_labels(self, streams: list[str]) -> torch.Tensor | None:
        """What tells the network each row's stream: the unified UNet's one-hot modality labels (N, 2)."""
        return modality_labels(streams, self.device)

    # ------------------------------------------------------------------ training
    def background_hole(self, mask: torch.Tensor, stage: str, generator: torch.Generator) -> torch.Tensor:
        """Pre-training (`hap`, IDOL's `haop`) cuts the outpainting hole; later stages cut the person, as DisCo."""
        return outpainting_hole(mask, self.options.haop_shift, generator) if stage == "hap" else mask

    def batch(self, sample: dict, stage: str) -> dict:
        """DisCo's batch; in the joint stages, the target frames' depth (B, K, S, S) as the condition holds it
        (`depth_source`)."""
        out = super().batch(sample, DISCO_STAGE.get(stage, stage))
        if stage in JOINT_STAGES:
            if DEPTH_CONDITION not in sample:
                raise ValueError(f"IDOL's stage {stage} learns depth: the samples have no {DEPTH_CONDITION!r} condition")
            out["depth"] = sample[DEPTH_CONDITION].to(self.device).float()
        return out

    def target_latents(self, batch: dict, frames: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The frames' latents, and in the joint stages their depth images' latents after them on the channel axis
        (depth latents cached under the frame's key + `/depth`)."""
        latents = super().target_latents(batch, frames, generator)
        self._depth_loss_weights = self.depth_loss_weights(batch)  # DisCo's loss takes the targets, then the loss
        if "depth" not in batch:
            return latents
        b, k = frames.shape[:2]
        keys = flat_keys(batch.get("frame_keys"))
        options = self.options
        images = depth_image(batch["depth"].flatten(0, 1), options.depth_encoding, options.depth_normalisation, options.depth_span,
                             options.depth_source)
        depth = self.encode(images.to(self.dtype), generator, keys and [f"{key}/depth" for key in keys]).unflatten(0, (b, k))
        return torch.cat([latents, depth], dim=2)

    def depth_loss_weights(self, batch: dict) -> torch.Tensor | None:
        """With a depth stream (the joint stages' batches hold depth) and `depth_person_weight` above 1: the depth
        stream's latent weights (B·K, C, h, w), the person weighing `depth_person_weight`; else None (plain)."""
        weight = self.options.depth_person_weight
        if "depth" not in batch or weight == 1:
            return None
        pixels = person_weights(batch["depth"].flatten(0, 1).float(), weight)
        return latent_weights(self.vae, pixels.expand(-1, 3, -1, -1)).to(self.device)

    def prediction_loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Joint rows: the video stream's loss plus `depth_weight` times the depth stream's (each DisCo's; the depth
        stream's weighted by the batch's `depth_loss_weights`, which `target_latents` leaves for it), kept apart for
        the log."""
        c = self.image_channels
        if pred.shape[1] != 2 * c:
            return super().prediction_loss(pred, target)
        video = super().prediction_loss(pred[:, :c], target[:, :c])
        weights = self._depth_loss_weights
        if weights is None:
            depth = super().prediction_loss(pred[:, c:], target[:, c:])
        else:
            depth = weighted_prediction_loss(pred[:, c:], target[:, c:], weights, self.options.l1_weight)
        self._stream_losses = {"video": video.detach(), "depth": depth.detach()}
        return video + self.options.depth_weight * depth

    def loss(self, batch: dict, stage: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """DisCo's loss of the stage IDOL's extends; in the joint stages over both streams, plus the alignment terms
        (L_xattn with `alignment: xattn`; L_mo in the video stage, on clips of at least two frames)."""
        disco_stage = disco_stage_of(stage)
        if stage not in JOINT_STAGES:
            return super().loss(batch, disco_stage, generator)
        if "depth" not in batch:
            raise ValueError(f"stage {stage}: the batch has no depth (IDOL.batch adds it)")
        options = self.options
        k = batch["frames"].shape[1]
        want_maps = options.alignment == "xattn" and options.xattn_weight > 0
        want_motion = stage == "video_depth" and options.motion_weight > 0 and k > 1
        self.dual.start_recording(maps=want_maps, features=want_motion)
        try:
            out = super().loss(batch, disco_stage, generator)
            terms = {**out, **self._stream_losses}
            if want_maps:
                terms["xattn"] = torch.stack([xattn_consistency_loss(v, d) for v, d in self.dual.maps]).mean()
                out["loss"] = out["loss"] + options.xattn_weight * terms["xattn"]
            if want_motion:
                terms["motion"] = torch.stack([self.layer_motion_loss(f, k) for f in self.dual.features]).mean()
                out["loss"] = out["loss"] + options.motion_weight * terms["motion"]
        finally:
            self.dual.stop_recording()
        return {**terms, "loss": out["loss"]}

    @staticmethod
    def layer_motion_loss(features: torch.Tensor, frames: int) -> torch.Tensor:
        """L_mo of one layer's joint output (2·B·K, C, h, w), video rows first, each stream's rows clips of K frames."""
        video, depth = features.chunk(2)
        return motion_consistency_loss(video.unflatten(0, (-1, frames)), depth.unflatten(0, (-1, frames)))

    # ------------------------------------------------------------------ sampling
    def decode_outputs(self, latents: torch.Tensor) -> dict[str, torch.Tensor]:
        """Joint latents (N, 2C, h, w) -> `rgb` (N, 3, S, S) and `depth` (N, S, S), relative (larger is farther)."""
        c = self.image_channels
        if latents.shape[1] != 2 * c:
            raise ValueError(f"IDOL decodes video and depth latents ({2 * c} channels), got {latents.shape[1]}")
        rgb = self.decode(latents[:, :c].to(self.dtype))
        depth = depth_from_image(self.decode(latents[:, c:].to(self.dtype)), self.options.depth_encoding)
        return {"rgb": rgb, "depth": depth}

    def generate(self, reference, control, frames, sampler, generator, conditions=None) -> dict[str, torch.Tensor]:
        if self.dual is None:
            raise ValueError(f"IDOL samples video and depth jointly: a {self.stage} checkpoint has no unified UNet yet "
                             "(train stage image_depth)")  # fmt: skip
        return super().generate(reference, control, frames, sampler, generator, conditions)

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_spec(self) -> dict:
        return {**super().checkpoint_spec(), "dual": self.dual is not None}

    @classmethod
    def saved_additions(cls, saved: dict, options: IdolOptions) -> dict:
        return {"dual": cls.new_dual(options)} if saved.get("dual") else {}

    @classmethod
    def add_saved_layers(cls, unet, additions: dict) -> None:
        if "dual" in additions:
            if not has_modality_label(unet):
                raise ValueError("a dual-modal IDOL checkpoint whose UNet config has no modality label")
            additions["dual"].attach(unet)


__all__ = ["Idol"]
